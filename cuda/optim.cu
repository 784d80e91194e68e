// optim.cu: the AdamW update (cpu/optim.cpp's formula), one thread per element, grid-stride, one launch per
// parameter buffer. (A multi-tensor AdamW, one launch for every parameter, is not done: docs/cuda-notes.md.)
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

template <typename T>
__global__ void adamw_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                             int64_t n, T lr, T b1, T b2, T eps, T wd, T ibc1, T isbc2) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T gi = g[i];
    const T mi = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const T pi = p[i];
    p[i] = pi - lr * ((mi * ibc1) / (d_sqrt(vi) * isbc2 + eps) + wd * pi);
  }
}

}  // namespace

template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                double bc1, double bc2) {
  if (n <= 0) return;
  const T ibc1 = static_cast<T>(1 / bc1), isbc2 = static_cast<T>(1 / std::sqrt(bc2));
  adamw_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(p, g, m, v, n, static_cast<T>(lr), static_cast<T>(b1),
                                                          static_cast<T>(b2), static_cast<T>(eps), static_cast<T>(wd),
                                                          ibc1, isbc2);
  check_launch("adamw_step (adamw_kernel)");
}

template void adamw_step<float>(float*, const float*, float*, float*, int64_t, double, double, double, double, double,
                                double, double);
template void adamw_step<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                 double, double, double);

}  // namespace sg::cuda
