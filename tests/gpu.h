// gpu.h: the one check the CUDA test cases start with. Without a GPU (or without CUDA in the build) it says
// so in the test output and the case checks nothing.
#pragma once
#include <doctest/doctest.h>

#include <string>

#ifdef SG_CUDA
#include "cuda/backend.h"
#endif

inline bool gpu_present(const char* what) {
#ifdef SG_CUDA
  if (sg::cuda::available()) return true;
  MESSAGE(std::string(what), ": skipped, no GPU present (CUDA code compiled in; run scripts/gpu-check.sh on a GPU)");
#else
  MESSAGE(std::string(what), ": skipped, built without CUDA");
#endif
  return false;
}
