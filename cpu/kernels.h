// kernels.h: CPU kernels. Raw buffers in, raw buffers out; no autograd, no allocation policy.
// The functions themselves are listed once for every backend in base/kernel_api.inc.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/kernel_types.h"

namespace sg::cpu {

#include "base/kernel_api.inc"

// Where head (b, h) of an attention operand lies: element (b, h, i, c) at p[b * sb + h * sh + i * sn + c] (the
// head dim is unit-stride). Packed [B, H, N, Dh] is {H*N*Dh, N*Dh, Dh}; a head view of a [B, N, H*Dh]
// projection output is {N*H*Dh, Dh, H*Dh}.
struct HeadStrides {
  int64_t sb = 0, sh = 0, sn = 0;
};
// The layouts of every attention operand; H splits bh = b * H + h. go, gq, gk, gv are used by the backward.
struct AttentionLayout {
  int64_t H = 1;
  HeadStrides q, k, v, o, go, gq, gk, gv;
};
// The CPU attention with strided heads (cpu/attention.cpp; bf16: cpu/bf16.cpp): what scaled_dot_product_attention
// runs on the CPU, so that splitting and merging heads costs no copies. attention_forward/backward above are
// these with packed layouts.
template <typename T>
void attention_forward_strided(const T* q, const T* k, const T* v, const MaskView& mask, T* o, acc_t<T>* lse,
                               const AttentionLayout& layout, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale);
template <typename T>
void attention_backward_strided(const T* q, const T* k, const T* v, const MaskView& mask, const T* o,
                                const acc_t<T>* lse, const T* go, T* gq, T* gk, T* gv, const AttentionLayout& layout,
                                int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale);

// The kernels OpenBLAS picked for this CPU when it loaded ("SkylakeX", "Haswell", ...); where it fell back to its
// SSE3 ones ("Prescott") on a CPU with AVX2 or AVX-512, also the OPENBLAS_CORETYPE value that selects better ones.
std::string openblas_kernels();

// y [M, N] (contiguous) = op(A) op(B) + bias [N] + residual [M, N] (contiguous), bias and residual optional (null),
// A and B as gemm's: one oneDNN matmul with the bias and the residual added in its epilogue (cpu/linear_f32.cpp).
// False, computing nothing, where oneDNN has no JIT kernel for these strides. The caller takes it only where the
// f32 GEMM backend is oneDNN (gemm_backend()).
bool linear_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                int64_t ldb, const float* bias, const float* residual, float* C);

// Which library f32 GEMM uses ("onednn" or "openblas"); SG_GEMM=openblas|onednn overrides.
const char* gemm_backend();
void set_gemm_backend(const char* name);

// Whether this CPU has bf16 dot products (AVX512_BF16 or AMX) as oneDNN reports them (ONEDNN_MAX_CPU_ISA can
// lower the answer). With them gemm<bf16> is oneDNN's bf16 matmul; without, bf16 works but is widened to f32.
bool cpu_has_bf16();
// gemm<bf16>'s rate over gemm<float>'s on this CPU, timed on one [1024, 768] x [768, 768] product (best of 3
// runs each, about 0.1 s in all): above 1 where bf16 is the faster GEMM. Xeons of the Sapphire Rapids kind
// without AMX have AVX512_BF16 but issue its dot product on one port against two for f32 FMAs, so there bf16
// GEMMs run slower than f32 ones.
double bf16_gemm_speedup();

}  // namespace sg::cpu
