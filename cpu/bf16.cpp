// bf16.cpp: every CPU kernel for bfloat16 buffers, as "widen to f32, run the f32 kernel, round to bf16".
// (GEMM is cpu/gemm_bf16.cpp. Patches and row gathers only move elements: conv.cpp and gather_rows here take
// bf16 as it is.)
// The CPU keeps no bf16 arithmetic of its own: these exist so that a bf16 tensor works on the CPU (slowly)
// and so that the CUDA bf16 kernels, which also read bf16, compute in f32 and round once when storing, have
// a reference with the same rounding points (the registry's CPU/CUDA bf16 parity, tests/test_cuda.cpp).
#include <algorithm>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/strided.h"
#include "base/error.h"

namespace sg::cpu {
namespace {

using F = std::vector<float>;

F widen(const bf16* p, int64_t n) {
  F out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (p == nullptr) return out;
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<float>(p[i]);
  return out;
}
void narrow(const F& v, bf16* p) {
  for (size_t i = 0; i < v.size(); ++i) p[i] = bf16(v[i]);
}
const float* data_or_null(const bf16* p, const F& v) { return p ? v.data() : nullptr; }

}  // namespace

template <>
void unary<bf16>(Unary op, const bf16* x, bf16* y, int64_t n, double param) {
  F xf = widen(x, n), yf(xf.size());
  unary<float>(op, xf.data(), yf.data(), n, param);
  narrow(yf, y);
}

template <>
void unary_backward<bf16>(Unary op, const bf16* x, const bf16* y, const bf16* gy, bf16* gx, int64_t n, double param) {
  F xf = widen(x, x ? n : 0), yf = widen(y, y ? n : 0), gyf = widen(gy, n), gxf(gyf.size());
  unary_backward<float>(op, data_or_null(x, xf), data_or_null(y, yf), gyf.data(), gxf.data(), n, param);
  narrow(gxf, gx);
}

template <>
void binary<bf16>(Binary op, const bf16* a, const Dims& as, const bf16* b, const Dims& bs, bf16* out, const Dims& shape) {
  F af = widen(a, strided_span(shape.data(), as.data(), shape.size()));
  F bf = widen(b, strided_span(shape.data(), bs.data(), shape.size()));
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  F of(static_cast<size_t>(n));
  binary<float>(op, af.data(), as, bf.data(), bs, of.data(), shape);
  narrow(of, out);
}

template <>
void bias_gelu_forward<bf16>(const bf16* x, const bf16* b, bf16* y, int64_t rows, int64_t D) {
  F xf = widen(x, rows * D), bf = widen(b, D), yf(xf.size());
  bias_gelu_forward<float>(xf.data(), bf.data(), yf.data(), rows, D);
  narrow(yf, y);
}

template <>
void bias_gelu_backward<bf16>(const bf16* x, const bf16* b, const bf16* gy, bf16* gx, int64_t rows, int64_t D) {
  F xf = widen(x, rows * D), bf = widen(b, D), gyf = widen(gy, rows * D), gxf(xf.size());
  bias_gelu_backward<float>(xf.data(), bf.data(), gyf.data(), gxf.data(), rows, D);
  narrow(gxf, gx);
}

template <>
void sum_dim<bf16>(const bf16* x, bf16* y, int64_t outer, int64_t r, int64_t inner) {
  F xf = widen(x, outer * r * inner), yf(static_cast<size_t>(outer * inner));
  sum_dim<float>(xf.data(), yf.data(), outer, r, inner);
  narrow(yf, y);
}

template <>
void max_dim<bf16>(const bf16* x, bf16* y, int64_t* argmax, int64_t outer, int64_t r, int64_t inner) {
  F xf = widen(x, outer * r * inner), yf(static_cast<size_t>(outer * inner));
  max_dim<float>(xf.data(), yf.data(), argmax, outer, r, inner);
  narrow(yf, y);
}

template <>
void max_dim_backward<bf16>(const bf16* gy, const int64_t* argmax, bf16* gx, int64_t outer, int64_t r, int64_t inner) {
  F gyf = widen(gy, outer * inner), gxf(static_cast<size_t>(outer * r * inner));
  max_dim_backward<float>(gyf.data(), argmax, gxf.data(), outer, r, inner);
  narrow(gxf, gx);
}

template <>
void softmax_forward<bf16>(const bf16* x, bf16* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  F xf = widen(x, outer * r * inner), yf(xf.size());
  softmax_forward<float>(xf.data(), yf.data(), outer, r, inner, log);
  narrow(yf, y);
}

template <>
void softmax_backward<bf16>(const bf16* y, const bf16* gy, bf16* gx, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t n = outer * r * inner;
  F yf = widen(y, n), gyf = widen(gy, n), gxf(yf.size());
  softmax_backward<float>(yf.data(), gyf.data(), gxf.data(), outer, r, inner, log);
  narrow(gxf, gx);
}

template <>
void layer_norm_forward<bf16>(const bf16* x, const bf16* w, const bf16* b, bf16* y, float* mean, float* rstd,
                              int64_t rows, int64_t D, double eps) {
  F xf = widen(x, rows * D), wf = widen(w, D), bf = widen(b, D), yf(xf.size());
  layer_norm_forward<float>(xf.data(), wf.data(), bf.data(), yf.data(), mean, rstd, rows, D, eps);
  narrow(yf, y);
}

template <>
void layer_norm_backward<bf16>(const bf16* x, const bf16* w, const float* mean, const float* rstd, const bf16* gy,
                               bf16* gx, bf16* gw, bf16* gb, int64_t rows, int64_t D) {
  F xf = widen(x, rows * D), wf = widen(w, D), gyf = widen(gy, rows * D), gxf(xf.size()), gwf(wf.size()),
    gbf(wf.size());
  layer_norm_backward<float>(xf.data(), wf.data(), mean, rstd, gyf.data(), gxf.data(), gwf.data(), gbf.data(), rows, D);
  narrow(gxf, gx);
  narrow(gwf, gw);
  narrow(gbf, gb);
}

namespace {
// The additive mask widened to f32, with the same strides (see MaskView).
struct WideMask {
  F values;
  MaskView view;
};
WideMask widen_mask(const MaskView& m, int64_t BH, int64_t N, int64_t M) {
  WideMask w;
  w.view = m;
  if (m.data == nullptr) return w;
  const int64_t span = (BH / m.H - 1) * m.sb + (m.H - 1) * m.sh + (N - 1) * m.si + (M - 1) * m.sj + 1;
  w.values = widen(static_cast<const bf16*>(m.data), span);
  w.view.data = w.values.data();
  return w;
}
}  // namespace

template <>
void attention_forward<bf16>(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o, float* lse,
                             int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  F qf = widen(q, BH * N * Dh), kf = widen(k, BH * M * Dh), vf = widen(v, BH * M * Dh), of(qf.size());
  WideMask wm = widen_mask(mask, BH, N, M);
  attention_forward<float>(qf.data(), kf.data(), vf.data(), wm.view, of.data(), lse, BH, N, M, Dh, scale);
  narrow(of, o);
}

template <>
void attention_backward<bf16>(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const bf16* o,
                              const float* lse, const bf16* go, bf16* gq, bf16* gk, bf16* gv, int64_t BH, int64_t N,
                              int64_t M, int64_t Dh, double scale) {
  F qf = widen(q, BH * N * Dh), kf = widen(k, BH * M * Dh), vf = widen(v, BH * M * Dh), of = widen(o, BH * N * Dh),
    gof = widen(go, BH * N * Dh), gqf(qf.size()), gkf(kf.size()), gvf(vf.size());
  WideMask wm = widen_mask(mask, BH, N, M);
  attention_backward<float>(qf.data(), kf.data(), vf.data(), wm.view, of.data(), lse, gof.data(), gqf.data(),
                            gkf.data(), gvf.data(), BH, N, M, Dh, scale);
  narrow(gqf, gq);
  narrow(gkf, gk);
  narrow(gvf, gv);
}

template <>
void gather_rows<bf16>(const bf16* src, const int64_t* idx, bf16* out, int64_t n, int64_t D) {
  for (int64_t i = 0; i < n; ++i) std::copy(src + idx[i] * D, src + idx[i] * D + D, out + i * D);
}

// Sums in f32, rounded once per output row (the CUDA kernel does the same).
template <>
void scatter_add_rows<bf16>(const bf16* gout, const int64_t* idx, bf16* gsrc, int64_t n, int64_t D, int64_t V) {
  F gf = widen(gout, n * D), sf(static_cast<size_t>(V * D));
  scatter_add_rows<float>(gf.data(), idx, sf.data(), n, D, V);
  narrow(sf, gsrc);
}

}  // namespace sg::cpu
