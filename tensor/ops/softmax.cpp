// softmax.cpp: softmax and log_softmax over one dim, stable (max subtracted), fused backward from the output.
#include "tensor/ops/common.h"

namespace sg {
namespace {
Tensor softmax_impl(const Tensor& a_in, int64_t dim, bool log, const char* op) {
  check_float(op, a_in);
  int64_t d = wrap_dim(dim, a_in.dim(), op);
  Tensor a = a_in.contiguous();
  DimSplit s = a.dim() == 0 ? DimSplit{} : split_at(a.shape(), d);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (out.numel() > 0)
    SG_FLOAT_TYPES(a.dtype(), op,
                   SG_KERNEL(a.device(), softmax_forward<T>, a.data<T>(), out.data<T>(), s.outer, s.r, s.inner, log));
  auto replay = [d, log, op](const std::vector<Tensor>& in) { return softmax_impl(in[0], d, log, op); };
  return record(out, op, {a_in}, replay, [out, s, log, op](const Node&) {
    Tensor y = out.detach();
    return [y, s, log, op](const Tensor& g_in) {
      Tensor g = g_in.contiguous();
      Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
      if (gx.numel() > 0)
        SG_FLOAT_TYPES(y.dtype(), op,
                       SG_KERNEL(y.device(), softmax_backward<T>, y.data<T>(), g.data<T>(), gx.data<T>(), s.outer, s.r,
                                 s.inner, log));
      return std::vector<Tensor>{gx};
    };
  });
}
}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, true, "log_softmax"); }

}  // namespace sg
