// model_gradcheck.cpp: a model parameter's gradient against f64 central differences (model_gradcheck.h).
#include "siglip/model_gradcheck.h"

#include <algorithm>
#include <cmath>

namespace sg {
namespace {

// Levenshtein distance: how far a mistyped name is from each real one.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

Tensor* find_parameter(SiglipModel& m, const std::string& name) {
  std::vector<std::pair<size_t, std::string>> by_distance;
  for (auto& [n, p] : m.named_parameters()) {
    if (n == name) return p;
    by_distance.emplace_back(edit_distance(name, n), n);
  }
  std::sort(by_distance.begin(), by_distance.end());
  std::vector<std::string> close;
  for (size_t i = 0; i < std::min<size_t>(5, by_distance.size()); ++i) close.push_back(by_distance[i].second);
  fail("gradcheck: the model has no parameter '{}'; the closest names: {} ({} parameters in all; `siglip graph "
       "--format json` lists them)", name, fmt::join(close, ", "), by_distance.size());
}

Shape unravel(int64_t flat, const Shape& shape) {
  Shape idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

}  // namespace

std::vector<int64_t> spread_elements(int64_t numel, int64_t k, uint64_t seed) {
  SG_CHECK(k >= 1, "gradcheck: --elements must be at least 1, got {}", k);
  k = std::min(k, numel);
  Generator gen(seed);
  std::vector<int64_t> out;
  for (int64_t s = 0; s < k; ++s) {
    const int64_t lo = s * numel / k, hi = (s + 1) * numel / k;  // run s: [lo, hi), never empty
    out.push_back(lo + static_cast<int64_t>(gen.uniform() * static_cast<double>(hi - lo)));
  }
  return out;
}

ParamGradcheck param_gradcheck(ModelBatch& mb, const std::string& name, int64_t elements, uint64_t seed, double eps) {
  SiglipModel& m = mb.model();
  SG_CHECK(m.device() == Device::CPU, "gradcheck: the model must be on the CPU");
  Tensor* p = find_parameter(m, name);
  m.to(DType::F64);  // replaces the parameter tensors: p points at the member, which now holds the f64 copy
  SG_CHECK(p->requires_grad(), "gradcheck: {} is frozen (it gets no gradient)", name);
  ParamGradcheck r;
  r.name = name;
  r.shape = p->shape();

  for (Tensor* t : m.parameters()) t->zero_grad();
  Tensor loss = model_batch_loss(mb);
  r.loss = loss.item();
  loss.backward();
  const Tensor g = p->grad();
  const std::vector<double> analytic = g.defined() ? g.to_vector<double>() : std::vector<double>(p->numel(), 0.0);
  r.scale = 1e-3;
  for (double a : analytic) r.scale = std::max(r.scale, std::abs(a));

  NoGradGuard ng;
  SG_CHECK(p->is_contiguous(), "gradcheck: {} is not contiguous after the float64 conversion", name);
  double* x = p->data<double>();  // f64, contiguous: perturbed in place
  for (int64_t k : spread_elements(p->numel(), elements, seed)) {
    const double orig = x[k];
    x[k] = orig + eps;
    const double lp = model_batch_loss(mb).item();
    x[k] = orig - eps;
    const double lm = model_batch_loss(mb).item();
    x[k] = orig;
    ParamElementCheck e;
    e.flat = k;
    e.index = unravel(k, r.shape);
    e.analytic = analytic[static_cast<size_t>(k)];
    e.numeric = (lp - lm) / (2 * eps);
    e.abs_error = std::abs(e.analytic - e.numeric);
    e.rel_error = std::isfinite(e.abs_error) ? e.abs_error / r.scale : INFINITY;
    r.elements.push_back(e);
  }
  return r;
}

}  // namespace sg
