// cmd_grad.cpp: `siglip grad`: one forward and backward of a checkpoint's model and the training loss on a batch
// file, written with every gradient under its Hugging Face name (siglip/grad_file.h); `--make-inputs` writes a
// batch of the built-in data to start from.
#include "siglip/checkpoint.h"
#include "siglip/commands.h"
#include "siglip/grad_file.h"
#include "siglip/loader.h"
#include "nn/safetensors.h"

namespace sg {
namespace {

// The first batch a run `train --data SPEC --seed N --batch B` would draw, tokenised by the checkpoint's tokenizer.
Batch first_batch(const GradOptions& o, const LoadedModel& lm) {
  SG_CHECK(o.batch >= 1, "grad: --batch must be at least 1, got {}", o.batch);
  const SiglipConfig& cfg = lm.model->config;
  Dataset data = load_dataset(o.data, static_cast<int>(cfg.vision.image_size),
                              static_cast<int>(cfg.vision.num_channels), o.seed, &lm.image_processor);
  SG_CHECK(data.channels == cfg.vision.num_channels, "grad: --data {} has {} channels, the checkpoint {} has {}",
           o.data, data.channels, lm.dir, cfg.vision.num_channels);
  SG_CHECK(static_cast<int64_t>(data.train.size()) >= o.batch, "grad: --batch {} is larger than the {} examples of {}",
           o.batch, data.train.size(), o.data);
  const int text_len = static_cast<int>(cfg.text.max_position_embeddings);
  BatchLoader loader(data.train, lm.text_tokenizer("grad --make-inputs"), static_cast<int>(o.batch), text_len, data.channels, data.height,
                     data.width, o.seed);
  return loader.next();
}

}  // namespace

int run_grad(const GradOptions& o) {
  SG_CHECK(!o.checkpoint.empty(), "grad: --checkpoint DIR is required");
  SG_CHECK(!o.out.empty() || !o.make_inputs.empty(), "grad: nothing to do: give --out FILE (with --inputs FILE) or "
           "--make-inputs FILE");
  SG_CHECK(o.inputs.empty() || o.make_inputs.empty(), "grad: --inputs and --make-inputs exclude each other (the "
           "batch is read from one or written to the other)");
  SG_CHECK(o.out.empty() || !o.inputs.empty() || !o.make_inputs.empty(), "grad: --out needs a batch: --inputs FILE "
           "(or --make-inputs FILE)");
  LoadedModel lm = load_checkpoint(o.checkpoint, o.image_size);
  std::string inputs = o.inputs;
  if (!o.make_inputs.empty()) {
    const Batch batch = first_batch(o, lm);
    save_grad_inputs(o.make_inputs, batch,
                     {{"checkpoint", lm.dir}, {"data", o.data}, {"seed", std::to_string(o.seed)}});
    fmt::print("grad: wrote {}: pixel_values {} float32, input_ids {} int64 (the first batch of --data {} --seed {})\n",
               o.make_inputs, batch.images.shape_str(), batch.ids.shape_str(), o.data, o.seed);
    inputs = o.make_inputs;
  }
  if (o.out.empty()) return 0;

  const GradInputs in = load_grad_inputs(inputs, lm.model->config);
  const GradResult r = compute_gradients(*lm.model, in);
  save_safetensors(o.out, r.file_tensors(),
                   {{"checkpoint", lm.dir},
                    {"inputs", inputs},
                    {"loss", "sigmoid, diagonal positives: -(1/B) sum_ij log sigmoid(z_ij logits_ij)"}});
  fmt::print("grad: loss {:.6f} on {} pairs; {} gradients + loss, logits_per_image, image_embeds, text_embeds "
             "written to {}\n",
             r.loss.item(), in.pixel_values.size(0), r.gradients.size(), o.out);
  return 0;
}

}  // namespace sg
