// small_gemm.cpp: see small_gemm.h.
#include "cpu/small_gemm.h"

#include <algorithm>

#include "cpu/kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sg::cpu {

#if defined(__AVX512F__)
namespace {

constexpr int kRows = 6;     // rows of C per tile: 6 broadcasts of A per step of k
constexpr int kVectors = 4;  // 16-float vectors of C per tile row: 64 columns
constexpr int kCols = 16 * kVectors;

// C[0:ROWS, 0:16 NV] = alpha * A[0:ROWS, 0:K] B[0:K, 0:16 NV], A(i, k) = A[i ars + k acs], B(k, n) = B[k ldb + n].
// Only the mask's lanes of the last vector are read from B or written to C.
template <int ROWS, int NV>
void tile(int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, __mmask16 last,
          float alpha, float* C, int64_t ldc) {
  __m512 c[ROWS][NV];
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* b_row = B + k * ldb;
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) b[v] = _mm512_loadu_ps(b_row + 16 * v);
    b[NV - 1] = _mm512_maskz_loadu_ps(last, b_row + 16 * (NV - 1));
    const float* a = A + k * acs;
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      const __m512 a_ik = _mm512_set1_ps(a[i * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][v] = _mm512_fmadd_ps(a_ik, b[v], c[i][v]);
    }
  }
  const __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) {
    float* c_row = C + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) _mm512_storeu_ps(c_row + 16 * v, _mm512_mul_ps(scale, c[i][v]));
    _mm512_mask_storeu_ps(c_row + 16 * (NV - 1), last, _mm512_mul_ps(scale, c[i][NV - 1]));
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, __mmask16, float, float*,
                        int64_t);

template <int ROWS>
constexpr TileFn tile_for(int vectors) {
  return vectors == 1 ? tile<ROWS, 1> : vectors == 2 ? tile<ROWS, 2> : vectors == 3 ? tile<ROWS, 3> : tile<ROWS, 4>;
}
TileFn tile_for(int rows, int vectors) {
  switch (rows) {
    case 1: return tile_for<1>(vectors);
    case 2: return tile_for<2>(vectors);
    case 3: return tile_for<3>(vectors);
    case 4: return tile_for<4>(vectors);
    case 5: return tile_for<5>(vectors);
    default: return tile_for<6>(vectors);
  }
}

// The unmasked unpack and 128-bit-lane shuffle intrinsics of GCC 12 start from _mm512_undefined_ps and warn
// (-Wmaybe-uninitialized); their zero-masking forms with every lane kept are the same instructions.
constexpr __mmask16 kAll = 0xFFFF;
__m512 unpacklo(__m512 a, __m512 b) { return _mm512_maskz_unpacklo_ps(kAll, a, b); }
__m512 unpackhi(__m512 a, __m512 b) { return _mm512_maskz_unpackhi_ps(kAll, a, b); }
template <int IMM>
__m512 lanes(__m512 a, __m512 b) { return _mm512_maskz_shuffle_f32x4(kAll, a, b, IMM); }

// r[0..16): 16 rows of 16 floats in, its 16 columns out (r[j] = old column j).
void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // t[2i] lane L: r[2i][4L], r[2i+1][4L], r[2i][4L+1], r[2i+1][4L+1]
    t[2 * i] = unpacklo(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = unpackhi(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i+j] lane L: rows 4i..4i+3 of column 4L+j
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {  // 128-bit lanes 0 and 2 (0x88) or 1 and 3 (0xDD) of each operand
    t[j] = lanes<0x88>(r[j], r[4 + j]);           // rows 0-7 of columns j, 8+j
    t[4 + j] = lanes<0xDD>(r[j], r[4 + j]);       // rows 0-7 of columns 4+j, 12+j
    t[8 + j] = lanes<0x88>(r[8 + j], r[12 + j]);  // rows 8-15 of columns j, 8+j
    t[12 + j] = lanes<0xDD>(r[8 + j], r[12 + j]);  // rows 8-15 of columns 4+j, 12+j
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = lanes<0x88>(t[j], t[8 + j]);
    r[8 + j] = lanes<0xDD>(t[j], t[8 + j]);
    r[4 + j] = lanes<0x88>(t[4 + j], t[12 + j]);
    r[12 + j] = lanes<0xDD>(t[4 + j], t[12 + j]);
  }
}

__mmask16 first_lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// pack[k * 64 + n] = B[n * ldb + k] for n < cols (<= 64), k < K: B stored [n, k], read 16 x 16 blocks at a time.
void pack_transposed(const float* B, int64_t ldb, int64_t cols, int64_t K, float* pack) {
  for (int64_t n0 = 0; n0 < cols; n0 += 16) {
    for (int64_t k0 = 0; k0 < K; k0 += 16) {
      const __mmask16 k_lanes = first_lanes(K - k0);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i)
        r[i] = n0 + i < cols ? _mm512_maskz_loadu_ps(k_lanes, B + (n0 + i) * ldb + k0) : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t j = 0; j < std::min<int64_t>(16, K - k0); ++j) _mm512_storeu_ps(pack + (k0 + j) * kCols + n0, r[j]);
    }
  }
}

}  // namespace

void small_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, float* pack) {
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
    const int vectors = static_cast<int>((cols + 15) / 16);
    const __mmask16 last = first_lanes(cols - 16 * (vectors - 1));
    for (int64_t i = 0; i < M; i += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, M - i));
      tile_for(rows, vectors)(K, A + i * a_row, a_row, a_k, b, b_ld, last, alpha, C + i * ldc + n0, ldc);
    }
  }
}

#elif defined(__AVX2__) && defined(__FMA__) && defined(__x86_64__)

void small_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, float* pack) {
  small_sgemm_avx2(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc, pack);
}

#else

void small_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, float*) {
  gemm<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.f, C, ldc);
}

#endif

}  // namespace sg::cpu
