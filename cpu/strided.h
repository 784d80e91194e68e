// strided.h: walking N strided operands over one shape, the loop every CPU elementwise kernel uses.
// Adjacent dims that are contiguous in every operand are merged first (base/strided.h), so contiguous tensors become a
// single flat loop that the compiler vectorises; the outer rows are split across OpenMP threads.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "base/strided.h"

namespace sg::cpu {

// Calls inner(offsets, n, inner_strides) for every run of the innermost dim (offsets in elements).
template <int N, typename F>
void for_each_strided(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides, F inner) {
  StridedLayout<N> L = collapse<N>(shape, strides);
  const int64_t nd = static_cast<int64_t>(L.shape.size());
  const int64_t n = L.shape[nd - 1];
  std::array<int64_t, N> in_stride;
  for (int k = 0; k < N; ++k) in_stride[k] = L.strides[k][nd - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d < nd - 1; ++d) rows *= L.shape[d];
  if (rows == 1) {
    // One long run: split it into chunks for the threads.
    const int64_t chunk = 1 << 16;
    const int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; ++c) {
      std::array<int64_t, N> off;
      for (int k = 0; k < N; ++k) off[k] = c * chunk * in_stride[k];
      int64_t len = (c + 1) * chunk < n ? chunk : n - c * chunk;
      inner(off, len, in_stride);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (rows * n > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    std::array<int64_t, N> off{};
    int64_t rem = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t i = rem % L.shape[d];
      rem /= L.shape[d];
      for (int k = 0; k < N; ++k) off[k] += i * L.strides[k][d];
    }
    inner(off, n, in_stride);
  }
}

}  // namespace sg::cpu
