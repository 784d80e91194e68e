// caption_file.cpp: .tsv / .jsonl caption files parsed from text (see caption_file.h).
#include "siglip/caption_file.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "siglip/text_util.h"

namespace sg {
namespace fs = std::filesystem;

namespace {

// Fills image / caption / label of `r` from one JSON line (trimmed, not blank).
void parse_jsonl_line(const std::string& t, const std::string& path, int lineno, CaptionRecord& r) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(t);
  } catch (const nlohmann::json::exception& ex) {
    fail("data: {}:{}: malformed JSON line: {}", path, lineno, ex.what());
  }
  if (!j.is_object()) fail("data: {}:{}: malformed line: expected a JSON object", path, lineno);
  if (!j.contains("image") || !j["image"].is_string())
    fail("data: {}:{}: malformed line: missing string field \"image\"", path, lineno);
  if (!j.contains("caption") || !j["caption"].is_string())
    fail("data: {}:{}: malformed line: missing string field \"caption\"", path, lineno);
  r.image = j["image"].get<std::string>();
  r.caption = j["caption"].get<std::string>();
  if (j.contains("label") && !j["label"].is_null()) {
    if (j["label"].is_string()) r.label = j["label"].get<std::string>();
    else if (j["label"].is_number_integer()) r.label = std::to_string(j["label"].get<int64_t>());
    else fail("data: {}:{}: malformed line: \"label\" must be a string or an integer", path, lineno);
    r.has_label = true;
  }
}

// The trimmed tab-separated fields of one line.
std::vector<std::string> tsv_fields(std::string_view line) {
  std::vector<std::string> f;
  size_t start = 0;
  for (;;) {
    const size_t tab = line.find('\t', start);
    f.push_back(trim_space(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start)));
    if (tab == std::string_view::npos) return f;
    start = tab + 1;
  }
}

}  // namespace

bool is_caption_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == "tsv" || ext == "jsonl";
}

CaptionFormat caption_format_of(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == "tsv") return CaptionFormat::kTsv;
  if (ext == "jsonl") return CaptionFormat::kJsonl;
  fail("data: {}: unknown caption file type '.{}' (expected .tsv or .jsonl)", path, ext);
}

std::vector<CaptionRecord> parse_caption_text(std::string_view text, const std::string& path, CaptionFormat format,
                                              std::vector<std::string>* bad) {
  const fs::path base = fs::path(path).parent_path();
  std::vector<CaptionRecord> out;
  int lineno = 0;
  bool seen_data = false;
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (lineno == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // UTF-8 BOM
    const std::string t = trim_space(line);
    if (t.empty()) continue;
    if (format == CaptionFormat::kTsv && t[0] == '#') continue;
    try {
      CaptionRecord r;
      r.line = lineno;
      if (format == CaptionFormat::kJsonl) {
        parse_jsonl_line(t, path, lineno, r);
      } else {
        std::vector<std::string> f = tsv_fields(line);
        if (!seen_data && f.size() >= 2 && ascii_lower(f[0]) == "image" && ascii_lower(f[1]) == "caption") {
          seen_data = true;  // header
          continue;
        }
        if (f.size() < 2 || f.size() > 3)
          fail("data: {}:{}: malformed line: expected 'image<TAB>caption[<TAB>label]', found {} field{}", path, lineno,
               f.size(), f.size() == 1 ? " (no tab)" : "s");
        r.image = std::move(f[0]);
        r.caption = std::move(f[1]);
        if (f.size() == 3 && !f[2].empty()) r.label = std::move(f[2]), r.has_label = true;
      }
      seen_data = true;
      if (trim_space(r.image).empty()) fail("data: {}:{}: malformed line: empty image path", path, lineno);
      if (trim_space(r.caption).empty()) fail("data: {}:{}: malformed line: empty caption", path, lineno);
      const fs::path p(r.image);
      r.path = (p.is_absolute() ? p : base / p).string();
      out.push_back(std::move(r));
    } catch (const Error& e) {
      if (!bad) throw;
      bad->push_back(e.what());
    }
  }
  return out;
}

std::vector<CaptionRecord> read_caption_file(const std::string& path, std::vector<std::string>* bad) {
  const CaptionFormat format = caption_format_of(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("data: {}: cannot open ({})", path, fs::exists(path) ? std::strerror(errno) : "file not found");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("data: {}: read error", path);
  return parse_caption_text(text, path, format, bad);
}

}  // namespace sg
