// model.h: SigLIP as the paper and Hugging Face's SiglipModel have it.
//   vision: patch embedding -> + positions [-> class token first] -> pre-LN encoder -> post_layernorm -> pooled:
//           MAP head (HF's vision_use_head), mean of the tokens (big_vision's gap) or the class token (tok)
//   text:   token + position embeddings -> pre-LN encoder (no causal mask) -> final_layer_norm -> last token -> head
//   logits[i, j] = exp(t') <x_i, y_j> + b over L2-normalised image embeddings x and text embeddings y.
#pragma once
#include <memory>

#include "nn/layers.h"
#include "siglip/config.h"

namespace sg {

// SiglipVisionEmbeddings
class VisionEmbeddings : public nn::Module {
 public:
  explicit VisionEmbeddings(const VisionConfig& c);
  Tensor forward(const Tensor& images);  // [B, C, H, W] -> [B, Np, D] (pool "tok": [B, 1 + Np, D], the class token first)
  Tensor patch_weight, patch_bias;       // patch_embedding.weight [D, C, P, P], .bias [D]
  nn::Embedding position_embedding;      // [Np, D]
  Tensor class_embedding;                // [D], pool "tok" only: big_vision's cls token, after the positions

 private:
  struct Holder : nn::Module {
    void add(const std::string& n, Tensor* t) { register_parameter(n, t); }
  } patch_embedding_;
  Tensor positions_;  // int64 [Np]: 0 .. Np-1
};

// SiglipMultiheadAttentionPoolingHead: a learned probe attends to all tokens, then a + mlp(layernorm(a)).
class MapHead : public nn::Module {
 public:
  MapHead(int64_t dim, int64_t heads, int64_t mlp_dim, double eps);
  Tensor forward(const Tensor& x);  // [B, N, D] -> [B, D]
  Tensor probe;                     // [1, 1, D]
  nn::MultiheadAttention attention;
  nn::LayerNorm layernorm;
  nn::MLP mlp;
};

class VisionTransformer : public nn::Module {
 public:
  explicit VisionTransformer(const VisionConfig& c);
  Tensor forward(const Tensor& images);  // [B, C, H, W] -> pooled [B, D]
  VisionConfig config;
  VisionEmbeddings embeddings;
  nn::Encoder encoder;
  nn::LayerNorm post_layernorm;
  std::unique_ptr<MapHead> head;  // pool "map" only
};

// SiglipTextEmbeddings
class TextEmbeddings : public nn::Module {
 public:
  explicit TextEmbeddings(const TextConfig& c);
  Tensor forward(const Tensor& ids);  // int64 [B, T] -> [B, T, D]
  nn::Embedding token_embedding, position_embedding;
};

class TextTransformer : public nn::Module {
 public:
  explicit TextTransformer(const TextConfig& c);
  Tensor forward(const Tensor& ids);  // int64 [B, T] -> [B, P] (last token, then head)
  TextConfig config;
  TextEmbeddings embeddings;
  nn::Encoder encoder;
  nn::LayerNorm final_layer_norm;
  nn::Linear head;
};

class SiglipModel : public nn::Module {
 public:
  explicit SiglipModel(const SiglipConfig& c);
  // HF's SiglipPreTrainedModel._init_weights, seeded; then t' and b from the config.
  void init_weights(uint64_t seed);
  Tensor image_embeds(const Tensor& images);  // L2-normalised [B, D]
  Tensor text_embeds(const Tensor& ids);      // L2-normalised [B, D]
  // logits[i, j] = exp(t') x_i . y_j + b   ([B_img, B_txt])
  Tensor logits(const Tensor& img_emb, const Tensor& txt_emb);
  using nn::Module::to;
  void to(Device d);
  Device device() const { return device_; }

  SiglipConfig config;
  TextTransformer text_model;
  VisionTransformer vision_model;
  Tensor logit_scale, logit_bias;  // t' and b, shape [1]

 private:
  Device device_ = Device::CPU;
};

}  // namespace sg
