// gradcheck.h: the analytic gradient against f64 central differences.
// For a random cotangent w (seeded; w = 1 when f(x) is a single element, so the gradients are f's own),
// L(x) = sum(f(x) * w). Backward gives dL/dx; central differences
// (L(x + eps e_i) - L(x - eps e_i)) / (2 eps) give the numeric value for every element i of every input
// that requires grad. Errors per input: max |analytic - numeric| and that divided by max |numeric|
// (a normwise relative error, meaningful where single elements are near zero).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sg {

struct InputGradError {
  size_t input = 0;
  double max_abs = 0, max_rel = 0;
  int64_t numel = 0;
  std::vector<double> analytic, numeric;  // dL/dx of every element, contiguous in the input's shape
};

struct GradcheckResult {
  std::vector<InputGradError> inputs;  // one per input that requires grad
  double max_abs = 0, max_rel = 0;
  bool passed = false;
};

// inputs: float64 CPU tensors; those with requires_grad() are checked.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          double eps = 1e-6, double rtol = 1e-6, uint64_t seed = 1234);

}  // namespace sg
