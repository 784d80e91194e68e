// train.h: the training loop: data -> SigLIP -> sigmoid (or softmax) loss -> backward -> clip -> AdamW,
// with progress, metrics.jsonl, checkpoints, resume, collapse detection and a final evaluation.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace sg {

struct TrainOptions {
  std::string data = "shapes";
  std::string config;          // a config.json path or a preset name (tiny, micro, b16)
  int64_t steps = 300;
  int64_t batch = 128;
  double lr = 1e-3;
  int64_t warmup = -1;         // -1: 10% of the steps
  double weight_decay = 1e-4;
  double beta2 = 0.95;
  double clip = 1.0;
  std::string loss = "sigmoid";       // sigmoid | softmax
  std::string positives = "diagonal"; // diagonal | caption | label
  std::string init_bias = "auto";     // "auto" = -log(B - 1), else a number (the paper: -10)
  double init_temp = 2.302585092994046;
  std::string device = "cpu";
  uint64_t seed = 0;
  std::string out = "runs/default";
  std::string resume;          // a run directory to continue
  std::string lock_image;      // a checkpoint whose image tower is loaded and frozen (SigLiT)
  int64_t log_every = 25;
  int64_t ckpt_every = 0;      // 0: only at the end
  int64_t eval_limit = 0;      // test examples for the final evaluation (0: all)
  bool eval = true;
  int image_size = 0;          // 0: the config's
  int channels = 0;            // 0: the dataset's own
  int64_t vocab = 0;           // rows of the token table: 0 = the tokenizer's size; more = padded (benchmarks)
  std::string precision = "f32";  // f32 | bf16 (bf16 activations and GEMM operands, f32 master weights)
  bool profile = false;        // per-kernel timing table at the end (syncs after every kernel: slower)
  // Saved in trainer_state.json as JSON (siglip/train.cpp lists the fields once).
};

// Runs training; returns the final loss. Throws sg::Error on bad input (nothing saved is damaged).
double train(TrainOptions opt);

}  // namespace sg
