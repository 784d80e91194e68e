// head_product.h: one small matrix product that every (batch, head) pair of an attention call shares, as a oneDNN
// matmul primitive built once per call and run on each head's pointers (cpu/attention_bf16.cpp).
// At a head's size (64 x 64 x 64 in the tiny model) a product takes a few microseconds, so what surrounds it counts:
// a primitive-cache lookup per product, or fresh memory objects per run, cost as much again. Bound holds one
// thread's memory objects and scratchpad (user-managed, so threads never share one) and repoints them per head.
// The products run inside the caller's OpenMP region, where oneDNN computes each on the calling thread.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "cpu/onednn.h"

namespace sg::cpu {

class HeadProduct {
 public:
  using dt = dnnl::memory::data_type;

  // C[m, n] = alpha op(A) op(B): A [m, k] (stored [k, m] when ta), B [k, n] (stored [n, k] when tb), both of type
  // `in` with leading dims lda, ldb; C of type `out` with leading dim ldc.
  HeadProduct(dt in, dt out, bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
              float alpha) {
    using dims = dnnl::memory::dims;
    a_ = dnnl::memory::desc({m, k}, in, ta ? dims{1, lda} : dims{lda, 1});
    b_ = dnnl::memory::desc({k, n}, in, tb ? dims{1, ldb} : dims{ldb, 1});
    c_ = dnnl::memory::desc({m, n}, out, dims{ldc, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_, b_, c_), attr, onednn_engine());
    jit_ = std::strncmp(pd.impl_info_str(), "ref", 3) != 0;
    scratch_ = pd.scratchpad_desc();
    matmul_ = dnnl::matmul(pd);
  }
  bool jit() const { return jit_; }  // false: oneDNN has only its reference loops for these strides (very slow)
  size_t scratch_bytes() const { return scratch_.get_size(); }

  // Whether every one of `products` has JIT kernels, and the scratchpad that serves each of them in turn.
  static bool all_jit(std::initializer_list<const HeadProduct*> products) {
    return std::all_of(products.begin(), products.end(), [](const HeadProduct* p) { return p->jit(); });
  }
  static size_t scratch_for(std::initializer_list<const HeadProduct*> products) {
    size_t n = 0;
    for (const HeadProduct* p : products) n = std::max(n, p->scratch_bytes());
    return n;
  }

  // The product bound to one thread's stream and scratchpad (at least scratch_bytes()).
  class Bound {
   public:
    Bound(const HeadProduct& p, dnnl::stream& stream, void* scratch)
        : p_(p), stream_(stream), a_(p.a_, onednn_engine(), DNNL_MEMORY_NONE),
          b_(p.b_, onednn_engine(), DNNL_MEMORY_NONE), c_(p.c_, onednn_engine(), DNNL_MEMORY_NONE),
          pad_(p.scratch_, onednn_engine(), scratch) {}
    void run(const void* A, const void* B, void* C) {
      a_.set_data_handle(const_cast<void*>(A));
      b_.set_data_handle(const_cast<void*>(B));
      c_.set_data_handle(C);
      p_.matmul_.execute(stream_,
                         {{DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_}, {DNNL_ARG_DST, c_}, {DNNL_ARG_SCRATCHPAD, pad_}});
    }

   private:
    const HeadProduct& p_;
    dnnl::stream& stream_;
    dnnl::memory a_, b_, c_, pad_;
  };

 private:
  dnnl::memory::desc a_, b_, c_, scratch_;
  dnnl::matmul matmul_;
  bool jit_ = false;
};

}  // namespace sg::cpu
