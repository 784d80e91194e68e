// cmd_import.cpp: `siglip import HF_DIR --out DIR`: a Hugging Face SigLIP folder as our checkpoint
// (siglip/hf_import.h), with what was read, what was written, the time taken and the peak resident memory.
#include <sys/resource.h>

#include <chrono>

#include "siglip/commands.h"
#include "siglip/hf_import.h"

namespace sg {

int run_import(const ImportOptions& o) {
  SG_CHECK(o.dirs.size() == 1, "import: give exactly one HF_DIR (got {})", o.dirs.size());
  SG_CHECK(!o.out.empty(), "import: --out DIR is required");
  const auto start = std::chrono::steady_clock::now();
  const ImportReport r = import_hf_siglip(o.dirs[0], o.out, o.precision);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);  // ru_maxrss: KiB on Linux

  const SiglipConfig& c = r.config;
  fmt::print("import: read {} ({} file{}, {}): {} tensors, {} parameters\n", o.dirs[0], r.safetensors_files.size(),
             r.safetensors_files.size() == 1 ? "" : "s", r.source_dtypes, r.tensors, r.parameters);
  fmt::print("import: vision {} px, patch {}, width {}, depth {}, {} heads, pool {}; text vocab {}, length {}, "
             "width {}, depth {}, {} heads\n",
             c.vision.image_size, c.vision.patch_size, c.vision.hidden_size, c.vision.num_hidden_layers,
             c.vision.num_attention_heads, c.vision.pool == "map" ? "map (head)" : "mean (vision_use_head false)",
             c.text.vocab_size, c.text.max_position_embeddings, c.text.hidden_size, c.text.num_hidden_layers,
             c.text.num_attention_heads);
  fmt::print("import: images: {}\n", r.image_processor);
  if (!r.image_processor_note.empty()) fmt::print("import: note: {}\n", r.image_processor_note);
  fmt::print("import: wrote {}/model.safetensors ({}) and config.json{}{}\n", o.out, choice_name(o.precision),
             r.copied_files.empty() ? "" : "; copied ", fmt::join(r.copied_files, ", "));
  fmt::print("import: {:.2f} s (reading and converting {:.2f} s, writing {:.2f} s), peak RSS {:.0f} MiB\n", seconds,
             r.read_seconds, r.write_seconds, static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}

}  // namespace sg
