#include "siglip/choices.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace sg {

double InitBias::initial(int64_t batch) const {
  return fixed ? *fixed : -std::log(static_cast<double>(batch - 1));
}

std::string InitBias::text() const { return fixed ? fmt::format("{}", *fixed) : "auto"; }

std::optional<InitBias> InitBias::parse(const std::string& s) {
  if (s == "auto") return InitBias{};
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double x = std::strtod(s.c_str(), &end);  // as std::stod read it before: the same double
  if (*end != 0) return std::nullopt;
  return InitBias{x};
}

}  // namespace sg
