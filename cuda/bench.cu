// bench.cu: the ceilings of `siglip bench kernels` (see cuda/bench.h): copy bandwidth and cuBLAS GEMM throughput.
#include "cuda/common.cuh"
// (common.cuh first: it sets fmt's macros)
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "cuda/bench.h"

namespace sg::cuda::bench {
namespace {

// A cudaMalloc'ed buffer freed on scope exit (own memory: the measurement should not depend on the cache).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t nbytes) { check(cudaMalloc(&p_, nbytes), "bench: cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename U>
  U* as() const {
    return static_cast<U*>(p_);
  }

 private:
  void* p_ = nullptr;
};

// Recorded around each run on the engine's stream; destroyed on scope exit.
class EventPair {
 public:
  EventPair() {
    check(cudaEventCreate(&start_), "bench: cudaEventCreate");
    check(cudaEventCreate(&stop_), "bench: cudaEventCreate");
  }
  ~EventPair() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  // Seconds of f() on the stream.
  double time(const std::function<void()>& f) {
    check(cudaEventRecord(start_, stream()), "bench: cudaEventRecord");
    f();
    check(cudaEventRecord(stop_, stream()), "bench: cudaEventRecord");
    check(cudaEventSynchronize(stop_), "bench: cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_), "bench: cudaEventElapsedTime");
    return static_cast<double>(ms) * 1e-3;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Median seconds of f() over reps (>= 1) runs after one warm-up run.
double median_seconds(int reps, const std::function<void()>& f) {
  EventPair ev;
  ev.time(f);
  std::vector<double> t;
  for (int i = 0; i < std::max(reps, 1); ++i) t.push_back(ev.time(f));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Values in [-0.5, 0.5) from a hash of the index: GEMM inputs that are neither zero nor constant (power and
// tensor-core timing can depend on the data).
__device__ __forceinline__ float hash_unit(int64_t i) {
  uint32_t x = static_cast<uint32_t>(i) * 2654435761u + 0x9e3779b9u;
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  return static_cast<float>(x & 0xffffu) / 65536.0f - 0.5f;
}
__global__ void fill_hash_f32(float* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = hash_unit(i);
}
__global__ void fill_hash_bf16(__nv_bfloat16* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = __float2bfloat16(hash_unit(i));
}

void check_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) fail("{}: cuBLAS error {} ({})", what, cublasGetStatusName(st), cublasGetStatusString(st));
}

// A cuBLAS handle of its own on the engine's stream, default math (no TF32), destroyed on scope exit.
class BlasHandle {
 public:
  BlasHandle() {
    check_cublas(cublasCreate(&h_), "bench: cublasCreate");
    check_cublas(cublasSetStream(h_, stream()), "bench: cublasSetStream");
    check_cublas(cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH), "bench: cublasSetMathMode");
  }
  ~BlasHandle() { cublasDestroy(h_); }
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

}  // namespace

double copy_bandwidth_gbs(size_t bytes, int reps) {
  SG_CHECK(bytes > 0, "bench: copy of 0 bytes");
  DeviceBuffer src(bytes), dst(bytes);
  check(cudaMemsetAsync(src.as<void>(), 1, bytes, stream()), "bench: cudaMemsetAsync");
  const double t = median_seconds(reps, [&] {
    check(cudaMemcpyAsync(dst.as<void>(), src.as<void>(), bytes, cudaMemcpyDeviceToDevice, stream()),
          "bench: cudaMemcpyAsync");
  });
  return 2.0 * static_cast<double>(bytes) / t / 1e9;
}

double gemm_bf16_tflops(int n, int reps) {
  SG_CHECK(n > 0, "bench: GEMM size {} must be positive", n);
  const int64_t elems = static_cast<int64_t>(n) * n;
  const size_t bytes = static_cast<size_t>(elems) * sizeof(__nv_bfloat16);
  DeviceBuffer a(bytes), b(bytes), c(bytes);
  fill_hash_bf16<<<grid_for(elems), kThreads, 0, stream()>>>(a.as<__nv_bfloat16>(), elems);
  check_launch("bench: fill_hash_bf16");
  fill_hash_bf16<<<grid_for(elems), kThreads, 0, stream()>>>(b.as<__nv_bfloat16>(), elems);
  check_launch("bench: fill_hash_bf16");
  BlasHandle h;
  const float alpha = 1.0f, beta = 0.0f;
  const double t = median_seconds(reps, [&] {
    check_cublas(cublasGemmEx(h.get(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.as<void>(), CUDA_R_16BF, n,
                              b.as<void>(), CUDA_R_16BF, n, &beta, c.as<void>(), CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT),
                 "bench: cublasGemmEx (bf16, f32 compute)");
  });
  return 2.0 * static_cast<double>(n) * n * n / t / 1e12;
}

double gemm_f32_tflops(int n, int reps) {
  SG_CHECK(n > 0, "bench: GEMM size {} must be positive", n);
  const int64_t elems = static_cast<int64_t>(n) * n;
  const size_t bytes = static_cast<size_t>(elems) * sizeof(float);
  DeviceBuffer a(bytes), b(bytes), c(bytes);
  fill_hash_f32<<<grid_for(elems), kThreads, 0, stream()>>>(a.as<float>(), elems);
  check_launch("bench: fill_hash_f32");
  fill_hash_f32<<<grid_for(elems), kThreads, 0, stream()>>>(b.as<float>(), elems);
  check_launch("bench: fill_hash_f32");
  BlasHandle h;
  const float alpha = 1.0f, beta = 0.0f;
  const double t = median_seconds(reps, [&] {
    check_cublas(cublasSgemm(h.get(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.as<float>(), n, b.as<float>(), n,
                             &beta, c.as<float>(), n),
                 "bench: cublasSgemm");
  });
  return 2.0 * static_cast<double>(n) * n * n / t / 1e12;
}

}  // namespace sg::cuda::bench
