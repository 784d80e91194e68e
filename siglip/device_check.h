// device_check.h: whether this build and machine can run on a device; the one place the trainer asks.
#pragma once
#include <string>

#include "tensor/dtype.h"

namespace sg {

// Throws sg::Error "COMMAND: --device cuda but ..." when `d` cannot be used.
void check_device_usable(Device d, const std::string& command);

}  // namespace sg
