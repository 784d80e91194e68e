// norm.cpp: fused layer norm over the last dim.
//   forward:  mu = mean(x), rstd = 1/sqrt(var(x) + eps), xhat = (x - mu) * rstd, y = xhat * w + b
//   backward: g = gy * w,  gx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  gw = sum gy*xhat, gb = sum gy
// gw and gb are summed over a fixed number of row chunks, then the chunks in order: the result does not
// depend on the thread count.
#include <cmath>
#include <vector>

#include "cpu/kernels.h"

namespace sg::cpu {

template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, acc_t<T>* mean, acc_t<T>* rstd, int64_t rows, int64_t D,
                        double eps) {
#pragma omp parallel for if (rows * D > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < D; ++i) s += xr[i];
    const T mu = s / static_cast<T>(D);
    T v = 0;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < D; ++i) v += (xr[i] - mu) * (xr[i] - mu);
    const T rs = static_cast<T>(1.0 / std::sqrt(static_cast<double>(v) / static_cast<double>(D) + eps));
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

template <typename T>
void layer_norm_backward(const T* x, const T* w, const acc_t<T>* mean, const acc_t<T>* rstd, const T* gy, T* gx, T* gw, T* gb,
                         int64_t rows, int64_t D) {
  const int64_t chunks = std::min<int64_t>(rows, 32);
  std::vector<T> pw(static_cast<size_t>(chunks * D), T(0)), pb(static_cast<size_t>(chunks * D), T(0));
#pragma omp parallel for if (rows * D > (1 << 14))
  for (int64_t c = 0; c < chunks; ++c) {
    T* cw = pw.data() + c * D;
    T* cb = pb.data() + c * D;
    for (int64_t r = rows * c / chunks; r < rows * (c + 1) / chunks; ++r) {
      const T* xr = x + r * D;
      const T* gr = gy + r * D;
      const T mu = mean[r], rs = rstd[r];
      T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t i = 0; i < D; ++i) {
        const T xhat = (xr[i] - mu) * rs;
        const T g = gr[i] * w[i];
        sg += g;
        sgx += g * xhat;
        cw[i] += gr[i] * xhat;
        cb[i] += gr[i];
      }
      const T mg = sg / static_cast<T>(D), mgx = sgx / static_cast<T>(D);
      T* gxr = gx + r * D;
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) {
        const T xhat = (xr[i] - mu) * rs;
        gxr[i] = rs * (gr[i] * w[i] - mg - xhat * mgx);
      }
    }
  }
  for (int64_t i = 0; i < D; ++i) {
    double sw = 0, sb = 0;
    for (int64_t c = 0; c < chunks; ++c) sw += pw[c * D + i], sb += pb[c * D + i];
    gw[i] = static_cast<T>(sw);
    gb[i] = static_cast<T>(sb);
  }
}

template void layer_norm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                        int64_t, double);
template void layer_norm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                         int64_t, int64_t, double);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                         float*, float*, int64_t, int64_t);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          double*, double*, double*, int64_t, int64_t);

}  // namespace sg::cpu
