// index.cu: row gather and its adjoint, a deterministic scatter-add.
//   gather_rows:      one thread per output element (i, c), grid-stride.
//   scatter_add_rows: no atomics. The positions 0..n-1 are sorted by index with CUB's stable radix sort,
//                     so each index's positions form one run, in increasing position order. For each run
//                     start s and column c, one thread adds gout[pos, c] over the run's positions in that
//                     order into a register and writes gsrc[idx, c] once. Rows nobody indexes stay zero.
//                     The sums are the CPU's, in the CPU's order: results match cpu/index.cpp bit for bit.
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

template <typename T>
__global__ void gather_kernel(const T* __restrict__ src, const int64_t* __restrict__ idx, T* __restrict__ out,
                              int64_t n, int64_t D) {
  const int64_t total = n * D;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / D, c = e - i * D;
    out[e] = src[idx[i] * D + c];
  }
}

__global__ void iota_kernel(int* __restrict__ v, int n) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n;
       i += static_cast<int>(gridDim.x * blockDim.x))
    v[i] = i;
}

constexpr int kScatterThreads = 128;

// grid (ceil(D / kScatterThreads), min(n, 65535)); blockIdx.y walks the sorted positions s.
template <typename T>
__global__ void __launch_bounds__(kScatterThreads)
    scatter_runs_kernel(const T* __restrict__ gout, const int64_t* __restrict__ keys, const int* __restrict__ pos,
                        T* __restrict__ gsrc, int64_t n, int64_t D, int64_t V) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(kScatterThreads) + threadIdx.x;
  for (int64_t s = blockIdx.y; s < n; s += gridDim.y) {
    const int64_t r = keys[s];
    if (s > 0 && keys[s - 1] == r) continue;  // not the start of a run
    // End of the run: first position past s with a larger key (keys are sorted).
    int64_t lo = s + 1, hi = n;
    while (lo < hi) {
      const int64_t mid = lo + ((hi - lo) >> 1);
      if (keys[mid] == r) lo = mid + 1;
      else hi = mid;
    }
    if (c >= D || r < 0 || r >= V) continue;
    acc_t<T> acc = 0;  // float for bf16: one rounding per output
#pragma unroll 16  // many loads in flight: a long run (a padding token) is one serial sum per column
    for (int64_t t = s; t < lo; ++t) acc += acc_t<T>(gout[static_cast<int64_t>(pos[t]) * D + c]);
    gsrc[r * D + c] = T(acc);
  }
}

}  // namespace

template <typename T>
void gather_rows(const T* src, const int64_t* idx, T* out, int64_t n, int64_t D) {
  if (n <= 0 || D <= 0) return;
  gather_kernel<T><<<grid_for(n * D), kThreads, 0, stream()>>>(src, idx, out, n, D);
  check_launch("gather_rows (gather_kernel)");
}

template <typename T>
void scatter_add_rows(const T* gout, const int64_t* idx, T* gsrc, int64_t n, int64_t D, int64_t V) {
  if (V > 0 && D > 0)
    check(cudaMemsetAsync(gsrc, 0, static_cast<size_t>(V * D) * sizeof(T), stream()),
          "scatter_add_rows (cudaMemsetAsync)");
  if (n <= 0 || D <= 0 || V <= 0) return;
  SG_CHECK(n < INT_MAX, "scatter_add_rows: {} indices; the CUDA kernel takes fewer than 2^31", n);
  const int ni = static_cast<int>(n);

  // Scratch: sorted keys, positions in and out, then CUB's temporary storage.
  size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, idx, static_cast<int64_t*>(nullptr),
                                        static_cast<const int*>(nullptr), static_cast<int*>(nullptr), ni, 0,
                                        static_cast<int>(sizeof(int64_t) * 8), stream()),
        "scatter_add_rows (cub::DeviceRadixSort::SortPairs, size query)");
  auto align = [](size_t b) { return (b + 255) & ~size_t(255); };
  const size_t keys_b = align(static_cast<size_t>(n) * sizeof(int64_t)), pos_b = align(static_cast<size_t>(n) * sizeof(int));
  Scratch scratch(keys_b + 2 * pos_b + align(temp_bytes));
  char* base = scratch.as<char>();
  int64_t* keys = reinterpret_cast<int64_t*>(base);
  int* pos_in = reinterpret_cast<int*>(base + keys_b);
  int* pos_out = reinterpret_cast<int*>(base + keys_b + pos_b);
  void* temp = base + keys_b + 2 * pos_b;

  iota_kernel<<<grid_for(n), kThreads, 0, stream()>>>(pos_in, ni);
  check_launch("scatter_add_rows (iota_kernel)");
  check(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, idx, keys, pos_in, pos_out, ni, 0,
                                        static_cast<int>(sizeof(int64_t) * 8), stream()),
        "scatter_add_rows (cub::DeviceRadixSort::SortPairs)");
  check_launch("scatter_add_rows (cub::DeviceRadixSort::SortPairs)");

  const int64_t col_blocks = (D + kScatterThreads - 1) / kScatterThreads;
  SG_CHECK(col_blocks <= INT32_MAX, "scatter_add_rows: D = {} too large", D);
  dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(std::min<int64_t>(n, 65535)));
  scatter_runs_kernel<T><<<grid, kScatterThreads, 0, stream()>>>(gout, keys, pos_out, gsrc, n, D, V);
  check_launch("scatter_add_rows (scatter_runs_kernel)");
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t);
template void scatter_add_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void scatter_add_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);
template void gather_rows<bf16>(const bf16*, const int64_t*, bf16*, int64_t, int64_t);
template void scatter_add_rows<bf16>(const bf16*, const int64_t*, bf16*, int64_t, int64_t, int64_t);

}  // namespace sg::cuda
