#include "siglip/run_setup.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "dist/communicator.h"
#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/caption_stream.h"
#include "siglip/checkpoint.h"
#include "siglip/cpu_precision.h"
#include "siglip/param_groups.h"
#include "siglip/shard_loader.h"
#include "siglip/shard_spec.h"
#include "siglip/webdataset.h"
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
  o.workers = given.workers;  // how many threads decode does not change the batches
  o.comm_timeout = given.comm_timeout;
  o.comm = given.comm;  // how this run's ranks talk does not change the numbers
  return o;
}

dist::Communicator& run_communicator(const TrainOptions& o) {
  const dist::Transport t = o.comm == Comm::Nccl  ? dist::Transport::Nccl
                            : o.comm == Comm::Mpi ? dist::Transport::Mpi
                                                  : dist::Transport::Auto;
  return dist::communicator_for(o.device, t);
}

namespace {

void validate(const TrainOptions& o, int64_t done_steps) {
  SG_CHECK(o.steps > 0 && o.batch > 1, "train: need steps > 0 and batch > 1 (got {} and {})", o.steps, o.batch);
  SG_CHECK(o.accum_steps >= 1 && o.accum_steps <= o.batch,
           "train: --accum-steps {} must be between 1 and --batch {} (each micro-batch needs at least one pair)",
           o.accum_steps, o.batch);
  SG_CHECK(o.steps >= done_steps, "train: --steps {} is before the checkpoint's step {}", o.steps, done_steps);
  SG_CHECK(o.log_every >= 1, "train: --log-every must be at least 1, got {}", o.log_every);
  // t = exp(t') is computed in float32: above log(FLT_MAX) = 88.72 it is inf, and every logit with it.
  SG_CHECK(std::isfinite(o.init_temp) && o.init_temp < std::log(static_cast<double>(std::numeric_limits<float>::max())),
           "train: --init-temp {}: the temperature t = exp({}) overflows float32 (t' must stay below 88.72; the "
           "paper starts at log 10 = 2.303)",
           o.init_temp, o.init_temp);
  check_device_available(o.device, "train");
  SG_CHECK(o.comm_timeout >= 0 && std::isfinite(o.comm_timeout), "train: --comm-timeout {} must be 0 (no limit) or "
           "a number of seconds", o.comm_timeout);
  LrMultipliers::parse(o.lr_mult);  // its errors now, before the data loads
  SG_CHECK(o.eval_every >= 0, "train: --eval-every must be 0 or more, got {}", o.eval_every);
  parse_crop_scale(o.crop_scale);  // its errors now, before the data loads
  SG_CHECK(!(o.freeze == Freeze::Vision && !o.lock_image.empty()),
           "train: --lock-image already freezes the image tower; --freeze vision is not needed with it");
}

CropAugment crop_augment(const TrainOptions& o) {
  CropAugment a;
  a.enabled = o.augment == Augment::Crop;
  std::tie(a.area_min, a.area_max) = parse_crop_scale(o.crop_scale);
  return a;
}

// The model config: --init's (a checkpoint's own), else the preset or config.json; with --lock-image its image
// tower's config (the text head then projects to that width); at --image-size, --patch-size and --text-layers.
// The rest (channels, vocabulary, t', b) is known later.
SiglipConfig base_config(const TrainOptions& o, const std::string& init_dir, const std::string& lock_dir) {
  const std::string name = o.config.empty() ? "tiny" : o.config;  // "" in the state of older runs meant tiny
  SiglipConfig cfg = !init_dir.empty() ? SiglipConfig::load(init_dir + "/config.json")
                     : file_exists(name) ? SiglipConfig::load(name)
                                         : preset_config(name);
  if (!lock_dir.empty()) {
    cfg.vision = SiglipConfig::load(lock_dir + "/config.json").vision;
    SG_CHECK(init_dir.empty() || cfg.text.projection_size == cfg.vision.hidden_size,
             "train: the text head of --init {} projects to width {}, but the image tower of --lock-image {} has width {}",
             init_dir, cfg.text.projection_size, lock_dir, cfg.vision.hidden_size);
    cfg.text.projection_size = cfg.vision.hidden_size;
  }
  if (o.image_size > 0) cfg.vision.image_size = o.image_size;
  if (o.patch_size > 0) {
    SG_CHECK(init_dir.empty() && lock_dir.empty(),
             "train: --patch-size {} applies to a new image tower; --init and --lock-image keep their checkpoint's ({})",
             o.patch_size, cfg.vision.patch_size);
    cfg.vision.patch_size = o.patch_size;
  }
  if (o.text_layers != -1) {
    SG_CHECK(o.text_layers >= 0, "train: --text-layers {}: a layer count is 0 or more (-1: the config's)",
             o.text_layers);
    SG_CHECK(init_dir.empty(), "train: --text-layers {} applies to a new text tower; --init keeps its checkpoint's ({})",
             o.text_layers, cfg.text.num_hidden_layers);
    cfg.text.num_hidden_layers = o.text_layers;
  }
  return cfg;
}

Tokenizer run_tokenizer(const std::vector<std::string>& captions, const SiglipConfig& cfg,
                        const std::string& resumed_from, const std::string& init_dir) {
  if (!resumed_from.empty()) return Tokenizer::load_folder(resumed_from);
  if (!init_dir.empty()) return Tokenizer::load_folder(init_dir);
  return Tokenizer::build(captions, static_cast<size_t>(cfg.text.vocab_size));
}

// Fresh weights from the seed; then --init's weights (t' and b replaced only when --init-temp / --init-bias were
// given), --lock-image's image tower, or, when resuming, the checkpoint's; then the frozen towers.
std::unique_ptr<SiglipModel> build_model(const SiglipConfig& cfg, const TrainOptions& o, const std::string& resumed_from,
                                         const std::string& init_dir, const std::string& lock_dir) {
  auto model = std::make_unique<SiglipModel>(cfg);
  model->init_weights(o.seed);
  if (!resumed_from.empty()) {
    load_weights(*model, resumed_from);
  } else {
    if (!init_dir.empty()) {
      const int n = load_weights(*model, init_dir);
      NoGradGuard ng;
      if (o.init_temp_given) model->logit_scale.detach().fill_(cfg.init_temp);
      if (o.init_bias_given) model->logit_bias.detach().fill_(cfg.init_bias);
      fmt::print("initialised from {}: {} tensors; t' = {:.4f} (t = {:.2f}), b = {:.4f}{}\n", init_dir, n,
                 model->logit_scale.item(), std::exp(model->logit_scale.item()), model->logit_bias.item(),
                 o.init_temp_given || o.init_bias_given ? " (reset by --init-temp/--init-bias)" : " (the checkpoint's)");
    }
    if (!lock_dir.empty()) {  // SigLiT: a fixed image tower from another checkpoint
      const int n = load_weights(*model, lock_dir, "vision_model.");
      fmt::print("locked image tower: {} tensors from {}\n", n, lock_dir);
    }
  }
  if (!o.lock_image.empty() || o.freeze == Freeze::Vision) model->vision_model.set_requires_grad(false);
  if (o.freeze == Freeze::Text) model->text_model.set_requires_grad(false);
  model->to(o.device);
  return model;
}

std::unique_ptr<nn::AdamW> build_optimizer(SiglipModel& model, const TrainOptions& o) {
  auto optim = make_adamw(model.named_parameters(), o);
  optim->to(o.device);
  return optim;
}

// Shard data: the training shards scanned (counts, labels, captions), the test split decoded into memory, the label
// set. `data` gets the name, the image shape, the test split and the label sets; its train split stays empty.
ShardScan scan_shard_data(const TrainOptions& o, const ImageProcessor& processor, int image_size, int channels,
                          std::vector<std::string>* captions, ShardLabels& labels, Dataset& data) {
  SG_CHECK(o.workers >= 1, "train: --workers must be at least 1, got {}", o.workers);
  SG_CHECK(o.shuffle_buffer >= 0, "train: --shuffle-buffer must be 0 or more, got {}", o.shuffle_buffer);
  SG_CHECK(o.eval_data.empty() || is_shard_spec(o.eval_data), "train: --eval-data {}: expected WebDataset shards "
           "(names ending in .tar)", o.eval_data);
  const bool skip = o.on_bad_sample == BadSample::Skip;
  std::vector<std::string> train_shards = shard_paths(o.data), test_shards;
  if (!o.eval_data.empty()) {
    test_shards = shard_paths(o.eval_data);
  } else if (train_shards.size() > 1) {
    test_shards.push_back(train_shards.back());
    train_shards.pop_back();
  }
  const auto t0 = std::chrono::steady_clock::now();
  SG_CHECK(o.vocab_captions >= 0, "train: --vocab-captions must be 0 or more, got {}", o.vocab_captions);
  const size_t caption_limit = o.vocab_captions > 0 ? static_cast<size_t>(o.vocab_captions) : SIZE_MAX;
  ShardScan scan = scan_shards(train_shards, skip, captions, caption_limit);
  std::set<std::string> raw_labels = scan.raw_labels;
  if (!test_shards.empty()) raw_labels.merge(scan_shards(test_shards, skip).raw_labels);
  labels = ShardLabels::from(raw_labels, train_shards.front());
  data = Dataset{};
  data.name = o.data;
  data.channels = channels;
  data.height = data.width = image_size;
  if (!labels.classes.empty()) data.label_sets.push_back(labels.label_set());
  if (o.eval) data.test = load_shard_examples(test_shards, labels, processor, channels, image_size, skip);
  const std::string test_text = test_shards.empty() ? "none (give --eval-data)"
                                : !o.eval ? "not loaded (--no-eval)"
                                          : fmt::format("{} shard{}, {} samples in memory", test_shards.size(),
                                                        test_shards.size() > 1 ? "s" : "", data.test.size());
  fmt::print("data: {} shard{}, {} training samples (streamed){}; test split: {}; scanned and loaded in {:.1f}s{}\n",
             train_shards.size(), train_shards.size() > 1 ? "s" : "", scan.total, scan.bad ? fmt::format(", {} bad left out", scan.bad) : "", test_text,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
             scan.from_index ? fmt::format(" ({} of {} shards counted from {})", scan.from_index, train_shards.size(),
                                           kShardIndexName) : "");
  for (const std::string& b : scan.bad_log) fmt::print(stderr, "data: left out: {}\n", b);
  return scan;
}

// A caption file streamed: its records read (no pixels), the test split (every tenth record) decoded into memory.
// `data` gets the name, the image shape, the test split and the label set; its train split stays empty.
CaptionStream read_caption_data(const TrainOptions& o, const ImageProcessor& processor, int image_size, int channels,
                                std::vector<std::string>* captions, Dataset& data) {
  SG_CHECK(o.workers >= 1, "train: --workers must be at least 1, got {}", o.workers);
  const bool skip = o.on_bad_sample == BadSample::Skip;
  const auto t0 = std::chrono::steady_clock::now();
  CaptionStream stream = read_caption_stream(o.data, 0.1, skip);
  data = Dataset{};
  data.name = o.data;
  data.channels = channels;
  data.height = data.width = image_size;
  if (!stream.labels.classes.empty()) data.label_sets.push_back(stream.labels.label_set());
  if (o.eval)
    data.test = load_record_examples(stream.test, stream.labels, processor, channels, image_size, skip, &stream.bad);
  SG_CHECK(o.vocab_captions >= 0, "train: --vocab-captions must be 0 or more, got {}", o.vocab_captions);
  const size_t caption_limit = o.vocab_captions > 0 ? static_cast<size_t>(o.vocab_captions) : SIZE_MAX;
  if (captions)
    for (size_t i = 0; i < stream.train.size() && captions->size() < caption_limit; ++i)
      captions->push_back(stream.train[i].caption);
  fmt::print("data: {}: {} training records (images streamed){}; test split: {}; read in {:.1f}s\n", o.data,
             stream.train.size(), stream.bad ? fmt::format(", {} bad left out", stream.bad) : "",
             o.eval ? fmt::format("{} samples in memory", data.test.size()) : "not loaded (--no-eval)",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const std::string& b : stream.bad_log) fmt::print(stderr, "data: left out: {}\n", b);
  std::vector<ShardSample>().swap(stream.test);
  return stream;
}

}  // namespace

std::unique_ptr<nn::AdamW> make_adamw(std::vector<std::pair<std::string, Tensor*>> params, const TrainOptions& o) {
  nn::AdamWConfig ac;
  ac.beta2 = o.beta2;
  ac.weight_decay = o.weight_decay;
  const LrMultipliers mult = LrMultipliers::parse(o.lr_mult);
  return std::make_unique<nn::AdamW>(std::move(params), ac, [mult](const std::string& name, const Tensor& p) {
    return param_rule(name, p, mult);  // siglip/param_groups.h: weight matrices decay; per-group multipliers
  });
}

RunSetup::RunSetup(TrainOptions given) : opt(std::move(given)) {
  std::optional<TrainerState> saved;
  if (!opt.resume.empty()) {
    resumed_from = resolve_checkpoint(opt.resume);
    saved = TrainerState::load(resumed_from);
    opt = merge_resumed_options(opt, *saved);
    step = saved->step;
    // Another world size keeps the global batch and the data position; every rank still needs a row of it.
    const int ranks = dist::world().size();
    SG_CHECK(saved->world_size == ranks || opt.batch >= ranks,
             "train: {} was written by {} rank(s) and is resumed on {}: its global batch of {} cannot be split over "
             "{} ranks (every rank needs at least one example; resume on at most {})",
             resumed_from, saved->world_size, ranks, opt.batch, ranks, opt.batch);
  }
  validate(opt, step);
  // Rank 0 alone measures the bf16 rate (about 0.1 s), since it alone prints and under mpirun the ranks share the
  // cores.
  opt.precision = effective_precision(opt.precision, opt.device, "train", dist::world().rank() == 0);
  run_communicator(opt);  // NCCL: this rank's GPU, before any CUDA tensor
  // --init and --lock-image matter to a fresh run only: a resumed one has every weight and its config.json.
  const std::string init_dir = opt.init.empty() || saved ? "" : resolve_checkpoint(opt.init);
  const std::string lock_dir = opt.lock_image.empty() || saved ? "" : resolve_checkpoint(opt.lock_image);

  config = saved ? SiglipConfig::load(resumed_from + "/config.json") : base_config(opt, init_dir, lock_dir);
  // A pre-trained image tower sees the data with its own channels (grey data is repeated to RGB).
  const bool pretrained_vision = !init_dir.empty() || !lock_dir.empty() || saved;
  const int channels = opt.channels > 0 ? opt.channels : pretrained_vision ? static_cast<int>(config.vision.num_channels) : 0;
  SG_CHECK(!pretrained_vision || channels == config.vision.num_channels,
           "train: --channels {}: the image tower of {} takes {} channels", channels,
           saved ? resumed_from : !lock_dir.empty() ? lock_dir : init_dir, config.vision.num_channels);
  // Images are prepared as the pre-trained tower (or the resumed run) expects them.
  const std::string processor_dir = saved ? resumed_from : !lock_dir.empty() ? lock_dir : init_dir;
  image_processor = processor_dir.empty() ? ImageProcessor::siglip_default(config.vision.image_size)
                                          : checkpoint_image_processor(processor_dir, config);
  const int image_size = static_cast<int>(config.vision.image_size);
  std::vector<std::string> captions;  // of the training examples, for a fresh tokenizer
  std::optional<ShardScan> scan;
  std::optional<CaptionStream> records;
  ShardLabels shard_labels;
  std::vector<std::string>* fresh_captions = init_dir.empty() && !saved ? &captions : nullptr;
  if (is_shard_spec(opt.data)) {
    scan = scan_shard_data(opt, image_processor, image_size, channels <= 0 ? 3 : channels, fresh_captions,
                           shard_labels, data);
    train_examples = scan->total;
  } else if (is_caption_file(opt.data)) {
    SG_CHECK(opt.eval_data.empty(), "train: --eval-data is for WebDataset shards; --data {} has its own test split",
             opt.data);
    records = read_caption_data(opt, image_processor, image_size, channels <= 0 ? 3 : channels, fresh_captions, data);
    train_examples = records->train.size();
    shard_labels = records->labels;
  } else {
    SG_CHECK(opt.eval_data.empty(), "train: --eval-data is for WebDataset shards; --data {} has its own test split",
             opt.data);
    data = load_dataset(opt.data, image_size, channels, opt.seed, &image_processor);
    train_examples = data.train.size();
    if (init_dir.empty() && !saved)
      for (const auto& e : data.train) captions.push_back(e.caption);
  }
  config.vision.num_channels = data.channels;
  SG_CHECK(static_cast<int64_t>(train_examples) >= opt.batch, "train: batch {} is larger than the {} training examples",
           opt.batch, train_examples);
  tokenizer = run_tokenizer(captions, config, resumed_from, init_dir);
  std::vector<std::string>().swap(captions);
  // The token table has the tokenizer's size unless --vocab asks for more rows (a benchmark of a real-sized
  // table, e.g. SigLIP-B/16's 32000, on a small caption set: the extra rows are never indexed). With --init it is
  // the checkpoint's, as for a resumed run.
  if (init_dir.empty() && !saved) {
    config.text.vocab_size = std::max<int64_t>({tokenizer.vocab_size(), 2, opt.vocab});
  } else {
    SG_CHECK(opt.vocab == 0 || opt.vocab == config.text.vocab_size,
             "train: --vocab {} differs from the vocabulary of {} ({} tokens)", opt.vocab, saved ? resumed_from : init_dir,
             config.text.vocab_size);
    SG_CHECK(tokenizer.vocab_size() <= config.text.vocab_size, "train: {}: its tokenizer has {} tokens but its "
             "config's vocab_size is {}", saved ? resumed_from : init_dir, tokenizer.vocab_size(), config.text.vocab_size);
  }
  config.init_temp = opt.init_temp;
  // auto: b = -log(B - 1) makes sigmoid(b) = 1/(B - 1), the best constant when one pair in B is positive. The
  // paper's -10 is tuned for B near 32k; at small B it starts far from that and collapsed in our measurements.
  config.init_bias = opt.init_bias.initial(opt.batch);
  config.validate("train");

  model = build_model(config, opt, resumed_from, init_dir, lock_dir);
  optimizer = build_optimizer(*model, opt);
  const int64_t T = config.text.max_position_embeddings;
  streamed = scan || records;
  if (streamed) {
    ShardLoaderOptions lo;
    lo.batch_size = static_cast<int>(opt.batch);
    lo.text_len = static_cast<int>(T);
    lo.channels = data.channels;
    lo.image_size = image_size;
    lo.seed = opt.seed;
    lo.workers = opt.workers;
    lo.shuffle_buffer = static_cast<uint64_t>(opt.shuffle_buffer);
    lo.skip_bad = opt.on_bad_sample == BadSample::Skip;
    lo.augment = crop_augment(opt);
    lo.scaled_decode = !opt.exact_decode;
    const dist::BatchSplit split = dist::split_batch(opt.batch, dist::world().size());
    if (split.rows.size() > 1 && !lo.skip_bad) {  // data parallel: this rank decodes the images of its rows only
      lo.image_rows_begin = split.offsets[static_cast<size_t>(dist::world().rank())];
      lo.image_rows = split.rows[static_cast<size_t>(dist::world().rank())];
    }
    if (scan)
      loader = std::make_unique<ShardLoader>(std::move(*scan), std::move(shard_labels), tokenizer, image_processor, lo);
    else
      loader = std::make_unique<ShardLoader>(std::move(records->train), std::move(shard_labels), tokenizer,
                                             image_processor, lo, records->bad);
  } else {
    loader = std::make_unique<BatchLoader>(data.train, tokenizer, static_cast<int>(opt.batch), static_cast<int>(T),
                                           data.channels, data.height, data.width, opt.seed, 2, crop_augment(opt));
  }
  if (saved) {
    optimizer->load_state(load_safetensors(resumed_from + "/optimizer.safetensors"), saved->optimizer_steps);
    loader->seek(saved->loader);
    if (saved->before_streaming && is_caption_file(opt.data))
      fmt::print("note: {} was saved when caption files were loaded whole; they are streamed now, in another order, "
                 "so the resumed run does not take the batches the original run would have\n", resumed_from);
    fmt::print("resumed {} at step {}\n", resumed_from, step);
    if (saved->world_size != dist::world().size())
      fmt::print("world size: the checkpoint was written by {} rank(s), this run has {}; the global batch of {} and "
                 "the data position are the same, so the run continues with the same samples\n",
                 saved->world_size, dist::world().size(), opt.batch);
  }
}

}  // namespace sg
