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

// The value of the sigmoid loss when all B x B logits are equal to the best constant (collapse).
double collapsed_sigmoid_loss(int64_t B, double positives_per_row = 1.0);

}  // namespace sg
