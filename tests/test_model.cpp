// test_model.cpp: the SigLIP model: HF names, whole-model gradients against f64 central differences, losses,
// checkpoints, training with resume (bit for bit on the CPU) and SigLiT locking.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "nn/fileio.h"
#include "nn/module.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/loss.h"
#include "siglip/model.h"
#include "siglip/train.h"
#include "tests/siglip_run.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {
SiglipConfig small_config() {
  SiglipConfig c;
  c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = 8;
  c.vision.intermediate_size = c.text.intermediate_size = 12;
  c.vision.num_hidden_layers = c.text.num_hidden_layers = 1;
  c.vision.num_attention_heads = c.text.num_attention_heads = 2;
  c.vision.image_size = 8;
  c.vision.patch_size = 4;
  c.vision.num_channels = 3;
  c.text.vocab_size = 11;
  c.text.max_position_embeddings = 4;
  c.init_bias = -1.0;
  return c;
}

Tensor model_loss(SiglipModel& m, const Tensor& images, const Tensor& ids, const std::string& kind) {
  Tensor logits = m.logits(m.image_embeds(images), m.text_embeds(ids));
  Tensor labels = positive_labels(Positives::Diagonal, std::vector<std::string>(static_cast<size_t>(images.size(0)), ""), {});
  labels = labels.to(logits.dtype());
  return kind == "sigmoid" ? sigmoid_loss(logits, labels) : softmax_loss(logits, labels);
}
}  // namespace

TEST_CASE("model: parameter names are Hugging Face SiglipModel's") {
  SiglipModel m(small_config());
  std::set<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.insert(n);
  for (const char* n : {"vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.patch_embedding.bias",
                        "vision_model.embeddings.position_embedding.weight",
                        "vision_model.encoder.layers.0.self_attn.q_proj.weight",
                        "vision_model.encoder.layers.0.layer_norm1.weight", "vision_model.encoder.layers.0.mlp.fc1.weight",
                        "vision_model.post_layernorm.weight", "vision_model.head.probe",
                        "vision_model.head.attention.in_proj_weight", "vision_model.head.attention.out_proj.weight",
                        "vision_model.head.layernorm.bias", "vision_model.head.mlp.fc2.bias",
                        "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
                        "text_model.encoder.layers.0.self_attn.out_proj.bias", "text_model.final_layer_norm.weight",
                        "text_model.head.weight", "logit_scale", "logit_bias"}) {
    INFO(n);
    CHECK(names.count(n) == 1);
  }
  CHECK(names.size() == m.named_parameters().size());  // no duplicates
}

// scripts/torch_reference.py builds its benchmark models from its own copy of the presets: both must be the same
// shapes, or the CPU and GPU benchmarks compare different models.
TEST_CASE("model: the presets are scripts/torch_reference.py's") {
  const SiglipRun r = run_shell(
      "python3 -c 'import json, sys; sys.path.insert(0, \"scripts\"); import torch_reference as t; "
      "print(json.dumps({n: t._preset(n) for n in t.PRESETS}))'");
  if (r.status == 127) {
    MESSAGE("SKIPPED: no python3: ", r.output);
    return;
  }
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const nlohmann::json theirs = nlohmann::json::parse(r.output);
  std::set<std::string> names;
  for (const auto& [name, cfg] : theirs.items()) {
    names.insert(name);
    const nlohmann::json ours = preset_config(name).to_json();
    for (const char* tower : {"text_config", "vision_config"})
      for (const auto& [key, value] : cfg.at(tower).items()) {
        INFO(name, " ", std::string(tower), ".", key);
        REQUIRE(ours.at(tower).contains(key));
        CHECK(ours.at(tower).at(key) == value);
      }
  }
  CHECK(names == std::set<std::string>{"tiny", "micro", "small", "b16"});
  CHECK_THROWS_WITH_AS(preset_config("large"), doctest::Contains("unknown preset 'large' (tiny, micro, small, b16)"),
                       Error);
}

TEST_CASE("model: `siglip bench embed` embeds random images with a fresh model in batches, a JSON line last") {
  const SiglipRun r = run_siglip("bench embed --config micro --images 10 --batch 4 --warmup 1 --threads 1");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const size_t start = r.output.rfind('\n', r.output.size() - 2);
  const nlohmann::json j = nlohmann::json::parse(r.output.substr(start == std::string::npos ? 0 : start + 1));
  CHECK(j.at("images") == 10);
  CHECK(j.at("batches") == 2);  // the median is over the full batches: 4 + 4, not the last 2
  CHECK(j.at("precision") == "f32");
  CHECK(j.at("images_per_s").get<double>() > 0);
  CHECK(j.at("peak_rss_mib").get<double>() > 0);
  CHECK(j.at("peak_tensor_mib").get<double>() > 0);
  const SiglipRun bf16 = run_siglip("bench embed --config micro --images 4 --batch 4 --warmup 0 --precision bf16");
  CHECK_MESSAGE(bf16.status == 0, bf16.output);
  const SiglipRun few = run_siglip("bench embed --config micro --images 3 --batch 4");
  CHECK(few.status != 0);
  CHECK_MESSAGE(few.output.find("bench embed: --images 3 must be >= --batch 4") != std::string::npos, few.output);
}

TEST_CASE("model: whole-model loss and gradients agree with f64 central differences (MAP head, mean, class token)") {
  for (std::string pool : {"map", "mean", "tok"})
  for (std::string kind : {"sigmoid", "softmax"}) {
    if (pool != "map" && kind == "softmax") continue;  // the loss is the pooling's consumer either way
    CAPTURE(pool);
    CAPTURE(kind);
    SiglipConfig c = small_config();
    c.vision.pool = pool;
    SiglipModel m(c);
    m.init_weights(3);
    m.to(DType::F64);
    Generator g(5);
    if (pool == "tok") {  // initialised to zeros, as big_vision's; random here so that its gradient is checked at a
      NoGradGuard ng;     // generic point
      m.vision_model.embeddings.class_embedding.detach().copy_(randn({c.vision.hidden_size}, DType::F64, &g));
    }
    Tensor images = randn({3, 3, 8, 8}, DType::F64, &g);
    Tensor ids = randint({3, 4}, 0, 11, &g);
    Tensor loss = model_loss(m, images, ids, kind);
    loss.backward();
    NoGradGuard ng;
    int checked = 0;
    for (auto& [name, p] : m.named_parameters()) {
      Tensor grad = p->grad();
      if (kind == "softmax" && name == "logit_bias") {  // b cancels in a softmax
        CHECK((!grad.defined() || std::sqrt(sum(mul(grad, grad)).item()) < 1e-12));
        continue;
      }
      INFO(name);
      REQUIRE(grad.defined());
      // Every parameter gets a gradient, except the key bias: q.(k + c) shifts all scores of a query by the
      // same amount, which softmax ignores, so its gradient is exactly zero in theory (PyTorch's too).
      if (name.find("k_proj.bias") == std::string::npos) CHECK(std::sqrt(sum(mul(grad, grad)).item()) > 1e-8);
      std::vector<double> ga = grad.to_vector<double>();
      double* x = p->data<double>();
      const int64_t n = p->numel();
      double max_err = 0, max_num = 0;
      for (int64_t k : {int64_t(0), n / 2, n - 1}) {  // a sample of elements of every tensor
        const double orig = x[k], eps = 1e-6;
        x[k] = orig + eps;
        const double lp = model_loss(m, images, ids, kind).item();
        x[k] = orig - eps;
        const double lm = model_loss(m, images, ids, kind).item();
        x[k] = orig;
        const double num = (lp - lm) / (2 * eps);
        max_err = std::max(max_err, std::abs(num - ga[k]));
        max_num = std::max(max_num, std::abs(num));
      }
      INFO("max abs err ", max_err, " max |numeric| ", max_num);
      CHECK(max_err <= 1e-6 * std::max(max_num, 1e-2));  // floor: central-difference noise ~1e-9
      ++checked;
    }
    CHECK(checked >= (pool == "map" ? 30 : 20));
  }
}

TEST_CASE("model: pool tok is big_vision's class token: prepended after the positions, token 0 after post_layernorm") {
  SiglipConfig c = small_config();
  c.vision.pool = "tok";
  SiglipModel m(c);
  m.init_weights(4);
  Generator g(8);
  NoGradGuard ng;
  VisionTransformer& v = m.vision_model;
  v.embeddings.class_embedding.detach().copy_(randn({c.vision.hidden_size}, DType::F32, &g));
  std::set<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.insert(n);
  CHECK(names.count("vision_model.embeddings.class_embedding") == 1);
  CHECK(names.count("vision_model.head.probe") == 0);
  Tensor images = randn({2, 3, 8, 8}, DType::F32, &g);
  Tensor tokens = v.embeddings.forward(images);  // [2, 1 + 4, D]
  REQUIRE(tokens.shape() == Shape{2, 5, c.vision.hidden_size});
  for (int64_t b = 0; b < 2; ++b)
    CHECK(tokens.select(0, b).select(0, 0).to_vector<float>() == v.embeddings.class_embedding.to_vector<float>());
  Tensor want = v.post_layernorm.forward(v.encoder.forward(tokens)).select(1, 0);
  Tensor got = v.forward(images);
  CHECK(got.to_vector<float>() == want.to_vector<float>());
  // The class token sees the image: two images give two embeddings.
  CHECK(got.select(0, 0).to_vector<float>() != got.select(0, 1).to_vector<float>());
}

TEST_CASE("model: bf16 mixed precision tracks f32 and trains the f32 master weights (CPU)") {
  SiglipConfig c = small_config();
  c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = 32;
  c.vision.intermediate_size = c.text.intermediate_size = 64;
  auto run = [&](bool bf16) {
    SiglipModel m(c);
    m.init_weights(3);
    Generator g(5);
    Tensor images = randn({6, 3, 8, 8}, DType::F32, &g);
    Tensor ids = randint({6, 4}, 0, 11, &g);
    std::optional<nn::ComputeDTypeGuard> mixed;
    if (bf16) mixed.emplace(DType::BF16);
    Tensor loss = model_loss(m, images, ids, "sigmoid");
    loss.backward();
    std::vector<std::vector<double>> grads;
    for (auto& [n, p] : m.named_parameters()) {
      INFO(n);
      REQUIRE(p->grad().defined());
      CHECK(p->grad().dtype() == DType::F32);  // master weights get f32 gradients through the cast's backward
      grads.push_back(p->grad().to_vector<double>());
    }
    return std::make_pair(loss.item(), grads);
  };
  auto [l32, g32] = run(false);
  auto [l16, g16] = run(true);
  CHECK(l16 == doctest::Approx(l32).epsilon(2e-2));
  // Gradients: the whole model's gradient vector within 5% (bf16 keeps about 3 significant digits per op).
  double diff = 0, norm = 0;
  for (size_t i = 0; i < g32.size(); ++i)
    for (size_t k = 0; k < g32[i].size(); ++k) {
      diff += (g16[i][k] - g32[i][k]) * (g16[i][k] - g32[i][k]);
      norm += g32[i][k] * g32[i][k];
    }
  INFO("relative gradient error ", std::sqrt(diff / norm));
  CHECK(std::sqrt(diff / norm) < 5e-2);
  CHECK(l16 != l32);  // bf16 really ran (rounding changes the loss)
}

TEST_CASE("model: losses match their formulas") {
  Tensor logits = from_vector(std::vector<double>{2.0, -1.0, 0.5, 3.0}, {2, 2}, DType::F64);
  Tensor z = positive_labels(Positives::Diagonal, {"a", "b"}, {});
  auto ls = [](double x) { return -std::log1p(std::exp(-x)); };
  double expect = -(ls(2.0) + ls(1.0) + ls(-0.5) + ls(3.0)) / 2;
  CHECK(sigmoid_loss(logits, z.to(DType::F64)).item() == doctest::Approx(expect).epsilon(1e-12));
  // all logits at the best constant -> the collapsed value
  const int64_t B = 8;
  const double c = std::log((1.0 / B) / (1 - 1.0 / B));
  Tensor flat = full({B, B}, c, DType::F64);
  Tensor zd = positive_labels(Positives::Diagonal, std::vector<std::string>(B, "x"), {}).to(DType::F64);
  CHECK(sigmoid_loss(flat, zd).item() == doctest::Approx(collapsed_sigmoid_loss(B)).epsilon(1e-12));
  // caption positives mark repeated captions
  Tensor zc = positive_labels(Positives::Caption, {"a", "b", "a"}, {});
  CHECK(zc.to_vector<float>() == std::vector<float>{1, -1, 1, -1, 1, -1, 1, -1, 1});
  Tensor zl = positive_labels(Positives::Label, {"x", "y", "z"}, {2, 2, -1});
  CHECK(zl.to_vector<float>() == std::vector<float>{1, 1, -1, 1, 1, -1, -1, -1, 1});
  // softmax loss with diagonal labels = CLIP's symmetric cross-entropy
  double row0 = -(2.0 - std::log(std::exp(2.0) + std::exp(-1.0))), row1 = -(3.0 - std::log(std::exp(0.5) + std::exp(3.0)));
  double col0 = -(2.0 - std::log(std::exp(2.0) + std::exp(0.5))), col1 = -(3.0 - std::log(std::exp(-1.0) + std::exp(3.0)));
  CHECK(softmax_loss(logits, z.to(DType::F64)).item() == doctest::Approx((row0 + row1 + col0 + col1) / 4).epsilon(1e-12));
}

TEST_CASE("model: checkpoints round-trip; mismatched shapes are named") {
  const std::string dir = temp_dir("ckpt");
  SiglipModel m(small_config());
  m.init_weights(1);
  Tokenizer tok = Tokenizer::build({"a red circle", "a blue square"});
  save_model_files(dir, m, tok);
  LoadedModel lm = load_checkpoint(dir);
  Generator g(2);
  Tensor images = randn({2, 3, 8, 8}, DType::F32, &g);
  Tensor ids = randint({2, 4}, 0, 5, &g);
  NoGradGuard ng;
  CHECK(m.logits(m.image_embeds(images), m.text_embeds(ids)).to_vector<float>() ==
        lm.model->logits(lm.model->image_embeds(images), lm.model->text_embeds(ids)).to_vector<float>());
  // a config that does not match the weights
  SiglipConfig other = small_config();
  other.text.intermediate_size = 16;
  write_file_atomic(dir + "/config.json", other.to_json().dump());
  CHECK_THROWS_WITH_AS(load_checkpoint(dir), doctest::Contains("text_model.encoder.layers.0.mlp.fc1.weight"), Error);
  write_file_atomic(dir + "/config.json", "{\"text_config\": {\"hidden_size\": \"wide\"}}");
  CHECK_THROWS_WITH_AS(load_checkpoint(dir), doctest::Contains("text_config.hidden_size"), Error);
  // Integers only, within int64 (fuzz/corpus/fuzz_config/crash_float_size): no truncated or wrapped sizes.
  for (const char* bad : {"1.8e21", "96.5", "18446744073709551615"}) {
    CAPTURE(bad);
    const std::string text = fmt::format("{{\"text_config\": {{\"hidden_size\": {}}}}}", bad);
    CHECK_THROWS_WITH_AS(SiglipConfig::parse(text, "c.json"),
                         doctest::Contains("config: c.json: text_config.hidden_size must be an integer"), Error);
  }
  fs::remove_all(dir);
}

TEST_CASE("train: a resumed run continues the same loss curve bit for bit (CPU)") {
  TrainOptions o;
  o.data = "shapes:256:32";
  o.config = "micro";
  o.image_size = 16;
  o.batch = 16;
  o.steps = 6;
  o.lr = 2e-3;
  o.warmup = 2;
  o.eval = false;
  o.log_every = 100;
  o.out = temp_dir("straight");
  o.ckpt_every = 3;
  train(o);
  TrainOptions half = o;
  half.out = temp_dir("resumed");
  half.steps = 3;
  half.ckpt_every = 0;
  train(half);
  TrainOptions cont;
  cont.resume = half.out;
  cont.steps = 6;
  train(cont);
  std::vector<double> a = metric_losses(o.out + "/metrics.jsonl"), b = metric_losses(half.out + "/metrics.jsonl");
  REQUIRE(a.size() == 6);
  REQUIRE(b.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    INFO("step ", i + 1, ": ", a[i], " vs ", b[i]);
    CHECK(a[i] == b[i]);
  }
  CHECK(file_exists(o.out + "/train.png"));
  CHECK(read_file(o.out + "/latest") == "step-000006\n");
  fs::remove_all(o.out);
  fs::remove_all(half.out);
}

TEST_CASE("train: --vocab pads the token table; --precision bf16 trains on the CPU; --profile") {
  TrainOptions o = tiny_run(temp_dir("vocab"));
  o.steps = 2;
  o.vocab = 500;
  o.precision = Precision::BF16;
  o.profile = true;
  CHECK(std::isfinite(train(o)));
  auto cfg = nlohmann::json::parse(read_file(o.out + "/step-000002/config.json"));
  CHECK(cfg["text_config"]["vocab_size"].get<int64_t>() == 500);  // the tokenizer has about 30 words
  fs::remove_all(o.out);
}

TEST_CASE("train: SigLiT locks the image tower (no gradients, unchanged weights)") {
  TrainOptions base;
  base.data = "shapes:128:16";
  base.config = "micro";
  base.image_size = 16;
  base.batch = 16;
  base.steps = 2;
  base.eval = false;
  base.out = temp_dir("base");
  train(base);
  TrainOptions lit = base;
  lit.out = temp_dir("lit");
  lit.lock_image = base.out;
  lit.steps = 3;
  train(lit);
  auto before = load_safetensors(resolve_checkpoint(base.out) + "/model.safetensors");
  auto after = load_safetensors(resolve_checkpoint(lit.out) + "/model.safetensors");
  int vision = 0, text_changed = 0;
  for (auto& [name, t] : after) {
    if (name.rfind("vision_model.", 0) == 0) {
      ++vision;
      CHECK(t.to_vector<float>() == before.at(name).to_vector<float>());
    } else if (name.rfind("text_model.", 0) == 0) {
      text_changed += t.to_vector<float>() != before.at(name).to_vector<float>();
    }
  }
  CHECK(vision > 10);
  CHECK(text_changed > 0);
  fs::remove_all(base.out);
  fs::remove_all(lit.out);
}

TEST_CASE("train: bad options fail with clear messages") {
  TrainOptions o;
  o.config = "micro";
  o.data = "shapes:64:8";
  o.out = temp_dir("bad");
  o.batch = 1000;
  CHECK_THROWS_WITH_AS(train(o), doctest::Contains("batch 1000 is larger than the 64 training examples"), Error);
  o.batch = 8;
  o.config = "/nonexistent/config.json";
  CHECK_THROWS_WITH_AS(train(o), doctest::Contains("unknown preset"), Error);
  fs::remove_all(o.out);
}
