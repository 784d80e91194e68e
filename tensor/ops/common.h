// common.h: input checks shared by the ops; each error names the op and the tensors at fault.
#pragma once
#include "autograd/node.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace sg {

inline void check_defined(const char* op, const Tensor& t, const char* what) {
  SG_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}
inline void check_float(const char* op, const Tensor& t) {
  check_defined(op, t, "input");
  SG_CHECK(is_floating(t.dtype()), "{}: expected float32, float64 or bfloat16, got {}", op, t.describe());
}
// The dtype of per-row statistics saved for backward (layer norm mean/rstd, attention lse): acc_t's dtype.
inline DType stat_dtype(DType t) { return t == DType::BF16 ? DType::F32 : t; }

// Same dtype and device, both floating.
inline void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_float(op, a);
  check_float(op, b);
  SG_CHECK(a.device() == b.device(), "{}: tensors on different devices: {} and {}", op, a.describe(), b.describe());
  SG_CHECK(a.dtype() == b.dtype(), "{}: dtypes differ: {} and {}", op, a.describe(), b.describe());
}
inline void check_dim(const char* op, const Tensor& t, int64_t d, const char* what) {
  SG_CHECK(t.dim() == d, "{}: {} must be {}-d, got shape {}", op, what, d, t.shape_str());
}
// A residual added to a product x @ w^T (w: [out, in]) must have the product's shape [..., out].
inline void check_residual(const char* op, const Tensor& residual, const Tensor& x, const Tensor& w) {
  check_pair(op, x, residual);
  Shape ys = x.shape();
  ys.back() = w.size(0);
  SG_CHECK(residual.shape() == ys, "{}: residual {} does not match the output {} of {} and {}", op,
           residual.shape_str(), shape_str(ys), x.shape_str(), w.shape_str());
}

// [outer, r, inner] around dim d of a shape.
struct DimSplit {
  int64_t outer = 1, r = 1, inner = 1;
};
inline DimSplit split_at(const Shape& s, int64_t d) {
  DimSplit p;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i < d) p.outer *= s[i];
    else if (i == d) p.r = s[i];
    else p.inner *= s[i];
  }
  return p;
}

}  // namespace sg
