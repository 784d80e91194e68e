// fast_math.h: exp and tanh in float that the compiler can vectorise (glibc's expf/tanhf are scalar calls unless
// -ffast-math), and the softmax of one row built on exp. Cephes' polynomials: exp within 2 ulp over the whole float
// range, tanh within 3 ulp.
// For double, the standard library (these serve gradient checks, where accuracy is the point).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sg::cpu {

#pragma omp declare simd notinbranch
inline float exp_f32(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float n = std::nearbyint(x * 1.44269504088896341f);  // x / ln 2
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // x - n ln 2, in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

#pragma omp declare simd notinbranch
inline float tanh_f32(float x) {
  const float a = std::fabs(x);
  float small;
  {
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    small = p * z * x + x;
  }
  const float big = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
  return a < 0.625f ? small : std::copysign(big, x);
}

template <typename T>
inline T fast_exp(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_f32(x);
  else return std::exp(x);
}
template <typename T>
inline T fast_tanh(T x) {
  if constexpr (std::is_same_v<T, float>) return tanh_f32(x);
  else return std::tanh(x);
}

// The largest of row[0..M), M >= 1. One running maximum chains every compare through one register (about 4
// cycles each), and GCC vectorises no float max reduction without -ffast-math; so in float, 16 running maxima
// (one AVX-512 register, or two AVX2 ones) and a tree at the end: a softmax row of 64 in half the time. A NaN in
// the row may or may not be returned (what follows a row max, exp(x - max), is NaN for a NaN x either way).
inline float row_max(const float* row, int64_t M) {
  float lanes[16];
  for (float& l : lanes) l = row[0];
  int64_t j = 0;
  for (; j + 16 <= M; j += 16)
#pragma omp simd
    for (int l = 0; l < 16; ++l) lanes[l] = row[j + l] > lanes[l] ? row[j + l] : lanes[l];
  for (int64_t l = 0; l < M - j; ++l) lanes[l] = row[j + l] > lanes[l] ? row[j + l] : lanes[l];  // the last M % 16
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lanes[l] = lanes[l + w] > lanes[l] ? lanes[l + w] : lanes[l];
  return lanes[0];
}
inline double row_max(const double* row, int64_t M) {
  double mx = row[0];
  for (int64_t j = 1; j < M; ++j) mx = row[j] > mx ? row[j] : mx;
  return mx;
}

// row[0..M) <- softmax(row) in place; returns the row's log-sum-exp (what attention's backward recomputes P from).
template <typename T>
inline T softmax_row_lse(T* row, int64_t M) {
  const T mx = row_max(row, M);
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < M; ++j) {
    row[j] = fast_exp(row[j] - mx);
    s += row[j];
  }
  const T inv = T(1) / s;
#pragma omp simd
  for (int64_t j = 0; j < M; ++j) row[j] *= inv;
  return mx + std::log(s);
}

}  // namespace sg::cpu
