// test_fast_math.cpp: the vectorisable float helpers of cpu/fast_math.h that the softmax and attention kernels
// share: the row maximum (16 running maxima and a tree) and the softmax of one row with its log-sum-exp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "cpu/fast_math.h"

using namespace sg;

TEST_CASE("fast math: row_max is the largest element for every length 1-70 and every position of the maximum") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-50.f, -1.f);  // all negative: a maximum started from 0 would be wrong
  for (int64_t M = 1; M <= 70; ++M) {
    for (int64_t at = 0; at < M; ++at) {
      std::vector<float> row(static_cast<size_t>(M));
      for (float& x : row) x = u(rng);
      row[at] = -0.5f;
      INFO("M ", M, ", maximum at ", at);
      CHECK(cpu::row_max(row.data(), M) == -0.5f);
      CHECK(cpu::row_max(row.data(), M) == *std::max_element(row.begin(), row.end()));
    }
  }
}

TEST_CASE("fast math: softmax_row_lse gives probabilities summing to 1 and the row's log-sum-exp (f64 reference)") {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> n(0.f, 4.f);
  for (int64_t M : {1, 7, 16, 33, 64, 197}) {
    std::vector<float> row(static_cast<size_t>(M));
    for (float& x : row) x = n(rng);
    double mx = row[0];
    for (float x : row) mx = std::max(mx, static_cast<double>(x));
    double sum = 0;
    for (float x : row) sum += std::exp(x - mx);
    const double lse = mx + std::log(sum);
    const std::vector<float> x = row;
    const float got = cpu::softmax_row_lse(row.data(), M);
    INFO("M ", M);
    CHECK(std::abs(got - lse) <= 1e-5 * std::max(1.0, std::abs(lse)));
    double total = 0;
    for (int64_t j = 0; j < M; ++j) {
      CHECK(std::abs(row[j] - std::exp(x[j] - lse)) <= 1e-6);
      total += row[j];
    }
    CHECK(std::abs(total - 1.0) <= 1e-5);
  }
}
