// cmd_bench.cpp: `siglip bench ops` and `siglip bench kernels`.
// ops (CPU): speed through the Tensor API next to the raw libraries, in one run.
//   FMA peak: the f32 GFLOP/s of fused multiply-adds on registers, every thread busy: the ceiling the clock and
//   the FMA units set, measured (turbo clocks, AVX-512 split over two 256-bit halves) rather than assumed.
//   GEMM: GFLOP/s of matmul() at SigLIP's shapes (forward and the backward's transposed products), f32 vs
//   dnnl_sgemm and cblas_sgemm called directly, bf16 vs oneDNN's bf16 matmul primitive called directly.
//   Memory-bound ops: GB/s of layer_norm, softmax and gelu forward and backward vs a plain memcpy.
// kernels (CUDA, or CPU with small shapes): the card's ceilings (device copy GB/s, cuBLAS bf16 and f32 GEMM
//   TFLOP/s, cuda/bench.cu), then attention, matmul and layer norm through the Tensor API at ViT-B shapes,
//   each as a percentage of its ceiling.
// Medians over repeated runs; ratios printed against the reference measured in the same run.
#include <cblas.h>
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>

#include "autograd/node.h"
#include "cpu/kernels.h"
#include "siglip/commands.h"
#include "tensor/ops.h"
#include "tensor/backends.h"

namespace sg {
namespace {

double median_seconds(int reps, const std::function<void()>& f) {
  f();  // warm-up: page faults, primitive creation, caches
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Each thread updates kAccumulators independent vector accumulators with FMAs `iters` times: more chains than
// FMA latency x units (4 x 2 on current x86 cores), so the units never wait, and few enough that they and the two
// operands stay in registers (AVX-512 has 32 vector registers, AVX2 16: with 16 chains there, GCC spilled them and
// the loop measured 113 GFLOP/s on a Zen 3 core pair whose GEMMs ran at 154). Returns GFLOP/s over all threads.
#if defined(__AVX512F__)
constexpr int kAccumulators = 16;
using FmaVector = __m512;
constexpr int kFmaLanes = 16;
inline FmaVector fma_splat(float x) { return _mm512_set1_ps(x); }
inline FmaVector fma_step(FmaVector a, FmaVector b, FmaVector c) { return _mm512_fmadd_ps(a, b, c); }
inline float fma_sum(FmaVector v) {  // (_mm512_reduce_add_ps draws a false -Wuninitialized from GCC 12's header)
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0;
  for (float x : t) s += x;
  return s;
}
constexpr const char* kFmaIsa = "AVX-512";
#elif defined(__FMA__)
constexpr int kAccumulators = 12;
using FmaVector = __m256;
constexpr int kFmaLanes = 8;
inline FmaVector fma_splat(float x) { return _mm256_set1_ps(x); }
inline FmaVector fma_step(FmaVector a, FmaVector b, FmaVector c) { return _mm256_fmadd_ps(a, b, c); }
inline float fma_sum(FmaVector v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
constexpr const char* kFmaIsa = "AVX2/FMA";
#endif

#if defined(__AVX512F__) || defined(__FMA__)
double fma_peak_gflops(int reps) {
  const int64_t iters = 20'000'000;
  std::vector<float> sink(static_cast<size_t>(omp_get_max_threads()));
  double best = 1e30;  // a peak is the best run: a slower one met a lower clock or a neighbour on the core
  for (int r = 0; r <= reps; ++r) {  // run 0 warms the clock up and is not counted
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      FmaVector acc[kAccumulators];
      for (int i = 0; i < kAccumulators; ++i) acc[i] = fma_splat(1.0f + 1e-3f * i);
      const FmaVector a = fma_splat(0.999999f), b = fma_splat(1e-7f);
      for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < kAccumulators; ++i) acc[i] = fma_step(acc[i], a, b);
      float t = 0;
      for (int i = 0; i < kAccumulators; ++i) t += fma_sum(acc[i]);
      sink[static_cast<size_t>(omp_get_thread_num())] = t;  // keeps the loop
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::min(best, s);
  }
  const double flops = 2.0 * kFmaLanes * kAccumulators * static_cast<double>(iters) * omp_get_max_threads();
  SG_CHECK(std::isfinite(sink[0]), "bench ops: FMA peak loop produced {}", sink[0]);
  return flops / best / 1e9;
}
#endif

void bench_fma_peak(int reps) {
#if defined(__AVX512F__) || defined(__FMA__)
  fmt::print("\nFMA peak: {} f32 FMAs on registers, {} threads, best of {}: {:.1f} GFLOP/s\n", kFmaIsa,
             omp_get_max_threads(), reps, fma_peak_gflops(reps));
#else
  (void)reps;
  fmt::print("\nFMA peak: not measured (built without AVX-512 or FMA)\n");
#endif
}

// One row of the GEMM table: C[M, N] = op(A) @ op(B), A stored [K, M] when ta, B stored [N, K] when tb.
struct GemmShape {
  int64_t M, N, K;
  bool ta, tb;
  const char* what;
};

// oneDNN's matmul primitive called directly, in f32 or bf16 (strides express the transposes; bf16 sums in f32
// and stores bf16). The primitive is built once, outside the timing: the library's own speed at this shape.
double onednn_matmul_seconds(int reps, const GemmShape& s, const Tensor& a, const Tensor& b, Tensor& c) {
  using dims = dnnl::memory::dims;
  using dt = dnnl::memory::data_type;
  const dt type = a.dtype() == DType::BF16 ? dt::bf16 : dt::f32;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  const dnnl::memory::desc ad({s.M, s.K}, type, s.ta ? dims{1, lda} : dims{lda, 1});
  const dnnl::memory::desc bd({s.K, s.N}, type, s.tb ? dims{1, ldb} : dims{ldb, 1});
  const dnnl::memory::desc cd({s.M, s.N}, type, dims{s.N, 1});
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), eng);
  const dnnl::matmul mm(pd);
  dnnl::memory am(ad, eng, a.data_ptr()), bm(bd, eng, b.data_ptr()), cm(cd, eng, c.data_ptr());
  return median_seconds(reps, [&] {
    mm.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
  });
}

void bench_gemm(int reps) {
  fmt::print("\nGEMM, C[M,N] = op(A) @ op(B), {} threads, median of {} (GFLOP/s)\n", omp_get_max_threads(), reps);
  fmt::print("f32: matmul() (backend {}), dnnl_sgemm, cblas_sgemm, oneDNN's f32 matmul primitive; bf16: matmul(), "
             "oneDNN bf16 matmul (f32 accumulation, bf16 out; CPU bf16 dot products: {})\n",
             cpu::gemm_backend(), cpu::cpu_has_bf16() ? "yes" : "no");
  fmt::print("OpenBLAS kernels: {}\n", cpu::openblas_kernels());
  fmt::print("{:>22} {:>5} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9}  {}\n", "(M, N, K)", "op",
             "f32 api", "onednn", "openblas", "f32 prim", "api/best", "bf16 api", "onednn", "bf16/f32", "where");
  // tiny: 256 images x 64 tokens, width 192, MLP 768; small: 128 x 64 tokens, width 384, MLP 1536. The backward
  // reads the same products transposed: gX = g W^T (B^T), gW = x^T g (A^T, K = tokens).
  const GemmShape shapes[] = {
      {16384, 192, 192, false, false, "tiny attn proj"}, {16384, 768, 192, false, false, "tiny MLP up"},
      {16384, 192, 768, false, false, "tiny MLP down"},  {16384, 192, 768, false, true, "tiny gX MLP up"},
      {192, 768, 16384, true, false, "tiny gW MLP up"},  {768, 192, 16384, true, false, "tiny gW MLP down"},
      {8192, 384, 384, false, false, "small attn proj"}, {8192, 1536, 384, false, false, "small MLP up"},
      {8192, 384, 1536, false, false, "small MLP down"}, {8192, 384, 1536, false, true, "small gX MLP up"},
      {384, 1536, 8192, true, false, "small gW MLP up"}, {2048, 2048, 2048, false, false, "square"},
  };
  bool bf16_primitive_missing = false;
  for (const GemmShape& s : shapes) {
    const int64_t M = s.M, N = s.N, K = s.K;
    const int64_t lda = s.ta ? M : K, ldb = s.tb ? K : N;
    Generator g(1);
    Tensor a = randn(s.ta ? Shape{K, M} : Shape{M, K}, DType::F32, &g);
    Tensor b = randn(s.tb ? Shape{N, K} : Shape{K, N}, DType::F32, &g);
    Tensor a16 = a.to(DType::BF16), b16 = b.to(DType::BF16);
    Tensor c = Tensor::empty({M, N}), c16 = Tensor::empty({M, N}, DType::BF16);
    const double flop = 2.0 * M * N * K;
    double t_api = median_seconds(reps, [&] { Tensor y = matmul(a, b, s.ta, s.tb); });
    double t_dnnl = median_seconds(reps, [&] {
      dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', M, N, K, 1.f, a.data<float>(), lda, b.data<float>(), ldb, 0.f,
                 c.data<float>(), N);
    });
    double t_blas = median_seconds(reps, [&] {
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.f, a.data<float>(),
                  static_cast<int>(lda), b.data<float>(), static_cast<int>(ldb), 0.f, c.data<float>(),
                  static_cast<int>(N));
    });
    double t_api16 = median_seconds(reps, [&] { Tensor y = matmul(a16, b16, s.ta, s.tb); });
    double t_prim = onednn_matmul_seconds(reps, s, a, b, c);
    // oneDNN 2.6 builds no bf16 matmul primitive for CPUs without AVX-512 (AVX2 alone): those columns say n/a.
    std::string dnnl16 = "n/a", ratio16 = "n/a";
    try {
      const double t_dnnl16 = onednn_matmul_seconds(reps, s, a16, b16, c16);
      dnnl16 = fmt::format("{:.1f}", flop / t_dnnl16 / 1e9);
      ratio16 = fmt::format("{:.2f}x", t_dnnl / t_dnnl16);
    } catch (const dnnl::error&) {
      bf16_primitive_missing = true;
    }
    double best = std::min(t_dnnl, t_blas);
    const std::string op = s.ta ? "A^T B" : s.tb ? "A B^T" : "A B";
    fmt::print("{:>22} {:>5} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>8.0f}% {:>10.1f} {:>10} {:>9}  {}\n",
               fmt::format("({}, {}, {})", M, N, K), op, flop / t_api / 1e9, flop / t_dnnl / 1e9, flop / t_blas / 1e9,
               flop / t_prim / 1e9, 100 * best / t_api, flop / t_api16 / 1e9, dnnl16, ratio16, s.what);
  }
  fmt::print("api/best: f32 matmul() against the faster library; bf16/f32: oneDNN bf16 matmul against dnnl_sgemm\n");
  if (bf16_primitive_missing)
    fmt::print("n/a: oneDNN has no bf16 matmul primitive for this CPU (it needs AVX-512); matmul() on bf16 widens the "
               "operands to f32 for sgemm\n");
}

void bench_memory_bound(int reps) {
  const int64_t rows = 8192, D = 768, n = rows * D;
  const double bytes1 = static_cast<double>(n) * sizeof(float);
  fmt::print("\nMemory-bound ops, f32 [{}, {}] ({:.0f} MB per tensor), median of {} (GB/s; bytes = tensors read + written)\n",
             rows, D, bytes1 / 1e6, reps);
  Generator g(2);
  Tensor x = randn({rows, D}, DType::F32, &g), gy = randn({rows, D}, DType::F32, &g);
  Tensor w = randn({D}, DType::F32, &g), bias = randn({D}, DType::F32, &g);
  Tensor dst = Tensor::empty({rows, D});
  double t_copy = median_seconds(reps, [&] { std::memcpy(dst.data<float>(), x.data<float>(), n * sizeof(float)); });
  const double copy_gbs = 2 * bytes1 / t_copy / 1e9;
  fmt::print("{:>22} {:>10} {:>10}\n", "op", "GB/s", "vs memcpy");
  fmt::print("{:>22} {:>10.1f} {:>9.0f}%\n", "memcpy (reference)", copy_gbs, 100.0);
  auto row = [&](const char* name, double tensors, double t) {
    double gbs = tensors * bytes1 / t / 1e9;
    fmt::print("{:>22} {:>10.1f} {:>9.0f}%\n", name, gbs, 100 * gbs / copy_gbs);
  };
  struct Op { const char* name; std::function<Tensor(const Tensor&)> f; };
  const Op ops[] = {
      {"layer_norm", [&](const Tensor& t) { return layer_norm(t, w, bias, 1e-6); }},
      {"softmax", [&](const Tensor& t) { return softmax(t, -1); }},
      {"gelu", [&](const Tensor& t) { return gelu(t); }},
  };
  for (const auto& op : ops) {
    row(fmt::format("{} forward", op.name).c_str(), 2, median_seconds(reps, [&] {
          NoGradGuard ng;
          Tensor y = op.f(x);
        }));
    Tensor xr = x.detach().requires_grad_();
    Tensor y = op.f(xr);
    // The node's own backward function: the same path autograd takes, without re-running the forward.
    row(fmt::format("{} backward", op.name).c_str(), 3, median_seconds(reps, [&] {
          NoGradGuard ng;
          auto gs = y.grad_fn()->backward(gy);
        }));
  }
}

// =========================================================================================================
// bench kernels
// =========================================================================================================

// The ceilings each row is compared with; zero where not measured (CPU, or a failed measurement).
struct Ceilings {
  double copy_gbs = 0;     // device-to-device copy, bytes read + written
  double bf16_tflops = 0;  // cuBLAS bf16 GEMM, f32 compute
  double f32_tflops = 0;   // cuBLAS SGEMM, no TF32
};

void synchronize_device(Device d) { runtime(d).synchronize(); }

// Median seconds of f() over reps runs after one warm-up run, the device synchronised before and after each run.
double device_median_seconds(Device d, int reps, const std::function<void()>& f) {
  f();
  synchronize_device(d);
  std::vector<double> t;
  for (int i = 0; i < std::max(reps, 1); ++i) {
    synchronize_device(d);
    auto t0 = std::chrono::steady_clock::now();
    f();
    synchronize_device(d);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// One measurement that may fail (bf16 not supported yet, out of memory): prints the reason and goes on.
void soft(const std::string& what, const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    fmt::print("skipped  {}: {}\n", what, e.what());
  }
}

Ceilings measure_ceilings(Device d, int reps) {
  Ceilings c;
  if (d != Device::CUDA) {
    fmt::print("CUDA ceilings skipped (device cpu): rows show no percentage\n");
    return c;
  }
  constexpr size_t kCopyBytes = size_t{1} << 30;
  constexpr int kGemmN = 8192;
  DeviceRuntime& rt = runtime(d);
  fmt::print("ceilings on {}, median of {} (cuda/bench.cu):\n", rt.name(), reps);
  soft("d2d copy", [&] {
    c.copy_gbs = rt.copy_bandwidth_gbs(kCopyBytes, reps);
    fmt::print("ceiling  d2d copy {} MB (read + write)          {:>9.1f} GB/s\n", kCopyBytes >> 20, c.copy_gbs);
  });
  soft("bf16 gemm", [&] {
    c.bf16_tflops = rt.gemm_tflops(DType::BF16, kGemmN, reps);
    fmt::print("ceiling  cublas bf16 gemm {}^3 (f32 compute)  {:>9.1f} TFLOP/s\n", kGemmN, c.bf16_tflops);
  });
  soft("f32 sgemm", [&] {
    c.f32_tflops = rt.gemm_tflops(DType::F32, kGemmN, reps);
    fmt::print("ceiling  cublas f32 sgemm {}^3 (no TF32)      {:>9.1f} TFLOP/s\n", kGemmN, c.f32_tflops);
  });
  return c;
}

// "kernel   <what>   <ms>   <achieved> <unit>   <pct>% of <ceiling name>" (pct "-" without a ceiling).
void print_kernel_row(const std::string& what, double seconds, double achieved, const char* unit, double ceiling,
                      const char* ceiling_name) {
  const std::string pct = ceiling > 0 ? fmt::format("{:.0f}% of {}", 100 * achieved / ceiling, ceiling_name) : "-";
  fmt::print("kernel   {:<48} {:>9.3f} ms {:>9.2f} {:<7} {}\n", what, seconds * 1e3, achieved, unit, pct);
}

// A random tensor of `dtype` on `d`: N(0, 1) in f32 on the host, converted, moved. Above 2^20 elements only one
// index of the leading dim is drawn and repeated over it (the host generator makes about 30 M numbers/s: a full
// [256, 12, 197, 64] would take seconds, and these kernels' speed does not depend on the values).
Tensor random_tensor(const Shape& shape, DType dtype, Device d, Generator& g) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n <= (int64_t{1} << 20)) return randn(shape, DType::F32, &g).to(dtype).to(d);
  Shape one = shape;
  one[0] = 1;
  return randn(one, DType::F32, &g).expand(shape).contiguous().to(dtype).to(d);
}

double gemm_ceiling(const Ceilings& c, DType t) { return t == DType::BF16 ? c.bf16_tflops : c.f32_tflops; }
const char* gemm_ceiling_name(DType t) { return t == DType::BF16 ? "bf16 gemm" : "f32 sgemm"; }

// Attention forward and backward, q, k, v: [B, H, N, Dh]. FLOPs: forward 4 B H N^2 Dh (QK^T and PV);
// backward 2.5x that (dV, dP, dQ, dK and the recomputed S), the FlashAttention convention.
void bench_attention(Device d, DType dtype, int64_t B, int reps, const Ceilings& c) {
  const int64_t H = 12, N = 197, Dh = 64;
  const std::string shape = fmt::format("{} B={} H={} N={} Dh={}", dtype_name(dtype), B, H, N, Dh);
  Generator g(3);
  Tensor q = random_tensor({B, H, N, Dh}, dtype, d, g), k = random_tensor({B, H, N, Dh}, dtype, d, g),
         v = random_tensor({B, H, N, Dh}, dtype, d, g), go = random_tensor({B, H, N, Dh}, dtype, d, g);
  const double fwd_flop = 4.0 * static_cast<double>(B * H) * N * N * Dh, bwd_flop = 2.5 * fwd_flop;
  const double t_fwd = device_median_seconds(d, reps, [&] {
    NoGradGuard ng;
    Tensor o = scaled_dot_product_attention(q, k, v);
  });
  print_kernel_row("attention fwd " + shape, t_fwd, fwd_flop / t_fwd / 1e12, "TFLOP/s", gemm_ceiling(c, dtype),
                   gemm_ceiling_name(dtype));
  Tensor qr = q.detach().requires_grad_(), kr = k.detach().requires_grad_(), vr = v.detach().requires_grad_();
  Tensor o = scaled_dot_product_attention(qr, kr, vr);
  // The node's own backward function: the attention backward kernels, without re-running the forward.
  const double t_bwd = device_median_seconds(d, reps, [&] {
    NoGradGuard ng;
    auto grads = o.grad_fn()->backward(go);
  });
  print_kernel_row("attention bwd " + shape, t_bwd, bwd_flop / t_bwd / 1e12, "TFLOP/s", gemm_ceiling(c, dtype),
                   gemm_ceiling_name(dtype));
}

// The MLP's first GEMM at ViT-B shapes: [B * 197, 768] @ [768, 3072].
void bench_matmul(Device d, DType dtype, int64_t B, int reps, const Ceilings& c) {
  const int64_t M = B * 197, K = 768, N = 3072;
  Generator g(4);
  Tensor a = random_tensor({B, 197, K}, dtype, d, g).reshape({M, K}), b = random_tensor({K, N}, dtype, d, g);
  const double t = device_median_seconds(d, reps, [&] {
    NoGradGuard ng;
    Tensor y = matmul(a, b);
  });
  print_kernel_row(fmt::format("matmul {} ({}, {}, {})", dtype_name(dtype), M, N, K), t,
                   2.0 * static_cast<double>(M) * N * K / t / 1e12, "TFLOP/s", gemm_ceiling(c, dtype),
                   gemm_ceiling_name(dtype));
}

// Layer norm over x: [B * 197, 768]. Bytes: forward reads x, writes y; backward reads x and gy, writes gx (the
// [D] weights, biases and [rows] statistics are not counted).
void bench_layer_norm(Device d, DType dtype, int64_t B, int reps, const Ceilings& c) {
  const int64_t rows = B * 197, D = 768;
  const double tensor_bytes = static_cast<double>(rows * D) * static_cast<double>(dtype_size(dtype));
  const std::string shape = fmt::format("{} [{}, {}]", dtype_name(dtype), rows, D);
  Generator g(5);
  Tensor x = random_tensor({B, 197, D}, dtype, d, g).reshape({rows, D});
  Tensor gy = random_tensor({B, 197, D}, dtype, d, g).reshape({rows, D});
  Tensor w = random_tensor({D}, dtype, d, g), bias = random_tensor({D}, dtype, d, g);
  const double t_fwd = device_median_seconds(d, reps, [&] {
    NoGradGuard ng;
    Tensor y = layer_norm(x, w, bias, 1e-6);
  });
  print_kernel_row("layer_norm fwd " + shape, t_fwd, 2 * tensor_bytes / t_fwd / 1e9, "GB/s", c.copy_gbs, "d2d copy");
  Tensor xr = x.detach().requires_grad_(), wr = w.detach().requires_grad_(), br = bias.detach().requires_grad_();
  Tensor y = layer_norm(xr, wr, br, 1e-6);
  const double t_bwd = device_median_seconds(d, reps, [&] {
    NoGradGuard ng;
    auto grads = y.grad_fn()->backward(gy);
  });
  print_kernel_row("layer_norm bwd " + shape, t_bwd, 3 * tensor_bytes / t_bwd / 1e9, "GB/s", c.copy_gbs, "d2d copy");
}

Device default_bench_device() { return device_available(Device::CUDA) ? Device::CUDA : Device::CPU; }

}  // namespace

int run_bench_kernels(const BenchKernelsOptions& o) {
  const int reps = o.reps;
  SG_CHECK(reps >= 1, "bench kernels: --reps must be >= 1, got {}", reps);
  const Device d = o.device.value_or(default_bench_device());
  const std::string dev_name = device_name(d);
  check_device_available(d, "bench kernels");
  // ViT-B batches on the GPU; a small one on the CPU (the rows are exercised, not measured for real).
  std::vector<int64_t> batches = d == Device::CUDA ? std::vector<int64_t>{64, 256} : std::vector<int64_t>{2};
  if (o.batch) batches = {*o.batch};
  for (int64_t B : batches) SG_CHECK(B > 0, "bench kernels: --batch must be positive, got {}", B);

  fmt::print("bench kernels on {}, median of {} runs (device synchronised around each)\n", dev_name, reps);
  const Ceilings c = measure_ceilings(d, reps);
  fmt::print("{:<8} {:<48} {:>12} {:>17} {}\n", "", "what", "time", "achieved", "of ceiling");
  for (DType dtype : {DType::F32, DType::BF16}) {
    for (int64_t B : batches) {
      const std::string tag = fmt::format("{} B={}", dtype_name(dtype), B);
      soft("attention " + tag, [&] { bench_attention(d, dtype, B, reps, c); });
      soft("matmul " + tag, [&] { bench_matmul(d, dtype, B, reps, c); });
      soft("layer_norm " + tag, [&] { bench_layer_norm(d, dtype, B, reps, c); });
    }
  }
  return 0;
}

int run_bench_ops(const BenchOpsOptions& o) {
  SG_CHECK(o.reps >= 1, "bench ops: --reps must be >= 1, got {}", o.reps);
  bench_fma_peak(o.reps);
  if (o.peak_only) return 0;
  bench_gemm(o.reps);
  bench_memory_bound(o.reps);
  return 0;
}

}  // namespace sg
