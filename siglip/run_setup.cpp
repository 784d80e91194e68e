#include "siglip/run_setup.h"

#include <cmath>
#include <limits>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "tensor/backends.h"

namespace sg {

TrainOptions merge_resumed_options(const TrainOptions& given, const TrainerState& saved) {
  TrainOptions o = saved.options;
  if (given.steps > 0) o.steps = given.steps;  // extend (or end earlier)
  o.out = given.resume;
  o.resume = given.resume;
  o.threads = given.threads;
  o.profile = given.profile;
  o.detect_anomaly = given.detect_anomaly;
  return o;
}

namespace {

void validate(const TrainOptions& o, int64_t done_steps) {
  SG_CHECK(o.steps > 0 && o.batch > 1, "train: need steps > 0 and batch > 1 (got {} and {})", o.steps, o.batch);
  SG_CHECK(o.steps >= done_steps, "train: --steps {} is before the checkpoint's step {}", o.steps, done_steps);
  SG_CHECK(o.log_every >= 1, "train: --log-every must be at least 1, got {}", o.log_every);
  // t = exp(t') is computed in float32: above log(FLT_MAX) = 88.72 it is inf, and every logit with it.
  SG_CHECK(std::isfinite(o.init_temp) && o.init_temp < std::log(static_cast<double>(std::numeric_limits<float>::max())),
           "train: --init-temp {}: the temperature t = exp({}) overflows float32 (t' must stay below 88.72; the "
           "paper starts at log 10 = 2.303)",
           o.init_temp, o.init_temp);
  check_device_available(o.device, "train");
}

// The preset or config.json, at --image-size; the rest (channels, vocabulary, t', b) is known later.
SiglipConfig base_config(const TrainOptions& o) {
  const std::string name = o.config.empty() ? "tiny" : o.config;  // "" in the state of older runs meant tiny
  SiglipConfig cfg = file_exists(name) ? SiglipConfig::load(name) : preset_config(name);
  if (o.image_size > 0) cfg.vision.image_size = o.image_size;
  return cfg;
}

Tokenizer run_tokenizer(const Dataset& data, const SiglipConfig& cfg, const std::string& resumed_from) {
  if (!resumed_from.empty()) return Tokenizer::load_folder(resumed_from);
  std::vector<std::string> captions;
  for (const auto& e : data.train) captions.push_back(e.caption);
  return Tokenizer::build(captions, static_cast<size_t>(cfg.text.vocab_size));
}

std::unique_ptr<SiglipModel> build_model(const SiglipConfig& cfg, const TrainOptions& o, const std::string& resumed_from) {
  auto model = std::make_unique<SiglipModel>(cfg);
  model->init_weights(o.seed);
  if (!o.lock_image.empty()) {  // SigLiT: a fixed image tower from another checkpoint
    const std::string dir = resolve_checkpoint(o.lock_image);
    int n = load_parameters(*model, load_safetensors(dir + "/model.safetensors"), dir + "/model.safetensors",
                            "vision_model.");
    model->vision_model.set_requires_grad(false);
    fmt::print("locked image tower: {} tensors from {}\n", n, dir);
  }
  if (!resumed_from.empty())
    load_parameters(*model, load_safetensors(resumed_from + "/model.safetensors"), resumed_from + "/model.safetensors");
  model->to(o.device);
  return model;
}

std::unique_ptr<nn::AdamW> build_optimizer(SiglipModel& model, const TrainOptions& o) {
  auto optim = make_adamw(model.named_parameters(), o);
  optim->to(o.device);
  return optim;
}

}  // namespace

std::unique_ptr<nn::AdamW> make_adamw(std::vector<std::pair<std::string, Tensor*>> params, const TrainOptions& o) {
  nn::AdamWConfig ac;
  ac.beta2 = o.beta2;
  ac.weight_decay = o.weight_decay;
  return std::make_unique<nn::AdamW>(std::move(params), ac, [](const std::string&, const Tensor& t) {
    return t.dim() >= 2;  // matrices decay; biases, norms, probe-free scalars (t', b) do not
  });
}

RunSetup::RunSetup(TrainOptions given) : opt(std::move(given)) {
  std::optional<TrainerState> saved;
  if (!opt.resume.empty()) {
    resumed_from = resolve_checkpoint(opt.resume);
    saved = TrainerState::load(resumed_from);
    opt = merge_resumed_options(opt, *saved);
    step = saved->step;
  }
  validate(opt, step);

  config = base_config(opt);
  data = load_dataset(opt.data, static_cast<int>(config.vision.image_size), opt.channels, opt.seed);
  config.vision.num_channels = data.channels;
  SG_CHECK(static_cast<int64_t>(data.train.size()) >= opt.batch, "train: batch {} is larger than the {} training examples",
           opt.batch, data.train.size());
  tokenizer = run_tokenizer(data, config, resumed_from);
  // The token table has the tokenizer's size unless --vocab asks for more rows (a benchmark of a real-sized
  // table, e.g. SigLIP-B/16's 32000, on a small caption set: the extra rows are never indexed).
  config.text.vocab_size = std::max<int64_t>({tokenizer.vocab_size(), 2, opt.vocab});
  config.init_temp = opt.init_temp;
  // auto: b = -log(B - 1) makes sigmoid(b) = 1/(B - 1), the best constant when one pair in B is positive. The
  // paper's -10 is tuned for B near 32k; at small B it starts far from that and collapsed in our measurements.
  config.init_bias = opt.init_bias.initial(opt.batch);
  config.validate("train");

  model = build_model(config, opt, resumed_from);
  optimizer = build_optimizer(*model, opt);
  const int64_t T = config.text.max_position_embeddings;
  loader = std::make_unique<BatchLoader>(data.train, tokenizer, static_cast<int>(opt.batch), static_cast<int>(T),
                                         data.channels, data.height, data.width, opt.seed);
  if (saved) {
    optimizer->load_state(load_safetensors(resumed_from + "/optimizer.safetensors"), saved->optimizer_steps);
    loader->seek(saved->loader);
    fmt::print("resumed {} at step {}\n", resumed_from, step);
  }
}

}  // namespace sg
