// device_runtime.h: what the engine needs of a device besides its kernels: presence, raw memory, copies,
// synchronisation, and the card's measured ceilings for benchmarks. One interface, two implementations:
// cpu/runtime.cpp (host memory) and cuda/backend.cu (a CUDA GPU). tensor/backends.cpp is the one place that
// knows which backends a build has and hands out the right one (sg::runtime(Device)).
#pragma once
#include <cstddef>
#include <string>

#include "base/dtype.h"

namespace sg {

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual bool available() const = 0;   // usable now; false (never a throw) for a GPU that is absent
  virtual std::string name() const = 0;  // "cpu", "NVIDIA H200", ...
  // System memory of this device; the caching allocator (tensor/allocator.cpp) sits above these.
  virtual void* allocate(size_t nbytes) = 0;  // out of memory: sg::Error saying how much was asked
  virtual void release(void* p) = 0;
  // Copies between the host and this device; the host buffer may be reused as soon as a call returns.
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void synchronize() = 0;  // every queued kernel and copy has finished
  // Ceilings for `siglip bench kernels`, each the median of `reps` timed runs: copy bandwidth (bytes read +
  // written) and the GEMM library's throughput on n x n x n (bf16 with f32 compute, or f32 without TF32).
  // A device that does not measure them throws sg::Error saying so.
  virtual double copy_bandwidth_gbs(size_t bytes, int reps) = 0;
  virtual double gemm_tflops(DType dtype, int n, int reps) = 0;
};

// Scratch memory that kernels borrow for the length of a call (partial sums, sort buffers). Kernels have no
// allocation policy of their own: tensor/allocator.cpp installs its caching allocator here at start-up.
struct ScratchAllocator {
  void* (*allocate)(Device, size_t) = nullptr;
  void (*deallocate)(Device, void*, size_t) = nullptr;
};
inline ScratchAllocator& scratch_allocator() {
  static ScratchAllocator a;
  return a;
}

}  // namespace sg
