// kernels.h: CPU kernels. Raw buffers in, raw buffers out; no autograd, no allocation policy.
// The functions themselves are listed once for every backend in base/kernel_api.inc.
#pragma once
#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "base/kernel_types.h"

namespace sg::cpu {

#include "base/kernel_api.inc"

// Which library f32 GEMM uses ("onednn" or "openblas"); SG_GEMM=openblas|onednn overrides.
const char* gemm_backend();
void set_gemm_backend(const char* name);

}  // namespace sg::cpu
