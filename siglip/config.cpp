#include "siglip/config.h"

#include <cstdint>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "base/error.h"

namespace sg {

nlohmann::json SiglipConfig::to_json() const {
  return {
      {"model_type", "siglip"},
      {"architectures", {"SiglipModel"}},
      {"text_config",
       {{"vocab_size", text.vocab_size},
        {"hidden_size", text.hidden_size},
        {"intermediate_size", text.intermediate_size},
        {"num_hidden_layers", text.num_hidden_layers},
        {"num_attention_heads", text.num_attention_heads},
        {"max_position_embeddings", text.max_position_embeddings},
        {"projection_size", text.projection_size},
        {"layer_norm_eps", text.layer_norm_eps},
        {"hidden_act", "gelu_pytorch_tanh"},
        {"pad_token_id", 0},
        {"bos_token_id", 0},
        {"eos_token_id", 0}}},
      {"vision_config",
       {{"hidden_size", vision.hidden_size},
        {"intermediate_size", vision.intermediate_size},
        {"num_hidden_layers", vision.num_hidden_layers},
        {"num_attention_heads", vision.num_attention_heads},
        {"image_size", vision.image_size},
        {"patch_size", vision.patch_size},
        {"num_channels", vision.num_channels},
        {"layer_norm_eps", vision.layer_norm_eps},
        {"hidden_act", "gelu_pytorch_tanh"},
        {"vision_use_head", vision.pool == "map"}}},
      {"pool", vision.pool},
      {"init_temp", init_temp},
      {"init_bias", init_bias},
  };
}

namespace {
template <typename T>
void read(const nlohmann::json& j, const char* key, T& out, const std::string& source, const std::string& where) {
  if (!j.contains(key)) return;
  if constexpr (std::is_same_v<T, int64_t>) {
    // nlohmann would truncate a float (96.5 -> 96; 1e21 is undefined behaviour) and wrap integers past INT64_MAX.
    const nlohmann::json& v = j.at(key);
    SG_CHECK(v.is_number_integer() && (!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t{INT64_MAX}),
             "config: {}: {}{} must be an integer, got {}", source, where, key, v.dump());
  }
  try {
    out = j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    fail("config: {}: {}{} has the wrong type ({})", source, where, key, j.at(key).dump());
  }
}
}  // namespace

SiglipConfig SiglipConfig::from_json(const nlohmann::json& j, const std::string& source) {
  SG_CHECK(j.is_object(), "config: {}: expected a JSON object", source);
  SiglipConfig c;
  if (j.contains("text_config")) {
    const auto& t = j["text_config"];
    SG_CHECK(t.is_object(), "config: {}: text_config must be an object", source);
    read(t, "vocab_size", c.text.vocab_size, source, "text_config.");
    read(t, "hidden_size", c.text.hidden_size, source, "text_config.");
    read(t, "intermediate_size", c.text.intermediate_size, source, "text_config.");
    read(t, "num_hidden_layers", c.text.num_hidden_layers, source, "text_config.");
    read(t, "num_attention_heads", c.text.num_attention_heads, source, "text_config.");
    read(t, "max_position_embeddings", c.text.max_position_embeddings, source, "text_config.");
    c.text.projection_size = c.text.hidden_size;
    read(t, "projection_size", c.text.projection_size, source, "text_config.");
    read(t, "layer_norm_eps", c.text.layer_norm_eps, source, "text_config.");
  }
  if (j.contains("vision_config")) {
    const auto& v = j["vision_config"];
    SG_CHECK(v.is_object(), "config: {}: vision_config must be an object", source);
    read(v, "hidden_size", c.vision.hidden_size, source, "vision_config.");
    read(v, "intermediate_size", c.vision.intermediate_size, source, "vision_config.");
    read(v, "num_hidden_layers", c.vision.num_hidden_layers, source, "vision_config.");
    read(v, "num_attention_heads", c.vision.num_attention_heads, source, "vision_config.");
    read(v, "image_size", c.vision.image_size, source, "vision_config.");
    read(v, "patch_size", c.vision.patch_size, source, "vision_config.");
    read(v, "num_channels", c.vision.num_channels, source, "vision_config.");
    read(v, "layer_norm_eps", c.vision.layer_norm_eps, source, "vision_config.");
    bool head = true;
    read(v, "vision_use_head", head, source, "vision_config.");
    c.vision.pool = head ? "map" : "mean";
  }
  read(j, "pool", c.vision.pool, source, "");
  read(j, "init_temp", c.init_temp, source, "");
  read(j, "init_bias", c.init_bias, source, "");
  c.validate(source);
  return c;
}

SiglipConfig SiglipConfig::load(const std::string& path) { return parse(read_file(path), path); }

SiglipConfig SiglipConfig::parse(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("config: {}: malformed JSON at byte {}: {}", source, e.byte, e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number past double's range ("1e999")
    fail("config: {}: malformed JSON: {}", source, e.what());
  }
  return from_json(j, source);
}

void SiglipConfig::validate(const std::string& source) const {
  auto positive = [&](const char* name, int64_t v) { SG_CHECK(v > 0, "config: {}: {} must be positive, got {}", source, name, v); };
  positive("text_config.vocab_size", text.vocab_size);
  positive("text_config.hidden_size", text.hidden_size);
  positive("text_config.num_attention_heads", text.num_attention_heads);
  positive("text_config.max_position_embeddings", text.max_position_embeddings);
  positive("vision_config.hidden_size", vision.hidden_size);
  positive("vision_config.num_attention_heads", vision.num_attention_heads);
  positive("vision_config.patch_size", vision.patch_size);
  positive("vision_config.image_size", vision.image_size);
  SG_CHECK(text.num_hidden_layers >= 0 && vision.num_hidden_layers >= 0, "config: {}: negative layer count", source);
  SG_CHECK(text.hidden_size % text.num_attention_heads == 0,
           "config: {}: text hidden_size {} is not divisible by {} heads", source, text.hidden_size,
           text.num_attention_heads);
  SG_CHECK(vision.hidden_size % vision.num_attention_heads == 0,
           "config: {}: vision hidden_size {} is not divisible by {} heads", source, vision.hidden_size,
           vision.num_attention_heads);
  SG_CHECK(vision.image_size % vision.patch_size == 0, "config: {}: image_size {} is not a multiple of patch_size {}",
           source, vision.image_size, vision.patch_size);
  SG_CHECK(text.projection_size == vision.hidden_size,
           "config: {}: text projection_size {} must equal the vision hidden_size {} (the embeddings are compared)",
           source, text.projection_size, vision.hidden_size);
  SG_CHECK(vision.pool == "map" || vision.pool == "mean" || vision.pool == "tok",
           "config: {}: pool must be 'map', 'mean' or 'tok', got '{}'", source, vision.pool);
}

SiglipConfig preset_config(const std::string& name) {
  SiglipConfig c;
  if (name == "tiny") return c;  // the defaults: 32 px, patch 4, width 192, 6 vision + 4 text layers
  if (name == "micro") {
    c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = 96;
    c.vision.intermediate_size = c.text.intermediate_size = 384;
    c.vision.num_hidden_layers = 3;
    c.text.num_hidden_layers = 2;
    c.vision.num_attention_heads = c.text.num_attention_heads = 2;
    c.vision.image_size = 24;
    c.vision.patch_size = 4;
    c.text.max_position_embeddings = 12;
    return c;
  }
  if (name == "small") {  // for CPU benchmarks: 64 px, patch 8 (64 tokens), width 384, 6 + 6 layers
    c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = 384;
    c.vision.intermediate_size = c.text.intermediate_size = 1536;
    c.vision.num_hidden_layers = c.text.num_hidden_layers = 6;
    c.vision.num_attention_heads = c.text.num_attention_heads = 6;
    c.vision.image_size = 64;
    c.vision.patch_size = 8;
    return c;
  }
  if (name == "b16") {  // SigLIP-B/16 shapes
    c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = 768;
    c.vision.intermediate_size = c.text.intermediate_size = 3072;
    c.vision.num_hidden_layers = c.text.num_hidden_layers = 12;
    c.vision.num_attention_heads = c.text.num_attention_heads = 12;
    c.vision.image_size = 224;
    c.vision.patch_size = 16;
    c.text.max_position_embeddings = 64;
    c.text.vocab_size = 32000;
    return c;
  }
  fail("config: unknown preset '{}' (tiny, micro, small, b16)", name);
}

}  // namespace sg
