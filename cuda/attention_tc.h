// attention_tc.h: bf16 attention on tensor cores (WMMA bf16 16x16x16, float accumulators), FlashAttention-2
// style; cuda/attention.cu calls these for bf16 when tc_attention_supported(Dh). Same formulas and outputs
// as the CUDA-core kernels there (o, lse float; gq, gk, gv), deterministic (no atomics).
#pragma once
#include <cstdint>

#include "base/kernel_types.h"  // MaskView
#include "base/dtype.h"

namespace sg::cuda {

// True for head dims 32, 64 and 128 unless the environment sets SG_ATTN_TC=0 (read once).
bool tc_attention_supported(int64_t Dh);

// q: [BH, N, Dh], k, v: [BH, M, Dh], o: [BH, N, Dh], lse: [BH, N]; N, M >= 1, BH >= 1.
void tc_attention_forward(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o, float* lse,
                          int64_t BH, int64_t N, int64_t M, int64_t Dh, float scale);

// D: [BH, N] = rowsum(go * o) in float (computed by the caller).
void tc_attention_backward(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const float* lse,
                           const float* D, const bf16* go, bf16* gq, bf16* gk, bf16* gv, int64_t BH, int64_t N,
                           int64_t M, int64_t Dh, float scale);

}  // namespace sg::cuda
