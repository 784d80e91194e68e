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
