// model_batch.cpp: a model and the batch of one training step (model_batch.h).
#include "siglip/model_batch.h"

#include <algorithm>

#include "nn/fileio.h"
#include "siglip/loss.h"
#include "siglip/trainer_state.h"

namespace sg {

ModelBatch model_batch(const ModelBatchRequest& r) {
  SG_CHECK(r.batch >= 2, "{}: --batch must be at least 2, got {}", r.command, r.batch);
  SG_CHECK(r.step >= 0, "{}: --step must be 1 or more (the first training step is 1), got {}", r.command, r.step);
  ModelBatch mb;
  if (r.checkpoint.empty()) {
    TrainOptions t;
    t.config = r.config;
    t.batch = r.batch;
    mb.step = r.step == 0 ? 1 : r.step;
    t.steps = mb.step;
    t.seed = mb.seed = r.seed.value_or(0);
    mb.fresh = std::make_unique<RunSetup>(t);
    mb.fresh->loader->seek({0, static_cast<uint64_t>(mb.step - 1)});
    mb.batch = mb.fresh->loader->next();
    mb.source = fmt::format("a fresh {} model", r.config);
    return mb;
  }
  mb.loaded = load_checkpoint(r.checkpoint);
  mb.source = mb.loaded.dir;
  std::string data_spec = "shapes";
  uint64_t run_seed = 0;
  int64_t ckpt_step = 0;
  if (file_exists(mb.loaded.dir + "/trainer_state.json")) {
    const TrainerState saved = TrainerState::load(mb.loaded.dir);
    data_spec = saved.options.data;
    run_seed = saved.options.seed;
    mb.loss = saved.options.loss;
    mb.positives = saved.options.positives;
    ckpt_step = saved.step;
  }
  mb.seed = r.seed.value_or(run_seed);
  mb.step = r.step == 0 ? ckpt_step + 1 : r.step;  // default: the step the run would take next
  const auto& vc = mb.loaded.model->config.vision;
  mb.data = std::make_unique<Dataset>(
      load_dataset(data_spec, static_cast<int>(vc.image_size), static_cast<int>(vc.num_channels), mb.seed,
                   &mb.loaded.image_processor));
  SG_CHECK(static_cast<int64_t>(mb.data->train.size()) >= r.batch, "{}: --batch {} is larger than the {} examples of {}",
           r.command, r.batch, mb.data->train.size(), data_spec);
  BatchLoader loader(mb.data->train, mb.loaded.text_tokenizer(r.command), static_cast<int>(r.batch),
                     static_cast<int>(mb.loaded.model->config.text.max_position_embeddings), mb.data->channels,
                     mb.data->height, mb.data->width, mb.seed);
  loader.seek({0, static_cast<uint64_t>(mb.step - 1)});
  mb.batch = loader.next();
  return mb;
}

Tensor model_batch_loss(ModelBatch& mb) {
  SiglipModel& m = mb.model();
  const Batch& b = mb.batch;
  // x: [B, C, H, W], ids: [B, T] -> embeddings [B, D] -> the loss
  Tensor img = m.image_embeds(b.images.to(m.logit_scale.dtype())), txt = m.text_embeds(b.ids);
  switch (mb.loss) {
    case Loss::Sigmoid:
      return sigmoid_loss_of(img, txt, m.logit_scale, m.logit_bias,
                             positive_groups(mb.positives, b.captions, b.labels).to(m.device()));
    case Loss::Softmax: {
      Tensor logits = m.logits(img, txt);
      return softmax_loss(logits, positive_labels(mb.positives, b.captions, b.labels).to(logits.dtype()).to(m.device()));
    }
  }
  fail("{}: loss {} has no implementation", mb.source, static_cast<int>(mb.loss));
}

}  // namespace sg
