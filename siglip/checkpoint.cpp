#include "siglip/checkpoint.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/position_interpolation.h"
#include "siglip/sentencepiece_tokenizer.h"

namespace sg {
namespace fs = std::filesystem;

std::string resolve_checkpoint(const std::string& dir) {
  if (file_exists(dir + "/model.safetensors")) return dir;
  SG_CHECK(file_exists(dir + "/latest"), "checkpoint: {} has neither model.safetensors nor a 'latest' pointer", dir);
  std::string name = read_file(dir + "/latest");
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  std::string step_dir = dir + "/" + name;
  SG_CHECK(file_exists(step_dir + "/model.safetensors"), "checkpoint: {}/latest names '{}', which has no model.safetensors",
           dir, name);
  return step_dir;
}

int load_parameters(SiglipModel& model, const std::map<std::string, Tensor>& tensors, const std::string& source,
                    const std::string& prefix) {
  NoGradGuard ng;
  int n = 0;
  for (auto& [name, p] : model.named_parameters()) {
    if (name.rfind(prefix, 0) != 0) continue;
    auto it = tensors.find(name);
    SG_CHECK(it != tensors.end(), "checkpoint: {}: parameter '{}' is missing", source, name);
    SG_CHECK(it->second.shape() == p->shape(), "checkpoint: {}: parameter '{}' has shape {} in the file but {} in the config",
             source, name, it->second.shape_str(), p->shape_str());
    p->detach().copy_(it->second);
    ++n;
  }
  SG_CHECK(n > 0, "checkpoint: {}: no parameters start with '{}'", source, prefix);
  return n;
}

const Tokenizer& LoadedModel::text_tokenizer(const std::string& command) const {
  SG_CHECK(has_tokenizer, "{}: checkpoint {} has no tokenizer (no spiece.model, tokenizer.model or tokenizer.json), so it "
           "cannot tokenize text; give token ids instead (siglip grad --inputs)",
           command, dir);
  return tokenizer;
}

ImageProcessor checkpoint_image_processor(const std::string& dir, const SiglipConfig& config, std::string* note) {
  const std::string path = dir + "/preprocessor_config.json";
  ImageProcessor p = file_exists(path) ? ImageProcessor::from_json(path)
                                       : ImageProcessor::siglip_default(config.vision.image_size);
  const std::string changed = p.fit_to_model(config.vision.image_size, config.vision.num_channels, path);
  if (note) *note = changed;
  return p;
}

int load_weights(SiglipModel& model, const std::string& checkpoint_dir, const std::string& prefix) {
  const std::string file = checkpoint_dir + "/model.safetensors";
  std::map<std::string, Tensor> tensors = load_safetensors(file);
  if (prefix.empty() || prefix.rfind("vision_model.", 0) == 0) {
    const std::string note = fit_position_table(tensors, model.config.vision, file);
    if (!note.empty()) fmt::print(stderr, "{}\n", note);  // stderr: --json outputs stay parseable
  }
  return load_parameters(model, tensors, file, prefix);
}

LoadedModel load_checkpoint(const std::string& dir_in, int64_t image_size) {
  LoadedModel lm;
  lm.dir = resolve_checkpoint(dir_in);
  SiglipConfig cfg = SiglipConfig::load(lm.dir + "/config.json");
  if (image_size > 0) {
    cfg.vision.image_size = image_size;
    cfg.validate(lm.dir + "/config.json with image size " + std::to_string(image_size));
  }
  lm.image_processor = checkpoint_image_processor(lm.dir, cfg, &lm.image_processor_note);
  lm.model = std::make_unique<SiglipModel>(cfg);
  load_weights(*lm.model, lm.dir);
  // spiece.model / tokenizer.model (a SentencePiece tokenizer), else tokenizer.json (the word tokenizer)
  lm.has_tokenizer = SentencePieceTokenizer::folder_has_model(lm.dir) || file_exists(lm.dir + "/tokenizer.json");
  if (!lm.has_tokenizer) return lm;
  lm.tokenizer = Tokenizer::load_folder(lm.dir);
  SG_CHECK(lm.tokenizer.vocab_size() <= cfg.text.vocab_size,
           "checkpoint: {}: tokenizer has {} tokens but the config's vocab_size is {}", lm.dir, lm.tokenizer.vocab_size(),
           cfg.text.vocab_size);
  return lm;
}

void save_model_files(const std::string& step_dir, SiglipModel& model, const Tokenizer& tok,
                      const ImageProcessor* processor) {
  make_dirs(step_dir);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : model.named_parameters()) tensors.emplace_back(name, *p);
  save_safetensors(step_dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(step_dir + "/config.json", model.config.to_json().dump(2) + "\n");
  tok.save_folder(step_dir);
  const ImageProcessor p = processor ? *processor : ImageProcessor::siglip_default(model.config.vision.image_size);
  write_file_atomic(step_dir + "/preprocessor_config.json", p.to_json().dump(2) + "\n");
}

}  // namespace sg
