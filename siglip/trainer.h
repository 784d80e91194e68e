// trainer.h: the training loop: data -> SigLIP -> sigmoid (or softmax) loss -> backward -> clip -> AdamW, with
// metrics, checkpoints, collapse detection, profiling and evaluations (at the end; with --eval-every or a
// pre-trained start also at step 0 and every N steps), each an object of its own:
//   RunSetup (run_setup.h)          options, resume, config, data, tokenizer, model, optimizer, loader
//   MetricsLog (metrics_log.h)      metrics.jsonl, the progress line, train.png, the closing lines
//   CheckpointWriter                step-N directories, `latest`, rotation
//   CollapseProbe, StepProfile, ThreadCountScope, GradDump (--dump-grads)
#pragma once
#include <vector>

#include "siglip/checkpoint_writer.h"
#include "siglip/collapse_probe.h"
#include "siglip/grad_dump.h"
#include "siglip/metrics_log.h"
#include "siglip/run_setup.h"
#include "siglip/threads.h"

namespace sg {

class Trainer {
 public:
  explicit Trainer(TrainOptions opt);  // builds (or resumes) the run; throws sg::Error on bad input
  double run();                        // trains to opt.steps, checkpoints, evaluates; returns the last loss

 private:
  struct Embeddings {
    Tensor image, text;  // [B, D] f32, L2-normalised
  };
  Embeddings forward(const Batch& batch);
  void set_bias_from_first_batch(const Batch& batch);
  Tensor loss_of(const Embeddings& e, const Batch& batch);
  double checked_value(const Tensor& loss) const;
  [[noreturn]] void fail_non_finite_gradient(const Tensor& loss) const;
  bool checkpoint_due() const;
  void save_checkpoint(int64_t at_step);
  void evaluate_at(int64_t step);  // zero-shot and retrieval on the test split, printed and in metrics.jsonl
  void print_summary() const;

  ThreadCountScope threads_;  // first: set-up runs with --threads too
  RunSetup run_;
  const TrainOptions& opt_;
  std::vector<Tensor*> trained_;  // parameters with requires_grad
  GradDump grad_dump_;            // --dump-grads; checks its patterns before anything is written
  int64_t warmup_;
  MetricsLog log_;
  CheckpointWriter checkpoints_;
  CollapseProbe collapse_;
};

}  // namespace sg
