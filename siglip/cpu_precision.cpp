// cpu_precision.cpp: see cpu_precision.h.
#include "siglip/cpu_precision.h"

#include <fmt/format.h>

#include "cpu/kernels.h"

namespace sg {

Precision effective_precision(Precision asked, Device device, std::string_view command, bool measure) {
  if (asked != Precision::BF16 || device != Device::CPU) return asked;
  if (!cpu::cpu_has_bf16()) {
    fmt::print("precision: this CPU has no bf16 dot products (AVX512_BF16 or AMX): {} --precision bf16 runs in f32\n",
               command);
    return Precision::F32;
  }
  if (const double speedup = measure ? cpu::bf16_gemm_speedup() : 1.0; speedup < 1.0)
    fmt::print("precision: on this CPU a bf16 GEMM runs at {:.2f}x the f32 rate ([1024, 768] x [768, 768]): "
               "{} --precision bf16 halves activation memory here but is expected to be slower than f32\n",
               speedup, command);
  return asked;
}

}  // namespace sg
