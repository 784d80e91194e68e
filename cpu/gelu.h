// gelu.h: GELU, tanh form (PyTorch's approximate='tanh'), and its derivative, for the CPU kernels that apply it:
// the unary table and bias_gelu (elementwise.cpp) and the bf16 bias_gelu (bf16.cpp), so all compute the same bits.
#pragma once
#include "base/elementwise_ops.h"
#include "cpu/fast_math.h"

namespace sg::cpu {

template <typename T>
inline T ew_gelu(T v) {
  return T(0.5) * v * (T(1) + fast_tanh(T(kGeluC) * (v + T(kGeluA) * v * v * v)));
}
template <typename T>
inline T ew_gelu_grad(T v) {
  const T u = T(kGeluC) * (v + T(kGeluA) * v * v * v);
  const T t = fast_tanh(u);
  const T du = T(kGeluC) * (T(1) + T(3 * kGeluA) * v * v);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du;
}

}  // namespace sg::cpu
