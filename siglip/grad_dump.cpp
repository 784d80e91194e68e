#include "siglip/grad_dump.h"

#include <fnmatch.h>

#include <algorithm>

#include "nn/fileio.h"
#include "nn/safetensors.h"

namespace sg {

bool name_matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;  // no FNM_PATHNAME: '*' crosses dots
}

std::vector<std::string> split_patterns(const std::string& comma_separated) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t end = comma_separated.find(',', start);
    if (end == std::string::npos) end = comma_separated.size();
    std::string piece = comma_separated.substr(start, end - start);
    const size_t first = piece.find_first_not_of(" \t"), last = piece.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(piece.substr(first, last - first + 1));
    start = end + 1;
  }
  return out;
}

namespace {

// Up to three names that share the longest prefix with the pattern's literal head ("vision_model.encoder.layer.0.*"
// -> vision_model.encoder.layers.0.layer_norm1.weight, ...).
std::string closest_names(const std::string& pattern, const std::vector<std::pair<std::string, Tensor*>>& names) {
  const std::string head = pattern.substr(0, pattern.find_first_of("*?["));
  auto common = [&](const std::string& name) {
    size_t n = 0;
    while (n < head.size() && n < name.size() && head[n] == name[n]) ++n;
    return n;
  };
  size_t best = 0;
  for (const auto& [name, p] : names) best = std::max(best, common(name));
  std::vector<std::string> out;
  for (const auto& [name, p] : names)
    if (common(name) == best && out.size() < 3) out.push_back(name);
  return fmt::format("{}", fmt::join(out, ", "));
}

}  // namespace

GradDump::GradDump(SiglipModel& model, const std::string& patterns, int64_t every_n, std::string run_dir)
    : every_n_(every_n), run_dir_(std::move(run_dir)) {
  const std::vector<std::string> globs = split_patterns(patterns);
  if (globs.empty()) return;
  SG_CHECK(every_n >= 1, "train: --dump-every must be at least 1 with --dump-grads, got {}", every_n);
  std::vector<std::pair<std::string, Tensor*>> trained;
  for (auto& [name, p] : model.named_parameters())
    if (p->requires_grad()) trained.emplace_back(name, p);
  for (const std::string& g : globs) {
    bool any = false;
    for (const auto& [name, p] : trained) any = any || name_matches(g, name);
    SG_CHECK(any, "train: --dump-grads pattern '{}' matches no trained parameter (the closest names: {}; '*' matches "
             "any run of characters, dots included)",
             g, closest_names(g, trained));
  }
  for (const auto& [name, p] : trained)
    for (const std::string& g : globs)
      if (name_matches(g, name)) {
        selected_.emplace_back(name, p);
        break;
      }
}

std::string GradDump::file_name(int64_t step) { return fmt::format("grads/step-{:06d}.safetensors", step); }

void GradDump::write(int64_t step) const {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, p] : selected_) {
    const Tensor g = p->grad();
    SG_CHECK(g.defined(), "train: --dump-grads: parameter {} has no gradient at step {}", name, step);
    tensors.emplace_back(name, g.detach().to(DType::F32));
  }
  make_dirs(run_dir_ + "/grads");
  save_safetensors(run_dir_ + "/" + file_name(step), tensors,
                   {{"step", std::to_string(step)},
                    {"when", "after backward, before clipping and the optimizer step"}});
}

}  // namespace sg
