// backend.cu: the device as the engine sees it (cuda/backend.h): presence, memory, copies, the one stream.
#include "cuda/common.cuh"

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
  // Synchronous for the caller: the host may read (d2h) or reuse (h2d) its buffer right after. A fault of
  // an earlier kernel on the stream is reported here.
  check(cudaStreamSynchronize(stream()), fmt::format("{}: cudaStreamSynchronize after the copy", what).c_str());
}
}  // namespace

void memcpy_h2d(void* dst, const void* src, size_t nbytes) {
  copy_sync(dst, src, nbytes, cudaMemcpyHostToDevice, "memcpy_h2d");
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

}  // namespace sg::cuda
