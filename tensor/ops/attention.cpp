// attention.cpp: fused non-causal scaled dot-product attention (formulas in cpu/attention.cpp).
#include <cmath>

#include "tensor/ops/common.h"

namespace sg {
namespace {
// The strides of a [B, H, rows, Dh] tensor's heads (the last dim unit-stride), for cpu::AttentionLayout.
cpu::HeadStrides heads_of(const Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2)}; }

// The FLOPs the profile counts for an attention over BH heads of N queries and M keys (tensor/profile.h):
// forward S = q k^T and o = P v; the backward recomputes S and runs three more products, 5 in all.
double attention_forward_flops(int64_t BH, int64_t N, int64_t M, int64_t Dh) { return 4.0 * BH * N * M * Dh; }
double attention_backward_flops(int64_t BH, int64_t N, int64_t M, int64_t Dh) { return 10.0 * BH * N * M * Dh; }
}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& mask_in,
                                    double scale) {
  const char* op = "attention";
  check_pair(op, q_in, k_in);
  check_pair(op, q_in, v_in);
  check_dim(op, q_in, 4, "q [B, H, N, Dh]");
  check_dim(op, k_in, 4, "k [B, H, M, Dh]");
  check_dim(op, v_in, 4, "v [B, H, M, Dh]");
  const int64_t B = q_in.size(0), H = q_in.size(1), N = q_in.size(2), Dh = q_in.size(3), M = k_in.size(2);
  SG_CHECK(k_in.size(0) == B && k_in.size(1) == H && k_in.size(3) == Dh && v_in.shape() == k_in.shape(),
           "attention: q {}, k {}, v {} do not agree (need k, v: [{}, {}, M, {}])", q_in.shape_str(), k_in.shape_str(),
           v_in.shape_str(), B, H, Dh);
  SG_CHECK(M > 0, "attention: no keys (k has shape {})", k_in.shape_str());
  if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  // The CPU reads and writes heads through strides: q, k, v stay views of the projections' outputs, o and the
  // gradients are allocated as [B, N, H, Dh] (so merging heads is a free reshape). CUDA takes packed
  // [B, H, N, Dh] buffers.
  const bool strided = q_in.device() == Device::CPU;
  auto operand = [strided](const Tensor& t) { return strided && t.stride(3) == 1 ? t.detach() : t.detach().contiguous(); };
  // A fresh [B, H, rows, Dh] buffer: on the strided path a [B, rows, H, Dh] tensor seen through transpose(1, 2).
  auto heads_buffer = [strided, B, H, Dh](int64_t rows, const Tensor& like) {
    if (!strided) return Tensor::empty({B, H, rows, Dh}, like.dtype(), like.device());
    return Tensor::empty({B, rows, H, Dh}, like.dtype(), like.device()).transpose(1, 2);
  };
  Tensor q = operand(q_in), k = operand(k_in), v = operand(v_in);
  Tensor mask;
  MaskView mv;
  if (mask_in.defined()) {
    check_pair(op, q_in, mask_in);
    SG_CHECK(!mask_in.requires_grad(), "attention: the additive mask is not differentiable; detach it ({})",
             mask_in.shape_str());
    SG_CHECK(mask_in.dim() <= 4, "attention: mask {} has more than 4 dims", mask_in.shape_str());
    Shape full{B, H, N, M};
    SG_CHECK(broadcast_shapes(mask_in.shape(), full, "attention mask") == full,
             "attention: mask {} does not broadcast to [{}, {}, {}, {}]", mask_in.shape_str(), B, H, N, M);
    mask = mask_in.detach().expand(full);
    mv = MaskView{mask.data_ptr(), H, mask.stride(0), mask.stride(1), mask.stride(2), mask.stride(3)};
  }
  Tensor o = heads_buffer(N, q);
  Tensor lse = Tensor::empty({B, H, N}, stat_dtype(q.dtype()), q.device());  // f32 for bf16
  if (o.numel() > 0) {
    if (strided) {
      profile::KernelScope timed("attention_forward", Device::CPU, attention_forward_flops(B * H, N, M, Dh));
      const cpu::AttentionLayout L{H, heads_of(q), heads_of(k), heads_of(v), heads_of(o), {}, {}, {}, {}};
      SG_FLOAT_TYPES(q.dtype(), op,
                     cpu::attention_forward_strided<T>(q.data<T>(), k.data<T>(), v.data<T>(), mv, o.data<T>(),
                                                       lse.data<acc_t<T>>(), L, B * H, N, M, Dh, scale));
    } else {
      SG_FLOAT_TYPES(q.dtype(), op,
                     SG_KERNEL_FLOPS(q.device(), attention_forward_flops(B * H, N, M, Dh), attention_forward<T>,
                                     q.data<T>(), k.data<T>(), v.data<T>(), mv, o.data<T>(), lse.data<acc_t<T>>(),
                                     B * H, N, M, Dh, scale));
    }
  }
  // replay: the same attention (resolved scale, the mask in the inputs' dtype and on their device)
  auto replay = [m = mask_in.defined() ? mask_in.detach() : Tensor(), scale](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], m.defined() ? m.to(in[0].device()).to(in[0].dtype()) : m,
                                        scale);
  };
  return record(o, op, {q_in, k_in, v_in}, replay,
                [q, k, v, mask, mv, o, lse, B, H, N, M, Dh, scale, strided, operand, heads_buffer](const Node&) {
    Tensor os = o.detach();
    return [q, k, v, mask, mv, os, lse, B, H, N, M, Dh, scale, strided, operand, heads_buffer](const Tensor& g_in) {
      Tensor g = operand(g_in);
      Tensor gq = heads_buffer(N, q), gk = heads_buffer(M, k), gv = heads_buffer(M, v);
      if (g.numel() == 0) {
        gk.fill_(0);
        gv.fill_(0);
      } else if (strided) {
        profile::KernelScope timed("attention_backward", Device::CPU, attention_backward_flops(B * H, N, M, Dh));
        const cpu::AttentionLayout L{H,           heads_of(q),  heads_of(k),  heads_of(v), heads_of(os),
                                     heads_of(g), heads_of(gq), heads_of(gk), heads_of(gv)};
        SG_FLOAT_TYPES(q.dtype(), "attention",
                       cpu::attention_backward_strided<T>(q.data<T>(), k.data<T>(), v.data<T>(), mv, os.data<T>(),
                                                          lse.data<acc_t<T>>(), g.data<T>(), gq.data<T>(),
                                                          gk.data<T>(), gv.data<T>(), L, B * H, N, M, Dh, scale));
      } else {
        SG_FLOAT_TYPES(q.dtype(), "attention",
                       SG_KERNEL_FLOPS(q.device(), attention_backward_flops(B * H, N, M, Dh), attention_backward<T>,
                                       q.data<T>(), k.data<T>(), v.data<T>(), mv, os.data<T>(), lse.data<acc_t<T>>(),
                                       g.data<T>(), gq.data<T>(), gk.data<T>(), gv.data<T>(), B * H, N, M, Dh, scale));
      }
      return std::vector<Tensor>{gq, gk, gv};
    };
  });
}

}  // namespace sg

// ---- self_attention_qkv: attention over the heads of one packed [B, N, 3D] projection (q; k; v) ----
namespace sg {

Tensor self_attention_qkv(const Tensor& qkv_in, int64_t heads) {
  const char* op = "self_attention_qkv";
  check_float(op, qkv_in);
  check_dim(op, qkv_in, 3, "qkv [B, N, 3D]");
  const int64_t B = qkv_in.size(0), N = qkv_in.size(1), D3 = qkv_in.size(2);
  SG_CHECK(heads > 0 && D3 % 3 == 0 && (D3 / 3) % heads == 0,
           "self_attention_qkv: qkv {} must be [B, N, 3D] with D divisible by {} heads", qkv_in.shape_str(), heads);
  SG_CHECK(N > 0, "self_attention_qkv: no tokens (qkv has shape {})", qkv_in.shape_str());
  const int64_t D = D3 / 3, H = heads, Dh = D / H;
  if (qkv_in.device() != Device::CPU) {
    // CUDA: the same function from differentiable views and the packed-head kernels.
    auto heads_of_part = [&](int64_t part) {
      return qkv_in.narrow(2, part * D, D).reshape({B, N, H, Dh}).transpose(1, 2);
    };
    Tensor o = scaled_dot_product_attention(heads_of_part(0), heads_of_part(1), heads_of_part(2));
    return o.transpose(1, 2).reshape({B, N, D});
  }
  // CPU: the strided kernels read q, k, v from qkv and write o as [B, N, H, Dh] = [B, N, D]; the
  // backward writes gq, gk, gv into one [B, N, 3D] gradient, so the projection's backward gets it whole.
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  Tensor qkv = qkv_in.detach().contiguous();
  Tensor o = Tensor::empty({B, N, D}, qkv.dtype(), qkv.device());
  Tensor lse = Tensor::empty({B, H, N}, stat_dtype(qkv.dtype()), qkv.device());  // f32 for bf16
  const cpu::HeadStrides part{N * D3, Dh, D3}, merged{N * D, Dh, D};  // (b, h, i) strides
  {
    profile::KernelScope timed("attention_forward", Device::CPU, attention_forward_flops(B * H, N, N, Dh));
    const cpu::AttentionLayout L{H, part, part, part, merged, {}, {}, {}, {}};
    SG_FLOAT_TYPES(qkv.dtype(), op,
                   cpu::attention_forward_strided<T>(qkv.data<T>(), qkv.data<T>() + D, qkv.data<T>() + 2 * D,
                                                     MaskView{}, o.data<T>(), lse.data<acc_t<T>>(), L, B * H, N, N,
                                                     Dh, scale));
  }
  auto replay = [heads](const std::vector<Tensor>& in) { return self_attention_qkv(in[0], heads); };
  return record(o, op, {qkv_in}, replay, [qkv, o, lse, B, H, N, D, D3, Dh, scale, part, merged](const Node&) {
    Tensor os = o.detach();
    return [qkv, os, lse, B, H, N, D, D3, Dh, scale, part, merged](const Tensor& g_in) {
      Tensor g = g_in.contiguous();  // [B, N, D]
      Tensor gqkv = Tensor::empty({B, N, D3}, qkv.dtype(), qkv.device());
      profile::KernelScope timed("attention_backward", Device::CPU, attention_backward_flops(B * H, N, N, Dh));
      const cpu::AttentionLayout L{H, part, part, part, merged, merged, part, part, part};
      SG_FLOAT_TYPES(qkv.dtype(), "self_attention_qkv", {
        const T* p = qkv.data<T>();
        T* gp = gqkv.data<T>();
        cpu::attention_backward_strided<T>(p, p + D, p + 2 * D, MaskView{}, os.data<T>(), lse.data<acc_t<T>>(),
                                           g.data<T>(), gp, gp + D, gp + 2 * D, L, B * H, N, N, Dh, scale);
      });
      return std::vector<Tensor>{gqkv};
    };
  });
}

}  // namespace sg
