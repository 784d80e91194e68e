// dispatch.h: device choice happens once, in the op. SG_KERNEL(device, fn, args...) calls cpu::fn or
// cuda::fn, which have the same signature (base/kernel_api.inc; the backends: tensor/backends.h), timing the
// call when profiling is on; SG_FLOAT_TYPES picks the element type.
#pragma once
#include "base/error.h"
#include "tensor/backends.h"
#include "tensor/profile.h"

// The KernelScope temporary lives to the end of the full expression: it times the kernel call (profile.h).
#define SG_KERNEL(dev, fn, ...) (::sg::profile::KernelScope(#fn, (dev)), SG_KERNEL_CALL(dev, fn, __VA_ARGS__))
// The same for a matrix-product kernel, counting its FLOPs (2 per multiply-add) for the profile's GFLOP/s.
#define SG_KERNEL_FLOPS(dev, flops, fn, ...) \
  (::sg::profile::KernelScope(#fn, (dev), (flops)), SG_KERNEL_CALL(dev, fn, __VA_ARGS__))
// The same for a GEMM, `shape` a profile::GemmShape: its FLOPs, and a row per shape in the profile.
#define SG_KERNEL_GEMM(dev, shape, fn, ...) \
  (::sg::profile::KernelScope(#fn, (dev), (shape)), SG_KERNEL_CALL(dev, fn, __VA_ARGS__))

// SG_FLOAT_TYPES(dtype, op, body): runs body with `T` = float, double or bf16; other dtypes are an error naming op.
#define SG_FLOAT_TYPES(dtype, op, ...)                                            \
  do {                                                                            \
    if ((dtype) == ::sg::DType::BF16) {                                           \
      using T = ::sg::bf16;                                                       \
      __VA_ARGS__;                                                                \
    } else {                                                                      \
      SG_F32_F64_TYPES_OR_FAIL(dtype, op, "float32, float64 or bfloat16", __VA_ARGS__); \
    }                                                                             \
  } while (0)

// SG_F32_F64_TYPES: the same for kernels that take float or double only (the optimiser's master weights).
#define SG_F32_F64_TYPES(dtype, op, ...) SG_F32_F64_TYPES_OR_FAIL(dtype, op, "float32 or float64", __VA_ARGS__)

// float or double as T, else an error naming op and the dtypes `supported` (a string literal).
#define SG_F32_F64_TYPES_OR_FAIL(dtype, op, supported, ...)                                             \
  do {                                                                                                  \
    if ((dtype) == ::sg::DType::F32) {                                                                  \
      using T = float;                                                                                  \
      __VA_ARGS__;                                                                                      \
    } else if ((dtype) == ::sg::DType::F64) {                                                           \
      using T = double;                                                                                 \
      __VA_ARGS__;                                                                                      \
    } else {                                                                                            \
      ::sg::fail("{}: dtype {} is not supported (" supported ")", op, ::sg::dtype_name(dtype));         \
    }                                                                                                   \
  } while (0)
