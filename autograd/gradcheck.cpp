#include "autograd/gradcheck.h"

#include <cmath>
#include <cstring>

#include "autograd/node.h"
#include "tensor/ops.h"

namespace sg {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          double eps, double rtol, uint64_t seed) {
  for (size_t i = 0; i < inputs.size(); ++i)
    SG_CHECK(!inputs[i].requires_grad() || (inputs[i].dtype() == DType::F64 && inputs[i].device() == Device::CPU),
             "gradcheck: input {} is {}; gradients are checked on float64 CPU tensors", i, inputs[i].describe());
  // Leaves we own: fresh contiguous copies, so perturbing them touches nothing of the caller's.
  std::vector<Tensor> xs;
  for (const auto& t : inputs) {
    Tensor c = t.detach().clone();
    if (t.requires_grad()) c.requires_grad_();
    xs.push_back(c);
  }
  Tensor y = f(xs);
  Generator gen(seed);
  Tensor w = y.numel() == 1 ? ones(y.shape(), DType::F64) : randn(y.shape(), DType::F64, &gen);
  auto loss_value = [&]() {
    NoGradGuard ng;
    return sum(mul(f(xs).detach(), w)).item();
  };
  sum(mul(y, w)).backward();

  GradcheckResult res;
  res.passed = true;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].requires_grad()) continue;
    Tensor ga = xs[i].grad();
    std::vector<double> analytic = ga.defined() ? ga.to_vector<double>() : std::vector<double>(xs[i].numel(), 0.0);
    double* p = xs[i].data<double>();
    InputGradError e;
    e.input = i;
    e.numel = xs[i].numel();
    double max_num = 0;
    std::vector<double> numeric(static_cast<size_t>(xs[i].numel()));
    for (int64_t k = 0; k < xs[i].numel(); ++k) {
      const double orig = p[k];
      p[k] = orig + eps;
      const double lp = loss_value();
      p[k] = orig - eps;
      const double lm = loss_value();
      p[k] = orig;
      numeric[k] = (lp - lm) / (2 * eps);
      e.max_abs = std::max(e.max_abs, std::abs(analytic[k] - numeric[k]));
      max_num = std::max(max_num, std::abs(numeric[k]));
      if (std::isnan(analytic[k]) || std::isnan(numeric[k])) e.max_abs = INFINITY;
    }
    e.max_rel = e.max_abs / std::max(max_num, 1e-12);
    e.analytic = std::move(analytic);
    e.numeric = std::move(numeric);
    if (max_num == 0 && e.max_abs == 0) e.max_rel = 0;
    res.max_abs = std::max(res.max_abs, e.max_abs);
    res.max_rel = std::max(res.max_rel, e.max_rel);
    res.passed = res.passed && e.max_rel < rtol;
    res.inputs.push_back(e);
  }
  return res;
}

}  // namespace sg
