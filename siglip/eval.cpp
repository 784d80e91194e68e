#include "siglip/eval.h"

#include <algorithm>
#include <numeric>

#include "autograd/node.h"
#include "tensor/ops.h"

namespace sg {

Tensor embed_images(SiglipModel& m, const std::vector<const std::vector<float>*>& images, int batch) {
  NoGradGuard ng;
  const auto& vc = m.config.vision;
  const int64_t per = vc.num_channels * vc.image_size * vc.image_size;
  std::vector<Tensor> parts;
  for (size_t s = 0; s < images.size(); s += batch) {
    const int64_t n = static_cast<int64_t>(std::min(images.size() - s, static_cast<size_t>(batch)));
    Tensor x = Tensor::empty({n, vc.num_channels, vc.image_size, vc.image_size});
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<float>& img = *images[s + i];
      SG_CHECK(static_cast<int64_t>(img.size()) == per, "embed: image {} has {} values, the model expects {} ([{}, {}, {}])",
               s + i, img.size(), per, vc.num_channels, vc.image_size, vc.image_size);
      std::copy(img.begin(), img.end(), x.data<float>() + i * per);
    }
    parts.push_back(m.image_embeds(x).to(Device::CPU));
  }
  return parts.empty() ? Tensor::empty({0, vc.hidden_size}) : concat(parts, 0);
}

Tensor embed_texts(SiglipModel& m, const Tokenizer& tok, const std::vector<std::string>& texts, int batch) {
  NoGradGuard ng;
  const int64_t T = m.config.text.max_position_embeddings;
  std::vector<Tensor> parts;
  for (size_t s = 0; s < texts.size(); s += batch) {
    const size_t n = std::min(texts.size() - s, static_cast<size_t>(batch));
    std::vector<int64_t> ids;
    for (size_t i = 0; i < n; ++i) {
      auto e = tok.encode(texts[s + i], static_cast<int>(T));
      ids.insert(ids.end(), e.begin(), e.end());
    }
    parts.push_back(m.text_embeds(from_vector(ids, {static_cast<int64_t>(n), T})).to(Device::CPU));
  }
  return parts.empty() ? Tensor::empty({0, m.config.text.projection_size}) : concat(parts, 0);
}

namespace {
// Ranks of each row's `correct` set: hit@k when any of the k best columns is correct.
void recall(const Tensor& sim, const std::function<bool(int64_t, int64_t)>& correct, double& r1, double& r5) {
  const int64_t R = sim.size(0), C = sim.size(1);
  const float* s = sim.data<float>();
  int64_t h1 = 0, h5 = 0;
  std::vector<int64_t> idx(static_cast<size_t>(C));
  for (int64_t i = 0; i < R; ++i) {
    std::iota(idx.begin(), idx.end(), 0);
    const int64_t k = std::min<int64_t>(5, C);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return s[i * C + a] > s[i * C + b]; });
    bool hit1 = correct(i, idx[0]), hit5 = false;
    for (int64_t j = 0; j < k; ++j) hit5 = hit5 || correct(i, idx[j]);
    h1 += hit1;
    h5 += hit5;
  }
  r1 = static_cast<double>(h1) / static_cast<double>(R);
  r5 = static_cast<double>(h5) / static_cast<double>(R);
}
}  // namespace

EvalResult evaluate(SiglipModel& m, const Tokenizer& tok, const Dataset& data, size_t limit) {
  NoGradGuard ng;
  EvalResult r;
  const size_t n = limit ? std::min(limit, data.test.size()) : data.test.size();
  SG_CHECK(n > 0, "eval: the dataset '{}' has no test examples", data.name);
  r.examples = static_cast<int64_t>(n);
  std::vector<const std::vector<float>*> imgs;
  for (size_t i = 0; i < n; ++i) imgs.push_back(&data.test[i].image);
  Tensor img = embed_images(m, imgs).contiguous();  // [N, D]

  for (size_t ls = 0; ls < data.label_sets.size(); ++ls) {
    const LabelSet& set = data.label_sets[ls];
    std::vector<Tensor> class_emb;
    for (const auto& cls : set.classes) {
      std::vector<std::string> prompts;
      for (const auto& t : set.templates) prompts.push_back(fill_template(t, cls));
      class_emb.push_back(l2_normalize(mean(embed_texts(m, tok, prompts), {0}), -1));  // prompt ensemble
    }
    Tensor W = stack(class_emb, 0);                                // [K, D]
    std::vector<int64_t> pred = argmax(matmul(img, W, false, true), 1).to_vector<int64_t>();
    int64_t correct = 0, counted = 0;
    for (size_t i = 0; i < n; ++i) {
      int y = ls < data.test[i].labels.size() ? data.test[i].labels[ls] : -1;
      if (y < 0) continue;
      ++counted;
      correct += pred[i] == y;
    }
    if (counted > 0) r.zero_shot[set.name] = static_cast<double>(correct) / static_cast<double>(counted);
  }

  // Retrieval over the unique captions of the test split.
  std::vector<std::string> uniq;
  std::map<std::string, int64_t> caption_id;
  std::vector<int64_t> cap_of(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, added] = caption_id.emplace(data.test[i].caption, static_cast<int64_t>(uniq.size()));
    if (added) uniq.push_back(data.test[i].caption);
    cap_of[i] = it->second;
  }
  Tensor txt = embed_texts(m, tok, uniq).contiguous();  // [U, D]
  recall(matmul(img, txt, false, true).contiguous(), [&](int64_t i, int64_t j) { return cap_of[i] == j; }, r.i2t_r1,
         r.i2t_r5);
  // text -> image: one query per test example (its caption), hits are images carrying that caption.
  Tensor t2i = matmul(txt, img, false, true).contiguous();  // [U, N]
  double u1 = 0, u5 = 0;
  std::vector<int64_t> count(uniq.size(), 0);
  for (auto c : cap_of) count[c]++;
  for (size_t u = 0; u < uniq.size(); ++u) {
    double a1, a5;
    recall(t2i.narrow(0, static_cast<int64_t>(u), 1).contiguous(), [&](int64_t, int64_t j) { return cap_of[j] == static_cast<int64_t>(u); }, a1, a5);
    u1 += a1 * static_cast<double>(count[u]);
    u5 += a5 * static_cast<double>(count[u]);
  }
  r.t2i_r1 = u1 / static_cast<double>(n);
  r.t2i_r5 = u5 / static_cast<double>(n);
  return r;
}

}  // namespace sg
