#include "siglip/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "autograd/anomaly.h"
#include "dist/losses.h"
#include "nn/fileio.h"
#include "nn/module.h"
#include "nn/safetensors.h"
#include "siglip/accum_step.h"
#include "siglip/checkpoint.h"
#include "siglip/eval.h"
#include "siglip/loss.h"
#include "siglip/shard_spec.h"
#include "siglip/step_profile.h"
#include "tensor/allocator.h"
#include "tensor/ops.h"

namespace sg {
namespace {

std::vector<Tensor*> trained_parameters(SiglipModel& model) {
  std::vector<Tensor*> params;
  for (Tensor* p : model.parameters())
    if (p->requires_grad()) params.push_back(p);
  return params;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double train(const TrainOptions& opt) { return Trainer(opt).run(); }

Trainer::Trainer(TrainOptions opt)
    : threads_(opt.threads),
      run_(std::move(opt)),
      opt_(run_.opt),
      comm_(run_communicator(opt_)),
      split_(dist::split_batch(opt_.batch, comm_.size())),
      lead_(comm_.rank() == 0),
      trained_(trained_parameters(*run_.model)),
      grad_dump_(*run_.model, opt_.dump_grads, opt_.dump_every, opt_.out),
      warmup_(opt_.warmup >= 0 ? opt_.warmup : opt_.steps / 10),
      log_(opt_.out, run_.step, run_.resumed_from.empty(), opt_.steps, opt_.batch, opt_.log_every, lead_),
      checkpoints_(opt_.out),
      collapse_(opt_.batch, opt_.loss, opt_.positives, split_.rows[comm_.rank()]) {
  const int64_t fewest_rows = *std::min_element(split_.rows.begin(), split_.rows.end());
  SG_CHECK(opt_.accum_steps <= fewest_rows, "train: --accum-steps {} is more than the {} pairs a rank holds of the "
           "batch of {} on {} ranks (each micro-batch needs at least one pair)", opt_.accum_steps, fewest_rows,
           opt_.batch, comm_.size());
  if (comm_.size() > 1) {
    comm_.set_timeout(opt_.comm_timeout);
    dist::world().set_timeout(opt_.comm_timeout);  // NCCL's CPU tensors and the barrier at exit go through MPI
    broadcast_parameters();
    SG_CHECK(opt_.grad_bucket_mb > 0, "train: --grad-bucket-mb {} must be positive", opt_.grad_bucket_mb);
    buckets_ = std::make_unique<dist::GradientBuckets>(comm_, trained_,
                                                       static_cast<size_t>(opt_.grad_bucket_mb * (1 << 20)));
  }
  print_summary();
}

double Trainer::run() {
  DetectAnomalyGuard anomaly(opt_.detect_anomaly || anomaly_detection_enabled());
  const int64_t first_step = run_.step;
  allocator_reset_peak(Device::CPU);
  StepProfile profile(opt_.profile, first_step);
  log_.start_clock(first_step);
  // Step 0: the starting point against which a fine-tuning run's collapse (or progress) shows.
  const bool pretrained = !opt_.init.empty() || !opt_.lock_image.empty();
  if (opt_.eval && first_step == 0 && (opt_.eval_every > 0 || pretrained)) evaluate_at(0);
  double loss_value = NAN;
  for (int64_t& step = run_.step; step < opt_.steps; ++step) {
    profile.begin_step(step);
    const auto t0 = std::chrono::steady_clock::now();
    const Batch global = run_.loader->next();
    const Batch batch = comm_.size() > 1 ? rows_of(global) : global;
    const double lr = nn::lr_at(step, opt_.steps, warmup_, opt_.lr);
    // --accum-steps K > 1: the embeddings of K micro-batches without graphs (accum_step.h); else one forward.
    std::optional<AccumulatedStep> accumulated;
    if (opt_.accum_steps > 1)
      accumulated.emplace(*run_.model, batch.images, batch.ids, opt_.accum_steps, compute_dtype());
    const Embeddings emb = accumulated ? Embeddings{accumulated->image(), accumulated->text()} : forward(batch);
    if (step == 0) set_bias_from_first_batch(global);
    collapse_.capture(*run_.model, emb.image, emb.text);
    const uint64_t bytes_before = comm_.bytes_sent();
    Tensor loss = loss_of(emb, global);
    if (!accumulated) {
      if (buckets_) buckets_->arm(loss);  // the gradients' all-reduces start during backward
      loss.backward();
    } else {
      loss.backward();  // to the cached embeddings, t' and b (the ring's or gather's messages included)
      // The micro-batches' backward passes; the buckets are armed for the last one and start from the gradients
      // the earlier ones left, so the all-reduce runs once per step.
      const bool armed = accumulated->backward([&](const Tensor& last) {
        if (buckets_) buckets_->arm(last);
      });
      if (buckets_ && !armed) buckets_->reduce_held();  // no tower trains: t' and b alone
    }
    if (buckets_) {
      buckets_->finish();
      grad_bytes_ += buckets_->bytes_sent_last_step();
      loss_bytes_ += comm_.bytes_sent() - bytes_before - buckets_->bytes_sent_last_step();
    }
    if (lead_ && grad_dump_.due(step + 1)) grad_dump_.write(step + 1);  // before clipping and the optimizer step
    const double grad_norm = nn::clip_grad_norm(trained_, opt_.clip);
    if (!std::isfinite(grad_norm)) fail_non_finite_gradient(loss);  // before the step: the weights stay as they are
    run_.optimizer->step(lr);
    run_.optimizer->zero_grad();
    loss_value = checked_value(loss);
    if (opt_.check_params_every > 0 && (step + 1) % opt_.check_params_every == 0) check_parameters_agree(step + 1);
    const double step_s = seconds_since(t0);
    profile.end_step(step, step_s);

    const CollapseProbe::Reading probe = collapse_.check(step + 1, loss_value);
    if (!probe.warning.empty()) log_.warn(probe.warning);
    log_.step({.step = step + 1,
               .loss = loss_value,
               .t = std::exp(run_.model->logit_scale.item()),
               .b = run_.model->logit_bias.item(),
               .lr = lr,
               .grad_norm = grad_norm,
               .step_s = step_s,
               .logit_std = probe.spread});
    if (checkpoint_due()) save_checkpoint(step + 1);
    if (opt_.eval && opt_.eval_every > 0 && (step + 1) % opt_.eval_every == 0 && step + 1 < opt_.steps)
      evaluate_at(step + 1);
  }
  const double total_s = log_.elapsed_s();
  profile.print_report(opt_.steps);
  if (comm_.size() > 1 && run_.step > first_step) {
    const double steps = static_cast<double>(run_.step - first_step);
    fmt::print("communication: rank 0 sent {:.0f} bytes per step: loss {:.0f} ({}), gradients {:.0f} ({} buckets, "
               "all-reduce)\n", static_cast<double>(loss_bytes_ + grad_bytes_) / steps,
               static_cast<double>(loss_bytes_) / steps,
               opt_.loss == Loss::Sigmoid ? "sigmoid ring" : "softmax all-gather",
               static_cast<double>(grad_bytes_) / steps, buckets_->buckets());
  }
  if (run_.step > first_step) save_checkpoint(opt_.steps);  // else the latest checkpoint is already this step
  log_.finish(total_s, opt_.out + "/" + CheckpointWriter::step_name(opt_.steps));
  if (run_.streamed) log_.data_report(opt_.steps, run_.loader->bad_samples());
  if (opt_.eval) evaluate_at(opt_.steps);
  return loss_value;
}

void Trainer::evaluate_at(int64_t step) {
  if (lead_) {
    if (run_.data.test.empty() && is_shard_spec(opt_.data))  // one shard and no --eval-data
      fmt::print("no evaluation: the shards have no test split (give --eval-data)\n");
    else
      log_.evaluation(step, evaluate(*run_.model, run_.tokenizer, run_.data, static_cast<size_t>(opt_.eval_limit)));
  }
  if (comm_.size() > 1) {  // the other ranks wait for rank 0's evaluation here, as long as it takes
    dist::TimeoutScope no_limit(comm_, 0);
    comm_.barrier();
  }
}

std::optional<DType> Trainer::compute_dtype() const {
  // bf16: the towers run in bf16 (f32 master weights); their outputs come back as f32 embeddings.
  if (opt_.precision == Precision::BF16) return DType::BF16;
  return std::nullopt;
}

Trainer::Embeddings Trainer::forward(const Batch& batch) {
  std::optional<nn::ComputeDTypeGuard> mixed;
  if (const std::optional<DType> c = compute_dtype()) mixed.emplace(*c);
  Embeddings e;
  e.image = run_.model->image_embeds(batch.images);
  e.text = run_.model->text_embeds(batch.ids);
  return e;
}

// --init-bias auto with captions or labels as positives: with p positives per row on average in the first batch,
// sigmoid(b) = p / B is the best constant start, b = log(p / (B - p)).
void Trainer::set_bias_from_first_batch(const Batch& batch) {
  if (!opt_.init_bias.is_auto() || opt_.positives == Positives::Diagonal) return;
  if (!opt_.init.empty() && !opt_.init_bias_given) return;  // --init keeps the checkpoint's b
  const double B = static_cast<double>(opt_.batch);
  Tensor labels = positive_labels(opt_.positives, batch.captions, batch.labels);  // [B, B] of +-1
  const double p = (sum(labels).item() / B + B) / 2;
  NoGradGuard ng;
  run_.model->logit_bias.detach().fill_(std::log(p / (B - p)));
  fmt::print("init bias: {:.2f} positives per row in the first batch, b = log(p / (B - p)) = {:.3f}\n", p,
             run_.model->logit_bias.item());
}

Tensor Trainer::loss_of(const Embeddings& e, const Batch& batch) {
  SiglipModel& m = *run_.model;
  if (comm_.size() > 1) {
    // Group ids over the whole global batch, so that they mean the same on every rank; this rank's rows of them.
    const int r = comm_.rank();
    const Tensor groups = positive_groups(opt_.positives, batch.captions, batch.labels)
                              .narrow(0, split_.offsets[r], split_.rows[r])
                              .contiguous()
                              .to(opt_.device);  // [b]
    if (opt_.loss == Loss::Sigmoid)
      return dist::sigmoid_loss_ring(comm_, e.image, e.text, m.logit_scale, m.logit_bias, groups, split_.rows);
    return dist::softmax_loss_gather(comm_, e.image, e.text, m.logit_scale, m.logit_bias, groups, split_.rows);
  }
  switch (opt_.loss) {
    case Loss::Sigmoid: {
      // Fused and tiled: the B x B logits are recomputed in tiles, never stored (forward or backward).
      Tensor groups = positive_groups(opt_.positives, batch.captions, batch.labels).to(opt_.device);  // [B]
      return sigmoid_loss_of(e.image, e.text, m.logit_scale, m.logit_bias, groups);
    }
    case Loss::Softmax: {
      Tensor labels = positive_labels(opt_.positives, batch.captions, batch.labels).to(opt_.device);  // [B, B]
      return softmax_loss(m.logits(e.image, e.text), labels);
    }
  }
  fail("train: loss {} has no implementation", static_cast<int>(opt_.loss));
}

// A NaN or Inf gradient: names the loss if it is not finite itself, else the first parameter whose gradient is
// not. The optimizer step has not run, so the weights (and every checkpoint) are those of the step before.
void Trainer::fail_non_finite_gradient(const Tensor& loss) const {
  const double v = loss.item();
  SG_CHECK(std::isfinite(v), "train: loss became {} at step {}; the step was not applied. Lower --lr or raise --clip; "
           "--detect-anomaly names the op that made it", v, run_.step + 1);
  for (const auto& [name, p] : run_.model->named_parameters()) {
    if (!p->requires_grad() || !p->grad().defined()) continue;
    std::vector<double> g = p->grad().to_vector<double>();
    for (size_t i = 0; i < g.size(); ++i)
      SG_CHECK(std::isfinite(g[i]), "train: the gradient of {} is {} at element {} at step {} (loss {}); the step was "
               "not applied. --detect-anomaly names the op that made it", name, g[i], i, run_.step + 1, v);
  }
  fail("train: the gradient norm is not finite at step {} (loss {}); the step was not applied", run_.step + 1, v);
}

Batch Trainer::rows_of(const Batch& global) const {
  const int r = comm_.rank();
  const int64_t off = split_.offsets[r], n = split_.rows[r];
  Batch mine;
  const int64_t held = global.images.size(0);  // the loader may have decoded this rank's rows only
  SG_CHECK(global.image_row0 <= off && off + n <= global.image_row0 + held, "train: rank {} needs rows [{}, {}) of the "
           "batch, the loader gave images of rows [{}, {})", r, off, off + n, global.image_row0, global.image_row0 + held);
  mine.images = global.images.narrow(0, off - global.image_row0, n).contiguous();  // [b, C, H, W]
  mine.ids = global.ids.narrow(0, off, n).contiguous();        // [b, T]
  mine.captions.assign(global.captions.begin() + off, global.captions.begin() + off + n);
  if (!global.labels.empty()) mine.labels.assign(global.labels.begin() + off, global.labels.begin() + off + n);
  return mine;
}

void Trainer::broadcast_parameters() {
  NoGradGuard ng;
  for (Tensor* p : run_.model->parameters()) {
    Tensor values = p->detach();
    comm_.broadcast(values, 0);
  }
}

void Trainer::check_parameters_agree(int64_t after_step) {
  dist::check_same_on_all_ranks(comm_, dist::hash_values(run_.model->parameters()),
                                fmt::format("train: the hash of all parameters after step {}", after_step));
}

double Trainer::checked_value(const Tensor& loss) {
  double v = loss.item();
  if (comm_.size() > 1) {  // this rank's share: the loss is the sum of the shares
    Tensor total = from_vector(std::vector<double>{v}, {1}, DType::F64);
    comm_.all_reduce_sum(total);
    v = total.item();
  }
  SG_CHECK(std::isfinite(v), "train: loss became {} at step {}; lower --lr or raise --clip", v, run_.step + 1);
  return v;
}

bool Trainer::checkpoint_due() const {
  const int64_t done = run_.step + 1;
  return opt_.ckpt_every > 0 && done % opt_.ckpt_every == 0 && done < opt_.steps;
}

void Trainer::save_checkpoint(int64_t at_step) {
  if (!lead_) return;
  TrainerState state{at_step, run_.optimizer->steps(), run_.loader->position(), opt_};
  state.world_size = comm_.size();
  checkpoints_.save(at_step, [&](const std::string& dir) {
    save_model_files(dir, *run_.model, run_.tokenizer, &run_.image_processor);
    save_safetensors(dir + "/optimizer.safetensors", run_.optimizer->state(),
                     {{"step", std::to_string(run_.optimizer->steps())}});
    write_file_atomic(dir + "/trainer_state.json", state.to_json());
  });
}

void Trainer::print_summary() const {
  const SiglipConfig& cfg = run_.config;
  int64_t trained = 0;
  for (const Tensor* p : trained_) trained += p->numel();
  fmt::print("model: {} parameters ({} trained), vision {}x{} px / patch {}, width {}, {}+{} layers; vocab {}; data {} "
             "({} train, {} test); batch {}, {} steps, loss {}, positives {}, t0 {:.2f}, b0 {:.3f}, device {}\n",
             run_.model->num_parameters(), trained, cfg.vision.image_size, cfg.vision.image_size,
             cfg.vision.patch_size, cfg.vision.hidden_size, cfg.vision.num_hidden_layers, cfg.text.num_hidden_layers,
             cfg.text.vocab_size, run_.data.name, run_.train_examples, run_.data.test.size(), opt_.batch,
             opt_.steps, choice_name(opt_.loss), choice_name(opt_.positives), std::exp(run_.model->logit_scale.item()),
             run_.model->logit_bias.item(), choice_name(opt_.device));
  if (opt_.accum_steps > 1) {
    const MicroBatches m = split_micro_batches(split_.rows[comm_.rank()], opt_.accum_steps);
    fmt::print("accumulation: the towers run over {} micro-batches of {} pairs, the loss over all {}\n",
               opt_.accum_steps, fmt::join(m.rows, "/"), opt_.batch);
  }
  if (comm_.size() > 1)
    fmt::print("data parallel: {} ranks ({}), {} of the {} pairs of a batch per rank, gradients in {} buckets; {}\n",
               comm_.size(), comm_.name(), fmt::join(split_.rows, "/"), opt_.batch, buckets_->buckets(),
               !run_.streamed                           ? "every rank holds the data set in memory"
               : opt_.on_bad_sample == BadSample::Skip ? "every rank decodes the whole batch (--on-bad-sample skip)"
                                                       : "each rank decodes the images of its own rows");
}

}  // namespace sg
