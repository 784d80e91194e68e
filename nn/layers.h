// layers.h: the layers of a pre-LN Transformer, named as Hugging Face's Siglip modules are.
#pragma once
#include <memory>
#include <vector>

#include "nn/module.h"

namespace sg::nn {

// y = x W^T + b (+ residual);  weight: [out, in], bias: [out]
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true, DType dtype = DType::F32);
  // x: [.., in] -> [.., out]; a residual [.., out] is added by the GEMM itself (one op, linear).
  Tensor forward(const Tensor& x, const Tensor& residual = Tensor());
  Tensor weight, bias;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-6, DType dtype = DType::F32);
  Tensor forward(const Tensor& x);
  Tensor weight, bias;
  double eps;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, DType dtype = DType::F32);
  Tensor forward(const Tensor& ids);  // ids: int64 [...] -> [..., dim]
  Tensor weight;
};

// SiglipMLP: fc2(gelu_tanh(fc1(x)))
class MLP : public Module {
 public:
  MLP(int64_t dim, int64_t hidden, DType dtype = DType::F32);
  // x: [.., D]; with `norm`, mlp(norm(x)), the layer norm fused into fc1 (layer_norm_linear); with a
  // `residual`, residual + mlp(..), the sum made by fc2's GEMM.
  Tensor forward(const Tensor& x, LayerNorm* norm = nullptr, const Tensor& residual = Tensor());
  Linear fc1, fc2;
};

// SiglipAttention: separate q/k/v/out projections, scale 1/sqrt(head_dim), no mask.
class SelfAttention : public Module {
 public:
  SelfAttention(int64_t dim, int64_t heads, DType dtype = DType::F32);
  // x: [B, N, D] -> [B, N, D]; with `norm`, attn(norm(x)), the layer norm fused into q, k and v's projections;
  // with a `residual`, residual + attn(..), the sum made by out_proj's GEMM.
  Tensor forward(const Tensor& x, LayerNorm* norm = nullptr, const Tensor& residual = Tensor());
  int64_t heads;
  Linear k_proj, v_proj, q_proj, out_proj;
};

// torch.nn.MultiheadAttention as the MAP head uses it: packed in_proj (q;k;v) and out_proj.
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t dim, int64_t heads, DType dtype = DType::F32);
  Tensor forward(const Tensor& query, const Tensor& kv);  // query: [B, Nq, D], kv: [B, M, D] -> [B, Nq, D]
  int64_t heads;
  Tensor in_proj_weight, in_proj_bias;  // [3D, D], [3D]
  Linear out_proj;
};

// SiglipEncoderLayer (pre-LN): h = x + attn(ln1(x)); out = h + mlp(ln2(h))
class EncoderLayer : public Module {
 public:
  EncoderLayer(int64_t dim, int64_t heads, int64_t mlp_dim, double eps, DType dtype = DType::F32);
  Tensor forward(const Tensor& x);
  LayerNorm layer_norm1;
  SelfAttention self_attn;
  LayerNorm layer_norm2;
  MLP mlp;
};

// SiglipEncoder: layers.0 ... layers.{n-1}
class Encoder : public Module {
 public:
  Encoder(int64_t layers, int64_t dim, int64_t heads, int64_t mlp_dim, double eps, DType dtype = DType::F32);
  Tensor forward(const Tensor& x);
  std::vector<std::unique_ptr<EncoderLayer>> layers;

 private:
  struct Layers : Module {  // holds the "layers" name level
    void add(const std::string& n, Module* m) { register_module(n, m); }
  } layers_;
};

// [B, N, H*Dh] -> [B, H, N, Dh] and back.
Tensor split_heads(const Tensor& x, int64_t heads);
Tensor merge_heads(const Tensor& x);

// softmax(q k^T / sqrt(Dh)) v with q: [B, H, N, Dh], k, v: [B, H, M, Dh] -> [B, H, N, Dh]: the fused
// scaled_dot_product_attention, or under an UnfusedGuard (nn/unfused.h) its pieces: matmul, mul, softmax, matmul.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace sg::nn
