// test_column_sums.cpp: the bias gradient that bias_gelu_backward sums while it makes gx (cpu/column_sums.h)
// has the bits sum_dim gives over the finished gx, in f32 and f64, in place (gx = gy) or not, on row counts
// around the chunk size, and the same bits for 1 and 2 threads.
#include <doctest/doctest.h>
#include <omp.h>

#include <random>
#include <vector>

#include "cpu/kernels.h"

using namespace sg;

namespace {
template <typename T>
void check_bias_gelu_backward_sums(int64_t rows, int64_t D, bool in_place) {
  std::mt19937_64 rng(static_cast<uint64_t>(rows * 1000 + D));
  std::normal_distribution<double> n(0.0, 1.0);
  std::vector<T> x(static_cast<size_t>(rows * D)), gy(x.size()), b(static_cast<size_t>(D));
  for (T& v : x) v = static_cast<T>(2 * n(rng));
  for (T& v : gy) v = static_cast<T>(n(rng));
  for (T& v : b) v = static_cast<T>(n(rng));
  std::vector<T> gx_ref(x.size()), gb_ref(static_cast<size_t>(D));
  cpu::bias_gelu_backward<T>(x.data(), b.data(), gy.data(), gx_ref.data(), nullptr, rows, D);
  cpu::sum_dim<T>(gx_ref.data(), gb_ref.data(), 1, rows, D);
  const int threads_before = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    std::vector<T> g = gy, gx(x.size()), gb(static_cast<size_t>(D), T(-7));
    T* out = in_place ? g.data() : gx.data();
    cpu::bias_gelu_backward<T>(x.data(), b.data(), g.data(), out, gb.data(), rows, D);
    INFO("rows ", rows, ", D ", D, ", in place ", in_place, ", threads ", threads);
    CHECK(std::vector<T>(out, out + x.size()) == gx_ref);
    CHECK(gb == gb_ref);
  }
  omp_set_num_threads(threads_before);
}
}  // namespace

TEST_CASE("bias_gelu_backward: the bias gradient summed as gx is made has sum_dim's bits") {
  for (int64_t rows : {1, 255, 256, 257, 1000})
    for (int64_t D : {64, 128, 192, 768})
      for (bool in_place : {false, true}) {
        check_bias_gelu_backward_sums<float>(rows, D, in_place);
        check_bias_gelu_backward_sums<double>(rows, D, in_place);
      }
}
