// attention_bf16.cpp: scaled dot-product attention on bf16 q, k, v, one (batch, head) pair per task, heads read
// and written through their strides (AttentionLayout), as the f32 kernel (attention.cpp) does.
//
// With bf16 dot products (cpu_has_bf16) every product is oneDNN's bf16 matmul with f32 accumulation, at the
// rounding points of the CUDA tensor-core kernel (cuda/attention_tc.cu) and of FlashAttention:
//   forward   S = scale q k^T + mask (f32),  P = softmax(S) rounded to bf16,  o = P v (rounded once),
//             lse = the row log-sum-exp of S (f32);
//   backward  P = exp(S - lse) recomputed, gv = P^T go and gP = go v^T (f32), gS = P (gP - rowsum(go * o))
//             rounded to bf16, gq = scale gS k and gk = scale gS^T q (each rounded once).
// Each product is a HeadProduct (cpu/head_product.h): built once per call, run on every head.
// Without bf16 dot products (or where oneDNN offers only its reference matmul for these strides) each head is
// widened to f32, run through the f32 kernel and rounded back: P and gS then stay f32.
#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <vector>

#include "base/error.h"
#include "cpu/bf16_blocks.h"
#include "cpu/fast_math.h"
#include "cpu/kernels.h"
#include "cpu/head_product.h"

namespace sg::cpu {
namespace {

// Head bh (= b * H + h) of an operand laid out as `s`, and the (b, h) slice of the mask.
const bf16* head_of(const bf16* p, const HeadStrides& s, int64_t H, int64_t bh) {
  return p + (bh / H) * s.sb + (bh % H) * s.sh;
}
bf16* head_of(bf16* p, const HeadStrides& s, int64_t H, int64_t bh) { return p + (bh / H) * s.sb + (bh % H) * s.sh; }
const bf16* mask_slice(const MaskView& m, int64_t bh) {
  return static_cast<const bf16*>(m.data) + (bh / m.H) * m.sb + (bh % m.H) * m.sh;
}

// ---- widened to f32 --------------------------------------------------------------------------------------

// The elements one (batch, head) slice of the mask spans, 0 without a mask.
int64_t mask_span(const MaskView& m, int64_t N, int64_t M) {
  return m.data ? (N - 1) * m.si + (M - 1) * m.sj + 1 : 0;
}

// One (batch, head) slice of the additive mask, widened to f32 with the same i, j strides (see MaskView).
MaskView widen_mask_slice(const MaskView& m, int64_t bh, int64_t N, int64_t M, float* dst) {
  if (m.data == nullptr) return m;
  widen(mask_slice(m, bh), dst, mask_span(m, N, M));
  MaskView v;
  v.data = dst;
  v.si = m.si;
  v.sj = m.sj;
  return v;
}

// Head bh of an operand laid out as `s`: its `rows` rows of Dh widened into packed f32, or packed f32 rounded into it.
void widen_head(const bf16* p, const HeadStrides& s, int64_t H, int64_t bh, int64_t rows, int64_t Dh, float* dst) {
  const bf16* h = head_of(p, s, H, bh);
  for (int64_t i = 0; i < rows; ++i) widen(h + i * s.sn, dst + i * Dh, Dh);
}
void narrow_head(const float* src, bf16* p, const HeadStrides& s, int64_t H, int64_t bh, int64_t rows, int64_t Dh) {
  bf16* h = head_of(p, s, H, bh);
  for (int64_t i = 0; i < rows; ++i) narrow(src + i * Dh, h + i * s.sn, Dh);
}
AttentionLayout packed_layout(int64_t N, int64_t M, int64_t Dh) {
  const HeadStrides qs{N * Dh, 0, Dh}, ks{M * Dh, 0, Dh};  // H = 1: bh indexes the heads directly
  return AttentionLayout{1, qs, ks, ks, qs, qs, qs, ks, ks};
}

// Widened: one (batch, head) pair per task, as the f32 kernel splits the work: the head gathered through its
// strides into packed f32, the packed f32 kernel, the outputs rounded back through their strides.
void forward_widened(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o, float* lse,
                     const AttentionLayout& L, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  const int64_t nq = N * Dh, nk = M * Dh;
  for_blocks(BH, 1, [&](int64_t bh, int64_t) {
    float* qf = scratch(2 * nq + 2 * nk + mask_span(mask, N, M));
    float *kf = qf + nq, *vf = kf + nk, *of = vf + nk, *mf = of + nq;
    widen_head(q, L.q, L.H, bh, N, Dh, qf);
    widen_head(k, L.k, L.H, bh, M, Dh, kf);
    widen_head(v, L.v, L.H, bh, M, Dh, vf);
    const MaskView mv = widen_mask_slice(mask, bh, N, M, mf);
    attention_forward<float>(qf, kf, vf, mv, of, lse + bh * N, 1, N, M, Dh, scale);
    narrow_head(of, o, L.o, L.H, bh, N, Dh);
  });
}

void backward_widened(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const bf16* o,
                      const float* lse, const bf16* go, bf16* gq, bf16* gk, bf16* gv, const AttentionLayout& L,
                      int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  const int64_t nq = N * Dh, nk = M * Dh;
  for_blocks(BH, 1, [&](int64_t bh, int64_t) {
    float* qf = scratch(4 * nq + 4 * nk + mask_span(mask, N, M));
    float *of = qf + nq, *gof = of + nq, *gqf = gof + nq, *kf = gqf + nq, *vf = kf + nk, *gkf = vf + nk,
          *gvf = gkf + nk, *mf = gvf + nk;
    widen_head(q, L.q, L.H, bh, N, Dh, qf);
    widen_head(o, L.o, L.H, bh, N, Dh, of);
    widen_head(go, L.go, L.H, bh, N, Dh, gof);
    widen_head(k, L.k, L.H, bh, M, Dh, kf);
    widen_head(v, L.v, L.H, bh, M, Dh, vf);
    const MaskView mv = widen_mask_slice(mask, bh, N, M, mf);
    attention_backward<float>(qf, kf, vf, mv, of, lse + bh * N, gof, gqf, gkf, gvf, 1, N, M, Dh, scale);
    narrow_head(gqf, gq, L.gq, L.H, bh, N, Dh);
    narrow_head(gkf, gk, L.gk, L.H, bh, M, Dh);
    narrow_head(gvf, gv, L.gv, L.H, bh, M, Dh);
  });
}

// ---- bf16 products ---------------------------------------------------------------------------------------

using dt = dnnl::memory::data_type;

// S [N, M] += the (b, h) slice of the mask.
void add_mask(const MaskView& m, int64_t bh, int64_t N, int64_t M, float* S) {
  if (m.data == nullptr) return;
  const bf16* mb = mask_slice(m, bh);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < M; ++j) S[i * M + j] += static_cast<float>(mb[i * m.si + j * m.sj]);
}

bool forward_native(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o, float* lse,
                    const AttentionLayout& L, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  const HeadProduct qk(dt::bf16, dt::f32, false, true, N, M, Dh, L.q.sn, L.k.sn, M, static_cast<float>(scale));  // S = scale q k^T
  const HeadProduct pv(dt::bf16, dt::bf16, false, false, N, Dh, M, M, L.v.sn, L.o.sn, 1.0f);                     // o = P v
  if (!HeadProduct::all_jit({&qk, &pv})) return false;
  const size_t scratch_bytes = HeadProduct::scratch_for({&qk, &pv});
#pragma omp parallel
  {
    dnnl::stream stream(onednn_engine());
    std::vector<float> S(static_cast<size_t>(N * M));
    std::vector<bf16> P(static_cast<size_t>(N * M));
    std::vector<char> pad(scratch_bytes);
    HeadProduct::Bound qk_run(qk, stream, pad.data()), pv_run(pv, stream, pad.data());
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < BH; ++bh) {
      qk_run.run(head_of(q, L.q, L.H, bh), head_of(k, L.k, L.H, bh), S.data());
      add_mask(mask, bh, N, M, S.data());
      for (int64_t i = 0; i < N; ++i) {
        lse[bh * N + i] = softmax_row_lse(S.data() + i * M, M);
        narrow(S.data() + i * M, P.data() + i * M, M);
      }
      pv_run.run(P.data(), head_of(v, L.v, L.H, bh), head_of(o, L.o, L.H, bh));
    }
    stream.wait();
  }
  return true;
}

bool backward_native(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const bf16* o,
                     const float* lse, const bf16* go, bf16* gq, bf16* gk, bf16* gv, const AttentionLayout& L,
                     int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  const float s = static_cast<float>(scale);
  const HeadProduct qk(dt::bf16, dt::f32, false, true, N, M, Dh, L.q.sn, L.k.sn, M, s);             // S = scale q k^T
  const HeadProduct ptgo(dt::bf16, dt::bf16, true, false, M, Dh, N, M, L.go.sn, L.gv.sn, 1.0f);     // gv = P^T go
  const HeadProduct govt(dt::bf16, dt::f32, false, true, N, M, Dh, L.go.sn, L.v.sn, M, 1.0f);       // gP = go v^T
  const HeadProduct gsk(dt::bf16, dt::bf16, false, false, N, Dh, M, M, L.k.sn, L.gq.sn, s);         // gq = scale gS k
  const HeadProduct gstq(dt::bf16, dt::bf16, true, false, M, Dh, N, M, L.q.sn, L.gk.sn, s);         // gk = scale gS^T q
  if (!HeadProduct::all_jit({&qk, &ptgo, &govt, &gsk, &gstq})) return false;
  const size_t scratch_bytes = HeadProduct::scratch_for({&qk, &ptgo, &govt, &gsk, &gstq});
#pragma omp parallel
  {
    dnnl::stream stream(onednn_engine());
    std::vector<float> S(static_cast<size_t>(N * M)), gP(static_cast<size_t>(N * M)), row_f(static_cast<size_t>(2 * Dh));
    std::vector<bf16> P(static_cast<size_t>(N * M)), gS(static_cast<size_t>(N * M));
    std::vector<char> pad(scratch_bytes);
    HeadProduct::Bound qk_run(qk, stream, pad.data()), ptgo_run(ptgo, stream, pad.data()),
        govt_run(govt, stream, pad.data()), gsk_run(gsk, stream, pad.data()), gstq_run(gstq, stream, pad.data());
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < BH; ++bh) {
      const bf16 *qb = head_of(q, L.q, L.H, bh), *kb = head_of(k, L.k, L.H, bh), *vb = head_of(v, L.v, L.H, bh);
      const bf16 *ob = head_of(o, L.o, L.H, bh), *gob = head_of(go, L.go, L.H, bh);
      qk_run.run(qb, kb, S.data());
      add_mask(mask, bh, N, M, S.data());
      for (int64_t i = 0; i < N; ++i) {
        float* row = S.data() + i * M;
        const float l = lse[bh * N + i];
#pragma omp simd
        for (int64_t j = 0; j < M; ++j) row[j] = exp_f32(row[j] - l);  // P, f32
        narrow(row, P.data() + i * M, M);
      }
      ptgo_run.run(P.data(), gob, head_of(gv, L.gv, L.H, bh));
      govt_run.run(gob, vb, gP.data());
      for (int64_t i = 0; i < N; ++i) {
        float* gof = row_f.data();
        float* of = gof + Dh;
        widen(gob + i * L.go.sn, gof, Dh);
        widen(ob + i * L.o.sn, of, Dh);
        float d = 0;
#pragma omp simd reduction(+ : d)
        for (int64_t c = 0; c < Dh; ++c) d += gof[c] * of[c];
        float* g = gP.data() + i * M;
        const float* p = S.data() + i * M;
#pragma omp simd
        for (int64_t j = 0; j < M; ++j) g[j] = p[j] * (g[j] - d);  // gS, f32
        narrow(g, gS.data() + i * M, M);
      }
      gsk_run.run(gS.data(), kb, head_of(gq, L.gq, L.H, bh));
      gstq_run.run(gS.data(), qb, head_of(gk, L.gk, L.H, bh));
    }
    stream.wait();
  }
  return true;
}

}  // namespace

template <>
void attention_forward_strided<bf16>(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o,
                                     float* lse, const AttentionLayout& L, int64_t BH, int64_t N, int64_t M, int64_t Dh,
                                     double scale) {
  if (BH <= 0 || N <= 0) return;
  try {
    if (cpu_has_bf16() && M > 0 && forward_native(q, k, v, mask, o, lse, L, BH, N, M, Dh, scale)) return;
  } catch (const dnnl::error& e) {
    fail("attention_forward<bf16>: oneDNN matmul failed at BH {}, N {}, M {}, Dh {}: {}", BH, N, M, Dh, e.what());
  }
  forward_widened(q, k, v, mask, o, lse, L, BH, N, M, Dh, scale);
}

template <>
void attention_backward_strided<bf16>(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const bf16* o,
                                      const float* lse, const bf16* go, bf16* gq, bf16* gk, bf16* gv,
                                      const AttentionLayout& L, int64_t BH, int64_t N, int64_t M, int64_t Dh,
                                      double scale) {
  if (BH <= 0 || N <= 0) return;
  try {
    if (cpu_has_bf16() && M > 0 &&
        backward_native(q, k, v, mask, o, lse, go, gq, gk, gv, L, BH, N, M, Dh, scale))
      return;
  } catch (const dnnl::error& e) {
    fail("attention_backward<bf16>: oneDNN matmul failed at BH {}, N {}, M {}, Dh {}: {}", BH, N, M, Dh, e.what());
  }
  backward_widened(q, k, v, mask, o, lse, go, gq, gk, gv, L, BH, N, M, Dh, scale);
}

template <>
void attention_forward<bf16>(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o, float* lse,
                             int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  attention_forward_strided<bf16>(q, k, v, mask, o, lse, packed_layout(N, M, Dh), BH, N, M, Dh, scale);
}

template <>
void attention_backward<bf16>(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const bf16* o,
                              const float* lse, const bf16* go, bf16* gq, bf16* gk, bf16* gv, int64_t BH, int64_t N,
                              int64_t M, int64_t Dh, double scale) {
  attention_backward_strided<bf16>(q, k, v, mask, o, lse, go, gq, gk, gv, packed_layout(N, M, Dh), BH, N, M, Dh,
                                   scale);
}

}  // namespace sg::cpu
