// index.cpp: embedding lookup, index_select, concat and stack.
//   embedding / index_select: backward scatter-adds the gradient rows into the rows that were read.
//   concat: backward hands each input its slice of the gradient; stack = unsqueeze + concat.
#include "tensor/ops/common.h"

namespace sg {
namespace {

void check_indices(const char* op, const Tensor& idx, int64_t limit) {
  SG_CHECK(idx.dtype() == DType::I64, "{}: indices must be int64, got {}", op, idx.describe());
  std::vector<int64_t> v = idx.to_vector<int64_t>();
  for (size_t i = 0; i < v.size(); ++i)
    SG_CHECK(v[i] >= 0 && v[i] < limit, "{}: index {} at position {} out of range [0, {})", op, v[i], i, limit);
}

// rows: [V, R...] contiguous, idx: [n] -> [n, R] (no autograd).
Tensor gather(const Tensor& rows, const Tensor& idx) {
  const int64_t V = rows.size(0), R = rows.numel() / std::max<int64_t>(V, 1), n = idx.numel();
  Tensor out = Tensor::empty({n, R}, rows.dtype(), rows.device());
  if (out.numel() > 0)
    SG_FLOAT_TYPES(rows.dtype(), "gather",
                   SG_KERNEL(rows.device(), gather_rows<T>, rows.data<T>(), idx.data<int64_t>(), out.data<T>(), n, R));
  return out;
}

}  // namespace

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  const char* op = "index_select";
  check_float(op, a);
  int64_t d = wrap_dim(dim, a.dim(), op);
  SG_CHECK(index.dim() == 1, "index_select: index must be 1-d, got {}", index.shape_str());
  check_indices(op, index, a.shape()[d]);
  Tensor idx = index.device() == a.device() ? index.contiguous() : index.to(a.device());
  // Move `dim` to the front so that the selected slices are rows.
  Tensor rows = a.detach().transpose(0, d).contiguous();
  Shape moved = rows.shape();
  Tensor out = gather(rows, idx);
  moved[0] = idx.numel();
  out = out.reshape(moved).transpose(0, d).contiguous();
  Shape in_moved = rows.shape();
  auto replay = [index_saved = index.detach(), d](const std::vector<Tensor>& in) { return index_select(in[0], d, index_saved); };
  return record(out, op, {a}, replay, [idx, in_moved, d](const Node&) {
    return [idx, in_moved, d](const Tensor& g_in) {
      Tensor g = g_in.transpose(0, d).contiguous();
      const int64_t V = in_moved[0], R = shape_numel(in_moved) / std::max<int64_t>(V, 1), n = idx.numel();
      Tensor gx = Tensor::empty(in_moved, g.dtype(), g.device());
      SG_FLOAT_TYPES(g.dtype(), "index_select",
                     SG_KERNEL(g.device(), scatter_add_rows<T>, g.data<T>(), idx.data<int64_t>(), gx.data<T>(), n, R, V));
      return std::vector<Tensor>{gx.transpose(0, d).contiguous()};
    };
  });
}

Tensor embedding(const Tensor& ids, const Tensor& weight) {
  const char* op = "embedding";
  check_float(op, weight);
  check_dim(op, weight, 2, "weight");
  SG_CHECK(ids.dtype() == DType::I64, "embedding: ids must be int64, got {}", ids.describe());
  check_indices(op, ids, weight.size(0));
  Tensor idx = (ids.device() == weight.device() ? ids : ids.to(weight.device())).contiguous().reshape({ids.numel()});
  Tensor w = weight.detach().contiguous();
  const int64_t V = w.size(0), D = w.size(1), n = idx.numel();
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor out = gather(w, idx).reshape(out_shape);
  auto replay = [ids_saved = ids.detach()](const std::vector<Tensor>& in) { return embedding(ids_saved, in[1]); };
  return record(out, op, {Tensor(), weight}, replay, [idx, V, D, n](const Node&) {
    return [idx, V, D, n](const Tensor& g_in) {
      Tensor g = g_in.contiguous();
      Tensor gw = Tensor::empty({V, D}, g.dtype(), g.device());
      SG_FLOAT_TYPES(g.dtype(), "embedding",
                     SG_KERNEL(g.device(), scatter_add_rows<T>, g.data<T>(), idx.data<int64_t>(), gw.data<T>(), n, D, V));
      return std::vector<Tensor>{Tensor(), gw};
    };
  });
}

Tensor concat(const std::vector<Tensor>& ts, int64_t dim) {
  const char* op = "concat";
  SG_CHECK(!ts.empty(), "concat: no tensors given");
  for (const auto& t : ts) check_pair(op, ts[0], t);
  int64_t d = wrap_dim(dim, ts[0].dim(), op);
  Shape shape = ts[0].shape();
  int64_t total = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    bool same = t.dim() == ts[0].dim();
    for (int64_t k = 0; same && k < t.dim(); ++k) same = k == d || t.shape()[k] == shape[k];
    SG_CHECK(same, "concat: tensor {} has shape {}, which does not match {} outside dim {}", i, t.shape_str(),
             ts[0].shape_str(), d);
    sizes.push_back(t.shape()[d]);
    total += t.shape()[d];
  }
  shape[d] = total;
  Tensor out = Tensor::empty(shape, ts[0].dtype(), ts[0].device());
  int64_t at = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    out.detach().narrow(d, at, sizes[i]).copy_(ts[i].detach());
    at += sizes[i];
  }
  auto replay = [d](const std::vector<Tensor>& in) { return concat(in, d); };
  return record(out, op, ts, replay, [sizes, d](const Node&) {
    return [sizes, d](const Tensor& g) {
      std::vector<Tensor> gs;
      int64_t start = 0;
      for (int64_t s : sizes) {
        gs.push_back(g.narrow(d, start, s));
        start += s;
      }
      return gs;
    };
  });
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  SG_CHECK(!ts.empty(), "stack: no tensors given");
  int64_t d = wrap_dim(dim, ts[0].dim() + 1, "stack");
  std::vector<Tensor> us;
  for (size_t i = 0; i < ts.size(); ++i) {
    SG_CHECK(ts[i].defined() && ts[i].shape() == ts[0].shape(), "stack: tensor {} has shape {}, expected {}", i,
             ts[i].defined() ? ts[i].shape_str() : "<undefined>", ts[0].shape_str());
    us.push_back(ts[i].unsqueeze(d));
  }
  return concat(us, d);
}

}  // namespace sg
