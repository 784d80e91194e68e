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
