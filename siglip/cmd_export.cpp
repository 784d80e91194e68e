// cmd_export.cpp: `siglip export --checkpoint DIR --out HF_DIR`: a checkpoint as a folder transformers loads and runs
// in its zero-shot-image-classification pipeline (siglip/hf_export.h), with what was written and what keeps the
// pipeline from running the model.
#include "siglip/commands.h"
#include "siglip/hf_export.h"

namespace sg {

int run_export(const ExportOptions& o) {
  SG_CHECK(!o.checkpoint.empty(), "export: --checkpoint DIR is required");
  SG_CHECK(!o.out.empty(), "export: --out DIR is required");
  const ExportReport r = export_hf_siglip(o.checkpoint, o.out, o.force);
  const SiglipConfig& c = r.config;
  fmt::print("export: read {} ({}): {} tensors, {} parameters\n", r.checkpoint, r.source_dtypes, r.tensors,
             r.parameters);
  fmt::print("export: vision {} px, {} channel{}, patch {}, pool {}; text vocab {}, length {}\n", c.vision.image_size,
             c.vision.num_channels, c.vision.num_channels == 1 ? "" : "s", c.vision.patch_size, c.vision.pool,
             c.text.vocab_size, c.text.max_position_embeddings);
  fmt::print("export: tokenizer: {}\n", r.tokenizer);
  fmt::print("export: wrote {}/{{{}}} (weights f32){}{}\n", o.out, fmt::join(r.files, ", "),
             r.removed.empty() ? "" : "; removed ", fmt::join(r.removed, ", "));
  if (r.notes.empty()) {
    fmt::print("export: transformers' pipeline(\"zero-shot-image-classification\", model=\"{}\") can run it "
               "(hypothesis_template=\"{{}}\" to give the texts as they are)\n",
               o.out);
  } else {
    for (const std::string& n : r.notes) fmt::print("export: note: {}\n", n);
  }
  return 0;
}

}  // namespace sg
