// optim.h: AdamW (decoupled weight decay, bias correction), the learning-rate schedule (linear warm-up then
// cosine decay) and global gradient-norm clipping.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace sg::nn {

// The learning rate is not here: each step(lr) is given the schedule's value.
struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.95;  // the SigLIP paper's advice for stability
  double eps = 1e-8;
  double weight_decay = 1e-4;
};

// How one parameter is optimised: with weight decay or not, and its learning rate as a multiple of the schedule's.
struct ParamRule {
  bool decay = true;
  double lr_mult = 1.0;
};

class AdamW {
 public:
  // `rule` decides each parameter's weight decay (e.g. matrices only) and learning-rate multiplier (e.g. 0.1 for
  // a pre-trained tower). Parameters that do not require a gradient (frozen) get no state at all.
  AdamW(std::vector<std::pair<std::string, Tensor*>> params, AdamWConfig cfg,
        const std::function<ParamRule(const std::string&, const Tensor&)>& rule);
  // p <- p - lr_p * (m_hat / (sqrt(v_hat) + eps) + wd * p) for every parameter that has a gradient, where
  // lr_p = lr * the parameter's lr_mult (a multiplier of 0 leaves it unchanged, weight decay included).
  // f32 parameters go through one multi-tensor call per device (adamw_step_multi: on CUDA one kernel launch for
  // all of them, bit-identical to one adamw_step per buffer); f64 parameters through adamw_step, one per buffer.
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return t_; }
  // Moments by parameter name ("m.<name>", "v.<name>") for checkpoints; load_state restores them.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::map<std::string, Tensor>& s, int64_t steps);
  void to(Device d);
  const AdamWConfig& config() const { return cfg_; }

 private:
  struct Slot {
    std::string name;
    Tensor* param;
    Tensor m, v;
    ParamRule rule;
  };
  std::vector<Slot> slots_;
  AdamWConfig cfg_;
  int64_t t_ = 0;
};

// lr at `step` (0-based): linear warm-up over `warmup` steps to `peak`, then cosine decay to `peak * final_frac`.
double lr_at(int64_t step, int64_t total, int64_t warmup, double peak, double final_frac = 0.0);

// Scales all gradients so that their global L2 norm is at most max_norm (when max_norm > 0).
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<Tensor*>& params, double max_norm);

}  // namespace sg::nn
