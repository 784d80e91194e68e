// matmul.cpp: (batched) matrix products with transposes as flags.
// C = op(A) @ op(B), op(X) = X or X^T. Backward, for the four flag combinations:
//   gA = g @ op(B)^T          (or op(B) @ g^T when A is stored transposed)
//   gB = op(A)^T @ g          (or g^T @ op(A) when B is stored transposed)
// then summed over broadcast batch dims. A matrix whose last two dims are column-major (e.g. x.transpose(-1,-2))
// is passed to the GEMM with the flag flipped instead of being copied.
#include <cstring>

#include "tensor/ops/common.h"

namespace sg {
namespace {

struct MatOperand {
  Tensor t;        // memory to read (last two dims row-major with leading dim `ld`)
  bool trans;      // as the GEMM should read it
  int64_t ld;
  Shape batch_strides;  // per broadcast batch dim (0 where broadcast)
};

// Makes the last two dims of `x` a plain row-major or column-major matrix, flipping `trans` for the latter.
MatOperand prepare(const Tensor& x, bool trans, const Shape& batch) {
  Tensor t = x;
  const int64_t r = x.size(-2), c = x.size(-1);
  const int64_t sr = x.stride(-2), sc = x.stride(-1);
  MatOperand m;
  if (sc == 1 && (sr == c || r == 1)) {
    m.trans = trans;
    m.ld = c;
  } else if (sr == 1 && (sc == r || c == 1) && r > 1) {
    m.trans = !trans;  // column-major: the transpose is row-major with leading dim r
    m.ld = r;
  } else {
    t = x.contiguous();
    m.trans = trans;
    m.ld = c;
  }
  m.t = t;
  const size_t nb = batch.size(), xb = static_cast<size_t>(t.dim() - 2);
  m.batch_strides.assign(nb, 0);
  for (size_t i = 0; i < xb; ++i)
    m.batch_strides[nb - xb + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return m;
}

template <typename T>
void batched_gemm(const MatOperand& A, const MatOperand& B, T* C, const Shape& batch, int64_t M, int64_t N, int64_t K,
                  Device dev) {
  const int64_t nbatch = shape_numel(batch);
  // A 2-D weight shared by a packed, non-transposed batch: one big GEMM with batch*M rows (nn.Linear).
  bool a_packed = !A.trans && A.ld == K;
  int64_t expect = M * K;
  for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0 && a_packed; --d) {
    a_packed = batch[d] == 1 || A.batch_strides[d] == expect;
    expect *= batch[d];
  }
  bool b_shared = true;
  for (auto s : B.batch_strides) b_shared = b_shared && s == 0;
  if (nbatch > 1 && a_packed && b_shared) {
    SG_KERNEL_GEMM(dev, (profile::GemmShape{nbatch * M, N, K, A.trans, B.trans}), gemm<T>, A.trans, B.trans,
                   nbatch * M, N, K, acc_t<T>(1), A.t.template data<T>(), A.ld, B.t.template data<T>(), B.ld,
                   acc_t<T>(0), C, N);
    return;
  }
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    int64_t rem = bi, oa = 0, ob = 0;
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      int64_t i = rem % batch[d];
      rem /= batch[d];
      oa += i * A.batch_strides[d];
      ob += i * B.batch_strides[d];
    }
    SG_KERNEL_GEMM(dev, (profile::GemmShape{M, N, K, A.trans, B.trans}), gemm<T>, A.trans, B.trans, M, N, K,
                   acc_t<T>(1), A.t.template data<T>() + oa, A.ld, B.t.template data<T>() + ob, B.ld, acc_t<T>(0),
                   C + bi * M * N, N);
  }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_pair("matmul", a, b);
  SG_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: operands must be at least 2-d, got {} and {}", a.shape_str(),
           b.shape_str());
  const int64_t M = ta ? a.size(-1) : a.size(-2), Ka = ta ? a.size(-2) : a.size(-1);
  const int64_t Kb = tb ? b.size(-1) : b.size(-2), N = tb ? b.size(-2) : b.size(-1);
  SG_CHECK(Ka == Kb, "matmul: {}{} @ {}{}: inner sizes differ ({} vs {})", a.shape_str(), ta ? "^T" : "", b.shape_str(),
           tb ? "^T" : "", Ka, Kb);
  if (!ta && b.dim() == 2 && a.dim() > 2) {
    // x [..., M, K] @ W [K, N] (a Linear): one GEMM over all B*M rows instead of a batch of B products.
    // Its backward is then one GEMM for gW as well, rather than B products [K, N] summed over the batch
    // (B times the FLOPs of memory traffic and B tiny GEMMs, the slowest part of a step before).
    Shape ys = a.shape();
    ys.back() = N;
    return matmul(a.reshape({-1, Ka}), b, false, tb).reshape(ys);
  }
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() > 0) {
    if (Ka == 0) {
      out.fill_(0);
    } else {
      MatOperand A = prepare(a.detach(), ta, batch), B = prepare(b.detach(), tb, batch);
      SG_FLOAT_TYPES(a.dtype(), "matmul", batched_gemm<T>(A, B, out.data<T>(), batch, M, N, Ka, a.device()));
    }
  }
  auto replay = [ta, tb](const std::vector<Tensor>& in) { return matmul(in[0], in[1], ta, tb); };
  return record(out, "matmul", {a, b}, replay, [a, b, ta, tb](const Node& n) {
    Tensor ad = a.detach(), bd = b.detach();
    bool ga = n.needs_grad(0), gb = n.needs_grad(1);
    return [ad, bd, ta, tb, ga, gb](const Tensor& g) {
      Tensor gA, gB;
      if (ga) gA = sum_to(ta ? matmul(bd, g, tb, true) : matmul(g, bd, false, !tb), ad.shape());
      if (gb) gB = sum_to(tb ? matmul(g, ad, true, ta) : matmul(ad, g, !ta, false), bd.shape());
      return std::vector<Tensor>{gA, gB};
    };
  });
}

// linear: y = x @ w^T + bias + residual as one node, bias and residual optional. On the CPU in f32 one oneDNN
// matmul adds bias and residual in its epilogue; elsewhere the bias (plus the residual) is written into the
// output first and the GEMM adds its product to it (beta = 1): one writing pass and one buffer, where matmul,
// then add(bias), then add(residual) made three buffers and read the output twice more.
// A pre-LN block's residual stream uses it: h = x + out_proj(a) is linear(a, W, b, x).
// Backward, with gy: [R, out] and x as [R, in]:  gx = gy w,  gw = gy^T x,  gbias = sum_rows(gy),  gresidual = gy.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual) {
  const char* op = "linear";
  check_pair(op, x, w);
  check_dim(op, w, 2, "weight");
  SG_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input {} does not match weight {} (in_features {})",
           x.shape_str(), w.shape_str(), w.size(1));
  const int64_t K = w.size(1), N = w.size(0);
  Shape ys = x.shape();
  ys.back() = N;  // y: [..., out]
  if (bias.defined()) {
    check_pair(op, x, bias);
    SG_CHECK(bias.dim() == 1 && bias.size(0) == N, "linear: bias {} does not match weight {}", bias.shape_str(),
             w.shape_str());
  }
  if (residual.defined()) check_residual(op, residual, x, w);
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));  // R: every dim but the last
  Tensor x2 = x.detach().reshape({rows, K}), wd = w.detach();  // x2: [R, in], wd: [out, in]
  const bool product = rows > 0 && N > 0 && K > 0;  // else y is bias + residual alone (or empty, or zeros)
  MatOperand A, B;
  if (product) A = prepare(x2, false, {}), B = prepare(wd, true, {});
  Tensor y;  // y: [..., out]
  // On the CPU in f32: one oneDNN matmul that adds bias and residual in its epilogue (cpu::linear_f32).
  if (product && x.device() == Device::CPU && x.dtype() == DType::F32 &&
      std::strcmp(cpu::gemm_backend(), "onednn") == 0 && (!bias.defined() || bias.is_contiguous()) &&
      (!residual.defined() || residual.is_contiguous())) {
    Tensor out = Tensor::empty(ys, x.dtype(), x.device());
    profile::KernelScope timed("gemm", Device::CPU, profile::GemmShape{rows, N, K, A.trans, B.trans});
    if (cpu::linear_f32(A.trans, B.trans, rows, N, K, A.t.data<float>(), A.ld, B.t.data<float>(), B.ld,
                        bias.defined() ? bias.data<float>() : nullptr,
                        residual.defined() ? residual.data<float>() : nullptr, out.data<float>()))
      y = out;
    else
      timed.cancel();  // no JIT kernel for these strides: the general way below
  }
  if (!y.defined()) {  // a fresh buffer holding bias + residual before the GEMM adds its product (beta = 1)
    if (residual.defined() && bias.defined()) {
      NoGradGuard ng;
      y = add(residual.detach(), bias.detach());
    } else if (residual.defined()) {
      y = residual.detach().clone();
    } else if (bias.defined()) {
      y = bias.detach().expand(ys).clone();  // one pass of row copies
    } else {
      y = Tensor::empty(ys, x.dtype(), x.device());
    }
    const bool prefilled = residual.defined() || bias.defined();
    if (product) {
      SG_FLOAT_TYPES(x.dtype(), "linear",
                     SG_KERNEL_GEMM(x.device(), (profile::GemmShape{rows, N, K, A.trans, B.trans}), gemm<T>,
                                    A.trans, B.trans, rows, N, K, acc_t<T>(1), A.t.template data<T>(), A.ld,
                                    B.t.template data<T>(), B.ld, acc_t<T>(prefilled ? 1 : 0), y.data<T>(), N));
    } else if (y.numel() > 0 && !prefilled) {
      y.fill_(0);  // K = 0: no products
    }
  }
  auto replay = [](const std::vector<Tensor>& in) {
    return linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), in.size() > 3 ? in[3] : Tensor());
  };
  std::vector<Tensor> inputs{x, w};  // bias and residual only where given; bias undefined when only residual is
  if (bias.defined() || residual.defined()) inputs.push_back(bias);
  if (residual.defined()) inputs.push_back(residual);
  return record(y, op, inputs, replay, [x2, wd, x_shape = x.shape(), rows, N, n_in = inputs.size()](const Node& n) {
    const bool need_x = n.needs_grad(0), need_w = n.needs_grad(1), need_b = n.needs_grad(2),
               need_r = n.needs_grad(3);
    return [x2, wd, x_shape, rows, N, n_in, need_x, need_w, need_b, need_r](const Tensor& gy_in) {
      Tensor gy = gy_in.contiguous().reshape({rows, N});  // gy: [R, out]
      Tensor gx, gw, gb;
      if (need_x) gx = matmul(gy, wd).reshape(x_shape);   // [..., in]
      if (need_w) gw = matmul(gy, x2, true, false);        // [out, in]
      if (need_b) gb = sum(gy, {0});                       // [out]
      std::vector<Tensor> grads{gx, gw, gb, need_r ? gy_in : Tensor()};
      grads.resize(n_in);
      return grads;
    };
  });
}

}  // namespace sg
