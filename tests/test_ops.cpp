// test_ops.cpp: every case of the op registry (tensor/op_registry.cpp), checked every way it can be.
// Each op case is a SUBCASE named "<op>/<case>", so `build/tests -sc='matmul*'` runs one op's checks.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "cpu/kernels.h"
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

// The differentiable ops a user can call, read from their declarations: every `Tensor name(` at the start of a
// line in tensor/ops.h (unless its comment says "(not differentiable)"), the unary maps of base/elementwise_ops.h, and the members in tensor.h's sections
// marked "(differentiable)" (conversions to another dtype or device excepted: tests/test_tensor.cpp, test_cuda.cpp).
// Each needs a registry case.
std::set<std::string> declared_ops() {
  const std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path();
  std::set<std::string> names;
  const std::regex free_fn(R"(^Tensor ([a-z_0-9]+)\()"), member(R"(^  Tensor ([a-z_0-9]+)\(.*\) const;)");
  std::smatch m;
  std::ifstream ops(root / "tensor/ops.h");
  REQUIRE(ops.good());
  for (std::string line; std::getline(ops, line);)
    if (std::regex_search(line, m, free_fn) && line.find("(not differentiable)") == std::string::npos) names.insert(m[1]);
  for (Unary op : kUnaryOps) names.insert(unary_fn(op));  // declared from the table in base/elementwise_ops.h
  std::ifstream tensor_h(root / "tensor/tensor.h");
  REQUIRE(tensor_h.good());
  bool in_views = false;
  for (std::string line; std::getline(tensor_h, line);) {
    if (line.find("// ----") != std::string::npos)
      in_views = line.find("(differentiable") != std::string::npos && line.find("conversion") == std::string::npos;
    if (in_views && std::regex_search(line, m, member)) names.insert(m[1]);
  }
  return names;
}

TEST_CASE("ops: every declared op has a registry case and a bad-input case or is a view") {
  std::set<std::string> ops, bad;
  for (const auto& c : op_cases()) ops.insert(c.op);
  for (const auto& b : bad_input_cases()) bad.insert(b.op);
  const std::set<std::string> declared = declared_ops();
  CHECK(declared.size() >= 40);  // the parse found the declarations
  for (const auto& op : declared) {
    INFO("op ", op, " is declared (tensor/ops.h or tensor.h's views) but has no case in tensor/op_registry.cpp");
    CHECK(ops.count(op) == 1);
  }
  for (const auto& op : ops) {
    INFO("registry op ", op, " is not a declared op name");
    CHECK(declared.count(op) == 1);
  }
  CHECK(bad.size() >= 15);
}

TEST_CASE("ops: argmax (int64 indices, not differentiable) against a loop") {
  Generator g(5);
  Tensor x = randn({6, 9}, DType::F32, &g);
  std::vector<float> v = x.to_vector<float>();
  for (int64_t dim : {0, 1}) {
    std::vector<int64_t> got = argmax(x, dim).to_vector<int64_t>();
    const int64_t rows = dim == 1 ? 6 : 9, len = dim == 1 ? 9 : 6;
    REQUIRE(static_cast<int64_t>(got.size()) == rows);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t best = 0;
      for (int64_t k = 1; k < len; ++k) {
        auto at = [&](int64_t i) { return v[static_cast<size_t>(dim == 1 ? r * 9 + i : i * 9 + r)]; };
        if (at(k) > at(best)) best = k;
      }
      CHECK(got[static_cast<size_t>(r)] == best);
    }
  }
}

TEST_CASE("ops: column sums of a tall matrix (bias gradients) split over threads, same sums") {
  // [r, inner] summed over dim 0 with inner >= 128 takes the row-chunk path of cpu/reduce.cpp: chunks of 256
  // rows summed in order, then the chunks' sums added in chunk order, whatever the number of threads.
  Generator g(11);
  for (int64_t inner : {128, 200, 777}) {
    for (int64_t rows : {300, 1000}) {
      Tensor x = randn({rows, inner}, DType::F64, &g);
      std::vector<double> v = x.to_vector<double>(), s = sum(x, {0}).to_vector<double>();
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      const std::vector<double> one_thread = sum(x, {0}).to_vector<double>();
      omp_set_num_threads(threads);
      REQUIRE(static_cast<int64_t>(s.size()) == inner);
      CHECK(s == one_thread);  // bit for bit
      for (int64_t i = 0; i < inner; ++i) {
        double ref = 0;
        for (int64_t c0 = 0; c0 < rows; c0 += 256) {
          double chunk = 0;
          for (int64_t k = c0; k < std::min(rows, c0 + 256); ++k) chunk += v[static_cast<size_t>(k * inner + i)];
          ref += chunk;
        }
        CHECK(s[static_cast<size_t>(i)] == ref);  // same order of additions: bit for bit
      }
    }
  }
}

TEST_CASE("ops: linear with empty sizes: no out features, no in features (bias and residual alone)") {
  Generator g(5);
  Tensor x = randn({3, 4}, DType::F32, &g), w0 = randn({0, 4}, DType::F32, &g), b0 = randn({0}, DType::F32, &g);
  CHECK(linear(x, w0, b0).shape() == Shape{3, 0});
  // K = 0: the product is empty, so y = bias + residual.
  Tensor xk = randn({2, 3, 0}, DType::F32, &g), wk = randn({5, 0}, DType::F32, &g), b = randn({5}, DType::F32, &g);
  Tensor r = randn({2, 3, 5}, DType::F32, &g);
  const std::vector<double> y = linear(xk, wk, b, r).to_vector<double>(), bv = b.to_vector<double>(),
                            rv = r.to_vector<double>();
  REQUIRE(y.size() == 30);
  for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(rv[i] + bv[i % 5]));
  const std::vector<double> yb = linear(xk, wk, b).to_vector<double>();
  for (size_t i = 0; i < yb.size(); ++i) CHECK(yb[i] == bv[i % 5]);
  const std::vector<double> yz = linear(xk, wk).to_vector<double>();
  for (double v : yz) CHECK(v == 0.0);
}

TEST_CASE("ops: linear in f32 on the CPU is one oneDNN matmul with bias and residual in its epilogue, as f64 gives") {
  // The shapes of a model layer, where oneDNN has JIT kernels (cpu::linear_f32 takes the call), for x as stored
  // and x transposed in memory; f64 runs the general way (bias and residual written first, then the GEMM).
  Generator g(17);
  const int64_t R = 96, K = 48, N = 40;
  Tensor w = randn({N, K}, DType::F32, &g), b = randn({N}, DType::F32, &g), r = randn({R, N}, DType::F32, &g);
  for (bool transposed_x : {false, true}) {
    Tensor x = transposed_x ? randn({K, R}, DType::F32, &g).transpose(0, 1) : randn({R, K}, DType::F32, &g);
    std::vector<float> probe(static_cast<size_t>(R * N));
    Tensor xc = x.contiguous();
    CHECK(cpu::linear_f32(false, true, R, N, K, xc.data<float>(), K, w.data<float>(), K, b.data<float>(),
                          r.data<float>(), probe.data()));
    for (int variant = 0; variant < 4; ++variant) {
      const Tensor bias = variant & 1 ? b : Tensor(), residual = variant & 2 ? r : Tensor();
      const std::vector<double> got = linear(x, w, bias, residual).to_vector<double>();
      const std::vector<double> want =
          linear(x.to(DType::F64), w.to(DType::F64), bias.defined() ? bias.to(DType::F64) : Tensor(),
                 residual.defined() ? residual.to(DType::F64) : Tensor())
              .to_vector<double>();
      REQUIRE(got.size() == want.size());
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
      INFO("x transposed ", transposed_x, ", bias ", bias.defined(), ", residual ", residual.defined());
      CHECK(worst < 1e-4);
    }
  }
}
