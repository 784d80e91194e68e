// bench.h: the card's ceilings for `siglip bench kernels` (siglip/cmd_bench.cpp), measured with CUDA code of its
// own (cuda/bench.cu): device memory bandwidth and cuBLAS GEMM throughput. Plain C++ interface, CUDA builds only.
// Each function allocates its own buffers (cudaMalloc, freed before it returns), times `reps` runs after one
// warm-up with CUDA events on the engine's stream, and returns the median. Errors throw sg::Error.
#pragma once
#include <cstddef>

namespace sg::cuda::bench {

// GB/s of a device-to-device cudaMemcpyAsync of `bytes`, counting bytes read + written (2 * bytes).
double copy_bandwidth_gbs(size_t bytes, int reps);

// TFLOP/s (2 n^3 per GEMM) of cuBLAS C[n, n] = A[n, n] B[n, n]:
//   bf16: cublasGemmEx, A, B, C bf16, f32 compute (CUBLAS_COMPUTE_32F), the tensor-core peak;
//   f32: cublasSgemm in CUBLAS_DEFAULT_MATH (no TF32), the ceiling of our f32 path.
double gemm_bf16_tflops(int n, int reps);
double gemm_f32_tflops(int n, int reps);

}  // namespace sg::cuda::bench
