// softmax.cpp: stable softmax / log_softmax over the middle dim of [outer, r, inner], and their backward.
//   softmax:      y = exp(x - max) / sum,  gx = y * (gy - sum(gy * y))
//   log_softmax:  y = x - max - log(sum),  gx = gy - exp(y) * sum(gy)
#include <cmath>
#include <vector>

#include "cpu/fast_math.h"
#include "cpu/kernels.h"

namespace sg::cpu {

template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (inner == 1) {  // rows contiguous: vectorised passes (max, exp and sum, scale)
#pragma omp parallel for if (outer * r > (1 << 14))
    for (int64_t o = 0; o < outer; ++o) {
      const T* xr = x + o * r;
      T* yr = y + o * r;
      const T m = row_max(xr, r);
      T s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < r; ++k) s += fast_exp(xr[k] - m);
      } else {
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < r; ++k) {
          yr[k] = fast_exp(xr[k] - m);
          s += yr[k];
        }
      }
      if (log) {
        const T ls = m + std::log(s);
#pragma omp simd
        for (int64_t k = 0; k < r; ++k) yr[k] = xr[k] - ls;
      } else {
        const T inv = T(1) / s;
#pragma omp simd
        for (int64_t k = 0; k < r; ++k) yr[k] *= inv;
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) if (outer * r * inner > (1 << 14))
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xr = x + o * r * inner + i;
      T* yr = y + o * r * inner + i;
      T m = xr[0];
      for (int64_t k = 1; k < r; ++k) m = std::max(m, xr[k * inner]);
      double s = 0;
      for (int64_t k = 0; k < r; ++k) s += std::exp(static_cast<double>(xr[k * inner] - m));
      if (log) {
        T ls = static_cast<T>(std::log(s));
        for (int64_t k = 0; k < r; ++k) yr[k * inner] = xr[k * inner] - m - ls;
      } else {
        T inv = static_cast<T>(1.0 / s);
        for (int64_t k = 0; k < r; ++k) yr[k * inner] = std::exp(xr[k * inner] - m) * inv;
      }
    }
}

template <typename T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (inner == 1) {
#pragma omp parallel for if (outer * r > (1 << 14))
    for (int64_t o = 0; o < outer; ++o) {
      const T* yr = y + o * r;
      const T* gr = gy + o * r;
      T* xr = gx + o * r;
      T s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < r; ++k) s += gr[k];
#pragma omp simd
        for (int64_t k = 0; k < r; ++k) xr[k] = gr[k] - fast_exp(yr[k]) * s;
      } else {
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < r; ++k) s += gr[k] * yr[k];
#pragma omp simd
        for (int64_t k = 0; k < r; ++k) xr[k] = yr[k] * (gr[k] - s);
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) if (outer * r * inner > (1 << 14))
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * r * inner + i;
      double s = 0;
      if (log) {
        for (int64_t k = 0; k < r; ++k) s += gy[base + k * inner];
        for (int64_t k = 0; k < r; ++k)
          gx[base + k * inner] = gy[base + k * inner] - std::exp(y[base + k * inner]) * static_cast<T>(s);
      } else {
        for (int64_t k = 0; k < r; ++k) s += gy[base + k * inner] * y[base + k * inner];
        for (int64_t k = 0; k < r; ++k)
          gx[base + k * inner] = y[base + k * inner] * (gy[base + k * inner] - static_cast<T>(s));
      }
    }
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool);

}  // namespace sg::cpu
