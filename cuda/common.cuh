// common.cuh: what the cuda/*.cu files share (not part of the engine's interface): the one stream, error
// checks, launch sizes, a fixed-size copy of strided shapes for kernel arguments, device scratch memory.
// Include it first in every .cu file: it sets fmt's macros before base/error.h pulls fmt in.
#pragma once
// fmt 9's compile-time format-string checks (consteval) do not get through nvcc's C++20 front end, and fmt
// turns its constexpr off under __NVCC__, which g++ then rejects. Format strings are checked at run time
// in the .cu files instead; FMT_USE_CONSTEXPR keeps the value g++ gives it in the other files.
#ifndef FMT_USE_CONSTEXPR
#define FMT_USE_CONSTEXPR 1
#endif
#ifndef FMT_CONSTEVAL
#define FMT_CONSTEVAL
#endif

// The host pass (g++ -Wall through -Xcompiler) flags fmt's fill_t copy with a false -Wstringop-overflow, the
// warning the Makefile turns off for the .cpp files with -Wno-stringop-overflow.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

#include <cuda_runtime.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "base/strided.h"
#include "cuda/backend.h"
#include "cuda/kernels.h"
#include "base/device_runtime.h"
#include "base/error.h"

namespace sg::cuda {

// The stream every kernel, copy and cuBLAS call of the engine runs on (created on first use; it is a
// blocking stream, so it also orders itself with the legacy default stream).
cudaStream_t stream();

// Throws sg::Error "<what>: <CUDA error name>: <description>" unless e is cudaSuccess.
void check(cudaError_t e, const char* what);

// After a kernel launch: a bad configuration or an earlier asynchronous fault shows up here.
inline void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) check(e, kernel);
}

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;

// Blocks for a grid-stride loop over n items (n > 0).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b > (int64_t{1} << 20)) b = int64_t{1} << 20;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

// Shape and per-operand strides (elements), dims merged where every operand allows (collapse), passed
// to kernels by value. The output of a kernel using it is contiguous in the collapsed shape.
template <int N>
struct StridedArgs {
  int nd = 0;
  bool narrow = false;  // every linear index and every operand offset fits in 32 bits: index math in uint32
  int64_t shape[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};
};

template <int N>
StridedArgs<N> make_strided(const char* op, const Dims& shape, const std::array<const int64_t*, N>& strides) {
  StridedLayout<N> L = collapse<N>(shape, strides);
  if (L.shape.size() > static_cast<size_t>(kMaxDims))
    fail("{}: CUDA kernels take at most {} dims after merging contiguous ones, got shape {}", op, kMaxDims,
         shape_str(shape));
  StridedArgs<N> a;
  a.nd = static_cast<int>(L.shape.size());
  for (int d = 0; d < a.nd; ++d) {
    a.shape[d] = L.shape[static_cast<size_t>(d)];
    for (int k = 0; k < N; ++k) a.stride[k][d] = L.strides[static_cast<size_t>(k)][static_cast<size_t>(d)];
  }
  // 64-bit division costs tens of instructions per dim and element; most tensors need only 32 bits.
  constexpr int64_t kNarrowMax = int64_t{1} << 31;
  int64_t numel = 1;
  for (int d = 0; d < a.nd; ++d) numel *= a.shape[d];
  bool narrow = numel > 0 && numel < kNarrowMax;
  for (int k = 0; k < N && narrow; ++k) {
    for (int d = 0; d < a.nd; ++d) narrow = narrow && a.stride[k][d] >= 0;
    narrow = narrow && strided_span(a.shape, a.stride[k], static_cast<size_t>(a.nd)) <= kNarrowMax;
  }
  a.narrow = narrow;
  return a;
}

// Element offsets of operand k's element for the row-major linear index i of the collapsed shape.
template <int N>
__device__ __forceinline__ void strided_offsets(const StridedArgs<N>& a, int64_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  if (a.nd == 1) {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i * a.stride[k][0];
    return;
  }
  if (a.narrow) {  // the same walk in 32-bit arithmetic (make_strided checked that nothing overflows)
    uint32_t j = static_cast<uint32_t>(i), o[N];
#pragma unroll
    for (int k = 0; k < N; ++k) o[k] = 0;
    for (int d = a.nd - 1; d >= 0; --d) {
      const uint32_t n = static_cast<uint32_t>(a.shape[d]);
      const uint32_t q = j / n;
      const uint32_t c = j - q * n;
      j = q;
#pragma unroll
      for (int k = 0; k < N; ++k) o[k] += c * static_cast<uint32_t>(a.stride[k][d]);
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = static_cast<int64_t>(o[k]);
    return;
  }
  for (int d = a.nd - 1; d >= 0; --d) {
    const int64_t n = a.shape[d];
    const int64_t q = i / n;
    const int64_t c = i - q * n;
    i = q;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += c * a.stride[k][d];
  }
}

inline Dims contiguous_strides(const Dims& shape) {
  Dims st(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    st[static_cast<size_t>(d)] = acc;
    acc *= shape[static_cast<size_t>(d)];
  }
  return st;
}

// Device scratch memory from the engine's caching allocator (scratch_allocator(), base/device_runtime.h),
// returned when this goes out of scope. Safe
// although kernels using it may still be queued: every later use of the block is on the same stream.
class Scratch {
 public:
  explicit Scratch(size_t nbytes) : n_(nbytes) {
    if (n_) p_ = scratch_allocator().allocate(Device::CUDA, n_);
  }
  ~Scratch() {
    if (p_) scratch_allocator().deallocate(Device::CUDA, p_, n_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename U>
  U* as() const {
    return static_cast<U*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// ---- device math, chosen by type (float: the f-suffixed functions; never fast-math intrinsics) ----
__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double d_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double d_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float d_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double d_abs(double x) { return fabs(x); }
__device__ __forceinline__ float d_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double d_max(double a, double b) { return fmax(a, b); }
// Products rounded on their own, never fused into a following add (nvcc contracts a * b + c into an FMA
// by default; g++ in ISO C++ mode does not). For expressions that cancel, to match the CPU.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
template <typename T>
__device__ __forceinline__ T d_inf() {
  return static_cast<T>(INFINITY);
}

// Sum over the 32 lanes of a warp (butterfly: every lane gets the same, order fixed).
template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename A>
__device__ __forceinline__ A warp_max(A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    A u = __shfl_xor_sync(0xffffffffu, v, o);
    v = u > v ? u : v;
  }
  return v;
}

// Sum over a block of kThreads threads, result returned to every thread; `red` holds kThreads/32 entries.
// Order is fixed (warp butterflies, then the warp sums in order), so results are reproducible.
template <typename A>
__device__ __forceinline__ A block_sum(A v, A* red) {
  v = warp_sum(v);
  const int warp = static_cast<int>(threadIdx.x) >> 5, lane = static_cast<int>(threadIdx.x) & 31;
  __syncthreads();  // red may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  A s = red[0];
  for (int w = 1; w < kThreads / 32; ++w) s += red[w];
  return s;
}
template <typename A>
__device__ __forceinline__ A block_max(A v, A* red) {
  v = warp_max(v);
  const int warp = static_cast<int>(threadIdx.x) >> 5, lane = static_cast<int>(threadIdx.x) & 31;
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  A s = red[0];
  for (int w = 1; w < kThreads / 32; ++w) s = red[w] > s ? red[w] : s;
  return s;
}

}  // namespace sg::cuda
