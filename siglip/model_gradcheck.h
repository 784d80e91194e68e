// model_gradcheck.h: one parameter's gradient of the whole model's loss against f64 central differences
// (`siglip gradcheck --param NAME`). The model and the batch are converted to float64 on the CPU; the analytic
// gradient is one backward pass, the numeric one (L(p + eps e_k) - L(p - eps e_k)) / 2 eps for each of K elements
// k of the parameter, spread over it: the tensor is cut into K equal runs of elements and one element is drawn
// (seeded) from each.
#pragma once
#include <string>
#include <vector>

#include "siglip/model_batch.h"

namespace sg {

struct ParamElementCheck {
  int64_t flat = 0;  // index into the contiguous parameter
  Shape index;       // the same as a multi-index
  double analytic = 0, numeric = 0;
  double abs_error = 0;  // |analytic - numeric|
  double rel_error = 0;  // abs_error / scale (below)
};

struct ParamGradcheck {
  std::string name;
  Shape shape;
  double loss = 0;
  // max(largest |analytic| element of the parameter's gradient, 1e-3): the relative error is normwise, as in the
  // op check, so that elements whose gradient is near zero do not divide by it; the floor keeps a gradient that
  // is zero in theory (the key bias) from dividing central-difference noise (~1e-10) by rounding noise.
  double scale = 0;
  std::vector<ParamElementCheck> elements;
};

// The K (at most numel) elements checked: one per equal run of the flat index range, drawn with `seed`.
std::vector<int64_t> spread_elements(int64_t numel, int64_t k, uint64_t seed);

// Converts the model to float64 (it stays so), runs the loss of mb's batch and its backward, then the central
// differences. An unknown name is an error listing the closest parameter names.
ParamGradcheck param_gradcheck(ModelBatch& mb, const std::string& name, int64_t elements, uint64_t seed, double eps);

}  // namespace sg
