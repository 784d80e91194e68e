// sigmoid_loss.cpp: SigLIP's pairwise sigmoid loss fused with its logits (kernels: cpu/sigmoid_loss.cpp,
// cuda/sigmoid_loss.cu; formulas in base/kernel_api.inc). The value is siglip/loss.h's
// sigmoid_loss(exp(t') * img @ txt^T + b, z) with z_ij = +1 where groups[i] == groups[j], -1 elsewhere, but the
// [B, B] logits are never stored: forward and backward recompute them tile by tile. Saved for backward: the
// inputs only. t' and b stay in device memory (the kernels read them: no host sync). bfloat16 inputs are widened
// to float32, computed, and the loss and gradients rounded to bfloat16 once (the kernels take float or double).
#include "tensor/ops/common.h"

namespace sg {
namespace {

constexpr const char* kOp = "sigmoid_loss_fused";

// The float operands: float32, float64 or bfloat16.
void check_floating(const Tensor& t, const char* what) {
  check_defined(kOp, t, what);
  SG_CHECK(is_floating(t.dtype()), "{}: {} is {}: expected float32, float64 or bfloat16", kOp, what, t.describe());
}

// img, txt: [B, D] (same dtype); logit_scale, logit_bias: one element each; groups: int64 [B]; one device.
void check_inputs(const Tensor& img, const Tensor& txt, const Tensor& scale, const Tensor& bias, const Tensor& groups) {
  check_floating(img, "img");
  check_floating(txt, "txt");
  check_floating(scale, "logit_scale");
  check_floating(bias, "logit_bias");
  check_defined(kOp, groups, "groups");
  check_dim(kOp, img, 2, "img [B, D]");
  check_dim(kOp, txt, 2, "txt [B, D]");
  SG_CHECK(img.shape() == txt.shape(), "{}: img {} and txt {} must both be [B, D] (same B and D)", kOp,
           img.shape_str(), txt.shape_str());
  const int64_t B = img.size(0), D = img.size(1);
  SG_CHECK(B > 0 && D > 0, "{}: img and txt {} must have at least one row and one column", kOp, img.shape_str());
  SG_CHECK(scale.numel() == 1, "{}: logit_scale must have one element, got shape {}", kOp, scale.shape_str());
  SG_CHECK(bias.numel() == 1, "{}: logit_bias must have one element, got shape {}", kOp, bias.shape_str());
  SG_CHECK(txt.dtype() == img.dtype() && scale.dtype() == img.dtype() && bias.dtype() == img.dtype(),
           "{}: dtypes differ: img {}, txt {}, logit_scale {}, logit_bias {}", kOp, img.describe(), txt.describe(),
           scale.describe(), bias.describe());
  SG_CHECK(groups.dtype() == DType::I64 && groups.dim() == 1 && groups.size(0) == B,
           "{}: groups must be int64 [{}] (one group id per row of img {}), got {}", kOp, B, img.shape_str(),
           groups.describe());
  const Device dev = img.device();
  SG_CHECK(txt.device() == dev && scale.device() == dev && bias.device() == dev && groups.device() == dev,
           "{}: tensors on different devices: img {} ({}), txt {} ({}), logit_scale ({}), logit_bias ({}), groups ({})",
           kOp, img.shape_str(), device_name(dev), txt.shape_str(), device_name(txt.device()),
           device_name(scale.device()), device_name(bias.device()), device_name(groups.device()));
}

}  // namespace

Tensor sigmoid_loss_fused(const Tensor& img_in, const Tensor& txt_in, const Tensor& logit_scale,
                          const Tensor& logit_bias, const Tensor& groups_in) {
  check_inputs(img_in, txt_in, logit_scale, logit_bias, groups_in);
  const int64_t B = img_in.size(0), D = img_in.size(1);
  const DType dt = img_in.dtype(), compute = stat_dtype(dt);  // bf16 computes in f32
  // img, txt: [B, D]; scale, bias: one element; groups: [B] int64 -- all contiguous, in `compute`, no graph
  auto operand = [compute](const Tensor& t) { return t.detach().to(compute).contiguous(); };
  Tensor img = operand(img_in), txt = operand(txt_in), scale = operand(logit_scale), bias = operand(logit_bias);
  Tensor groups = groups_in.detach().contiguous();
  Tensor loss = Tensor::empty({}, compute, img.device());  // a scalar, like sum()
  SG_F32_F64_TYPES(compute, kOp,
                   SG_KERNEL(img.device(), sigmoid_loss_forward<T>, img.data<T>(), txt.data<T>(),
                             groups.data<int64_t>(), scale.data<T>(), bias.data<T>(), loss.data<T>(), B, D));
  auto replay = [groups](const std::vector<Tensor>& in) {
    return sigmoid_loss_fused(in[0], in[1], in[2], in[3], groups.to(in[0].device()));
  };
  return record(loss.to(dt), kOp, {img_in, txt_in, logit_scale, logit_bias}, replay,
                [img, txt, scale, bias, groups, B, D, dt](const Node&) {
                  return [img, txt, scale, bias, groups, B, D, dt](const Tensor& g_in) {
                    Tensor g = g_in.to(img.dtype()).contiguous();  // the incoming scalar gradient, read by the kernel
                    Tensor g_img = Tensor::empty(img.shape(), img.dtype(), img.device());
                    Tensor g_txt = Tensor::empty(txt.shape(), txt.dtype(), txt.device());
                    Tensor g_scale = Tensor::empty(scale.shape(), scale.dtype(), scale.device());
                    Tensor g_bias = Tensor::empty(bias.shape(), bias.dtype(), bias.device());
                    SG_F32_F64_TYPES(img.dtype(), kOp,
                                     SG_KERNEL(img.device(), sigmoid_loss_backward<T>, img.data<T>(), txt.data<T>(),
                                               groups.data<int64_t>(), scale.data<T>(), bias.data<T>(), g.data<T>(),
                                               g_img.data<T>(), g_txt.data<T>(), g_scale.data<T>(), g_bias.data<T>(),
                                               B, D));
                    return std::vector<Tensor>{g_img.to(dt), g_txt.to(dt), g_scale.to(dt), g_bias.to(dt)};
                  };
                });
}

}  // namespace sg
