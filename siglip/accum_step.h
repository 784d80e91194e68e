// accum_step.h: `siglip train --accum-steps K`, the loss of a whole batch of b pairs (all b x b of them, so every
// pair's negatives are the whole batch's) with tower activations held for about b/K rows at a time, as open_clip's
// accumulation does it. Summing K losses of b/K pairs each (plain gradient accumulation) would give each row only
// b/K - 1 negatives; this gives the gradients of the one loss over the whole batch:
//   1. both towers run over each of the K micro-batches without a graph; only their embeddings are kept;
//   2. the embeddings, concatenated into leaves img, txt [b, D] that require grad, go through the loss of the
//      whole batch (the caller's), whose backward gives dL/dimg, dL/dtxt and the gradients of t' and b;
//   3. each micro-batch runs again, with its graph, and the backward of
//        s_k = sum(img_k * dL/dimg_k) + sum(txt_k * dL/dtxt_k)
//      adds its share to the towers' parameter gradients (ds_k/dimg_k is dL/dimg_k exactly: the backward of sum
//      and of a product by a constant multiply by 1 and copy, no rounding).
// Held at once: the [b, D] embeddings and their gradients, and one micro-batch's graph.
//
//   AccumulatedStep acc(model, images, ids, K, compute);
//   Tensor loss = loss_of(acc.image(), acc.text());  // over all b rows, with its graph
//   loss.backward();
//   acc.backward();                                  // parameter gradients, summed over the micro-batches
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "siglip/model.h"

namespace sg {

// b rows cut into K micro-batches as evenly as possible: the first b mod K take one row more. An error naming
// --accum-steps, K and b unless 1 <= K <= b.
struct MicroBatches {
  std::vector<int64_t> rows, offsets;
};
MicroBatches split_micro_batches(int64_t b, int64_t K);

class AccumulatedStep {
 public:
  // Step 1. images [b, C, H, W], ids int64 [b, T]; compute: the towers' compute dtype (BF16 under --precision bf16,
  // run inside an nn::ComputeDTypeGuard; none: the parameters' own dtype). A tower without trained parameters
  // gives an embedding that does not require grad and is not run again in step 3.
  AccumulatedStep(SiglipModel& model, const Tensor& images, const Tensor& ids, int64_t K,
                  std::optional<DType> compute = std::nullopt);

  const Tensor& image() const { return image_; }  // [b, D] L2-normalised image embeddings (a leaf)
  const Tensor& text() const { return text_; }    // [b, D] L2-normalised text embeddings (a leaf)

  // Step 3, after backward of a loss of image() and text(). `before_last_backward(s)` is called with the last
  // micro-batch's s_k just before its backward (to arm data-parallel gradient buckets), where s_k has a graph;
  // returns whether it was called.
  bool backward(const std::function<void(const Tensor&)>& before_last_backward = {});

 private:
  Tensor image_rows(int64_t k) const;  // micro-batch k's images [n_k, C, H, W]
  Tensor id_rows(int64_t k) const;     // micro-batch k's ids [n_k, T]

  SiglipModel& model_;
  Tensor images_, ids_;
  MicroBatches micro_;
  std::optional<DType> compute_;
  bool image_trained_, text_trained_;
  Tensor image_, text_;  // [b, D]
};

}  // namespace sg
