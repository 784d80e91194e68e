// attention.cpp: fused scaled dot-product attention, one (batch, head) pair per task. Heads are read and
// written through strides (AttentionLayout), so q, k, v can be views of the projections' [B, N, H*Dh] outputs.
// Forward keeps only the row log-sum-exp; backward recomputes P = exp(S - lse), in FlashAttention's manner:
//   S = scale * q k^T + mask,  P = softmax(S),  o = P v
//   gv = P^T go,  gP = go v^T,  gS = P * (gP - rowsum(go * o)),  gq = scale * gS k,  gk = scale * gS^T q
#include <cmath>
#include <vector>

#include "cpu/fast_math.h"
#include "cpu/kernels.h"
#include "cpu/small_gemm.h"

namespace sg::cpu {
namespace {

// C[m, n] = alpha * op(A) op(B) with leading dims: single-threaded, called inside the per-(b, h) parallel
// loop with the calling thread's `pack` (small_sgemm_pack_floats of the largest inner dimension). f32 uses
// small_sgemm (cpu/small_gemm.h); f64 (gradient checks only) a plain loop.
template <typename T>
void small_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                int64_t ldb, T* C, int64_t ldc, float* pack) {
  if constexpr (std::is_same_v<T, float>) {
    small_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc, pack);
  } else {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        T acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
        C[i * ldc + j] = alpha * acc;
      }
  }
}

// Head (b, h) of an operand laid out as `s`, b and h taken from bh = b * H + h.
template <typename T>
T* head(T* p, const HeadStrides& s, int64_t bh, int64_t H) {
  return p + (bh / H) * s.sb + (bh % H) * s.sh;
}

// S (N x M) = scale * q k^T + mask, q and k rows `sq` and `sk` apart.
template <typename T>
void scores(const T* q, int64_t sq, const T* k, int64_t sk, const MaskView& mask, int64_t bh, int64_t N, int64_t M,
            int64_t Dh, double scale, T* S, float* pack) {
  small_gemm<T>(false, true, N, M, Dh, static_cast<T>(scale), q, sq, k, sk, S, M, pack);
  if (mask.data) {
    const T* m = static_cast<const T*>(mask.data) + (bh / mask.H) * mask.sb + (bh % mask.H) * mask.sh;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < M; ++j) S[i * M + j] += m[i * mask.si + j * mask.sj];
  }
}

// Asks for the rows [0, rows) x [0, cols) of a head (rows `ld` apart) to be brought into cache: called for the
// next head while the current one computes, since each head's rows lie far apart in the projections' output.
template <typename T>
void prefetch_rows(const T* p, int64_t rows, int64_t ld, int64_t cols) {
  constexpr int64_t line = 64 / sizeof(T);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; c += line) __builtin_prefetch(p + r * ld + c, 0, 3);
}

template <typename T>
AttentionLayout packed_layout(int64_t N, int64_t M, int64_t Dh) {
  const HeadStrides qs{N * Dh, 0, Dh}, ks{M * Dh, 0, Dh};  // H = 1: bh indexes the heads directly
  return AttentionLayout{1, qs, ks, ks, qs, qs, qs, ks, ks};
}
}  // namespace

template <typename T>
void attention_forward_strided(const T* q, const T* k, const T* v, const MaskView& mask, T* o, acc_t<T>* lse,
                               const AttentionLayout& L, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
#pragma omp parallel
  {
    std::vector<T> S(static_cast<size_t>(N * M));
    std::vector<float> pack(static_cast<size_t>(small_sgemm_pack_floats(Dh)));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < BH; ++bh) {
      if (bh + 1 < BH) {
        prefetch_rows(head(q, L.q, bh + 1, L.H), N, L.q.sn, Dh);
        prefetch_rows(head(k, L.k, bh + 1, L.H), M, L.k.sn, Dh);
        prefetch_rows(head(v, L.v, bh + 1, L.H), M, L.v.sn, Dh);
      }
      scores(head(q, L.q, bh, L.H), L.q.sn, head(k, L.k, bh, L.H), L.k.sn, mask, bh, N, M, Dh, scale, S.data(),
             pack.data());
      for (int64_t i = 0; i < N; ++i) lse[bh * N + i] = softmax_row_lse(S.data() + i * M, M);
      small_gemm<T>(false, false, N, Dh, M, T(1), S.data(), M, head(v, L.v, bh, L.H), L.v.sn, head(o, L.o, bh, L.H),
                    L.o.sn, pack.data());
    }
  }
}

template <typename T>
void attention_backward_strided(const T* q, const T* k, const T* v, const MaskView& mask, const T* o,
                                const acc_t<T>* lse, const T* go, T* gq, T* gk, T* gv, const AttentionLayout& L,
                                int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
#pragma omp parallel
  {
    std::vector<T> P(static_cast<size_t>(N * M)), gP(static_cast<size_t>(N * M));
    std::vector<float> pack(static_cast<size_t>(small_sgemm_pack_floats(Dh)));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < BH; ++bh) {
      const int64_t H = L.H;
      const T* qb = head(q, L.q, bh, H);
      const T* kb = head(k, L.k, bh, H);
      const T* vb = head(v, L.v, bh, H);
      const T* ob = head(o, L.o, bh, H);
      const T* gob = head(go, L.go, bh, H);
      if (bh + 1 < BH) {
        prefetch_rows(head(q, L.q, bh + 1, H), N, L.q.sn, Dh);
        prefetch_rows(head(k, L.k, bh + 1, H), M, L.k.sn, Dh);
        prefetch_rows(head(v, L.v, bh + 1, H), M, L.v.sn, Dh);
        prefetch_rows(head(o, L.o, bh + 1, H), N, L.o.sn, Dh);
        prefetch_rows(head(go, L.go, bh + 1, H), N, L.go.sn, Dh);
      }
      scores(qb, L.q.sn, kb, L.k.sn, mask, bh, N, M, Dh, scale, P.data(), pack.data());
      for (int64_t i = 0; i < N; ++i) {
        const T l = lse[bh * N + i];
        T* row = P.data() + i * M;
#pragma omp simd
        for (int64_t j = 0; j < M; ++j) row[j] = fast_exp(row[j] - l);
      }
      small_gemm<T>(true, false, M, Dh, N, T(1), P.data(), M, gob, L.go.sn, head(gv, L.gv, bh, H), L.gv.sn,
                    pack.data());                                                            // gv = P^T go
      small_gemm<T>(false, true, N, M, Dh, T(1), gob, L.go.sn, vb, L.v.sn, gP.data(), M, pack.data());  // gP = go v^T
      for (int64_t i = 0; i < N; ++i) {
        T d = 0;
#pragma omp simd reduction(+ : d)
        for (int64_t c = 0; c < Dh; ++c) d += gob[i * L.go.sn + c] * ob[i * L.o.sn + c];
#pragma omp simd
        for (int64_t j = 0; j < M; ++j) gP[i * M + j] = P[i * M + j] * (gP[i * M + j] - d);  // gS
      }
      const T s = static_cast<T>(scale);
      small_gemm<T>(false, false, N, Dh, M, s, gP.data(), M, kb, L.k.sn, head(gq, L.gq, bh, H), L.gq.sn,
                    pack.data());  // gq = scale gS k
      small_gemm<T>(true, false, M, Dh, N, s, gP.data(), M, qb, L.q.sn, head(gk, L.gk, bh, H), L.gk.sn,
                    pack.data());  // gk = scale gS^T q
    }
  }
}

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const MaskView& mask, T* o, acc_t<T>* lse, int64_t BH, int64_t N,
                       int64_t M, int64_t Dh, double scale) {
  attention_forward_strided<T>(q, k, v, mask, o, lse, packed_layout<T>(N, M, Dh), BH, N, M, Dh, scale);
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const MaskView& mask, const T* o, const acc_t<T>* lse,
                        const T* go, T* gq, T* gk, T* gv, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  attention_backward_strided<T>(q, k, v, mask, o, lse, go, gq, gk, gv, packed_layout<T>(N, M, Dh), BH, N, M, Dh,
                                scale);
}

#define SG_ATTENTION_INSTANTIATE(T)                                                                                    \
  template void attention_forward<T>(const T*, const T*, const T*, const MaskView&, T*, T*, int64_t, int64_t, int64_t, \
                                     int64_t, double);                                                                 \
  template void attention_backward<T>(const T*, const T*, const T*, const MaskView&, const T*, const T*, const T*, T*, \
                                      T*, T*, int64_t, int64_t, int64_t, int64_t, double);                             \
  template void attention_forward_strided<T>(const T*, const T*, const T*, const MaskView&, T*, T*,                    \
                                             const AttentionLayout&, int64_t, int64_t, int64_t, int64_t, double);      \
  template void attention_backward_strided<T>(const T*, const T*, const T*, const MaskView&, const T*, const T*,       \
                                              const T*, T*, T*, T*, const AttentionLayout&, int64_t, int64_t, int64_t, \
                                              int64_t, double);
SG_ATTENTION_INSTANTIATE(float)
SG_ATTENTION_INSTANTIATE(double)
#undef SG_ATTENTION_INSTANTIATE

}  // namespace sg::cpu
