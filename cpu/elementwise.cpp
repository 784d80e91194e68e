// elementwise.cpp: unary and binary maps, and the unary ops' derivatives, one loop per row of the tables in
// base/elementwise_ops.h (the formulas are there).
#include <algorithm>
#include <cmath>

#include "base/elementwise_ops.h"
#include "cpu/column_sums.h"
#include "cpu/fast_math.h"
#include "cpu/gelu.h"  // ew_gelu, ew_gelu_grad
#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace sg::cpu {
namespace {
// The table's math (base/elementwise_ops.h) on the CPU. Float exp and tanh are cpu/fast_math.h's
// vectorisable ones, except inside sigmoid and log1p(exp(.)), which take the standard library's exp.
template <typename T>
inline T ew_exp(T v) { return fast_exp(v); }
template <typename T>
inline T ew_log(T v) { return std::log(v); }
template <typename T>
inline T ew_sqrt(T v) { return std::sqrt(v); }
template <typename T>
inline T ew_pow(T v, T p) { return std::pow(v, p); }
template <typename T>
inline T ew_tanh(T v) { return fast_tanh(v); }
template <typename T>
inline T ew_abs(T v) { return std::abs(v); }
template <typename T>
inline T ew_min(T a, T b) { return std::min(a, b); }
template <typename T>
inline T ew_max(T a, T b) { return std::max(a, b); }
template <typename T>
inline T ew_log1p_exp(T t) { return std::log1p(std::exp(t)); }

template <typename T>
inline T ew_sigmoid(T x) {
  // Stable both ways: never exp of a large positive number.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}
}  // namespace

// One loop per row of SG_UNARY_OPS: y = forward(v) for each element v of xs.
template <typename T>
void unary(Unary op, const T* xs, T* ys, int64_t n, double param) {
  const T p = static_cast<T>(param);
#define SG_MAP(ID, NAME, FN, PARAM, READS, FORWARD, ...)                                  \
  case Unary::ID:                                                                          \
    _Pragma("omp parallel for simd if (n > (1 << 15))") for (int64_t i = 0; i < n; ++i) { \
      const T v = xs[i];                                                                   \
      ys[i] = (FORWARD);                                                                   \
    }                                                                                      \
    return;
  switch (op) { SG_UNARY_OPS(SG_MAP) }
#undef SG_MAP
}

// gx = gy * derivative, the derivative reading x = xs[i] and y = ys[i] only where the row's `reads` says so
// (the others may be null).
#define SG_LOAD_None
#define SG_LOAD_X const T x = xs[i];
#define SG_LOAD_Y const T y = ys[i];
#define SG_LOAD_XY SG_LOAD_X SG_LOAD_Y
template <typename T>
void unary_backward(Unary op, const T* xs, const T* ys, const T* gy, T* gx, int64_t n, double param) {
  const T p = static_cast<T>(param);
#define SG_GRAD(ID, NAME, FN, PARAM, READS, FORWARD, DERIV, ...)                          \
  case Unary::ID:                                                                          \
    _Pragma("omp parallel for simd if (n > (1 << 15))") for (int64_t i = 0; i < n; ++i) { \
      const T g = gy[i];                                                                   \
      SG_LOAD_##READS                                                                      \
      gx[i] = g * (DERIV);                                                                 \
    }                                                                                      \
    return;
  switch (op) { SG_UNARY_OPS(SG_GRAD) }
#undef SG_GRAD
}
#undef SG_LOAD_None
#undef SG_LOAD_X
#undef SG_LOAD_Y
#undef SG_LOAD_XY

template <typename T>
void bias_gelu_forward(const T* x, const T* b, T* y, int64_t rows, int64_t D) {
#pragma omp parallel for if (rows * D > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) yr[i] = ew_gelu(xr[i] + b[i]);
  }
}

template <typename T>
void bias_gelu_backward(const T* x, const T* b, const T* gy, T* gx, T* gb, int64_t rows, int64_t D) {
  auto gx_row = [x, b, gy, gx, D](int64_t r) {  // gx[r] = gy[r] * gelu'(x[r] + b)
    const T* xr = x + r * D;
    const T* gr = gy + r * D;
    T* gxr = gx + r * D;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) gxr[i] = gr[i] * ew_gelu_grad(xr[i] + b[i]);
    return gxr;
  };
  if (gb != nullptr && D >= 128) {  // each row summed into gb as it is made, as sum_dim sums it (cpu/reduce.cpp)
    chunked_column_sums(rows, D, gb, gx_row);
    return;
  }
#pragma omp parallel for if (rows * D > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) gx_row(r);
  if (gb != nullptr) sum_dim(gx, gb, 1, rows, D);
}

template <typename T>
void binary(Binary op, const T* a, const Dims& as, const T* b, const Dims& bs, T* out, const Dims& shape) {
  Dims os(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) os[d] = acc, acc *= shape[d];
  for_each_strided<3>(shape, {as.data(), bs.data(), os.data()}, [&](auto off, int64_t n, auto inc) {
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    T* po = out + off[2];
    const int64_t ia = inc[0], ib = inc[1];
#define SG_LOOP(expr)                                                       \
  if (ia == 1 && ib == 1) {                                                 \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) { T u = pa[i], v = pb[i]; po[i] = (expr); } \
  } else if (ib == 0) {                                                     \
    const T v = pb[0];                                                      \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) { T u = pa[i * ia]; po[i] = (expr); } \
  } else if (ia == 0) {                                                     \
    const T u = pa[0];                                                      \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) { T v = pb[i * ib]; po[i] = (expr); } \
  } else {                                                                  \
    for (int64_t i = 0; i < n; ++i) { T u = pa[i * ia], v = pb[i * ib]; po[i] = (expr); } \
  }
#define SG_BINARY_CASE(ID, NAME, EXPR) \
  case Binary::ID: SG_LOOP(EXPR) break;
    switch (op) { SG_BINARY_OPS(SG_BINARY_CASE) }
#undef SG_BINARY_CASE
#undef SG_LOOP
  });
}

#define SG_INSTANTIATE(T)                                                                          \
  template void unary<T>(Unary, const T*, T*, int64_t, double);                                    \
  template void unary_backward<T>(Unary, const T*, const T*, const T*, T*, int64_t, double);       \
  template void binary<T>(Binary, const T*, const Dims&, const T*, const Dims&, T*, const Dims&);      \
  template void bias_gelu_forward<T>(const T*, const T*, T*, int64_t, int64_t);                    \
  template void bias_gelu_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t);
SG_INSTANTIATE(float)
SG_INSTANTIATE(double)

}  // namespace sg::cpu
