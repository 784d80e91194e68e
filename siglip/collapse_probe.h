// collapse_probe.h: notices collapse, where every pair of a batch gets (almost) the same logit and the loss sits at
// its all-equal value: the embeddings have aligned and the model has stopped telling pairs apart.
#pragma once
#include <cstdint>
#include <string>

#include "siglip/choices.h"
#include "siglip/model.h"

namespace sg {

class CollapseProbe {
 public:
  // rows_here: the rows of the batch this process holds (a data-parallel rank's share; 0: the whole batch).
  CollapseProbe(int64_t batch, Loss loss, Positives positives, int64_t rows_here = 0);

  // Before the loss: the [k, k] logits of the first k = min(B, 64) image and text embeddings, without a graph.
  void capture(SiglipModel& model, const Tensor& image_embeds, const Tensor& text_embeds);

  struct Reading {
    double spread = 0;    // standard deviation of the captured logits (metrics.jsonl "logit_std")
    std::string warning;  // set once, the first time the logits have been flat for 10 steps in a row
  };
  Reading check(int64_t step, double loss);  // step counted from 1, as the log counts

 private:
  int64_t pairs_;         // k
  bool loss_tells_;       // sigmoid loss with diagonal positives: its all-equal value is known
  double collapse_loss_;  // that value
  Tensor logits_;         // [k, k]
  int flat_steps_ = 0;
  bool reported_ = false;
};

}  // namespace sg
