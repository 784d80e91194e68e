// backends.cpp: the registration point of the device runtimes (see backends.h).
#include "tensor/backends.h"

#include "cpu/runtime.h"
#ifdef SG_CUDA
#include "cuda/backend.h"
#endif

namespace sg {

bool built_with_cuda() {
#ifdef SG_CUDA
  return true;
#else
  return false;
#endif
}

DeviceRuntime& runtime(Device d) {
  if (d == Device::CPU) return cpu::runtime();
#ifdef SG_CUDA
  return cuda::runtime();
#else
  fail("cuda: this build has no CUDA support (rebuild with nvcc present and CUDA=1)");
#endif
}

bool device_available(Device d) { return d == Device::CPU || (built_with_cuda() && runtime(d).available()); }

void check_device_available(Device d, const char* who) {
  if (device_available(d)) return;
  fail("{}: --device {} but {}", who, device_name(d),
       built_with_cuda() ? "no GPU is available" : "this build has no CUDA support");
}

}  // namespace sg
