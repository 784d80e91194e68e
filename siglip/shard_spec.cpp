// shard_spec.cpp: brace expansion of shard specs (see shard_spec.h).
#include "siglip/shard_spec.h"

#include <cctype>
#include <filesystem>

#include "base/error.h"

namespace sg {
namespace {

constexpr size_t kMaxExpansion = 1000000;

// The index of the '}' closing the '{' at `open`, or npos.
size_t closing_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    else if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string::npos;
}

// Splits `s` at the commas outside braces.
std::vector<std::string> split_top_level(const std::string& s) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    else if (s[i] == '}') --depth;
    else if (s[i] == ',' && depth == 0) parts.push_back(s.substr(start, i - start)), start = i + 1;
  }
  parts.push_back(s.substr(start));
  return parts;
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "A..B" with A, B decimal: the numbers, padded as braceexpand pads them; empty when `body` is not a range.
std::vector<std::string> numeric_range(const std::string& body, const std::string& spec) {
  const size_t dots = body.find("..");
  if (dots == std::string::npos) return {};
  const std::string a = body.substr(0, dots), b = body.substr(dots + 2);
  if (!all_digits(a) || !all_digits(b)) return {};
  SG_CHECK(a.size() <= 18 && b.size() <= 18, "data: '{}': range {{{}}} is too large", spec, body);
  const long long lo = std::stoll(a), hi = std::stoll(b);
  const bool padded = (a.size() > 1 && a[0] == '0') || (b.size() > 1 && b[0] == '0');
  const size_t width = padded ? std::max(a.size(), b.size()) : 0;
  const long long count = (hi >= lo ? hi - lo : lo - hi) + 1;
  SG_CHECK(count <= static_cast<long long>(kMaxExpansion), "data: '{}': range {{{}}} has {} names (at most {})", spec,
           body, count, kMaxExpansion);
  std::vector<std::string> out;
  const long long step = hi >= lo ? 1 : -1;
  for (long long v = lo;; v += step) {
    std::string n = std::to_string(v);
    if (n.size() < width) n.insert(0, width - n.size(), '0');
    out.push_back(std::move(n));
    if (v == hi) break;
  }
  return out;
}

void expand_into(const std::string& s, const std::string& spec, std::vector<std::string>& out) {
  const size_t open = s.find('{');
  if (open == std::string::npos) {
    SG_CHECK(s.find('}') == std::string::npos, "data: '{}': unbalanced '}}'", spec);
    out.push_back(s);
    SG_CHECK(out.size() <= kMaxExpansion, "data: '{}' expands to more than {} names", spec, kMaxExpansion);
    return;
  }
  SG_CHECK(s.substr(0, open).find('}') == std::string::npos, "data: '{}': unbalanced '}}'", spec);
  const size_t close = closing_brace(s, open);
  SG_CHECK(close != std::string::npos, "data: '{}': unbalanced '{{'", spec);
  const std::string head = s.substr(0, open), body = s.substr(open + 1, close - open - 1), tail = s.substr(close + 1);
  std::vector<std::string> alternatives = numeric_range(body, spec);
  if (alternatives.empty()) {
    for (const std::string& part : split_top_level(body)) expand_into(part, spec, alternatives);
    SG_CHECK(!(alternatives.size() == 1 && alternatives[0].empty()), "data: '{}': empty braces '{{}}'", spec);
  }
  for (const std::string& alt : alternatives) expand_into(head + alt + tail, spec, out);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& spec) {
  std::vector<std::string> out;
  for (const std::string& part : split_top_level(spec)) {
    if (part.empty()) continue;
    expand_into(part, spec, out);
  }
  SG_CHECK(!out.empty(), "data: '{}' names no shard", spec);
  return out;
}

bool is_shard_spec(const std::string& spec) {
  if (spec.empty()) return false;
  try {
    for (const std::string& name : expand_braces(spec))
      if (!(ends_with(name, ".tar") || ends_with(name, ".tar.gz") || ends_with(name, ".tgz"))) return false;
    return true;
  } catch (const Error&) {
    return spec.find(".tar") != std::string::npos;  // a malformed shard spec: shard_paths says what is wrong
  }
}

std::vector<std::string> shard_paths(const std::string& spec) {
  std::vector<std::string> paths = expand_braces(spec);
  for (const std::string& p : paths) {
    std::error_code ec;
    SG_CHECK(std::filesystem::is_regular_file(p, ec), "data: '{}': shard {} not found{}", spec, p,
             paths.size() > 1 ? fmt::format(" (one of {} the spec names)", paths.size()) : "");
  }
  return paths;
}

}  // namespace sg
