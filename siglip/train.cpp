#include "siglip/train.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "nn/fileio.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/data.h"
#include "siglip/eval.h"
#include "siglip/loader.h"
#include "siglip/loss.h"
#include "siglip/plot.h"
#include "tensor/allocator.h"
#include "tensor/profile.h"
#include "tensor/backends.h"

namespace sg {
namespace fs = std::filesystem;

// One list of fields for both directions; keys missing from a saved file keep their defaults.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainOptions, data, config, steps, batch, lr, warmup, weight_decay, beta2,
                                                clip, loss, positives, init_bias, init_temp, device, seed, out, resume,
                                                lock_image, log_every, ckpt_every, eval_limit, eval, image_size, channels,
                                                precision, vocab)

namespace {

std::string step_name(int64_t step) { return fmt::format("step-{:06d}", step); }

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = static_cast<int64_t>(s);
  return t >= 3600 ? fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60) : fmt::format("{}m{:02d}s", t / 60, t % 60);
}

// Keeps the metrics of steps <= last_step (a resumed run continues the same curve).
void truncate_metrics(const std::string& path, int64_t last_step) {
  if (!file_exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("step", int64_t(1) << 60) <= last_step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void write_plot(const std::string& dir) {
  std::vector<double> steps, loss, t, b;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("loss")) continue;
    steps.push_back(j["step"].get<double>());
    loss.push_back(j["loss"].get<double>());
    t.push_back(j["t"].get<double>());
    b.push_back(j["b"].get<double>());
  }
  write_training_plot(dir + "/train.png", steps, loss, t, b);
}

struct Run {
  TrainOptions opt;
  Dataset data;
  Tokenizer tok;
  std::unique_ptr<SiglipModel> model;
  std::unique_ptr<nn::AdamW> optim;
  std::unique_ptr<BatchLoader> loader;
  Device device = Device::CPU;
  int64_t step = 0;

  void save(int64_t at_step) {
    const std::string name = step_name(at_step), dir = opt.out + "/" + name;
    save_model_files(dir, *model, tok);
    save_safetensors(dir + "/optimizer.safetensors", optim->state(), {{"step", std::to_string(optim->steps())}});
    BatchLoader::Position pos = loader->position();
    nlohmann::json st = {{"step", at_step},
                         {"optimizer_steps", optim->steps()},
                         {"loader", {{"epoch", pos.epoch}, {"index", pos.index}}},
                         {"options", nlohmann::json(opt)}};
    write_file_atomic(dir + "/trainer_state.json", st.dump(2) + "\n");
    write_file_atomic(opt.out + "/latest", name + "\n");  // the checkpoint becomes current only now
    // keep the two newest step directories
    std::vector<std::string> olds;
    for (auto& e : fs::directory_iterator(opt.out))
      if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) olds.push_back(e.path().string());
    std::sort(olds.begin(), olds.end());
    for (size_t i = 0; i + 2 < olds.size(); ++i) fs::remove_all(olds[i]);
  }
};

}  // namespace

double train(TrainOptions opt) {
  Run run;
  nlohmann::json resume_state;
  if (!opt.resume.empty()) {
    const std::string dir = resolve_checkpoint(opt.resume);
    resume_state = nlohmann::json::parse(read_file(dir + "/trainer_state.json"), nullptr, false);
    SG_CHECK(!resume_state.is_discarded(), "train: {}/trainer_state.json is malformed", dir);
    TrainOptions saved = resume_state["options"].get<TrainOptions>();
    if (opt.steps > 0) saved.steps = opt.steps;  // --steps given with --resume: extend (or shorten) the run
    saved.out = opt.resume;
    opt = saved;
  }
  run.opt = opt;
  SG_CHECK(opt.loss == "sigmoid" || opt.loss == "softmax", "train: --loss must be sigmoid or softmax, got '{}'", opt.loss);
  SG_CHECK(opt.positives == "diagonal" || opt.positives == "caption" || opt.positives == "label",
           "train: --positives must be diagonal, caption or label, got '{}'", opt.positives);
  SG_CHECK(opt.device == "cpu" || opt.device == "cuda", "train: --device must be cpu or cuda, got '{}'", opt.device);
  SG_CHECK(opt.precision == "f32" || opt.precision == "bf16", "train: --precision must be f32 or bf16, got '{}'",
           opt.precision);
  SG_CHECK(opt.steps > 0 && opt.batch > 1, "train: need steps > 0 and batch > 1 (got {} and {})", opt.steps, opt.batch);
  run.device = opt.device == "cuda" ? Device::CUDA : Device::CPU;
  check_device_available(run.device, "train");

  // ---- config, data, tokenizer
  SiglipConfig cfg = opt.config.empty() ? preset_config("tiny")
                     : file_exists(opt.config) ? SiglipConfig::load(opt.config)
                                               : preset_config(opt.config);
  if (opt.image_size > 0) cfg.vision.image_size = opt.image_size;
  run.data = load_dataset(opt.data, static_cast<int>(cfg.vision.image_size), opt.channels, opt.seed);
  cfg.vision.num_channels = run.data.channels;
  SG_CHECK(static_cast<int64_t>(run.data.train.size()) >= opt.batch, "train: batch {} is larger than the {} training examples",
           opt.batch, run.data.train.size());
  if (!resume_state.is_null()) {
    run.tok = Tokenizer::load(resolve_checkpoint(opt.out) + "/tokenizer.json");
  } else {
    std::vector<std::string> caps;
    for (const auto& e : run.data.train) caps.push_back(e.caption);
    run.tok = Tokenizer::build(caps, static_cast<size_t>(cfg.text.vocab_size));
  }
  // The token table has the tokenizer's size unless --vocab asks for more rows (a benchmark of a real-sized
  // table, e.g. SigLIP-B/16's 32000, on a small caption set: the extra rows are never indexed).
  cfg.text.vocab_size = std::max<int64_t>({run.tok.vocab_size(), 2, opt.vocab});
  cfg.init_temp = opt.init_temp;
  // b = -log(B - 1) makes sigmoid(b) = 1/(B - 1): the best constant when one pair in B is positive. The paper's
  // -10 is tuned for B near 32k; at small B it starts far from that and collapsed in our measurements.
  cfg.init_bias = opt.init_bias == "auto" ? -std::log(static_cast<double>(opt.batch - 1)) : std::stod(opt.init_bias);
  cfg.validate("train");

  // ---- model and optimiser
  run.model = std::make_unique<SiglipModel>(cfg);
  run.model->init_weights(opt.seed);
  if (!opt.lock_image.empty()) {  // SigLiT: a fixed image tower from another checkpoint
    const std::string dir = resolve_checkpoint(opt.lock_image);
    int n = load_parameters(*run.model, load_safetensors(dir + "/model.safetensors"), dir + "/model.safetensors",
                            "vision_model.");
    run.model->vision_model.set_requires_grad(false);
    fmt::print("locked image tower: {} tensors from {}\n", n, dir);
  }
  if (!resume_state.is_null()) {
    const std::string dir = resolve_checkpoint(opt.out);
    load_parameters(*run.model, load_safetensors(dir + "/model.safetensors"), dir + "/model.safetensors");
  }
  run.model->to(run.device);
  nn::AdamWConfig ac;
  ac.lr = opt.lr;
  ac.beta2 = opt.beta2;
  ac.weight_decay = opt.weight_decay;
  run.optim = std::make_unique<nn::AdamW>(run.model->named_parameters(), ac, [](const std::string&, const Tensor& t) {
    return t.dim() >= 2;  // matrices decay; biases, norms, probe-free scalars (t', b) do not
  });
  const int64_t T = cfg.text.max_position_embeddings;
  run.loader = std::make_unique<BatchLoader>(run.data.train, run.tok, static_cast<int>(opt.batch), static_cast<int>(T),
                                             run.data.channels, run.data.height, run.data.width, opt.seed);
  make_dirs(opt.out);
  const std::string metrics_path = opt.out + "/metrics.jsonl";
  if (!resume_state.is_null()) {
    const std::string dir = resolve_checkpoint(opt.out);
    run.step = resume_state["step"].get<int64_t>();
    run.optim->to(run.device);
    run.optim->load_state(load_safetensors(dir + "/optimizer.safetensors"), resume_state["optimizer_steps"].get<int64_t>());
    run.loader->seek({resume_state["loader"]["epoch"].get<uint64_t>(), resume_state["loader"]["index"].get<uint64_t>()});
    truncate_metrics(metrics_path, run.step);
    fmt::print("resumed {} at step {}\n", dir, run.step);
  } else {
    run.optim->to(run.device);
    write_file_atomic(metrics_path, "");
  }

  const int64_t warmup = opt.warmup >= 0 ? opt.warmup : opt.steps / 10;
  std::vector<Tensor*> params;
  for (Tensor* p : run.model->parameters())
    if (p->requires_grad()) params.push_back(p);
  fmt::print("model: {} parameters ({} trained), vision {}x{} px / patch {}, width {}, {}+{} layers; vocab {}; data {} "
             "({} train, {} test); batch {}, {} steps, loss {}, positives {}, b0 {:.3f}, device {}\n",
             run.model->num_parameters(), [&] { int64_t n = 0; for (auto* p : params) n += p->numel(); return n; }(),
             cfg.vision.image_size, cfg.vision.image_size, cfg.vision.patch_size, cfg.vision.hidden_size,
             cfg.vision.num_hidden_layers, cfg.text.num_hidden_layers, cfg.text.vocab_size, run.data.name,
             run.data.train.size(), run.data.test.size(), opt.batch, opt.steps, opt.loss, opt.positives, cfg.init_bias,
             opt.device);

  const bool tty = isatty(STDOUT_FILENO);
  const double collapse_loss = collapsed_sigmoid_loss(opt.batch);
  int collapse_run = 0;
  bool collapse_reported = false;
  double last_loss = NAN;
  auto t_start = std::chrono::steady_clock::now();
  const int64_t first_step = run.step;
  allocator_reset_peak(Device::CPU);
  // --profile turns the kernel timer on for this run only (SG_PROFILE=1 leaves it on for the process).
  struct ProfileScope {
    bool before = profile::enabled();
    ~ProfileScope() { profile::set_enabled(before); }
  } profile_scope;
  if (opt.profile) profile::set_enabled(true);
  double profiled_s = 0;  // wall time of the profiled steps (all but the first)
  for (; run.step < opt.steps; ++run.step) {
    if (profile::enabled() && run.step == first_step + 1) profile::reset();  // the first step warms caches up
    auto t0 = std::chrono::steady_clock::now();
    Batch batch = run.loader->next();
    const double lr = nn::lr_at(run.step, opt.steps, warmup, opt.lr);
    Tensor img, txt;
    {
      // bf16: the towers run in bf16 (f32 master weights); their outputs come back as f32 embeddings.
      std::optional<nn::ComputeDTypeGuard> mixed;
      if (opt.precision == "bf16") mixed.emplace(DType::BF16);
      img = run.model->image_embeds(batch.images);
      txt = run.model->text_embeds(batch.ids);
    }
    if (run.step == 0 && opt.init_bias == "auto" && opt.positives != "diagonal") {
      // With p positives per row on average, sigmoid(b) = p / B is the best constant start: b = log(p / (B - p)).
      Tensor labels = positive_labels(opt.positives, batch.captions, batch.labels);
      const double p = (sum(labels).item() / static_cast<double>(opt.batch) + static_cast<double>(opt.batch)) / 2;
      NoGradGuard ng;
      run.model->logit_bias.detach().fill_(std::log(p / (static_cast<double>(opt.batch) - p)));
      fmt::print("init bias: {:.2f} positives per row in the first batch, b = log(p / (B - p)) = {:.3f}\n", p,
                 run.model->logit_bias.item());
    }
    // For the collapse check: the logits of the first (up to) 64 pairs of each side, without a graph.
    Tensor probe_logits;
    {
      NoGradGuard ng;
      const int64_t k = std::min<int64_t>(opt.batch, 64);
      probe_logits = run.model->logits(img.narrow(0, 0, k), txt.narrow(0, 0, k));
    }
    Tensor loss;
    if (opt.loss == "sigmoid") {
      // Fused and tiled: the B x B logits are recomputed in tiles, never stored (forward or backward).
      Tensor groups = positive_groups(opt.positives, batch.captions, batch.labels).to(run.device);
      loss = sigmoid_loss_fused(img, txt, run.model->logit_scale, run.model->logit_bias, groups);
    } else {
      Tensor labels = positive_labels(opt.positives, batch.captions, batch.labels).to(run.device);
      loss = softmax_loss(run.model->logits(img, txt), labels);
    }
    loss.backward();
    const double gnorm = nn::clip_grad_norm(params, opt.clip);
    run.optim->step(lr);
    run.optim->zero_grad();
    last_loss = loss.item();
    SG_CHECK(std::isfinite(last_loss), "train: loss became {} at step {}; lower --lr or raise --clip", last_loss, run.step);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (run.step > first_step) profiled_s += dt;

    // Collapse: every pair gets (almost) the same logit, the loss sits at its all-equal value.
    std::vector<float> lv = probe_logits.to_vector<float>();
    double mu = 0, var = 0;
    for (float v : lv) mu += v;
    mu /= static_cast<double>(lv.size());
    for (float v : lv) var += (v - mu) * (v - mu);
    const double spread = std::sqrt(var / static_cast<double>(lv.size()));
    const bool flat = spread < 0.05 || (opt.loss == "sigmoid" && opt.positives == "diagonal" &&
                                        std::abs(last_loss - collapse_loss) < 1e-3 * collapse_loss);
    collapse_run = flat ? collapse_run + 1 : 0;
    if (collapse_run >= 10 && !collapse_reported) {
      fmt::print("{}warning: collapse at step {}: the logits (first {} pairs per side) within {:.3g} of {:.3f} (loss "
                 "{:.4f}; the all-equal value is {:.4f}). Embeddings are aligned; try --init-bias auto, a lower --lr, "
                 "or more warm-up.\n",
                 tty ? "\n" : "", run.step, std::min<int64_t>(opt.batch, 64), spread, mu, last_loss, collapse_loss);
      collapse_reported = true;
    }

    const double t_val = std::exp(run.model->logit_scale.item()), b_val = run.model->logit_bias.item();
    const double pairs_s = static_cast<double>(opt.batch * opt.batch) / dt;
    nlohmann::json m = {{"step", run.step + 1}, {"loss", last_loss}, {"t", t_val},   {"b", b_val}, {"lr", lr},
                        {"grad_norm", gnorm},   {"step_s", dt},      {"logit_std", spread}};
    append_line(metrics_path, m.dump());
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const double eta = elapsed / static_cast<double>(run.step + 1 - first_step) * static_cast<double>(opt.steps - run.step - 1);
    std::string line = fmt::format("step {:>5}/{} loss {:.4f} t {:.2f} b {:.2f} lr {:.2e} |g| {:.2f} {:.0f} pairs/s ETA {}",
                                   run.step + 1, opt.steps, last_loss, t_val, b_val, lr, gnorm, pairs_s, fmt_duration(eta));
    if (tty) fmt::print("\r{}\x1b[K", line);
    if ((run.step + 1) % opt.log_every == 0 || run.step + 1 == opt.steps || run.step == first_step)
      fmt::print("{}{}\n", tty ? "\r" : "", line);
    std::fflush(stdout);
    if (opt.ckpt_every > 0 && (run.step + 1) % opt.ckpt_every == 0 && run.step + 1 < opt.steps) run.save(run.step + 1);
  }
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (profile::enabled() && opt.steps - first_step > 1) {
    const int64_t n = opt.steps - first_step - 1;
    const double step_ms = profiled_s * 1e3 / static_cast<double>(n), kernel_ms = profile::kernel_seconds() * 1e3 / static_cast<double>(n);
    fmt::print("profile over {} steps (after the first; every kernel synchronised, so steps run slower than unprofiled):\n{}"
               "step {:.3f} ms = kernels {:.3f} ms + host work outside kernels {:.3f} ms\n",
               n, profile::report(n), step_ms, kernel_ms, step_ms - kernel_ms);
  }
  run.save(opt.steps);
  write_plot(opt.out);
  fmt::print("trained {} steps in {} ({:.2f} s/step); peak host memory in tensors {:.0f} MB; checkpoint {}/{}\n",
             opt.steps - first_step, fmt_duration(total_s), total_s / std::max<double>(1, static_cast<double>(opt.steps - first_step)),
             static_cast<double>(allocator_stats(Device::CPU).peak_bytes) / 1e6, opt.out, step_name(opt.steps));
  if (opt.eval) {
    EvalResult r = evaluate(*run.model, run.tok, run.data, static_cast<size_t>(opt.eval_limit));
    for (const auto& [name, acc] : r.zero_shot)
      fmt::print("zero-shot {} accuracy: {:.2f}% ({} test images)\n", name, 100 * acc, r.examples);
    fmt::print("retrieval: image->text R@1 {:.2f}% R@5 {:.2f}%, text->image R@1 {:.2f}% R@5 {:.2f}%\n", 100 * r.i2t_r1,
               100 * r.i2t_r5, 100 * r.t2i_r1, 100 * r.t2i_r5);
    nlohmann::json ej = {{"step", opt.steps}, {"eval", {{"zero_shot", r.zero_shot}, {"i2t_r1", r.i2t_r1}, {"i2t_r5", r.i2t_r5},
                                                        {"t2i_r1", r.t2i_r1}, {"t2i_r5", r.t2i_r5}, {"examples", r.examples}}}};
    append_line(metrics_path, ej.dump());
  }
  return last_loss;
}

}  // namespace sg
