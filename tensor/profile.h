// profile.h: where the time of a step goes, kernel by kernel (SG_PROFILE=1, or `siglip train --profile`).
// Every kernel call through SG_KERNEL (tensor/dispatch.h) is timed by a KernelScope. On CUDA the scope
// synchronises the stream before and after the kernel, so each row is that kernel's own GPU time plus its
// launch; the time of a step outside all scopes is the host's own work (autograd, allocation, the loader).
// Kernels that do matrix products (GEMM, attention) also count their multiply-add FLOPs, so the table gives
// their rate in GFLOP/s (2 FLOPs per multiply-add, as `siglip bench ops` counts the FMA peak). GEMM calls also
// name their shape, and a second table gives time and rate per shape, written as `siglip bench ops` writes it
// ((M, N, K) and op(A) op(B)), so that a product's rate inside a step can be set against its rate alone.
// Off by default: a disabled scope costs one branch.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "base/dtype.h"

namespace sg::profile {

bool enabled();
void set_enabled(bool on);
void reset();  // forget what was timed so far (e.g. after a warm-up step)

// Seconds spent in kernels since reset(), and a table of the kernels, largest total first:
// kernel, device, calls, total ms, mean us, share of the kernel time, GFLOP/s where counted. `steps` divides
// totals into per-step ms.
double kernel_seconds();
std::string report(int64_t steps);

// C[M, N] = op(A) op(B), op(X) = X or X^T, with K the inner size.
struct GemmShape {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  double flops() const { return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K); }
};

class KernelScope {
 public:
  // flops: the kernel's arithmetic (2 per multiply-add) where it is a matrix product, else 0
  KernelScope(const char* kernel, Device device, double flops = 0);
  // A GEMM: its FLOPs from the shape, and a row per shape in the report's second table.
  KernelScope(const char* kernel, Device device, const GemmShape& shape);
  ~KernelScope();
  // The kernel did not run after all (a fast path that declined the call): nothing is recorded.
  void cancel() { kernel_ = nullptr; }
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  const char* kernel_ = nullptr;  // null when profiling is off
  Device device_ = Device::CPU;
  int64_t t0_ns_ = 0;
  double flops_ = 0;
  std::optional<GemmShape> shape_;  // a GEMM's, for the by-shape table
};

}  // namespace sg::profile
