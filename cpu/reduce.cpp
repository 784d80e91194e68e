// reduce.cpp: sum and max over the middle dim of [outer, r, inner]; f32 sums accumulate in f64.
// sum_dim also reads bf16 directly: each element widened as it is read, f64 sums rounded to f32 and then once
// to bf16 (max_dim for bf16 is in bf16.cpp).
#include <algorithm>
#include <limits>
#include <vector>

#include "cpu/column_sums.h"
#include "cpu/kernels.h"

namespace sg::cpu {

template <typename T>
void sum_dim(const T* x, T* y, int64_t outer, int64_t r, int64_t inner) {
  if (inner == 1) {
#pragma omp parallel for if (outer * r > (1 << 15))
    for (int64_t o = 0; o < outer; ++o) {
      double acc = 0;
      const T* row = x + o * r;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < r; ++k) acc += static_cast<double>(row[k]);
      y[o] = static_cast<T>(acc);
    }
    return;
  }
  if (outer == 1 && inner >= 128) {  // [1, r, inner]: a bias gradient, the rows of a [B*N, D] matrix
    chunked_column_sums(r, inner, y, [x, inner](int64_t k) { return x + k * inner; });
    return;
  }
#pragma omp parallel for if (outer * r * inner > (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    std::vector<double> acc(static_cast<size_t>(inner), 0.0);
    for (int64_t k = 0; k < r; ++k) {
      const T* row = x + (o * r + k) * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) acc[i] += static_cast<double>(row[i]);
    }
    for (int64_t i = 0; i < inner; ++i) y[o * inner + i] = static_cast<T>(acc[i]);
  }
}

template <typename T>
void max_dim(const T* x, T* y, int64_t* argmax, int64_t outer, int64_t r, int64_t inner) {
#pragma omp parallel for collapse(2) if (outer * r * inner > (1 << 15))
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      T best = -std::numeric_limits<T>::infinity();
      int64_t arg = 0;
      for (int64_t k = 0; k < r; ++k) {
        T v = x[(o * r + k) * inner + i];
        if (v > best || (k == 0)) best = v, arg = k;
      }
      y[o * inner + i] = best;
      argmax[o * inner + i] = arg;
    }
}

template <typename T>
void max_dim_backward(const T* gy, const int64_t* argmax, T* gx, int64_t outer, int64_t r, int64_t inner) {
  for (int64_t i = 0; i < outer * r * inner; ++i) gx[i] = T(0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) gx[(o * r + argmax[o * inner + i]) * inner + i] = gy[o * inner + i];
}

template void max_dim_backward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void max_dim_backward<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);
template void sum_dim<float>(const float*, float*, int64_t, int64_t, int64_t);
template void sum_dim<double>(const double*, double*, int64_t, int64_t, int64_t);
template void sum_dim<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t);
template void max_dim<float>(const float*, float*, int64_t*, int64_t, int64_t, int64_t);
template void max_dim<double>(const double*, double*, int64_t*, int64_t, int64_t, int64_t);

}  // namespace sg::cpu
