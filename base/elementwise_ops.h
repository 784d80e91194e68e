// elementwise_ops.h: every elementwise op, listed once. From these rows come the Unary and Binary enums, the
// op names, the CPU kernels (cpu/elementwise.cpp), the CUDA kernels and their launch switch
// (cuda/elementwise.cu) and the public functions (tensor/ops.h, tensor/ops/elementwise.cpp). Each switch
// over an op is generated from the table, so no backend can miss a row. Adding an op: docs/adding-an-op.md.
// Neutral vocabulary for both backends: includes nothing from tensor/, cpu/ or cuda/.
#pragma once

namespace sg {

// One row per unary op:
//   ROW(Id, name, fn, param, reads, forward, derivative, doc)
//   Id          the enum value Unary::Id
//   name        the op's name (errors, the op registry, graphs)
//   fn          the public function: Tensor fn(const Tensor& a), or fn(const Tensor& a, double p) with Param
//   param       Param (forward and derivative use the scalar p) or NoParam
//   reads       what the derivative reads: X (the input), Y (the output), XY or None; a backend loads only
//               those, and an expression that uses any other one does not compile
//   forward     y in terms of the input v and p
//   derivative  dy/dx in terms of x, y (as `reads` says) and p
//   doc         what the op computes (unary_doc(); the public function's doc comment)
// Expressions are computed in T (float or double; the CUDA kernels compute bf16 in float). Their math goes
// through names each backend defines for itself: ew_exp, ew_log, ew_sqrt, ew_pow, ew_tanh, ew_abs, ew_min,
// ew_max, ew_log1p_exp(t) = log(1 + e^t), ew_sigmoid, ew_gelu, ew_gelu_grad (the CPU's float exp and tanh
// are cpu/fast_math.h's, the GPU's are CUDA's).
// clang-format off
#define SG_UNARY_OPS(ROW)                                                                                             \
  ROW(Neg,        neg,         neg,         NoParam, None, -v,                  T(-1),                   "-x")       \
  ROW(Exp,        exp,         exp,         NoParam, Y,    ew_exp(v),           y,                       "e^x")      \
  ROW(Log,        log,         log,         NoParam, X,    ew_log(v),           T(1) / x,                "ln x")     \
  ROW(Sqrt,       sqrt,        sqrt,        NoParam, Y,    ew_sqrt(v),          T(0.5) / y,              "sqrt(x)")  \
  ROW(Rsqrt,      rsqrt,       rsqrt,       NoParam, Y,    T(1) / ew_sqrt(v),   T(-0.5) * y * y * y,     "1 / sqrt(x)") \
  ROW(Pow,        pow,         pow,         Param,   X,    ew_pow(v, p),        p * ew_pow(x, p - T(1)), "x^p")      \
  ROW(Tanh,       tanh,        tanh,        NoParam, Y,    ew_tanh(v),          T(1) - y * y,            "tanh(x)")  \
  ROW(Sigmoid,    sigmoid,     sigmoid,     NoParam, Y,    ew_sigmoid(v),       y * (T(1) - y),          "1 / (1 + e^-x), stable both ways") \
  ROW(LogSigmoid, log_sigmoid, log_sigmoid, NoParam, X,                                                                 \
      ew_min(v, T(0)) - ew_log1p_exp(-ew_abs(v)), ew_sigmoid(-x),  /* d/dx log s(x) = 1 - s(x) = s(-x) */               \
      "min(x, 0) - log1p(exp(-|x|)): stable for any |x|")                                                             \
  ROW(Softplus,   softplus,    softplus,    NoParam, X,                                                                 \
      ew_max(v, T(0)) + ew_log1p_exp(-ew_abs(v)), ew_sigmoid(x),                                                      \
      "max(x, 0) + log1p(exp(-|x|))")                                                                                 \
  ROW(Relu,       relu,        relu,        NoParam, X,    v > T(0) ? v : T(0), x > T(0) ? T(1) : T(0),  "max(x, 0)") \
  ROW(Gelu,       gelu,        gelu,        NoParam, X,    ew_gelu(v),          ew_gelu_grad(x),         "tanh form, PyTorch's approximate='tanh'") \
  ROW(Silu,       silu,        silu,        NoParam, X,    v * ew_sigmoid(v),                                        \
      ew_sigmoid(x) * (T(1) + x * (T(1) - ew_sigmoid(x))), "x * sigmoid(x) (swish)")                                 \
  ROW(AddScalar,  add_scalar,  add,         Param,   None, v + p,               T(1),                    "a + s")    \
  ROW(MulScalar,  mul_scalar,  mul,         Param,   None, v * p,               p,                       "a * s")
// clang-format on

// One row per broadcasting binary op: ROW(Id, name, expression of u (a's element) and v (b's element)).
// Their gradients are written out in tensor/ops/elementwise.cpp (they sum back over broadcast dims).
#define SG_BINARY_OPS(ROW) \
  ROW(Add, add, u + v)     \
  ROW(Sub, sub, u - v)     \
  ROW(Mul, mul, u * v)     \
  ROW(Div, div, u / v)

// The public function's scalar parameter, by the `param` column (tensor/ops.h, tensor/ops/elementwise.cpp).
#define SG_UNARY_PARAM_DECL_NoParam
#define SG_UNARY_PARAM_DECL_Param , double p
#define SG_UNARY_PARAM_ARG_NoParam
#define SG_UNARY_PARAM_ARG_Param , p

#define SG_EW_ID_(Id, ...) Id,
#define SG_EW_ENUM_(Id, ...) Unary::Id,
#define SG_EW_BENUM_(Id, ...) Binary::Id,
#define SG_EW_NAME_(Id, name, ...) #name,
#define SG_EW_FN_(Id, name, fn, ...) #fn,
#define SG_EW_DOC_(Id, name, fn, param, reads, fwd, deriv, doc) doc,
#define SG_EW_READS_(Id, name, fn, param, reads, ...) Reads::reads,

enum class Unary { SG_UNARY_OPS(SG_EW_ID_) };
enum class Binary { SG_BINARY_OPS(SG_EW_ID_) };
enum class Reads { None, X, Y, XY };

// Every op, in table order (for loops over all of them: tests, kernel checks).
inline constexpr Unary kUnaryOps[] = {SG_UNARY_OPS(SG_EW_ENUM_)};
inline constexpr Binary kBinaryOps[] = {SG_BINARY_OPS(SG_EW_BENUM_)};

namespace detail {
inline constexpr const char* kUnaryNames[] = {SG_UNARY_OPS(SG_EW_NAME_)};
inline constexpr const char* kUnaryFns[] = {SG_UNARY_OPS(SG_EW_FN_)};
inline constexpr const char* kUnaryDocs[] = {SG_UNARY_OPS(SG_EW_DOC_)};
inline constexpr Reads kUnaryReads[] = {SG_UNARY_OPS(SG_EW_READS_)};
inline constexpr const char* kBinaryNames[] = {SG_BINARY_OPS(SG_EW_NAME_)};
}  // namespace detail

constexpr const char* unary_name(Unary op) { return detail::kUnaryNames[static_cast<int>(op)]; }
constexpr const char* unary_fn(Unary op) { return detail::kUnaryFns[static_cast<int>(op)]; }  // "add" for AddScalar
constexpr const char* unary_doc(Unary op) { return detail::kUnaryDocs[static_cast<int>(op)]; }
constexpr Reads unary_reads(Unary op) { return detail::kUnaryReads[static_cast<int>(op)]; }
constexpr bool unary_reads_x(Unary op) { return unary_reads(op) == Reads::X || unary_reads(op) == Reads::XY; }
constexpr bool unary_reads_y(Unary op) { return unary_reads(op) == Reads::Y || unary_reads(op) == Reads::XY; }
constexpr const char* binary_name(Binary op) { return detail::kBinaryNames[static_cast<int>(op)]; }

#undef SG_EW_ID_
#undef SG_EW_ENUM_
#undef SG_EW_BENUM_
#undef SG_EW_NAME_
#undef SG_EW_FN_
#undef SG_EW_DOC_
#undef SG_EW_READS_

// GELU (tanh form) constants, for both backends' ew_gelu and ew_gelu_grad (also used by bias_gelu).
inline constexpr double kGeluC = 0.7978845608028654;  // sqrt(2/pi)
inline constexpr double kGeluA = 0.044715;

}  // namespace sg
