// profile.h: where the time of a step goes, kernel by kernel (SG_PROFILE=1, or `siglip train --profile`).
// Every kernel call through SG_KERNEL (tensor/dispatch.h) is timed by a KernelScope. On CUDA the scope
// synchronises the stream before and after the kernel, so each row is that kernel's own GPU time plus its
// launch; the time of a step outside all scopes is the host's own work (autograd, allocation, the loader).
// Off by default: a disabled scope costs one branch.
#pragma once
#include <cstdint>
#include <string>

#include "base/dtype.h"

namespace sg::profile {

bool enabled();
void set_enabled(bool on);
void reset();  // forget what was timed so far (e.g. after a warm-up step)

// Seconds spent in kernels since reset(), and a table of the kernels, largest total first:
// kernel, device, calls, total ms, mean us, share of the kernel time. `steps` divides totals into per-step ms.
double kernel_seconds();
std::string report(int64_t steps);

class KernelScope {
 public:
  KernelScope(const char* kernel, Device device);
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  const char* kernel_ = nullptr;  // null when profiling is off
  Device device_ = Device::CPU;
  int64_t t0_ns_ = 0;
};

}  // namespace sg::profile
