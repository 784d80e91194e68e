// kernels.h: CUDA kernels, the same functions with the same signatures as cpu/kernels.h (SG_KERNEL in
// tensor/dispatch.h calls one or the other), on device pointers. Host std::vector arguments (shapes,
// strides) stay on the host. T is float, double or bf16. Plain C++: included by g++-compiled files.
// Every kernel runs on the engine's one stream (cuda/backend.cu), in order; a failed launch throws
// sg::Error naming the kernel. Layouts and what is not done yet: docs/cuda-notes.md.
#pragma once
#include <cstdint>
#include <vector>

#include "base/kernel_types.h"
#include "base/dtype.h"

namespace sg::cuda {
#include "base/kernel_api.inc"  // the same signatures as the CPU backend

}  // namespace sg::cuda
