// runtime.h: the host as a device (base/device_runtime.h): aligned malloc, memcpy, nothing to wait for.
#pragma once
#include "base/device_runtime.h"

namespace sg::cpu {
DeviceRuntime& runtime();
}  // namespace sg::cpu
