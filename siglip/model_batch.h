// model_batch.h: a model and one training batch for the commands that look inside a step (graph, gradcheck
// --param): a fresh model of a config, or a checkpoint's, and the batch the loader gives at a training step.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "siglip/checkpoint.h"
#include "siglip/loader.h"
#include "siglip/run_setup.h"

namespace sg {

struct ModelBatchRequest {
  std::string command;     // for messages: "graph", "gradcheck"
  std::string checkpoint;  // a checkpoint or run directory; empty: a fresh model of `config`
  std::string config;      // tiny, micro, small, b16 or a config.json
  int64_t batch = 4;       // pairs in the batch
  std::optional<uint64_t> seed;  // weights of a fresh model, data order; default: the checkpoint run's seed, or 0
  int64_t step = 0;        // the batch of training step `step` (1: the first); 0: the checkpoint's next step, or 1
};

struct ModelBatch {
  std::unique_ptr<RunSetup> fresh;  // a fresh model (and its data, tokenizer and loader)
  LoadedModel loaded;               // or a checkpoint's model and tokenizer
  std::unique_ptr<Dataset> data;    // a checkpoint's data (the loader's examples)
  Batch batch;
  int64_t step = 0;  // the training step whose batch this is
  uint64_t seed = 0;
  Loss loss = Loss::Sigmoid;                // a checkpoint's run: its --loss and --positives
  Positives positives = Positives::Diagonal;
  std::string source;  // "a fresh micro model" or the checkpoint directory
  SiglipModel& model() { return fresh ? *fresh->model : *loaded.model; }
};

// With a checkpoint the data, loss and positives are those its run trained with (trainer_state.json), or the
// built-in shapes data when the checkpoint has no trainer state.
ModelBatch model_batch(const ModelBatchRequest& r);

// The loss of the batch as the trainer computes it: embeddings of both towers, then sigmoid_loss_of (fused,
// or its primitive ops under nn::UnfusedGuard) or the softmax loss. The images are converted to the model's
// dtype (float64 after model.to(DType::F64)).
Tensor model_batch_loss(ModelBatch& mb);

}  // namespace sg
