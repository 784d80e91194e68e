#include "tensor/allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
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

void note_peaks(AllocatorStats& s) {
  if (s.live_bytes > s.peak_bytes) s.peak_bytes = s.live_bytes;
  if (s.live_bytes + s.cached_bytes > s.peak_held_bytes) s.peak_held_bytes = s.live_bytes + s.cached_bytes;
}

// Host blocks of kArenaMin bytes and more come from one reserved range of address space, carved best-fit, with
// neighbouring free ranges merged: the blocks the forward pass frees serve the backward pass's gradients of other
// sizes. Its pages are touched once and reused as the buckets' are, but what it holds follows the live bytes (plus
// fragmentation) rather than the sum over sizes of each size's own peak. On the small train step (batch 128) the
// blocks held went from 1628 to 1428 MB and the peak RSS from 1752 to 1552 MB (docs/results.md).
constexpr size_t kArenaMin = size_t{1} << 20;
constexpr size_t kArenaGrain = 4096;  // block sizes and offsets: whole pages

size_t arena_size(size_t n) { return (n + kArenaGrain - 1) / kArenaGrain * kArenaGrain; }

class Arena {
 public:
  // Reserves address space (no memory: pages are committed when first written) of the machine's physical memory;
  // false when the system refuses, and the buckets serve every size.
  bool reserve() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return false;
    const size_t bytes = static_cast<size_t>(pages) * static_cast<size_t>(page) / kArenaGrain * kArenaGrain;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    base_ = static_cast<char*>(p);
    capacity_ = bytes;
    return true;
  }
  bool owns(const void* p) const {
    return base_ && static_cast<const char*>(p) >= base_ && static_cast<const char*>(p) < base_ + capacity_;
  }
  // The best-fitting free range's front, or the end of the touched range (which grows: *fresh = true); nullptr
  // when n does not fit in what is left of the reservation.
  void* take(size_t n, bool* fresh) {
    *fresh = false;
    if (auto it = by_size_.lower_bound({n, 0}); it != by_size_.end()) {
      const auto [size, offset] = *it;
      erase_free(offset, size);
      if (size > n) insert_free(offset + n, size - n);
      return base_ + offset;
    }
    size_t start = top_;  // a free range that ends at the top is extended
    if (!by_offset_.empty()) {
      const auto last = std::prev(by_offset_.end());
      if (last->first + last->second == top_) start = last->first;
    }
    if (start + n > capacity_) return nullptr;
    if (start < top_) erase_free(start, top_ - start);
    top_ = start + n;
    *fresh = true;
    return base_ + start;
  }
  void give(void* p, size_t n) {
    size_t offset = static_cast<size_t>(static_cast<char*>(p) - base_);
    if (auto next = by_offset_.find(offset + n); next != by_offset_.end()) {
      n += next->second;
      erase_free(next->first, next->second);
    }
    if (auto after = by_offset_.lower_bound(offset); after != by_offset_.begin()) {
      const auto before = std::prev(after);
      if (before->first + before->second == offset) {
        offset = before->first;
        n += before->second;
        erase_free(before->first, before->second);
      }
    }
    insert_free(offset, n);
  }
  // Returns the free ranges' pages to the system (they read as zeros when touched again).
  void release_free_pages() {
    for (const auto& [offset, size] : by_offset_) madvise(base_ + offset, size, MADV_DONTNEED);
    if (!by_offset_.empty()) {
      const auto last = std::prev(by_offset_.end());
      if (last->first + last->second == top_) {
        top_ = last->first;
        erase_free(last->first, last->second);
      }
    }
  }
  size_t free_bytes() const { return free_bytes_; }

 private:
  void insert_free(size_t offset, size_t size) {
    by_offset_.emplace(offset, size);
    by_size_.emplace(size, offset);
    free_bytes_ += size;
  }
  void erase_free(size_t offset, size_t size) {
    by_offset_.erase(offset);
    by_size_.erase({size, offset});
    free_bytes_ -= size;
  }

  char* base_ = nullptr;
  size_t capacity_ = 0;
  size_t top_ = 0;  // offsets below are in use or free (touched pages); above, never touched
  size_t free_bytes_ = 0;
  std::map<size_t, size_t> by_offset_;               // free ranges: offset -> size
  std::set<std::pair<size_t, size_t>> by_size_;      // the same ranges as (size, offset), for best fit
};

struct Pool {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  size_t bucket_cached_bytes = 0;
  Arena arena;
  bool arena_tried = false;
  AllocatorStats stats;
  void update_cached() { stats.cached_bytes = bucket_cached_bytes + arena.free_bytes(); }
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
  Pool& P = pool(d);
  if (d == Device::CPU && g_caching && nbytes >= kArenaMin) {
    const size_t n = arena_size(nbytes);
    std::lock_guard<std::mutex> lock(P.mu);
    if (!P.arena_tried) P.arena_tried = true, P.arena.reserve();
    bool fresh = false;
    if (void* p = P.arena.take(n, &fresh)) {
      P.stats.fresh_allocs += fresh;
      P.stats.live_bytes += n;
      P.update_cached();
      note_peaks(P.stats);
      return p;
    }
  }
  size_t n = bucket_size(nbytes);
  {
    std::lock_guard<std::mutex> lock(P.mu);
    auto it = P.free_lists.find(n);
    if (it != P.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      P.bucket_cached_bytes -= n;
      P.stats.live_bytes += n;
      P.update_cached();
      note_peaks(P.stats);
      return p;
    }
  }
  void* p = system_alloc(d, n);
  std::lock_guard<std::mutex> lock(P.mu);
  P.stats.fresh_allocs++;
  P.stats.live_bytes += n;
  note_peaks(P.stats);
  return p;
}

void deallocate(Device d, void* p, size_t nbytes) {
  if (!p) return;
  Pool& P = pool(d);
  std::lock_guard<std::mutex> lock(P.mu);
  if (d == Device::CPU && P.arena.owns(p)) {
    const size_t n = arena_size(nbytes);
    P.arena.give(p, n);
    P.stats.live_bytes -= n;
    P.update_cached();
    return;
  }
  size_t n = bucket_size(nbytes);
  P.stats.live_bytes -= n;
  if (g_caching) {
    P.free_lists[n].push_back(p);
    P.bucket_cached_bytes += n;
    P.update_cached();
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
  P.stats.peak_held_bytes = P.stats.live_bytes + P.stats.cached_bytes;
}

void allocator_empty_cache(Device d) {
  Pool& P = pool(d);
  std::lock_guard<std::mutex> lock(P.mu);
  for (auto& [n, list] : P.free_lists)
    for (void* p : list) system_free(d, p);
  P.free_lists.clear();
  P.bucket_cached_bytes = 0;
  P.arena.release_free_pages();
  P.update_cached();
}

}  // namespace sg
