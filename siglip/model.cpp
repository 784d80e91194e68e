#include "siglip/model.h"

#include <cmath>

#include "nn/unfused.h"
#include "siglip/loss.h"

namespace sg {

VisionEmbeddings::VisionEmbeddings(const VisionConfig& c) : position_embedding(c.num_patches(), c.hidden_size) {
  patch_weight = zeros({c.hidden_size, c.num_channels, c.patch_size, c.patch_size});
  patch_bias = zeros({c.hidden_size});
  patch_embedding_.add("weight", &patch_weight);
  patch_embedding_.add("bias", &patch_bias);
  register_module("patch_embedding", &patch_embedding_);
  register_module("position_embedding", &position_embedding);
  positions_ = arange(0, static_cast<double>(c.num_patches()), 1, DType::I64);
  if (c.pool == "tok") {
    class_embedding = zeros({c.hidden_size});
    register_parameter("class_embedding", &class_embedding);
  }
}

Tensor VisionEmbeddings::forward(const Tensor& images) {
  ModuleScope scope(name());
  Tensor x;
  {
    ModuleScope p("patch_embedding");
    x = patch_embed(nn::compute(images), nn::compute(patch_weight), nn::compute(patch_bias));  // [B, Np, D]
  }
  // positions_ stay on the host: embedding() checks host indices without a GPU sync, then uploads them.
  x = add(x, position_embedding.forward(positions_));  // + [Np, D]
  if (!class_embedding.defined()) return x;
  const int64_t B = x.size(0), D = x.size(2);
  Tensor cls = nn::compute(class_embedding).reshape({1, 1, D}).expand({B, 1, D});  // no position of its own
  return concat({cls, x}, 1);                                                       // [B, 1 + Np, D]
}

MapHead::MapHead(int64_t dim, int64_t heads, int64_t mlp_dim, double eps)
    : attention(dim, heads), layernorm(dim, eps), mlp(dim, mlp_dim) {
  probe = zeros({1, 1, dim});
  register_parameter("probe", &probe);
  register_module("attention", &attention);
  register_module("layernorm", &layernorm);
  register_module("mlp", &mlp);
}

Tensor MapHead::forward(const Tensor& x) {
  ModuleScope scope(name());
  const int64_t B = x.size(0), D = x.size(2);
  Tensor q = nn::compute(probe).expand({B, 1, D});
  Tensor a = attention.forward(q, x);               // [B, 1, D]
  Tensor h = nn::unfused() ? add(a, mlp.forward(layernorm.forward(a))) : mlp.forward(a, &layernorm, a);
  return h.select(1, 0);                            // token 0: [B, D]
}

VisionTransformer::VisionTransformer(const VisionConfig& c)
    : config(c),
      embeddings(c),
      encoder(c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size, c.layer_norm_eps),
      post_layernorm(c.hidden_size, c.layer_norm_eps) {
  register_module("embeddings", &embeddings);
  register_module("encoder", &encoder);
  register_module("post_layernorm", &post_layernorm);
  if (c.pool == "map") {
    head = std::make_unique<MapHead>(c.hidden_size, c.num_attention_heads, c.intermediate_size, c.layer_norm_eps);
    register_module("head", head.get());
  }
}

Tensor VisionTransformer::forward(const Tensor& images) {
  ModuleScope scope(name());
  SG_CHECK(images.dim() == 4 && images.size(1) == config.num_channels && images.size(2) == config.image_size &&
               images.size(3) == config.image_size,
           "vision_model: images {} do not match the config ([B, {}, {}, {}])", images.shape_str(), config.num_channels,
           config.image_size, config.image_size);
  Tensor h = post_layernorm.forward(encoder.forward(embeddings.forward(images)));  // [B, Np (+1), D]
  if (head) return head->forward(h);
  if (config.pool == "tok") return h.select(1, 0);  // the class token
  return mean(h, {1});
}

TextEmbeddings::TextEmbeddings(const TextConfig& c)
    : token_embedding(c.vocab_size, c.hidden_size), position_embedding(c.max_position_embeddings, c.hidden_size) {
  register_module("token_embedding", &token_embedding);
  register_module("position_embedding", &position_embedding);
}

Tensor TextEmbeddings::forward(const Tensor& ids) {
  ModuleScope scope(name());
  const int64_t T = ids.size(1);
  SG_CHECK(T <= position_embedding.weight.size(0), "text_model: {} tokens exceed max_position_embeddings {}", T,
           position_embedding.weight.size(0));
  Tensor pos = arange(0, static_cast<double>(T), 1, DType::I64);
  if (pos.device() != ids.device()) pos = pos.to(ids.device());
  return add(token_embedding.forward(ids), position_embedding.forward(pos));
}

TextTransformer::TextTransformer(const TextConfig& c)
    : config(c),
      embeddings(c),
      encoder(c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size, c.layer_norm_eps),
      final_layer_norm(c.hidden_size, c.layer_norm_eps),
      head(c.hidden_size, c.projection_size) {
  register_module("embeddings", &embeddings);
  register_module("encoder", &encoder);
  register_module("final_layer_norm", &final_layer_norm);
  register_module("head", &head);
}

Tensor TextTransformer::forward(const Tensor& ids) {
  ModuleScope scope(name());
  SG_CHECK(ids.dim() == 2 && ids.dtype() == DType::I64, "text_model: ids must be int64 [B, T], got {}", ids.describe());
  Tensor h = final_layer_norm.forward(encoder.forward(embeddings.forward(ids)));  // [B, T, D]
  return head.forward(h.select(1, -1));                                           // last token: [B, P]
}

SiglipModel::SiglipModel(const SiglipConfig& c) : config(c), text_model(c.text), vision_model(c.vision) {
  c.validate("SiglipModel");
  logit_scale = full({1}, c.init_temp);
  logit_bias = full({1}, c.init_bias);
  register_module("text_model", &text_model);
  register_module("vision_model", &vision_model);
  register_parameter("logit_scale", &logit_scale);
  register_parameter("logit_bias", &logit_bias);
}

void SiglipModel::init_weights(uint64_t seed) {
  Generator gen(seed);
  nn::Init init{&gen};
  auto linear_lecun = [&](nn::Linear& l) {
    init.lecun_normal(l.weight);
    if (l.bias.defined()) init.constant(l.bias, 0);
  };
  auto attention_xavier = [&](nn::SelfAttention& a) {
    for (nn::Linear* l : {&a.q_proj, &a.k_proj, &a.v_proj, &a.out_proj}) {
      init.xavier_uniform(l->weight);
      init.constant(l->bias, 0);
    }
  };
  auto mlp_xavier = [&](nn::MLP& m) {
    for (nn::Linear* l : {&m.fc1, &m.fc2}) {
      init.xavier_uniform(l->weight);
      init.normal(l->bias, 1e-6);
    }
  };
  auto encoder = [&](nn::Encoder& e) {
    for (auto& l : e.layers) {
      attention_xavier(l->self_attn);
      mlp_xavier(l->mlp);
      init.constant(l->layer_norm1.weight, 1), init.constant(l->layer_norm1.bias, 0);
      init.constant(l->layer_norm2.weight, 1), init.constant(l->layer_norm2.bias, 0);
    }
  };
  // vision
  auto& ve = vision_model.embeddings;
  init.lecun_normal(ve.patch_weight);
  init.constant(ve.patch_bias, 0);
  init.normal(ve.position_embedding.weight, 1.0 / std::sqrt(static_cast<double>(config.vision.hidden_size)));
  encoder(vision_model.encoder);
  init.constant(vision_model.post_layernorm.weight, 1), init.constant(vision_model.post_layernorm.bias, 0);
  if (auto* h = vision_model.head.get()) {
    init.xavier_uniform(h->probe);
    init.xavier_uniform(h->attention.in_proj_weight);
    init.constant(h->attention.in_proj_bias, 0);
    linear_lecun(h->attention.out_proj);
    init.constant(h->layernorm.weight, 1), init.constant(h->layernorm.bias, 0);
    mlp_xavier(h->mlp);
  }
  // text: nn.Embedding gets flax's default embed init, variance 1/fan_in (fan_in = dim 1 = width)
  const double embed_std = 1.0 / std::sqrt(static_cast<double>(config.text.hidden_size));
  init.normal(text_model.embeddings.token_embedding.weight, embed_std);
  init.normal(text_model.embeddings.position_embedding.weight, embed_std);
  encoder(text_model.encoder);
  init.constant(text_model.final_layer_norm.weight, 1), init.constant(text_model.final_layer_norm.bias, 0);
  linear_lecun(text_model.head);
  init.constant(logit_scale, config.init_temp);
  init.constant(logit_bias, config.init_bias);
}

Tensor SiglipModel::image_embeds(const Tensor& images) {
  Tensor x = images.device() == device_ ? images : images.to(device_);
  return l2_normalize(nn::to_f32_output(vision_model.forward(x)), -1);
}

Tensor SiglipModel::text_embeds(const Tensor& ids) {
  // Host ids stay on the host until embedding(): checked there without a GPU sync, then uploaded.
  return l2_normalize(nn::to_f32_output(text_model.forward(ids)), -1);
}

Tensor SiglipModel::logits(const Tensor& img, const Tensor& txt) {
  ModuleScope scope("logits");
  return pairwise_logits(img, txt, logit_scale, logit_bias);
}

void SiglipModel::to(Device d) {
  nn::Module::to(d);
  device_ = d;
}

}  // namespace sg
