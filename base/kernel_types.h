// kernel_types.h: the vocabulary of the kernel signatures (base/kernel_api.inc) that both backends share:
// op enums, shape vectors, attention mask views, optimiser slices. Plain C++, no backend in sight.
#pragma once
#include <cstdint>
#include <vector>

#include "base/elementwise_ops.h"  // the Unary and Binary ops, one table row each

namespace sg {

using Dims = std::vector<int64_t>;


// Additive attention mask: element (bh, i, j) at mask[(bh / H) * sb + (bh % H) * sh + i * si + j * sj], or null.
struct MaskView {
  const void* data = nullptr;
  int64_t H = 1, sb = 0, sh = 0, si = 0, sj = 0;  // strides for b, h, i, j (0 where broadcast)
};

// One parameter buffer of a multi-tensor AdamW step (adamw_step_multi in kernel_api.inc): n f32 elements of
// the parameter p, its gradient g and its moments m, v (same backend's memory), and its weight decay.
struct AdamWSlice {
  float* p = nullptr;
  const float* g = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t n = 0;
  double wd = 0;
};

}  // namespace sg
