// runtime.cpp: the host's DeviceRuntime. Host memory is 64-byte aligned (AVX-512 loads).
#include "cpu/runtime.h"

#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace sg::cpu {
namespace {

class HostRuntime final : public DeviceRuntime {
 public:
  bool available() const override { return true; }
  std::string name() const override { return "cpu"; }
  void* allocate(size_t nbytes) override {
    void* p = std::aligned_alloc(64, (nbytes + 63) & ~size_t(63));
    if (!p) fail("allocate: out of host memory asking for {} bytes", nbytes);
    return p;
  }
  void release(void* p) override { std::free(p); }
  void copy_from_host(void* dst, const void* src, size_t n) override { copy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n) override { copy(dst, src, n); }
  void synchronize() override {}
  double copy_bandwidth_gbs(size_t, int) override { fail("bench: the CPU's copy ceiling is not measured here"); }
  double gemm_tflops(DType, int, int) override { fail("bench: the CPU's GEMM ceiling is not measured here"); }

 private:
  static void copy(void* dst, const void* src, size_t n) {
    if (n) std::memcpy(dst, src, n);
  }
};

}  // namespace

DeviceRuntime& runtime() {
  static HostRuntime r;
  return r;
}

}  // namespace sg::cpu
