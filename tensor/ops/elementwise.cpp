// elementwise.cpp: unary maps and broadcasting binary ops, each with its derivative. The unary maps' formulas
// and derivatives are rows of base/elementwise_ops.h; their public functions are generated here from it.
//   add: ga = g, gb = g;  sub: ga = g, gb = -g;  mul: ga = g*b, gb = g*a;  div: ga = g/b, gb = -g*a/b^2
// Gradients of broadcast operands are summed back to their shapes (sum_to).
#include <cmath>

#include "tensor/ops/common.h"

namespace sg {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SG_CHECK(x == y || x == 1 || y == 1, "{}: shapes {} and {} do not broadcast (dim {}: {} vs {})", op, shape_str(a),
             shape_str(b), i, x, y);
    out[i] = x == 1 ? y : x;
  }
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  Tensor s = dims.empty() ? g : sum(g, dims, true);
  return s.reshape(shape);
}

namespace {

// Strides of `t` broadcast to `shape` (0 where t has size 1 or lacks the dim).
Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  size_t lead = shape.size() - t.shape().size();
  for (size_t i = lead; i < shape.size(); ++i)
    st[i] = t.shape()[i - lead] == 1 ? 0 : t.strides()[i - lead];
  return st;
}

Tensor binary_forward(Binary kind, const char* op, const Tensor& a, const Tensor& b) {
  check_pair(op, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  SG_FLOAT_TYPES(a.dtype(), op,
                 SG_KERNEL(a.device(), binary<T>, kind, a.data<T>(), broadcast_strides(a, shape), b.data<T>(),
                           broadcast_strides(b, shape), out.data<T>(), shape));
  return out;
}

Tensor unary_op(Unary kind, const char* op, const Tensor& a_in, double param = 0) {
  check_float(op, a_in);
  Tensor a = a_in.contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (out.numel() > 0)
    SG_FLOAT_TYPES(a.dtype(), op,
                   SG_KERNEL(a.device(), unary<T>, kind, a.data<T>(), out.data<T>(), a.numel(), param));
  auto replay = [kind, param, op](const std::vector<Tensor>& in) { return unary_op(kind, op, in[0], param); };
  return record(out, op, {a_in}, replay, [a_saved = a.detach(), out, kind, param, op](const Node&) {
    // Saved tensors are detached: keeping `out` itself would make a reference cycle through its node.
    Tensor x = a_saved, y = out.detach();
    return [x, y, kind, param, op](const Tensor& g_in) {
      Tensor g = g_in.contiguous();
      Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
      if (gx.numel() > 0)
        SG_FLOAT_TYPES(x.dtype(), op,
                       SG_KERNEL(x.device(), unary_backward<T>, kind, x.data<T>(), y.data<T>(), g.data<T>(),
                                 gx.data<T>(), x.numel(), param));
      return std::vector<Tensor>{gx};
    };
  });
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::Add, "add", a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, [sa, sb](const Node&) {
    return [sa, sb](const Tensor& g) { return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)}; };
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::Sub, "sub", a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, [sa, sb](const Node&) {
    return [sa, sb](const Tensor& g) { return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)}; };
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::Mul, "mul", a, b);
  return record(out, "mul", {a, b}, [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, [a, b](const Node& n) {
    Tensor ad = a.detach(), bd = b.detach();
    bool ga = n.needs_grad(0), gb = n.needs_grad(1);
    return [ad, bd, ga, gb](const Tensor& g) {
      return std::vector<Tensor>{ga ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                                 gb ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
    };
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(Binary::Div, "div", a, b);
  return record(out, "div", {a, b}, [](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, [a, b, out](const Node& n) {
    Tensor ad = a.detach(), bd = b.detach(), y = out.detach();
    bool ga = n.needs_grad(0), gb = n.needs_grad(1);
    return [ad, bd, y, ga, gb](const Tensor& g) {
      Tensor g_over_b = div(g, bd);
      return std::vector<Tensor>{ga ? sum_to(g_over_b, ad.shape()) : Tensor(),
                                 gb ? sum_to(neg(mul(g_over_b, y)), bd.shape()) : Tensor()};
    };
  });
}

// The unary maps, one per row of SG_UNARY_OPS (base/elementwise_ops.h): Tensor neg(const Tensor& a) { ... }
#define SG_DEFINE_UNARY(ID, NAME, FN, PARAM, ...)                                  \
  Tensor FN(const Tensor& a SG_UNARY_PARAM_DECL_##PARAM) {                           \
    return unary_op(Unary::ID, #NAME, a SG_UNARY_PARAM_ARG_##PARAM);                 \
  }
SG_UNARY_OPS(SG_DEFINE_UNARY)
#undef SG_DEFINE_UNARY

Tensor bias_gelu(const Tensor& x_in, const Tensor& bias) {
  const char* op = "bias_gelu";
  check_pair(op, x_in, bias);
  SG_CHECK(x_in.dim() >= 1 && bias.dim() == 1 && bias.size(0) == x_in.size(-1),
           "bias_gelu: bias {} must be [D] for input {} (D = its last dim)", bias.shape_str(), x_in.shape_str());
  Tensor x = x_in.contiguous(), b = bias.contiguous();
  const int64_t D = b.size(0), rows = D == 0 ? 0 : x.numel() / D;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0)
    SG_FLOAT_TYPES(x.dtype(), op,
                   SG_KERNEL(x.device(), bias_gelu_forward<T>, x.data<T>(), b.data<T>(), y.data<T>(), rows, D));
  // Saved: x and b (not x + b): the same memory as gelu(add(x, b)) saves, one kernel and one pass fewer.
  auto replay = [](const std::vector<Tensor>& in) { return bias_gelu(in[0], in[1]); };
  return record(y, op, {x_in, bias}, replay, [xs = x.detach(), bs = b.detach(), rows, D](const Node&) {
    return [xs, bs, rows, D](const Tensor& g_in) {
      Tensor g = g_in.contiguous();
      Tensor gx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
      if (gx.numel() == 0) return std::vector<Tensor>{gx, zeros_like(bs)};
      Tensor gb = Tensor::empty(bs.shape(), bs.dtype(), bs.device());  // gb: [D], the column sums of gx
      SG_FLOAT_TYPES(xs.dtype(), "bias_gelu",
                     SG_KERNEL(xs.device(), bias_gelu_backward<T>, xs.data<T>(), bs.data<T>(), g.data<T>(),
                               gx.data<T>(), gb.data<T>(), rows, D));
      return std::vector<Tensor>{gx, gb};
    };
  });
}

}  // namespace sg
