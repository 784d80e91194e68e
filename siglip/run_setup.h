// run_setup.h: everything a run needs before its first step, built from its options: with --resume the saved
// options merged with this invocation's, then the model config, the data, the tokenizer, the model (initialised,
// loaded from the checkpoint, or with a locked image tower), AdamW and the batch loader, each at the state the
// checkpoint recorded.
#pragma once
#include <memory>
#include <optional>

#include "dist/communicator.h"
#include "nn/optim.h"
#include "siglip/config.h"
#include "siglip/data.h"
#include "siglip/loader.h"
#include "siglip/model.h"
#include "siglip/tokenizer.h"
#include "siglip/trainer_state.h"

namespace sg {

// With --resume DIR: the options saved in DIR's latest checkpoint, except --steps when > 0 (the new total) and
// this process's own settings (--threads, --profile); --out becomes DIR.
TrainOptions merge_resumed_options(const TrainOptions& given, const TrainerState& saved);

// The communicator of a run under mpirun for tensors on o.device, by --comm (dist::communicator_for); made before
// the model, since NCCL picks this rank's GPU first.
dist::Communicator& run_communicator(const TrainOptions& o);

// The optimiser of a run over `params`: AdamW with the options' beta2 and weight decay, decay on matrices only.
std::unique_ptr<nn::AdamW> make_adamw(std::vector<std::pair<std::string, Tensor*>> params, const TrainOptions& o);

// Built in place and never moved: the loader refers to `data` (and its worker reads it until the loader, the last
// member, is destroyed first).
struct RunSetup {
  explicit RunSetup(TrainOptions given);  // throws sg::Error on bad options or files; creates nothing on disk
  RunSetup(const RunSetup&) = delete;
  RunSetup& operator=(const RunSetup&) = delete;

  TrainOptions opt;
  std::string resumed_from;  // the checkpoint directory continued; empty for a fresh run
  int64_t step = 0;          // steps already done
  SiglipConfig config;
  ImageProcessor image_processor;  // caption-file images; the --init/--lock-image/resumed checkpoint's, else ours
  Dataset data;                 // streamed: the test split and label sets only (the training samples stream)
  uint64_t train_examples = 0;  // in data.train, or in the training shards or caption file
  bool streamed = false;        // shards or a caption file: the ShardLoader decodes the training images per epoch
  Tokenizer tokenizer;
  std::unique_ptr<SiglipModel> model;
  std::unique_ptr<nn::AdamW> optimizer;
  std::unique_ptr<BatchSource> loader;  // BatchLoader over data.train, or ShardLoader over the shards / caption file
};

}  // namespace sg
