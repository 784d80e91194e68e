// cpu_precision.h: what --precision bf16 means on this CPU, decided in one place for the commands that take it
// (train, bench embed). Without bf16 dot products (AVX512_BF16 or AMX) every bf16 GEMM would be widened to f32,
// slower than f32 itself, so the run is f32, and says so. With bf16 dot products that are slower than f32 FMAs
// (Sapphire Rapids-class Xeons without AMX) it stays bf16, which still halves activation memory, and says what the
// measured rates are.
#pragma once
#include <string_view>

#include "base/dtype.h"
#include "siglip/choices.h"

namespace sg {

// The precision to run: `asked`, or F32 where bf16 was asked on a CPU without bf16 dot products. Prints one line
// for `command` when it changes the precision, or (with `measure`, about 0.1 s) when bf16 GEMMs are slower here.
Precision effective_precision(Precision asked, Device device, std::string_view command, bool measure);

}  // namespace sg
