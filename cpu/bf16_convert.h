// bf16_convert.h: bf16 <-> f32 over arrays, bit for bit base/dtype.h's bf16_to_f32 and f32_to_bf16 (round to
// nearest even, NaN kept quiet, subnormals kept), vectorised: the bf16 kernels' loads and stores (bf16.cpp) and
// copy.cpp's conversions between f32 and bf16.
#pragma once
#include <cstdint>

namespace sg::cpu {

void widen_bf16(const uint16_t* src, float* dst, int64_t n);   // dst[i] = bf16_to_f32(src[i])
void narrow_bf16(const float* src, uint16_t* dst, int64_t n);  // dst[i] = f32_to_bf16(src[i])

}  // namespace sg::cpu
