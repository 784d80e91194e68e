// backends.h: the one place that knows which backends this build has (CUDA when built with nvcc, SG_CUDA).
// Everything above asks here: runtime(d) for memory, copies and synchronisation, device_available(d) to
// check, and SG_KERNEL(d, fn, args...) to call cpu::fn or cuda::fn, which have the same signature
// (base/kernel_api.inc). No other file above the kernels names SG_CUDA.
#pragma once
#include "base/device_runtime.h"
#include "base/error.h"
#include "cpu/kernels.h"

namespace sg {

// The runtime of device d; for CUDA in a build without it, an sg::Error saying so.
DeviceRuntime& runtime(Device d);
// Whether device d can be used now: always for the CPU; for CUDA, a CUDA build and a GPU present.
bool device_available(Device d);
// Throws sg::Error "<who>: --device cuda but ..." unless device d can be used now.
void check_device_available(Device d, const char* who);
// Whether this build has CUDA support at all.
bool built_with_cuda();

}  // namespace sg

#ifdef SG_CUDA
#include "cuda/kernels.h"
#define SG_KERNEL_CALL(dev, fn, ...) \
  ((dev) == ::sg::Device::CUDA ? ::sg::cuda::fn(__VA_ARGS__) : ::sg::cpu::fn(__VA_ARGS__))
#else
#define SG_KERNEL_CALL(dev, fn, ...) \
  ((dev) == ::sg::Device::CUDA ? ::sg::fail("{}: this build has no CUDA support", #fn) : ::sg::cpu::fn(__VA_ARGS__))
#endif
