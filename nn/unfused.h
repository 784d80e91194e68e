// unfused.h: a scoped switch from the fused ops to the primitive ops they stand for, to see (siglip graph
// --unfused) or check each piece on its own. While an UnfusedGuard is alive on this thread:
//   attention (nn::attention, used by SelfAttention and the MAP head's MultiheadAttention) is
//     softmax(q k^T * scale) v   as matmul, mul, softmax, matmul     instead of scaled_dot_product_attention;
//   an encoder layer's layer norms are separate layer_norm ops, and q, k, v three Linears with heads split as
//     views   instead of layer_norm_linear (norm fused into the projection) and self_attention_qkv;
//   the MLP's second half (nn::MLP) is bias_gelu, then fc2 as a Linear   instead of bias_gelu_linear;
//   the sigmoid loss (siglip/loss.h's sigmoid_loss_of) is
//     logits = exp(t') img txt^T + b, then -(1/B) sum log_sigmoid(z * logits)   instead of sigmoid_loss_fused.
// The values agree within float rounding; the unfused graph stores the [B, H, N, M] probabilities and the
// [B, B] logits, every layer norm's output and the GELU output of every MLP, which the fused ops never do.
#pragma once

namespace sg::nn {

class UnfusedGuard {
 public:
  explicit UnfusedGuard(bool on = true);
  ~UnfusedGuard();
  UnfusedGuard(const UnfusedGuard&) = delete;
  UnfusedGuard& operator=(const UnfusedGuard&) = delete;

 private:
  bool previous_;
};

bool unfused();  // true while an UnfusedGuard(true) is the innermost guard on this thread

}  // namespace sg::nn
