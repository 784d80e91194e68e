// kernels.h: CPU kernels. Raw buffers in, raw buffers out; no autograd, no allocation policy.
// T is float or double. Unless a stride argument says otherwise, buffers are contiguous, row-major.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace sg::cpu {
using Dims = std::vector<int64_t>;

// ---- copy.cpp ----
// dst (contiguous, dtype dt) <- src (strided, dtype st), converting the element type.
void copy_strided(const void* src, DType st, const Dims& shape, const Dims& src_strides, void* dst, DType dt);
// dst (strided) <- src (contiguous), same dtype.
void copy_into_strided(const void* src, void* dst, DType t, const Dims& shape, const Dims& dst_strides);
void fill(void* dst, DType t, int64_t n, double value);

// ---- elementwise.cpp ----
enum class Unary { Neg, Exp, Log, Sqrt, Rsqrt, Pow, Tanh, Sigmoid, LogSigmoid, Softplus, Relu, Gelu, AddScalar, MulScalar };
enum class Binary { Add, Sub, Mul, Div };
template <typename T>
void unary(Unary op, const T* x, T* y, int64_t n, double param);
// gx = gy * dy/dx, from the input x and the output y (whichever the formula needs).
template <typename T>
void unary_backward(Unary op, const T* x, const T* y, const T* gy, T* gx, int64_t n, double param);
// out (contiguous, `shape`) = a op b, each operand strided (stride 0 where broadcast).
template <typename T>
void binary(Binary op, const T* a, const Dims& a_strides, const T* b, const Dims& b_strides, T* out, const Dims& shape);

// ---- reduce.cpp ---- (x viewed as [outer, r, inner]; reduce the middle)
template <typename T>
void sum_dim(const T* x, T* y, int64_t outer, int64_t r, int64_t inner);
template <typename T>
void max_dim(const T* x, T* y, int64_t* argmax, int64_t outer, int64_t r, int64_t inner);
// gx = 0 except gx[o, argmax[o, i], i] = gy[o, i]
template <typename T>
void max_dim_backward(const T* gy, const int64_t* argmax, T* gx, int64_t outer, int64_t r, int64_t inner);

// ---- softmax.cpp ---- (x viewed as [outer, r, inner]; softmax over the middle)
template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t r, int64_t inner, bool log);
template <typename T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t r, int64_t inner, bool log);

// ---- norm.cpp ---- (x: [rows, D])
template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t D, double eps);
template <typename T>
void layer_norm_backward(const T* x, const T* w, const T* mean, const T* rstd, const T* gy, T* gx, T* gw, T* gb,
                         int64_t rows, int64_t D);

// ---- gemm.cpp ---- C[M,N] = alpha * op(A) @ op(B) + beta * C, row-major with leading dims.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);
// Which library f32 GEMM uses ("onednn" or "openblas"); SG_GEMM=openblas|onednn overrides.
const char* gemm_backend();
void set_gemm_backend(const char* name);

// ---- attention.cpp ---- q: [BH, N, Dh], k, v: [BH, M, Dh], o: [BH, N, Dh], lse: [BH, N]
// mask: additive, element (bh, i, j) at mask[mask_off(bh) + i * mask_si + j * mask_sj], or null.
struct MaskView {
  const void* data = nullptr;
  int64_t H = 1, sb = 0, sh = 0, si = 0, sj = 0;  // strides for b, h, i, j (0 where broadcast)
};
template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const MaskView& mask, T* o, T* lse, int64_t BH,
                       int64_t N, int64_t M, int64_t Dh, double scale);
template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const MaskView& mask, const T* o, const T* lse,
                        const T* go, T* gq, T* gk, T* gv, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale);

// ---- conv.cpp ---- x: [B, C, H, W] <-> cols: [B, Np, C*P*P] (patches in row-major order)
template <typename T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P);
template <typename T>
void col2im_patches(const T* cols, T* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P);

// ---- index.cpp ----
// out[i, :] = src[idx[i], :] (rows of length D), for i < n; gsrc[idx[i], :] += gout[i, :] (deterministic).
template <typename T>
void gather_rows(const T* src, const int64_t* idx, T* out, int64_t n, int64_t D);
template <typename T>
void scatter_add_rows(const T* gout, const int64_t* idx, T* gsrc, int64_t n, int64_t D, int64_t V);

// ---- optim.cpp ---- one AdamW step over a parameter buffer (decoupled decay, bias corrections bc1, bc2):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * ((m/bc1) / (sqrt(v/bc2) + eps) + wd p)
template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                double bc1, double bc2);

}  // namespace sg::cpu
