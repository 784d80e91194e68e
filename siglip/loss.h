// loss.h: the pairwise sigmoid loss of SigLIP and, for comparison, CLIP's softmax loss.
#pragma once
#include <string>
#include <vector>

#include "siglip/choices.h"
#include "tensor/tensor.h"

namespace sg {

// labels z [B, B]: +1 for positive pairs, -1 elsewhere.
// sigmoid:  L = -(1/B) sum_ij log sigmoid(z_ij * logits_ij)
Tensor sigmoid_loss(const Tensor& logits, const Tensor& labels);
// softmax (CLIP) with several positives per row allowed: the target of row i is uniform over its positives;
// L = (CE(rows) + CE(columns)) / 2. The bias b cancels in a softmax, so it gets no gradient.
Tensor softmax_loss(const Tensor& logits, const Tensor& labels);

// Which pairs are positive: Diagonal (the paper: only the matching pair), Caption (identical captions are
// positives), Label (same class label, where the data has one; -1 labels fall back to the diagonal).
Tensor positive_labels(Positives mode, const std::vector<std::string>& captions, const std::vector<int>& labels);
// The same positives as group ids for sigmoid_loss_fused (tensor/ops.h): int64 [B], rows i and j positive
// exactly where positive_labels(...)[i, j] = +1. Diagonal: 0..B-1; Caption: one id per distinct caption
// (numbered in order of first appearance); Label: the class label, with a -1 label giving a row an id of its
// own (above every label) so that it matches only itself.
Tensor positive_groups(Positives mode, const std::vector<std::string>& captions, const std::vector<int>& labels);

// logits[i, j] = exp(t') <img_i, txt_j> + b: img [B_img, D], txt [B_txt, D], t' and b one element each.
Tensor pairwise_logits(const Tensor& img, const Tensor& txt, const Tensor& logit_scale, const Tensor& logit_bias);
// z [B, B] of the logits' dtype and device: +1 where groups[i] == groups[j], -1 elsewhere (groups: int64 [B]).
Tensor labels_from_groups(const Tensor& groups, DType dtype, Device device);
// SigLIP's loss as the trainer computes it: sigmoid_loss_fused(img, txt, t', b, groups), or, under an
// nn::UnfusedGuard (nn/unfused.h), sigmoid_loss(pairwise_logits(...), labels_from_groups(...)) from its
// primitive ops (the [B, B] logits then exist as a node, in module "logits").
Tensor sigmoid_loss_of(const Tensor& img, const Tensor& txt, const Tensor& logit_scale, const Tensor& logit_bias,
                       const Tensor& groups);

// The value of the sigmoid loss when all B x B logits are equal to the best constant (collapse).
double collapsed_sigmoid_loss(int64_t B, double positives_per_row = 1.0);

}  // namespace sg
