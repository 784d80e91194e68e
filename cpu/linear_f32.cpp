// linear_f32.cpp: y = op(A) op(B) + bias + residual in f32 as one oneDNN matmul primitive (the forward of the
// linear op on the CPU): the bias is the matmul's own bias and the residual a binary-add post-op, both added while
// each tile of y is still in registers, so y is written once and read never. The other way, bias and residual
// written into y first and sgemm adding its product with beta = 1, makes one more pass over y: a write of
// [R, N] and a read back (3 ms of a 15 ms product at the tiny model's [16384, 576] q/k/v projection, measured on
// a 2-core Xeon).
// As in gemm_bf16.cpp the primitive is described anew on every call and oneDNN's primitive cache returns the
// one built for the same shapes and strides.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>

#include "base/error.h"
#include "cpu/kernels.h"
#include "cpu/onednn.h"

namespace sg::cpu {

bool linear_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                int64_t ldb, const float* bias, const float* residual, float* C) {
  if (M <= 0 || N <= 0 || K <= 0) return false;
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  try {
    const dnnl::memory::desc a({M, K}, dt::f32, ta ? dims{1, lda} : dims{lda, 1});
    const dnnl::memory::desc b({K, N}, dt::f32, tb ? dims{1, ldb} : dims{ldb, 1});
    const dnnl::memory::desc c({M, N}, dt::f32, dims{N, 1});
    const dnnl::memory::desc bias_md = bias ? dnnl::memory::desc({1, N}, dt::f32, dims{N, 1}) : dnnl::memory::desc();
    dnnl::primitive_attr attr;
    if (residual) {
      dnnl::post_ops po;
      po.append_binary(dnnl::algorithm::binary_add, c);  // + residual [M, N], laid out as C
      attr.set_post_ops(po);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, bias_md, c), attr, onednn_engine());
    if (std::strncmp(pd.impl_info_str(), "ref", 3) == 0) return false;  // no JIT kernel for these strides
    const dnnl::matmul mm(pd);
    thread_local dnnl::stream stream(onednn_engine());
    dnnl::engine& e = onednn_engine();
    dnnl::memory am(a, e, const_cast<float*>(A)), bm(b, e, const_cast<float*>(B)), cm(c, e, C);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_md, e, const_cast<float*>(bias)));
    if (residual)
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, dnnl::memory(c, e, const_cast<float*>(residual)));
    mm.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& err) {
    fail("linear: oneDNN matmul failed at (M, N, K) = ({}, {}, {}), ta {}, tb {}, lda {}, ldb {}: {}", M, N, K, ta, tb,
         lda, ldb, err.what());
  }
  return true;
}

}  // namespace sg::cpu
