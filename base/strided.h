// strided.h: the strided-view arithmetic both backends share: how many elements a view spans, and merging
// adjacent dims that are contiguous in every operand (so contiguous tensors become one flat run).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace sg {

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

}  // namespace sg
