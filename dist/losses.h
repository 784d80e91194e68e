// losses.h: SigLIP's sigmoid loss and CLIP's softmax loss over a global batch split between ranks.
// Rank r holds rows[r] consecutive examples of the global batch of B = sum(rows): its image and text embeddings
// img, txt [rows[r], D] and their positive group ids (int64 [rows[r]], computed over the whole global batch, as
// siglip/loss.h's positive_groups gives them, so that ids mean the same on every rank).
// Each returns this rank's share of the global loss: the shares sum over ranks to the one-process loss of the
// whole batch, and backward on every rank's share gives each rank the gradients of that global loss with
// respect to its own embeddings, logit_scale and logit_bias (the scale's and bias's summed over ranks are the
// global ones). All ranks must call together (collective).
#pragma once
#include <vector>

#include "dist/communicator.h"

namespace sg::dist {

// The chunked sigmoid loss (Zhai et al. 2023, section 3.3). Rank r's share is
//   -(1/B) sum_{i in rank r} sum_{j in all ranks} log sigmoid(z_ij (exp(t') <img_i, txt_j> + b)),
// z_ij = +1 where groups agree, -1 elsewhere. Forward: the text blocks (with their group ids) travel around the
// ring rank -> rank + 1 in D - 1 steps; each step computes one [rows[r], rows[owner]] block of logits and its
// loss, so the loss needs O(b^2) memory per rank. The received blocks are kept for backward (O(B D)), where the
// gradient of each block travels the other way, rank -> rank - 1, gathering every rank's contribution, and arrives
// back at its owner after D - 1 steps. Each message is started before the block computation it can overlap (the
// next block while this one's loss is computed; a gradient block while this rank's own gradients are made) and
// waited for after it. float32 or float64.
Tensor sigmoid_loss_ring(Communicator& comm, const Tensor& img, const Tensor& txt, const Tensor& logit_scale,
                         const Tensor& logit_bias, const Tensor& groups, const std::vector<int64_t>& rows);

// CLIP's softmax loss (siglip/loss.h's softmax_loss, positives from the group ids) through all-gathers: each rank
// gathers all image and text embeddings and computes its rows' cross-entropies over all texts and its texts'
// over all images: [rows[r], B] logits twice. Rank r's share is -(1/(2B)) (sum over its image rows + sum over its
// text columns). The gathers' backward reduce-scatters the [B, D] gradients: each rank gets its rows' sums.
Tensor softmax_loss_gather(Communicator& comm, const Tensor& img, const Tensor& txt, const Tensor& logit_scale,
                           const Tensor& logit_bias, const Tensor& groups, const std::vector<int64_t>& rows);

// t: [rows[rank], ...] -> [sum(rows), ...] on every rank, differentiable: the gradients of the gathered tensor are
// summed over ranks (a reduce-scatter) and this rank's rows of the sum are t's gradient.
Tensor all_gather_rows(Communicator& comm, const Tensor& t, const std::vector<int64_t>& rows);

}  // namespace sg::dist
