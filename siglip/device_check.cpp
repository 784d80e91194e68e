#include "siglip/device_check.h"

#include "tensor/error.h"
#ifdef SG_CUDA
#include "cuda/backend.h"
#endif

namespace sg {

void check_device_usable(Device d, const std::string& command) {
#ifdef SG_CUDA
  SG_CHECK(d == Device::CPU || cuda::available(), "{}: --device cuda but no GPU is available", command);
#else
  SG_CHECK(d == Device::CPU, "{}: --device cuda but this build has no CUDA support", command);
#endif
}

}  // namespace sg
