// view.cpp: views share storage and differ only in shape, strides and offset. Each is a differentiable op:
// its backward maps the gradient back to the input's shape (reshape back, inverse permutation, pad with
// zeros for slices, sum for expand).
#include "autograd/node.h"
#include "tensor/ops.h"

namespace sg {
namespace {

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

BackwardFn reshape_back(const Shape& in_shape) {
  return [in_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(in_shape)}; };
}

// Strides for viewing `t` as `shape` without a copy, or empty when impossible
// (the algorithm of PyTorch's computeStride: match chunks of dims that are contiguous among themselves).
Shape view_strides(const Tensor& t, const Shape& shape) {
  const Shape& os = t.shape();
  const Shape& ost = t.strides();
  Shape ns(shape.size());
  if (t.numel() == 0 || os.empty()) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return {};
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return {};
  return ns;
}

Shape infer_shape(const Tensor& t, Shape shape, const char* op) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SG_CHECK(infer < 0, "{}: only one dim can be -1, got {}", op, shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      SG_CHECK(shape[i] >= 0, "{}: invalid size in {}", op, shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    SG_CHECK(known > 0 && t.numel() % known == 0, "{}: cannot view {} as {}", op, t.shape_str(), shape_str(shape));
    shape[infer] = t.numel() / known;
  }
  SG_CHECK(shape_numel(shape) == t.numel(), "{}: cannot view {} ({} elements) as {} ({} elements)", op, t.shape_str(),
           t.numel(), shape_str(shape), shape_numel(shape));
  return shape;
}

}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  Shape shape = infer_shape(*this, shape_in, "view");
  Shape st = view_strides(*this, shape);
  SG_CHECK(!st.empty() || shape.empty(), "view: cannot view {} with strides {} as {} without a copy; use reshape",
           shape_str(), sg::shape_str(strides()), sg::shape_str(shape));
  Tensor out = make_view(*this, shape, st, offset());
  Shape in_shape = this->shape();
  auto replay = [shape](const std::vector<Tensor>& in) { return in[0].view(shape); };
  return record(out, "view", {*this}, replay, [in_shape](const Node&) { return reshape_back(in_shape); });
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape shape = infer_shape(*this, shape_in, "reshape");
  if (!view_strides(*this, shape).empty() || shape.empty()) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_dim(start, dim(), "flatten"), e = wrap_dim(end, dim(), "flatten");
  SG_CHECK(s <= e, "flatten: start dim {} after end dim {}", start, end);
  Shape ns(shape().begin(), shape().begin() + s);
  int64_t m = 1;
  for (int64_t d = s; d <= e; ++d) m *= shape()[d];
  ns.push_back(m);
  ns.insert(ns.end(), shape().begin() + e + 1, shape().end());
  return reshape(ns);
}

Tensor Tensor::permute(const Shape& dims) const {
  SG_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: {} dims given for a tensor of shape {}", dims.size(),
           shape_str());
  Shape ns(dims.size()), nst(dims.size()), inverse(dims.size());
  std::vector<bool> used(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    SG_CHECK(!used[d], "permute: dim {} repeated in {}", d, sg::shape_str(dims));
    used[d] = true;
    ns[i] = shape()[d];
    nst[i] = strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(*this, ns, nst, offset());
  auto replay = [dims](const std::vector<Tensor>& in) { return in[0].permute(dims); };
  return record(out, "permute", {*this}, replay, [inverse](const Node&) {
    return [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; };
  });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  Shape p(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < dim(); ++i) p[i] = i;
  std::swap(p[wrap_dim(d0, dim(), "transpose")], p[wrap_dim(d1, dim(), "transpose")]);
  return permute(p);
}

Tensor Tensor::slice(int64_t d_in, int64_t start, int64_t end, int64_t step) const {
  int64_t d = wrap_dim(d_in, dim(), "slice");
  int64_t n = shape()[d];
  SG_CHECK(step > 0, "slice: step must be positive, got {}", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  end = std::min(end, n);
  SG_CHECK(start >= 0 && start <= end, "slice: range [{}, {}) out of bounds for dim {} of size {} in {}", start, end, d,
           n, shape_str());
  Shape ns = shape(), nst = strides();
  ns[d] = (end - start + step - 1) / step;
  nst[d] = strides()[d] * step;
  Tensor out = make_view(*this, ns, nst, offset() + start * strides()[d]);
  Shape in_shape = shape();
  auto replay = [d, start, end, step](const std::vector<Tensor>& in) { return in[0].slice(d, start, end, step); };
  return record(out, "slice", {*this}, replay, [in_shape, d, start, end, step](const Node&) {
    return [in_shape, d, start, end, step](const Tensor& g) {
      Tensor gx = zeros(in_shape, g.dtype(), g.device());
      gx.detach().slice(d, start, end, step).copy_(g);
      return std::vector<Tensor>{gx};
    };
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  int64_t dd = wrap_dim(d, dim(), "narrow");
  SG_CHECK(start >= 0 && length >= 0 && start + length <= shape()[dd],
           "narrow: [{}, {}) out of bounds for dim {} of size {} in {}", start, start + length, dd, shape()[dd],
           shape_str());
  return slice(dd, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  int64_t dd = wrap_dim(d, dim(), "select");
  if (index < 0) index += shape()[dd];
  return narrow(dd, index, 1).squeeze(dd);
}

Tensor Tensor::unsqueeze(int64_t d_in) const {
  int64_t d = wrap_dim(d_in, dim() + 1, "unsqueeze");
  Shape ns = shape(), nst = strides();
  int64_t st = d < dim() ? strides()[d] * shape()[d] : 1;
  ns.insert(ns.begin() + d, 1);
  nst.insert(nst.begin() + d, st);
  Tensor out = make_view(*this, ns, nst, offset());
  Shape in_shape = shape();
  auto replay = [d](const std::vector<Tensor>& in) { return in[0].unsqueeze(d); };
  return record(out, "unsqueeze", {*this}, replay, [in_shape](const Node&) { return reshape_back(in_shape); });
}

Tensor Tensor::squeeze(int64_t d_in) const {
  int64_t d = wrap_dim(d_in, dim(), "squeeze");
  SG_CHECK(shape()[d] == 1, "squeeze: dim {} of {} has size {}, not 1", d, shape_str(), shape()[d]);
  Shape ns = shape(), nst = strides();
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  Tensor out = make_view(*this, ns, nst, offset());
  Shape in_shape = shape();
  auto replay = [d](const std::vector<Tensor>& in) { return in[0].squeeze(d); };
  return record(out, "squeeze", {*this}, replay, [in_shape](const Node&) { return reshape_back(in_shape); });
}

Tensor Tensor::expand(const Shape& shape_in) const {
  SG_CHECK(static_cast<int64_t>(shape_in.size()) >= dim(), "expand: cannot expand {} to fewer dims {}", shape_str(),
           sg::shape_str(shape_in));
  size_t lead = shape_in.size() - shape().size();
  Shape ns(shape_in.size()), nst(shape_in.size());
  for (size_t i = 0; i < shape_in.size(); ++i) {
    int64_t want = shape_in[i];
    if (i < lead) {
      SG_CHECK(want >= 0, "expand: new leading dim must be sized, got {}", sg::shape_str(shape_in));
      ns[i] = want;
      nst[i] = 0;
      continue;
    }
    int64_t have = shape()[i - lead];
    if (want == -1) want = have;
    SG_CHECK(have == want || have == 1, "expand: cannot expand {} to {} (dim {}: {} vs {})", shape_str(),
             sg::shape_str(shape_in), i, have, want);
    ns[i] = want;
    nst[i] = have == want ? strides()[i - lead] : 0;
  }
  if (ns == shape()) return *this;
  Tensor out = make_view(*this, ns, nst, offset());
  Shape in_shape = shape();
  auto replay = [ns](const std::vector<Tensor>& in) { return in[0].expand(ns); };
  return record(out, "expand", {*this}, replay, [in_shape](const Node&) {
    return [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; };
  });
}

}  // namespace sg
