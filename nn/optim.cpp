#include "nn/optim.h"

#include <cmath>

#include "autograd/node.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace sg::nn {

AdamW::AdamW(std::vector<std::pair<std::string, Tensor*>> params, AdamWConfig cfg,
             const std::function<ParamRule(const std::string&, const Tensor&)>& rule)
    : cfg_(cfg) {
  for (auto& [name, p] : params) {
    if (!p->requires_grad()) continue;  // frozen (e.g. a locked image tower): no state at all
    const ParamRule r = rule(name, *p);
    SG_CHECK(std::isfinite(r.lr_mult) && r.lr_mult >= 0, "AdamW: parameter '{}': learning-rate multiplier {} is not a "
             "finite number >= 0", name, r.lr_mult);
    slots_.push_back({name, p, zeros_like(*p), zeros_like(*p), r});
  }
}

void AdamW::step(double lr) {
  NoGradGuard ng;
  ++t_;
  const double bc1 = 1 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2 = 1 - std::pow(cfg_.beta2, static_cast<double>(t_));
  // f32 parameters: one multi-tensor call per device and learning-rate multiplier (on CUDA one kernel launch
  // for all parameters of a multiplier); f64 parameters (gradient checks): one adamw_step per buffer. `grads`
  // keeps the contiguous gradients alive until the kernels have been queued.
  std::vector<Tensor> grads;
  std::map<std::pair<int, double>, std::vector<AdamWSlice>> f32_slices;  // (0: CPU | 1: CUDA, lr_mult) -> buffers
  for (auto& s : slots_) {
    if (s.rule.lr_mult == 0) continue;  // a frozen multiplier: not even weight decay moves it
    Tensor g = s.param->grad();
    if (!g.defined()) continue;
    g = g.contiguous();
    Tensor p = s.param->detach();
    SG_CHECK(p.is_contiguous() && g.shape() == p.shape(), "AdamW: parameter '{}' {} has gradient {}", s.name,
             p.describe(), g.describe());
    SG_CHECK(g.dtype() == p.dtype() && g.device() == p.device() && s.m.device() == p.device(),
             "AdamW: parameter '{}' {} has gradient {} and moments on {}", s.name, p.describe(), g.describe(),
             device_name(s.m.device()));
    const double wd = s.rule.decay ? cfg_.weight_decay : 0.0;
    if (p.dtype() == DType::F32) {
      f32_slices[{p.device() == Device::CUDA ? 1 : 0, s.rule.lr_mult}].push_back(
          {p.data<float>(), g.data<float>(), s.m.data<float>(), s.v.data<float>(), p.numel(), wd});
      grads.push_back(g);
      continue;
    }
    SG_F32_F64_TYPES(p.dtype(), "adamw",
                   SG_KERNEL(p.device(), adamw_step<T>, p.data<T>(), g.data<T>(), s.m.data<T>(), s.v.data<T>(),
                             p.numel(), lr * s.rule.lr_mult, cfg_.beta1, cfg_.beta2, cfg_.eps, wd, bc1, bc2));
  }
  for (const auto& [key, slices] : f32_slices) {
    const auto& [device, lr_mult] = key;
    SG_KERNEL(device == 1 ? Device::CUDA : Device::CPU, adamw_step_multi, slices.data(),
              static_cast<int64_t>(slices.size()), lr * lr_mult, cfg_.beta1, cfg_.beta2, cfg_.eps, bc1, bc2);
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) s.param->zero_grad();
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& s : slots_) {
    out.emplace_back("m." + s.name, s.m);
    out.emplace_back("v." + s.name, s.v);
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, Tensor>& st, int64_t steps) {
  for (auto& s : slots_) {
    const std::pair<const char*, Tensor*> moments[] = {{"m.", &s.m}, {"v.", &s.v}};
    for (const auto& [key, dst] : moments) {
      auto it = st.find(key + s.name);
      SG_CHECK(it != st.end(), "AdamW: optimiser state has no '{}{}'", key, s.name);
      SG_CHECK(it->second.shape() == dst->shape(), "AdamW: state '{}{}' has shape {}, parameter has {}", key, s.name,
               it->second.shape_str(), dst->shape_str());
      dst->copy_(it->second);
    }
  }
  t_ = steps;
}

void AdamW::to(Device d) {
  for (auto& s : slots_) {
    s.m = s.m.to(d);
    s.v = s.v.to(d);
  }
}

double lr_at(int64_t step, int64_t total, int64_t warmup, double peak, double final_frac) {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = std::max<int64_t>(1, total - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + std::cos(M_PI * progress)));
}

double clip_grad_norm(const std::vector<Tensor*>& params, double max_norm) {
  NoGradGuard ng;
  // One scalar per gradient, summed on the device: a single host sync instead of one per parameter.
  std::vector<Tensor> squares;
  for (Tensor* p : params) {
    Tensor g = p->grad();
    if (g.defined()) squares.push_back(sum(mul(g, g)));
  }
  const double norm = squares.empty() ? 0.0 : std::sqrt(sum(stack(squares, 0)).item());
  if (max_norm > 0 && norm > max_norm) {
    const double s = max_norm / (norm + 1e-6);
    for (Tensor* p : params)
      if (p->grad().defined()) p->set_grad(mul(p->grad(), s));
  }
  return norm;
}

}  // namespace sg::nn
