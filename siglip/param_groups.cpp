#include "siglip/param_groups.h"

#include <cmath>
#include <cstdlib>

#include "base/error.h"

namespace sg {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const char* const kGroups[] = {"vision", "text", "loss"};

}  // namespace

std::string param_group(const std::string& name) {
  if (starts_with(name, "vision_model.")) return "vision";
  if (starts_with(name, "text_model.")) return "text";
  if (name == "logit_scale" || name == "logit_bias") return "loss";
  fail("train: parameter '{}' belongs to no group (vision_model.*, text_model.*, logit_scale, logit_bias)", name);
}

bool decays(const std::string& name, const Tensor& p) {
  if (p.dim() < 2) return false;  // biases, layer norms, t', b
  // Tables and the probe are not kernels: token_embedding.weight, position_embedding.weight, head.probe. The
  // patch embedding is a convolution kernel and decays.
  return !(ends_with(name, "token_embedding.weight") || ends_with(name, "position_embedding.weight") ||
           ends_with(name, ".probe"));
}

LrMultipliers LrMultipliers::parse(const std::string& spec) {
  LrMultipliers m;
  size_t start = 0;
  while (start < spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string part = spec.substr(start, end - start);
    start = end + 1;
    const size_t eq = part.find('=');
    SG_CHECK(eq != std::string::npos, "train: --lr-mult: '{}' is not GROUP=X (groups: vision, text, loss)", part);
    const std::string group = part.substr(0, eq), value = part.substr(eq + 1);
    bool known = false;
    for (const char* g : kGroups) known = known || group == g;
    SG_CHECK(known, "train: --lr-mult: unknown group '{}' in '{}' (groups: vision, text, loss)", group, part);
    char* stop = nullptr;
    const double x = std::strtod(value.c_str(), &stop);
    SG_CHECK(!value.empty() && stop && *stop == '\0' && std::isfinite(x) && x >= 0,
             "train: --lr-mult: '{}' in '{}' is not a number >= 0", value, part);
    SG_CHECK(!m.by_group.count(group), "train: --lr-mult: group '{}' is given twice in '{}'", group, spec);
    m.by_group[group] = x;
  }
  return m;
}

double LrMultipliers::of(const std::string& name) const {
  auto it = by_group.find(param_group(name));
  return it == by_group.end() ? 1.0 : it->second;
}

nn::ParamRule param_rule(const std::string& name, const Tensor& p, const LrMultipliers& mult) {
  return {decays(name, p), mult.of(name)};
}

}  // namespace sg
