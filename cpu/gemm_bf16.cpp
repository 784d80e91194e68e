// gemm_bf16.cpp: C = alpha op(A) op(B) + beta C on bf16 buffers, and whether this CPU computes in bf16.
// With bf16 dot products (AVX512_BF16 or AMX, as oneDNN reports them) the GEMM is oneDNN's bf16 matmul
// primitive on the buffers as they are: transposes and leading dims become memory strides, products are summed
// in f32, alpha is the output scale and beta C a sum post-op, and the f32 result is rounded to bf16 once when
// stored (the rounding of the CUDA path, cuBLAS with bf16 in and f32 compute). Without them the operands are
// widened to f32 for sgemm and the result rounded once: the same arithmetic, slowly.
// The primitive is described anew on every call: oneDNN's primitive cache returns the one built for the same
// shapes, strides and attributes, and the lookup cost 1.5 us per call on top of 10 us for a 64^3 product (a map
// of our own saved nothing measurable; `siglip bench ops` times matmul() against the primitive called directly).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/onednn.h"
#include "base/error.h"

namespace sg::cpu {

bool cpu_has_bf16() {
  static const bool has = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;  // the ISA values are bit sets, each containing the ones below it
  }();
  return has;
}

dnnl::engine& onednn_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

namespace {

using dt = dnnl::memory::data_type;

struct GemmArgs {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
};

// A: [M, K] (stored [K, M] when ta), B: [K, N] (stored [N, K] when tb), C: [M, N], row-major with leading dims.
// False, computing nothing, when oneDNN has only its reference implementation for these strides (loops about a
// thousand times slower than the JIT kernels: 0.2 GFLOP/s measured for a column-major C).
bool onednn_gemm(const GemmArgs& k, const bf16* A, const bf16* B, bf16* C) {
  using dims = dnnl::memory::dims;
  const dnnl::memory::desc a({k.M, k.K}, dt::bf16, k.ta ? dims{1, k.lda} : dims{k.lda, 1});
  const dnnl::memory::desc b({k.K, k.N}, dt::bf16, k.tb ? dims{1, k.ldb} : dims{k.ldb, 1});
  const dnnl::memory::desc c({k.M, k.N}, dt::bf16, dims{k.ldc, 1});
  dnnl::primitive_attr attr;
  if (k.alpha != 1.0f) attr.set_output_scales(0, {k.alpha});
  if (k.beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(k.beta);
    attr.set_post_ops(po);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, onednn_engine());
  if (std::strncmp(pd.impl_info_str(), "ref", 3) == 0) return false;
  const dnnl::matmul mm(pd);
  thread_local dnnl::stream stream(onednn_engine());
  dnnl::memory am(a, onednn_engine(), const_cast<bf16*>(A)), bm(b, onednn_engine(), const_cast<bf16*>(B)),
      cm(c, onednn_engine(), C);
  mm.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  stream.wait();
  return true;
}

// The same product through f32 sgemm: operands widened, C widened where beta reads it, rounded once.
void widened_gemm(const GemmArgs& k, const bf16* A, const bf16* B, bf16* C) {
  const int64_t a_rows = k.ta ? k.K : k.M, a_cols = k.ta ? k.M : k.K;
  const int64_t b_rows = k.tb ? k.N : k.K, b_cols = k.tb ? k.K : k.N;
  auto widen = [](const bf16* p, int64_t n) { return std::vector<float>(p, p + n); };
  const std::vector<float> af = widen(A, (a_rows - 1) * k.lda + a_cols), bf = widen(B, (b_rows - 1) * k.ldb + b_cols);
  std::vector<float> cf(static_cast<size_t>(k.M * k.N), 0.0f);
  if (k.beta != 0.0f)
    for (int64_t i = 0; i < k.M; ++i)
      for (int64_t j = 0; j < k.N; ++j) cf[static_cast<size_t>(i * k.N + j)] = C[i * k.ldc + j];
  gemm<float>(k.ta, k.tb, k.M, k.N, k.K, k.alpha, af.data(), k.lda, bf.data(), k.ldb, k.beta, cf.data(), k.N);
  for (int64_t i = 0; i < k.M; ++i)
    for (int64_t j = 0; j < k.N; ++j) C[i * k.ldc + j] = bf16(cf[static_cast<size_t>(i * k.N + j)]);
}

}  // namespace

template <>
void gemm<bf16>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
                const bf16* B, int64_t ldb, float beta, bf16* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // no products: C = beta C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = bf16(beta == 0.0f ? 0.0f : beta * static_cast<float>(C[i * ldc + j]));
    return;
  }
  SG_CHECK(lda >= (ta ? M : K) && ldb >= (tb ? K : N) && ldc >= N,
           "gemm<bf16>: leading dims (lda {}, ldb {}, ldc {}) below the widths of (M, N, K) = ({}, {}, {}), ta {}, tb {}",
           lda, ldb, ldc, M, N, K, ta, tb);
  const GemmArgs args{ta, tb, M, N, K, lda, ldb, ldc, alpha, beta};
  if (!cpu_has_bf16()) return widened_gemm(args, A, B, C);
  try {
    if (!onednn_gemm(args, A, B, C)) widened_gemm(args, A, B, C);
  } catch (const dnnl::error& e) {
    fail("gemm<bf16>: oneDNN matmul failed at (M, N, K) = ({}, {}, {}), ta {}, tb {}, lda {}, ldb {}, ldc {}: {}", M, N,
         K, ta, tb, lda, ldb, ldc, e.what());
  }
}

double bf16_gemm_speedup() {
  constexpr int64_t M = 1024, N = 768, K = 768;
  std::vector<float> af(M * K), bf(K * N), cf(M * N);
  for (size_t i = 0; i < af.size(); ++i) af[i] = static_cast<float>(i % 13) * 0.125f - 0.75f;
  for (size_t i = 0; i < bf.size(); ++i) bf[i] = static_cast<float>(i % 7) * 0.25f - 0.75f;
  const std::vector<bf16> ab(af.begin(), af.end()), bb(bf.begin(), bf.end());
  std::vector<bf16> cb(M * N);
  auto best_seconds = [](const auto& run) {
    double best = 1e30;
    for (int rep = 0; rep < 4; ++rep) {  // the first run builds and caches the primitive: not timed
      const auto t0 = std::chrono::steady_clock::now();
      run();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep > 0) best = std::min(best, s);
    }
    return best;
  };
  const double f32 = best_seconds(
      [&] { gemm<float>(false, false, M, N, K, 1.0f, af.data(), K, bf.data(), N, 0.0f, cf.data(), N); });
  const double b16 = best_seconds(
      [&] { gemm<bf16>(false, false, M, N, K, 1.0f, ab.data(), K, bb.data(), N, 0.0f, cb.data(), N); });
  return f32 / b16;
}

}  // namespace sg::cpu
