// cmd_use.cpp: using a trained checkpoint: `siglip eval`, `siglip classify`, `siglip embed`. Images are prepared
// by the checkpoint's image processor (its preprocessor_config.json, else bicubic to image_size, pixels in [-1, 1]).
#include <cmath>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/commands.h"
#include "siglip/eval.h"
#include "siglip/trainer_state.h"
#include "tensor/ops.h"

namespace sg {
namespace {

// Says on standard error when the checkpoint's preprocessor_config.json was fitted to the model.
void note_image_processor(const LoadedModel& lm, const char* command) {
  if (!lm.image_processor_note.empty()) fmt::print(stderr, "{}: note: {}\n", command, lm.image_processor_note);
}

}  // namespace

int run_eval(const EvalOptions& o) {
  SG_CHECK(!o.checkpoint.empty(), "eval: --checkpoint DIR is required");
  LoadedModel lm = load_checkpoint(o.checkpoint, o.image_size);
  note_image_processor(lm, "eval");
  std::string spec = o.data;
  if (spec.empty())  // the data the model was trained on
    spec = file_exists(lm.dir + "/trainer_state.json") ? TrainerState::load(lm.dir).options.data : "shapes";
  const auto& vc = lm.model->config.vision;
  Dataset data = load_dataset(spec, static_cast<int>(vc.image_size), static_cast<int>(vc.num_channels), 0,
                              &lm.image_processor);
  EvalResult r = evaluate(*lm.model, lm.text_tokenizer("eval"), data, static_cast<size_t>(o.limit));
  if (o.json) {
    fmt::print("{}\n", nlohmann::json{{"checkpoint", lm.dir}, {"data", spec}, {"examples", r.examples},
                                      {"zero_shot", r.zero_shot}, {"i2t_r1", r.i2t_r1}, {"i2t_r5", r.i2t_r5},
                                      {"t2i_r1", r.t2i_r1}, {"t2i_r5", r.t2i_r5}}
                           .dump(2));
  } else {
    fmt::print("checkpoint {} on {} ({} test examples)\n", lm.dir, spec, r.examples);
    for (const auto& [name, acc] : r.zero_shot) fmt::print("zero-shot {} accuracy: {:.2f}%\n", name, 100 * acc);
    fmt::print("image->text R@1 {:.2f}% R@5 {:.2f}%; text->image R@1 {:.2f}% R@5 {:.2f}%\n", 100 * r.i2t_r1,
               100 * r.i2t_r5, 100 * r.t2i_r1, 100 * r.t2i_r5);
  }
  return 0;
}

int run_classify(const ClassifyOptions& o) {
  SG_CHECK(!o.checkpoint.empty(), "classify: --checkpoint DIR is required");
  SG_CHECK(o.inputs.size() >= 2, "classify: usage: classify --checkpoint DIR IMAGE \"text 1\" [\"text 2\" ...]");
  LoadedModel lm = load_checkpoint(o.checkpoint, o.image_size);
  note_image_processor(lm, "classify");
  const auto& vc = lm.model->config.vision;
  std::vector<float> img =
      load_image(o.inputs[0], static_cast<int>(vc.image_size), static_cast<int>(vc.num_channels), lm.image_processor);
  std::vector<std::string> texts(o.inputs.begin() + 1, o.inputs.end());
  NoGradGuard ng;
  Tensor x = embed_images(*lm.model, {&img});
  Tensor y = embed_texts(*lm.model, lm.text_tokenizer("classify"), texts);
  std::vector<float> p = sigmoid(lm.model->logits(x, y)).to_vector<float>();  // independent per text
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < texts.size(); ++i) {
    if (o.json) out.push_back({{"text", texts[i]}, {"probability", p[i]}});
    else fmt::print("{:.4f}  {}\n", p[i], texts[i]);
  }
  if (o.json) fmt::print("{}\n", out.dump(2));
  return 0;
}

int run_embed(const EmbedOptions& o) {
  const std::string& out = o.out;
  SG_CHECK(!o.checkpoint.empty() && !out.empty(), "embed: --checkpoint DIR and --out FILE are required");
  SG_CHECK(o.images != o.texts, "embed: give exactly one of --images FILES... or --texts TEXTS...");
  SG_CHECK(!o.inputs.empty(), "embed: nothing to embed");
  LoadedModel lm = load_checkpoint(o.checkpoint, o.image_size);
  Tensor e;
  if (o.images) {
    note_image_processor(lm, "embed");
    const auto& vc = lm.model->config.vision;
    std::vector<std::vector<float>> imgs;
    for (const auto& f : o.inputs)
      imgs.push_back(
          load_image(f, static_cast<int>(vc.image_size), static_cast<int>(vc.num_channels), lm.image_processor));
    std::vector<const std::vector<float>*> ptrs;
    for (const auto& v : imgs) ptrs.push_back(&v);
    e = embed_images(*lm.model, ptrs);
  } else {
    e = embed_texts(*lm.model, lm.text_tokenizer("embed"), o.inputs);
  }
  if (out.size() > 5 && out.substr(out.size() - 5) == ".json") {
    nlohmann::json j = nlohmann::json::array();
    std::vector<float> v = e.to_vector<float>();
    const int64_t D = e.size(1);
    for (int64_t i = 0; i < e.size(0); ++i)
      j.push_back({{"input", o.inputs[i]}, {"embedding", std::vector<float>(v.begin() + i * D, v.begin() + (i + 1) * D)}});
    write_file_atomic(out, j.dump() + "\n");
  } else {
    save_safetensors(out, {{"embeddings", e}}, {{"inputs", nlohmann::json(o.inputs).dump()}});
  }
  fmt::print("wrote {} L2-normalised embeddings of size {} to {}\n", e.size(0), e.size(1), out);
  return 0;
}

}  // namespace sg
