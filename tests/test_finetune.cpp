// test_finetune.cpp: training from a checkpoint (train --init), frozen towers and learning-rate multipliers,
// the weight-decay groups, evaluations at step 0 and every N steps, and the position table at another image size
// (against torch's bicubic interpolation, which transformers' interpolate_pos_encoding uses).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/param_groups.h"
#include "siglip/position_interpolation.h"
#include "siglip/train.h"
#include "tensor/ops.h"
#include "tests/siglip_run.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

using Tensors = std::map<std::string, Tensor>;

Tensors weights_of(const std::string& run) { return load_safetensors(resolve_checkpoint(run) + "/model.safetensors"); }

bool same(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>(); }

// A trained micro checkpoint to start from, made once per test binary.
const std::string& pretrained_run() {
  static const std::string dir = [] {
    const std::string d = temp_dir("pretrained");
    train(tiny_run(d));
    return d;
  }();
  return dir;
}

std::vector<nlohmann::json> metrics_lines(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("finetune: weight decay on weight matrices only (big_vision's '.*/kernel$')") {
  SiglipModel model(preset_config("micro"));
  std::set<std::string> decayed;
  for (const auto& [name, p] : model.named_parameters())
    if (decays(name, *p)) decayed.insert(name);
  for (const char* name : {"vision_model.embeddings.patch_embedding.weight", "vision_model.head.attention.in_proj_weight",
                           "vision_model.head.attention.out_proj.weight", "vision_model.encoder.layers.0.self_attn.q_proj.weight",
                           "text_model.encoder.layers.1.mlp.fc2.weight", "text_model.head.weight"})
    CHECK_MESSAGE(decayed.count(name), name);
  for (const char* name : {"logit_scale", "logit_bias", "vision_model.head.probe", "vision_model.embeddings.position_embedding.weight",
                           "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
                           "vision_model.post_layernorm.weight", "vision_model.encoder.layers.0.self_attn.q_proj.bias",
                           "text_model.final_layer_norm.bias", "vision_model.embeddings.patch_embedding.bias"})
    CHECK_MESSAGE(!decayed.count(name), name);
  for (const auto& name : decayed) CHECK_MESSAGE(name.find("weight") != std::string::npos, name);
}

TEST_CASE("finetune: --lr-mult parsing and errors") {
  const LrMultipliers m = LrMultipliers::parse("vision=0.1,loss=0");
  CHECK(m.of("vision_model.head.probe") == doctest::Approx(0.1));
  CHECK(m.of("logit_bias") == 0.0);
  CHECK(m.of("text_model.head.weight") == 1.0);
  CHECK(LrMultipliers::parse("").by_group.empty());
  CHECK_THROWS_WITH_AS(LrMultipliers::parse("head=0.1"), doctest::Contains("unknown group 'head'"), Error);
  CHECK_THROWS_WITH_AS(LrMultipliers::parse("vision"), doctest::Contains("'vision' is not GROUP=X"), Error);
  CHECK_THROWS_WITH_AS(LrMultipliers::parse("vision=-1"), doctest::Contains("'-1' in 'vision=-1' is not a number >= 0"), Error);
  CHECK_THROWS_WITH_AS(LrMultipliers::parse("vision=x1"), doctest::Contains("is not a number"), Error);
  CHECK_THROWS_WITH_AS(LrMultipliers::parse("text=1,text=2"), doctest::Contains("group 'text' is given twice"), Error);
}

TEST_CASE("finetune: --init starts from the checkpoint's weights, t' and b; multipliers of 0 keep them bit for bit") {
  const std::string base = pretrained_run();
  TrainOptions o = tiny_run(temp_dir("init_frozen"));
  o.config = "tiny";  // ignored: --init brings its own config
  o.image_size = 0;   // the checkpoint's 16 px
  o.init = base;
  o.lr_mult = "vision=0,text=0,loss=0";
  o.steps = 2;
  train(o);
  const Tensors before = weights_of(base), after = weights_of(o.out);
  CHECK(before.size() == after.size());
  for (const auto& [name, t] : after) CHECK_MESSAGE(same(t, before.at(name)), name);
  // The fresh optimizer: its state has the new run's step count, not the checkpoint's.
  CHECK(nlohmann::json::parse(read_file(resolve_checkpoint(o.out) + "/trainer_state.json"))["optimizer_steps"] == 2);
  fs::remove_all(o.out);
}

TEST_CASE("finetune: --init-temp / --init-bias replace the checkpoint's t' and b; --lr-mult scales one group") {
  const std::string base = pretrained_run();
  TrainOptions o = tiny_run(temp_dir("init_reset"));
  o.image_size = 0;
  o.init = base;
  o.init_temp = 4.0, o.init_temp_given = true;
  o.init_bias = InitBias{-3.0}, o.init_bias_given = true;
  o.lr_mult = "loss=0,vision=0.5";
  o.steps = 2;
  train(o);
  const Tensors before = weights_of(base), after = weights_of(o.out);
  CHECK(after.at("logit_scale").item() == doctest::Approx(4.0));
  CHECK(after.at("logit_bias").item() == doctest::Approx(-3.0));
  CHECK(!same(after.at("vision_model.encoder.layers.0.mlp.fc1.weight"), before.at("vision_model.encoder.layers.0.mlp.fc1.weight")));
  CHECK(!same(after.at("text_model.head.weight"), before.at("text_model.head.weight")));
  fs::remove_all(o.out);
}

TEST_CASE("finetune: --freeze text trains the image tower only; --freeze vision the text tower only") {
  const std::string base = pretrained_run();
  for (Freeze f : {Freeze::Text, Freeze::Vision}) {
    TrainOptions o = tiny_run(temp_dir("freeze"));
    o.image_size = 0;
    o.init = base;
    o.freeze = f;
    o.steps = 2;
    train(o);
    const Tensors before = weights_of(base), after = weights_of(o.out);
    int frozen = 0, trained_changed = 0;
    const std::string frozen_prefix = f == Freeze::Text ? "text_model." : "vision_model.";
    const std::string trained_prefix = f == Freeze::Text ? "vision_model." : "text_model.";
    for (const auto& [name, t] : after) {
      if (name.rfind(frozen_prefix, 0) == 0) {
        ++frozen;
        CHECK_MESSAGE(same(t, before.at(name)), name);
      } else if (name.rfind(trained_prefix, 0) == 0) {
        trained_changed += !same(t, before.at(name));
      }
    }
    CHECK(frozen > 5);
    CHECK(trained_changed > 5);
    fs::remove_all(o.out);
  }
  TrainOptions bad = tiny_run(temp_dir("freeze_bad"));
  bad.lock_image = base;
  bad.freeze = Freeze::Vision;
  CHECK_THROWS_WITH_AS(train(bad), doctest::Contains("--lock-image already freezes the image tower"), Error);
}

TEST_CASE("finetune: evaluation at step 0 with --init, and every N steps with --eval-every") {
  const std::string base = pretrained_run();
  TrainOptions o = tiny_run(temp_dir("eval0"));
  o.image_size = 0;
  o.init = base;
  o.eval = true;
  o.eval_limit = 16;
  o.steps = 4;
  o.eval_every = 2;
  train(o);
  std::vector<int64_t> eval_steps;
  for (const auto& j : metrics_lines(o.out))
    if (j.contains("eval")) eval_steps.push_back(j["step"].get<int64_t>());
  CHECK(eval_steps == std::vector<int64_t>{0, 2, 4});
  fs::remove_all(o.out);
}

TEST_CASE("finetune: --init at another --image-size interpolates the position table and saves it at the new size") {
  const std::string base = pretrained_run();  // 16 px, patch 4: a 4 x 4 table
  TrainOptions o = tiny_run(temp_dir("init_resize"));
  o.init = base;
  o.image_size = 24;  // 6 x 6
  o.steps = 1;
  o.lr_mult = "vision=0,text=0,loss=0";
  train(o);
  const Tensors before = weights_of(base), after = weights_of(o.out);
  const std::string pos = "vision_model.embeddings.position_embedding.weight";
  CHECK(after.at(pos).shape() == Shape{36, before.at(pos).size(1)});
  CHECK(same(after.at(pos), interpolate_position_table(before.at(pos), 6)));
  const SiglipConfig saved = SiglipConfig::load(resolve_checkpoint(o.out) + "/config.json");
  CHECK(saved.vision.image_size == 24);
  // The saved checkpoint loads at its own size, and eval runs the original at 24 px as well.
  const LoadedModel lm = load_checkpoint(base, 24);
  CHECK(same(lm.model->vision_model.embeddings.position_embedding.weight, after.at(pos)));
  fs::remove_all(o.out);
}

TEST_CASE("finetune: --lock-image takes the locked tower's config: a tiny text tower against a micro image tower") {
  const std::string base = pretrained_run();  // micro: width 96, 16 px
  TrainOptions o = tiny_run(temp_dir("lit_tiny"));
  o.config = "tiny";  // text width 192, its head projecting to the image tower's 96
  o.image_size = 0;
  o.lock_image = base;
  o.steps = 2;
  train(o);
  const SiglipConfig saved = SiglipConfig::load(resolve_checkpoint(o.out) + "/config.json");
  CHECK(saved.vision.hidden_size == 96);
  CHECK(saved.vision.image_size == 16);
  CHECK(saved.text.hidden_size == 192);
  CHECK(saved.text.projection_size == 96);
  const Tensors before = weights_of(base), after = weights_of(o.out);
  for (const auto& [name, t] : after)
    if (name.rfind("vision_model.", 0) == 0) CHECK_MESSAGE(same(t, before.at(name)), name);
  fs::remove_all(o.out);
}

TEST_CASE("finetune: the command line refuses --config with --init") {
  const SiglipRun r = run_siglip("train --init " + pretrained_run() + " --config micro --steps 1");
  CHECK(r.status == 1);
  CHECK(r.output.find("--config and --init both give the model's shape") != std::string::npos);
}

TEST_CASE("finetune: --patch-size sets a new model's patch; --init keeps its checkpoint's") {
  const std::string out = temp_dir("patch_size");
  const SiglipRun r = run_siglip("train --data shapes:64:8 --config micro --image-size 32 --patch-size 8 --steps 1 "
                                 "--batch 8 --no-eval --out " + out);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("vision 32x32 px / patch 8") != std::string::npos);
  CHECK(SiglipConfig::load(resolve_checkpoint(out) + "/config.json").vision.patch_size == 8);
  const SiglipRun bad = run_siglip("train --init " + pretrained_run() + " --patch-size 8 --steps 1");
  CHECK(bad.status == 1);
  CHECK(bad.output.find("--patch-size 8 applies to a new image tower") != std::string::npos);
  const SiglipRun odd = run_siglip("train --data shapes:64:8 --config micro --patch-size 5 --steps 1 --batch 8 --out " + out + "-odd");
  CHECK(odd.status == 1);
  CHECK(odd.output.find("image_size 24 is not a multiple of patch_size 5") != std::string::npos);
}

TEST_CASE("finetune: --text-layers sets a new text tower's depth; --init keeps its checkpoint's") {
  const std::string out = temp_dir("text_layers");
  const SiglipRun r = run_siglip("train --data shapes:64:8 --config micro --text-layers 1 --steps 1 --batch 8 --no-eval "
                                 "--out " + out);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("width 96, 3+1 layers") != std::string::npos);
  const SiglipConfig saved = SiglipConfig::load(resolve_checkpoint(out) + "/config.json");
  CHECK(saved.text.num_hidden_layers == 1);
  CHECK(saved.vision.num_hidden_layers == 3);
  const SiglipRun bad = run_siglip("train --init " + pretrained_run() + " --text-layers 1 --steps 1");
  CHECK(bad.status == 1);
  CHECK(bad.output.find("--text-layers 1 applies to a new text tower") != std::string::npos);
  const SiglipRun negative = run_siglip("train --data shapes:64:8 --config micro --text-layers -2 --steps 1");
  CHECK(negative.status == 1);
  CHECK(negative.output.find("--text-layers -2: a layer count is 0 or more") != std::string::npos);
}

TEST_CASE("finetune: interpolate_position_table: constant stays constant, same size is the identity, errors") {
  Generator gen(5);
  const Tensor t = randn({16, 3}, DType::F32, &gen);
  CHECK(same(interpolate_position_table(t, 4), t));  // scale 1: weights (0, 1, 0, 0) exactly
  const Tensor c = full({9, 2}, 0.75);
  for (float v : interpolate_position_table(c, 5).to_vector<float>()) CHECK(v == doctest::Approx(0.75).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(interpolate_position_table(randn({10, 2}, DType::F32, &gen), 4),
                       doctest::Contains("10 positions are not a square grid"), Error);
}

TEST_CASE("finetune: interpolate_position_table against torch's bicubic interpolate (transformers' interpolate_pos_encoding)") {
  const std::string missing = oracle_missing("torch");
  if (!missing.empty()) {
    MESSAGE("SKIPPED: " << missing);
    return;
  }
  const std::string dir = temp_dir("interp_oracle");
  fs::create_directories(dir);
  Generator gen(11);
  const Tensor table = randn({49, 5}, DType::F32, &gen);  // 7 x 7 grid
  save_safetensors(dir + "/table.safetensors", {{"table", table}}, {});
  // The computation of SiglipVisionEmbeddings.interpolate_pos_encoding on the weight, for several new grids.
  const std::string script = R"(
import sys, torch
from safetensors.torch import load_file, save_file
t = load_file(sys.argv[1] + '/table.safetensors')['table']
g, D = 7, t.shape[1]
out = {}
for G in (3, 7, 10, 16):
    x = t.reshape(1, g, g, D).permute(0, 3, 1, 2)
    y = torch.nn.functional.interpolate(x, size=(G, G), mode='bicubic', align_corners=False)
    out[f'g{G}'] = y.permute(0, 2, 3, 1).reshape(-1, D).contiguous()
save_file(out, sys.argv[1] + '/out.safetensors')
)";
  std::ofstream(dir + "/interp.py") << script;
  const SiglipRun r = run_shell(kOraclePython + " " + dir + "/interp.py " + dir);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const Tensors want = load_safetensors(dir + "/out.safetensors");
  double worst = 0;
  for (int64_t G : {3, 7, 10, 16}) {
    const std::vector<float> a = interpolate_position_table(table, G).to_vector<float>();
    const std::vector<float> b = want.at("g" + std::to_string(G)).to_vector<float>();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  }
  MESSAGE("position table vs torch bicubic interpolate: worst absolute difference ", worst);
  CHECK(worst < 1e-5);
  fs::remove_all(dir);
}
