// hf_export.h: a checkpoint (siglip/checkpoint.h) as a folder that transformers loads with AutoModel,
// AutoTokenizer and AutoProcessor, and runs in pipeline("zero-shot-image-classification"):
//
//   OUT/model.safetensors          every parameter in f32 (bf16-stored checkpoints widened), by HF name
//   OUT/config.json                SiglipConfig as transformers writes it (model_type, text_config, vision_config)
//   OUT/preprocessor_config.json   SiglipImageProcessor: the checkpoint's (by default bicubic to its size, x / 255, (x - 0.5) / 0.5)
//   the tokenizer, one of:
//     word tokenizer (tokenizer.json {"type": "word"}):
//       OUT/tokenizer.json         the `tokenizers` library's format: WordLevel over our vocabulary and ids, a
//                                  normalizer sequence that is Tokenizer::canonicalize, a split on ' ', "</s>"
//                                  appended by a TemplateProcessing post-processor
//       OUT/tokenizer_config.json  PreTrainedTokenizerFast; eos = pad = "</s>", unk "<unk>"; model_max_length
//       OUT/special_tokens_map.json
//     SentencePiece tokenizer (spiece.model or tokenizer.model):
//       OUT/spiece.model (or tokenizer.model), copied; OUT/tokenizer_config.json: the checkpoint's, else the
//       settings the tokenizer loaded with; OUT/special_tokens_map.json: the checkpoint's, else its tokens.
//   Every tokenizer_config.json gets "model_input_names": ["input_ids"]: the tokenizer returns no attention mask,
//   so the text tower attends to the padding as ours (and SigLIP's) does. (transformers 5.24's SiglipTokenizer
//   would otherwise return one, and the pipeline passes it to the model, which then masks the padding.)
//
// The model's scores in the pipeline equal `siglip classify`'s when it can run the model; the report's notes say
// when it cannot: transformers 5.24's pipeline pads SigLIP text to 64 tokens (a text length other than 64 is
// refused by the model), feeds RGB (1-channel models), and needs the MAP head's pooled output (mean-pooled models).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "siglip/config.h"
#include "siglip/tokenizer.h"

namespace sg {

// The text length transformers 5.24's zero-shot-image-classification pipeline pads SigLIP text to.
constexpr int64_t kPipelineTextLength = 64;

// config.json for transformers' SiglipConfig: the fields it writes, with the tokenizer's pad and eos ids (and
// bos where the tokenizer adds one; else null).
nlohmann::ordered_json hf_config_json(const SiglipConfig& c, const Tokenizer& tok);

// preprocessor_config.json for SiglipImageProcessor: the checkpoint's own (checkpoint_image_processor: its
// preprocessor_config.json fitted to the model, else a bicubic resize to image_size, rescale by 1/255, mean = std =
// 0.5: [0, 255] -> [-1, 1], as our models train).
nlohmann::ordered_json image_processor_json(const std::string& checkpoint_dir, const SiglipConfig& config);

// tokenizer.json (the `tokenizers` library's) of a word tokenizer. Exact for every text, except that a literal
// "</s>" or "<unk>" in it is that special token to transformers (it matches added tokens before normalising).
nlohmann::ordered_json word_tokenizer_json(const Tokenizer& tok);

struct ExportReport {
  SiglipConfig config;
  std::string checkpoint;                // the resolved checkpoint directory
  std::string source_dtypes;             // of the checkpoint's weights: "F32", "BF16"
  int64_t tensors = 0, parameters = 0;   // written
  std::string tokenizer;                 // what kind, in words
  std::vector<std::string> files;        // written into the folder, in order
  std::vector<std::string> removed;      // --force: tokenizer files of another kind, removed
  std::vector<std::string> notes;        // what keeps transformers' pipeline from running the model
};

// Writes the folder (each file atomically). Errors (sg::Error): no checkpoint there, a checkpoint without a
// tokenizer, `out_dir` the checkpoint itself, `out_dir` existing and not empty without `force`. With `force` the
// files are replaced, and tokenizer files this export does not write (tokenizer.json, spiece.model,
// tokenizer.model, special_tokens_map.json) are removed so that transformers cannot pick a stale one.
ExportReport export_hf_siglip(const std::string& checkpoint, const std::string& out_dir, bool force);

}  // namespace sg
