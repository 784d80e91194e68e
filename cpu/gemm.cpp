// gemm.cpp: matrix products through oneDNN (f32) or OpenBLAS (f32 and f64).
// f32 goes to oneDNN's dnnl_sgemm by default: measured with `build/siglip bench ops` on this 2-core machine
// it beats OpenBLAS at our shapes (the table prints both, raw, in the same run). oneDNN has no f64 GEMM,
// so f64 (gradient checks) always uses OpenBLAS. SG_GEMM=openblas|onednn overrides the f32 choice.
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu/kernels.h"
#include "base/error.h"

namespace sg::cpu {
namespace {
bool g_use_onednn = [] {
  const char* e = std::getenv("SG_GEMM");
  return !(e && std::string(e) == "openblas");
}();
}  // namespace

const char* gemm_backend() { return g_use_onednn ? "onednn" : "openblas"; }
void set_gemm_backend(const char* name) {
  std::string n = name;
  SG_CHECK(n == "onednn" || n == "openblas", "set_gemm_backend: unknown backend '{}' (onednn or openblas)", n);
  g_use_onednn = n == "onednn";
}

std::string openblas_kernels() {
  std::string core = openblas_get_corename();
  if (core == "Prescott" && std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const char* better = avx512 ? "SkylakeX" : __builtin_cpu_supports("avx2") ? "Haswell" : nullptr;
    if (better != nullptr)
      core += std::string(" (its SSE3 fall-back on a CPU this OpenBLAS does not know; OPENBLAS_CORETYPE=") + better +
              " selects its kernels for this CPU's vector units)";
  }
  return core;
}

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (g_use_onednn) {
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    SG_CHECK(st == dnnl_success, "gemm: dnnl_sgemm failed with status {} at (M, N, K) = ({}, {}, {})",
             static_cast<int>(st), M, N, K);
  } else {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
                static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb),
                beta, C, static_cast<int>(ldc));
  }
}

template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

}  // namespace sg::cpu
