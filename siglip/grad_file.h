// grad_file.h: one forward and backward of SigLIP and its training loss on a batch from a file, with every
// parameter's gradient written under its Hugging Face name, for comparison with transformers (`siglip grad`,
// scripts/compare_grads.py).
//
//   batch file (transformers' input names):
//     pixel_values  F32 [B, C, H, W]   images in [-1, 1], C, H, W as the checkpoint's config
//     input_ids     I64 or I32 [B, L]  token ids, L <= max_position_embeddings (the trainer uses L = max)
//   grad file (all F32):
//     loss              []       -(1/B) sum_ij log sigmoid(z_ij logits_ij), z = +1 on the diagonal, -1 elsewhere
//     logits_per_image  [B, B]   exp(t') x_i . y_j + b
//     image_embeds      [B, D]   x, L2-normalised
//     text_embeds       [B, D]   y, L2-normalised
//     <parameter name>  dL/dparameter, e.g. vision_model.embeddings.patch_embedding.weight, logit_scale
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "siglip/loader.h"
#include "siglip/model.h"

namespace sg {

struct GradInputs {
  Tensor pixel_values;  // f32 [B, C, H, W], CPU
  Tensor input_ids;     // int64 [B, L], CPU
};

// Reads and checks a batch file against `config`: a missing tensor, a wrong dtype or shape, or a token id outside
// the vocabulary throws sg::Error naming the file, the tensor and the shapes.
GradInputs load_grad_inputs(const std::string& path, const SiglipConfig& config);
// Writes a batch (images as pixel_values, ids as input_ids int64) with `metadata`.
void save_grad_inputs(const std::string& path, const Batch& batch, const std::map<std::string, std::string>& metadata);

// The gradients of the sigmoid training loss (diagonal positives, the sum over all B x B pairs divided by B, as
// the trainer computes it: sigmoid_loss_fused) with respect to every parameter that requires one.
struct GradResult {
  Tensor loss;                                            // []
  Tensor logits_per_image, image_embeds, text_embeds;     // [B, B], [B, D], [B, D]
  std::vector<std::pair<std::string, Tensor>> gradients;  // (HF name, gradient), in the model's order
  std::vector<std::pair<std::string, Tensor>> file_tensors() const;  // the four outputs + gradients, f32
};
GradResult compute_gradients(SiglipModel& model, const GradInputs& inputs);

}  // namespace sg
