// norm.cu: fused layer norm over the last dim (formulas in cpu/norm.cpp), x: [rows, D].
//   forward:          one warp per row (4 rows per 128-thread block), row sums in double
//   (bf16 x, w, b, y: read into float, mean and rstd kept in float, each output rounded once)
//   backward, gx:     one warp per row
//   backward, gw/gb:  rows cut into kChunks fixed chunks; one thread per (chunk, column) sums its chunk's rows
//                     in order into a double partial; a second kernel adds the partials of each column in
//                     chunk order. No atomics: the result does not depend on scheduling or on the GPU.
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

constexpr int kRowThreads = 128;  // 4 warps, one row each
constexpr int64_t kChunks = 512;  // row chunks for the weight and bias gradients
constexpr int kColThreads = 128;

template <typename T, typename A = acc_t<T>>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_forward_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                              T* __restrict__ y, A* __restrict__ mean, A* __restrict__ rstd, int64_t rows, int64_t D,
                              double eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    double s = 0;
    for (int64_t i = lane; i < D; i += 32) s += static_cast<double>(xr[i]);
    s = warp_sum(s);
    const A mu = static_cast<A>(s / static_cast<double>(D));
    double v = 0;
    for (int64_t i = lane; i < D; i += 32) {
      const A d = A(xr[i]) - mu;
      v += static_cast<double>(d * d);
    }
    v = warp_sum(v);
    const A rs = static_cast<A>(1.0 / ::sqrt(v / static_cast<double>(D) + eps));
    for (int64_t i = lane; i < D; i += 32) yr[i] = T((A(xr[i]) - mu) * rs * A(w[i]) + A(b[i]));
    if (lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

template <typename T, typename A = acc_t<T>>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_backward_gx_kernel(const T* __restrict__ x, const T* __restrict__ w, const A* __restrict__ mean,
                                  const A* __restrict__ rstd, const T* __restrict__ gy, T* __restrict__ gx,
                                  int64_t rows, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T* xr = x + r * D;
    const T* gr = gy + r * D;
    const A mu = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int64_t i = lane; i < D; i += 32) {
      const A xhat = (A(xr[i]) - mu) * rs;
      const A g = mul_rn(A(gr[i]), A(w[i]));
      sg += static_cast<double>(g);
      sgx += static_cast<double>(g * xhat);
    }
    sg = warp_sum(sg);
    sgx = warp_sum(sgx);
    const A mg = static_cast<A>(sg / static_cast<double>(D)), mgx = static_cast<A>(sgx / static_cast<double>(D));
    T* gxr = gx + r * D;
    for (int64_t i = lane; i < D; i += 32) {
      const A xhat = (A(xr[i]) - mu) * rs;
      gxr[i] = T(rs * (mul_rn(A(gr[i]), A(w[i])) - mg - mul_rn(xhat, mgx)));  // g - mean(g) cancels: no FMA
    }
  }
}

// grid (ceil(D / kColThreads), chunks): partial sums of gy * xhat and gy over the chunk's rows.
template <typename T, typename A = acc_t<T>>
__global__ void __launch_bounds__(kColThreads)
    layer_norm_backward_partial_kernel(const T* __restrict__ x, const A* __restrict__ mean, const A* __restrict__ rstd,
                                       const T* __restrict__ gy, double* __restrict__ pw, double* __restrict__ pb,
                                       int64_t rows, int64_t D, int64_t chunks) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(kColThreads) + threadIdx.x;
  if (i >= D) return;
  for (int64_t c = blockIdx.y; c < chunks; c += gridDim.y) {
    const int64_t r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks;
    double aw = 0, ab = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const A g = A(gy[r * D + i]);
      const A xhat = (A(x[r * D + i]) - mean[r]) * rstd[r];
      aw += static_cast<double>(g * xhat);
      ab += static_cast<double>(g);
    }
    pw[c * D + i] = aw;
    pb[c * D + i] = ab;
  }
}

template <typename T>
__global__ void layer_norm_backward_final_kernel(const double* __restrict__ pw, const double* __restrict__ pb,
                                                 T* __restrict__ gw, T* __restrict__ gb, int64_t D, int64_t chunks) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < D;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sw = 0, sb = 0;
    for (int64_t c = 0; c < chunks; ++c) sw += pw[c * D + i], sb += pb[c * D + i];
    gw[i] = static_cast<T>(sw);
    gb[i] = static_cast<T>(sb);
  }
}

}  // namespace

template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, acc_t<T>* mean, acc_t<T>* rstd, int64_t rows, int64_t D,
                        double eps) {
  if (rows <= 0) return;
  const unsigned blocks = grid_for(rows, kRowThreads / 32);
  layer_norm_forward_kernel<T><<<blocks, kRowThreads, 0, stream()>>>(x, w, b, y, mean, rstd, rows, D, eps);
  check_launch("layer_norm_forward (layer_norm_forward_kernel)");
}

template <typename T>
void layer_norm_backward(const T* x, const T* w, const acc_t<T>* mean, const acc_t<T>* rstd, const T* gy, T* gx, T* gw, T* gb,
                         int64_t rows, int64_t D) {
  if (D <= 0) return;
  if (rows <= 0) {
    check(cudaMemsetAsync(gw, 0, static_cast<size_t>(D) * sizeof(T), stream()), "layer_norm_backward (cudaMemsetAsync)");
    check(cudaMemsetAsync(gb, 0, static_cast<size_t>(D) * sizeof(T), stream()), "layer_norm_backward (cudaMemsetAsync)");
    return;
  }
  layer_norm_backward_gx_kernel<T>
      <<<grid_for(rows, kRowThreads / 32), kRowThreads, 0, stream()>>>(x, w, mean, rstd, gy, gx, rows, D);
  check_launch("layer_norm_backward (layer_norm_backward_gx_kernel)");

  const int64_t chunks = std::min<int64_t>(rows, kChunks);
  Scratch partial(static_cast<size_t>(2 * chunks * D) * sizeof(double));
  double* pw = partial.as<double>();
  double* pb = pw + chunks * D;
  const int64_t col_blocks = (D + kColThreads - 1) / kColThreads;
  SG_CHECK(col_blocks <= INT32_MAX, "layer_norm_backward: D = {} too large", D);
  dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(std::min<int64_t>(chunks, 65535)));
  layer_norm_backward_partial_kernel<T><<<grid, kColThreads, 0, stream()>>>(x, mean, rstd, gy, pw, pb, rows, D, chunks);
  check_launch("layer_norm_backward (layer_norm_backward_partial_kernel)");
  layer_norm_backward_final_kernel<T><<<grid_for(D), kThreads, 0, stream()>>>(pw, pb, gw, gb, D, chunks);
  check_launch("layer_norm_backward (layer_norm_backward_final_kernel)");
}

template void layer_norm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                        int64_t, double);
template void layer_norm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                         int64_t, int64_t, double);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                         float*, float*, int64_t, int64_t);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          double*, double*, double*, int64_t, int64_t);
template void layer_norm_forward<bf16>(const bf16*, const bf16*, const bf16*, bf16*, float*, float*, int64_t, int64_t,
                                       double);
template void layer_norm_backward<bf16>(const bf16*, const bf16*, const float*, const float*, const bf16*, bf16*, bf16*,
                                        bf16*, int64_t, int64_t);

}  // namespace sg::cuda
