// one_batch.h: one batch through SigLIP and its sigmoid loss, as `siglip graph` and `siglip trace` show it: a fresh
// model of a config (or a checkpoint's model) and one batch of the built-in shapes data, both seeded.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "siglip/checkpoint.h"
#include "siglip/loader.h"
#include "siglip/run_setup.h"

namespace sg {

struct OneBatch {
  std::unique_ptr<RunSetup> fresh;  // a fresh model of the config
  LoadedModel loaded;               // or a checkpoint's
  Batch batch;
  SiglipModel& model() { return fresh ? *fresh->model : *loaded.model; }
};

// `command` names the caller in errors ("graph: --batch must be at least 2, got 1").
OneBatch one_batch(const char* command, const std::string& checkpoint, const std::string& config, int64_t batch,
                   uint64_t seed);

// x: [B, C, H, W], ids: [B, T] -> embeddings [B, D] -> the fused sigmoid loss (diagonal positives), a scalar
Tensor one_batch_loss(OneBatch& in);

// Each parameter's Hugging Face name by its autograd metadata (describe_graph's leaf names).
std::map<const AutogradMeta*, std::string> parameter_names(SiglipModel& m);

}  // namespace sg
