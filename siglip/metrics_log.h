// metrics_log.h: what a run reports: RUN/metrics.jsonl (one JSON line per step, one for the evaluation), the
// terminal's progress line (rewritten in place on a terminal, kept every --log-every steps), train.png, and the
// closing lines ("trained ...", "zero-shot ...", "retrieval: ...").
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "siglip/eval.h"

namespace sg {

struct StepMetrics {
  int64_t step = 0;  // counted from 1
  double loss = 0;
  double t = 0, b = 0;  // temperature exp(t') and bias after the step
  double lr = 0;
  double grad_norm = 0;  // before clipping
  double step_s = 0;     // wall time of the step
  double logit_std = 0;  // spread of the collapse probe's logits
};

class MetricsLog {
 public:
  // A fresh run starts an empty metrics.jsonl; a resumed one keeps the lines of steps <= resumed_step.
  // write_files false: nothing is written to the run directory (the ranks of a data-parallel run other than 0).
  MetricsLog(std::string run_dir, int64_t resumed_step, bool fresh, int64_t total_steps, int64_t batch, int64_t log_every,
             bool write_files = true);

  void start_clock(int64_t first_step);  // ETA and total time count from here
  double elapsed_s() const;
  void step(const StepMetrics& m);
  void warn(const std::string& message);  // on a line of its own, even while a progress line is showing
  // After the last step: train.png from metrics.jsonl, and "trained N steps in ...; checkpoint ...".
  void finish(double total_s, const std::string& checkpoint);
  void evaluation(int64_t step, const EvalResult& r);
  // Shard data: the bad samples left out (--on-bad-sample skip), printed and as {"step": N, "data": {...}}.
  void data_report(int64_t step, uint64_t bad_samples);

 private:
  std::string dir_, path_;
  int64_t total_steps_, batch_, log_every_;
  bool tty_;
  bool write_files_;
  int64_t first_step_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sg
