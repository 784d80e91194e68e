// small_gemm.h: one thread's f32 matrix product at an attention head's size (64 x 64 x 64 in the tiny model),
// called once per product inside the per-(batch, head) parallel loop of cpu/attention.cpp.
//   C[m, n] = alpha * op(A) op(B),  A [m, k] (stored [k, m] when ta), B [k, n] (stored [n, k] when tb)
// At this size a library call's set-up costs as much as the arithmetic, so this is a plain register-blocked
// kernel with no set-up: C is computed in tiles of up to 6 rows x 64 columns held in 24 AVX-512 registers, each
// step of k broadcasting 6 values of A against 4 vectors of B. A is read in place through its strides either
// way; B is read in place when stored [k, n], and transposed into `pack` (at least k * 64 floats) when stored
// [n, k]. With AVX2 and no AVX-512 the tiles are 6 x 16 (cpu/small_gemm_avx2.cpp) and products above 32^3
// multiply-adds go to gemm<float> (oneDNN); without either it is gemm<float>.
#pragma once
#include <cstdint>

namespace sg::cpu {

void small_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, float* pack);

// Floats small_sgemm needs in `pack` for a product with inner dimension K.
inline int64_t small_sgemm_pack_floats(int64_t K) { return K * 64; }

#if defined(__x86_64__)
// The AVX2 form (6 x 16 tiles; products above 32^3 multiply-adds to gemm<float>): small_sgemm itself on CPUs with
// AVX2 and FMA and no AVX-512. Callable only where the CPU has AVX2 and FMA (cpu_has_avx2_fma()), whatever the
// build's -march: the tests check it on every such CPU.
void small_sgemm_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc, float* pack);
inline bool cpu_has_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

}  // namespace sg::cpu
