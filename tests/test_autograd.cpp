// test_autograd.cpp: the graph engine itself: diamonds, reuse, hooks, grad mode, retain_graph, deep chains,
// module paths, memory staying flat, and a gradcheck that does catch a wrong gradient.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/anomaly.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "tensor/allocator.h"
#include "tensor/ops.h"

using namespace sg;

namespace {
Tensor leaf(std::vector<double> v, Shape s) {
  Tensor t = from_vector(v, s, DType::F64);
  t.requires_grad_();
  return t;
}
std::vector<double> grad_of(const Tensor& t) { return t.grad().to_vector<double>(); }
}  // namespace

TEST_CASE("autograd: diamond graph and reuse accumulate gradients") {
  Tensor a = leaf({2.0, -1.0}, {2}), b = leaf({3.0, 0.5}, {2});
  Tensor y = mul(a, b);            // y = a b
  Tensor z = add(y, mul(y, a));    // z = ab + a^2 b
  sum(z).backward();
  // dz/da = b + 2ab, dz/db = a + a^2
  CHECK(grad_of(a) == std::vector<double>{3 + 2 * 2 * 3, 0.5 + 2 * -1 * 0.5});
  CHECK(grad_of(b) == std::vector<double>{2 + 4, -1 + 1});
}

TEST_CASE("autograd: gradients accumulate across backward calls until zero_grad") {
  Tensor x = leaf({1.0, 2.0}, {2});
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  CHECK(grad_of(x) == std::vector<double>{6, 6});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("autograd: retain_graph allows a second backward, otherwise a clear error") {
  Tensor x = leaf({0.5}, {1});
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  CHECK(grad_of(x)[0] == doctest::Approx(2 * std::exp(0.5)));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), Error);
}

TEST_CASE("autograd: hooks see and may replace gradients; retain_grad keeps a non-leaf's") {
  Tensor x = leaf({1.0, -2.0}, {2});
  Tensor h = mul(x, 2.0);
  h.retain_grad();
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return mul(g, 10.0);  // scale what flows on to x
  });
  int leaf_calls = 0;
  x.register_hook([&](const Tensor&) {
    ++leaf_calls;
    return Tensor();  // keep
  });
  sum(mul(h, h)).backward();  // d/dh = 2h = [4, -8]
  CHECK(seen == std::vector<double>{4, -8});
  CHECK(h.grad().to_vector<double>() == std::vector<double>{40, -80});
  CHECK(grad_of(x) == std::vector<double>{80, -160});
  CHECK(leaf_calls == 1);
}

TEST_CASE("autograd: no_grad records nothing; detach cuts the graph") {
  Tensor x = leaf({1.0}, {1});
  {
    NoGradGuard ng;
    Tensor y = mul(x, 2.0);
    CHECK(!y.requires_grad());
    CHECK(!y.grad_fn());
  }
  Tensor d = x.detach();
  CHECK(!d.requires_grad());
  Tensor y = mul(x, 2.0);
  CHECK(y.requires_grad());
  CHECK(y.grad_fn()->op == "mul_scalar");
}

TEST_CASE("autograd: a 10,000-node chain runs backward and frees without recursion") {
  Tensor x = leaf({1.0}, {1});
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = mul(y, 1.0001);
  sum(y).backward();
  CHECK(grad_of(x)[0] == doctest::Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
  y = Tensor();  // the chain is destroyed iteratively (Node::~Node)
  CHECK(true);
}

TEST_CASE("autograd: nodes record the op and the module path") {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor y;
  {
    ModuleScope a("vision_model");
    ModuleScope b("encoder.layers.3");
    ModuleScope c("mlp.fc1");
    y = tanh(x);
  }
  REQUIRE(y.grad_fn());
  CHECK(y.grad_fn()->op == "tanh");
  CHECK(y.grad_fn()->module_path == "vision_model.encoder.layers.3.mlp.fc1");
  CHECK(mul(y, 2.0).grad_fn()->module_path.empty());
  std::vector<std::string> ops;
  visit_graph(sum(mul(y, 2.0)), [&](const Node& n) { ops.push_back(n.op); });
  CHECK(ops == std::vector<std::string>{"sum", "mul_scalar", "tanh"});
}

TEST_CASE("autograd: memory stays flat over 1,000 forward+backward iterations") {
  Generator g(3);
  Tensor w1 = randn({16, 32}, DType::F32, &g).requires_grad_();
  Tensor w2 = randn({32, 8}, DType::F32, &g).requires_grad_();
  Tensor x = randn({64, 16}, DType::F32, &g);
  size_t after_warmup = 0, end = 0;
  for (int it = 0; it < 1000; ++it) {
    Tensor h = gelu(matmul(x, w1));
    Tensor loss = mean(log_softmax(matmul(h, w2), -1));
    loss.backward();
    w1.zero_grad();
    w2.zero_grad();
    if (it == 9) after_warmup = allocator_stats(Device::CPU).live_bytes;
    if (it == 999) end = allocator_stats(Device::CPU).live_bytes;
  }
  INFO("live bytes after 10 iterations ", after_warmup, ", after 1000 ", end);
  CHECK(end == after_warmup);
}

TEST_CASE("autograd: gradcheck catches a wrong backward formula") {
  // A deliberately wrong op: y = x^2 with the derivative written as x (not 2x).
  auto wrong_square = [](const std::vector<Tensor>& in) {
    Tensor x = in[0];
    Tensor y;
    {
      NoGradGuard ng;
      y = mul(x, x);
    }
    return record(y, "wrong_square", {x}, [xd = x.detach()](const Node&) {
      return [xd](const Tensor& g) { return std::vector<Tensor>{mul(g, xd)}; };
    });
  };
  Tensor x = randn({5}, DType::F64).requires_grad_();
  GradcheckResult r = gradcheck(wrong_square, {x});
  CHECK(!r.passed);
  CHECK(r.max_rel > 0.1);
  GradcheckResult ok = gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[0]); }, {x});
  CHECK(ok.passed);
}

TEST_CASE("autograd: anomaly mode names the node whose forward or backward made a NaN or Inf") {
  DetectAnomalyGuard on;
  Tensor x = from_vector({1.0, -1.0, 2.0}, {3}, DType::F64).requires_grad_();
  // forward: log(-1) = nan at element 1
  CHECK_THROWS_WITH_AS(log(x), doctest::Contains("anomaly: the forward of 'log'"), Error);
  CHECK_THROWS_WITH_AS(log(x), doctest::Contains("at element 1 of its output"), Error);
  // backward: sqrt is finite at 0, its derivative 0.5 / sqrt(0) is not
  Tensor z = from_vector({4.0, 0.0}, {2}, DType::F64).requires_grad_();
  Tensor y = sum(mul(sqrt(z), 3.0));
  std::string message = "(no error)";
  try {
    y.backward();
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("anomaly: the backward of 'sqrt'") != std::string::npos);
  CHECK(message.find("element 1 of the gradient of its input 0") != std::string::npos);
  CHECK(message.find("the gradient it received was finite") != std::string::npos);
}

TEST_CASE("autograd: anomaly mode is off by default and a guard restores the setting") {
  CHECK_FALSE(anomaly_detection_enabled());
  {
    DetectAnomalyGuard on;
    CHECK(anomaly_detection_enabled());
  }
  CHECK_FALSE(anomaly_detection_enabled());
  Tensor x = from_vector({-1.0}, {1}, DType::F64).requires_grad_();
  CHECK(std::isnan(log(x).item()));  // off: the NaN flows on, as in any framework
}
