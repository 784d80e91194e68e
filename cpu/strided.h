// strided.h: walking N strided operands over one shape, the loop every elementwise kernel uses.
// Adjacent dims that are contiguous in every operand are merged first, so contiguous tensors become a
// single flat loop that the compiler vectorises; the outer rows are split across OpenMP threads.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace sg::cpu {

// Elements a view of `shape` (nd dims) with non-negative `strides` spans in its buffer: 1 + the largest offset
// it reaches, 0 when the view is empty.
inline int64_t strided_span(const int64_t* shape, const int64_t* strides, size_t nd) {
  int64_t last = 0;
  for (size_t d = 0; d < nd; ++d) {
    if (shape[d] == 0) return 0;
    last += (shape[d] - 1) * strides[d];
  }
  return last + 1;
}

template <int N>
struct StridedLayout {
  std::vector<int64_t> shape;
  std::array<std::vector<int64_t>, N> strides;
};

// Merges dims d and d+1 where, for every operand, stride[d] == stride[d+1] * shape[d+1]; drops size-1 dims.
template <int N>
StridedLayout<N> collapse(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides) {
  StridedLayout<N> L;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !L.shape.empty();
    for (int k = 0; k < N && merge; ++k) merge = L.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      L.shape.back() *= shape[d];
      for (int k = 0; k < N; ++k) L.strides[k].back() = strides[k][d];
    } else {
      L.shape.push_back(shape[d]);
      for (int k = 0; k < N; ++k) L.strides[k].push_back(strides[k][d]);
    }
  }
  if (L.shape.empty()) {
    L.shape.push_back(1);
    for (int k = 0; k < N; ++k) L.strides[k].push_back(1);
  }
  return L;
}

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
