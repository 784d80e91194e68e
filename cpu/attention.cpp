// attention.cpp: fused scaled dot-product attention, one (batch, head) pair per task.
// Forward keeps only the row log-sum-exp; backward recomputes P = exp(S - lse), in FlashAttention's manner:
//   S = scale * q k^T + mask,  P = softmax(S),  o = P v
//   gv = P^T go,  gP = go v^T,  gS = P * (gP - rowsum(go * o)),  gq = scale * gS k,  gk = scale * gS^T q
#include <cmath>
#include <vector>

#include "cpu/kernels.h"

namespace sg::cpu {
namespace {

// C[m, n] (+)= alpha * op(A) op(B): single-threaded, called inside the per-(b, h) parallel loop.
// f32 uses oneDNN (serial inside an OpenMP region); f64 (gradient checks only) a plain loop.
template <typename T>
void small_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  if constexpr (std::is_same_v<T, float>) {
    gemm<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
  } else {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        T acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
        C[i * N + j] = alpha * acc + (beta == T(0) ? T(0) : beta * C[i * N + j]);
      }
  }
}

// S (N x M) = scale * q k^T + mask, then P = exp(S - lse) when lse is given.
template <typename T>
void scores(const T* q, const T* k, const MaskView& mask, int64_t bh, int64_t N, int64_t M, int64_t Dh, double scale,
            T* S) {
  small_gemm<T>(false, true, N, M, Dh, static_cast<T>(scale), q, k, T(0), S);
  if (mask.data) {
    const T* m = static_cast<const T*>(mask.data) + (bh / mask.H) * mask.sb + (bh % mask.H) * mask.sh;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < M; ++j) S[i * M + j] += m[i * mask.si + j * mask.sj];
  }
}
}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const MaskView& mask, T* o, acc_t<T>* lse, int64_t BH, int64_t N,
                       int64_t M, int64_t Dh, double scale) {
#pragma omp parallel
  {
    std::vector<T> S(static_cast<size_t>(N * M));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < BH; ++bh) {
      scores(q + bh * N * Dh, k + bh * M * Dh, mask, bh, N, M, Dh, scale, S.data());
      for (int64_t i = 0; i < N; ++i) {
        T* row = S.data() + i * M;
        T mx = row[0];
        for (int64_t j = 1; j < M; ++j) mx = std::max(mx, row[j]);
        double s = 0;
        for (int64_t j = 0; j < M; ++j) {
          row[j] = std::exp(row[j] - mx);
          s += row[j];
        }
        const T inv = static_cast<T>(1.0 / s);
        for (int64_t j = 0; j < M; ++j) row[j] *= inv;
        lse[bh * N + i] = mx + static_cast<T>(std::log(s));
      }
      small_gemm<T>(false, false, N, Dh, M, T(1), S.data(), v + bh * M * Dh, T(0), o + bh * N * Dh);
    }
  }
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const MaskView& mask, const T* o, const acc_t<T>* lse,
                        const T* go, T* gq, T* gk, T* gv, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
#pragma omp parallel
  {
    std::vector<T> P(static_cast<size_t>(N * M)), gP(static_cast<size_t>(N * M));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < BH; ++bh) {
      const T* qb = q + bh * N * Dh;
      const T* kb = k + bh * M * Dh;
      const T* vb = v + bh * M * Dh;
      const T* ob = o + bh * N * Dh;
      const T* gob = go + bh * N * Dh;
      scores(qb, kb, mask, bh, N, M, Dh, scale, P.data());
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < M; ++j) P[i * M + j] = std::exp(P[i * M + j] - lse[bh * N + i]);
      small_gemm<T>(true, false, M, Dh, N, T(1), P.data(), gob, T(0), gv + bh * M * Dh);  // gv = P^T go
      small_gemm<T>(false, true, N, M, Dh, T(1), gob, vb, T(0), gP.data());               // gP = go v^T
      for (int64_t i = 0; i < N; ++i) {
        T d = 0;
        for (int64_t c = 0; c < Dh; ++c) d += gob[i * Dh + c] * ob[i * Dh + c];
        for (int64_t j = 0; j < M; ++j) gP[i * M + j] = P[i * M + j] * (gP[i * M + j] - d);  // gS
      }
      const T s = static_cast<T>(scale);
      small_gemm<T>(false, false, N, Dh, M, s, gP.data(), kb, T(0), gq + bh * N * Dh);  // gq = scale gS k
      small_gemm<T>(true, false, M, Dh, N, s, gP.data(), qb, T(0), gk + bh * M * Dh);   // gk = scale gS^T q
    }
  }
}

template void attention_forward<float>(const float*, const float*, const float*, const MaskView&, float*, float*,
                                       int64_t, int64_t, int64_t, int64_t, double);
template void attention_forward<double>(const double*, const double*, const double*, const MaskView&, double*,
                                        double*, int64_t, int64_t, int64_t, int64_t, double);
template void attention_backward<float>(const float*, const float*, const float*, const MaskView&, const float*,
                                        const float*, const float*, float*, float*, float*, int64_t, int64_t, int64_t,
                                        int64_t, double);
template void attention_backward<double>(const double*, const double*, const double*, const MaskView&, const double*,
                                         const double*, const double*, double*, double*, double*, int64_t, int64_t,
                                         int64_t, int64_t, double);

}  // namespace sg::cpu
