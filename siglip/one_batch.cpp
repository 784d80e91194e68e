// one_batch.cpp: the model and batch of `siglip graph` and `siglip trace` (one_batch.h).
#include "siglip/one_batch.h"

#include "siglip/loss.h"
#include "tensor/ops.h"

namespace sg {

OneBatch one_batch(const char* command, const std::string& checkpoint, const std::string& config, int64_t batch,
                   uint64_t seed) {
  SG_CHECK(batch >= 2, "{}: --batch must be at least 2, got {}", command, batch);
  OneBatch in;
  if (checkpoint.empty()) {
    TrainOptions t;
    t.config = config;
    t.batch = batch;
    t.steps = 1;
    t.seed = seed;
    in.fresh = std::make_unique<RunSetup>(t);
    in.batch = in.fresh->loader->next();
    return in;
  }
  in.loaded = load_checkpoint(checkpoint);
  const auto& vc = in.loaded.model->config.vision;
  Dataset data = load_dataset("shapes", static_cast<int>(vc.image_size), static_cast<int>(vc.num_channels), seed);
  SG_CHECK(static_cast<int64_t>(data.train.size()) >= batch, "{}: --batch {} is larger than the {} examples", command,
           batch, data.train.size());
  BatchLoader loader(data.train, in.loaded.tokenizer, static_cast<int>(batch),
                     static_cast<int>(in.loaded.model->config.text.max_position_embeddings), data.channels, data.height,
                     data.width, seed);
  in.batch = loader.next();
  return in;
}

Tensor one_batch_loss(OneBatch& in) {
  SiglipModel& m = in.model();
  Tensor img = m.image_embeds(in.batch.images), txt = m.text_embeds(in.batch.ids);  // [B, D] each
  Tensor groups = positive_groups(Positives::Diagonal, in.batch.captions, in.batch.labels);
  return sigmoid_loss_fused(img, txt, m.logit_scale, m.logit_bias, groups);
}

std::map<const AutogradMeta*, std::string> parameter_names(SiglipModel& m) {
  std::map<const AutogradMeta*, std::string> names;
  for (const auto& [name, p] : m.named_parameters())
    if (p->impl()->meta) names[p->impl()->meta.get()] = name;
  return names;
}

}  // namespace sg
