#include "siglip/accum_step.h"

#include "autograd/node.h"
#include "dist/communicator.h"
#include "nn/module.h"
#include "tensor/ops.h"

namespace sg {
namespace {

bool any_trained(nn::Module& tower) {
  for (Tensor* p : tower.parameters())
    if (p->requires_grad()) return true;
  return false;
}

// sum(e * g): its gradient with respect to e is g, exactly. g undefined (no gradient reached e): none.
Tensor weighted_sum(const Tensor& e, const Tensor& g) {
  if (!e.requires_grad() || !g.defined()) return Tensor();
  return sum(mul(e, g));
}

}  // namespace

MicroBatches split_micro_batches(int64_t b, int64_t K) {
  SG_CHECK(K >= 1, "train: --accum-steps {} must be at least 1", K);
  SG_CHECK(K <= b, "train: --accum-steps {} is more than the {} pairs of a batch to cut into micro-batches (each "
           "needs at least one pair)", K, b);
  dist::BatchSplit even = dist::split_batch(b, static_cast<int>(K));  // as ranks split a batch: the first b % K one more
  return {std::move(even.rows), std::move(even.offsets)};
}

AccumulatedStep::AccumulatedStep(SiglipModel& model, const Tensor& images, const Tensor& ids, int64_t K,
                                 std::optional<DType> compute)
    : model_(model),
      images_(images),
      ids_(ids),
      micro_(split_micro_batches(images.size(0), K)),
      compute_(compute),
      image_trained_(any_trained(model.vision_model)),
      text_trained_(any_trained(model.text_model)) {
  SG_CHECK(ids.dim() == 2 && ids.size(0) == images.size(0), "accumulated step: images {} and ids {} must have the "
           "same rows", images.shape_str(), ids.shape_str());
  std::vector<Tensor> image_parts, text_parts;  // K x [n_k, D]
  {
    NoGradGuard ng;
    std::optional<nn::ComputeDTypeGuard> mixed;
    if (compute_) mixed.emplace(*compute_);
    for (size_t k = 0; k < micro_.rows.size(); ++k) {
      image_parts.push_back(model_.image_embeds(image_rows(static_cast<int64_t>(k))));
      text_parts.push_back(model_.text_embeds(id_rows(static_cast<int64_t>(k))));
    }
    image_ = concat(image_parts, 0);  // [b, D]
    text_ = concat(text_parts, 0);    // [b, D]
  }
  image_.requires_grad_(image_trained_);
  text_.requires_grad_(text_trained_);
}

Tensor AccumulatedStep::image_rows(int64_t k) const {
  return images_.narrow(0, micro_.offsets[k], micro_.rows[k]).contiguous();
}

Tensor AccumulatedStep::id_rows(int64_t k) const {
  return ids_.narrow(0, micro_.offsets[k], micro_.rows[k]).contiguous();
}

bool AccumulatedStep::backward(const std::function<void(const Tensor&)>& before_last_backward) {
  const Tensor image_grad = image_.grad(), text_grad = text_.grad();  // [b, D] each, or undefined
  const int64_t K = static_cast<int64_t>(micro_.rows.size());
  bool called = false;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t off = micro_.offsets[k], n = micro_.rows[k];
    Tensor s;  // s_k = sum(img_k * dL/dimg_k) + sum(txt_k * dL/dtxt_k), over the towers that train
    {
      std::optional<nn::ComputeDTypeGuard> mixed;
      if (compute_) mixed.emplace(*compute_);
      if (image_trained_ && image_grad.defined())
        s = weighted_sum(model_.image_embeds(image_rows(k)), image_grad.narrow(0, off, n).contiguous());
      if (text_trained_ && text_grad.defined()) {
        Tensor t = weighted_sum(model_.text_embeds(id_rows(k)), text_grad.narrow(0, off, n).contiguous());
        s = s.defined() && t.defined() ? add(s, t) : (s.defined() ? s : t);
      }
    }
    if (!s.defined() || !s.requires_grad()) continue;
    if (k == K - 1 && before_last_backward) {
      before_last_backward(s);
      called = true;
    }
    s.backward();
  }
  return called;
}

}  // namespace sg
