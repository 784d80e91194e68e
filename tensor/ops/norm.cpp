// norm.cpp: layer norm (fused forward and backward, cpu/norm.cpp has the formulas) and L2 normalisation.
#include "tensor/ops/common.h"

namespace sg {

Tensor layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  check_pair(op, x_in, weight);
  check_pair(op, x_in, bias);
  SG_CHECK(x_in.dim() >= 1, "layer_norm: input must have at least one dim, got a scalar");
  const int64_t D = x_in.size(-1);
  SG_CHECK(weight.shape() == Shape{D} && bias.shape() == Shape{D},
           "layer_norm: input {} needs weight and bias of shape [{}], got {} and {}", x_in.shape_str(), D,
           weight.shape_str(), bias.shape_str());
  SG_CHECK(eps > 0, "layer_norm: eps must be positive, got {}", eps);
  Tensor x = x_in.contiguous(), w = weight.contiguous(), b = bias.contiguous();
  const int64_t rows = D == 0 ? 0 : x.numel() / D;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const DType st = stat_dtype(x.dtype());  // mean and rstd: f32 for bf16 input
  Tensor mean = Tensor::empty({rows}, st, x.device()), rstd = Tensor::empty({rows}, st, x.device());
  if (rows > 0)
    SG_FLOAT_TYPES(x.dtype(), op,
                   SG_KERNEL(x.device(), layer_norm_forward<T>, x.data<T>(), w.data<T>(), b.data<T>(), y.data<T>(),
                             mean.data<acc_t<T>>(), rstd.data<acc_t<T>>(), rows, D, eps));
  auto replay = [eps](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], eps); };
  return record(y, op, {x_in, weight, bias}, replay, [xs = x.detach(), ws = w.detach(), mean, rstd, rows, D](const Node&) {
    return [xs, ws, mean, rstd, rows, D](const Tensor& g_in) {
      Tensor g = g_in.contiguous();
      Tensor gx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
      Tensor gw = Tensor::empty({D}, xs.dtype(), xs.device()), gb = Tensor::empty({D}, xs.dtype(), xs.device());
      if (rows == 0) {
        gw.fill_(0);
        gb.fill_(0);
      } else {
        SG_FLOAT_TYPES(xs.dtype(), "layer_norm",
                       SG_KERNEL(xs.device(), layer_norm_backward<T>, xs.data<T>(), ws.data<T>(), mean.data<acc_t<T>>(),
                                 rstd.data<acc_t<T>>(), g.data<T>(), gx.data<T>(), gw.data<T>(), gb.data<T>(), rows, D));
      }
      return std::vector<Tensor>{gx, gw, gb};
    };
  });
}

// y = x * rsqrt(sum(x^2) + eps^2): the same as x / ||x|| (Hugging Face's embedding normalisation) except for
// vectors shorter than eps, composed from differentiable ops.
Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  check_float("l2_normalize", x);
  int64_t d = wrap_dim(dim, x.dim(), "l2_normalize");
  return mul(x, rsqrt(add(sum(mul(x, x), {d}, true), eps * eps)));
}

}  // namespace sg

// ---- layer_norm_linear: y = layer_norm(x) @ w^T + b, keeping x (not the normalised x) for the backward ----
// Backward, with n = layer_norm(x) recomputed from x:
//   gw = gy^T n,  gb = sum_rows(gy),  gn = gy w,  then (gx, gln_w, gln_b) = layer_norm's backward of gn.
namespace sg {

Tensor layer_norm_linear(const Tensor& x_in, const Tensor& ln_weight, const Tensor& ln_bias, const Tensor& w,
                         const Tensor& b, double eps) {
  const char* op = "layer_norm_linear";
  check_pair(op, x_in, ln_weight);
  check_pair(op, x_in, ln_bias);
  check_pair(op, x_in, w);
  check_dim(op, w, 2, "w [out, D]");
  SG_CHECK(x_in.dim() >= 1, "layer_norm_linear: input must have at least one dim, got a scalar");
  const int64_t D = x_in.size(-1);
  SG_CHECK(ln_weight.shape() == Shape{D} && ln_bias.shape() == Shape{D} && w.size(1) == D,
           "layer_norm_linear: input {} needs layer-norm weight and bias [{}] and w [out, {}], got {}, {} and {}",
           x_in.shape_str(), D, D, ln_weight.shape_str(), ln_bias.shape_str(), w.shape_str());
  if (b.defined()) {
    check_pair(op, x_in, b);
    SG_CHECK(b.dim() == 1 && b.size(0) == w.size(0), "layer_norm_linear: bias {} does not match w {} (need [{}])",
             b.shape_str(), w.shape_str(), w.size(0));
  }
  SG_CHECK(eps > 0, "layer_norm_linear: eps must be positive, got {}", eps);
  Tensor x = x_in.detach().contiguous(), lw = ln_weight.detach().contiguous(), lb = ln_bias.detach().contiguous();
  Tensor wd = w.detach(), bd = b.defined() ? b.detach() : b;
  Tensor y;
  {
    NoGradGuard ng;
    y = linear(layer_norm(x, lw, lb, eps), wd, bd);  // the normalised x lives only until the GEMM has read it
  }
  auto replay = [eps](const std::vector<Tensor>& in) {
    return layer_norm_linear(in[0], in[1], in[2], in[3], in.size() > 4 ? in[4] : Tensor(), eps);
  };
  std::vector<Tensor> inputs{x_in, ln_weight, ln_bias, w};
  if (b.defined()) inputs.push_back(b);
  return record(y, op, inputs, replay, [x, lw, lb, wd, has_b = b.defined(), eps](const Node& n) {
    const bool need_x = n.needs_grad(0), need_ln = n.needs_grad(1) || n.needs_grad(2), need_w = n.needs_grad(3);
    const bool need_b = has_b && n.needs_grad(4);
    return [x, lw, lb, wd, has_b, eps, need_x, need_ln, need_w, need_b](const Tensor& gy_in) {
      const int64_t width = x.size(-1), out = wd.size(0), rows = width == 0 ? 0 : x.numel() / width;
      Tensor gy = gy_in.contiguous().reshape({rows, out});  // gy: [R, out]
      Tensor gx, glw, glb, gw, gb;
      const DType st = stat_dtype(x.dtype());
      Tensor mean = Tensor::empty({rows}, st, x.device()), rstd = Tensor::empty({rows}, st, x.device());
      Tensor normed = Tensor::empty({rows, width}, x.dtype(), x.device());  // n = layer_norm(x), recomputed: [R, D]
      if (rows > 0)
        SG_FLOAT_TYPES(x.dtype(), "layer_norm_linear",
                       SG_KERNEL(x.device(), layer_norm_forward<T>, x.data<T>(), lw.data<T>(), lb.data<T>(),
                                 normed.data<T>(), mean.data<acc_t<T>>(), rstd.data<acc_t<T>>(), rows, width, eps));
      if (need_w) gw = matmul(gy, normed, true, false);  // [out, D]
      normed = Tensor();
      if (need_b) gb = sum(gy, {0});  // [out]
      if (need_x || need_ln) {
        Tensor gn = matmul(gy, wd);  // [R, D]
        gx = Tensor::empty(x.shape(), x.dtype(), x.device());
        glw = Tensor::empty({width}, x.dtype(), x.device());
        glb = Tensor::empty({width}, x.dtype(), x.device());
        if (rows == 0) {
          glw.fill_(0);
          glb.fill_(0);
        } else {
          SG_FLOAT_TYPES(x.dtype(), "layer_norm_linear",
                         SG_KERNEL(x.device(), layer_norm_backward<T>, x.data<T>(), lw.data<T>(),
                                   mean.data<acc_t<T>>(), rstd.data<acc_t<T>>(), gn.data<T>(), gx.data<T>(),
                                   glw.data<T>(), glb.data<T>(), rows, width));
        }
      }
      std::vector<Tensor> grads{need_x ? gx : Tensor(), need_ln ? glw : Tensor(), need_ln ? glb : Tensor(), gw};
      if (has_b) grads.push_back(gb);
      return grads;
    };
  });
}

}  // namespace sg
