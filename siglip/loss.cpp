#include "siglip/loss.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/node.h"
#include "nn/unfused.h"
#include "tensor/ops.h"

namespace sg {

Tensor sigmoid_loss(const Tensor& logits, const Tensor& labels) {
  SG_CHECK(logits.dim() == 2 && labels.shape() == logits.shape(), "sigmoid_loss: logits {} and labels {} must be [B, B]",
           logits.shape_str(), labels.shape_str());
  const double B = static_cast<double>(logits.size(0));
  return mul(sum(log_sigmoid(mul(labels, logits))), -1.0 / B);
}

Tensor pairwise_logits(const Tensor& img, const Tensor& txt, const Tensor& logit_scale, const Tensor& logit_bias) {
  return add(mul(matmul(img, txt, false, true), exp(logit_scale)), logit_bias);  // [B_img, B_txt]
}

Tensor labels_from_groups(const Tensor& groups, DType dtype, Device device) {
  SG_CHECK(groups.dtype() == DType::I64 && groups.dim() == 1, "labels_from_groups: groups must be int64 [B], got {}",
           groups.describe());
  const std::vector<int64_t> g = groups.to_vector<int64_t>();
  const int64_t B = static_cast<int64_t>(g.size());
  std::vector<double> z(static_cast<size_t>(B * B));  // [B, B]
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < B; ++j) z[i * B + j] = g[i] == g[j] ? 1.0 : -1.0;
  return from_vector(z, {B, B}, dtype).to(device);
}

Tensor sigmoid_loss_of(const Tensor& img, const Tensor& txt, const Tensor& logit_scale, const Tensor& logit_bias,
                       const Tensor& groups) {
  if (!nn::unfused()) return sigmoid_loss_fused(img, txt, logit_scale, logit_bias, groups);
  Tensor logits;
  {
    ModuleScope scope("logits");
    logits = pairwise_logits(img, txt, logit_scale, logit_bias);  // [B, B]
  }
  return sigmoid_loss(logits, labels_from_groups(groups, logits.dtype(), logits.device()));
}

Tensor softmax_loss(const Tensor& logits, const Tensor& labels) {
  SG_CHECK(logits.dim() == 2 && labels.shape() == logits.shape(), "softmax_loss: logits {} and labels {} must be [B, B]",
           logits.shape_str(), labels.shape_str());
  const double B = static_cast<double>(logits.size(0));
  Tensor pos = mul(add(labels, 1.0), 0.5);  // 1 for positives, 0 elsewhere
  Tensor row_target = div(pos, sum(pos, {1}, true));
  Tensor col_target = div(pos, sum(pos, {0}, true));
  Tensor rows = sum(mul(row_target, log_softmax(logits, 1)));
  Tensor cols = sum(mul(col_target, log_softmax(logits, 0)));
  return mul(add(rows, cols), -0.5 / B);
}

Tensor positive_labels(Positives mode, const std::vector<std::string>& captions, const std::vector<int>& labels) {
  const int64_t B = static_cast<int64_t>(captions.size());
  SG_CHECK(mode != Positives::Label || labels.size() == captions.size(),
           "positives: 'label' needs a label per example");
  std::vector<double> z(static_cast<size_t>(B * B), -1.0);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < B; ++j) {
      bool positive = i == j;
      if (mode == Positives::Caption) positive = positive || captions[i] == captions[j];
      if (mode == Positives::Label) positive = positive || (labels[i] >= 0 && labels[i] == labels[j]);
      if (positive) z[i * B + j] = 1.0;
    }
  return from_vector(z, {B, B});
}

Tensor positive_groups(Positives mode, const std::vector<std::string>& captions, const std::vector<int>& labels) {
  const int64_t B = static_cast<int64_t>(captions.size());
  std::vector<int64_t> groups(static_cast<size_t>(B));  // [B]
  switch (mode) {
    case Positives::Diagonal:
      for (int64_t i = 0; i < B; ++i) groups[i] = i;
      break;
    case Positives::Caption: {
      std::map<std::string, int64_t> id_of;  // caption -> id, in order of first appearance
      for (int64_t i = 0; i < B; ++i)
        groups[i] = id_of.emplace(captions[i], static_cast<int64_t>(id_of.size())).first->second;
      break;
    }
    case Positives::Label: {
      SG_CHECK(labels.size() == captions.size(), "positives: 'label' needs a label per example");
      int64_t next_own = 0;  // ids for unlabelled rows start above every label
      for (int label : labels) next_own = std::max<int64_t>(next_own, int64_t{label} + 1);
      for (int64_t i = 0; i < B; ++i) groups[i] = labels[i] >= 0 ? int64_t{labels[i]} : next_own++;
      break;
    }
  }
  return from_vector(groups, {B});
}

double collapsed_sigmoid_loss(int64_t B, double p) {
  // Every logit equal to c: L(c) = -(1/B) [B p log s(c) + B (B - p) log s(-c)], minimised at s(c) = p / B.
  const double s = p / static_cast<double>(B);
  const double c = std::log(s / (1 - s));
  auto log_sig = [](double x) { return -std::log1p(std::exp(-x)); };
  return -(p * log_sig(c) + (static_cast<double>(B) - p) * log_sig(-c));
}

}  // namespace sg
