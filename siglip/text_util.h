// text_util.h: the small string helpers the readers share (ASCII case, surrounding white space, file extensions).
#pragma once
#include <cctype>
#include <filesystem>
#include <string>
#include <string_view>

namespace sg {

// `s` with ASCII letters in lower case (other bytes as they are).
inline std::string ascii_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// `s` without leading and trailing white space (ASCII).
inline std::string trim_space(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The extension of `path` in lower case, without its dot: "photo.JPG" -> "jpg"; "" when it has none.
inline std::string lower_extension(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  if (!e.empty()) e.erase(0, 1);
  return ascii_lower(e);
}

}  // namespace sg
