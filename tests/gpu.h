// gpu.h: the one check the CUDA test cases start with. Without a GPU (or without CUDA in the build) it says
// so in the test output and the case checks nothing.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "tensor/backends.h"

inline bool gpu_present(const char* what) {
  if (sg::device_available(sg::Device::CUDA)) return true;
  if (sg::built_with_cuda())
    MESSAGE(std::string(what), ": skipped, no GPU present (CUDA code compiled in; run scripts/gpu-check.sh on a GPU)");
  else
    MESSAGE(std::string(what), ": skipped, built without CUDA");
  return false;
}
