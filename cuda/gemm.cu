// gemm.cu: C[M,N] = alpha * op(A) @ op(B) + beta * C through cuBLAS (Sgemm for f32, Dgemm for f64, GemmEx with
// bf16 operands and f32 compute for bf16).
// The engine is row-major and cuBLAS column-major: a row-major matrix with leading dim ld is, read
// column-major, its transpose with the same ld. So C^T = op(B)^T op(A)^T is computed: cuBLAS gets B
// first and A second, with M and N swapped and each transpose flag kept as it is.
// One cuBLAS handle, made on first use, bound to the engine's stream, with CUBLAS_DEFAULT_MATH: no TF32,
// so f32 results agree with the CPU to float rounding.
#include <cublas_v2.h>

#include <climits>

#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

void check_cublas(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  fail("{}: cuBLAS error {} ({})", what, cublasGetStatusName(st), cublasGetStatusString(st));
}

cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t hh = nullptr;
    check_cublas(cublasCreate(&hh), "gemm: cublasCreate");
    check_cublas(cublasSetStream(hh, stream()), "gemm: cublasSetStream");
    check_cublas(cublasSetMathMode(hh, CUBLAS_DEFAULT_MATH), "gemm: cublasSetMathMode");
    check_cublas(cublasSetPointerMode(hh, CUBLAS_POINTER_MODE_HOST), "gemm: cublasSetPointerMode");
    return hh;
  }();
  return h;
}

// K == 0: op(A) @ op(B) is all zeros, C = beta * C (zeros when beta == 0, whatever C held).
template <typename T, typename A = acc_t<T>>
__global__ void scale_kernel(T* __restrict__ C, int64_t M, int64_t N, int64_t ldc, A beta) {
  const int64_t n = M * N;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / N, j = e - i * N;
    T* c = C + i * ldc + j;
    *c = T(beta == A(0) ? A(0) : beta * A(*c));
  }
}

// A leading dim only matters when the matrix has more than one row: cuBLAS still wants it >= the row length.
int64_t fix_ld(int64_t ld, int64_t rows, int64_t cols) {
  if (rows <= 1 && ld < cols) ld = cols;
  return ld < 1 ? 1 : ld;
}

int to_int(int64_t v, const char* what, int64_t M, int64_t N, int64_t K) {
  if (v > INT_MAX || v < 0)
    fail("gemm: {} = {} does not fit cuBLAS's 32-bit sizes (M, N, K) = ({}, {}, {})", what, v, M, N, K);
  return static_cast<int>(v);
}

template <typename T>
void gemm_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, acc_t<T> alpha, const T* A, int64_t lda, const T* B,
               int64_t ldb, acc_t<T> beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  ldc = fix_ld(ldc, M, N);
  if (K <= 0) {
    scale_kernel<T><<<grid_for(M * N), kThreads, 0, stream()>>>(C, M, N, ldc, beta);
    check_launch("gemm (scale_kernel, K = 0)");
    return;
  }
  lda = fix_ld(lda, ta ? K : M, ta ? M : K);
  ldb = fix_ld(ldb, tb ? N : K, tb ? K : N);
  const int m = to_int(N, "N", M, N, K), n = to_int(M, "M", M, N, K), k = to_int(K, "K", M, N, K);
  const int ia = to_int(lda, "lda", M, N, K), ib = to_int(ldb, "ldb", M, N, K), ic = to_int(ldc, "ldc", M, N, K);
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  if constexpr (std::is_same_v<T, float>) {
    check_cublas(cublasSgemm(handle(), opb, opa, m, n, k, &alpha, B, ib, A, ia, &beta, C, ic), "gemm: cublasSgemm");
  } else if constexpr (std::is_same_v<T, bf16>) {
    // bf16 in and out, f32 accumulation (tensor cores); alpha and beta are float.
    check_cublas(cublasGemmEx(handle(), opb, opa, m, n, k, &alpha, B, CUDA_R_16BF, ib, A, CUDA_R_16BF, ia, &beta, C,
                              CUDA_R_16BF, ic, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "gemm: cublasGemmEx (bf16, f32 compute)");
  } else {
    check_cublas(cublasDgemm(handle(), opb, opa, m, n, k, &alpha, B, ib, A, ia, &beta, C, ic), "gemm: cublasDgemm");
  }
}

}  // namespace

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_impl<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_impl<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<bf16>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
                const bf16* B, int64_t ldb, float beta, bf16* C, int64_t ldc) {
  gemm_impl<bf16>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace sg::cuda
