// index.cpp: row gather and its adjoint, a deterministic scatter-add (rows in index order).
#include <cstring>

#include "cpu/kernels.h"

namespace sg::cpu {

template <typename T>
void gather_rows(const T* src, const int64_t* idx, T* out, int64_t n, int64_t D) {
#pragma omp parallel for if (n * D > (1 << 15))
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * D, src + idx[i] * D, static_cast<size_t>(D) * sizeof(T));
}

template <typename T>
void scatter_add_rows(const T* gout, const int64_t* idx, T* gsrc, int64_t n, int64_t D, int64_t V) {
  std::memset(gsrc, 0, static_cast<size_t>(V * D) * sizeof(T));
  // Columns split across threads; rows in order within each: the same sums on any thread count.
#pragma omp parallel for if (n * D > (1 << 15))
  for (int64_t c0 = 0; c0 < D; c0 += 16) {
    const int64_t c1 = std::min<int64_t>(D, c0 + 16);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = c0; c < c1; ++c) gsrc[idx[i] * D + c] += gout[i * D + c];
  }
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t);
template void scatter_add_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void scatter_add_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);

}  // namespace sg::cpu
