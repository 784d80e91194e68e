// softmax.cu: stable softmax / log_softmax over the middle dim of [outer, r, inner], and the backward
// (formulas in cpu/softmax.cpp). Sums accumulate in double as on the CPU; no atomics. bf16 is computed in
// float (acc_t) and rounded once when stored.
//   inner == 1, r <= 1024: one warp per row;  inner == 1, r > 1024: one 256-thread block per row
//   inner > 1: one thread per (outer, inner) column, walking r (coalesced across the inner index)
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

constexpr int kWarpRowMax = 1024;

// Row reductions over a warp or over the block, with the same code for both.
struct WarpGroup {
  static constexpr int size = 32;
  __device__ static int rank() { return static_cast<int>(threadIdx.x) & 31; }
  template <typename A>
  __device__ static A sum(A v, A*) {
    return warp_sum(v);
  }
  template <typename A>
  __device__ static A max(A v, A*) {
    return warp_max(v);
  }
};
struct BlockGroup {
  static constexpr int size = kThreads;
  __device__ static int rank() { return static_cast<int>(threadIdx.x); }
  template <typename A>
  __device__ static A sum(A v, A* red) {
    return block_sum(v, red);
  }
  template <typename A>
  __device__ static A max(A v, A* red) {
    return block_max(v, red);
  }
};

// Rows handed to groups: a warp group takes row (block * warps_per_block + warp), a block group row block.
template <typename G>
__device__ __forceinline__ int64_t first_row() {
  if constexpr (G::size == 32) return blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5);
  return blockIdx.x;
}
template <typename G>
__device__ __forceinline__ int64_t row_step() {
  if constexpr (G::size == 32) return static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  return gridDim.x;
}

template <typename G, typename T>
__global__ void softmax_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t r, bool log) {
  __shared__ double red_d[kThreads / 32];
  using A = acc_t<T>;
  __shared__ A red_t[kThreads / 32];
  for (int64_t o = first_row<G>(); o < outer; o += row_step<G>()) {
    const T* xr = x + o * r;
    T* yr = y + o * r;
    A m = -d_inf<A>();
    for (int64_t k = G::rank(); k < r; k += G::size) m = d_max(m, A(xr[k]));
    m = G::max(m, red_t);
    double s = 0;
    for (int64_t k = G::rank(); k < r; k += G::size) s += static_cast<double>(d_exp(A(xr[k]) - m));
    s = G::sum(s, red_d);
    if (log) {
      const A ls = static_cast<A>(::log(s));
      for (int64_t k = G::rank(); k < r; k += G::size) yr[k] = T(A(xr[k]) - m - ls);
    } else {
      const A inv = static_cast<A>(1.0 / s);
      for (int64_t k = G::rank(); k < r; k += G::size) yr[k] = T(d_exp(A(xr[k]) - m) * inv);
    }
  }
}

template <typename G, typename T>
__global__ void softmax_backward_rows_kernel(const T* __restrict__ y, const T* __restrict__ gy, T* __restrict__ gx,
                                             int64_t outer, int64_t r, bool log) {
  using A = acc_t<T>;
  __shared__ double red_d[kThreads / 32];
  for (int64_t o = first_row<G>(); o < outer; o += row_step<G>()) {
    const T* yr = y + o * r;
    const T* gr = gy + o * r;
    T* xr = gx + o * r;
    double s = 0;
    if (log) {
      for (int64_t k = G::rank(); k < r; k += G::size) s += static_cast<double>(gr[k]);
    } else {
      for (int64_t k = G::rank(); k < r; k += G::size) s += static_cast<double>(A(gr[k]) * A(yr[k]));
    }
    const A st = static_cast<A>(G::sum(s, red_d));
    if (log) {
      for (int64_t k = G::rank(); k < r; k += G::size) xr[k] = T(A(gr[k]) - d_exp(A(yr[k])) * st);
    } else {
      for (int64_t k = G::rank(); k < r; k += G::size) xr[k] = T(A(yr[k]) * (A(gr[k]) - st));
    }
  }
}

template <typename T>
__global__ void softmax_cols_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t r,
                                    int64_t inner, bool log) {
  const int64_t n = outer * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = e / inner, i = e - o * inner;
    using A = acc_t<T>;
    const T* xr = x + o * r * inner + i;
    T* yr = y + o * r * inner + i;
    A m = A(xr[0]);
    for (int64_t k = 1; k < r; ++k) m = d_max(m, A(xr[k * inner]));
    double s = 0;
    for (int64_t k = 0; k < r; ++k) s += static_cast<double>(d_exp(A(xr[k * inner]) - m));
    if (log) {
      const A ls = static_cast<A>(::log(s));
      for (int64_t k = 0; k < r; ++k) yr[k * inner] = T(A(xr[k * inner]) - m - ls);
    } else {
      const A inv = static_cast<A>(1.0 / s);
      for (int64_t k = 0; k < r; ++k) yr[k * inner] = T(d_exp(A(xr[k * inner]) - m) * inv);
    }
  }
}

template <typename T>
__global__ void softmax_backward_cols_kernel(const T* __restrict__ y, const T* __restrict__ gy, T* __restrict__ gx,
                                             int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t n = outer * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = e / inner, i = e - o * inner;
    using A = acc_t<T>;
    const int64_t base = o * r * inner + i;
    double s = 0;
    if (log) {
      for (int64_t k = 0; k < r; ++k) s += static_cast<double>(gy[base + k * inner]);
      const A st = static_cast<A>(s);
      for (int64_t k = 0; k < r; ++k)
        gx[base + k * inner] = T(A(gy[base + k * inner]) - d_exp(A(y[base + k * inner])) * st);
    } else {
      for (int64_t k = 0; k < r; ++k) s += static_cast<double>(A(gy[base + k * inner]) * A(y[base + k * inner]));
      const A st = static_cast<A>(s);
      for (int64_t k = 0; k < r; ++k) gx[base + k * inner] = T(A(y[base + k * inner]) * (A(gy[base + k * inner]) - st));
    }
  }
}

}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (outer <= 0 || r <= 0 || inner <= 0) return;
  if (inner == 1 && r <= kWarpRowMax) {
    softmax_rows_kernel<WarpGroup, T><<<grid_for(outer, kThreads / 32), kThreads, 0, stream()>>>(x, y, outer, r, log);
    check_launch("softmax_forward (softmax_rows_kernel, warp per row)");
  } else if (inner == 1) {
    softmax_rows_kernel<BlockGroup, T>
        <<<static_cast<unsigned>(std::min<int64_t>(outer, 1 << 20)), kThreads, 0, stream()>>>(x, y, outer, r, log);
    check_launch("softmax_forward (softmax_rows_kernel, block per row)");
  } else {
    softmax_cols_kernel<T><<<grid_for(outer * inner), kThreads, 0, stream()>>>(x, y, outer, r, inner, log);
    check_launch("softmax_forward (softmax_cols_kernel)");
  }
}

template <typename T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (outer <= 0 || r <= 0 || inner <= 0) return;
  if (inner == 1 && r <= kWarpRowMax) {
    softmax_backward_rows_kernel<WarpGroup, T>
        <<<grid_for(outer, kThreads / 32), kThreads, 0, stream()>>>(y, gy, gx, outer, r, log);
    check_launch("softmax_backward (softmax_backward_rows_kernel, warp per row)");
  } else if (inner == 1) {
    softmax_backward_rows_kernel<BlockGroup, T>
        <<<static_cast<unsigned>(std::min<int64_t>(outer, 1 << 20)), kThreads, 0, stream()>>>(y, gy, gx, outer, r, log);
    check_launch("softmax_backward (softmax_backward_rows_kernel, block per row)");
  } else {
    softmax_backward_cols_kernel<T><<<grid_for(outer * inner), kThreads, 0, stream()>>>(y, gy, gx, outer, r, inner, log);
    check_launch("softmax_backward (softmax_backward_cols_kernel)");
  }
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<bf16>(const bf16*, const bf16*, bf16*, int64_t, int64_t, int64_t, bool);

}  // namespace sg::cuda
