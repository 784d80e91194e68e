// small_gemm.cpp: register-blocked f32 products for attention's per-head matrices (see small_gemm.h).
#include "cpu/small_gemm.h"

#include <algorithm>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sg::cpu {
namespace {

#if defined(__AVX512F__)
// C[0:RB, 0:16*NV] (the last vector masked by `tail`) = alpha * A[0:RB, :K] @ B[:K, 0:16*NV].
template <int RB, int NV>
inline void block(int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                  int64_t ldc, __mmask16 tail) {
  __m512 acc[RB][NV];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
    const float* brow = B + k * ldb;
    for (int v = 0; v < NV - 1; ++v) b[v] = _mm512_loadu_ps(brow + 16 * v);
    b[NV - 1] = _mm512_maskz_loadu_ps(tail, brow + 16 * (NV - 1));
    for (int r = 0; r < RB; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  const __m512 s = _mm512_set1_ps(alpha);
  for (int r = 0; r < RB; ++r) {
    float* crow = C + r * ldc;
    for (int v = 0; v < NV - 1; ++v) _mm512_storeu_ps(crow + 16 * v, _mm512_mul_ps(s, acc[r][v]));
    _mm512_mask_storeu_ps(crow + 16 * (NV - 1), tail, _mm512_mul_ps(s, acc[r][NV - 1]));
  }
}

template <int RB>
inline void rows(int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                 float* C, int64_t ldc) {
  for (int64_t j = 0; j < N; j += 64) {
    const int64_t w = std::min<int64_t>(64, N - j);
    const int nv = static_cast<int>((w + 15) / 16);
    const int rem = static_cast<int>(w - 16 * (nv - 1));
    const __mmask16 tail = static_cast<__mmask16>(rem == 16 ? 0xFFFF : (1u << rem) - 1);
    switch (nv) {
      case 1: block<RB, 1>(K, alpha, A, lda, B + j, ldb, C + j, ldc, tail); break;
      case 2: block<RB, 2>(K, alpha, A, lda, B + j, ldb, C + j, ldc, tail); break;
      case 3: block<RB, 3>(K, alpha, A, lda, B + j, ldb, C + j, ldc, tail); break;
      default: block<RB, 4>(K, alpha, A, lda, B + j, ldb, C + j, ldc, tail); break;
    }
  }
}
#endif

}  // namespace

void small_matmul_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                     int64_t ldb, float* C, int64_t ldc) {
#if defined(__AVX512F__)
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) rows<4>(N, K, alpha, A + i * lda, lda, B, ldb, C + i * ldc, ldc);
  for (; i < M; ++i) rows<1>(N, K, alpha, A + i * lda, lda, B, ldb, C + i * ldc, ldc);
#else
  for (int64_t i = 0; i < M; ++i) {
    float* crow = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) crow[j] = 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[i * lda + k];
      const float* brow = B + k * ldb;
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) crow[j] += a * brow[j];
    }
    for (int64_t j = 0; j < N; ++j) crow[j] *= alpha;
  }
#endif
}

void transpose_into(const float* src, int64_t R, int64_t C, int64_t lds, float* dst) {
  constexpr int64_t kTile = 16;  // tiles keep both the reads and the writes within a few cache lines
  for (int64_t r0 = 0; r0 < R; r0 += kTile)
    for (int64_t c0 = 0; c0 < C; c0 += kTile) {
      const int64_t r1 = std::min(R, r0 + kTile), c1 = std::min(C, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * R + r] = src[r * lds + c];
    }
}

}  // namespace sg::cpu
