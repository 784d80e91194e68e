// optim.cu: the AdamW update (cpu/optim.cpp's formula), one thread per element, grid-stride.
//   adamw_step: one launch per parameter buffer (f32 or f64).
//   adamw_step_multi: every f32 buffer in one launch. The host builds a table of slices with the prefix sums of
//   their sizes (the concatenated index space), copies it to scratch device memory (one synchronous copy), and
//   each block walks one fixed chunk of that index space. Both kernels update an element with the same inline
//   function, so the multi-tensor step is bit-identical to the per-buffer one.
#include <vector>

#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

// One element of one buffer: m, v, p updated in place. The only place the AdamW arithmetic is written on the GPU.
template <typename T>
__device__ __forceinline__ void adamw_element(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                                              T* __restrict__ v, int64_t i, T lr, T b1, T b2, T eps, T wd, T ibc1,
                                              T isbc2) {
  const T gi = g[i];
  const T mi = b1 * m[i] + (T(1) - b1) * gi;
  const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  const T pi = p[i];
  p[i] = pi - lr * ((mi * ibc1) / (d_sqrt(vi) * isbc2 + eps) + wd * pi);
}

template <typename T>
__global__ void adamw_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                             int64_t n, T lr, T b1, T b2, T eps, T wd, T ibc1, T isbc2) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    adamw_element<T>(p, g, m, v, i, lr, b1, b2, eps, wd, ibc1, isbc2);
}

// A slice as the multi kernel reads it: the buffers, their length, where they start in the concatenated index
// space (prefix sum of the lengths before it) and the weight decay already rounded to float (as adamw_step does).
struct DeviceSlice {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  int64_t start;
  float wd;
};

constexpr int64_t kChunk = int64_t{kThreads} * 8;  // elements of the concatenated space per block (8 per thread)

// The slice that holds concatenated index e: the last s with start[s] <= e (starts strictly increase: no empty slices).
__device__ __forceinline__ int64_t find_slice(const DeviceSlice* slices, int64_t count, int64_t e) {
  int64_t lo = 0, hi = count - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (slices[mid].start <= e) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// slices: [count] on the device, total = sum of n. Block b handles chunks b, b + gridDim.x, ... of kChunk elements;
// each thread walks its elements of the chunk in increasing order, so its slice index only moves forward.
__global__ void adamw_multi_kernel(const DeviceSlice* __restrict__ slices, int64_t count, int64_t total, float lr,
                                   float b1, float b2, float eps, float ibc1, float isbc2) {
  for (int64_t chunk = blockIdx.x; chunk * kChunk < total; chunk += gridDim.x) {
    const int64_t begin = chunk * kChunk;
    const int64_t end = begin + kChunk < total ? begin + kChunk : total;
    int64_t s = find_slice(slices, count, begin);
    DeviceSlice cur = slices[s];  // in registers; reloaded only when e crosses into the next slice
    for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
      while (e >= cur.start + cur.n) cur = slices[++s];  // e < total guarantees s stays < count
      adamw_element<float>(cur.p, cur.g, cur.m, cur.v, e - cur.start, lr, b1, b2, eps, cur.wd, ibc1, isbc2);
    }
  }
}

}  // namespace

template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                double bc1, double bc2) {
  if (n <= 0) return;
  const T ibc1 = static_cast<T>(1 / bc1), isbc2 = static_cast<T>(1 / std::sqrt(bc2));
  adamw_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(p, g, m, v, n, static_cast<T>(lr), static_cast<T>(b1),
                                                          static_cast<T>(b2), static_cast<T>(eps), static_cast<T>(wd),
                                                          ibc1, isbc2);
  check_launch("adamw_step (adamw_kernel)");
}

template void adamw_step<float>(float*, const float*, float*, float*, int64_t, double, double, double, double, double,
                                double, double);
template void adamw_step<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                 double, double, double);

void adamw_step_multi(const AdamWSlice* slices, int64_t count, double lr, double b1, double b2, double eps, double bc1,
                      double bc2) {
  // The table: non-empty slices only, with the prefix sums of their lengths.
  std::vector<DeviceSlice> table;
  table.reserve(static_cast<size_t>(count > 0 ? count : 0));
  int64_t total = 0;
  for (int64_t k = 0; k < count; ++k) {
    const AdamWSlice& s = slices[k];
    if (s.n <= 0) continue;
    table.push_back({s.p, s.g, s.m, s.v, s.n, total, static_cast<float>(s.wd)});
    total += s.n;
  }
  if (table.empty()) return;
  const size_t table_bytes = table.size() * sizeof(DeviceSlice);
  Scratch device_table(table_bytes);
  // Synchronous for the host (copy, then stream sync): `table` may go away as soon as this returns.
  memcpy_h2d(device_table.as<void>(), table.data(), table_bytes);
  const int64_t chunks = (total + kChunk - 1) / kChunk;
  const unsigned blocks = static_cast<unsigned>(chunks < (int64_t{1} << 20) ? chunks : (int64_t{1} << 20));
  const float ibc1 = static_cast<float>(1 / bc1), isbc2 = static_cast<float>(1 / std::sqrt(bc2));
  adamw_multi_kernel<<<blocks, kThreads, 0, stream()>>>(device_table.as<const DeviceSlice>(),
                                                        static_cast<int64_t>(table.size()), total,
                                                        static_cast<float>(lr), static_cast<float>(b1),
                                                        static_cast<float>(b2), static_cast<float>(eps), ibc1, isbc2);
  check_launch("adamw_step_multi (adamw_multi_kernel)");
}

}  // namespace sg::cuda
