// hf_config.cpp: a Hugging Face SiglipConfig (config.json) as our SiglipConfig (see hf_config.h).
#include "siglip/hf_config.h"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "nn/fileio.h"

namespace sg {
namespace {

using json = nlohmann::json;

json parse_json_text(const std::string& path, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail("import: {}: malformed JSON at byte {}: {}", path, e.byte, e.what());
  } catch (const json::exception& e) {  // out_of_range: a number past double's range ("1e999")
    fail("import: {}: malformed JSON: {}", path, e.what());
  }
}

// An integer field: required ones must be present; image_size and patch_size may also be a square [n, n].
int64_t int_field(const json& section, const std::string& path, const std::string& where, const char* key,
                  bool required, int64_t fallback, bool square_pair = false) {
  if (!section.contains(key)) {
    SG_CHECK(!required, "import: {}: required field {}{} is missing", path, where, key);
    return fallback;
  }
  const json& v = section.at(key);
  const json* n = &v;
  if (square_pair && v.is_array()) {
    SG_CHECK(v.size() == 2 && v[0].is_number_integer() && v[0] == v[1],
             "import: {}: {}{} is {}: only square sizes (one integer, or [n, n]) are supported", path, where, key,
             v.dump());
    n = &v[0];
  }
  // An int64: nlohmann would truncate a float and wrap an unsigned integer past INT64_MAX.
  SG_CHECK(n->is_number_integer() && (!n->is_number_unsigned() || n->get<uint64_t>() <= uint64_t{INT64_MAX}),
           "import: {}: {}{} must be an integer, got {}", path, where, key, v.dump());
  return n->get<int64_t>();
}

double float_field(const json& section, const std::string& path, const std::string& where, const char* key,
                   double fallback) {
  if (!section.contains(key)) return fallback;
  const json& v = section.at(key);
  SG_CHECK(v.is_number(), "import: {}: {}{} must be a number, got {}", path, where, key, v.dump());
  return v.get<double>();
}

// Fields our model has no counterpart for: accepted only at transformers' default.
void require_default(const json& section, const std::string& path, const std::string& where) {
  if (section.contains("hidden_act")) {
    const json& act = section.at("hidden_act");
    SG_CHECK(act == "gelu_pytorch_tanh",
             "import: {}: {}hidden_act is {}: only \"gelu_pytorch_tanh\" (the tanh GELU) is supported", path, where,
             act.dump());
  }
  if (section.contains("attention_dropout")) {
    const json& p = section.at("attention_dropout");
    SG_CHECK(p.is_number() && p.get<double>() == 0.0,
             "import: {}: {}attention_dropout is {}: only 0 is supported (the model has no dropout)", path, where,
             p.dump());
  }
}

const json& section_of(const json& j, const std::string& path, const char* key) {
  SG_CHECK(j.contains(key), "import: {}: required field {} is missing", path, key);
  SG_CHECK(j.at(key).is_object(), "import: {}: {} must be an object, got {}", path, key, j.at(key).type_name());
  return j.at(key);
}

}  // namespace

SiglipConfig read_hf_config(const std::string& path) {
  SG_CHECK(file_exists(path), "import: {}: no config.json here", path);
  return parse_hf_config(path, read_file(path));
}

SiglipConfig parse_hf_config(const std::string& path, const std::string& text) {
  const json j = parse_json_text(path, text);
  SG_CHECK(j.is_object(), "import: {}: expected a JSON object", path);
  SG_CHECK(j.contains("model_type"), "import: {}: required field model_type is missing (expected \"siglip\")", path);
  SG_CHECK(j["model_type"] == "siglip", "import: {}: model_type is {}: only \"siglip\" (SiglipModel) can be imported",
           path, j["model_type"].dump());
  const json& t = section_of(j, path, "text_config");
  const json& v = section_of(j, path, "vision_config");
  require_default(t, path, "text_config.");
  require_default(v, path, "vision_config.");

  SiglipConfig c;
  const std::string tw = "text_config.", vw = "vision_config.";
  c.text.vocab_size = int_field(t, path, tw, "vocab_size", true, 0);
  c.text.hidden_size = int_field(t, path, tw, "hidden_size", true, 0);
  c.text.intermediate_size = int_field(t, path, tw, "intermediate_size", true, 0);
  c.text.num_hidden_layers = int_field(t, path, tw, "num_hidden_layers", true, 0);
  c.text.num_attention_heads = int_field(t, path, tw, "num_attention_heads", true, 0);
  c.text.max_position_embeddings = int_field(t, path, tw, "max_position_embeddings", true, 0);
  c.text.projection_size = t.contains("projection_size") && t["projection_size"].is_null()
                               ? c.text.hidden_size
                               : int_field(t, path, tw, "projection_size", false, c.text.hidden_size);
  c.text.layer_norm_eps = float_field(t, path, tw, "layer_norm_eps", 1e-6);

  c.vision.hidden_size = int_field(v, path, vw, "hidden_size", true, 0);
  c.vision.intermediate_size = int_field(v, path, vw, "intermediate_size", true, 0);
  c.vision.num_hidden_layers = int_field(v, path, vw, "num_hidden_layers", true, 0);
  c.vision.num_attention_heads = int_field(v, path, vw, "num_attention_heads", true, 0);
  c.vision.image_size = int_field(v, path, vw, "image_size", true, 0, true);
  c.vision.patch_size = int_field(v, path, vw, "patch_size", true, 0, true);
  c.vision.num_channels = int_field(v, path, vw, "num_channels", false, 3);
  c.vision.layer_norm_eps = float_field(v, path, vw, "layer_norm_eps", 1e-6);
  bool use_head = true;
  if (v.contains("vision_use_head")) {
    SG_CHECK(v["vision_use_head"].is_boolean(), "import: {}: vision_config.vision_use_head must be true or false, got {}",
             path, v["vision_use_head"].dump());
    use_head = v["vision_use_head"].get<bool>();
  }
  c.vision.pool = use_head ? "map" : "mean";
  c.validate(path);
  return c;
}

}  // namespace sg
