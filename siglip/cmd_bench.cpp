// cmd_bench.cpp: `siglip bench ops`: speed through the Tensor API next to the raw libraries, in one run.
//   GEMM: GFLOP/s of matmul() at SigLIP-like shapes vs dnnl_sgemm and cblas_sgemm called directly.
//   Memory-bound ops: GB/s of layer_norm, softmax and gelu forward and backward vs a plain memcpy.
// Medians over repeated runs; ratios printed against the reference measured in the same run.
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>

#include "autograd/node.h"
#include "cpu/kernels.h"
#include "siglip/args.h"
#include "siglip/commands.h"
#include "tensor/ops.h"

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

void bench_gemm(int reps) {
  fmt::print("\nGEMM, f32, C[M,N] = A[M,K] @ B[K,N], {} threads, median of {} (GFLOP/s)\n", omp_get_max_threads(), reps);
  fmt::print("{:>24} {:>10} {:>10} {:>10} {:>10}  {}\n", "(M, N, K)", "matmul()", "onednn", "openblas", "api/best",
             "matmul backend");
  const int64_t shapes[][3] = {{16384, 192, 192}, {16384, 768, 192}, {16384, 192, 768}, {2048, 2048, 2048}};
  for (auto& s : shapes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    Generator g(1);
    Tensor a = randn({M, K}, DType::F32, &g), b = randn({K, N}, DType::F32, &g);
    Tensor c = Tensor::empty({M, N});
    const double flop = 2.0 * M * N * K;
    double t_api = median_seconds(reps, [&] { Tensor y = matmul(a, b); });
    double t_dnnl = median_seconds(reps, [&] {
      dnnl_sgemm('N', 'N', M, N, K, 1.f, a.data<float>(), K, b.data<float>(), N, 0.f, c.data<float>(), N);
    });
    double t_blas = median_seconds(reps, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                  static_cast<int>(K), 1.f, a.data<float>(), static_cast<int>(K), b.data<float>(), static_cast<int>(N),
                  0.f, c.data<float>(), static_cast<int>(N));
    });
    double best = std::min(t_dnnl, t_blas);
    fmt::print("{:>24} {:>10.1f} {:>10.1f} {:>10.1f} {:>9.0f}%  {}\n", fmt::format("({}, {}, {})", M, N, K),
               flop / t_api / 1e9, flop / t_dnnl / 1e9, flop / t_blas / 1e9, 100 * best / t_api, cpu::gemm_backend());
  }
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

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args("bench", argc, argv, 2, {"reps"});
  const int reps = static_cast<int>(args.get_int("reps", 9));
  std::string what = args.positional().empty() ? "ops" : args.positional()[0];
  SG_CHECK(what == "ops", "bench: unknown benchmark '{}' (known: ops)", what);
  bench_gemm(reps);
  bench_memory_bound(reps);
  return 0;
}

}  // namespace sg
