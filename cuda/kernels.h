// kernels.h: CUDA kernels, the same functions with the same signatures as cpu/kernels.h (SG_KERNEL in
// tensor/dispatch.h calls one or the other), on device pointers. Host std::vector arguments (shapes,
// strides) stay on the host. T is float or double. Plain C++: included by g++-compiled files.
// Every kernel runs on the engine's one stream (cuda/backend.cu), in order; a failed launch throws
// sg::Error naming the kernel. Layouts and what is not done yet: docs/cuda-notes.md.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "tensor/dtype.h"

namespace sg::cuda {
using cpu::Binary;
using cpu::Dims;
using cpu::MaskView;
using cpu::Unary;

// ---- copy.cu ----
void copy_strided(const void* src, DType st, const Dims& shape, const Dims& src_strides, void* dst, DType dt);
void copy_into_strided(const void* src, void* dst, DType t, const Dims& shape, const Dims& dst_strides);
void fill(void* dst, DType t, int64_t n, double value);

// ---- elementwise.cu ----
template <typename T>
void unary(Unary op, const T* x, T* y, int64_t n, double param);
template <typename T>
void unary_backward(Unary op, const T* x, const T* y, const T* gy, T* gx, int64_t n, double param);
template <typename T>
void binary(Binary op, const T* a, const Dims& a_strides, const T* b, const Dims& b_strides, T* out, const Dims& shape);

// ---- reduce.cu ---- (x viewed as [outer, r, inner]; reduce the middle)
template <typename T>
void sum_dim(const T* x, T* y, int64_t outer, int64_t r, int64_t inner);
template <typename T>
void max_dim(const T* x, T* y, int64_t* argmax, int64_t outer, int64_t r, int64_t inner);
template <typename T>
void max_dim_backward(const T* gy, const int64_t* argmax, T* gx, int64_t outer, int64_t r, int64_t inner);

// ---- softmax.cu ----
template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t r, int64_t inner, bool log);
template <typename T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t r, int64_t inner, bool log);

// ---- norm.cu ---- (x: [rows, D])
template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t D, double eps);
template <typename T>
void layer_norm_backward(const T* x, const T* w, const T* mean, const T* rstd, const T* gy, T* gx, T* gw, T* gb,
                         int64_t rows, int64_t D);

// ---- gemm.cu ---- C[M,N] = alpha * op(A) @ op(B) + beta * C, row-major with leading dims (cuBLAS).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

// ---- attention.cu ---- q: [BH, N, Dh], k, v: [BH, M, Dh], o: [BH, N, Dh], lse: [BH, N]; Dh <= 128.
template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const MaskView& mask, T* o, T* lse, int64_t BH,
                       int64_t N, int64_t M, int64_t Dh, double scale);
template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const MaskView& mask, const T* o, const T* lse,
                        const T* go, T* gq, T* gk, T* gv, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale);

// ---- conv.cu ----
template <typename T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P);
template <typename T>
void col2im_patches(const T* cols, T* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P);

// ---- index.cu ----
template <typename T>
void gather_rows(const T* src, const int64_t* idx, T* out, int64_t n, int64_t D);
template <typename T>
void scatter_add_rows(const T* gout, const int64_t* idx, T* gsrc, int64_t n, int64_t D, int64_t V);

// ---- optim.cu ---- one AdamW step over a parameter buffer (formula in cpu/kernels.h)
template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                double bc1, double bc2);

}  // namespace sg::cuda
