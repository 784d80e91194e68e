// test_small_gemm.cpp: small_sgemm and its AVX2 form (cpu/small_gemm.h), the per-head product of the CPU
// attention kernels, against an f64 reference: every transpose combination, sizes that leave partial tiles (rows not a multiple of 6,
// columns not a multiple of 16 or 64, inner dimensions not a multiple of 16), leading dimensions wider than the
// matrices, and the columns of C beyond N left as they were.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "cpu/small_gemm.h"

using namespace sg;

namespace {

using SmallGemm = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float*, int64_t, float*);

// Every transpose, partial tiles and wide leading dims of one form of the product, against f64.
void check_small_gemm(SmallGemm product) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const float alpha = 0.37f, sentinel = 12345.f;
  const int64_t sizes[] = {1, 5, 6, 7, 16, 17, 33, 64, 65, 130};
  int checked = 0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t M : sizes)
        for (int64_t N : sizes)
          for (int64_t K : {1, 15, 16, 64, 70}) {
            if ((M * N * K) % 3 != 0 && M > 7 && N > 7) continue;  // a third of the larger cases keeps it quick
            // A: [M, K] (stored [K, M] when ta), B: [K, N] (stored [N, K] when tb), each 3 floats wider
            const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 3, ldc = N + 5;
            std::vector<float> A(static_cast<size_t>((ta ? K : M) * lda)), B(static_cast<size_t>((tb ? N : K) * ldb));
            for (float& x : A) x = u(rng);
            for (float& x : B) x = u(rng);
            std::vector<float> C(static_cast<size_t>(M * ldc), sentinel);
            std::vector<float> pack(static_cast<size_t>(cpu::small_sgemm_pack_floats(K)));
            product(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, C.data(), ldc, pack.data());
            double worst = 0;
            bool untouched = true;
            for (int64_t i = 0; i < M; ++i) {
              for (int64_t j = 0; j < N; ++j) {
                double ref = 0;
                for (int64_t k = 0; k < K; ++k)
                  ref += static_cast<double>(ta ? A[k * lda + i] : A[i * lda + k]) *
                         static_cast<double>(tb ? B[j * ldb + k] : B[k * ldb + j]);
                worst = std::max(worst, std::fabs(alpha * ref - C[i * ldc + j]));
              }
              for (int64_t j = N; j < ldc; ++j) untouched = untouched && C[i * ldc + j] == sentinel;
            }
            INFO("ta ", ta, " tb ", tb, " (M, N, K) = (", M, ", ", N, ", ", K, ")");
            CHECK(worst <= 1e-5 * (1 + K));
            CHECK(untouched);
            ++checked;
          }
  CHECK(checked > 300);
}

}  // namespace

TEST_CASE("small_sgemm: C = alpha op(A) op(B) for every transpose, partial tiles and wide leading dims") {
  check_small_gemm(cpu::small_sgemm);
}

TEST_CASE("small_sgemm_avx2: the AVX2 form on any CPU with AVX2 and FMA, AVX-512 ones included") {
#if defined(__x86_64__)
  if (!cpu::cpu_has_avx2_fma()) {
    MESSAGE("skipped: this CPU has no AVX2 and FMA");
    return;
  }
  check_small_gemm(cpu::small_sgemm_avx2);
#else
  MESSAGE("skipped: not an x86-64 build");
#endif
}
