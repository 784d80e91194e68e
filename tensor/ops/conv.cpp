// conv.cpp: patch embedding = Conv2d with stride = kernel = P, written as im2col + one GEMM.
//   cols: [B*Np, C*P*P],  out = cols @ W^T + bias   (W viewed as [D, C*P*P])
//   gW = g^T @ cols,  gb = sum_rows g,  gx = col2im(g @ W)
#include "tensor/ops/common.h"

namespace sg {

Tensor patch_embed(const Tensor& x_in, const Tensor& weight, const Tensor& bias) {
  const char* op = "patch_embed";
  check_pair(op, x_in, weight);
  check_pair(op, x_in, bias);
  check_dim(op, x_in, 4, "input [B, C, H, W]");
  check_dim(op, weight, 4, "weight [D, C, P, P]");
  const int64_t B = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
  const int64_t D = weight.size(0), P = weight.size(2);
  SG_CHECK(weight.size(1) == C && weight.size(3) == P,
           "patch_embed: weight {} does not match input {} (expects [D, {}, P, P])", weight.shape_str(),
           x_in.shape_str(), C);
  SG_CHECK(P > 0 && H % P == 0 && W % P == 0, "patch_embed: image {}x{} is not divisible into {}x{} patches", H, W, P, P);
  SG_CHECK(bias.shape() == Shape{D}, "patch_embed: bias {} must be [{}]", bias.shape_str(), D);
  const int64_t Np = (H / P) * (W / P), K = C * P * P;
  Tensor x = x_in.detach().contiguous();
  Tensor cols = Tensor::empty({B * Np, K}, x.dtype(), x.device());
  Tensor out;
  {
    NoGradGuard ng;
    if (cols.numel() > 0)
      SG_FLOAT_TYPES(x.dtype(), op,
                     SG_KERNEL(x.device(), im2col_patches<T>, x.data<T>(), cols.data<T>(), B, C, H, W, P));
    out = add(matmul(cols, weight.detach().reshape({D, K}), false, true), bias.detach()).reshape({B, Np, D});
  }
  Shape xs = x.shape(), ws = weight.shape();
  auto replay = [](const std::vector<Tensor>& in) { return patch_embed(in[0], in[1], in[2]); };
  return record(out, op, {x_in, weight, bias}, replay, [cols, w = weight.detach(), xs, ws, B, C, H, W, P, Np, D, K](const Node& n) {
    bool gx_needed = n.needs_grad(0);
    Tensor c = n.needs_grad(1) ? cols : Tensor();  // the patches are kept only when the weight needs them
    return [c, w, xs, ws, B, C, H, W, P, Np, D, K, gx_needed](const Tensor& g_in) {
      Tensor g = g_in.reshape({B * Np, D});
      Tensor gx, gw;
      if (gx_needed) {
        Tensor gcols = matmul(g, w.reshape({D, K})).contiguous();
        gx = Tensor::empty(xs, g.dtype(), g.device());
        SG_FLOAT_TYPES(g.dtype(), "patch_embed",
                       SG_KERNEL(g.device(), col2im_patches<T>, gcols.data<T>(), gx.data<T>(), B, C, H, W, P));
      }
      if (c.defined()) gw = matmul(g, c, true, false).reshape(ws);
      return std::vector<Tensor>{gx, gw, sum(g, {0})};
    };
  });
}

}  // namespace sg
