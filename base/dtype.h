// dtype.h: element types and devices.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sg {

// F32 for training, F64 for gradient checks and teaching, I64 for indices (token ids),
// BF16 for activations under --precision bf16 (CUDA kernels compute in f32; the CPU converts to f32 and back).
enum class DType : uint8_t { F32, F64, I64, BF16 };
enum class Device : uint8_t { CPU, CUDA };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::BF16: return 2;
  }
  return 0;
}
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I64: return "int64";
    case DType::BF16: return "bfloat16";
  }
  return "?";
}
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline bool is_floating(DType t) { return t != DType::I64; }

// bf16 <-> f32 (round to nearest even; NaN stays NaN). Host and device (nvcc compiles these for both).
#if defined(__CUDACC__)
#define SG_HD __host__ __device__ __forceinline__
#else
#define SG_HD inline
#endif
SG_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
SG_HD float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
SG_HD uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
SG_HD float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

// The element type of DType::BF16 buffers in kernels: 2 bytes, the same bits as CUDA's __nv_bfloat16.
// Reading one gives a float; writing one needs an explicit bf16(x), so a kernel cannot keep an intermediate
// in bfloat16 by accident: every `T tmp = ...` in a kernel instantiated for bf16 fails to compile, and
// intermediates live in acc_t<T> (float) instead.
struct bf16 {
  uint16_t bits;
  bf16() = default;
  SG_HD explicit bf16(float f) : bits(f32_to_bf16(f)) {}
  SG_HD explicit bf16(double d) : bits(f32_to_bf16(static_cast<float>(d))) {}
  SG_HD operator float() const { return bf16_to_f32(bits); }
};
static_assert(sizeof(bf16) == 2, "bf16 must be 2 bytes");

// The type a kernel computes and accumulates in for element type T: float for bf16 and f32, double for f64.
template <typename T>
struct AccType {
  using type = T;
};
template <>
struct AccType<bf16> {
  using type = float;
};
template <typename T>
using acc_t = typename AccType<T>::type;

}  // namespace sg
