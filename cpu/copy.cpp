// copy.cpp: strided copies with dtype conversion, and fill.
#include <cstring>

#include "cpu/bf16_convert.h"
#include "cpu/kernels.h"
#include "cpu/strided.h"
#include "base/error.h"

namespace sg::cpu {
namespace {

template <typename T>
double load(const void* p, int64_t i) {
  if constexpr (std::is_same_v<T, uint16_t>)
    return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
  else
    return static_cast<double>(static_cast<const T*>(p)[i]);
}
template <typename T>
void store(void* p, int64_t i, double v) {
  if constexpr (std::is_same_v<T, uint16_t>)
    static_cast<uint16_t*>(p)[i] = f32_to_bf16(static_cast<float>(v));
  else
    static_cast<T*>(p)[i] = static_cast<T>(v);
}

template <typename S, typename D>
void copy_typed(const void* src, const Dims& shape, const Dims& st, void* dst) {
  Dims dst_st(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) dst_st[d] = acc, acc *= shape[d];
  for_each_strided<2>(shape, {st.data(), dst_st.data()}, [&](auto off, int64_t n, auto inc) {
    const S* s = static_cast<const S*>(src) + off[0];
    D* d = static_cast<D*>(dst) + off[1];
    if constexpr (std::is_same_v<S, D>) {  // bf16 to bf16 too: bits copied
      if (inc[0] == 1) {
        std::memcpy(d, s, static_cast<size_t>(n) * sizeof(S));
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = s[i * inc[0]];
      }
    } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, uint16_t>) {  // f32 -> bf16
      if (inc[0] == 1) {
        narrow_bf16(s, d, n);
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i * inc[0]]);
      }
    } else if constexpr (std::is_same_v<S, uint16_t> && std::is_same_v<D, float>) {  // bf16 -> f32
      if (inc[0] == 1) {
        widen_bf16(s, d, n);
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i * inc[0]]);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) store<D>(dst, off[1] + i * inc[1], load<S>(src, off[0] + i * inc[0]));
    }
  });
}

template <typename S>
void copy_from(const void* src, const Dims& shape, const Dims& st, void* dst, DType dt) {
  switch (dt) {
    case DType::F32: return copy_typed<S, float>(src, shape, st, dst);
    case DType::F64: return copy_typed<S, double>(src, shape, st, dst);
    case DType::I64: return copy_typed<S, int64_t>(src, shape, st, dst);
    case DType::BF16: return copy_typed<S, uint16_t>(src, shape, st, dst);
  }
}
}  // namespace

void copy_strided(const void* src, DType st, const Dims& shape, const Dims& src_strides, void* dst, DType dt) {
  switch (st) {
    case DType::F32: return copy_from<float>(src, shape, src_strides, dst, dt);
    case DType::F64: return copy_from<double>(src, shape, src_strides, dst, dt);
    case DType::I64: return copy_from<int64_t>(src, shape, src_strides, dst, dt);
    case DType::BF16: return copy_from<uint16_t>(src, shape, src_strides, dst, dt);
  }
}

void copy_into_strided(const void* src, void* dst, DType t, const Dims& shape, const Dims& dst_strides) {
  Dims src_st(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) src_st[d] = acc, acc *= shape[d];
  size_t es = dtype_size(t);
  for_each_strided<2>(shape, {src_st.data(), dst_strides.data()}, [&](auto off, int64_t n, auto inc) {
    const char* s = static_cast<const char*>(src) + off[0] * static_cast<int64_t>(es);
    char* d = static_cast<char*>(dst) + off[1] * static_cast<int64_t>(es);
    if (inc[1] == 1) {
      std::memcpy(d, s, static_cast<size_t>(n) * es);
    } else {
      for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * inc[1] * static_cast<int64_t>(es), s + i * static_cast<int64_t>(es), es);
    }
  });
}

void fill(void* dst, DType t, int64_t n, double v) {
  switch (t) {
    case DType::F32: { float* p = static_cast<float*>(dst); float x = static_cast<float>(v);
#pragma omp parallel for simd if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) p[i] = x;
      return; }
    case DType::F64: { double* p = static_cast<double*>(dst);
#pragma omp parallel for simd if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) p[i] = v;
      return; }
    case DType::I64: { int64_t* p = static_cast<int64_t*>(dst);
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(v);
      return; }
    case DType::BF16: { uint16_t* p = static_cast<uint16_t*>(dst); uint16_t x = f32_to_bf16(static_cast<float>(v));
      for (int64_t i = 0; i < n; ++i) p[i] = x;
      return; }
  }
}

}  // namespace sg::cpu
