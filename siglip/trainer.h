// trainer.h: the training loop: data -> SigLIP -> sigmoid (or softmax) loss -> backward -> clip -> AdamW, with
// metrics, checkpoints, collapse detection, profiling and evaluations (at the end; with --eval-every or a
// pre-trained start also at step 0 and every N steps), each an object of its own:
//   RunSetup (run_setup.h)          options, resume, config, data, tokenizer, model, optimizer, loader
//   MetricsLog (metrics_log.h)      metrics.jsonl, the progress line, train.png, the closing lines
//   CheckpointWriter                step-N directories, `latest`, rotation
//   CollapseProbe, StepProfile, ThreadCountScope, GradDump (--dump-grads)
// Under `mpirun -np D` it trains data-parallel (README "More than one device"): every rank takes the same global
// batch of --batch examples from the same data order and keeps its rows (dist::split_batch), the loss is
// dist::sigmoid_loss_ring or dist::softmax_loss_gather, the gradients are summed over ranks in buckets during
// backward (dist::GradientBuckets), and rank 0 alone prints, writes metrics and checkpoints, and evaluates.
// With --accum-steps K > 1 the towers run over K micro-batches of the (rank's) batch, first without graphs for the
// embeddings that the loss of the whole batch takes, then again with graphs to backpropagate (accum_step.h).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "dist/communicator.h"
#include "dist/grad_buckets.h"

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
  std::optional<DType> compute_dtype() const;  // the towers': BF16 under --precision bf16, else none
  Embeddings forward(const Batch& batch);
  void set_bias_from_first_batch(const Batch& batch);
  Tensor loss_of(const Embeddings& e, const Batch& global);  // this rank's share of the global batch's loss
  Batch rows_of(const Batch& global) const;                   // this rank's rows of the global batch
  void broadcast_parameters();                                // rank 0's values everywhere
  void check_parameters_agree(int64_t after_step);            // --check-params-every
  double checked_value(const Tensor& loss);                   // the global loss (summed over ranks)
  [[noreturn]] void fail_non_finite_gradient(const Tensor& loss) const;
  bool checkpoint_due() const;
  void save_checkpoint(int64_t at_step);
  void evaluate_at(int64_t step);  // zero-shot and retrieval on the test split, printed and in metrics.jsonl
  void print_summary() const;

  ThreadCountScope threads_;  // first: set-up runs with --threads too
  RunSetup run_;
  const TrainOptions& opt_;
  dist::Communicator& comm_;      // one process, or the ranks of mpirun (MPI; NCCL for CUDA tensors)
  dist::BatchSplit split_;        // the global batch's rows per rank
  bool lead_;                     // rank 0: the only one that prints and writes files
  std::vector<Tensor*> trained_;  // parameters with requires_grad
  std::unique_ptr<dist::GradientBuckets> buckets_;  // more than one rank: the gradients' all-reduce
  uint64_t loss_bytes_ = 0, grad_bytes_ = 0;        // sent by this rank, summed over the steps run
  GradDump grad_dump_;            // --dump-grads; checks its patterns before anything is written
  int64_t warmup_;
  MetricsLog log_;
  CheckpointWriter checkpoints_;
  CollapseProbe collapse_;
};

}  // namespace sg
