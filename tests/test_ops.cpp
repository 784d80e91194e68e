// test_ops.cpp: every case of the op registry (tensor/op_registry.cpp), checked every way it can be.
// Each op case is a SUBCASE named "<op>/<case>", so `build/tests -sc='matmul*'` runs one op's checks.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>

#include "tensor/op_registry.h"
#include "tests/gpu.h"

using namespace sg;

namespace {
// Which cases to visit: all of them, each as its own subcase.
template <typename F>
void for_each_case(F check) {
  for (const OpCase& c : op_cases()) {
    SUBCASE(c.full_name().c_str()) { check(c); }
  }
}
}  // namespace

TEST_CASE("ops: forward matches the plain reference (f32 and f64)") {
  for_each_case([](const OpCase& c) {
    double e32 = forward_error(c, DType::F32, Layout::Contiguous);
    double e64 = forward_error(c, DType::F64, Layout::Contiguous);
    INFO(c.full_name(), ": f32 error ", e32, ", f64 error ", e64);
    CHECK(e32 < 1e-5);
    CHECK(e64 < 1e-12);
  });
}

TEST_CASE("ops: forward on strided and transposed inputs") {
  for_each_case([](const OpCase& c) {
    for (Layout l : {Layout::Strided, Layout::Transposed}) {
      double e = forward_error(c, DType::F64, l);
      INFO(c.full_name(), " ", layout_name(l), ": error ", e);
      CHECK(e < 1e-12);
    }
  });
}

// Under AddressSanitizer (make test SANITIZE=1) the f64 central differences of the largest cases (the tile
// cases of attention and the fused loss: every input element differentiated, each a full evaluation at -O1)
// would take minutes; their gradients are checked by the normal build, and under the sanitizer their forward
// and backward still run in the other registry tests.
namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kMaxGradcheckElements = 4096;
#else
constexpr int64_t kMaxGradcheckElements = INT64_MAX;
#endif

int64_t float_input_elements(const OpCase& c) {
  Generator g(7);
  int64_t n = 0;
  for (const Tensor& x : c.make_inputs(DType::F64, g))
    if (x.dtype() == DType::F64) n += x.numel();
  return n;
}
}  // namespace

TEST_CASE("ops: backward matches f64 central differences") {
  for_each_case([](const OpCase& c) {
    if (const int64_t n = float_input_elements(c); n > kMaxGradcheckElements) {
      MESSAGE(c.full_name(), ": gradient check left to the non-sanitizer build (", n, " input elements)");
      return;
    }
    for (Layout l : {Layout::Contiguous, Layout::Strided}) {
      GradcheckResult r = gradient_check(c, l);
      INFO(c.full_name(), " ", layout_name(l), ": max abs ", r.max_abs, ", max rel ", r.max_rel);
      CHECK(r.passed);
      CHECK(!r.inputs.empty());
    }
  });
}

TEST_CASE("ops: every op takes bf16 (CPU: widened to f32, rounded once per op)") {
  for_each_case([](const OpCase& c) {
    double e = forward_error(c, DType::BF16, Layout::Contiguous);
    INFO(c.full_name(), ": bf16 error ", e);
    CHECK(e < 2e-2);
  });
}

TEST_CASE("ops: bf16 backward tracks f32 backward on the same values (CPU)") {
  for_each_case([](const OpCase& c) {
    double e = bf16_backward_error(c);
    INFO(c.full_name(), ": bf16 vs f32 output and gradients, relative error ", e);
    CHECK(e < 5e-2);
  });
}

TEST_CASE("ops: CPU and CUDA agree") {
  if (!gpu_present("CUDA parity")) return;
  for_each_case([](const OpCase& c) {
    double e = cuda_parity_error(c);
    INFO(c.full_name(), ": CPU vs CUDA relative error ", e);
    CHECK(e < 1e-4);
    // bf16 on both devices: same bf16 inputs, f32 arithmetic inside, one rounding per output (1e-2: the
    // issue's bound; a GEMM or a reduction summed in another order may round to the neighbouring bf16).
    double eb = cuda_parity_error(c, 7, DType::BF16);
    INFO(c.full_name(), ": bf16 CPU vs CUDA relative error ", eb);
    CHECK(eb < 1e-2);
  });
}

TEST_CASE("ops: bad input raises sg::Error naming the op and shapes") {
  for (const BadInputCase& b : bad_input_cases()) {
    SUBCASE((b.op + "/" + b.name).c_str()) {
      std::string msg;
      try {
        b.run();
      } catch (const Error& e) {
        msg = e.what();
      }
      INFO(b.op, "/", b.name, ": message '", msg, "'");
      REQUIRE(!msg.empty());
      if (msg.find("skipped") != std::string::npos) return;
      for (const auto& s : b.expect) CHECK(msg.find(s) != std::string::npos);
    }
  }
}

TEST_CASE("ops: every registered op has a gradient case and a bad-input case or is a view") {
  std::set<std::string> ops, bad;
  for (const auto& c : op_cases()) ops.insert(c.op);
  for (const auto& b : bad_input_cases()) bad.insert(b.op);
  const std::set<std::string> needed = {"matmul", "linear", "add", "sub", "mul", "div", "neg", "exp", "log", "sqrt",
                                        "rsqrt", "pow", "tanh", "sigmoid", "log_sigmoid", "softplus", "relu", "gelu",
                                        "sum", "mean", "max", "softmax", "log_softmax", "layer_norm", "embedding",
                                        "patch_embed", "concat", "stack", "index_select", "attention", "l2_normalize",
                                        "reshape", "permute", "transpose", "slice", "narrow", "unsqueeze", "squeeze",
                                        "expand", "contiguous"};
  for (const auto& op : needed) {
    INFO("op ", op);
    CHECK(ops.count(op) == 1);
  }
  CHECK(bad.size() >= 15);
}

TEST_CASE("ops: column sums of a tall matrix (bias gradients) split over threads, same sums") {
  // [r, inner] summed over dim 0 with inner >= 128 takes the column-block path of cpu/reduce.cpp.
  Generator g(11);
  for (int64_t inner : {128, 200, 777}) {
    Tensor x = randn({300, inner}, DType::F64, &g);
    std::vector<double> v = x.to_vector<double>(), s = sum(x, {0}).to_vector<double>();
    REQUIRE(static_cast<int64_t>(s.size()) == inner);
    for (int64_t i = 0; i < inner; ++i) {
      double ref = 0;
      for (int64_t k = 0; k < 300; ++k) ref += v[static_cast<size_t>(k * inner + i)];
      CHECK(s[static_cast<size_t>(i)] == ref);  // same order of additions: bit for bit
    }
  }
}
