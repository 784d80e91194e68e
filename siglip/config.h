// config.h: the model's shape, stored as Hugging Face's SiglipConfig JSON (text_config / vision_config with
// HF's key names), plus our extras: pooling (map | mean | tok) and the initial t' and b of the loss.
#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace sg {

struct TextConfig {
  int64_t vocab_size = 1000;
  int64_t hidden_size = 192;
  int64_t intermediate_size = 768;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 3;
  int64_t max_position_embeddings = 16;  // the text length T
  int64_t projection_size = 192;         // head output; must equal the vision width
  double layer_norm_eps = 1e-6;
};

struct VisionConfig {
  int64_t hidden_size = 192;
  int64_t intermediate_size = 768;
  int64_t num_hidden_layers = 6;
  int64_t num_attention_heads = 3;
  int64_t image_size = 32;
  int64_t patch_size = 4;
  int64_t num_channels = 3;
  double layer_norm_eps = 1e-6;
  // "map" (HF's vision_use_head: the MAP head), "mean" (big_vision's gap: the mean of the tokens) or "tok" (a class
  // token, vision_model.embeddings.class_embedding, prepended after the positions; transformers has no such model)
  std::string pool = "map";
  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct SiglipConfig {
  TextConfig text;
  VisionConfig vision;
  double init_temp = 2.302585092994046;  // t' = log 10 (the paper)
  double init_bias = -10.0;              // b (the paper; see README on small batches)

  nlohmann::json to_json() const;
  // Unknown keys are ignored (HF configs carry many); missing keys keep their defaults; bad values throw
  // sg::Error naming `source` and the key.
  static SiglipConfig from_json(const nlohmann::json& j, const std::string& source);
  static SiglipConfig load(const std::string& path);
  // The same from the JSON text; `source` names it in errors.
  static SiglipConfig parse(const std::string& text, const std::string& source);
  void validate(const std::string& source) const;
};

// Named presets: "tiny" (32 px, patch 4, width 192, 6+4 layers), "micro" (for `make run` and tests), "small"
// (64 px, patch 8, width 384, 6+6 layers: CPU benchmarks), "b16".
SiglipConfig preset_config(const std::string& name);

}  // namespace sg
