// custom_op.cpp: an op of your own with its own backward, checked against f64 central differences.
// softsign(x) = x / (1 + |x|), d/dx = 1 / (1 + |x|)^2. The forward is built from existing ops with the graph
// off; record() then adds one node whose backward is the formula above. Build and run:
// make examples && build/examples/custom_op
#include <cstdio>

#include "sg.h"

using namespace sg;

Tensor softsign(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard no_graph;  // the pieces below are not recorded: softsign is one node
    y = div(x, add(sqrt(mul(x, x)), 1.0));
  }
  // record(output, op name, inputs, replay, make_backward): make_backward runs only if a gradient will be needed,
  // and returns the function from the output's gradient g to one gradient per input. replay recomputes the forward
  // from other inputs (kept only under a RetainForwardGuard: `siglip trace --check` replays nodes in float64).
  auto replay = [](const std::vector<Tensor>& in) { return softsign(in[0]); };
  return record(y, "softsign", {x}, replay, [x_saved = x.detach()](const Node&) {
    return [x_saved](const Tensor& g) {
      Tensor d = add(sqrt(mul(x_saved, x_saved)), 1.0);  // 1 + |x|
      return std::vector<Tensor>{div(g, mul(d, d))};
    };
  });
}

int main() {
  Generator gen(7);
  Tensor x = randn({3, 5}, DType::F64, &gen).requires_grad_();  // gradcheck works in f64
  GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return softsign(in[0]); }, {x});
  std::printf("softsign: backward vs f64 central differences: max abs err %.3e, max rel err %.3e: %s\n", r.max_abs,
              r.max_rel, r.passed ? "pass" : "FAIL");
  Tensor y = softsign(x);
  std::printf("the node it records: %s\n", y.grad_fn_name().c_str());
  return r.passed && y.grad_fn_name() == "softsign" ? 0 : 1;
}
