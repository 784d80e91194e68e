// train_options.h: every option of `siglip train`, defined once (see siglip/options.h for what derives from it:
// the parser, `siglip train --help`, trainer_state.json and the table in README.md).
#pragma once
#include <cstdint>
#include <string>

#include "siglip/choices.h"
#include "siglip/options.h"

namespace sg {

struct TrainOptions {
  static constexpr const char* command = "train";
  static constexpr const char* summary =
      "train SigLIP on a data set: checkpoints, resume, metrics.jsonl, a final zero-shot evaluation";

  std::string data, config, eval_data;
  int workers;
  int64_t shuffle_buffer;
  BadSample on_bad_sample;
  Augment augment;
  std::string crop_scale;
  bool exact_decode;
  int64_t steps, batch, accum_steps, warmup;
  double lr, weight_decay, beta2, clip, grad_bucket_mb, comm_timeout;
  Loss loss;
  Positives positives;
  InitBias init_bias;
  double init_temp;
  Device device;
  Precision precision;
  Comm comm;
  uint64_t seed;
  std::string out, resume, init, lock_image, lr_mult, dump_grads;
  Freeze freeze;
  int64_t log_every, ckpt_every, eval_limit, eval_every, dump_every, check_params_every;
  bool eval;
  int image_size, patch_size, text_layers, channels;
  int64_t vocab, vocab_captions;
  int threads;
  bool profile;
  bool detect_anomaly;
  // Not options: set by the command line when --init-temp / --init-bias were given. With --init they replace the
  // checkpoint's t' and b; without them the checkpoint's are kept.
  bool init_temp_given = false, init_bias_given = false;

  TrainOptions() { set_defaults(*this); }
};

template <class V>
void describe(TrainOptions& o, V& v) {
  // what the model learns from
  v.option(o.data, "data", "shapes", "SPEC",
           "shapes[:TRAIN:TEST], fashion-mnist[:TRAIN:TEST], your FILE.tsv / FILE.jsonl of images and captions (streamed; "
           "every tenth line is the test split), or WebDataset shards 'DIR/{00000..00099}.tar' (streamed; the last "
           "shard is the test split unless --eval-data)");
  v.option(o.eval_data, "eval-data", "", "SPEC",
           "shards: the test split, loaded into memory (default: the last of several shards; one shard: none)");
  v.option(o.workers, "workers", 2, "N",
           "streamed data (shards, caption files): threads decoding and resizing images ahead of the steps");
  v.option(o.shuffle_buffer, "shuffle-buffer", 1000, "N",
           "shards: samples in the shuffle buffer (the shard order is shuffled per epoch too; a caption file's records "
           "are shuffled whole)");
  v.option(o.on_bad_sample, "on-bad-sample", BadSample::Fail, "",
           "streamed data: a sample without image or caption, an image that does not decode, a damaged shard or a "
           "malformed caption line stops the run (naming shard and key, or file:line), or is left out and counted");
  v.option(o.augment, "augment", Augment::None, "",
           "training images used whole (the paper), or a random resized crop (area --crop-scale, aspect ratio 3/4 to "
           "4/3) resized to the model's size; evaluation never augments");
  v.option(o.crop_scale, "crop-scale", "0.05,1", "MIN,MAX",
           "with --augment crop: the crop's area as a fraction of the image, uniform in [MIN, MAX]");
  v.option(o.exact_decode, "exact-decode", false, "",
           "streamed data: decode JPEGs at full size, as SiglipImageProcessor does (default: at libjpeg's smallest "
           "scale 1/2, 1/4 or 1/8 that still covers the model's image size; faster on big photos)");
  v.option(o.config, "config", "tiny", "NAME|FILE", "model size: tiny, micro, small, b16 or a config.json");
  v.option(o.init, "init", "", "DIR",
           "start from this checkpoint (ours or `siglip import`ed): its config, tokenizer and weights, with t' and b "
           "kept unless --init-temp/--init-bias are given, and a new optimizer");
  v.option(o.image_size, "image-size", 0, "N", "image side in pixels (0: the config's)");
  v.option(o.patch_size, "patch-size", 0, "N", "a new model's patch side in pixels (0: the config's)");
  v.option(o.text_layers, "text-layers", -1, "N", "a new text tower's Transformer layers (-1: the config's)");
  v.option(o.channels, "channels", 0, "N", "image channels (0: the data set's own)");
  v.option(o.vocab, "vocab", 0, "N", "rows of the token table (0: the tokenizer's size; more: padded, for benchmarks)");
  v.option(o.vocab_captions, "vocab-captions", 20000, "N",
           "streamed data, a new model: its word tokenizer is counted over the first N training captions in file "
           "order (0: all; with shardindex.json, start-up then does not grow with the data set)");
  // the optimisation
  v.option(o.steps, "steps", 300, "N", "optimizer steps in all (with --resume: the new total; default there: the saved)");
  v.option(o.batch, "batch", 128, "N", "pairs per batch");
  v.option(o.accum_steps, "accum-steps", 1, "K",
           "run the towers over the batch (a rank's rows under mpirun) in K micro-batches: their embeddings are "
           "cached, the loss is over the whole batch (all its negatives), and each micro-batch is run again to "
           "backpropagate its rows; activations are held for b/K rows (an uneven b: some micro-batches take one row "
           "more)");
  v.option(o.lr, "lr", 1e-3, "X", "peak learning rate (linear warm-up, then cosine decay to 0)");
  v.option(o.warmup, "warmup", -1, "N", "warm-up steps (-1: 10% of --steps)");
  v.option(o.weight_decay, "weight-decay", 1e-4, "X",
           "AdamW weight decay of the weight matrices (not of biases, norms, embedding tables, the probe, t' or b)");
  v.option(o.beta2, "beta2", 0.95, "X", "AdamW beta2");
  v.option(o.clip, "clip", 1.0, "X", "clip the global gradient norm to X (0: no clipping)");
  v.option(o.seed, "seed", 0, "N", "seed of the weights, the data order and the synthetic data");
  // the loss
  v.option(o.loss, "loss", Loss::Sigmoid, "", "pairwise sigmoid (SigLIP) or softmax (CLIP)");
  v.option(o.positives, "positives", Positives::Diagonal, "",
           "positive pairs: the matching pair only, identical captions, or the same class label");
  v.option(o.init_bias, "init-bias", InitBias{}, "",
           "initial logit bias b; auto: -log(B - 1), or log(p / (B - p)) from the first batch's positives");
  v.option(o.init_temp, "init-temp", 2.302585092994046, "X", "initial log temperature t' (t = exp(t'); log 10)");
  v.option(o.lock_image, "lock-image", "", "CKPT",
           "load the image tower (and its config) from this checkpoint and freeze it: SigLiT");
  v.option(o.freeze, "freeze", Freeze::None, "", "a tower that is not trained (no gradient, no optimizer state)");
  v.option(o.lr_mult, "lr-mult", "", "GROUP=X,...",
           "learning-rate multipliers of parameter groups: vision, text, loss (t' and b); e.g. vision=0.1");
  // where and how it runs
  v.option(o.device, "device", Device::CPU, "", "where the model trains");
  v.option(o.precision, "precision", Precision::F32, "",
           "bf16: bf16 activations and GEMM operands, f32 master weights and loss (CPU: f32 where it has no bf16 "
           "dot products, AVX512_BF16 or AMX)");
  v.option(o.threads, "threads", 0, "N", "CPU threads (OpenMP, OpenBLAS, oneDNN; 0: as the environment sets)");
  v.option(o.profile, "profile", false, "",
           "per-kernel time table at the end (every kernel synchronised; also SG_PROFILE=1)");
  v.option(o.detect_anomaly, "detect-anomaly", false, "",
           "stop at the first op whose output or gradient has a NaN or Inf, naming it (slow; also SG_DETECT_ANOMALY=1)");
  v.option(o.check_params_every, "check-params-every", 0, "N",
           "under mpirun: compare a hash of all parameters across the ranks every N steps, an error naming the ranks "
           "that differ (0: never)");
  v.option(o.grad_bucket_mb, "grad-bucket-mb", 4.0, "X",
           "under mpirun: the gradients are summed over the ranks in buckets of about X MB, each started during "
           "backward as soon as its gradients are complete");
  v.option(o.comm, "comm", Comm::Auto, "",
           "under mpirun with --device cuda: NCCL between GPUs, or MPI with CUDA tensors copied through host memory; "
           "auto: NCCL where the build has it and the host has a GPU per rank");
  v.option(o.comm_timeout, "comm-timeout", 600.0, "SECONDS",
           "under mpirun: a rank that waits longer than this for one collective or message (another rank hangs) stops "
           "the run, naming the operation (0: wait forever); waits while rank 0 evaluates are not limited");
  // output
  v.option(o.out, "out", "runs/default", "DIR", "run directory: step-N checkpoints, latest, metrics.jsonl, train.png");
  v.option(o.resume, "resume", "", "DIR", "continue the run in DIR from its latest checkpoint, with its saved options");
  v.option(o.log_every, "log-every", 25, "N", "print a progress line every N steps");
  v.option(o.ckpt_every, "ckpt-every", 0, "N", "checkpoint every N steps (0: only at the end)");
  v.option(o.dump_grads, "dump-grads", "", "PATTERNS",
           "gradients of the parameters matching these comma-separated globs over HF names (e.g. "
           "vision_model.encoder.layers.0.*,logit_*), before clipping and the optimizer step, to "
           "RUN/grads/step-N.safetensors");
  v.option(o.dump_every, "dump-every", 1, "N", "with --dump-grads: every N steps");
  v.option(o.eval, "eval", true, "", "skip the zero-shot and retrieval evaluations");
  v.option(o.eval_every, "eval-every", 0, "N",
           "also evaluate every N steps and at step 0 (0: at the end only; with --init or --lock-image: and at step 0)");
  v.option(o.eval_limit, "eval-limit", 0, "N", "test examples for the final evaluation (0: all)");
}

}  // namespace sg
