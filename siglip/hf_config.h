// hf_config.h: config.json of a Hugging Face SigLIP folder (transformers' SiglipConfig) read as our SiglipConfig.
#pragma once
#include <string>

#include "siglip/config.h"

namespace sg {

// config.json of a Hugging Face SigLIP folder as our SiglipConfig. Required: model_type "siglip", text_config
// and vision_config with their shape fields (sizes, layers, heads, vocab_size, max_position_embeddings, image and
// patch size); the others take transformers' defaults. A field we cannot honour with a value other than
// transformers' default (hidden_act, attention_dropout, non-square image or patch sizes) is an error naming it.
SiglipConfig read_hf_config(const std::string& config_json_path);
// The same from the text of config.json; `path` names it in errors.
SiglipConfig parse_hf_config(const std::string& path, const std::string& text);

}  // namespace sg
