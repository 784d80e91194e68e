// reduce.cu: sum and max over the middle dim of [outer, r, inner], and max's backward. No atomics: every
// output is reduced by one warp or one block in a fixed order, so results repeat bit for bit.
//   inner == 1, r <= 1024: one warp per row (8 rows per 256-thread block)
//   inner == 1, r > 1024:  one 256-thread block per row
//   inner > 1:             32 x 8 thread blocks: 32 consecutive inner indices (coalesced), 8 slices of r,
//                          the 8 partials combined in order through shared memory; when that gives too few
//                          blocks (bias gradients), r is cut into chunks summed by separate blocks and the
//                          chunk partials are added in order by a second kernel
// bf16 is read into double (sums) or float (max) and rounded once when stored.
// Sums accumulate in double, as cpu/reduce.cpp does. Max keeps the first index of the maximum; a NaN
// at k = 0 wins (as the CPU loop gives), NaNs elsewhere are skipped.
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

constexpr int kWarpRowMax = 1024;  // rows up to this long go to one warp

// ---------------------------------------------------------------- sum

template <typename T>
__global__ void sum_rows_warp_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t r) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); o < outer; o += warps) {
    const T* row = x + o * r;
    double acc = 0;
    for (int64_t k = lane; k < r; k += 32) acc += static_cast<double>(row[k]);
    acc = warp_sum(acc);
    if (lane == 0) y[o] = static_cast<T>(acc);
  }
}

template <typename T>
__global__ void sum_rows_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t r) {
  __shared__ double red[kThreads / 32];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * r;
    double acc = 0;
    for (int64_t k = threadIdx.x; k < r; k += kThreads) acc += static_cast<double>(row[k]);
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) y[o] = static_cast<T>(acc);
  }
}

// blockDim (32, 8): x over inner, y over slices of r.
template <typename T>
__global__ void sum_strided_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t r,
                                   int64_t inner) {
  __shared__ double part[8][33];
  const int64_t i = blockIdx.x * 32 + threadIdx.x;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    double acc = 0;
    if (i < inner)
      for (int64_t k = threadIdx.y; k < r; k += 8) acc += static_cast<double>(x[(o * r + k) * inner + i]);
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      double s = part[0][threadIdx.x];
      for (int w = 1; w < 8; ++w) s += part[w][threadIdx.x];
      y[o * inner + i] = static_cast<T>(s);
    }
    __syncthreads();
  }
}

// Few outputs and long r (a bias gradient: [1, B*N, D]): sum_strided_kernel alone would run on a handful
// of blocks. Pass 1: grid (inner/32, outer, chunks), each block sums its chunk of r into a double partial
// part[o, c, i]; pass 2 adds the chunks of each output in chunk order. Fixed order, no atomics.
template <typename T>
__global__ void sum_chunks_kernel(const T* __restrict__ x, double* __restrict__ part, int64_t outer, int64_t r,
                                  int64_t inner, int64_t chunk) {
  __shared__ double red[8][33];
  const int64_t i = blockIdx.x * 32 + threadIdx.x;
  const int64_t o = blockIdx.y, c = blockIdx.z, chunks = gridDim.z;
  const int64_t k0 = c * chunk, k1 = k0 + chunk < r ? k0 + chunk : r;
  double acc = 0;
  if (i < inner)
    for (int64_t k = k0 + threadIdx.y; k < k1; k += 8) acc += static_cast<double>(x[(o * r + k) * inner + i]);
  red[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && i < inner) {
    double t = red[0][threadIdx.x];
    for (int w = 1; w < 8; ++w) t += red[w][threadIdx.x];
    part[(o * chunks + c) * inner + i] = t;
  }
}

template <typename T>
__global__ void sum_partials_kernel(const double* __restrict__ part, T* __restrict__ y, int64_t outer, int64_t chunks,
                                    int64_t inner) {
  const int64_t n = outer * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = e / inner, i = e - o * inner;
    double t = 0;
    for (int64_t c = 0; c < chunks; ++c) t += part[(o * chunks + c) * inner + i];
    y[e] = static_cast<T>(t);
  }
}

// ---------------------------------------------------------------- max

// (value, index) with the rule: larger value wins, equal values go to the smaller index; NaN never wins.
template <typename T>
struct ArgMax {
  T v;
  int64_t k;
};
template <typename T>
__device__ __forceinline__ void argmax_take(ArgMax<T>& a, T v, int64_t k) {
  if (v > a.v || (v == a.v && k < a.k)) a.v = v, a.k = k;
}
template <typename T>
__device__ __forceinline__ ArgMax<T> argmax_init() {
  return ArgMax<T>{-d_inf<T>(), INT64_MAX};
}
template <typename T>
__device__ __forceinline__ ArgMax<T> warp_argmax(ArgMax<T> a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    T v = __shfl_xor_sync(0xffffffffu, a.v, o);
    int64_t k = __shfl_xor_sync(0xffffffffu, a.k, o);
    argmax_take(a, v, k);
  }
  return a;
}
// The CPU loop's answer from the reduced one and the first element x0 (r >= 1).
template <typename T>
__device__ __forceinline__ void argmax_finish(ArgMax<T>& a, T x0) {  // T: the compute type (acc_t)
  if (x0 != x0) a.v = x0, a.k = 0;  // NaN first: nothing compares greater, the loop keeps it
  if (a.k == INT64_MAX) a.k = 0;    // cannot happen with x0 not NaN; kept for safety
}

template <typename T, typename A = acc_t<T>>
__global__ void max_rows_warp_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ arg,
                                     int64_t outer, int64_t r) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); o < outer; o += warps) {
    const T* row = x + o * r;
    ArgMax<A> a = argmax_init<A>();
    for (int64_t k = lane; k < r; k += 32) argmax_take(a, A(row[k]), k);
    a = warp_argmax(a);
    if (lane == 0) {
      argmax_finish(a, A(row[0]));
      y[o] = T(a.v);
      arg[o] = a.k;
    }
  }
}

template <typename T, typename A = acc_t<T>>
__global__ void max_rows_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ arg,
                                      int64_t outer, int64_t r) {
  __shared__ A rv[kThreads / 32];
  __shared__ int64_t rk[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * r;
    ArgMax<A> a = argmax_init<A>();
    for (int64_t k = threadIdx.x; k < r; k += kThreads) argmax_take(a, A(row[k]), k);
    a = warp_argmax(a);
    __syncthreads();
    if (lane == 0) rv[warp] = a.v, rk[warp] = a.k;
    __syncthreads();
    if (threadIdx.x == 0) {
      ArgMax<A> b = argmax_init<A>();
      for (int w = 0; w < kThreads / 32; ++w) argmax_take(b, rv[w], rk[w]);
      argmax_finish(b, A(row[0]));
      y[o] = T(b.v);
      arg[o] = b.k;
    }
  }
}

template <typename T, typename A = acc_t<T>>
__global__ void max_strided_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ arg,
                                   int64_t outer, int64_t r, int64_t inner) {
  __shared__ A pv[8][33];
  __shared__ int64_t pk[8][33];
  const int64_t i = blockIdx.x * 32 + threadIdx.x;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    ArgMax<A> a = argmax_init<A>();
    if (i < inner)
      for (int64_t k = threadIdx.y; k < r; k += 8) argmax_take(a, A(x[(o * r + k) * inner + i]), k);
    pv[threadIdx.y][threadIdx.x] = a.v;
    pk[threadIdx.y][threadIdx.x] = a.k;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      ArgMax<A> b = argmax_init<A>();
      for (int w = 0; w < 8; ++w) argmax_take(b, pv[w][threadIdx.x], pk[w][threadIdx.x]);
      argmax_finish(b, A(x[o * r * inner + i]));
      y[o * inner + i] = T(b.v);
      arg[o * inner + i] = b.k;
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void max_empty_kernel(T* __restrict__ y, int64_t* __restrict__ arg, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = T(-d_inf<acc_t<T>>()), arg[i] = 0;
}

template <typename T>
__global__ void max_backward_kernel(const T* __restrict__ gy, const int64_t* __restrict__ arg, T* __restrict__ gx,
                                    int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = outer * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = e / inner, i = e - o * inner;
    const int64_t k = arg[e];
    if (k >= 0 && k < r) gx[(o * r + k) * inner + i] = gy[e];
  }
}

dim3 strided_grid(int64_t outer, int64_t inner) {
  const int64_t gx = (inner + 31) / 32;
  SG_CHECK(gx <= INT32_MAX, "reduce: inner size {} too large", inner);
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(std::min<int64_t>(outer, 65535)));
}

// How many chunks of r sum_dim splits [outer, r, inner] into: enough blocks to fill the GPU (~4 per SM on
// 132 SMs) with at least 256 rows of r per chunk; 1 (one pass, sum_strided_kernel) when there are blocks
// enough already.
int64_t sum_chunks_for(int64_t outer, int64_t r, int64_t inner) {
  constexpr int64_t kTargetBlocks = 512, kMinRowsPerChunk = 256;
  const int64_t blocks = ((inner + 31) / 32) * outer;
  if (blocks >= kTargetBlocks || outer > 65535) return 1;
  int64_t chunks = (kTargetBlocks + blocks - 1) / blocks;
  chunks = std::min<int64_t>(chunks, r / kMinRowsPerChunk);
  return std::min<int64_t>(std::max<int64_t>(chunks, 1), 65535);
}

}  // namespace

template <typename T>
void sum_dim(const T* x, T* y, int64_t outer, int64_t r, int64_t inner) {
  if (outer <= 0 || inner <= 0) return;
  if (r <= 0) {
    check(cudaMemsetAsync(y, 0, static_cast<size_t>(outer * inner) * sizeof(T), stream()), "sum_dim (cudaMemsetAsync)");
    return;
  }
  if (inner == 1 && r <= kWarpRowMax) {
    sum_rows_warp_kernel<T><<<grid_for(outer, kThreads / 32), kThreads, 0, stream()>>>(x, y, outer, r);
    check_launch("sum_dim (sum_rows_warp_kernel)");
  } else if (inner == 1) {
    sum_rows_block_kernel<T><<<static_cast<unsigned>(std::min<int64_t>(outer, 1 << 20)), kThreads, 0, stream()>>>(
        x, y, outer, r);
    check_launch("sum_dim (sum_rows_block_kernel)");
  } else if (const int64_t chunks = sum_chunks_for(outer, r, inner); chunks > 1) {
    const int64_t chunk = (r + chunks - 1) / chunks;
    Scratch part(static_cast<size_t>(outer * chunks * inner) * sizeof(double));
    const dim3 grid(strided_grid(outer, inner).x, static_cast<unsigned>(outer), static_cast<unsigned>(chunks));
    sum_chunks_kernel<T><<<grid, dim3(32, 8), 0, stream()>>>(x, part.as<double>(), outer, r, inner, chunk);
    check_launch("sum_dim (sum_chunks_kernel)");
    sum_partials_kernel<T><<<grid_for(outer * inner), kThreads, 0, stream()>>>(part.as<double>(), y, outer, chunks, inner);
    check_launch("sum_dim (sum_partials_kernel)");
  } else {
    sum_strided_kernel<T><<<strided_grid(outer, inner), dim3(32, 8), 0, stream()>>>(x, y, outer, r, inner);
    check_launch("sum_dim (sum_strided_kernel)");
  }
}

template <typename T>
void max_dim(const T* x, T* y, int64_t* argmax, int64_t outer, int64_t r, int64_t inner) {
  if (outer <= 0 || inner <= 0) return;
  if (r <= 0) {
    max_empty_kernel<T><<<grid_for(outer * inner), kThreads, 0, stream()>>>(y, argmax, outer * inner);
    check_launch("max_dim (max_empty_kernel)");
    return;
  }
  if (inner == 1 && r <= kWarpRowMax) {
    max_rows_warp_kernel<T><<<grid_for(outer, kThreads / 32), kThreads, 0, stream()>>>(x, y, argmax, outer, r);
    check_launch("max_dim (max_rows_warp_kernel)");
  } else if (inner == 1) {
    max_rows_block_kernel<T><<<static_cast<unsigned>(std::min<int64_t>(outer, 1 << 20)), kThreads, 0, stream()>>>(
        x, y, argmax, outer, r);
    check_launch("max_dim (max_rows_block_kernel)");
  } else {
    max_strided_kernel<T><<<strided_grid(outer, inner), dim3(32, 8), 0, stream()>>>(x, y, argmax, outer, r, inner);
    check_launch("max_dim (max_strided_kernel)");
  }
}

template <typename T>
void max_dim_backward(const T* gy, const int64_t* argmax, T* gx, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = outer * r * inner;
  if (n <= 0) return;
  check(cudaMemsetAsync(gx, 0, static_cast<size_t>(n) * sizeof(T), stream()), "max_dim_backward (cudaMemsetAsync)");
  max_backward_kernel<T><<<grid_for(outer * inner), kThreads, 0, stream()>>>(gy, argmax, gx, outer, r, inner);
  check_launch("max_dim_backward (max_backward_kernel)");
}

template void sum_dim<float>(const float*, float*, int64_t, int64_t, int64_t);
template void sum_dim<double>(const double*, double*, int64_t, int64_t, int64_t);
template void max_dim<float>(const float*, float*, int64_t*, int64_t, int64_t, int64_t);
template void max_dim<double>(const double*, double*, int64_t*, int64_t, int64_t, int64_t);
template void max_dim_backward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void max_dim_backward<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);
template void sum_dim<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t);
template void max_dim<bf16>(const bf16*, bf16*, int64_t*, int64_t, int64_t, int64_t);
template void max_dim_backward<bf16>(const bf16*, const int64_t*, bf16*, int64_t, int64_t, int64_t);

}  // namespace sg::cuda
