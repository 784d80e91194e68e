#include "tensor/ops.h"
#include <fmt/core.h>
int main() {
  sg::Tensor a = sg::randn({2, 3}, sg::DType::F64);
  a.requires_grad_();
  sg::Tensor b = sg::matmul(a, a, false, true);
  fmt::print("{}\n{}\n", sg::to_string(a), sg::to_string(b));
  sg::sum(b).backward();
  fmt::print("{}\n", sg::to_string(a.grad()));
}
