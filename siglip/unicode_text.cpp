// unicode_text.cpp: UTF-8 <-> UTF-32, Python's str.lower() and str.isspace() (see unicode_text.h).
#include "siglip/unicode_text.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "base/error.h"

namespace sg {
namespace {

struct CaseRange {
  char32_t first, last;
  int stride;  // 0: a single code point
  int delta;
};
struct MultiLower {
  char32_t from;
  char32_t to[3];
  int count;
};
struct CodeRange {
  char32_t first, last;
};
#include "siglip/unicode_case_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&ranges)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                             [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != std::begin(ranges) && c <= std::prev(it)->last;
}

char32_t lower_one(char32_t c) {
  auto it = std::upper_bound(std::begin(kLowerRanges), std::end(kLowerRanges), c,
                             [](char32_t v, const CaseRange& r) { return v < r.first; });
  if (it == std::begin(kLowerRanges)) return c;
  const CaseRange& r = *std::prev(it);
  if (c > r.last) return c;
  if (r.stride > 1 && (c - r.first) % static_cast<char32_t>(r.stride) != 0) return c;
  return static_cast<char32_t>(static_cast<int64_t>(c) + r.delta);
}

// Unicode's Final_Sigma: a cased letter before (skipping case-ignorables) and none after.
bool is_final_sigma(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && in_ranges(kCaseIgnorable, text[j - 1])) --j;
  if (j == 0 || !in_ranges(kCased, text[j - 1])) return false;
  size_t k = i + 1;
  while (k < text.size() && in_ranges(kCaseIgnorable, text[k])) ++k;
  return k == text.size() || !in_ranges(kCased, text[k]);
}

}  // namespace

std::u32string utf8_to_utf32(std::string_view text, std::string_view what) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const int n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    SG_CHECK(n > 0 && i + static_cast<size_t>(n) <= text.size(), "{}: invalid UTF-8 at byte {}", what, i);
    char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < n; ++k) {
      const auto cb = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      SG_CHECK((cb & 0xC0) == 0x80, "{}: invalid UTF-8 at byte {}", what, i);
      c = (c << 6) | (cb & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    SG_CHECK(c >= kMin[n] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF), "{}: invalid UTF-8 at byte {}", what, i);
    out.push_back(c);
    i += static_cast<size_t>(n);
  }
  return out;
}

std::string utf32_to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool python_isspace(char32_t c) { return in_ranges(kSpace, c); }

std::u32string python_lower(std::u32string_view text, bool final_sigma) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == U'\u03A3') {
      out.push_back(final_sigma && is_final_sigma(text, i) ? U'\u03C2' : U'\u03C3');
      continue;
    }
    auto multi = std::find_if(std::begin(kLowerMulti), std::end(kLowerMulti), [c](const MultiLower& m) { return m.from == c; });
    if (multi != std::end(kLowerMulti)) {
      out.append(multi->to, static_cast<size_t>(multi->count));
      continue;
    }
    out.push_back(lower_one(c));
  }
  return out;
}

}  // namespace sg
