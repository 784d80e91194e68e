#include "siglip/collapse_probe.h"

#include <algorithm>
#include <cmath>

#include "siglip/loss.h"

namespace sg {

CollapseProbe::CollapseProbe(int64_t batch, Loss loss, Positives positives, int64_t rows_here)
    : pairs_(std::min<int64_t>(rows_here > 0 ? rows_here : batch, 64)),
      loss_tells_(loss == Loss::Sigmoid && positives == Positives::Diagonal),
      collapse_loss_(collapsed_sigmoid_loss(batch)) {}

void CollapseProbe::capture(SiglipModel& model, const Tensor& image_embeds, const Tensor& text_embeds) {
  NoGradGuard ng;
  logits_ = model.logits(image_embeds.narrow(0, 0, pairs_), text_embeds.narrow(0, 0, pairs_));
}

CollapseProbe::Reading CollapseProbe::check(int64_t step, double loss) {
  std::vector<float> lv = logits_.to_vector<float>();
  double mu = 0, var = 0;
  for (float v : lv) mu += v;
  mu /= static_cast<double>(lv.size());
  for (float v : lv) var += (v - mu) * (v - mu);
  Reading r;
  r.spread = std::sqrt(var / static_cast<double>(lv.size()));
  const bool flat = r.spread < 0.05 || (loss_tells_ && std::abs(loss - collapse_loss_) < 1e-3 * collapse_loss_);
  flat_steps_ = flat ? flat_steps_ + 1 : 0;
  if (flat_steps_ >= 10 && !reported_) {
    r.warning = fmt::format(
        "warning: collapse at step {}: the logits (first {} pairs per side) within {:.3g} of {:.3f} (loss {:.4f}; the "
        "all-equal value is {:.4f}). Embeddings are aligned; try --init-bias auto, a lower --lr, or more warm-up.",
        step, pairs_, r.spread, mu, loss, collapse_loss_);
    reported_ = true;
  }
  return r;
}

}  // namespace sg
