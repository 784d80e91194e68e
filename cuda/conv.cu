// conv.cu: patch extraction for the stride = kernel convolution (patch embedding) and its adjoint.
// cols[b, ph * Wp + pw, (c * P + i) * P + j] = x[b, c, ph * P + i, pw * P + j]
// One thread per element of cols, grid-stride: cols is read/written coalesced, x in runs of P. Patches do
// not overlap, so col2im writes each covered x element once (no atomics); x elements outside every patch
// (H or W not a multiple of P) are left as they are, as on the CPU.
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

// Offset in x of cols element e.
__device__ __forceinline__ int64_t patch_src(int64_t e, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Wp,
                                             int64_t Np, int64_t K) {
  const int64_t row = e / K, kk = e - row * K;
  const int64_t b = row / Np, p = row - b * Np;
  const int64_t ph = p / Wp, pw = p - ph * Wp;
  const int64_t c = kk / (P * P), rem = kk - c * P * P;
  const int64_t i = rem / P, j = rem - i * P;
  return ((b * C + c) * H + ph * P + i) * W + pw * P + j;
}

template <typename T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ cols, int64_t n, int64_t C, int64_t H,
                              int64_t W, int64_t P, int64_t Wp, int64_t Np, int64_t K) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    cols[e] = x[patch_src(e, C, H, W, P, Wp, Np, K)];
}

template <typename T>
__global__ void col2im_kernel(const T* __restrict__ cols, T* __restrict__ x, int64_t n, int64_t C, int64_t H,
                              int64_t W, int64_t P, int64_t Wp, int64_t Np, int64_t K) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[patch_src(e, C, H, W, P, Wp, Np, K)] = cols[e];
}

}  // namespace

template <typename T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P) {
  if (P <= 0) return;
  const int64_t Hp = H / P, Wp = W / P, Np = Hp * Wp, K = C * P * P, n = B * Np * K;
  if (n <= 0) return;
  im2col_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(x, cols, n, C, H, W, P, Wp, Np, K);
  check_launch("im2col_patches (im2col_kernel)");
}

template <typename T>
void col2im_patches(const T* cols, T* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P) {
  if (P <= 0) return;
  const int64_t Hp = H / P, Wp = W / P, Np = Hp * Wp, K = C * P * P, n = B * Np * K;
  if (n <= 0) return;
  col2im_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(cols, x, n, C, H, W, P, Wp, Np, K);
  check_launch("col2im_patches (col2im_kernel)");
}

template void im2col_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void im2col_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void im2col_patches<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace sg::cuda
