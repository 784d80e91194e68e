#include "tensor/allocator.h"

#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "tensor/backends.h"

namespace sg {
namespace {

// Blocks are rounded up to a bucket size: multiples of 512 B below 1 MiB, then 1/8 steps of a power of
// two (at most 12.5% slack), so that a block freed by one step fits the same request in the next.
size_t bucket_size(size_t n) {
  if (n == 0) n = 1;
  if (n < (1u << 20)) return (n + 511) & ~size_t(511);
  size_t p = 1;
  while (p * 2 <= n) p *= 2;
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct Pool {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
};

// Under AddressSanitizer every block goes back to the system, so that it sees use after free and leaks (the cache
// is a static: destroyed at exit before the leak check, its blocks would read as leaked). g++ defines
// __SANITIZE_ADDRESS__; clang says so through __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define SG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SG_ASAN 1
#endif
#endif
#if defined(SG_ASAN)
bool g_caching = false;
#else
bool g_caching = true;
#endif

Pool& pool(Device d) {
  static Pool cpu, gpu;
  return d == Device::CPU ? cpu : gpu;
}

void* system_alloc(Device d, size_t n) { return runtime(d).allocate(n); }
void system_free(Device d, void* p) { runtime(d).release(p); }

}  // namespace

// Kernels borrow their scratch memory from this allocator (base/device_runtime.h).
const bool g_scratch_installed = [] {
  scratch_allocator() = {allocate, deallocate};
  return true;
}();

void allocator_set_caching(bool on) { g_caching = on; }

void* allocate(Device d, size_t nbytes) {
  size_t n = bucket_size(nbytes);
  Pool& P = pool(d);
  {
    std::lock_guard<std::mutex> lock(P.mu);
    auto it = P.free_lists.find(n);
    if (it != P.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      P.stats.cached_bytes -= n;
      P.stats.live_bytes += n;
      if (P.stats.live_bytes > P.stats.peak_bytes) P.stats.peak_bytes = P.stats.live_bytes;
      return p;
    }
  }
  void* p = system_alloc(d, n);
  std::lock_guard<std::mutex> lock(P.mu);
  P.stats.fresh_allocs++;
  P.stats.live_bytes += n;
  if (P.stats.live_bytes > P.stats.peak_bytes) P.stats.peak_bytes = P.stats.live_bytes;
  return p;
}

void deallocate(Device d, void* p, size_t nbytes) {
  if (!p) return;
  size_t n = bucket_size(nbytes);
  Pool& P = pool(d);
  std::lock_guard<std::mutex> lock(P.mu);
  P.stats.live_bytes -= n;
  if (g_caching) {
    P.free_lists[n].push_back(p);
    P.stats.cached_bytes += n;
  } else {
    system_free(d, p);
  }
}

AllocatorStats allocator_stats(Device d) {
  Pool& P = pool(d);
  std::lock_guard<std::mutex> lock(P.mu);
  return P.stats;
}

void allocator_reset_peak(Device d) {
  Pool& P = pool(d);
  std::lock_guard<std::mutex> lock(P.mu);
  P.stats.peak_bytes = P.stats.live_bytes;
}

void allocator_empty_cache(Device d) {
  Pool& P = pool(d);
  std::lock_guard<std::mutex> lock(P.mu);
  for (auto& [n, list] : P.free_lists)
    for (void* p : list) system_free(d, p);
  P.free_lists.clear();
  P.stats.cached_bytes = 0;
}

}  // namespace sg
