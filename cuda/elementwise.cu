// elementwise.cu: unary maps and their derivatives, broadcasting binary ops, generated from the rows of
// base/elementwise_ops.h like cpu/elementwise.cpp (stable sigmoid, log_sigmoid, softplus; tanh-form gelu).
// One thread per element, grid-stride; the op is a template parameter, so each (op, type) pair is its own
// branch-free kernel.
// bf16 elements are read into float, computed in float and rounded once when stored.
#include "base/elementwise_ops.h"
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {
// The table's math (base/elementwise_ops.h) on the GPU.
template <typename T>
__device__ __forceinline__ T ew_exp(T v) { return d_exp(v); }
template <typename T>
__device__ __forceinline__ T ew_log(T v) { return d_log(v); }
template <typename T>
__device__ __forceinline__ T ew_sqrt(T v) { return d_sqrt(v); }
template <typename T>
__device__ __forceinline__ T ew_pow(T v, T p) { return d_pow(v, p); }
template <typename T>
__device__ __forceinline__ T ew_tanh(T v) { return d_tanh(v); }
template <typename T>
__device__ __forceinline__ T ew_abs(T v) { return d_abs(v); }
template <typename T>
__device__ __forceinline__ T ew_min(T a, T b) { return a < b ? a : b; }
template <typename T>
__device__ __forceinline__ T ew_max(T a, T b) { return a > b ? a : b; }
template <typename T>
__device__ __forceinline__ T ew_log1p_exp(T t) { return d_log1p(d_exp(t)); }

template <typename T>
__device__ __forceinline__ T ew_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + d_exp(-x));
  const T e = d_exp(x);
  return e / (T(1) + e);
}

// GELU, tanh form, and its derivative: one definition for gelu and bias_gelu.
template <typename T>
__device__ __forceinline__ T ew_gelu(T v) {
  return T(0.5) * v * (T(1) + d_tanh(T(kGeluC) * (v + T(kGeluA) * v * v * v)));
}
template <typename T>
__device__ __forceinline__ T ew_gelu_grad(T v) {
  const T u = T(kGeluC) * (v + T(kGeluA) * v * v * v);
  const T t = d_tanh(u);
  const T du = T(kGeluC) * (T(1) + T(3 * kGeluA) * v * v);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du;
}

// One specialisation per row of SG_UNARY_OPS: fwd(v, p), and deriv taking only what the row's `reads` names
// (then p), so that a derivative using anything else does not compile. No primary definition: an op without
// a row has no kernel.
template <Unary OP>
struct UnaryOp;
#define SG_DERIV_ARGS_None
#define SG_DERIV_ARGS_X T x,
#define SG_DERIV_ARGS_Y T y,
#define SG_DERIV_ARGS_XY T x, T y,
#define SG_UNARY_OP(ID, NAME, FN, PARAM, READS, FORWARD, DERIV, ...)                                  \
  template <>                                                                                        \
  struct UnaryOp<Unary::ID> {                                                                        \
    template <typename T>                                                                            \
    __device__ __forceinline__ static T fwd(T v, [[maybe_unused]] T p) { return (FORWARD); }         \
    template <typename T>                                                                            \
    __device__ __forceinline__ static T deriv(SG_DERIV_ARGS_##READS[[maybe_unused]] T p) { return (DERIV); } \
  };
SG_UNARY_OPS(SG_UNARY_OP)
#undef SG_UNARY_OP
#undef SG_DERIV_ARGS_None
#undef SG_DERIV_ARGS_X
#undef SG_DERIV_ARGS_Y
#undef SG_DERIV_ARGS_XY

// dy/dx from the input v and the output w, passing the row's derivative only what its `reads` names.
template <Unary OP, typename A>
__device__ __forceinline__ A unary_deriv([[maybe_unused]] A v, [[maybe_unused]] A w, A p) {
  using D = UnaryOp<OP>;
  if constexpr (unary_reads(OP) == Reads::XY) return D::template deriv<A>(v, w, p);
  else if constexpr (unary_reads(OP) == Reads::X) return D::template deriv<A>(v, p);
  else if constexpr (unary_reads(OP) == Reads::Y) return D::template deriv<A>(w, p);
  else return D::template deriv<A>(p);
}

// T: the element type in memory; A = acc_t<T>: the type the formula runs in (float for bf16).
template <Unary OP, typename T, typename A = acc_t<T>>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, A p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = T(UnaryOp<OP>::template fwd<A>(A(x[i]), p));
}

template <Unary OP, typename T, typename A = acc_t<T>>
__global__ void unary_backward_kernel(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ gy,
                                      T* __restrict__ gx, int64_t n, A p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // Only the operands the derivative reads are loaded (the others may be null, as the CPU kernel allows).
    const A v = unary_reads_x(OP) ? A(x[i]) : A(0);
    const A w = unary_reads_y(OP) ? A(y[i]) : A(0);
    gx[i] = T(A(gy[i]) * unary_deriv<OP, A>(v, w, p));
  }
}

// One specialisation per row of SG_BINARY_OPS.
template <Binary OP>
struct BinaryOp;
#define SG_BINARY_OP(ID, NAME, EXPR)                                      \
  template <>                                                             \
  struct BinaryOp<Binary::ID> {                                           \
    template <typename T>                                                 \
    __device__ __forceinline__ static T apply(T u, T v) { return (EXPR); } \
  };
SG_BINARY_OPS(SG_BINARY_OP)
#undef SG_BINARY_OP

// out[i] = a[off_a(i)] op b[off_b(i)]; stride[0] is a's, stride[1] b's.
template <Binary OP, typename T, typename A = acc_t<T>>
__global__ void binary_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                              StridedArgs<2> s, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    strided_offsets<2>(s, i, off);
    out[i] = T(BinaryOp<OP>::template apply<A>(A(a[off[0]]), A(b[off[1]])));
  }
}

// Both operands contiguous with the output's shape: no index arithmetic.
template <Binary OP, typename T, typename A = acc_t<T>>
__global__ void binary_flat_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = T(BinaryOp<OP>::template apply<A>(A(a[i]), A(b[i])));
}

// y[r, i] = gelu(x[r, i] + b[i]); the element's column from a 32-bit remainder when n fits (it nearly
// always does), else 64-bit.
template <typename T, typename I, typename A = acc_t<T>>
__global__ void bias_gelu_kernel(const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ y, I n, I D) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * blockDim.x)
    y[i] = T(ew_gelu<A>(A(x[i]) + A(b[i % D])));
}

template <typename T, typename I, typename A = acc_t<T>>
__global__ void bias_gelu_backward_kernel(const T* __restrict__ x, const T* __restrict__ b, const T* gy, T* gx, I n,
                                          I D) {  // gx may be gy (in place): no __restrict__ on those two
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * blockDim.x)
    gx[i] = T(A(gy[i]) * ew_gelu_grad<A>(A(x[i]) + A(b[i % D])));
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

}  // namespace

template <typename T>
void unary(Unary op, const T* x, T* y, int64_t n, double param) {
  if (n <= 0) return;
  const acc_t<T> p = static_cast<acc_t<T>>(param);
  switch (op) {
#define SG_CASE(ID, ...) \
  case Unary::ID: return launch_unary<Unary::ID>(x, y, n, p);
    SG_UNARY_OPS(SG_CASE)
#undef SG_CASE
  }
  fail("unary: unknown op {}", static_cast<int>(op));
}

template <typename T>
void unary_backward(Unary op, const T* x, const T* y, const T* gy, T* gx, int64_t n, double param) {
  if (n <= 0) return;
  const acc_t<T> p = static_cast<acc_t<T>>(param);
  switch (op) {
#define SG_CASE(ID, ...) \
  case Unary::ID: return launch_unary_backward<Unary::ID>(x, y, gy, gx, n, p);
    SG_UNARY_OPS(SG_CASE)
#undef SG_CASE
  }
  fail("unary_backward: unknown op {}", static_cast<int>(op));
}

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
void bias_gelu_backward(const T* x, const T* b, const T* gy, T* gx, T* gb, int64_t rows, int64_t D) {
  const int64_t n = rows * D;
  if (n <= 0) return;
  if (n < (int64_t{1} << 31)) {
    bias_gelu_backward_kernel<T, uint32_t><<<grid_for(n), kThreads, 0, stream()>>>(
        x, b, gy, gx, static_cast<uint32_t>(n), static_cast<uint32_t>(D));
  } else {
    bias_gelu_backward_kernel<T, int64_t><<<grid_for(n), kThreads, 0, stream()>>>(x, b, gy, gx, n, D);
  }
  check_launch("bias_gelu_backward (bias_gelu_backward_kernel)");
  if (gb != nullptr) sum_dim(gx, gb, 1, rows, D);  // the bias gradient: column sums of gx (cuda/reduce.cu)
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
#define SG_CASE(ID, ...) \
  case Binary::ID: return launch_binary<Binary::ID>(a, b, out, s, n);
    SG_BINARY_OPS(SG_CASE)
#undef SG_CASE
  }
  fail("binary: unknown op {}", static_cast<int>(op));
}

#define SG_INSTANTIATE(T)                                                                          \
  template void unary<T>(Unary, const T*, T*, int64_t, double);                                    \
  template void unary_backward<T>(Unary, const T*, const T*, const T*, T*, int64_t, double);       \
  template void binary<T>(Binary, const T*, const Dims&, const T*, const Dims&, T*, const Dims&);      \
  template void bias_gelu_forward<T>(const T*, const T*, T*, int64_t, int64_t);                    \
  template void bias_gelu_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t);
SG_INSTANTIATE(float)
SG_INSTANTIATE(double)
SG_INSTANTIATE(bf16)
#undef SG_INSTANTIATE

}  // namespace sg::cuda
