#include "nn/layers.h"

#include <cmath>

#include "nn/unfused.h"

namespace sg::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, DType dtype) {
  weight = zeros({out, in}, dtype);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = zeros({out}, dtype);
    register_parameter("bias", &bias);
  }
}
Tensor Linear::forward(const Tensor& x, const Tensor& residual) {
  ModuleScope scope(name());
  return linear(x, compute(weight), compute(bias), residual);
}

LayerNorm::LayerNorm(int64_t dim, double eps_, DType dtype) : eps(eps_) {
  weight = ones({dim}, dtype);
  bias = zeros({dim}, dtype);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}
Tensor LayerNorm::forward(const Tensor& x) {
  ModuleScope scope(name());
  return layer_norm(x, compute(weight), compute(bias), eps);
}

Embedding::Embedding(int64_t num, int64_t dim, DType dtype) {
  weight = zeros({num, dim}, dtype);
  register_parameter("weight", &weight);
}
Tensor Embedding::forward(const Tensor& ids) {
  ModuleScope scope(name());
  return embedding(ids, compute(weight));
}

MLP::MLP(int64_t dim, int64_t hidden, DType dtype) : fc1(dim, hidden, true, dtype), fc2(hidden, dim, true, dtype) {
  register_module("fc1", &fc1);
  register_module("fc2", &fc2);
}
namespace {
// A projection of norm(x), the norm fused in (layer_norm_linear): the graph keeps x, which the residual stream
// holds anyway, instead of norm(x). Without a norm, a plain Linear.
Tensor normed_linear(const Tensor& x, LayerNorm* norm, Linear& proj, bool with_bias) {
  ModuleScope scope(proj.name());
  Tensor b = with_bias ? compute(proj.bias) : Tensor();
  if (!norm) return linear(x, compute(proj.weight), b);
  return layer_norm_linear(x, compute(norm->weight), compute(norm->bias), compute(proj.weight), b, norm->eps);
}
}  // namespace

Tensor MLP::forward(const Tensor& x, LayerNorm* norm, const Tensor& residual) {
  ModuleScope scope(name());
  if (unfused()) {
    Tensor xn = norm ? norm->forward(x) : x;
    ModuleScope fc1_scope(fc1.name());
    Tensor h = linear(xn, compute(fc1.weight), Tensor());  // fc1 without its bias, then bias + GELU: [.., F]
    Tensor y = fc2.forward(bias_gelu(h, compute(fc1.bias)));
    return residual.defined() ? add(residual, y) : y;
  }
  Tensor h = normed_linear(x, norm, fc1, false);  // fc1 without its bias: h: [.., F]
  // fc1's bias, GELU and fc2 as one op (bias_gelu_linear): the graph keeps h only, not gelu(h + b1) as well,
  // and recomputes the GELU in the backward; the same function as fc2.forward(gelu(fc1.forward(x))).
  ModuleScope fc2_scope(fc2.name());
  return bias_gelu_linear(h, compute(fc1.bias), compute(fc2.weight), compute(fc2.bias), residual);
}

Tensor split_heads(const Tensor& x, int64_t heads) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2);
  SG_CHECK(D % heads == 0, "attention: width {} is not divisible by {} heads", D, heads);
  return x.reshape({B, N, heads, D / heads}).transpose(1, 2);
}
Tensor merge_heads(const Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), N = x.size(2), Dh = x.size(3);
  return x.transpose(1, 2).reshape({B, N, H * Dh});
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (!unfused()) return scaled_dot_product_attention(q, k, v);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  Tensor scores = mul(matmul(q, k, false, true), scale);  // [B, H, N, M]
  return matmul(softmax(scores, -1), v);                  // [B, H, N, Dh]
}

SelfAttention::SelfAttention(int64_t dim, int64_t heads_, DType dtype)
    : heads(heads_), k_proj(dim, dim, true, dtype), v_proj(dim, dim, true, dtype), q_proj(dim, dim, true, dtype),
      out_proj(dim, dim, true, dtype) {
  SG_CHECK(dim % heads == 0, "SelfAttention: width {} is not divisible by {} heads", dim, heads);
  register_module("k_proj", &k_proj);
  register_module("v_proj", &v_proj);
  register_module("q_proj", &q_proj);
  register_module("out_proj", &out_proj);
}
Tensor SelfAttention::forward(const Tensor& x, LayerNorm* norm, const Tensor& residual) {
  ModuleScope scope(name());
  if (unfused()) {
    // x: [B, N, D] -> q, k, v: [B, H, N, Dh] (views of [B, N, D] projections)
    Tensor xn = norm ? norm->forward(x) : x;
    Tensor q = split_heads(q_proj.forward(xn), heads);
    Tensor k = split_heads(k_proj.forward(xn), heads);
    Tensor v = split_heads(v_proj.forward(xn), heads);
    Tensor y = out_proj.forward(merge_heads(attention(q, k, v)));
    return residual.defined() ? add(residual, y) : y;
  }
  // q, k and v's projections as one GEMM of the stacked weights [3D, D] (with the layer norm fused in when
  // there is one), then attention straight from the packed qkv: [B, N, 3D]; its backward hands the three
  // projections one [B, N, 3D] gradient, so their input's gradient is one GEMM, not three summed.
  Tensor w = concat({compute(q_proj.weight), compute(k_proj.weight), compute(v_proj.weight)}, 0);
  Tensor b = concat({compute(q_proj.bias), compute(k_proj.bias), compute(v_proj.bias)}, 0);
  Tensor qkv = norm ? layer_norm_linear(x, compute(norm->weight), compute(norm->bias), w, b, norm->eps)
                    : linear(x, w, b);
  return out_proj.forward(self_attention_qkv(qkv, heads), residual);
}

MultiheadAttention::MultiheadAttention(int64_t dim, int64_t heads_, DType dtype)
    : heads(heads_), out_proj(dim, dim, true, dtype) {
  SG_CHECK(dim % heads == 0, "MultiheadAttention: width {} is not divisible by {} heads", dim, heads);
  in_proj_weight = zeros({3 * dim, dim}, dtype);
  in_proj_bias = zeros({3 * dim}, dtype);
  register_parameter("in_proj_weight", &in_proj_weight);
  register_parameter("in_proj_bias", &in_proj_bias);
  register_module("out_proj", &out_proj);
}
Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& kv) {
  ModuleScope scope(name());
  const int64_t D = in_proj_weight.size(1);
  // The packed projection, q;k;v stacked along the output dim as torch stores them.
  Tensor w = compute(in_proj_weight), b = compute(in_proj_bias);
  Tensor q = linear(query, w.narrow(0, 0, D), b.narrow(0, 0, D));
  Tensor k = linear(kv, w.narrow(0, D, D), b.narrow(0, D, D));
  Tensor v = linear(kv, w.narrow(0, 2 * D, D), b.narrow(0, 2 * D, D));
  Tensor o = attention(split_heads(q, heads), split_heads(k, heads), split_heads(v, heads));
  return out_proj.forward(merge_heads(o));
}

EncoderLayer::EncoderLayer(int64_t dim, int64_t heads, int64_t mlp_dim, double eps, DType dtype)
    : layer_norm1(dim, eps, dtype), self_attn(dim, heads, dtype), layer_norm2(dim, eps, dtype), mlp(dim, mlp_dim, dtype) {
  register_module("layer_norm1", &layer_norm1);
  register_module("self_attn", &self_attn);
  register_module("layer_norm2", &layer_norm2);
  register_module("mlp", &mlp);
}
Tensor EncoderLayer::forward(const Tensor& x) {
  ModuleScope scope(name());
  if (unfused()) {  // the norms as their own ops (nn/unfused.h)
    Tensor h = add(x, self_attn.forward(layer_norm1.forward(x)));
    return add(h, mlp.forward(layer_norm2.forward(h)));
  }
  // The residual adds are made by out_proj's and fc2's GEMMs (linear with a residual).
  Tensor h = self_attn.forward(x, &layer_norm1, x);  // x + attn(ln1(x))
  return mlp.forward(h, &layer_norm2, h);            // h + mlp(ln2(h))
}

Encoder::Encoder(int64_t n, int64_t dim, int64_t heads, int64_t mlp_dim, double eps, DType dtype) {
  register_module("layers", &layers_);
  for (int64_t i = 0; i < n; ++i) {
    layers.push_back(std::make_unique<EncoderLayer>(dim, heads, mlp_dim, eps, dtype));
    layers_.add(std::to_string(i), layers.back().get());
  }
}
Tensor Encoder::forward(const Tensor& x) {
  ModuleScope scope(name());
  ModuleScope layers_scope("layers");
  Tensor h = x;
  for (auto& l : layers) h = l->forward(h);
  return h;
}

}  // namespace sg::nn
