// hello_autograd.cpp: the first program. One neuron by hand (micrograd's example: values, then gradients,
// checked against the chain rule written out), then a two-layer network that learns four points with AdamW.
// Build and run: make examples && build/examples/hello_autograd
#include <cmath>
#include <cstdio>

#include "sg.h"

using namespace sg;

int main() {
  // ---- one neuron: o = tanh(x1 w1 + x2 w2 + b), all f64 scalars
  Tensor x1 = scalar(2.0, DType::F64), x2 = scalar(0.0, DType::F64);
  Tensor w1 = scalar(-3.0, DType::F64).requires_grad_(), w2 = scalar(1.0, DType::F64).requires_grad_();
  Tensor b = scalar(6.8813735870195432, DType::F64).requires_grad_();
  Tensor n = x1 * w1 + x2 * w2 + b;
  Tensor o = tanh(n);
  o.backward();  // fills .grad() of every leaf that requires grad
  std::printf("o = tanh(%.4f) = %.4f\n", n.item(), o.item());
  std::printf("do/dw1 = %.4f  do/dw2 = %.4f  do/db = %.4f\n", w1.grad().item(), w2.grad().item(), b.grad().item());
  // The chain rule by hand: do/dn = 1 - o^2, dn/dw1 = x1, dn/dw2 = x2, dn/db = 1.
  const double dn = 1 - o.item() * o.item();
  const bool neuron_ok = std::abs(w1.grad().item() - dn * 2.0) < 1e-12 && std::abs(w2.grad().item()) < 1e-12 &&
                         std::abs(b.grad().item() - dn) < 1e-12;
  std::printf("matches the chain rule by hand: %s\n\n", neuron_ok ? "yes" : "NO");

  // ---- a network: 3 -> 16 -> 1, tanh, learns four points (micrograd's demo data), mean squared error
  Tensor xs = from_vector({2.0, 3.0, -1.0, 3.0, -1.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, -1.0}, {4, 3});  // [4, 3]
  Tensor ys = from_vector({1.0, -1.0, -1.0, 1.0}, {4, 1});                                              // [4, 1]
  Generator gen(42);
  Tensor W1 = mul(randn({3, 16}, DType::F32, &gen), 0.5).detach().requires_grad_();  // [3, 16]
  Tensor b1 = zeros({16}).requires_grad_();
  Tensor W2 = mul(randn({16, 1}, DType::F32, &gen), 0.5).detach().requires_grad_();  // [16, 1]
  Tensor b2 = zeros({1}).requires_grad_();
  nn::AdamW opt({{"W1", &W1}, {"b1", &b1}, {"W2", &W2}, {"b2", &b2}}, nn::AdamWConfig{},
                [](const std::string&, const Tensor&) { return nn::ParamRule{.decay = false}; });  // no weight decay
  double first = 0, last = 0;
  for (int step = 1; step <= 200; ++step) {
    Tensor h = tanh(matmul(xs, W1) + b1);   // [4, 16]
    Tensor pred = tanh(matmul(h, W2) + b2);  // [4, 1]
    Tensor loss = mean((pred - ys) * (pred - ys));
    loss.backward();
    opt.step(0.05);
    opt.zero_grad();
    last = loss.item();
    if (step == 1) first = last;
    if (step == 1 || step % 50 == 0) std::printf("step %3d  loss %.5f\n", step, last);
  }
  const bool learned = last < 0.01 && last < first / 10;
  std::printf("the network %s the four points (loss %.4f -> %.5f)\n", learned ? "learned" : "did NOT learn", first, last);
  return neuron_ok && learned ? 0 : 1;
}
