// bf16_blocks.h: what the blocked bf16 kernels share (bf16.cpp, attention_bf16.cpp): widening a run of bf16 into
// f32 and rounding it back, each thread's f32 scratch, and a parallel loop over blocks of work.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "cpu/bf16_convert.h"

namespace sg::cpu {

inline void widen(const bf16* src, float* dst, int64_t n) { widen_bf16(reinterpret_cast<const uint16_t*>(src), dst, n); }
inline void narrow(const float* src, bf16* dst, int64_t n) { narrow_bf16(src, reinterpret_cast<uint16_t*>(dst), n); }

// This thread's f32 scratch, at least n floats; grows, never shrinks, so steady-state calls allocate nothing.
inline float* scratch(int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// f(begin, end) for consecutive ranges of `per_block` items covering [0, n), the ranges split over threads.
template <typename F>
void for_blocks(int64_t n, int64_t per_block, F f) {
  const int64_t blocks = (n + per_block - 1) / per_block;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t i = 0; i < blocks; ++i) f(i * per_block, std::min(n, (i + 1) * per_block));
}

}  // namespace sg::cpu
