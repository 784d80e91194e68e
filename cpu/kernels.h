// kernels.h: CPU kernels. Raw buffers in, raw buffers out; no autograd, no allocation policy.
// The functions themselves are listed once for every backend in cpu/kernel_api.inc.
#pragma once
#include <cstdint>
#include <vector>

#include "base/elementwise_ops.h"  // the Unary and Binary ops (sg::Unary, sg::Binary)
#include "tensor/dtype.h"

namespace sg {
// One parameter buffer of a multi-tensor AdamW step (adamw_step_multi in kernel_api.inc): n f32 elements of
// the parameter p, its gradient g and its moments m, v (same backend's memory), and its weight decay.
// In namespace sg so that both backend namespaces (sg::cpu, sg::cuda) see it.
struct AdamWSlice {
  float* p = nullptr;
  const float* g = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t n = 0;
  double wd = 0;
};
}  // namespace sg

namespace sg::cpu {
using Dims = std::vector<int64_t>;

using sg::Binary;
using sg::Unary;

// Additive attention mask: element (bh, i, j) at mask[(bh / H) * sb + (bh % H) * sh + i * si + j * sj], or null.
struct MaskView {
  const void* data = nullptr;
  int64_t H = 1, sb = 0, sh = 0, si = 0, sj = 0;  // strides for b, h, i, j (0 where broadcast)
};

#include "cpu/kernel_api.inc"

// Which library f32 GEMM uses ("onednn" or "openblas"); SG_GEMM=openblas|onednn overrides.
const char* gemm_backend();
void set_gemm_backend(const char* name);

}  // namespace sg::cpu
