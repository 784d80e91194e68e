// column_sums.h: the column sums of a [rows, D] matrix (a bias gradient), shared by sum_dim and the kernels that
// make such a matrix and sum it in the same pass (bias_gelu_backward). The rows are cut into chunks of a fixed
// size that the threads share (the work splits evenly whatever D is), each chunk summed over whole rows into its
// own f64 partial sums, and the partials added in chunk order: the same bits for any thread count, and the same
// whether the rows are summed as they are made or read back afterwards.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace sg::cpu {

constexpr int64_t kColumnSumChunkRows = 256;

// sums[i] = sum over k of row(k)[i]; row(k) returns a pointer to row k's D values (and may compute them first:
// each row is summed right after it is made, while it is still in cache).
template <typename T, typename RowFn>
void chunked_column_sums(int64_t rows, int64_t D, T* sums, RowFn row) {
  const int64_t chunks = (rows + kColumnSumChunkRows - 1) / kColumnSumChunkRows;
  std::vector<double> partial(static_cast<size_t>(chunks * D), 0.0);
#pragma omp parallel for schedule(static) if (rows * D > (1 << 15))
  for (int64_t c = 0; c < chunks; ++c) {
    double* acc = partial.data() + c * D;
    for (int64_t k = c * kColumnSumChunkRows; k < std::min(rows, (c + 1) * kColumnSumChunkRows); ++k) {
      const T* r = row(k);
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) acc[i] += static_cast<double>(r[i]);
    }
  }
  for (int64_t i = 0; i < D; ++i) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[static_cast<size_t>(c * D + i)];
    sums[i] = static_cast<T>(total);
  }
}

}  // namespace sg::cpu
