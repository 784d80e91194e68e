// ops.h: every differentiable op users call. Each op checks its inputs (throwing sg::Error that names the op
// and the shapes), dispatches to the CPU or CUDA kernel, and records its backward formula.
// Where an op lives: tensor/ops/<family>.cpp (shape rules, forward dispatch, backward formula together).
#pragma once
#include <vector>

#include "base/elementwise_ops.h"
#include "tensor/tensor.h"

namespace sg {

// ---- elementwise (tensor/ops/elementwise.cpp); binary ops broadcast like NumPy ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// The unary maps: one function per row of SG_UNARY_OPS in base/elementwise_ops.h, where each one's formula,
// derivative and doc are: Tensor neg(const Tensor& a), exp(a), log(a), sqrt(a), tanh(a), gelu(a), ...,
// and with a scalar: pow(a, p) = a^p, add(a, s) = a + s, mul(a, s) = a * s.
#define SG_DECLARE_UNARY(ID, NAME, FN, PARAM, ...) Tensor FN(const Tensor& a SG_UNARY_PARAM_DECL_##PARAM);
SG_UNARY_OPS(SG_DECLARE_UNARY)
#undef SG_DECLARE_UNARY
// gelu(x + bias) in one kernel, x: [..., D], bias: [D] (the MLP's fc1 bias and activation fused).
Tensor bias_gelu(const Tensor& x, const Tensor& bias);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }

// The shape both operands broadcast to, or an error naming `op`.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sums `g` down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- reductions (tensor/ops/reduce.cpp) ----
Tensor sum(const Tensor& a);  // all elements -> scalar
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);  // values; gradient goes to the first maximum
Tensor argmax(const Tensor& a, int64_t dim);                      // int64 indices (not differentiable)

// ---- matmul (tensor/ops/matmul.cpp) ----
// a: [..., M, K] (or [..., K, M] with trans_a), b: [..., K, N] (or [..., N, K] with trans_b) -> [..., M, N].
// Batch dims broadcast; a 2-D operand is shared across the batch.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x: [..., in] @ w^T (w: [out, in], as nn.Linear stores it) + bias: [out] + residual: [..., out] -> [..., out].
// One node: bias and residual (both optional) are added by the GEMM itself (h = x + out_proj(a) in a pre-LN block).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), const Tensor& residual = Tensor());
// The MLP's second half, gelu(h + b1) @ w2^T + b2 + residual (tensor/ops/mlp.cpp): h: [..., F], b1: [F],
// w2: [D, F], b2: [D] and residual: [..., D] (both optional) -> [..., D]. Keeps only h for the backward and
// recomputes the GELU there, so a layer stores one [..., F] activation instead of two.
Tensor bias_gelu_linear(const Tensor& h, const Tensor& b1, const Tensor& w2, const Tensor& b2 = Tensor(),
                        const Tensor& residual = Tensor());

// ---- softmax family (tensor/ops/softmax.cpp) ----
Tensor softmax(const Tensor& a, int64_t dim = -1);
Tensor log_softmax(const Tensor& a, int64_t dim = -1);

// ---- normalisation (tensor/ops/norm.cpp) ----
// x: [..., D], weight, bias: [D] -> [..., D]; statistics over the last dim.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-6);
// layer_norm(x, ln_weight, ln_bias) @ w^T + b in one op (tensor/ops/norm.cpp): x: [..., D], w: [out, D],
// b: [out] (optional) -> [..., out]. Keeps x, not the normalised x, and recomputes the normalisation in the
// backward: a pre-LN block's projections then store no activation of their own.
Tensor layer_norm_linear(const Tensor& x, const Tensor& ln_weight, const Tensor& ln_bias, const Tensor& w,
                         const Tensor& b = Tensor(), double eps = 1e-6);
// x / max(||x||_2, eps) along `dim`.
Tensor l2_normalize(const Tensor& x, int64_t dim = -1, double eps = 1e-12);

// ---- indexing and joining (tensor/ops/index.cpp) ----
// ids: int64 [...], weight: [V, D] -> [..., D]; backward scatter-adds into the rows used.
Tensor embedding(const Tensor& ids, const Tensor& weight);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor concat(const std::vector<Tensor>& ts, int64_t dim);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);

// ---- patch embedding (tensor/ops/conv.cpp) ----
// Conv2d with stride = kernel = P, with bias, then flatten(2).transpose(1, 2) as Hugging Face's Siglip does:
// x: [B, C, H, W], weight: [D, C, P, P], bias: [D] -> [B, (H/P)*(W/P), D]
Tensor patch_embed(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- attention (tensor/ops/attention.cpp) ----
// Non-causal scaled dot-product attention with a fused forward and backward that never keeps the
// [N, M] probabilities: the forward saves only the row log-sum-exp; backward recomputes them.
// q: [B, H, N, Dh], k, v: [B, H, M, Dh], mask (optional, additive, not differentiable): broadcastable to
// [B, H, N, M]; scale defaults to 1/sqrt(Dh). Returns [B, H, N, Dh].
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = Tensor(),
                                    double scale = 0);
// Self-attention over one packed projection: qkv: [B, N, 3D] (q; k; v along the last dim, each D = H * Dh
// split into `heads` heads) -> [B, N, D] (heads merged), scale 1/sqrt(Dh), no mask. The same function as
// splitting q, k, v into heads, scaled_dot_product_attention and merging; on the CPU the kernels read and write
// the packed layouts directly and the backward returns one [B, N, 3D] gradient.
Tensor self_attention_qkv(const Tensor& qkv, int64_t heads);

// ---- SigLIP sigmoid loss, fused (tensor/ops/sigmoid_loss.cpp) ----
// img, txt: [B, D] (normalised by the caller), logit_scale t', logit_bias b: one element each, groups: int64 [B].
// l_ij = exp(t') <img_i, txt_j> + b, z_ij = +1 where groups[i] == groups[j] else -1 (siglip/loss.h's
// positive_groups); returns the scalar -(1/B) sum_ij log sigmoid(z_ij l_ij), equal to
// sigmoid_loss(logits, positive_labels(...)) but never storing the [B, B] logits (forward or backward).
// float32, float64 or bfloat16 (computed in float32); gradients for img, txt, logit_scale and logit_bias.
Tensor sigmoid_loss_fused(const Tensor& img, const Tensor& txt, const Tensor& logit_scale, const Tensor& logit_bias,
                          const Tensor& groups);

}  // namespace sg
