// kernel_check.cpp: every sg::cuda kernel against its sg::cpu twin on random data, plus determinism,
// error paths and a few timings. Not part of the build; cuda/check/build.sh makes a self-contained binary
// (no oneDNN/OpenBLAS: the CPU reference GEMM here is a plain loop) that runs on a machine with a GPU:
//   cuda/check/build.sh /tmp/kc && /tmp/kc/kernel_check [--quick]
// Exit status 0 when every check passes. Without a GPU it checks that available() says so and stops.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "cuda/backend.h"
#include "cuda/kernels.h"
#include "base/error.h"

// ---------------------------------------------------------------- CPU GEMM reference (replaces cpu/gemm.cpp)
namespace sg::cpu {
template <typename T>
static void naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                       const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(ta ? A[k * lda + i] : A[i * lda + k]) * static_cast<double>(tb ? B[j * ldb + k] : B[k * ldb + j]);
      T& c = C[i * ldc + j];
      c = static_cast<T>(alpha * static_cast<T>(acc) + (beta == T(0) ? T(0) : beta * c));
    }
}
template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  naive_gemm<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  naive_gemm<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
const char* gemm_backend() { return "naive"; }
void set_gemm_backend(const char*) {}
}  // namespace sg::cpu

using namespace sg;
using Dims = std::vector<int64_t>;

namespace {

int g_fail = 0, g_pass = 0;
bool g_quick = false;
std::string g_only;  // --only NAME: run one family (copy, elementwise, reduce, norm, gemm, misc, attention)
bool want(const char* fam) { return g_only.empty() || g_only == fam; }
std::mt19937_64 rng(12345);

void report(bool ok, const std::string& what, double err = 0) {
  if (ok) {
    ++g_pass;
  } else {
    ++g_fail;
    std::printf("FAIL %s (err %.3g)\n", what.c_str(), err);
  }
}

template <typename T>
std::vector<T> randv(size_t n, double lo = -2, double hi = 2) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

// Device buffer.
struct Dev {
  void* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t bytes) : n(bytes) { p = cuda::device_malloc(bytes ? bytes : 1); }
  template <typename T>
  explicit Dev(const std::vector<T>& v) : Dev(v.size() * sizeof(T)) {
    cuda::memcpy_h2d(p, v.data(), v.size() * sizeof(T));
  }
  ~Dev() { cuda::device_free(p); }
  Dev(const Dev&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
  template <typename T>
  std::vector<T> get(size_t count) const {
    std::vector<T> v(count);
    cuda::memcpy_d2h(v.data(), p, count * sizeof(T));
    return v;
  }
};

// max |a - b| / max(max |b|, 1e-30), NaN-aware (NaN in the same places is equal).
template <typename T>
double rel_err(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return INFINITY;
  double mx = 0, e = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return INFINITY;
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return INFINITY;
      continue;
    }
    mx = std::max(mx, std::fabs(y));
    e = std::max(e, std::fabs(x - y));
  }
  return e / std::max(mx, 1e-30);
}
template <typename T>
bool bit_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <typename T>
double tol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}
template <typename T>
const char* tname() {
  return std::is_same_v<T, float> ? "f32" : "f64";
}

int64_t numel(const Dims& s) {
  int64_t n = 1;
  for (auto x : s) n *= x;
  return n;
}

// ---------------------------------------------------------------- copy

template <typename S>
std::vector<S> rand_typed(size_t n) {
  if constexpr (std::is_same_v<S, int64_t>) {
    std::uniform_int_distribution<int64_t> u(-(int64_t{1} << 60), int64_t{1} << 60);
    std::vector<S> v(n);
    for (auto& x : v) x = (rng() % 3 == 0) ? u(rng) : static_cast<int64_t>(rng() % 2001) - 1000;
    return v;
  } else if constexpr (std::is_same_v<S, uint16_t>) {
    std::vector<S> v(n);
    for (auto& x : v) x = f32_to_bf16(static_cast<float>(std::uniform_real_distribution<double>(-100, 100)(rng)));
    return v;
  } else {
    auto v = randv<S>(n, -1e3, 1e3);
    return v;
  }
}

size_t dsize(DType t) { return dtype_size(t); }

void check_copy() {
  const DType types[] = {DType::F32, DType::F64, DType::I64, DType::BF16};
  struct Case {
    Dims shape, strides;
    int64_t span;
  };
  // a transposed [5, 7, 3] view, a broadcast, an offset-free slice with a gap, a 1-element, a contiguous one
  std::vector<Case> cases = {{{5, 7, 3}, {1, 15, 5}, 105},
                             {{4, 6, 9}, {0, 9, 1}, 54},
                             {{3, 4, 5}, {40, 10, 2}, 120},
                             {{1, 1, 1}, {1, 1, 1}, 1},
                             {{1000, 33}, {33, 1}, 33000},
                             {{2, 3, 2, 3, 2, 3, 2, 3, 2}, {1296 * 2, 432 * 2, 216 * 2, 72 * 2, 36 * 2, 12 * 2, 6 * 2, 2 * 2, 1 * 2}, 5184 * 2}};
  for (DType st : types)
    for (DType dt : types)
      for (const auto& c : cases) {
        const int64_t n = numel(c.shape);
        std::vector<unsigned char> src(static_cast<size_t>(c.span) * dsize(st));
        // random contents of the source type
        switch (st) {
          case DType::F32: { auto v = rand_typed<float>(c.span); std::memcpy(src.data(), v.data(), src.size()); break; }
          case DType::F64: { auto v = rand_typed<double>(c.span); std::memcpy(src.data(), v.data(), src.size()); break; }
          case DType::I64: { auto v = rand_typed<int64_t>(c.span); std::memcpy(src.data(), v.data(), src.size()); break; }
          case DType::BF16: { auto v = rand_typed<uint16_t>(c.span); std::memcpy(src.data(), v.data(), src.size()); break; }
        }
        std::vector<unsigned char> ref(static_cast<size_t>(n) * dsize(dt));
        cpu::copy_strided(src.data(), st, c.shape, c.strides, ref.data(), dt);
        Dev ds(src), dd(ref.size());
        cuda::copy_strided(ds.p, st, c.shape, c.strides, dd.p, dt);
        auto got = dd.get<unsigned char>(ref.size());
        report(bit_equal(got, ref), fmt::format("copy_strided {}->{} shape {}", dtype_name(st), dtype_name(dt), shape_str(c.shape)));
      }
  // copy_into_strided: contiguous source into a transposed destination
  for (DType t : types) {
    Dims shape{6, 4, 5}, dst_strides{1, 30, 6};
    const int64_t n = 120;
    std::vector<unsigned char> src(static_cast<size_t>(n) * dsize(t));
    for (auto& b : src) b = static_cast<unsigned char>(rng());
    std::vector<unsigned char> ref(src.size(), 0);
    cpu::copy_into_strided(src.data(), ref.data(), t, shape, dst_strides);
    Dev ds(src), dd(std::vector<unsigned char>(src.size(), 0));
    cuda::copy_into_strided(ds.p, dd.p, t, shape, dst_strides);
    report(bit_equal(dd.get<unsigned char>(src.size()), ref), fmt::format("copy_into_strided {}", dtype_name(t)));
  }
  for (DType t : types) {
    const int64_t n = 100003;
    std::vector<unsigned char> ref(static_cast<size_t>(n) * dsize(t));
    cpu::fill(ref.data(), t, n, -3.25);
    Dev dd(ref.size());
    cuda::fill(dd.p, t, n, -3.25);
    report(bit_equal(dd.get<unsigned char>(ref.size()), ref), fmt::format("fill {}", dtype_name(t)));
  }
  // a 9-dim shape that cannot be merged must throw, not crash
  try {
    Dims shape(9, 2), strides(9);
    for (int d = 0; d < 9; ++d) strides[static_cast<size_t>(d)] = int64_t{1} << (2 * (8 - d));  // gaps everywhere
    Dev ds(size_t{1} << 20), dd(size_t{512} * 4);
    cuda::copy_strided(ds.p, DType::F32, shape, strides, dd.p, DType::F32);
    report(false, "copy_strided 9 unmergeable dims should throw");
  } catch (const Error& e) {
    report(std::string(e.what()).find("at most 8") != std::string::npos, fmt::format("9-dim error message: {}", e.what()));
  }
}

// ---------------------------------------------------------------- elementwise

template <typename T>
void check_elementwise() {
  const int64_t n = 100001;
  for (Unary op : kUnaryOps) {  // every row of base/elementwise_ops.h
    const bool pos = op == Unary::Log || op == Unary::Sqrt || op == Unary::Rsqrt || op == Unary::Pow;
    auto x = pos ? randv<T>(n, 0.05, 5) : randv<T>(n, -30, 30);
    if (!pos) x[0] = T(0), x[1] = T(-80), x[2] = T(80);
    const double param = op == Unary::Pow ? 2.5 : 0.75;
    std::vector<T> y(n), gy = randv<T>(n), gx(n);
    cpu::unary<T>(op, x.data(), y.data(), n, param);
    cpu::unary_backward<T>(op, x.data(), y.data(), gy.data(), gx.data(), n, param);
    Dev dx(x), dy(n * sizeof(T)), dgy(gy), dgx(n * sizeof(T));
    cuda::unary<T>(op, dx.as<T>(), dy.as<T>(), n, param);
    cuda::unary_backward<T>(op, dx.as<T>(), dy.as<T>(), dgy.as<T>(), dgx.as<T>(), n, param);
    double e1 = rel_err(dy.get<T>(n), y), e2 = rel_err(dgx.get<T>(n), gx);
    // Exp spans many magnitudes: compare each element relative to itself too (not for ops whose result
    // cancels, like gelu at large negative x, where one ulp of tanh is a large relative error)
    auto gy1 = dy.get<T>(n);
    double emax = 0;
    const bool per_elem = op == Unary::Exp || op == Unary::Log || op == Unary::Sqrt || op == Unary::Rsqrt || op == Unary::Pow;
    for (int64_t i = 0; i < n && per_elem; ++i) {
      double a = gy1[i], b = y[i];
      if (std::isfinite(b)) emax = std::max(emax, std::fabs(a - b) / std::max(std::fabs(b), 1e-6));
    }
    const double t = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    report(e1 <= t && emax <= 100 * t, fmt::format("unary {} op {}", tname<T>(), unary_name(op)), std::max(e1, emax));
    report(e2 <= t, fmt::format("unary_backward {} op {}", tname<T>(), unary_name(op)), e2);
  }
  struct Case {
    Dims shape, as, bs;
    int64_t na, nb;
  };
  std::vector<Case> cases = {
      {{64, 1000}, {1000, 1}, {1000, 1}, 64000, 64000},  // plain
      {{64, 1000}, {1000, 1}, {0, 1}, 64000, 1000},      // bias row
      {{4, 3, 5}, {5, 0, 1}, {0, 5, 1}, 20, 15},         // two-sided broadcast
      {{7, 9}, {1, 7}, {9, 1}, 63, 63},                  // transposed a
      {{1}, {1}, {0}, 1, 1}};
  for (const auto& c : cases)
    for (Binary op : kBinaryOps) {
      auto a = randv<T>(c.na), b = randv<T>(c.nb, 0.5, 3);
      const int64_t n = numel(c.shape);
      std::vector<T> ref(n);
      cpu::binary<T>(op, a.data(), c.as, b.data(), c.bs, ref.data(), c.shape);
      Dev da(a), db(b), dout(n * sizeof(T));
      cuda::binary<T>(op, da.as<T>(), c.as, db.as<T>(), c.bs, dout.as<T>(), c.shape);
      report(bit_equal(dout.get<T>(n), ref), fmt::format("binary {} op {} shape {}", tname<T>(), binary_name(op), shape_str(c.shape)));
    }
}

// ---------------------------------------------------------------- reduce, softmax

struct ORI {
  int64_t outer, r, inner;
};
std::vector<ORI> reduce_shapes() {
  std::vector<ORI> s = {{1, 1, 1}, {3, 1, 5}, {1000, 77, 1}, {10, 3000, 1}, {7, 33, 45}, {2, 5, 1000}, {65, 1024, 1},
                        {5, 1025, 1}, {1, 200000, 1}, {300, 2, 3}};
  if (!g_quick) s.push_back({70000, 3, 1}), s.push_back({70000, 2, 3});  // outer past grid.y's 65535
  return s;
}

template <typename T>
void check_reduce() {
  for (auto s : reduce_shapes()) {
    const int64_t n = s.outer * s.r * s.inner, no = s.outer * s.inner;
    auto x = randv<T>(n);
    // ties: make some rows have repeated maxima
    for (int64_t i = 0; i < n; i += 7) x[i] = T(1.5);
    std::vector<T> ys(no), ym(no);
    std::vector<int64_t> am(no);
    cpu::sum_dim<T>(x.data(), ys.data(), s.outer, s.r, s.inner);
    cpu::max_dim<T>(x.data(), ym.data(), am.data(), s.outer, s.r, s.inner);
    Dev dx(x), dys(no * sizeof(T)), dym(no * sizeof(T)), dam(no * sizeof(int64_t));
    cuda::sum_dim<T>(dx.as<T>(), dys.as<T>(), s.outer, s.r, s.inner);
    cuda::max_dim<T>(dx.as<T>(), dym.as<T>(), dam.as<int64_t>(), s.outer, s.r, s.inner);
    const std::string sh = fmt::format("{} [{}, {}, {}]", tname<T>(), s.outer, s.r, s.inner);
    double e = rel_err(dys.get<T>(no), ys);
    report(e <= tol<T>(), "sum_dim " + sh, e);
    report(bit_equal(dym.get<T>(no), ym) && bit_equal(dam.get<int64_t>(no), am), "max_dim " + sh);
    auto gy = randv<T>(no);
    std::vector<T> gx(n);
    cpu::max_dim_backward<T>(gy.data(), am.data(), gx.data(), s.outer, s.r, s.inner);
    Dev dgy(gy), dgx(n * sizeof(T));
    cuda::max_dim_backward<T>(dgy.as<T>(), dam.as<int64_t>(), dgx.as<T>(), s.outer, s.r, s.inner);
    report(bit_equal(dgx.get<T>(n), gx), "max_dim_backward " + sh);
    for (bool lg : {false, true}) {
      std::vector<T> y(n), g = randv<T>(n), gxs(n);
      cpu::softmax_forward<T>(x.data(), y.data(), s.outer, s.r, s.inner, lg);
      cpu::softmax_backward<T>(y.data(), g.data(), gxs.data(), s.outer, s.r, s.inner, lg);
      Dev dy(n * sizeof(T)), dg(g), dgxs(n * sizeof(T));
      cuda::softmax_forward<T>(dx.as<T>(), dy.as<T>(), s.outer, s.r, s.inner, lg);
      cuda::softmax_backward<T>(dy.as<T>(), dg.as<T>(), dgxs.as<T>(), s.outer, s.r, s.inner, lg);
      double e1 = rel_err(dy.get<T>(n), y), e2 = rel_err(dgxs.get<T>(n), gxs);
      report(e1 <= 10 * tol<T>(), fmt::format("softmax_forward log={} {}", lg, sh), e1);
      report(e2 <= 10 * tol<T>(), fmt::format("softmax_backward log={} {}", lg, sh), e2);
    }
  }
  // max with NaN first, NaN later, all -inf
  {
    std::vector<T> x = {T(NAN), T(1), T(2), T(1), T(NAN), T(2), -T(INFINITY), -T(INFINITY), -T(INFINITY)};
    std::vector<T> y(3);
    std::vector<int64_t> a(3);
    cpu::max_dim<T>(x.data(), y.data(), a.data(), 3, 3, 1);
    Dev dx(x), dy(3 * sizeof(T)), da(3 * sizeof(int64_t));
    cuda::max_dim<T>(dx.as<T>(), dy.as<T>(), da.as<int64_t>(), 3, 3, 1);
    auto gy = dy.get<T>(3);
    auto ga = da.get<int64_t>(3);
    bool ok = ga == a && std::isnan(gy[0]) && gy[1] == y[1] && gy[2] == y[2];
    report(ok, fmt::format("max_dim NaN/-inf semantics {} (gpu args {} {} {}, cpu {} {} {})", tname<T>(), ga[0], ga[1],
                           ga[2], a[0], a[1], a[2]));
  }
}

// ---------------------------------------------------------------- layer norm

template <typename T>
void check_norm() {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 5}, {1000, 768}, {5000, 33}, {7, 4097}, {600, 1152}};
  for (auto [rows, D] : shapes) {
    const int64_t n = rows * D;
    auto x = randv<T>(n, -3, 5), w = randv<T>(D), b = randv<T>(D), gy = randv<T>(n);
    std::vector<T> y(n), mean(rows), rstd(rows), gx(n), gw(D), gb(D);
    cpu::layer_norm_forward<T>(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, D, 1e-6);
    cpu::layer_norm_backward<T>(x.data(), w.data(), mean.data(), rstd.data(), gy.data(), gx.data(), gw.data(), gb.data(), rows, D);
    Dev dx(x), dw(w), db(b), dy(n * sizeof(T)), dm(rows * sizeof(T)), dr(rows * sizeof(T)), dgy(gy), dgx(n * sizeof(T)),
        dgw(D * sizeof(T)), dgb(D * sizeof(T));
    cuda::layer_norm_forward<T>(dx.as<T>(), dw.as<T>(), db.as<T>(), dy.as<T>(), dm.as<T>(), dr.as<T>(), rows, D, 1e-6);
    cuda::layer_norm_backward<T>(dx.as<T>(), dw.as<T>(), dm.as<T>(), dr.as<T>(), dgy.as<T>(), dgx.as<T>(), dgw.as<T>(),
                                 dgb.as<T>(), rows, D);
    const std::string sh = fmt::format("{} [{}, {}]", tname<T>(), rows, D);
    double e;
    e = rel_err(dy.get<T>(n), y); report(e <= 10 * tol<T>(), "layer_norm y " + sh, e);
    e = rel_err(dm.get<T>(rows), mean); report(e <= 10 * tol<T>(), "layer_norm mean " + sh, e);
    e = rel_err(dr.get<T>(rows), rstd); report(e <= 10 * tol<T>(), "layer_norm rstd " + sh, e);
    e = rel_err(dgx.get<T>(n), gx); report(e <= 10 * tol<T>(), "layer_norm gx " + sh, e);
    e = rel_err(dgw.get<T>(D), gw); report(e <= 10 * tol<T>(), "layer_norm gw " + sh, e);
    e = rel_err(dgb.get<T>(D), gb); report(e <= 10 * tol<T>(), "layer_norm gb " + sh, e);
    // determinism: a second run gives the same bits
    auto gw1 = dgw.get<T>(D);
    cuda::layer_norm_backward<T>(dx.as<T>(), dw.as<T>(), dm.as<T>(), dr.as<T>(), dgy.as<T>(), dgx.as<T>(), dgw.as<T>(),
                                 dgb.as<T>(), rows, D);
    report(bit_equal(gw1, dgw.get<T>(D)), "layer_norm gw deterministic " + sh);
  }
}

// ---------------------------------------------------------------- gemm

template <typename T>
void check_gemm() {
  struct Case {
    int64_t M, N, K;
  };
  std::vector<Case> cases = {{1, 1, 1}, {3, 5, 7}, {64, 48, 32}, {1, 100, 37}, {100, 1, 37}, {129, 65, 300}, {5, 6, 0}};
  for (auto c : cases)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        // stored shapes with padded leading dims
        const int64_t ar = ta ? c.K : c.M, ac = ta ? c.M : c.K, br = tb ? c.N : c.K, bc = tb ? c.K : c.N;
        const int64_t lda = ac + 3, ldb = bc + 2, ldc = c.N + 1;
        auto A = randv<T>(static_cast<size_t>(std::max<int64_t>(ar * lda, 1))), B = randv<T>(static_cast<size_t>(std::max<int64_t>(br * ldb, 1)));
        auto C = randv<T>(static_cast<size_t>(c.M * ldc));
        auto ref = C;
        const T alpha = T(0.75), beta = T(0.5);
        cpu::gemm<T>(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, ref.data(), ldc);
        Dev dA(A), dB(B), dC(C);
        cuda::gemm<T>(ta, tb, c.M, c.N, c.K, alpha, dA.as<T>(), lda, dB.as<T>(), ldb, beta, dC.as<T>(), ldc);
        double e = rel_err(dC.get<T>(C.size()), ref);
        report(e <= 10 * tol<T>(), fmt::format("gemm {} ta={} tb={} M={} N={} K={}", tname<T>(), ta, tb, c.M, c.N, c.K), e);
      }
  // tight leading dims with a single row (ld smaller than the row: allowed when rows == 1)
  {
    auto A = randv<T>(8), B = randv<T>(8 * 3), C = randv<T>(3);
    auto ref = C;
    cpu::gemm<T>(false, false, 1, 3, 8, T(1), A.data(), 8, B.data(), 3, T(0), ref.data(), 3);
    Dev dA(A), dB(B), dC(C);
    cuda::gemm<T>(false, false, 1, 3, 8, T(1), dA.as<T>(), 8, dB.as<T>(), 3, T(0), dC.as<T>(), 1);
    double e = rel_err(dC.get<T>(3), ref);
    report(e <= 10 * tol<T>(), fmt::format("gemm {} single row, ldc < N", tname<T>()), e);
  }
}

// ---------------------------------------------------------------- attention

template <typename T>
void check_attention() {
  struct Case {
    int64_t B, H, N, M, Dh;
    int mask;  // 0 none, 1 key padding [B,1,1,M] with -inf, 2 full [B,H,N,M] random, 3 [N,M] broadcast
  };
  std::vector<Case> cases = {{1, 1, 1, 1, 1, 0},   {2, 3, 5, 7, 8, 0},     {1, 2, 64, 64, 64, 0},
                             {2, 2, 65, 63, 32, 1}, {1, 3, 17, 130, 33, 2}, {2, 2, 100, 37, 72, 3},
                             {1, 2, 129, 129, 96, 1}, {1, 1, 70, 90, 128, 2}, {3, 4, 197, 197, 64, 0},
                             {1, 1, 1, 300, 100, 1},  {1, 1, 300, 3, 16, 0}, {2, 1, 40, 1, 16, 1}};
  if (!g_quick) cases.push_back({70000, 1, 2, 3, 4, 1});  // B*H past grid.y's 65535: launched in chunks
  for (auto c : cases) {
    const int64_t BH = c.B * c.H, N = c.N, M = c.M, Dh = c.Dh;
    auto q = randv<T>(BH * N * Dh), k = randv<T>(BH * M * Dh), v = randv<T>(BH * M * Dh), go = randv<T>(BH * N * Dh);
    std::vector<T> maskv;
    MaskView mv;
    if (c.mask == 1) {
      maskv.assign(static_cast<size_t>(c.B * M), T(0));
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t j = M / 2 + 1; j < M; ++j) maskv[b * M + j] = -T(INFINITY);
      mv = MaskView{nullptr, c.H, M, 0, 0, 1};
    } else if (c.mask == 2) {
      maskv = randv<T>(BH * N * M, -3, 3);
      mv = MaskView{nullptr, c.H, c.H * N * M, N * M, M, 1};
    } else if (c.mask == 3) {
      maskv = randv<T>(N * M, -3, 3);
      mv = MaskView{nullptr, c.H, 0, 0, M, 1};
    }
    MaskView mv_cpu = mv, mv_gpu = mv;
    mv_cpu.data = c.mask ? maskv.data() : nullptr;
    Dev dmask(c.mask ? maskv : std::vector<T>(1));
    mv_gpu.data = c.mask ? dmask.p : nullptr;
    const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
    std::vector<T> o(BH * N * Dh), lse(BH * N), gq(q.size()), gk(k.size()), gv(v.size());
    cpu::attention_forward<T>(q.data(), k.data(), v.data(), mv_cpu, o.data(), lse.data(), BH, N, M, Dh, scale);
    cpu::attention_backward<T>(q.data(), k.data(), v.data(), mv_cpu, o.data(), lse.data(), go.data(), gq.data(),
                               gk.data(), gv.data(), BH, N, M, Dh, scale);
    Dev dq(q), dk(k), dv(v), dgo(go), dO(o.size() * sizeof(T)), dl(lse.size() * sizeof(T)), dgq(q.size() * sizeof(T)),
        dgk(k.size() * sizeof(T)), dgv(v.size() * sizeof(T));
    cuda::attention_forward<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), mv_gpu, dO.as<T>(), dl.as<T>(), BH, N, M, Dh, scale);
    cuda::attention_backward<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), mv_gpu, dO.as<T>(), dl.as<T>(), dgo.as<T>(),
                                dgq.as<T>(), dgk.as<T>(), dgv.as<T>(), BH, N, M, Dh, scale);
    const std::string sh = fmt::format("{} B={} H={} N={} M={} Dh={} mask={}", tname<T>(), c.B, c.H, N, M, Dh, c.mask);
    const double t = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    double e;
    e = rel_err(dO.get<T>(o.size()), o); report(e <= t, "attention o " + sh, e);
    e = rel_err(dl.get<T>(lse.size()), lse); report(e <= t, "attention lse " + sh, e);
    if (M > 1) {  // with one key P = 1 and gq = gk = 0 up to rounding noise: nothing to compare
      e = rel_err(dgq.get<T>(gq.size()), gq); report(e <= t, "attention gq " + sh, e);
      e = rel_err(dgk.get<T>(gk.size()), gk); report(e <= t, "attention gk " + sh, e);
    } else {
      double mx = 0;
      for (T x : dgq.get<T>(gq.size())) mx = std::max(mx, std::fabs(static_cast<double>(x)));
      for (T x : dgk.get<T>(gk.size())) mx = std::max(mx, std::fabs(static_cast<double>(x)));
      report(mx <= 1e3 * t, "attention gq, gk ~ 0 with one key " + sh, mx);
    }
    e = rel_err(dgv.get<T>(gv.size()), gv); report(e <= t, "attention gv " + sh, e);
  }
}

// ---------------------------------------------------------------- conv, index, optim

template <typename T>
void check_misc() {
  {
    const int64_t B = 2, C = 3, H = 32, W = 48, P = 16, Np = (H / P) * (W / P), K = C * P * P;
    auto x = randv<T>(B * C * H * W);
    std::vector<T> cols(B * Np * K), xb(x.size(), T(0));
    cpu::im2col_patches<T>(x.data(), cols.data(), B, C, H, W, P);
    cpu::col2im_patches<T>(cols.data(), xb.data(), B, C, H, W, P);
    Dev dx(x), dc(cols.size() * sizeof(T)), dxb(std::vector<T>(x.size(), T(0)));
    cuda::im2col_patches<T>(dx.as<T>(), dc.as<T>(), B, C, H, W, P);
    cuda::col2im_patches<T>(dc.as<T>(), dxb.as<T>(), B, C, H, W, P);
    report(bit_equal(dc.get<T>(cols.size()), cols), fmt::format("im2col {}", tname<T>()));
    report(bit_equal(dxb.get<T>(x.size()), xb) && bit_equal(xb, x), fmt::format("col2im {}", tname<T>()));
  }
  {
    const int64_t V = 1000, D = 300, n = g_quick ? 20000 : 70000;  // n past grid.y's 65535
    auto src = randv<T>(V * D), gout = randv<T>(n * D);
    std::vector<int64_t> idx(n);
    for (auto& i : idx) i = (rng() % 4 == 0) ? 7 : static_cast<int64_t>(rng() % V);  // a hot row
    std::vector<T> out(n * D), gsrc(V * D);
    cpu::gather_rows<T>(src.data(), idx.data(), out.data(), n, D);
    cpu::scatter_add_rows<T>(gout.data(), idx.data(), gsrc.data(), n, D, V);
    Dev ds(src), di(idx), dout(out.size() * sizeof(T)), dg(gout), dgs(gsrc.size() * sizeof(T));
    cuda::gather_rows<T>(ds.as<T>(), di.as<int64_t>(), dout.as<T>(), n, D);
    cuda::scatter_add_rows<T>(dg.as<T>(), di.as<int64_t>(), dgs.as<T>(), n, D, V);
    report(bit_equal(dout.get<T>(out.size()), out), fmt::format("gather_rows {}", tname<T>()));
    report(bit_equal(dgs.get<T>(gsrc.size()), gsrc), fmt::format("scatter_add_rows {} (bitwise)", tname<T>()));
    // n = 0: zeros
    cuda::scatter_add_rows<T>(dg.as<T>(), di.as<int64_t>(), dgs.as<T>(), 0, D, V);
    report(bit_equal(dgs.get<T>(gsrc.size()), std::vector<T>(gsrc.size(), T(0))), "scatter_add_rows n=0");
  }
  {
    const int64_t n = 100003;
    auto p = randv<T>(n), g = randv<T>(n), m = randv<T>(n, -0.1, 0.1), v = randv<T>(n, 0, 0.1);
    Dev dp(p), dg(g), dm(m), dv(v);
    cpu::adamw_step<T>(p.data(), g.data(), m.data(), v.data(), n, 1e-3, 0.9, 0.999, 1e-8, 0.1, 0.1, 0.001);
    cuda::adamw_step<T>(dp.as<T>(), dg.as<T>(), dm.as<T>(), dv.as<T>(), n, 1e-3, 0.9, 0.999, 1e-8, 0.1, 0.1, 0.001);
    double e = std::max({rel_err(dp.get<T>(n), p), rel_err(dm.get<T>(n), m), rel_err(dv.get<T>(n), v)});
    report(e <= tol<T>(), fmt::format("adamw_step {}", tname<T>()), e);
  }
}

// ---------------------------------------------------------------- timings

double time_ms(const std::function<void()>& f, int reps) {
  f();
  cuda::synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  cuda::synchronize();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
}

void timings() {
  struct Case {
    int64_t B, H, N, Dh;
  };
  for (auto c : {Case{64, 12, 197, 64}, Case{64, 16, 729, 72}, Case{256, 12, 64, 64}}) {
    const int64_t BH = c.B * c.H, N = c.N, Dh = c.Dh;
    const size_t e = static_cast<size_t>(BH * N * Dh);
    Dev q(randv<float>(e)), k(randv<float>(e)), v(randv<float>(e)), go(randv<float>(e)), o(e * 4), lse(BH * N * 4),
        gq(e * 4), gk(e * 4), gv(e * 4);
    MaskView mv;
    const double sc = 1.0 / std::sqrt(static_cast<double>(Dh));
    double tf = time_ms([&] { cuda::attention_forward<float>(q.as<float>(), k.as<float>(), v.as<float>(), mv, o.as<float>(), lse.as<float>(), BH, N, N, Dh, sc); }, 5);
    double tb = time_ms([&] { cuda::attention_backward<float>(q.as<float>(), k.as<float>(), v.as<float>(), mv, o.as<float>(), lse.as<float>(), go.as<float>(), gq.as<float>(), gk.as<float>(), gv.as<float>(), BH, N, N, Dh, sc); }, 5);
    const double flop_f = 4.0 * BH * N * N * Dh;
    std::printf("time attention f32 B=%ld H=%ld N=%ld Dh=%ld: fwd %.3f ms (%.1f TFLOP/s), bwd %.3f ms (%.1f TFLOP/s at 2.5x fwd flops)\n",
                c.B, c.H, N, Dh, tf, flop_f / tf * 1e-9, tb, 2.5 * flop_f / tb * 1e-9);
  }
  {
    const int64_t M = 64 * 197, N = 768, K = 768;
    Dev A(randv<float>(M * K)), B(randv<float>(N * K)), C(M * N * 4);
    double t = time_ms([&] { cuda::gemm<float>(false, true, M, N, K, 1.f, A.as<float>(), K, B.as<float>(), K, 0.f, C.as<float>(), N); }, 10);
    std::printf("time gemm f32 %ldx%ldx%ld: %.3f ms (%.1f TFLOP/s)\n", M, N, K, t, 2.0 * M * N * K / t * 1e-9);
  }
  {
    const int64_t rows = 64 * 197, D = 768;
    Dev x(randv<float>(rows * D)), w(randv<float>(D)), b(randv<float>(D)), y(rows * D * 4), m(rows * 4), r(rows * 4),
        gy(randv<float>(rows * D)), gx(rows * D * 4), gw(D * 4), gb(D * 4);
    double tf = time_ms([&] { cuda::layer_norm_forward<float>(x.as<float>(), w.as<float>(), b.as<float>(), y.as<float>(), m.as<float>(), r.as<float>(), rows, D, 1e-6); }, 10);
    double tb = time_ms([&] { cuda::layer_norm_backward<float>(x.as<float>(), w.as<float>(), m.as<float>(), r.as<float>(), gy.as<float>(), gx.as<float>(), gw.as<float>(), gb.as<float>(), rows, D); }, 10);
    std::printf("time layer_norm f32 [%ld, %ld]: fwd %.3f ms, bwd %.3f ms\n", rows, D, tf, tb);
  }
  {
    const int64_t n = 256 * 64, D = 768, V = 32000;
    std::vector<int64_t> idx(n);
    for (auto& i : idx) i = (rng() % 2) ? 0 : static_cast<int64_t>(rng() % V);  // half padding
    Dev g(randv<float>(n * D)), di(idx), gs(V * D * 4);
    double t = time_ms([&] { cuda::scatter_add_rows<float>(g.as<float>(), di.as<int64_t>(), gs.as<float>(), n, D, V); }, 5);
    std::printf("time scatter_add_rows f32 n=%ld D=%ld V=%ld (half one row): %.3f ms\n", n, D, V, t);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--quick") g_quick = true;
    else if (std::string(argv[i]) == "--only" && i + 1 < argc) g_only = argv[++i];
  const bool avail = cuda::available();
  std::printf("cuda::available() = %d\n", avail);
  if (!avail) {
    std::printf("no GPU: only the available() check ran\n");
    return 0;
  }
  std::printf("device: %s\n", cuda::device_name().c_str());
  try {
    // OOM message
    try {
      void* p = cuda::device_malloc(size_t{1} << 50);
      cuda::device_free(p);
      report(false, "device_malloc of 1 PiB should throw");
    } catch (const Error& e) {
      std::printf("OOM message: %s\n", e.what());
      report(std::string(e.what()).find("bytes free") != std::string::npos, "OOM message names free bytes");
    }
    // a failed call (bad pointer: a non-sticky error) must not be reported again by the next launch
    try {
      float host[4];
      cuda::memcpy_d2h(host, reinterpret_cast<void*>(0x10), sizeof host);
      report(false, "memcpy_d2h from a bad pointer should throw");
    } catch (const Error& e) {
      std::printf("bad-pointer message: %s\n", e.what());
      try {
        Dev d(std::vector<float>(8, 1.f));
        cuda::fill(d.p, DType::F32, 8, 2.0);
        report(d.get<float>(8) == std::vector<float>(8, 2.f), "a launch after a failed copy works");
      } catch (const Error& e2) {
        report(false, fmt::format("a launch after a failed copy threw: {}", e2.what()));
      }
    }
    if (want("copy")) check_copy();
    if (want("elementwise")) check_elementwise<float>(), check_elementwise<double>();
    if (want("reduce")) check_reduce<float>(), check_reduce<double>();
    if (want("norm")) check_norm<float>(), check_norm<double>();
    if (want("gemm")) check_gemm<float>(), check_gemm<double>();
    if (want("misc")) check_misc<float>(), check_misc<double>();
    if (want("attention")) check_attention<float>(), check_attention<double>();
    std::printf("checks done (%d pass, %d fail)\n", g_pass, g_fail);
    std::fflush(stdout);
    cuda::synchronize();
    if (!g_quick && g_only.empty()) timings();
  } catch (const std::exception& e) {
    std::printf("EXCEPTION: %s\n", e.what());
    return 2;
  }
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
