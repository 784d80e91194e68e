// hf_import.h: a Hugging Face SigLIP folder (what `SiglipModel.save_pretrained` writes) read into our checkpoint
// layout (siglip/checkpoint.h: model.safetensors + config.json, tokenizer files alongside).
//
//   HF_DIR/config.json                     SiglipConfig: model_type "siglip", text_config, vision_config
//   HF_DIR/model.safetensors               every tensor, F32, F16 or BF16
//     or model.safetensors.index.json      {"weight_map": {tensor name: shard file}} and the shards it names
//   HF_DIR/spiece.model, tokenizer.model, tokenizer_config.json, special_tokens_map.json, tokenizer.json (these two
//   with a SentencePiece model only), preprocessor_config.json   copied when present
//   (preprocessor_config.json is read first and must be a valid SigLIP image processor: siglip/image_processor.h;
//   a resize to another size than the model's image_size is kept in the copy and replaced by the model's size when
//   the checkpoint is used, which the report says)
//
// Safetensors files are memory-mapped: each tensor is converted to f32 straight from the mapped bytes into its
// parameter, and its pages are dropped from the resident set once read: the process holds the f32 model and at
// most one source tensor (the page cache is the kernel's).
// `vision_use_head: false` imports as pool "mean": the mean of the post-layernorm patch tokens (big_vision's
// "gap"). transformers 5.24 has no pooled output there: SiglipVisionModel returns pooler_output None, so
// get_image_features(...).pooler_output is None and SiglipModel.forward fails; its last_hidden_state.mean(1) is
// what our image tower returns.
#pragma once
#include <string>
#include <vector>

#include "siglip/choices.h"
#include "siglip/config.h"
#include "siglip/hf_config.h"
#include "siglip/image_processor.h"

namespace sg {

struct ImportReport {
  SiglipConfig config;
  std::vector<std::string> safetensors_files;  // read, in order
  std::vector<std::string> copied_files;       // tokenizer and preprocessor files copied byte for byte
  int64_t parameters = 0;                      // elements
  int64_t tensors = 0;
  std::string source_dtypes;                   // "BF16", "F32, F16", ...
  std::string image_processor;                 // how images will be prepared (ImageProcessor::describe)
  std::string image_processor_note;            // what fitting preprocessor_config.json to the model changed
  double read_seconds = 0, write_seconds = 0;  // config + tensors into the model; the checkpoint files
};

// Reads HF_DIR and writes out_dir/{model.safetensors, config.json} (+ the tokenizer files present). Every
// parameter of SiglipModel for the config must be present with its shape; a tensor that is no parameter is an
// error (buffers named *.position_ids are skipped). Errors name the file and the field or tensor at fault.
// `precision` is the dtype written (bf16: rounded to nearest even; loading widens it to f32 again).
ImportReport import_hf_siglip(const std::string& hf_dir, const std::string& out_dir, Precision precision);

}  // namespace sg
