// copy.cu: strided copies with dtype conversion (F32, F64, I64, BF16), copies into strided views, fill.
// One thread per element of the (dims-merged) shape, grid-stride. Conversions go through double, as
// cpu/copy.cpp does; same-type copies move the value unchanged (int64 stays exact).
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

// bf16 <-> f32 exactly as base/dtype.h does on the host (round to nearest even, NaN stays NaN).
__device__ __forceinline__ uint16_t dev_f32_to_bf16(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
__device__ __forceinline__ float dev_bf16_to_f32(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }

struct BF16 {};  // tag: storage is uint16_t
template <typename S>
struct Storage { using type = S; };
template <>
struct Storage<BF16> { using type = uint16_t; };

template <typename S>
__device__ __forceinline__ double load_as_double(const typename Storage<S>::type* p, int64_t i) {
  if constexpr (std::is_same_v<S, BF16>)
    return static_cast<double>(dev_bf16_to_f32(p[i]));
  else
    return static_cast<double>(p[i]);
}
template <typename D>
__device__ __forceinline__ void store_double(typename Storage<D>::type* p, int64_t i, double v) {
  if constexpr (std::is_same_v<D, BF16>)
    p[i] = dev_f32_to_bf16(static_cast<float>(v));
  else
    p[i] = static_cast<D>(v);
}

template <typename S, typename D>
__global__ void copy_convert_kernel(const typename Storage<S>::type* __restrict__ src,
                                    typename Storage<D>::type* __restrict__ dst, StridedArgs<1> a, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[1];
    strided_offsets<1>(a, i, off);
    if constexpr (std::is_same_v<S, D> && !std::is_same_v<S, BF16>)
      dst[i] = src[off[0]];
    else
      store_double<D>(dst, i, load_as_double<S>(src, off[0]));
  }
}

template <typename S, typename D>
void launch_copy(const void* src, void* dst, const StridedArgs<1>& a, int64_t n) {
  copy_convert_kernel<S, D><<<grid_for(n), kThreads, 0, stream()>>>(
      static_cast<const typename Storage<S>::type*>(src), static_cast<typename Storage<D>::type*>(dst), a, n);
  check_launch("copy_strided (copy_convert_kernel)");
}

template <typename S>
void copy_from(const void* src, void* dst, DType dt, const StridedArgs<1>& a, int64_t n) {
  switch (dt) {
    case DType::F32: return launch_copy<S, float>(src, dst, a, n);
    case DType::F64: return launch_copy<S, double>(src, dst, a, n);
    case DType::I64: return launch_copy<S, int64_t>(src, dst, a, n);
    case DType::BF16: return launch_copy<S, BF16>(src, dst, a, n);
  }
  fail("copy_strided: unknown destination dtype {}", static_cast<int>(dt));
}

// dst[offset(i)] = src[i], elements moved as raw words of their size.
template <typename W>
__global__ void copy_into_kernel(const W* __restrict__ src, W* __restrict__ dst, StridedArgs<1> a, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[1];
    strided_offsets<1>(a, i, off);
    dst[off[0]] = src[i];
  }
}

template <typename W>
__global__ void fill_kernel(W* __restrict__ dst, int64_t n, W v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = v;
}

int64_t numel_of(const Dims& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

}  // namespace

void copy_strided(const void* src, DType st, const Dims& shape, const Dims& src_strides, void* dst, DType dt) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  SG_CHECK(src_strides.size() == shape.size(), "copy_strided: {} strides for shape {}", src_strides.size(),
           shape_str(shape));
  // Merge dims with the source's strides only: the destination is contiguous in any merged shape.
  StridedArgs<1> a = make_strided<1>("copy_strided", shape, {src_strides.data()});
  if (st == dt && st != DType::BF16 && a.nd == 1 && a.stride[0][0] == 1) {
    const size_t bytes = static_cast<size_t>(n) * dtype_size(st);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "copy_strided (cudaMemcpyAsync)");
    return;
  }
  switch (st) {
    case DType::F32: return copy_from<float>(src, dst, dt, a, n);
    case DType::F64: return copy_from<double>(src, dst, dt, a, n);
    case DType::I64: return copy_from<int64_t>(src, dst, dt, a, n);
    case DType::BF16: return copy_from<BF16>(src, dst, dt, a, n);
  }
  fail("copy_strided: unknown source dtype {}", static_cast<int>(st));
}

void copy_into_strided(const void* src, void* dst, DType t, const Dims& shape, const Dims& dst_strides) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  SG_CHECK(dst_strides.size() == shape.size(), "copy_into_strided: {} strides for shape {}", dst_strides.size(),
           shape_str(shape));
  StridedArgs<1> a = make_strided<1>("copy_into_strided", shape, {dst_strides.data()});
  const size_t es = dtype_size(t);
  if (a.nd == 1 && a.stride[0][0] == 1) {
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * es, cudaMemcpyDeviceToDevice, stream()),
          "copy_into_strided (cudaMemcpyAsync)");
    return;
  }
  switch (es) {
    case 2:
      copy_into_kernel<uint16_t><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<const uint16_t*>(src),
                                                                         static_cast<uint16_t*>(dst), a, n);
      break;
    case 4:
      copy_into_kernel<uint32_t><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<const uint32_t*>(src),
                                                                         static_cast<uint32_t*>(dst), a, n);
      break;
    case 8:
      copy_into_kernel<uint64_t><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<const uint64_t*>(src),
                                                                         static_cast<uint64_t*>(dst), a, n);
      break;
    default: fail("copy_into_strided: unsupported element size {}", es);
  }
  check_launch("copy_into_strided (copy_into_kernel)");
}

void fill(void* dst, DType t, int64_t n, double value) {
  if (n <= 0) return;
  switch (t) {
    case DType::F32:
      fill_kernel<float><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<float*>(dst), n, static_cast<float>(value));
      break;
    case DType::F64:
      fill_kernel<double><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<double*>(dst), n, value);
      break;
    case DType::I64:
      fill_kernel<int64_t><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<int64_t*>(dst), n,
                                                                   static_cast<int64_t>(value));
      break;
    case DType::BF16:
      fill_kernel<uint16_t><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<uint16_t*>(dst), n,
                                                                    f32_to_bf16(static_cast<float>(value)));
      break;
    default: fail("fill: unknown dtype {}", static_cast<int>(t));
  }
  check_launch("fill (fill_kernel)");
}

}  // namespace sg::cuda
