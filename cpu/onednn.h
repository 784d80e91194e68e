// onednn.h: the one oneDNN CPU engine the bf16 kernels build their primitives on (gemm_bf16.cpp,
// attention_bf16.cpp).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

namespace sg::cpu {

dnnl::engine& onednn_engine();

}  // namespace sg::cpu
