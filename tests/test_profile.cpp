// test_profile.cpp: the kernel profile (tensor/profile.h): rows per kernel, and the GFLOP/s of the matrix
// products from the FLOPs they count.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "tensor/ops.h"
#include "tensor/profile.h"

using namespace sg;

namespace {

// The cells of the report's row for `kernel` (empty if it has none), split at whitespace.
std::vector<std::string> row_of(const std::string& report, const std::string& kernel) {
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cells(line);
    std::vector<std::string> v;
    for (std::string c; cells >> c;) v.push_back(c);
    if (!v.empty() && v[0] == kernel) return v;
  }
  return {};
}

}  // namespace

TEST_CASE("profile: GEMM rows give GFLOP/s from the FLOPs of the products; elementwise rows give none") {
  Generator g(3);
  Tensor a = randn({256, 384}, DType::F32, &g), b = randn({384, 320}, DType::F32, &g);
  matmul(a, b);  // oneDNN builds its kernels on the first call
  const bool was_on = profile::enabled();
  profile::set_enabled(true);
  profile::reset();
  Tensor c = matmul(a, b);
  Tensor d = add(c, c);
  const double seconds = profile::kernel_seconds();
  const std::string report = profile::report(1);
  profile::set_enabled(was_on);
  profile::reset();
  INFO(report);
  // kernel, device, calls/step, ms/step, mean us, share, GFLOP/s
  const std::vector<std::string> gemm = row_of(report, "gemm"), binary = row_of(report, "binary");
  REQUIRE(gemm.size() == 7);
  REQUIRE(binary.size() == 6);  // no rate
  CHECK(gemm[2] == "1.0");
  const double ms = std::stod(gemm[3]), rate = std::stod(gemm[6]);
  REQUIRE(ms > 0);
  CHECK(seconds > 0);
  // 2 * 256 * 320 * 384 FLOPs over the row's time, within the printed roundings (ms to 3 decimals, GFLOP/s to 1)
  const double flops = 2.0 * 256 * 320 * 384, expected = flops / (ms * 1e-3) / 1e9;
  CHECK(std::abs(rate - expected) <= 0.05 + expected * (0.0005 / ms + 0.001));
}

TEST_CASE("profile: the by-shape table has a row per GEMM shape and op, with its calls and rate; past 24, one row") {
  Generator g(5);
  Tensor a = randn({96, 64}, DType::F32, &g), b = randn({64, 80}, DType::F32, &g);
  Tensor at = randn({64, 96}, DType::F32, &g), w = randn({80, 64}, DType::F32, &g), bias = randn({80}, DType::F32, &g);
  auto products = [&] {
    matmul(a, b);               // (96, 80, 64) A B
    matmul(a, b);
    matmul(at, b, true, false);  // (96, 80, 64) A^T B
    linear(a, w, bias);          // (96, 80, 64) A B^T: the weight is read transposed
  };
  products();  // oneDNN builds its kernels on the first calls
  const bool was_on = profile::enabled();
  profile::set_enabled(true);
  profile::reset();
  products();
  std::string report = profile::report(1);
  INFO(report);
  // The by-shape rows: kernel, (M,, N,, K), op (one or two cells), device, calls/step, ms/step, mean us, GFLOP/s.
  auto shape_row = [&](const std::string& op) {
    std::istringstream lines(report);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("gemm (96, 80, 64)", 0) == 0 && line.find(" " + op + " ") != std::string::npos) return line;
    return std::string();
  };
  const std::string ab = shape_row("A B"), atb = shape_row("A^T B"), abt = shape_row("A B^T");
  REQUIRE(!ab.empty());
  REQUIRE(!atb.empty());
  REQUIRE(!abt.empty());
  auto cells_after = [](const std::string& line, const std::string& op) {  // the cells after the op
    std::istringstream cells(line.substr(line.find(" " + op + " ") + op.size() + 2));
    std::vector<std::string> v;
    for (std::string c; cells >> c;) v.push_back(c);
    return v;
  };
  const std::vector<std::string> r1 = cells_after(ab, "A B"), r2 = cells_after(atb, "A^T B"),
                                 r3 = cells_after(abt, "A B^T");
  REQUIRE(r1.size() == 5);  // device, calls/step, ms/step, mean us, GFLOP/s
  CHECK(r1[0] == "cpu");
  CHECK(r1[1] == "2.0");
  CHECK(r2[1] == "1.0");
  CHECK(r3[1] == "1.0");
  // The rate of a row is its FLOPs over its time, within the printed roundings.
  const double ms = std::stod(r1[2]), rate = std::stod(r1[4]);
  REQUIRE(ms > 0);
  const double expected = 2 * 2.0 * 96 * 80 * 64 / (ms * 1e-3) / 1e9;
  CHECK(std::abs(rate - expected) <= 0.05 + expected * (0.0005 / ms + 0.001));
  // The shape rows add up to the gemm row's calls.
  CHECK(row_of(report, "gemm")[2] == "4.0");

  // 26 shapes: the 24 slowest get a row each, the other two one row with their calls.
  profile::reset();
  for (int64_t n = 1; n <= 26; ++n) matmul(a, randn({64, n}, DType::F32, &g));
  report = profile::report(1);
  profile::set_enabled(was_on);
  profile::reset();
  INFO(report);
  int shape_rows = 0;
  std::string more;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    shape_rows += line.rfind("gemm (96, ", 0) == 0;
    if (line.rfind("2 more shapes", 0) == 0) more = line;
  }
  CHECK(shape_rows == 24);
  REQUIRE(!more.empty());
  std::istringstream cells(more.substr(std::string("2 more shapes").size()));
  std::string calls;
  cells >> calls;
  CHECK(calls == "2.0");
}
