// mlp.cpp: the second half of a Transformer MLP as one op, to keep activation memory down:
//   y = gelu(h + b1) @ w2^T + b2 + r    h: [..., F] (fc1's output before its bias), b1: [F], w2: [D, F], b2: [D],
//                                       r: [..., D] (the residual stream, optional; its gradient is gy)
// As separate ops (bias_gelu, then linear) the graph keeps both h and a = gelu(h + b1), two [..., F] tensors
// per layer; this op keeps only h and recomputes a in the backward (one GELU pass), as activation
// checkpointing does for a whole layer:
//   a = gelu(h + b1),  gw2 = gy^T a,  gb2 = sum_rows(gy),  ga = gy w2,  gh = ga * gelu'(h + b1),  gb1 = sum_rows(gh)
#include "tensor/ops/common.h"

namespace sg {

Tensor bias_gelu_linear(const Tensor& h_in, const Tensor& b1, const Tensor& w2, const Tensor& b2,
                        const Tensor& residual) {
  const char* op = "bias_gelu_linear";
  check_pair(op, h_in, b1);
  check_pair(op, h_in, w2);
  check_dim(op, w2, 2, "w2 [D, F]");
  SG_CHECK(h_in.dim() >= 1 && b1.dim() == 1 && b1.size(0) == h_in.size(-1) && w2.size(1) == h_in.size(-1),
           "bias_gelu_linear: h {}, b1 {} and w2 {} do not agree (need h: [..., F], b1: [F], w2: [D, F])",
           h_in.shape_str(), b1.shape_str(), w2.shape_str());
  if (b2.defined()) {
    check_pair(op, h_in, b2);
    SG_CHECK(b2.dim() == 1 && b2.size(0) == w2.size(0), "bias_gelu_linear: b2 {} does not match w2 {} (need [{}])",
             b2.shape_str(), w2.shape_str(), w2.size(0));
  }
  if (residual.defined()) check_residual(op, residual, h_in, w2);
  Tensor h = h_in.detach().contiguous(), b1d = b1.detach().contiguous(), w2d = w2.detach(), b2d = b2.defined() ? b2.detach() : b2;
  Tensor y;
  {
    NoGradGuard ng;
    y = linear(bias_gelu(h, b1d), w2d, b2d, residual);  // a = gelu(h + b1) lives only until the GEMM has read it
  }
  auto replay = [](const std::vector<Tensor>& in) {
    return bias_gelu_linear(in[0], in[1], in[2], in.size() > 3 ? in[3] : Tensor(), in.size() > 4 ? in[4] : Tensor());
  };
  std::vector<Tensor> inputs{h_in, b1, w2};  // b2 and the residual only where given (b2 undefined when only r is)
  if (b2.defined() || residual.defined()) inputs.push_back(b2);
  if (residual.defined()) inputs.push_back(residual);
  return record(y, op, inputs, replay, [h, b1d, w2d, has_b2 = b2.defined(), n_in = inputs.size()](const Node& n) {
    const bool need_h = n.needs_grad(0), need_b1 = n.needs_grad(1), need_w2 = n.needs_grad(2);
    const bool need_b2 = has_b2 && n.needs_grad(3), need_r = n.needs_grad(4);
    return [h, b1d, w2d, n_in, need_h, need_b1, need_w2, need_b2, need_r](const Tensor& gy_in) {
      const int64_t F = h.size(-1), D = w2d.size(0), rows = F == 0 ? 0 : h.numel() / F;
      Tensor gy = gy_in.contiguous().reshape({rows, D});  // gy: [R, D]
      Tensor gh, gb1, gw2, gb2;
      if (need_w2) gw2 = matmul(gy, bias_gelu(h, b1d).reshape({rows, F}), true, false);  // [D, F], a recomputed
      if (need_b2) gb2 = sum(gy, {0});                                                    // [D]
      if (need_h || need_b1) {
        // ga = gy w2: [R, F], then gh = ga * gelu'(h + b1) written over ga (the kernel reads each element
        // before writing it), so the backward holds one [R, F] buffer at a time besides h.
        // gb1 = sum_rows(gh): [F], summed in the same pass.
        Tensor ga = matmul(gy, w2d);
        if (need_b1) gb1 = ga.numel() > 0 ? Tensor::empty(b1d.shape(), b1d.dtype(), b1d.device()) : zeros_like(b1d);
        if (ga.numel() > 0)
          SG_FLOAT_TYPES(h.dtype(), "bias_gelu_linear",
                         SG_KERNEL(h.device(), bias_gelu_backward<T>, h.data<T>(), b1d.data<T>(), ga.data<T>(),
                                   ga.data<T>(), need_b1 ? gb1.data<T>() : nullptr, rows, F));
        gh = ga.reshape(h.shape());
      }
      std::vector<Tensor> grads{need_h ? gh : Tensor(), gb1, gw2, gb2, need_r ? gy_in : Tensor()};
      grads.resize(n_in);
      return grads;
    };
  });
}

}  // namespace sg
