// test_bf16.cpp: the CPU's bf16 kernels at the level of raw buffers.
//   gemm<bf16> (oneDNN's bf16 matmul where the CPU has bf16 dot products) against f64 products of the same bf16
//   values, transposes, odd sizes, padded leading dims, alpha and beta;
//   the blocked kernels of cpu/bf16.cpp against the whole buffer widened, run through the f32 kernel and rounded,
//   at sizes that span many blocks with a partial one at the end;
//   --precision bf16 on a CPU without bf16 dot products (ONEDNN_MAX_CPU_ISA=AVX512_CORE hides them): one line
//   says so, and the run is the f32 run; `bench embed --precision bf16` says so and measures f32.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/elementwise_ops.h"
#include "cpu/kernels.h"
#include "nn/fileio.h"
#include "tests/siglip_run.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

using Dims = std::vector<int64_t>;

std::vector<bf16> random_bf16(int64_t n, uint64_t seed, double lo = -2, double hi = 2) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<bf16> v(static_cast<size_t>(n));
  for (auto& x : v) x = bf16(u(g));
  return v;
}
std::vector<float> wide(const std::vector<bf16>& v) { return std::vector<float>(v.begin(), v.end()); }
std::vector<bf16> rounded(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16(v[i]);
  return out;
}

// The number of elements whose bits differ.
int64_t bit_differences(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  REQUIRE(a.size() == b.size());
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i].bits != b[i].bits;
  return n;
}

// ---- gemm ----

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K, pad_a, pad_b, pad_c;  // leading dim = width + pad
  float alpha, beta;
};

// Largest |C - ref| / (2^-8 |ref| + 2^-16 sum_k |alpha a b| + |beta c|) over C: below 1 when every element is the
// f64 result rounded to bf16 (half an ulp is 2^-9 relative) with f32 summation error on top. The pad columns of C
// must be untouched.
double gemm_error(const GemmCase& c) {
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K, b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad_a, ldb = b_cols + c.pad_b, ldc = c.N + c.pad_c;
  const std::vector<bf16> A = random_bf16(a_rows * lda, 1), B = random_bf16(b_rows * ldb, 2);
  std::vector<bf16> C = random_bf16(c.M * ldc, 3);
  const std::vector<bf16> C0 = C;
  cpu::gemm<bf16>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[k * lda + i] : A[i * lda + k], b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
        ref += a * b;
        mag += std::abs(a * b);
      }
      const double c0 = c.beta == 0 ? 0.0 : static_cast<double>(C0[i * ldc + j]);
      ref = c.alpha * ref + c.beta * c0;
      mag = std::abs(c.alpha) * mag + std::abs(c.beta * c0);
      const double err = std::abs(static_cast<double>(C[i * ldc + j]) - ref);
      worst = std::max(worst, err / (std::ldexp(std::abs(ref), -8) + std::ldexp(mag, -16) + 1e-30));
    }
    for (int64_t j = c.N; j < ldc; ++j) CHECK(C[i * ldc + j].bits == C0[i * ldc + j].bits);
  }
  return worst;
}

}  // namespace

TEST_CASE("bf16: gemm<bf16> is the f64 product rounded to bf16 (transposes, odd sizes, padded leading dims)") {
  const std::string path = cpu::cpu_has_bf16() ? "yes (oneDNN bf16 matmul)" : "no (widened to f32 sgemm)";
  MESSAGE("CPU bf16 dot products: ", path);
  std::vector<GemmCase> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      cases.push_back({ta, tb, 7, 5, 3, 0, 0, 0, 1, 0});
      cases.push_back({ta, tb, 7, 5, 3, 3, 5, 2, 1, 0});
      cases.push_back({ta, tb, 65, 33, 300, 1, 7, 4, 1, 0});
      cases.push_back({ta, tb, 129, 200, 48, 0, 0, 0, 0.5f, 0});
      cases.push_back({ta, tb, 31, 17, 2000, 2, 3, 1, 1, 1});
      cases.push_back({ta, tb, 40, 24, 64, 0, 0, 8, -2, 0.25f});
      cases.push_back({ta, tb, 1, 1, 1, 0, 0, 0, 1, 0});
    }
  for (const GemmCase& c : cases) {
    INFO("ta ", c.ta, " tb ", c.tb, " (M, N, K) = (", c.M, ", ", c.N, ", ", c.K, "), pads ", c.pad_a, " ", c.pad_b, " ",
         c.pad_c, ", alpha ", c.alpha, ", beta ", c.beta);
    CHECK(gemm_error(c) < 1.0);
  }
  // The same call twice (the second primitive from oneDNN's cache): the same bits.
  const std::vector<bf16> A = random_bf16(50 * 70, 4), B = random_bf16(70 * 30, 5);
  std::vector<bf16> C1(50 * 30), C2(50 * 30);
  cpu::gemm<bf16>(false, false, 50, 30, 70, 1, A.data(), 70, B.data(), 30, 0, C1.data(), 30);
  cpu::gemm<bf16>(false, false, 50, 30, 70, 1, A.data(), 70, B.data(), 30, 0, C2.data(), 30);
  CHECK(bit_differences(C1, C2) == 0);
  // K = 0: no products, C = beta C.
  std::vector<bf16> C = random_bf16(6, 6), Cz = C;
  cpu::gemm<bf16>(false, false, 2, 3, 0, 1, A.data(), 1, B.data(), 3, 0.5f, C.data(), 3);
  for (size_t i = 0; i < C.size(); ++i) CHECK(static_cast<float>(C[i]) == 0.5f * static_cast<float>(Cz[i]));
}

// Each kernel against "widen the whole buffers, run the f32 kernel once, round": the blocks must add up to it.
// Elementwise and row-wise outputs are the same f32 arithmetic on the same values, so the same bits; sums over
// rows that cross blocks (layer norm's gw, gb) are added in another order: within 2^-7 relative plus f32 noise.
TEST_CASE("bf16: the blocked CPU kernels equal the whole-buffer f32 kernel, rounded once") {
  const int64_t rows = 1000, D = 192, n = rows * D;  // 192000 elements: 11 blocks of 16384 and a partial one
  const std::vector<bf16> x = random_bf16(n, 10), y = random_bf16(n, 11, 0.1, 2), gy = random_bf16(n, 12);
  const std::vector<bf16> w = random_bf16(D, 13), b = random_bf16(D, 14);
  const std::vector<float> xf = wide(x), yf = wide(y), gyf = wide(gy), wf = wide(w), bfv = wide(b);

  SUBCASE("unary, unary_backward") {
    for (Unary op : {Unary::Gelu, Unary::Exp, Unary::Tanh, Unary::Sqrt}) {
      INFO("unary op ", static_cast<int>(op));
      const std::vector<bf16>& in = op == Unary::Sqrt ? y : x;
      std::vector<bf16> got(n);
      std::vector<float> ref(n);
      cpu::unary<bf16>(op, in.data(), got.data(), n, 0);
      cpu::unary<float>(op, wide(in).data(), ref.data(), n, 0);
      CHECK(bit_differences(got, rounded(ref)) == 0);
      cpu::unary_backward<bf16>(op, in.data(), y.data(), gy.data(), got.data(), n, 0);
      cpu::unary_backward<float>(op, wide(in).data(), yf.data(), gyf.data(), ref.data(), n, 0);
      CHECK(bit_differences(got, rounded(ref)) == 0);
    }
  }
  SUBCASE("rounding: subnormal, infinite and NaN results round as bf16(float)") {
    std::vector<bf16> in = x;
    for (int64_t i = 0; i < n; i += 97) in[i] = bf16(i % 2 ? INFINITY : NAN);
    for (double scale : {1e-39, 3e-41, 1e30}) {  // subnormal floats, deeper ones, overflow to infinity
      INFO("scale ", scale);
      std::vector<bf16> got(n);
      std::vector<float> ref(n);
      cpu::unary<bf16>(Unary::MulScalar, in.data(), got.data(), n, scale);
      cpu::unary<float>(Unary::MulScalar, wide(in).data(), ref.data(), n, scale);
      CHECK(bit_differences(got, rounded(ref)) == 0);
      const Dims shape{n}, unit{1};
      const std::vector<bf16> s{bf16(static_cast<float>(scale))};
      cpu::binary<bf16>(Binary::Mul, in.data(), unit, s.data(), Dims{0}, got.data(), shape);
      cpu::binary<float>(Binary::Mul, wide(in).data(), unit, wide(s).data(), Dims{0}, ref.data(), shape);
      CHECK(bit_differences(got, rounded(ref)) == 0);
    }
  }
  SUBCASE("binary: contiguous, broadcast rows and columns, a transposed operand") {
    struct Case {
      Dims shape, as, bs;
    };
    const Case cases[] = {
        {{rows, D}, {D, 1}, {D, 1}},         // same shape
        {{rows, D}, {D, 1}, {0, 1}},         // + bias [D]
        {{rows, D}, {D, 1}, {1, 0}},         // * per-row scale [rows, 1]
        {{D, rows}, {1, D}, {0, 1}},         // a read transposed, b a row [rows]
        {{10, 100, D}, {100 * D, D, 1}, {D, 0, 1}},  // b [10, 1, D] broadcast over the middle dim
        {{n}, {1}, {0}},                     // one flat run, a scalar b
    };
    for (const Case& c : cases) {
      for (Binary op : {Binary::Add, Binary::Mul, Binary::Div}) {
        INFO("shape ", c.shape.size(), "-d, op ", static_cast<int>(op));
        int64_t numel = 1;
        for (int64_t s : c.shape) numel *= s;
        std::vector<bf16> got(numel);
        std::vector<float> ref(numel);
        cpu::binary<bf16>(op, x.data(), c.as, y.data(), c.bs, got.data(), c.shape);
        cpu::binary<float>(op, xf.data(), c.as, yf.data(), c.bs, ref.data(), c.shape);
        CHECK(bit_differences(got, rounded(ref)) == 0);
      }
    }
  }
  SUBCASE("bias_gelu forward and backward") {
    for (int64_t d : {D, int64_t{768}, int64_t{7}}) {
      INFO("D ", d);
      const int64_t r = n / d;
      const std::vector<bf16> bias = random_bf16(d, 15);
      std::vector<bf16> got(r * d);
      std::vector<float> ref(r * d);
      cpu::bias_gelu_forward<bf16>(x.data(), bias.data(), got.data(), r, d);
      cpu::bias_gelu_forward<float>(xf.data(), wide(bias).data(), ref.data(), r, d);
      CHECK(bit_differences(got, rounded(ref)) == 0);
      cpu::bias_gelu_backward<bf16>(x.data(), bias.data(), gy.data(), got.data(), nullptr, r, d);
      cpu::bias_gelu_backward<float>(xf.data(), wide(bias).data(), gyf.data(), ref.data(), nullptr, r, d);
      CHECK(bit_differences(got, rounded(ref)) == 0);
    }
  }
  SUBCASE("layer_norm forward and backward") {
    std::vector<bf16> got(n), gw(D), gb(D);
    std::vector<float> ref(n), mean(rows), rstd(rows), mean_ref(rows), rstd_ref(rows), gw_ref(D), gb_ref(D);
    cpu::layer_norm_forward<bf16>(x.data(), w.data(), b.data(), got.data(), mean.data(), rstd.data(), rows, D, 1e-6);
    cpu::layer_norm_forward<float>(xf.data(), wf.data(), bfv.data(), ref.data(), mean_ref.data(), rstd_ref.data(), rows,
                                   D, 1e-6);
    CHECK(bit_differences(got, rounded(ref)) == 0);
    CHECK(mean == mean_ref);
    CHECK(rstd == rstd_ref);
    cpu::layer_norm_backward<bf16>(x.data(), w.data(), mean.data(), rstd.data(), gy.data(), got.data(), gw.data(),
                                   gb.data(), rows, D);
    cpu::layer_norm_backward<float>(xf.data(), wf.data(), mean.data(), rstd.data(), gyf.data(), ref.data(),
                                    gw_ref.data(), gb_ref.data(), rows, D);
    CHECK(bit_differences(got, rounded(ref)) == 0);
    for (int64_t i = 0; i < D; ++i) {
      double mag_w = 0, mag_b = 0;
      for (int64_t r = 0; r < rows; ++r) {
        mag_w += std::abs(gyf[r * D + i] * (xf[r * D + i] - mean[r]) * rstd[r]);
        mag_b += std::abs(gyf[r * D + i]);
      }
      INFO("column ", i, ": gw ", static_cast<float>(gw[i]), " vs ", gw_ref[i], ", gb ", static_cast<float>(gb[i]),
           " vs ", gb_ref[i]);
      CHECK(std::abs(gw[i] - gw_ref[i]) <= std::ldexp(std::abs(gw_ref[i]), -7) + 1e-6 * mag_w);
      CHECK(std::abs(gb[i] - gb_ref[i]) <= std::ldexp(std::abs(gb_ref[i]), -7) + 1e-6 * mag_b);
    }
  }
  SUBCASE("sum_dim, max_dim, softmax over rows and over a strided middle dim") {
    struct Shape3 {
      int64_t outer, r, inner;
    };
    for (Shape3 s : {Shape3{1, rows, D}, Shape3{rows, D, 1}, Shape3{100, 64, 30}, Shape3{1, n, 1}}) {
      INFO("[", s.outer, ", ", s.r, ", ", s.inner, "]");
      const int64_t out_n = s.outer * s.inner;
      std::vector<bf16> got(out_n), full(n);
      std::vector<float> ref(out_n), full_ref(n);
      cpu::sum_dim<bf16>(x.data(), got.data(), s.outer, s.r, s.inner);
      cpu::sum_dim<float>(xf.data(), ref.data(), s.outer, s.r, s.inner);
      CHECK(bit_differences(got, rounded(ref)) == 0);
      std::vector<int64_t> arg(out_n), arg_ref(out_n);
      cpu::max_dim<bf16>(x.data(), got.data(), arg.data(), s.outer, s.r, s.inner);
      cpu::max_dim<float>(xf.data(), ref.data(), arg_ref.data(), s.outer, s.r, s.inner);
      CHECK(bit_differences(got, rounded(ref)) == 0);
      CHECK(arg == arg_ref);
      const std::vector<bf16> g_out(gy.begin(), gy.begin() + out_n);
      cpu::max_dim_backward<bf16>(g_out.data(), arg.data(), full.data(), s.outer, s.r, s.inner);
      cpu::max_dim_backward<float>(wide(g_out).data(), arg.data(), full_ref.data(), s.outer, s.r, s.inner);
      CHECK(bit_differences(full, rounded(full_ref)) == 0);
      for (bool log : {false, true}) {
        cpu::softmax_forward<bf16>(x.data(), full.data(), s.outer, s.r, s.inner, log);
        cpu::softmax_forward<float>(xf.data(), full_ref.data(), s.outer, s.r, s.inner, log);
        CHECK(bit_differences(full, rounded(full_ref)) == 0);
        const std::vector<bf16> sm = full;
        cpu::softmax_backward<bf16>(sm.data(), gy.data(), full.data(), s.outer, s.r, s.inner, log);
        cpu::softmax_backward<float>(wide(sm).data(), gyf.data(), full_ref.data(), s.outer, s.r, s.inner, log);
        CHECK(bit_differences(full, rounded(full_ref)) == 0);
      }
    }
  }
  SUBCASE("scatter_add_rows") {
    const int64_t V = 37, rows_in = 500;
    std::vector<int64_t> idx(rows_in);
    for (int64_t i = 0; i < rows_in; ++i) idx[i] = (i * 7) % V;
    std::vector<bf16> got(V * D);
    std::vector<float> ref(V * D);
    cpu::scatter_add_rows<bf16>(x.data(), idx.data(), got.data(), rows_in, D, V);
    cpu::scatter_add_rows<float>(xf.data(), idx.data(), ref.data(), rows_in, D, V);
    CHECK(bit_differences(got, rounded(ref)) == 0);
  }
}

// ---- attention ----

// The attention of cpu/attention_bf16.cpp in f64, with its bf16 rounding points: P and gS rounded to bf16 before
// the products that read them, each output rounded once. Heads through the layout's strides; mask as MaskView.
struct AttentionRef {
  std::vector<float> o, lse, gq, gk, gv;  // unrounded; the kernel rounds each to bf16
};
AttentionRef attention_reference(const std::vector<bf16>& q, const std::vector<bf16>& k, const std::vector<bf16>& v,
                                 const std::vector<bf16>* mask, const MaskView& mv, const std::vector<bf16>& go,
                                 const std::vector<float>& lse_used, const cpu::AttentionLayout& L, int64_t BH,
                                 int64_t N, int64_t M, int64_t Dh, double scale, const std::vector<bf16>& o_used) {
  AttentionRef r{std::vector<float>(o_used.size()), std::vector<float>(BH * N), std::vector<float>(q.size()),
                 std::vector<float>(k.size()), std::vector<float>(v.size())};
  auto at = [&](const cpu::HeadStrides& st, int64_t bh, int64_t i, int64_t c) {
    return (bh / L.H) * st.sb + (bh % L.H) * st.sh + i * st.sn + c;
  };
  auto round_bf16 = [](double x) { return static_cast<double>(static_cast<float>(bf16(static_cast<float>(x)))); };
  for (int64_t bh = 0; bh < BH; ++bh) {
    std::vector<double> S(N * M), P(N * M), Pb(N * M), gSb(N * M);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < M; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < Dh; ++c) dot += double(q[at(L.q, bh, i, c)]) * double(k[at(L.k, bh, j, c)]);
        S[i * M + j] = scale * dot;
        if (mask) S[i * M + j] += double((*mask)[(bh / mv.H) * mv.sb + (bh % mv.H) * mv.sh + i * mv.si + j * mv.sj]);
      }
    for (int64_t i = 0; i < N; ++i) {  // forward: softmax, lse, o = bf16(P) v
      double mx = S[i * M];
      for (int64_t j = 1; j < M; ++j) mx = std::max(mx, S[i * M + j]);
      double sum = 0;
      for (int64_t j = 0; j < M; ++j) sum += std::exp(S[i * M + j] - mx);
      r.lse[bh * N + i] = static_cast<float>(mx + std::log(sum));
      for (int64_t c = 0; c < Dh; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < M; ++j) acc += round_bf16(std::exp(S[i * M + j] - mx) / sum) * double(v[at(L.v, bh, j, c)]);
        r.o[at(L.o, bh, i, c)] = static_cast<float>(acc);
      }
    }
    for (int64_t i = 0; i < N; ++i) {  // backward from the kernel's lse and o
      double d = 0;
      for (int64_t c = 0; c < Dh; ++c) d += double(go[at(L.go, bh, i, c)]) * double(o_used[at(L.o, bh, i, c)]);
      for (int64_t j = 0; j < M; ++j) {
        P[i * M + j] = std::exp(S[i * M + j] - lse_used[bh * N + i]);
        Pb[i * M + j] = round_bf16(P[i * M + j]);
        double gP = 0;
        for (int64_t c = 0; c < Dh; ++c) gP += double(go[at(L.go, bh, i, c)]) * double(v[at(L.v, bh, j, c)]);
        gSb[i * M + j] = round_bf16(P[i * M + j] * (gP - d));
      }
    }
    for (int64_t c = 0; c < Dh; ++c) {
      for (int64_t j = 0; j < M; ++j) {
        double gv = 0, gk = 0;
        for (int64_t i = 0; i < N; ++i) {
          gv += Pb[i * M + j] * double(go[at(L.go, bh, i, c)]);
          gk += gSb[i * M + j] * double(q[at(L.q, bh, i, c)]);
        }
        r.gv[at(L.gv, bh, j, c)] = static_cast<float>(gv);
        r.gk[at(L.gk, bh, j, c)] = static_cast<float>(scale * gk);
      }
      for (int64_t i = 0; i < N; ++i) {
        double gq = 0;
        for (int64_t j = 0; j < M; ++j) gq += gSb[i * M + j] * double(k[at(L.k, bh, j, c)]);
        r.gq[at(L.gq, bh, i, c)] = static_cast<float>(scale * gq);
      }
    }
  }
  return r;
}

// Largest |got - ref| / (2^-7 |ref| + 2^-7 max|ref|): at most 1 when every element is within one bf16 rounding of
// its own value plus a 2^-7 share of the largest (a P or gS element rounded the other way shifts a sum by about
// that); a wrong product is off by the size of the values, far above 1.
double attention_error(const std::vector<bf16>& got, const std::vector<float>& ref) {
  REQUIRE(got.size() == ref.size());
  double mag = 0, worst = 0;
  for (float r : ref) mag = std::max(mag, std::abs(double(r)));
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - ref[i]) / (std::ldexp(std::abs(double(ref[i])), -7) + std::ldexp(mag, -7)));
  return worst;
}

// With bf16 dot products the kernel rounds P and gS to bf16 (cuda/attention_tc.cu's points); without, it widens each
// head to f32 and runs the f32 kernel, so its outputs are the f32 kernel's rounded once, bit for bit.
void check_attention(const cpu::AttentionLayout& L, int64_t B, int64_t N, int64_t M, int64_t Dh, bool masked,
                     uint64_t seed) {
  const int64_t BH = B * L.H, nq = B * N * L.H * Dh, nk = B * M * L.H * Dh;
  const std::vector<bf16> q = random_bf16(nq, seed), k = random_bf16(nk, seed + 1), v = random_bf16(nk, seed + 2),
                          go = random_bf16(nq, seed + 3), mask = random_bf16(B * N * M, seed + 4);
  const double scale = 0.25;
  MaskView mv, mv_ref;
  const std::vector<float> mask_f = wide(mask);
  if (masked) {  // [B, 1, N, M], broadcast over heads
    mv = MaskView{mask.data(), L.H, N * M, 0, M, 1};
    mv_ref = MaskView{mask_f.data(), L.H, N * M, 0, M, 1};
  }
  std::vector<bf16> o(nq), gq(nq), gk(nk), gv(nk);
  std::vector<float> lse(BH * N);
  cpu::attention_forward_strided<bf16>(q.data(), k.data(), v.data(), mv, o.data(), lse.data(), L, BH, N, M, Dh, scale);
  cpu::attention_backward_strided<bf16>(q.data(), k.data(), v.data(), mv, o.data(), lse.data(), go.data(), gq.data(),
                                        gk.data(), gv.data(), L, BH, N, M, Dh, scale);
  if (cpu::cpu_has_bf16()) {
    const AttentionRef r = attention_reference(q, k, v, masked ? &mask : nullptr, mv, go, lse, L, BH, N, M, Dh, scale, o);
    CHECK(attention_error(o, r.o) <= 1.0);
    double lse_err = 0;
    for (size_t i = 0; i < lse.size(); ++i) lse_err = std::max(lse_err, std::abs(double(lse[i]) - r.lse[i]));
    CHECK(lse_err <= 1e-5);
    CHECK(attention_error(gq, r.gq) <= 1.0);
    CHECK(attention_error(gk, r.gk) <= 1.0);
    CHECK(attention_error(gv, r.gv) <= 1.0);
  } else {
    std::vector<float> o_ref(nq), gq_ref(nq), gk_ref(nk), gv_ref(nk), lse_ref(BH * N);
    const std::vector<float> qf = wide(q), kf = wide(k), vf = wide(v), gof = wide(go);
    cpu::attention_forward_strided<float>(qf.data(), kf.data(), vf.data(), mv_ref, o_ref.data(), lse_ref.data(), L, BH,
                                          N, M, Dh, scale);
    CHECK(bit_differences(o, rounded(o_ref)) == 0);
    CHECK(lse == lse_ref);
    cpu::attention_backward_strided<float>(qf.data(), kf.data(), vf.data(), mv_ref, wide(o).data(), lse.data(),
                                           gof.data(), gq_ref.data(), gk_ref.data(), gv_ref.data(), L, BH, N, M, Dh,
                                           scale);
    CHECK(bit_differences(gq, rounded(gq_ref)) == 0);
    CHECK(bit_differences(gk, rounded(gk_ref)) == 0);
    CHECK(bit_differences(gv, rounded(gv_ref)) == 0);
  }
}

TEST_CASE("bf16: attention rounds P and gS to bf16 where the CPU has bf16 dot products (f64 reference), packed and strided") {
  const int64_t B = 3, H = 4, N = 20, M = 24, Dh = 16;
  SUBCASE("packed [B, H, rows, Dh], with and without a mask broadcast over heads") {
    const cpu::HeadStrides sq{H * N * Dh, N * Dh, Dh}, sk{H * M * Dh, M * Dh, Dh};
    const cpu::AttentionLayout L{H, sq, sk, sk, sq, sq, sq, sk, sk};
    for (bool masked : {false, true}) {
      INFO("mask ", masked);
      check_attention(L, B, N, M, Dh, masked, masked ? 30 : 20);
    }
  }
  SUBCASE("strided heads: q, k, v views of [B, rows, H * Dh], outputs [B, rows, H, Dh]") {
    const cpu::HeadStrides sq{N * H * Dh, Dh, H * Dh}, sk{M * H * Dh, Dh, H * Dh};
    check_attention(cpu::AttentionLayout{H, sq, sk, sk, sq, sq, sq, sk, sk}, B, N, M, Dh, true, 40);
  }
  SUBCASE("the tiny config's head size: 3 heads of 64 rows by 64") {
    const int64_t Ht = 3, Nt = 64, Dt = 64;
    const cpu::HeadStrides s{Ht * Nt * Dt, Nt * Dt, Dt};
    check_attention(cpu::AttentionLayout{Ht, s, s, s, s, s, s, s, s}, 2, Nt, Nt, Dt, false, 50);
  }
}

TEST_CASE("bf16: copies between f32 and bf16 convert as bf16(float) and float(bf16), contiguous and strided") {
  const int64_t rows = 300, cols = 250, n = rows * cols;
  std::mt19937_64 g(30);
  std::normal_distribution<float> normal;
  std::vector<float> f(n);
  for (int64_t i = 0; i < n; ++i) f[i] = normal(g) * (i % 3 == 0 ? 1e-39f : i % 3 == 1 ? 1.0f : 1e38f);
  for (int64_t i = 0; i < n; i += 101) f[i] = i % 2 ? -INFINITY : NAN;
  for (bool transposed : {false, true}) {
    INFO("transposed ", transposed);
    const Dims shape = transposed ? Dims{cols, rows} : Dims{rows, cols};
    const Dims strides = transposed ? Dims{1, cols} : Dims{cols, 1};
    std::vector<bf16> h(n);
    cpu::copy_strided(f.data(), DType::F32, shape, strides, h.data(), DType::BF16);
    std::vector<bf16> want(n);
    for (int64_t i = 0; i < shape[0]; ++i)
      for (int64_t j = 0; j < shape[1]; ++j) want[i * shape[1] + j] = bf16(f[i * strides[0] + j * strides[1]]);
    CHECK(bit_differences(h, want) == 0);
    std::vector<float> back(n);
    cpu::copy_strided(want.data(), DType::BF16, shape, strides, back.data(), DType::F32);
    int64_t wrong = 0;
    for (int64_t i = 0; i < shape[0]; ++i)
      for (int64_t j = 0; j < shape[1]; ++j) {
        const float w = static_cast<float>(want[i * strides[0] + j * strides[1]]);
        wrong += std::memcmp(&back[i * shape[1] + j], &w, 4) != 0;
      }
    CHECK(wrong == 0);
  }
}

TEST_CASE("bf16: --precision bf16 on a CPU without bf16 dot products says so and runs in f32 (train, bench embed)") {
  const std::string dir = temp_dir("bf16_fallback");
  fs::remove_all(dir);
  const std::string args = "train --data shapes:64:16 --config micro --steps 2 --batch 8 --no-eval --threads 1 --out ";
  // oneDNN reads ONEDNN_MAX_CPU_ISA once, at start-up: AVX512_CORE is below the bf16 instructions.
  const std::string no_bf16 = "ONEDNN_MAX_CPU_ISA=AVX512_CORE ";
  const SiglipRun f32 = run_shell(no_bf16 + siglip_binary() + " " + args + dir + "/f32");
  const SiglipRun fallback = run_shell(no_bf16 + siglip_binary() + " " + args + dir + "/fallback --precision bf16");
  REQUIRE_MESSAGE(f32.status == 0, f32.output);
  REQUIRE_MESSAGE(fallback.status == 0, fallback.output);
  const std::string line =
      "precision: this CPU has no bf16 dot products (AVX512_BF16 or AMX): train --precision bf16 runs in f32";
  CHECK_MESSAGE(fallback.output.find(line) != std::string::npos, fallback.output);
  // bench embed takes the same decision (siglip/cpu_precision.h) and reports the precision it ran.
  const SiglipRun embed = run_shell(no_bf16 + siglip_binary() +
                                    " bench embed --config micro --images 8 --batch 4 --warmup 0 --threads 1 --precision bf16");
  REQUIRE_MESSAGE(embed.status == 0, embed.output);
  CHECK_MESSAGE(embed.output.find("precision: this CPU has no bf16 dot products (AVX512_BF16 or AMX): bench embed "
                                  "--precision bf16 runs in f32") != std::string::npos, embed.output);
  CHECK_MESSAGE(embed.output.find("\"precision\":\"f32\"") != std::string::npos, embed.output);
  CHECK(f32.output.find(line) == std::string::npos);
  CHECK(read_file(dir + "/fallback/step-000002/trainer_state.json").find("\"precision\": \"f32\"") != std::string::npos);
  const std::vector<double> a = metric_losses(dir + "/f32/metrics.jsonl"), b = metric_losses(dir + "/fallback/metrics.jsonl");
  REQUIRE(a.size() == 2);
  CHECK(a == b);  // the same f32 run, bit for bit
  if (cpu::cpu_has_bf16()) {
    // Where the CPU has them, bf16 runs: no fallback line, other losses (bf16 rounding).
    const SiglipRun bf = run_siglip(args + dir + "/bf16 --precision bf16");
    REQUIRE_MESSAGE(bf.status == 0, bf.output);
    CHECK(bf.output.find(line) == std::string::npos);
    CHECK(metric_losses(dir + "/bf16/metrics.jsonl") != a);
    // Where bf16 GEMMs are clearly slower than f32 ones (AVX512_BF16 without AMX on a Sapphire Rapids-class
    // Xeon), the run says so; where clearly faster, it does not. Near 1 the two timings may fall either side.
    const double speedup = cpu::bf16_gemm_speedup();
    const bool noted = bf.output.find("precision: on this CPU a bf16 GEMM runs at") != std::string::npos;
    INFO("bf16 GEMM speedup measured here: " << speedup);
    if (speedup < 0.8) CHECK_MESSAGE(noted, bf.output);
    if (speedup > 1.25) CHECK_MESSAGE(!noted, bf.output);
  } else {
    MESSAGE("this CPU has no bf16 dot products: the bf16 half of the test is not run");
  }
  fs::remove_all(dir);
}
