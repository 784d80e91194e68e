#include "nn/module.h"

#include <cmath>

namespace sg::nn {

void Module::register_parameter(const std::string& name, Tensor* t) {
  SG_CHECK(t->defined(), "register_parameter: '{}' is undefined", name);
  if (!t->requires_grad() && is_floating(t->dtype())) t->requires_grad_();
  params_.emplace_back(name, t);
}

void Module::register_module(const std::string& name, Module* m) {
  m->name_ = name;
  children_.push_back(m);
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters(const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (Module* c : children_) {
    auto sub = c->named_parameters(prefix + c->name_ + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Tensor*> Module::parameters() {
  std::vector<Tensor*> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

void Module::set_requires_grad(bool on) {
  for (Tensor* t : parameters()) {
    t->zero_grad();
    t->requires_grad_(on);
  }
}

void Module::to(Device device) {
  for (Tensor* t : parameters()) {
    if (t->device() == device) continue;
    bool rg = t->requires_grad();
    Tensor moved = t->detach().to(device);
    if (rg) moved.requires_grad_();
    *t = moved;
  }
}

void Module::to(DType dtype) {
  for (Tensor* t : parameters()) {
    if (t->dtype() == dtype) continue;
    bool rg = t->requires_grad();
    Tensor converted = t->detach().to(dtype);
    if (rg) converted.requires_grad_();
    *t = converted;
  }
}

int64_t Module::num_parameters() {
  int64_t n = 0;
  for (Tensor* t : parameters()) n += t->numel();
  return n;
}

std::pair<int64_t, int64_t> fans(const Tensor& t) {
  SG_CHECK(t.dim() >= 2, "init: fan-in/fan-out need a tensor of at least 2 dims, got {}", t.shape_str());
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

namespace {
thread_local bool t_has_compute = false;
thread_local DType t_compute = DType::F32;
}  // namespace

ComputeDTypeGuard::ComputeDTypeGuard(DType dtype) : had_(t_has_compute), previous_(t_compute) {
  SG_CHECK(is_floating(dtype), "ComputeDTypeGuard: compute dtype must be floating, got {}", dtype_name(dtype));
  t_has_compute = true;
  t_compute = dtype;
}
ComputeDTypeGuard::~ComputeDTypeGuard() {
  t_has_compute = had_;
  t_compute = previous_;
}
bool has_compute_dtype() { return t_has_compute; }
DType compute_dtype() { return t_compute; }
Tensor compute(const Tensor& t) {
  if (!t_has_compute || !t.defined() || !is_floating(t.dtype()) || t.dtype() == t_compute) return t;
  return t.to(t_compute);
}
Tensor to_f32_output(const Tensor& t) { return t.dtype() == DType::BF16 ? t.to(DType::F32) : t; }

namespace {
void fill_from(Tensor& t, const std::vector<double>& v) {
  NoGradGuard ng;
  t.detach().copy_(from_vector(v, t.shape(), t.dtype()).to(t.device()));
}
}  // namespace

void Init::normal(Tensor& t, double std) const {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = std * gen->normal();
  fill_from(t, v);
}

void Init::lecun_normal(Tensor& t) const {
  // jax.nn.initializers.lecun_normal: truncated normal in [-2, 2], rescaled to variance 1/fan_in
  const double std = std::sqrt(1.0 / static_cast<double>(fans(t).first)) / 0.87962566103423978;
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) {
    double z;
    do z = gen->normal();
    while (std::abs(z) > 2.0);
    x = std * z;
  }
  fill_from(t, v);
}

void Init::xavier_uniform(Tensor& t) const {
  auto [fi, fo] = fans(t);
  const double bound = std::sqrt(6.0 / static_cast<double>(fi + fo));
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = bound * (2 * gen->uniform() - 1);
  fill_from(t, v);
}

void Init::constant(Tensor& t, double value) const {
  NoGradGuard ng;
  t.detach().fill_(value);
}

}  // namespace sg::nn
