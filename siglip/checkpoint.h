// checkpoint.h: a run directory and its checkpoints.
//   RUN/step-000500/{model.safetensors, config.json, tokenizer.json, optimizer.safetensors, trainer_state.json}
// A checkpoint folder with spiece.model or tokenizer.model (a Hugging Face SigLIP folder) uses that
// SentencePiece tokenizer instead of tokenizer.json; one with preprocessor_config.json prepares images as it says
// (siglip/image_processor.h), else as our models are trained (bicubic to image_size, pixels in [-1, 1]).
//   RUN/latest         -> "step-000500", rewritten atomically only after the step directory is complete
//   RUN/metrics.jsonl, RUN/train.png
// Every file is written atomically (temp file, fsync, rename), and `latest` moves last: a run killed at any
// moment leaves the previous checkpoint intact and pointed to; a write that fails removes its step directory
// (siglip/checkpoint_writer.h). The two newest step directories are kept.
#pragma once
#include <map>
#include <string>


#include "siglip/image_processor.h"
#include "siglip/model.h"
#include "siglip/tokenizer.h"

namespace sg {

// A directory holding model.safetensors, or a run directory whose `latest` names one.
std::string resolve_checkpoint(const std::string& dir);

// Loads the model (config.json + model.safetensors) and tokenizer of a checkpoint. Shapes are checked
// against the config: a mismatch names the parameter and both shapes. The weights may be stored in f32 or bf16
// (they load as f32). The tokenizer is the folder's SentencePiece model (spiece.model or tokenizer.model, as
// `siglip import` copies them from a Hugging Face folder), else its tokenizer.json (the word tokenizer). A
// checkpoint with neither loads, commands that tokenize text refuse it (text_tokenizer()), and token ids given
// directly (`siglip grad --inputs`) work.
struct LoadedModel {
  std::unique_ptr<SiglipModel> model;
  Tokenizer tokenizer;
  bool has_tokenizer = false;
  std::string dir;
  ImageProcessor image_processor;  // fitted to the model (checkpoint_image_processor)
  std::string image_processor_note;  // what fitting changed, "" when nothing
  // The tokenizer, or sg::Error naming `command` and the checkpoint when it has none.
  const Tokenizer& text_tokenizer(const std::string& command) const;
};
// image_size > 0 runs the model at that size instead of the config's: the position table is interpolated
// (siglip/position_interpolation.h), as transformers' interpolate_pos_encoding does.
LoadedModel load_checkpoint(const std::string& dir, int64_t image_size = 0);

// How images are prepared for the model of `config` stored in checkpoint folder `dir`: its preprocessor_config.json
// when there is one, else ImageProcessor::siglip_default(image_size); fitted to the model (ImageProcessor::
// fit_to_model: the resize goes to the model's image size). `note` receives what fitting changed ("" if nothing).
ImageProcessor checkpoint_image_processor(const std::string& dir, const SiglipConfig& config, std::string* note = nullptr);

// Copies tensors into the model's parameters by HF name; `prefix` restricts to names starting with it.
// Throws on missing names or shape mismatches (naming file, parameter, shapes); returns the count loaded.
int load_parameters(SiglipModel& model, const std::map<std::string, Tensor>& tensors, const std::string& source,
                    const std::string& prefix = "");

// A checkpoint folder's model.safetensors into `model` (the names starting with `prefix`), the vision position
// table interpolated when the model's image size differs from the checkpoint's (the line saying so is printed).
int load_weights(SiglipModel& model, const std::string& checkpoint_dir, const std::string& prefix = "");

// model.safetensors, config.json, the tokenizer's files and preprocessor_config.json (`processor`, or
// ImageProcessor::siglip_default at the model's image size).
void save_model_files(const std::string& step_dir, SiglipModel& model, const Tokenizer& tok,
                      const ImageProcessor* processor = nullptr);

}  // namespace sg
