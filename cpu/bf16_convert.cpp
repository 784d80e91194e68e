// bf16_convert.cpp: see bf16_convert.h.
#include "cpu/bf16_convert.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include "base/dtype.h"

namespace sg::cpu {

// A shift, vectorised by the compiler.
void widen_bf16(const uint16_t* src, float* dst, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

// With AVX512_BF16, vcvtne2ps2bf16 rounds 32 at a time as f32_to_bf16 does, except that it flushes subnormals to
// zero: a group of 32 with a subnormal goes through f32_to_bf16 instead. Without it, f32_to_bf16 vectorised by the
// compiler (about half the speed on streams that miss the cache).
void narrow_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512BF16__)
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), below_normal = _mm512_set1_epi32(0x007fffff);
  const __m512i one = _mm512_set1_epi32(1);
  // 0 < |x| < the smallest normal, as |x| - 1 < 0x7fffff (unsigned)
  auto subnormal = [&](__m512 x) {
    return _mm512_cmplt_epu32_mask(_mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(x), abs_mask), one),
                                   below_normal);
  };
  for (; i + 32 <= n; i += 32) {
    const __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
    if ((subnormal(lo) | subnormal(hi)) == 0) {
      _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
    } else {
      for (int64_t k = i; k < i + 32; ++k) dst[k] = f32_to_bf16(src[k]);
    }
  }
#endif
#pragma omp simd
  for (int64_t k = i; k < n; ++k) dst[k] = f32_to_bf16(src[k]);
}

}  // namespace sg::cpu
