// test_grad_dump.cpp: gradients out of the engine under Hugging Face names. `siglip grad`'s file holds every
// parameter's gradient and the four outputs, equal to what the trainer computes on the same batch; `train
// --dump-grads` writes the matching gradients at the right steps and no temp file; bad batch files and patterns
// are errors naming what is wrong; and scripts/compare_grads.py against transformers (when .venv has torch and
// transformers).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/commands.h"
#include "siglip/grad_dump.h"
#include "siglip/grad_file.h"
#include "siglip/train.h"
#include "tests/train_helpers.h"
#include "tests/siglip_run.h"
#include "tests/error_of.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// `siglip grad ARGS...` in this process; its exit status (errors are printed, as the binary does).
int grad_command(const std::vector<std::string>& args) {
  std::vector<std::string> words = {"grad"};
  words.insert(words.end(), args.begin(), args.end());
  return run_command_line(words);
}

// The error `siglip grad` raises for these options.
std::string grad_error(const GradOptions& o) {
  return error_of([&] { run_grad(o); });
}

std::set<std::string> names_of(const std::map<std::string, Tensor>& tensors) {
  std::set<std::string> out;
  for (const auto& [name, t] : tensors) out.insert(name);
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// The loss metrics.jsonl recorded for `step`.
double logged_loss(const std::string& run_dir, int64_t step) {
  const std::string text = read_file(run_dir + "/metrics.jsonl");
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const auto j = nlohmann::json::parse(text.substr(start, end - start), nullptr, false);
    if (!j.is_discarded() && j.contains("loss") && j.value("step", int64_t{-1}) == step) return j["loss"].get<double>();
    start = end == std::string::npos ? text.size() : end + 1;
  }
  FAIL("metrics.jsonl of " << run_dir << " has no step " << step);
  return NAN;
}

// Batch number `index` (from 0) of a training run with these options, tokenised by `tok`.
Batch training_batch(const TrainOptions& o, const Tokenizer& tok, const SiglipConfig& cfg, uint64_t index) {
  Dataset data = load_dataset(o.data, static_cast<int>(cfg.vision.image_size), o.channels, o.seed);
  BatchLoader loader(data.train, tok, static_cast<int>(o.batch), static_cast<int>(cfg.text.max_position_embeddings),
                     data.channels, data.height, data.width, o.seed);
  loader.seek({0, index});
  return loader.next();
}

// A safetensors file written byte by byte (for dtypes our writer has no DType for, such as I32).
void write_safetensors_raw(const std::string& path, const std::vector<std::tuple<std::string, std::string, Shape,
                                                                                 std::string>>& entries) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, dtype, shape, bytes] : entries) {
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_file_atomic(path, len + text + data);
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

TEST_CASE("grad: the grad file has every parameter's gradient and the four outputs, equal to the trainer's") {
  const std::string run = temp_dir("grad_file");
  TrainOptions o = tiny_run(run);
  o.steps = 2;
  o.ckpt_every = 1;  // step-000001: the weights the trainer's step 2 starts from
  o.dump_grads = "*";
  train(o);
  const std::string ckpt = run + "/step-000001", batch_file = run + "/batch2.safetensors",
                    grads_file = run + "/grads2.safetensors";
  LoadedModel lm = load_checkpoint(ckpt);
  SiglipModel& m = *lm.model;
  const Batch batch = training_batch(o, lm.tokenizer, m.config, 1);  // step 2's batch
  save_grad_inputs(batch_file, batch, {});
  REQUIRE(grad_command({"--checkpoint", ckpt, "--inputs", batch_file, "--out", grads_file}) == 0);
  const std::map<std::string, Tensor> got = load_safetensors(grads_file);

  // names: every parameter + the four outputs, nothing else; shapes and dtypes
  std::set<std::string> expected = {"loss", "logits_per_image", "image_embeds", "text_embeds"};
  for (const auto& [name, p] : m.named_parameters()) {
    expected.insert(name);
    REQUIRE(got.count(name));
    CHECK_MESSAGE(got.at(name).shape() == p->shape(), name);
  }
  CHECK(names_of(got) == expected);
  CHECK(got.count("vision_model.embeddings.patch_embedding.weight"));
  CHECK(got.count("logit_scale"));
  CHECK(got.count("logit_bias"));
  for (const auto& [name, t] : got) CHECK_MESSAGE(t.dtype() == DType::F32, name);
  const int64_t B = o.batch, D = m.config.text.projection_size;
  CHECK(got.at("loss").shape() == Shape{});
  CHECK(got.at("logits_per_image").shape() == Shape{B, B});
  CHECK(got.at("image_embeds").shape() == Shape{B, D});
  CHECK(got.at("text_embeds").shape() == Shape{B, D});

  // the trainer's loss and gradients on the same batch with the same weights: the same computation, bit for bit
  CHECK(got.at("loss").item() == logged_loss(run, 2));
  const std::map<std::string, Tensor> dumped = load_safetensors(run + "/grads/step-000002.safetensors");
  CHECK(names_of(dumped).size() == m.named_parameters().size());
  for (const auto& [name, g] : dumped) {
    CAPTURE(name);
    CHECK(max_abs_diff(got.at(name), g) == 0.0);
  }

  // logits_per_image = exp(t') x . y^T + b of the file's embeddings; embeddings of unit norm
  const double t = std::exp(m.logit_scale.item()), b = m.logit_bias.item();
  const std::vector<float> x = got.at("image_embeds").to_vector<float>(), y = got.at("text_embeds").to_vector<float>();
  const std::vector<float> logits = got.at("logits_per_image").to_vector<float>();
  double worst = 0, norm_err = 0;
  for (int64_t i = 0; i < B; ++i) {
    double nx = 0;
    for (int64_t k = 0; k < D; ++k) nx += double(x[i * D + k]) * x[i * D + k];
    norm_err = std::max(norm_err, std::abs(std::sqrt(nx) - 1));
    for (int64_t j = 0; j < B; ++j) {
      double dot = 0;
      for (int64_t k = 0; k < D; ++k) dot += double(x[i * D + k]) * y[j * D + k];
      worst = std::max(worst, std::abs(logits[i * B + j] - (t * dot + b)));
    }
  }
  CHECK(worst < 1e-4);
  CHECK(norm_err < 1e-5);

  // --make-inputs writes the first batch a run with the same --data and --seed trains on
  const std::string made = run + "/batch1.safetensors";
  REQUIRE(grad_command({"--checkpoint", ckpt, "--make-inputs", made, "--data", o.data, "--batch", "8"}) == 0);
  const std::map<std::string, Tensor> first = load_safetensors(made);
  CHECK(names_of(first) == std::set<std::string>{"input_ids", "pixel_values"});
  const Batch batch1 = training_batch(o, lm.tokenizer, m.config, 0);
  CHECK(first.at("pixel_values").to_vector<float>() == batch1.images.to_vector<float>());
  CHECK(first.at("input_ids").to_vector<int64_t>() == batch1.ids.to_vector<int64_t>());
  fs::remove_all(run);
}

TEST_CASE("train: --dump-grads writes the matching gradients every N steps, atomically") {
  const std::string run = temp_dir("dump_grads");
  TrainOptions o = tiny_run(run);
  o.steps = 5;
  o.dump_grads = "vision_model.encoder.layers.0.*, logit_*";
  o.dump_every = 2;
  train(o);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(run + "/grads")) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"step-000002.safetensors", "step-000004.safetensors"});  // no temp file

  SiglipModel fresh(preset_config("micro"));
  std::set<std::string> expected;
  for (const auto& [name, p] : fresh.named_parameters())
    if (name.rfind("vision_model.encoder.layers.0.", 0) == 0 || name.rfind("logit_", 0) == 0) expected.insert(name);
  CHECK(expected.size() == 18);  // 16 tensors of the layer, t' and b
  std::map<std::string, std::string> metadata;
  const std::map<std::string, Tensor> g = load_safetensors(run + "/grads/step-000004.safetensors", &metadata);
  CHECK(names_of(g) == expected);
  CHECK(metadata["step"] == "4");
  CHECK(contains(metadata["when"], "before clipping"));
  double total = 0;
  for (const auto& [name, t] : g)
    for (double v : t.to_vector<double>()) {
      REQUIRE(std::isfinite(v));
      total += std::abs(v);
    }
  CHECK(total > 0);
  // two different steps: different gradients
  const Tensor bias2 = load_safetensors(run + "/grads/step-000002.safetensors").at("logit_bias");
  CHECK(max_abs_diff(g.at("logit_bias"), bias2) > 0);
  fs::remove_all(run);
}

TEST_CASE("train: --dump-grads patterns that match nothing, or --dump-every < 1, are errors before any step") {
  const std::string run = temp_dir("dump_grads_bad");
  TrainOptions o = tiny_run(run);
  o.dump_grads = "logit_*,vision_model.encoder.layer.0.*";
  std::string e = error_of([&] { train(o); });
  CHECK(contains(e, "--dump-grads pattern 'vision_model.encoder.layer.0.*' matches no trained parameter"));
  CHECK(contains(e, "the closest names: vision_model.encoder.layers.0.layer_norm1.weight, "));
  CHECK_FALSE(fs::exists(run));  // nothing written
  o.dump_grads = "logit_*";
  o.dump_every = 0;
  CHECK(contains(error_of([&] { train(o); }), "--dump-every must be at least 1"));
  CHECK_FALSE(fs::exists(run));

  CHECK(split_patterns(" a.* ,,logit_*, ") == std::vector<std::string>{"a.*", "logit_*"});
  CHECK(name_matches("vision_model.encoder.layers.0.*", "vision_model.encoder.layers.0.mlp.fc1.weight"));
  CHECK_FALSE(name_matches("vision_model.encoder.layers.0.*", "vision_model.encoder.layers.10.mlp.fc1.weight"));
  CHECK(name_matches("*.layers.?.self_attn.q_proj.bias", "text_model.encoder.layers.1.self_attn.q_proj.bias"));
  CHECK_FALSE(name_matches("logit", "logit_bias"));  // the whole name
}

TEST_CASE("grad: bad batch files and options are errors naming the file, the tensor and the shapes") {
  const std::string run = temp_dir("grad_bad");
  TrainOptions o = tiny_run(run);
  o.steps = 1;
  train(o);
  LoadedModel lm = load_checkpoint(run);
  const Batch batch = training_batch(o, lm.tokenizer, lm.model->config, 0);  // [8, 3, 16, 16], [8, 12]
  const std::string f = run + "/bad.safetensors";
  auto error_for = [&](const std::vector<std::pair<std::string, Tensor>>& tensors) {
    save_safetensors(f, tensors);
    GradOptions g;
    g.checkpoint = run;
    g.inputs = f;
    g.out = run + "/grads.safetensors";
    return grad_error(g);
  };
  const Tensor px = batch.images, ids = batch.ids;

  std::string e = error_for({{"images", px}, {"input_ids", ids}});
  CHECK(contains(e, f));
  CHECK(contains(e, "no tensor 'pixel_values' (the file has: images float32 [8, 3, 16, 16], input_ids int64 [8, 12])"));
  e = error_for({{"pixel_values", px.to(DType::F64)}, {"input_ids", ids}});
  CHECK(contains(e, f + ": pixel_values is float64 [8, 3, 16, 16], expected float32"));
  e = error_for({{"pixel_values", px.narrow(2, 0, 8)}, {"input_ids", ids}});
  CHECK(contains(e, "pixel_values has shape [8, 3, 8, 16], the checkpoint's config needs [B, 3, 16, 16]"));
  e = error_for({{"pixel_values", px}, {"input_ids", ids.to(DType::F32)}});
  CHECK(contains(e, "input_ids is float32 [8, 12], expected int64 or int32"));
  e = error_for({{"pixel_values", px}, {"input_ids", zeros({8, 13}, DType::I64)}});
  CHECK(contains(e, "input_ids has shape [8, 13], expected [B, L] with 1 <= L <= max_position_embeddings 12"));
  e = error_for({{"pixel_values", px.narrow(0, 0, 4)}, {"input_ids", ids}});
  CHECK(contains(e, "pixel_values [4, 3, 16, 16] and input_ids [8, 12] have different batch sizes"));
  Tensor far = ids.clone();
  far.data<int64_t>()[2 * 12 + 5] = lm.model->config.text.vocab_size;
  e = error_for({{"pixel_values", px}, {"input_ids", far}});
  CHECK(contains(e, fmt::format("input_ids[2, 5] = {} is outside the vocabulary", lm.model->config.text.vocab_size)));

  GradOptions g;
  g.checkpoint = run;
  g.out = run + "/grads.safetensors";
  CHECK(contains(grad_error(g), "--out needs a batch"));
  g.inputs = run + "/none.safetensors";
  CHECK(contains(grad_error(g), run + "/none.safetensors: cannot open"));
  g.make_inputs = f;
  CHECK(contains(grad_error(g), "--inputs and --make-inputs exclude each other"));
  g = GradOptions();
  g.checkpoint = run;
  CHECK(contains(grad_error(g), "nothing to do"));
  g.checkpoint = "";
  CHECK(contains(grad_error(g), "--checkpoint DIR is required"));
  CHECK_FALSE(fs::exists(run + "/grads.safetensors"));

  // input_ids as int32 (numpy's default on some systems) read as int64: the same gradients
  const std::string i64_file = run + "/i64.safetensors", i32_file = run + "/i32.safetensors";
  save_grad_inputs(i64_file, batch, {});
  std::vector<int32_t> narrow;
  for (int64_t v : ids.to_vector<int64_t>()) narrow.push_back(static_cast<int32_t>(v));
  write_safetensors_raw(i32_file, {{"pixel_values", "F32", px.shape(), bytes_of(px.to_vector<float>())},
                                   {"input_ids", "I32", ids.shape(), bytes_of(narrow)}});
  REQUIRE(grad_command({"--checkpoint", run, "--inputs", i64_file, "--out", run + "/g64.safetensors"}) == 0);
  REQUIRE(grad_command({"--checkpoint", run, "--inputs", i32_file, "--out", run + "/g32.safetensors"}) == 0);
  const auto g64 = load_safetensors(run + "/g64.safetensors"), g32 = load_safetensors(run + "/g32.safetensors");
  REQUIRE(names_of(g64) == names_of(g32));
  for (const auto& [name, t] : g64) CHECK_MESSAGE(max_abs_diff(t, g32.at(name)) == 0.0, name);
  fs::remove_all(run);
}

// scripts/compare_grads.py against transformers' SiglipModel in PyTorch f32, on fresh micro and tiny checkpoints.
TEST_CASE("grad: compare_grads.py: our gradients match transformers' on micro and tiny (python oracle)") {
  if (const std::string why = oracle_missing("torch, transformers, safetensors"); !why.empty()) {
    MESSAGE("SKIPPED: ", why);
    return;
  }
  const std::string python = kOraclePython, siglip = siglip_binary();
  for (const std::string config : {"micro", "tiny"}) {
    CAPTURE(config);
    const std::string run = temp_dir("compare_grads_" + config);
    TrainOptions o;
    o.config = config;
    o.data = "shapes:64:16";
    o.batch = 8;
    o.steps = 1;  // one AdamW step: no parameter keeps its initial constant (zero biases, unit norms)
    o.eval = false;
    o.log_every = 100;
    o.out = run;
    train(o);
    const std::string cmd = fmt::format("{} scripts/compare_grads.py --siglip {} --checkpoint {} --batch 8 --data {}",
                                        python, siglip, run, o.data);
    const auto [rc, out] = run_shell(cmd);
    const size_t last = out.rfind("compare_grads: ");
    const std::string verdict =
        last == std::string::npos ? "(no verdict line)" : out.substr(last, out.find('\n', last) - last);
    MESSAGE(config, ": ", verdict);  // the worst relative errors
    INFO(cmd, "\n", out);
    CHECK(rc == 0);
    CHECK(verdict.starts_with("compare_grads: PASS: "));
    fs::remove_all(run);
  }
}
