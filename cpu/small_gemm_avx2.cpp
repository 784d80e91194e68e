// small_gemm_avx2.cpp: small_sgemm_avx2 (cpu/small_gemm.h), small_sgemm's form for CPUs with AVX2 and FMA and
// without AVX-512. It is compiled for AVX2 and FMA whatever -march says (GCC's target pragma, clang's target
// attribute on every function: the fuzz build), so that the tests run it on any such CPU, AVX-512 ones included.
// C is computed in tiles of up to 6 rows x 16 columns held in 12 AVX registers, each step of k broadcasting 6
// values of A against 2 vectors of B (the 6 x 16 shape of the BLIS Haswell kernel: 12 accumulators, 2 B vectors
// and 1 broadcast fill 15 of the 16 registers). A is read in place through its strides; B in place when stored
// [k, n], and transposed into `pack` 8 x 8 blocks at a time when stored [n, k].
// Products of more than kLargestInline multiply-adds go to gemm<float> (oneDNN): at 64 x 64 x 64 (the tiny
// model's heads) dnnl_sgemm's blocking matches this kernel, at 16 x 16 x 48 (the micro model's) its set-up costs
// more than the arithmetic.
#include "cpu/small_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>

#include "cpu/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace sg::cpu {
namespace {

constexpr int kRows = 6;  // rows of C per tile: 6 broadcasts of A per step of k
constexpr int kCols = 16;  // columns of C per tile: 2 vectors of 8 floats

// Lanes [0, n) of a vector (n <= 8) as a maskload/maskstore mask.
__m256i first_lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(n, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// C[0:ROWS, 0:8 NV] = alpha * A[0:ROWS, 0:K] B[0:K, 0:8 NV], A(i, k) = A[i ars + k acs], B(k, n) = B[k ldb + n].
// With PARTIAL, only the mask's lanes of the last vector are read from B or written to C.
template <int ROWS, int NV, bool PARTIAL>
void tile(int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, __m256i last,
          float alpha, float* C, int64_t ldc) {
  __m256 c[ROWS][NV];
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) c[i][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* b_row = B + k * ldb;
    __m256 b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      b[v] = PARTIAL && v == NV - 1 ? _mm256_maskload_ps(b_row + 8 * v, last) : _mm256_loadu_ps(b_row + 8 * v);
    const float* a = A + k * acs;
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      const __m256 a_ik = _mm256_broadcast_ss(a + i * ars);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) c[i][v] = _mm256_fmadd_ps(a_ik, b[v], c[i][v]);
    }
  }
  const __m256 scale = _mm256_set1_ps(alpha);
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) {
    float* c_row = C + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      if (PARTIAL && v == NV - 1)
        _mm256_maskstore_ps(c_row + 8 * v, last, _mm256_mul_ps(scale, c[i][v]));
      else
        _mm256_storeu_ps(c_row + 8 * v, _mm256_mul_ps(scale, c[i][v]));
    }
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, __m256i, float, float*,
                        int64_t);

template <int ROWS>
TileFn tile_for(int vectors, bool partial) {
  if (vectors == 1) return partial ? tile<ROWS, 1, true> : tile<ROWS, 1, false>;
  return partial ? tile<ROWS, 2, true> : tile<ROWS, 2, false>;
}
TileFn tile_for(int rows, int vectors, bool partial) {
  switch (rows) {
    case 1: return tile_for<1>(vectors, partial);
    case 2: return tile_for<2>(vectors, partial);
    case 3: return tile_for<3>(vectors, partial);
    case 4: return tile_for<4>(vectors, partial);
    case 5: return tile_for<5>(vectors, partial);
    default: return tile_for<6>(vectors, partial);
  }
}

// r[0..8): 8 rows of 8 floats in, its 8 columns out (r[j] = old column j).
void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {  // t[2i] lane pairs: r[2i][j], r[2i+1][j] for j = 0, 1 (and 4, 5 in the upper half)
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {  // s[4i+j]: rows 4i..4i+3 of column j (lower half) and 4+j (upper half)
    s[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {  // join the halves: column j from the lower halves, 4 + j from the upper ones
    r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
  }
}

// pack[k * 16 + n] = B[n * ldb + k] for n < cols (<= 16), k < K: B stored [n, k], read 8 x 8 blocks at a time.
void pack_transposed(const float* B, int64_t ldb, int64_t cols, int64_t K, float* pack) {
  for (int64_t n0 = 0; n0 < cols; n0 += 8) {
    for (int64_t k0 = 0; k0 < K; k0 += 8) {
      const int64_t ks = std::min<int64_t>(8, K - k0);
      const __m256i k_lanes = first_lanes(ks);
      __m256 r[8];
      for (int64_t i = 0; i < 8; ++i)
        r[i] = n0 + i < cols ? _mm256_maskload_ps(B + (n0 + i) * ldb + k0, k_lanes) : _mm256_setzero_ps();
      transpose8(r);
      for (int64_t j = 0; j < ks; ++j) _mm256_storeu_ps(pack + (k0 + j) * kCols + n0, r[j]);
    }
  }
}

// Above this many multiply-adds a product goes to gemm<float>.
constexpr int64_t kLargestInline = 32 * 32 * 32;

}  // namespace

void small_sgemm_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc, float* pack) {
  if (M * N * K > kLargestInline) {
    gemm<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.f, C, ldc);
    return;
  }
  const int64_t a_row = ta ? 1 : lda, a_k = ta ? lda : 1;  // A(i, k) = A[i a_row + k a_k]
  for (int64_t n0 = 0; n0 < N; n0 += kCols) {
    const int64_t cols = std::min<int64_t>(kCols, N - n0);
    const float* b = B + n0;  // B(k, n0 + n) = b[k b_ld + n]
    int64_t b_ld = ldb;
    if (tb) {
      pack_transposed(B + n0 * ldb, ldb, cols, K, pack);
      b = pack;
      b_ld = kCols;
    }
    const int vectors = static_cast<int>((cols + 7) / 8);
    const int64_t last_cols = cols - 8 * (vectors - 1);
    for (int64_t i = 0; i < M; i += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, M - i));
      tile_for(rows, vectors, last_cols < 8)(K, A + i * a_row, a_row, a_k, b, b_ld, first_lanes(last_cols), alpha,
                                              C + i * ldc + n0, ldc);
    }
  }
}

}  // namespace sg::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
