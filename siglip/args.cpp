#include "siglip/args.h"

#include <cstdlib>

namespace sg {

Args::Args(const std::string& command, int argc, char** argv, int first, const std::set<std::string>& options,
           const std::set<std::string>& flags)
    : command_(command) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2), value;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const bool is_flag = flags.count(name) > 0;
      if (!is_flag && !options.count(name)) {
        std::set<std::string> known = options;
        known.insert(flags.begin(), flags.end());
        fail("{}: unknown flag --{} (known: --{})", command_, name, fmt::join(known, ", --"));
      }
      if (is_flag) {
        SG_CHECK(eq == std::string::npos, "{}: --{} takes no value", command_, name);
        value = std::string(1, '1');
      } else if (eq == std::string::npos) {
        SG_CHECK(i + 1 < argc, "{}: option --{} needs a value", command_, name);
        value = argv[++i];
      }
      values_.emplace(name, value);
    } else {
      positional_.push_back(a);
    }
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::vector<std::string> Args::get_all(const std::string& name) {
  std::vector<std::string> out;
  auto [lo, hi] = values_.equal_range(name);
  for (auto it = lo; it != hi; ++it) out.push_back(it->second);
  return out;
}

int64_t Args::get_int(const std::string& name, int64_t fallback) {
  std::string v = get(name, "");
  if (v.empty()) return fallback;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  SG_CHECK(end && *end == 0, "{}: --{} expects an integer, got '{}'", command_, name, v);
  return x;
}

double Args::get_double(const std::string& name, double fallback) {
  std::string v = get(name, "");
  if (v.empty()) return fallback;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  SG_CHECK(end && *end == 0, "{}: --{} expects a number, got '{}'", command_, name, v);
  return x;
}

bool Args::has(const std::string& name) {
  return values_.count(name) > 0;
}

}  // namespace sg
