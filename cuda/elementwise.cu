// elementwise.cu: unary maps and their derivatives, broadcasting binary ops. Same formulas as
// cpu/elementwise.cpp (stable sigmoid, log_sigmoid, softplus; tanh-form gelu). One thread per element,
// grid-stride; the op is a template parameter, so each (op, type) pair is its own branch-free kernel.
// bf16 elements are read into float, computed in float and rounded once when stored.
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {
constexpr double kGeluC = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluA = 0.044715;

template <typename T>
__device__ __forceinline__ T sigmoid_of(T x) {
  if (x >= T(0)) return T(1) / (T(1) + d_exp(-x));
  const T e = d_exp(x);
  return e / (T(1) + e);
}

template <Unary OP, typename T>
__device__ __forceinline__ T unary_fwd(T v, T p) {
  if constexpr (OP == Unary::Neg) return -v;
  if constexpr (OP == Unary::Exp) return d_exp(v);
  if constexpr (OP == Unary::Log) return d_log(v);
  if constexpr (OP == Unary::Sqrt) return d_sqrt(v);
  if constexpr (OP == Unary::Rsqrt) return T(1) / d_sqrt(v);
  if constexpr (OP == Unary::Pow) return d_pow(v, p);
  if constexpr (OP == Unary::Tanh) return d_tanh(v);
  if constexpr (OP == Unary::Sigmoid) return sigmoid_of(v);
  if constexpr (OP == Unary::LogSigmoid) return (v < T(0) ? v : T(0)) - d_log1p(d_exp(-d_abs(v)));
  if constexpr (OP == Unary::Softplus) return (v > T(0) ? v : T(0)) + d_log1p(d_exp(-d_abs(v)));
  if constexpr (OP == Unary::Relu) return v > T(0) ? v : T(0);
  if constexpr (OP == Unary::Gelu) return T(0.5) * v * (T(1) + d_tanh(T(kGeluC) * (v + T(kGeluA) * v * v * v)));
  if constexpr (OP == Unary::AddScalar) return v + p;
  if constexpr (OP == Unary::MulScalar) return v * p;
  return v;
}

// dy/dx from the input v and the output y (whichever the formula needs).
template <Unary OP, typename T>
__device__ __forceinline__ T unary_deriv(T v, T y, T p) {
  if constexpr (OP == Unary::Neg) return T(-1);
  if constexpr (OP == Unary::Exp) return y;
  if constexpr (OP == Unary::Log) return T(1) / v;
  if constexpr (OP == Unary::Sqrt) return T(0.5) / y;
  if constexpr (OP == Unary::Rsqrt) return T(-0.5) * y * y * y;
  if constexpr (OP == Unary::Pow) return p * d_pow(v, p - T(1));
  if constexpr (OP == Unary::Tanh) return T(1) - y * y;
  if constexpr (OP == Unary::Sigmoid) return y * (T(1) - y);
  if constexpr (OP == Unary::LogSigmoid) return sigmoid_of(-v);
  if constexpr (OP == Unary::Softplus) return sigmoid_of(v);
  if constexpr (OP == Unary::Relu) return v > T(0) ? T(1) : T(0);
  if constexpr (OP == Unary::Gelu) {
    const T u = T(kGeluC) * (v + T(kGeluA) * v * v * v);
    const T t = d_tanh(u);
    const T du = T(kGeluC) * (T(1) + T(3 * kGeluA) * v * v);
    return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du;
  }
  if constexpr (OP == Unary::AddScalar) return T(1);
  if constexpr (OP == Unary::MulScalar) return p;
  return T(0);
}

// Which operands the derivative reads (the others may be null, as the CPU kernel allows).
constexpr bool deriv_needs_x(Unary op) {
  return op == Unary::Log || op == Unary::Pow || op == Unary::LogSigmoid || op == Unary::Softplus ||
         op == Unary::Relu || op == Unary::Gelu;
}
constexpr bool deriv_needs_y(Unary op) {
  return op == Unary::Exp || op == Unary::Sqrt || op == Unary::Rsqrt || op == Unary::Tanh || op == Unary::Sigmoid;
}

// T: the element type in memory; A = acc_t<T>: the type the formula runs in (float for bf16).
template <Unary OP, typename T, typename A = acc_t<T>>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, A p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = T(unary_fwd<OP, A>(A(x[i]), p));
}

template <Unary OP, typename T, typename A = acc_t<T>>
__global__ void unary_backward_kernel(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ gy,
                                      T* __restrict__ gx, int64_t n, A p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A v = deriv_needs_x(OP) ? A(x[i]) : A(0);
    const A w = deriv_needs_y(OP) ? A(y[i]) : A(0);
    gx[i] = T(A(gy[i]) * unary_deriv<OP, A>(v, w, p));
  }
}

template <Binary OP, typename T>
__device__ __forceinline__ T binary_op(T u, T v) {
  if constexpr (OP == Binary::Add) return u + v;
  if constexpr (OP == Binary::Sub) return u - v;
  if constexpr (OP == Binary::Mul) return u * v;
  if constexpr (OP == Binary::Div) return u / v;
  return u;
}

// out[i] = a[off_a(i)] op b[off_b(i)]; stride[0] is a's, stride[1] b's.
template <Binary OP, typename T, typename A = acc_t<T>>
__global__ void binary_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                              StridedArgs<2> s, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    strided_offsets<2>(s, i, off);
    out[i] = T(binary_op<OP, A>(A(a[off[0]]), A(b[off[1]])));
  }
}

// Both operands contiguous with the output's shape: no index arithmetic.
template <Binary OP, typename T, typename A = acc_t<T>>
__global__ void binary_flat_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = T(binary_op<OP, A>(A(a[i]), A(b[i])));
}

// y[r, i] = gelu(x[r, i] + b[i]); the element's column from a 32-bit remainder when n fits (it nearly
// always does), else 64-bit.
template <typename T, typename I, typename A = acc_t<T>>
__global__ void bias_gelu_kernel(const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ y, I n, I D) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * blockDim.x)
    y[i] = T(unary_fwd<Unary::Gelu, A>(A(x[i]) + A(b[i % D]), A(0)));
}

template <typename T, typename I, typename A = acc_t<T>>
__global__ void bias_gelu_backward_kernel(const T* __restrict__ x, const T* __restrict__ b, const T* __restrict__ gy,
                                          T* __restrict__ gx, I n, I D) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * blockDim.x)
    gx[i] = T(A(gy[i]) * unary_deriv<Unary::Gelu, A>(A(x[i]) + A(b[i % D]), A(0), A(0)));
}

template <Unary OP, typename T>
void launch_unary(const T* x, T* y, int64_t n, acc_t<T> p) {
  unary_kernel<OP, T><<<grid_for(n), kThreads, 0, stream()>>>(x, y, n, p);
  check_launch("unary (unary_kernel)");
}
template <Unary OP, typename T>
void launch_unary_backward(const T* x, const T* y, const T* gy, T* gx, int64_t n, acc_t<T> p) {
  unary_backward_kernel<OP, T><<<grid_for(n), kThreads, 0, stream()>>>(x, y, gy, gx, n, p);
  check_launch("unary_backward (unary_backward_kernel)");
}
template <Binary OP, typename T>
void launch_binary(const T* a, const T* b, T* out, const StridedArgs<2>& s, int64_t n) {
  if (s.nd == 1 && s.stride[0][0] == 1 && s.stride[1][0] == 1) {
    binary_flat_kernel<OP, T><<<grid_for(n), kThreads, 0, stream()>>>(a, b, out, n);
    check_launch("binary (binary_flat_kernel)");
  } else {
    binary_kernel<OP, T><<<grid_for(n), kThreads, 0, stream()>>>(a, b, out, s, n);
    check_launch("binary (binary_kernel)");
  }
}

#define SG_UNARY_CASES(LAUNCH, ...)                                     \
  switch (op) {                                                         \
    case Unary::Neg: return LAUNCH<Unary::Neg>(__VA_ARGS__);             \
    case Unary::Exp: return LAUNCH<Unary::Exp>(__VA_ARGS__);             \
    case Unary::Log: return LAUNCH<Unary::Log>(__VA_ARGS__);             \
    case Unary::Sqrt: return LAUNCH<Unary::Sqrt>(__VA_ARGS__);           \
    case Unary::Rsqrt: return LAUNCH<Unary::Rsqrt>(__VA_ARGS__);         \
    case Unary::Pow: return LAUNCH<Unary::Pow>(__VA_ARGS__);             \
    case Unary::Tanh: return LAUNCH<Unary::Tanh>(__VA_ARGS__);           \
    case Unary::Sigmoid: return LAUNCH<Unary::Sigmoid>(__VA_ARGS__);     \
    case Unary::LogSigmoid: return LAUNCH<Unary::LogSigmoid>(__VA_ARGS__); \
    case Unary::Softplus: return LAUNCH<Unary::Softplus>(__VA_ARGS__);   \
    case Unary::Relu: return LAUNCH<Unary::Relu>(__VA_ARGS__);           \
    case Unary::Gelu: return LAUNCH<Unary::Gelu>(__VA_ARGS__);           \
    case Unary::AddScalar: return LAUNCH<Unary::AddScalar>(__VA_ARGS__); \
    case Unary::MulScalar: return LAUNCH<Unary::MulScalar>(__VA_ARGS__); \
  }
}  // namespace

template <typename T>
void unary(Unary op, const T* x, T* y, int64_t n, double param) {
  if (n <= 0) return;
  const acc_t<T> p = static_cast<acc_t<T>>(param);
  SG_UNARY_CASES(launch_unary, x, y, n, p)
  fail("unary: unknown op {}", static_cast<int>(op));
}

template <typename T>
void unary_backward(Unary op, const T* x, const T* y, const T* gy, T* gx, int64_t n, double param) {
  if (n <= 0) return;
  const acc_t<T> p = static_cast<acc_t<T>>(param);
  SG_UNARY_CASES(launch_unary_backward, x, y, gy, gx, n, p)
  fail("unary_backward: unknown op {}", static_cast<int>(op));
}
#undef SG_UNARY_CASES

template <typename T>
void bias_gelu_forward(const T* x, const T* b, T* y, int64_t rows, int64_t D) {
  const int64_t n = rows * D;
  if (n <= 0) return;
  if (n < (int64_t{1} << 31)) {
    bias_gelu_kernel<T, uint32_t><<<grid_for(n), kThreads, 0, stream()>>>(x, b, y, static_cast<uint32_t>(n),
                                                                             static_cast<uint32_t>(D));
  } else {
    bias_gelu_kernel<T, int64_t><<<grid_for(n), kThreads, 0, stream()>>>(x, b, y, n, D);
  }
  check_launch("bias_gelu_forward (bias_gelu_kernel)");
}

template <typename T>
void bias_gelu_backward(const T* x, const T* b, const T* gy, T* gx, int64_t rows, int64_t D) {
  const int64_t n = rows * D;
  if (n <= 0) return;
  if (n < (int64_t{1} << 31)) {
    bias_gelu_backward_kernel<T, uint32_t><<<grid_for(n), kThreads, 0, stream()>>>(
        x, b, gy, gx, static_cast<uint32_t>(n), static_cast<uint32_t>(D));
  } else {
    bias_gelu_backward_kernel<T, int64_t><<<grid_for(n), kThreads, 0, stream()>>>(x, b, gy, gx, n, D);
  }
  check_launch("bias_gelu_backward (bias_gelu_backward_kernel)");
}

template <typename T>
void binary(Binary op, const T* a, const Dims& as, const T* b, const Dims& bs, T* out, const Dims& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0) return;
  SG_CHECK(as.size() == shape.size() && bs.size() == shape.size(), "binary: strides {} and {} for shape {}",
           shape_str(as), shape_str(bs), shape_str(shape));
  StridedArgs<2> s = make_strided<2>("binary", shape, {as.data(), bs.data()});
  switch (op) {
    case Binary::Add: return launch_binary<Binary::Add>(a, b, out, s, n);
    case Binary::Sub: return launch_binary<Binary::Sub>(a, b, out, s, n);
    case Binary::Mul: return launch_binary<Binary::Mul>(a, b, out, s, n);
    case Binary::Div: return launch_binary<Binary::Div>(a, b, out, s, n);
  }
  fail("binary: unknown op {}", static_cast<int>(op));
}

#define SG_INSTANTIATE(T)                                                                          \
  template void unary<T>(Unary, const T*, T*, int64_t, double);                                    \
  template void unary_backward<T>(Unary, const T*, const T*, const T*, T*, int64_t, double);       \
  template void binary<T>(Binary, const T*, const Dims&, const T*, const Dims&, T*, const Dims&);      \
  template void bias_gelu_forward<T>(const T*, const T*, T*, int64_t, int64_t);                    \
  template void bias_gelu_backward<T>(const T*, const T*, const T*, T*, int64_t, int64_t);
SG_INSTANTIATE(float)
SG_INSTANTIATE(double)
SG_INSTANTIATE(bf16)
#undef SG_INSTANTIATE

}  // namespace sg::cuda
