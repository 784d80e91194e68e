// allocator.h: a caching allocator for host (and, through cuda/, device) memory.
// Measured here: a fresh 50 MB buffer costs 85-100 ms of page faults against ~1 ms for the add
// that fills it, so freed blocks are kept and reused, not returned: blocks under 1 MiB in size-bucketed free lists,
// larger host blocks in an arena of reserved address space carved best-fit (allocator.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include "base/dtype.h"

namespace sg {

struct AllocatorStats {
  size_t live_bytes = 0;    // handed out and not yet freed
  size_t peak_bytes = 0;    // max of live_bytes since the last reset_peak()
  size_t cached_bytes = 0;  // freed, kept for reuse
  size_t peak_held_bytes = 0;  // max of live_bytes + cached_bytes since the last reset_peak(): the tensors' share of RSS
  uint64_t fresh_allocs = 0;  // calls that reached the system allocator
};

void* allocate(Device d, size_t nbytes);
void deallocate(Device d, void* p, size_t nbytes);
AllocatorStats allocator_stats(Device d);
void allocator_reset_peak(Device d);
void allocator_empty_cache(Device d);  // returns every cached block to the system
// Caching is on by default; sanitizer builds turn it off so that use-after-free is caught.
void allocator_set_caching(bool on);

}  // namespace sg
