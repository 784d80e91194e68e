// bf16.cpp: the CPU kernels for bfloat16 buffers. Every one computes in f32 and rounds each output once, from
// the f32 result: the rounding points of the CUDA bf16 kernels, which also read bf16, compute in f32 and round
// when storing (the registry's CPU/CUDA bf16 parity, tests/test_cuda.cpp). Two shapes:
//   fused (binary, bias_gelu): runs of elements computed in f32 straight from the bf16 operands with the f32
//     kernel's expressions, into a stack buffer, then rounded: one pass over memory;
//   blocked (the rest): blocks of about kBlock elements split over threads, each widened into the thread's own
//     f32 scratch (kept between calls), run through the f32 kernel (serially, inside the parallel loop), rounded
//     back.
// (GEMM is cpu/gemm_bf16.cpp; attention cpu/attention_bf16.cpp; sum_dim reads bf16 in reduce.cpp's template;
// conversions are cpu/bf16_convert.cpp; patches and row gathers only move elements: conv.cpp and gather_rows here
// take bf16 as it is.)
#include <algorithm>
#include <vector>

#include "cpu/bf16_blocks.h"
#include "cpu/gelu.h"
#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace sg::cpu {
namespace {

// Elements per block: three f32 blocks (two inputs, one output) take 192 KB, inside a core's L2.
constexpr int64_t kBlock = 16384;

// Rows of `row_len` elements per block: about kBlock elements, at least one row.
int64_t rows_per_block(int64_t row_len) { return std::max<int64_t>(1, kBlock / std::max<int64_t>(row_len, 1)); }

}  // namespace

template <>
void unary<bf16>(Unary op, const bf16* x, bf16* y, int64_t n, double param) {
  for_blocks(n, kBlock, [&](int64_t b, int64_t e) {
    float* xf = scratch(2 * kBlock);
    float* yf = xf + kBlock;
    widen(x + b, xf, e - b);
    unary<float>(op, xf, yf, e - b, param);
    narrow(yf, y + b, e - b);
  });
}

template <>
void unary_backward<bf16>(Unary op, const bf16* x, const bf16* y, const bf16* gy, bf16* gx, int64_t n, double param) {
  for_blocks(n, kBlock, [&](int64_t b, int64_t e) {
    float* xf = scratch(4 * kBlock);
    float *yf = xf + kBlock, *gyf = yf + kBlock, *gxf = gyf + kBlock;
    if (x) widen(x + b, xf, e - b);
    if (y) widen(y + b, yf, e - b);
    widen(gy + b, gyf, e - b);
    unary_backward<float>(op, x ? xf : nullptr, y ? yf : nullptr, gyf, gxf, e - b, param);
    narrow(gxf, gx + b, e - b);
  });
}

namespace {
// Fused maps: each run of elements is computed in f32 into a small stack buffer, straight from the bf16 operands,
// then rounded into the output: one pass over memory, the f32 kernel's arithmetic (the same table expressions
// and formulas, cpu/gelu.h) on the same values.
constexpr int64_t kRun = 512;

const uint16_t* bits_of(const bf16* p) { return reinterpret_cast<const uint16_t*>(p); }

template <typename F>
void binary_map(const bf16* a, const Dims& as, const bf16* b, const Dims& bs, bf16* out, const Dims& shape, F f) {
  Dims os(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) os[d] = acc, acc *= shape[d];
  for_each_strided<3>(shape, {as.data(), bs.data(), os.data()}, [&](auto off, int64_t n, auto inc) {
    const uint16_t* pa = bits_of(a) + off[0];
    const uint16_t* pb = bits_of(b) + off[1];
    bf16* po = out + off[2];
    const int64_t ia = inc[0], ib = inc[1];
    float t[kRun];
    for (int64_t c = 0; c < n; c += kRun) {
      const int64_t len = std::min(kRun, n - c);
      if (ia == 1 && ib == 1) {
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) t[i] = f(bf16_to_f32(pa[c + i]), bf16_to_f32(pb[c + i]));
      } else if (ib == 0) {
        const float v = bf16_to_f32(pb[0]);
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) t[i] = f(bf16_to_f32(pa[(c + i) * ia]), v);
      } else if (ia == 0) {
        const float u = bf16_to_f32(pa[0]);
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) t[i] = f(u, bf16_to_f32(pb[(c + i) * ib]));
      } else {
        for (int64_t i = 0; i < len; ++i) t[i] = f(bf16_to_f32(pa[(c + i) * ia]), bf16_to_f32(pb[(c + i) * ib]));
      }
      narrow(t, po + c, len);
    }
  });
}
}  // namespace

// out is contiguous; a and b strided (stride 0 where broadcast).
template <>
void binary<bf16>(Binary op, const bf16* a, const Dims& as, const bf16* b, const Dims& bs, bf16* out, const Dims& shape) {
#define SG_BF16_BINARY(ID, NAME, EXPR) \
  case Binary::ID:                      \
    return binary_map(a, as, b, bs, out, shape, [](float u, float v) { return (EXPR); });
  switch (op) { SG_BINARY_OPS(SG_BF16_BINARY) }
#undef SG_BF16_BINARY
}

// y = gelu(x + b), fused as above; b widened once per block of rows.
template <>
void bias_gelu_forward<bf16>(const bf16* x, const bf16* b, bf16* y, int64_t rows, int64_t D) {
  for_blocks(rows, rows_per_block(D), [&](int64_t r0, int64_t r1) {
    float* bf = scratch(D);
    widen(b, bf, D);
    float t[kRun];
    for (int64_t r = r0; r < r1; ++r) {
      const uint16_t* xr = bits_of(x) + r * D;
      for (int64_t c = 0; c < D; c += kRun) {
        const int64_t len = std::min(kRun, D - c);
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) t[i] = ew_gelu(bf16_to_f32(xr[c + i]) + bf[c + i]);
        narrow(t, y + r * D + c, len);
      }
    }
  });
}

// gx = gy * gelu'(x + b); gx may be gy (each run is read before it is written); gb (unless null) by sum_dim.
template <>
void bias_gelu_backward<bf16>(const bf16* x, const bf16* b, const bf16* gy, bf16* gx, bf16* gb, int64_t rows,
                              int64_t D) {
  for_blocks(rows, rows_per_block(D), [&](int64_t r0, int64_t r1) {
    float* bf = scratch(D);
    widen(b, bf, D);
    float t[kRun];
    for (int64_t r = r0; r < r1; ++r) {
      const uint16_t* xr = bits_of(x) + r * D;
      const uint16_t* gr = bits_of(gy) + r * D;
      for (int64_t c = 0; c < D; c += kRun) {
        const int64_t len = std::min(kRun, D - c);
#pragma omp simd
        for (int64_t i = 0; i < len; ++i)
          t[i] = bf16_to_f32(gr[c + i]) * ew_gelu_grad(bf16_to_f32(xr[c + i]) + bf[c + i]);
        narrow(t, gx + r * D + c, len);
      }
    }
  });
  if (gb != nullptr) sum_dim(gx, gb, 1, rows, D);
}

// [outer, r, inner] ops that reduce over r: blocks of whole outer slices.
template <>
void max_dim<bf16>(const bf16* x, bf16* y, int64_t* argmax, int64_t outer, int64_t r, int64_t inner) {
  const int64_t slice = r * inner, per = rows_per_block(slice);
  for_blocks(outer, per, [&](int64_t o0, int64_t o1) {
    float* xf = scratch(per * slice + per * inner);
    float* yf = xf + per * slice;
    widen(x + o0 * slice, xf, (o1 - o0) * slice);
    max_dim<float>(xf, yf, argmax + o0 * inner, o1 - o0, r, inner);
    narrow(yf, y + o0 * inner, (o1 - o0) * inner);
  });
}

template <>
void max_dim_backward<bf16>(const bf16* gy, const int64_t* argmax, bf16* gx, int64_t outer, int64_t r, int64_t inner) {
  const int64_t slice = r * inner, per = rows_per_block(slice);
  for_blocks(outer, per, [&](int64_t o0, int64_t o1) {
    float* gyf = scratch(per * inner + per * slice);
    float* gxf = gyf + per * inner;
    widen(gy + o0 * inner, gyf, (o1 - o0) * inner);
    max_dim_backward<float>(gyf, argmax + o0 * inner, gxf, o1 - o0, r, inner);
    narrow(gxf, gx + o0 * slice, (o1 - o0) * slice);
  });
}

template <>
void softmax_forward<bf16>(const bf16* x, bf16* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t slice = r * inner, per = rows_per_block(slice);
  for_blocks(outer, per, [&](int64_t o0, int64_t o1) {
    const int64_t n = (o1 - o0) * slice;
    float* xf = scratch(2 * per * slice);
    float* yf = xf + per * slice;
    widen(x + o0 * slice, xf, n);
    softmax_forward<float>(xf, yf, o1 - o0, r, inner, log);
    narrow(yf, y + o0 * slice, n);
  });
}

template <>
void softmax_backward<bf16>(const bf16* y, const bf16* gy, bf16* gx, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t slice = r * inner, per = rows_per_block(slice);
  for_blocks(outer, per, [&](int64_t o0, int64_t o1) {
    const int64_t n = (o1 - o0) * slice;
    float* yf = scratch(3 * per * slice);
    float *gyf = yf + per * slice, *gxf = gyf + per * slice;
    widen(y + o0 * slice, yf, n);
    widen(gy + o0 * slice, gyf, n);
    softmax_backward<float>(yf, gyf, gxf, o1 - o0, r, inner, log);
    narrow(gxf, gx + o0 * slice, n);
  });
}

template <>
void layer_norm_forward<bf16>(const bf16* x, const bf16* w, const bf16* b, bf16* y, float* mean, float* rstd,
                              int64_t rows, int64_t D, double eps) {
  const int64_t per = rows_per_block(D);
  for_blocks(rows, per, [&](int64_t r0, int64_t r1) {
    const int64_t n = (r1 - r0) * D;
    float* wf = scratch(2 * D + 2 * per * D);
    float *bf = wf + D, *xf = bf + D, *yf = xf + per * D;
    widen(w, wf, D);
    widen(b, bf, D);
    widen(x + r0 * D, xf, n);
    layer_norm_forward<float>(xf, wf, bf, yf, mean + r0, rstd + r0, r1 - r0, D, eps);
    narrow(yf, y + r0 * D, n);
  });
}

// gw and gb sum over all rows: each block's f32 sums are kept, then added in block order in f64 and rounded
// once (the same blocks on any thread count: the same result).
template <>
void layer_norm_backward<bf16>(const bf16* x, const bf16* w, const float* mean, const float* rstd, const bf16* gy,
                               bf16* gx, bf16* gw, bf16* gb, int64_t rows, int64_t D) {
  // Larger blocks than elsewhere: the f32 kernel sums gw and gb over up to 32 row chunks per call.
  const int64_t per = std::max<int64_t>(rows_per_block(D), std::min<int64_t>(rows, 256));
  const int64_t blocks = (rows + per - 1) / per;
  thread_local std::vector<float> partial;  // [blocks, 2, D]: gw, gb of each block
  partial.resize(static_cast<size_t>(blocks * 2 * D));
  float* part = partial.data();
  for_blocks(rows, per, [&](int64_t r0, int64_t r1) {
    const int64_t n = (r1 - r0) * D;
    float* wf = scratch(D + 3 * per * D);
    float *xf = wf + D, *gyf = xf + per * D, *gxf = gyf + per * D;
    widen(w, wf, D);
    widen(x + r0 * D, xf, n);
    widen(gy + r0 * D, gyf, n);
    float* pw = part + (r0 / per) * 2 * D;
    layer_norm_backward<float>(xf, wf, mean + r0, rstd + r0, gyf, gxf, pw, pw + D, r1 - r0, D);
    narrow(gxf, gx + r0 * D, n);
  });
  for (int64_t i = 0; i < D; ++i) {
    double sw = 0, sb = 0;
    for (int64_t k = 0; k < blocks; ++k) sw += part[k * 2 * D + i], sb += part[k * 2 * D + D + i];
    gw[i] = bf16(static_cast<float>(sw));
    gb[i] = bf16(static_cast<float>(sb));
  }
}

template <>
void gather_rows<bf16>(const bf16* src, const int64_t* idx, bf16* out, int64_t n, int64_t D) {
  for (int64_t i = 0; i < n; ++i) std::copy(src + idx[i] * D, src + idx[i] * D + D, out + i * D);
}

// Sums in f32, rounded once per output row (the CUDA kernel does the same). Rows go to their index in order, so
// the whole of gout is widened first (an embedding gradient: small).
template <>
void scatter_add_rows<bf16>(const bf16* gout, const int64_t* idx, bf16* gsrc, int64_t n, int64_t D, int64_t V) {
  float* gf = scratch(n * D + V * D);
  float* sf = gf + n * D;
  widen(gout, gf, n * D);
  scatter_add_rows<float>(gf, idx, sf, n, D, V);
  narrow(sf, gsrc, V * D);
}

}  // namespace sg::cpu
