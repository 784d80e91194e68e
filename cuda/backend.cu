// backend.cu: the device as the engine sees it (cuda/backend.h): presence, memory, copies, the one stream.
#include "cuda/common.cuh"

#include <algorithm>
#include <cstring>

#include "cuda/bench.h"

namespace sg::cuda {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  // Clear the runtime's last-error state: a non-sticky error (a bad argument) must not be reported again
  // by the next launch's cudaGetLastError. A sticky one (a kernel fault) stays and is reported again.
  (void)cudaGetLastError();
  fail("{}: {}: {}", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t st = nullptr;
    check(cudaStreamCreateWithFlags(&st, cudaStreamDefault), "cudaStreamCreateWithFlags");
    return st;
  }();
  return s;
}

bool available() {
  static const bool ok = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // clear it: no driver or no device is an answer, not an error
      return false;
    }
    return n > 0;
  }();
  return ok;
}

std::string device_name() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  return prop.name;
}

void* device_malloc(size_t nbytes) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, nbytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    fail("cudaMalloc: out of device memory asking for {} bytes ({} bytes free of {})", nbytes, free_b, total_b);
  }
  check(e, "cudaMalloc");
  return p;
}

void device_free(void* p) {
  if (!p) return;
  cudaError_t e = cudaFree(p);
  // At process exit the runtime may be torn down before the last tensors are: nothing left to free then.
  if (e == cudaErrorCudartUnloading || e == cudaErrorContextIsDestroyed) {
    (void)cudaGetLastError();
    return;
  }
  check(e, "cudaFree");
}

namespace {
void copy_sync(void* dst, const void* src, size_t nbytes, cudaMemcpyKind kind, const char* what) {
  if (nbytes == 0) return;
  check(cudaMemcpyAsync(dst, src, nbytes, kind, stream()), fmt::format("{}: cudaMemcpyAsync of {} bytes", what, nbytes).c_str());
  // Synchronous for the caller: the host reads its buffer right after. A fault of an earlier kernel on the
  // stream is reported here.
  check(cudaStreamSynchronize(stream()), fmt::format("{}: cudaStreamSynchronize after the copy", what).c_str());
}
}  // namespace

// Host-to-device copies do not wait for the GPU: the bytes are first copied into one of a few pinned staging
// buffers (so the caller may reuse its own buffer at once), then copied asynchronously on the stream. A
// staging buffer is reused only after the event recorded behind its last copy has completed. Before this,
// every upload (a batch, token ids, labels) drained the stream and the GPU idled while the host queued the
// next kernels.
namespace {
struct Staging {
  void* host = nullptr;  // pinned
  size_t capacity = 0;
  cudaEvent_t done = nullptr;
};
constexpr int kStagingSlots = 4;

Staging& next_staging(size_t nbytes) {
  static Staging ring[kStagingSlots];
  static int next = 0;
  Staging& s = ring[next];
  next = (next + 1) % kStagingSlots;
  if (s.done == nullptr) check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "memcpy_h2d: cudaEventCreate");
  check(cudaEventSynchronize(s.done), "memcpy_h2d: waiting for an earlier upload from the staging buffer");
  if (s.capacity < nbytes) {
    const size_t want = std::max(nbytes, s.capacity * 2);
    if (s.host) check(cudaFreeHost(s.host), "memcpy_h2d: cudaFreeHost");
    s.host = nullptr;
    s.capacity = 0;
    check(cudaMallocHost(&s.host, want), fmt::format("memcpy_h2d: cudaMallocHost of {} bytes", want).c_str());
    s.capacity = want;
  }
  return s;
}
}  // namespace

void memcpy_h2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  Staging& s = next_staging(nbytes);
  std::memcpy(s.host, src, nbytes);
  check(cudaMemcpyAsync(dst, s.host, nbytes, cudaMemcpyHostToDevice, stream()),
        fmt::format("memcpy_h2d: cudaMemcpyAsync of {} bytes", nbytes).c_str());
  check(cudaEventRecord(s.done, stream()), "memcpy_h2d: cudaEventRecord");
}
void memcpy_d2h(void* dst, const void* src, size_t nbytes) {
  copy_sync(dst, src, nbytes, cudaMemcpyDeviceToHost, "memcpy_d2h");
}
void memcpy_d2d(void* dst, const void* src, size_t nbytes) {
  copy_sync(dst, src, nbytes, cudaMemcpyDeviceToDevice, "memcpy_d2d");
}

void synchronize() {
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

namespace {
class CudaRuntime final : public DeviceRuntime {
 public:
  bool available() const override { return cuda::available(); }
  std::string name() const override { return device_name(); }
  void* allocate(size_t nbytes) override { return device_malloc(nbytes); }
  void release(void* p) override { device_free(p); }
  void copy_from_host(void* dst, const void* src, size_t n) override { memcpy_h2d(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n) override { memcpy_d2h(dst, src, n); }
  void synchronize() override { cuda::synchronize(); }
  double copy_bandwidth_gbs(size_t bytes, int reps) override { return bench::copy_bandwidth_gbs(bytes, reps); }
  double gemm_tflops(DType dtype, int n, int reps) override {
    if (dtype == DType::BF16) return bench::gemm_bf16_tflops(n, reps);
    if (dtype == DType::F32) return bench::gemm_f32_tflops(n, reps);
    fail("bench: no GEMM ceiling for {}", dtype_name(dtype));
  }
};
}  // namespace

DeviceRuntime& runtime() {
  static CudaRuntime r;
  return r;
}

}  // namespace sg::cuda
