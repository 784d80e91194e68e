// reduce.cpp: sum, mean and max over dims.
//   sum:  g broadcast back over the reduced dims;  mean: the same divided by the count;
//   max:  g goes to the (first) position of the maximum.
#include <algorithm>

#include "tensor/ops/common.h"

namespace sg {
namespace {

std::vector<int64_t> normalize_dims(const char* op, const std::vector<int64_t>& dims, int64_t ndim) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  SG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "{}: dim repeated in [{}]", op,
           fmt::join(dims, ", "));
  return out;
}

// Sum of one dim, kept as size 1 (no autograd).
Tensor sum_one_dim(const Tensor& a, int64_t d) {
  Tensor x = a.contiguous();
  DimSplit s = split_at(x.shape(), d);
  Shape os = x.shape();
  os[d] = 1;
  Tensor out = Tensor::empty(os, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (s.r == 0) {
    out.fill_(0);
    return out;
  }
  SG_FLOAT_TYPES(x.dtype(), "sum", SG_KERNEL(x.device(), sum_dim<T>, x.data<T>(), out.data<T>(), s.outer, s.r, s.inner));
  return out;
}
}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_float("sum", a);
  std::vector<int64_t> dims = normalize_dims("sum", dims_in, a.dim());
  Tensor out;
  {
    NoGradGuard ng;
    out = a.detach();
    for (int64_t d : dims) out = sum_one_dim(out, d);
    Shape kept = out.shape();
    if (!keepdim) {
      Shape s;
      for (int64_t i = 0; i < a.dim(); ++i)
        if (!std::binary_search(dims.begin(), dims.end(), i)) s.push_back(kept[i]);
      out = out.reshape(s);
    }
    out = out.detach();
  }
  Shape in_shape = a.shape(), kept_shape = a.shape();
  for (int64_t d : dims) kept_shape[d] = 1;
  auto replay = [dims, keepdim](const std::vector<Tensor>& in) { return sum(in[0], dims, keepdim); };
  return record(out, "sum", {a}, replay, [in_shape, kept_shape](const Node&) {
    return [in_shape, kept_shape](const Tensor& g) {
      return std::vector<Tensor>{g.reshape(kept_shape).expand(in_shape)};
    };
  });
}

Tensor sum(const Tensor& a) {
  std::vector<int64_t> all(static_cast<size_t>(a.dim()));
  for (int64_t i = 0; i < a.dim(); ++i) all[i] = i;
  return sum(a, all, false);
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  check_float("mean", a);
  int64_t count = 1;
  for (int64_t d : normalize_dims("mean", dims, a.dim())) count *= a.shape()[d];
  SG_CHECK(count > 0, "mean: reducing an empty dim of {}", a.shape_str());
  return mul(sum(a, dims, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& a) {
  check_float("mean", a);
  SG_CHECK(a.numel() > 0, "mean: empty tensor {}", a.shape_str());
  return mul(sum(a), 1.0 / static_cast<double>(a.numel()));
}

namespace {
std::pair<Tensor, Tensor> max_with_index(const Tensor& a_in, int64_t d) {
  Tensor a = a_in.detach().contiguous();
  SG_CHECK(a.shape()[d] > 0, "max: dim {} of {} is empty", d, a.shape_str());
  DimSplit s = split_at(a.shape(), d);
  Shape os = a.shape();
  os[d] = 1;
  Tensor vals = Tensor::empty(os, a.dtype(), a.device());
  Tensor idx = Tensor::empty(os, DType::I64, a.device());
  SG_FLOAT_TYPES(a.dtype(), "max",
                 SG_KERNEL(a.device(), max_dim<T>, a.data<T>(), vals.data<T>(), idx.data<int64_t>(), s.outer, s.r,
                           s.inner));
  return {vals, idx};
}
}  // namespace

Tensor max(const Tensor& a, int64_t dim, bool keepdim) {
  check_float("max", a);
  int64_t d = wrap_dim(dim, a.dim(), "max");
  const auto [vals, idx] = max_with_index(a, d);  // (not captured directly: clang 14 cannot capture bindings)
  Tensor out = keepdim ? vals : vals.squeeze(d);
  Tensor indices = idx;
  Shape in_shape = a.shape();
  auto replay = [d, keepdim](const std::vector<Tensor>& in) { return max(in[0], d, keepdim); };
  return record(out, "max", {a}, replay, [in_shape, indices, d](const Node&) {
    return [in_shape, indices, d](const Tensor& g_in) {
      Tensor g = g_in.contiguous();
      DimSplit s = split_at(in_shape, d);
      Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
      SG_FLOAT_TYPES(g.dtype(), "max",
                     SG_KERNEL(g.device(), max_dim_backward<T>, g.data<T>(), indices.data<int64_t>(), gx.data<T>(),
                               s.outer, s.r, s.inner));
      return std::vector<Tensor>{gx};
    };
  });
}

Tensor argmax(const Tensor& a, int64_t dim) {
  check_float("argmax", a);
  int64_t d = wrap_dim(dim, a.dim(), "argmax");
  return max_with_index(a, d).second.squeeze(d);
}

}  // namespace sg
