// small_gemm.h: the small single-threaded f32 products inside a per-(batch, head) attention task, e.g.
// [64, 64] @ [64, 64]. A library GEMM call costs about as much as the work at these sizes, so these are
// register-blocked loops: 4 rows x up to 64 columns of C held in 16 AVX-512 registers while k runs.
#pragma once
#include <cstdint>

namespace sg::cpu {

// C[M, N] = alpha * A[M, K] @ B[K, N]: row-major with leading dims lda, ldb, ldc; C is overwritten.
void small_matmul_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                     int64_t ldb, float* C, int64_t ldc);

// dst[C, R] (packed, leading dim R) = src[R, C]^T (leading dim lds).
void transpose_into(const float* src, int64_t R, int64_t C, int64_t lds, float* dst);

}  // namespace sg::cpu
