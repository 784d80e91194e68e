// elementwise.cpp: unary and binary maps, and the unary ops' derivatives.
#include <cmath>

#include "cpu/fast_math.h"
#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace sg::cpu {
namespace {
constexpr double kGeluC = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluA = 0.044715;

// GELU, tanh form (PyTorch's approximate='tanh'), and its derivative: one definition for gelu and bias_gelu.
template <typename T>
inline T gelu_of(T v) {
  return T(0.5) * v * (T(1) + fast_tanh(T(kGeluC) * (v + T(kGeluA) * v * v * v)));
}
template <typename T>
inline T gelu_grad_of(T v) {
  const T u = T(kGeluC) * (v + T(kGeluA) * v * v * v);
  const T t = fast_tanh(u);
  const T du = T(kGeluC) * (T(1) + T(3 * kGeluA) * v * v);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du;
}

template <typename T>
inline T sigmoid_of(T x) {
  // Stable both ways: never exp of a large positive number.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}
}  // namespace

template <typename T>
void unary(Unary op, const T* x, T* y, int64_t n, double param) {
  const T p = static_cast<T>(param);
#define SG_MAP(expr)                                            \
  _Pragma("omp parallel for simd if (n > (1 << 15))") for (int64_t i = 0; i < n; ++i) { \
    const T v = x[i];                                           \
    y[i] = (expr);                                              \
  }                                                             \
  return
  switch (op) {
    case Unary::Neg: SG_MAP(-v);
    case Unary::Exp: SG_MAP(fast_exp(v));
    case Unary::Log: SG_MAP(std::log(v));
    case Unary::Sqrt: SG_MAP(std::sqrt(v));
    case Unary::Rsqrt: SG_MAP(T(1) / std::sqrt(v));
    case Unary::Pow: SG_MAP(std::pow(v, p));
    case Unary::Tanh: SG_MAP(fast_tanh(v));
    case Unary::Sigmoid: SG_MAP(sigmoid_of(v));
    case Unary::LogSigmoid: SG_MAP(std::min(v, T(0)) - std::log1p(std::exp(-std::abs(v))));
    case Unary::Softplus: SG_MAP(std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v))));
    case Unary::Relu: SG_MAP(v > T(0) ? v : T(0));
    case Unary::Gelu: SG_MAP(gelu_of(v));
    case Unary::AddScalar: SG_MAP(v + p);
    case Unary::MulScalar: SG_MAP(v * p);
  }
#undef SG_MAP
}

template <typename T>
void unary_backward(Unary op, const T* x, const T* y, const T* gy, T* gx, int64_t n, double param) {
  const T p = static_cast<T>(param);
#define SG_GRAD(expr)                                           \
  _Pragma("omp parallel for simd if (n > (1 << 15))") for (int64_t i = 0; i < n; ++i) { \
    gx[i] = gy[i] * (expr);                                     \
  }                                                             \
  return
  switch (op) {
    case Unary::Neg: SG_GRAD(T(-1));
    case Unary::Exp: SG_GRAD(y[i]);
    case Unary::Log: SG_GRAD(T(1) / x[i]);
    case Unary::Sqrt: SG_GRAD(T(0.5) / y[i]);
    case Unary::Rsqrt: SG_GRAD(T(-0.5) * y[i] * y[i] * y[i]);
    case Unary::Pow: SG_GRAD(p * std::pow(x[i], p - T(1)));
    case Unary::Tanh: SG_GRAD(T(1) - y[i] * y[i]);
    case Unary::Sigmoid: SG_GRAD(y[i] * (T(1) - y[i]));
    case Unary::LogSigmoid: SG_GRAD(sigmoid_of(-x[i]));  // d/dx log s(x) = 1 - s(x) = s(-x)
    case Unary::Softplus: SG_GRAD(sigmoid_of(x[i]));
    case Unary::Relu: SG_GRAD(x[i] > T(0) ? T(1) : T(0));
    case Unary::Gelu: SG_GRAD(gelu_grad_of(x[i]));
    case Unary::AddScalar: SG_GRAD(T(1));
    case Unary::MulScalar: SG_GRAD(p);
  }
#undef SG_GRAD
}

template <typename T>
void bias_gelu_forward(const T* x, const T* b, T* y, int64_t rows, int64_t D) {
#pragma omp parallel for if (rows * D > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) yr[i] = gelu_of(xr[i] + b[i]);
  }
}

template <typename T>
void bias_gelu_backward(const T* x, const T* b, const T* gy, T* gx, int64_t rows, int64_t D) {
#pragma omp parallel for if (rows * D > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * D;
    const T* gr = gy + r * D;
    T* gxr = gx + r * D;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) gxr[i] = gr[i] * gelu_grad_of(xr[i] + b[i]);
  }
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
    switch (op) {
      case Binary::Add: SG_LOOP(u + v) break;
      case Binary::Sub: SG_LOOP(u - v) break;
      case Binary::Mul: SG_LOOP(u * v) break;
      case Binary::Div: SG_LOOP(u / v) break;
    }
#undef SG_LOOP
  });
}

#define SG_INSTANTIATE(T)                                                                          \
  template void unary<T>(Unary, const T*, T*, int64_t, double);                                    \
  template void unary_backward<T>(Unary, const T*, const T*, const T*, T*, int64_t, double);       \
  template void binary<T>(Binary, const T*, const Dims&, const T*, const Dims&, T*, const Dims&);      \
  template void bias_gelu_forward<T>(const T*, const T*, T*, int64_t, int64_t);                    \
  template void bias_gelu_backward<T>(const T*, const T*, const T*, T*, int64_t, int64_t);
SG_INSTANTIATE(float)
SG_INSTANTIATE(double)

}  // namespace sg::cpu
