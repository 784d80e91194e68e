// backend.h: the CUDA device as the rest of the engine sees it (host-callable, plain C++ types).
// Implemented in cuda/backend.cu. Every CUDA/cuBLAS failure throws sg::Error naming the call and the error.
#pragma once
#include <cstddef>
#include <string>

#include "base/device_runtime.h"

namespace sg::cuda {

// The GPU as a DeviceRuntime (base/device_runtime.h): the functions below, and the ceilings of cuda/bench.h.
DeviceRuntime& runtime();


bool available();          // a CUDA GPU is present and usable (false, without throwing, when none is)
std::string device_name();  // e.g. "NVIDIA H100 80GB HBM3"
void* device_malloc(size_t nbytes);  // out of memory: says how much was asked and how much is free
void device_free(void* p);
void memcpy_h2d(void* dst, const void* src, size_t nbytes);
void memcpy_d2h(void* dst, const void* src, size_t nbytes);
void memcpy_d2d(void* dst, const void* src, size_t nbytes);
void synchronize();

}  // namespace sg::cuda
