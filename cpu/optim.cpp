// optim.cpp: the AdamW update, one fused pass over p, g, m, v; the multi-tensor form loops over buffers.
#include <cmath>

#include "cpu/kernels.h"

namespace sg::cpu {

template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                double bc1, double bc2) {
  const T tb1 = static_cast<T>(b1), tb2 = static_cast<T>(b2), tlr = static_cast<T>(lr), twd = static_cast<T>(wd);
  const T ibc1 = static_cast<T>(1 / bc1), isbc2 = static_cast<T>(1 / std::sqrt(bc2)), teps = static_cast<T>(eps);
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    m[i] = tb1 * m[i] + (T(1) - tb1) * g[i];
    v[i] = tb2 * v[i] + (T(1) - tb2) * g[i] * g[i];
    p[i] -= tlr * ((m[i] * ibc1) / (std::sqrt(v[i]) * isbc2 + teps) + twd * p[i]);
  }
}

template void adamw_step<float>(float*, const float*, float*, float*, int64_t, double, double, double, double, double,
                                double, double);
template void adamw_step<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                 double, double, double);

// The multi-tensor step on the CPU is the per-buffer step in a loop: bit-identical by construction.
void adamw_step_multi(const AdamWSlice* slices, int64_t count, double lr, double b1, double b2, double eps, double bc1,
                      double bc2) {
  for (int64_t k = 0; k < count; ++k) {
    const AdamWSlice& s = slices[k];
    adamw_step<float>(s.p, s.g, s.m, s.v, s.n, lr, b1, b2, eps, s.wd, bc1, bc2);
  }
}

}  // namespace sg::cpu
