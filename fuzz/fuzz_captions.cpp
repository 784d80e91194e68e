// fuzz_captions: caption files (siglip/caption_file.h: parse_caption_text, which read_caption_file and
// load_caption_file use). The first byte of an input picks the format (byte % 2: 0 .tsv, 1 .jsonl); the rest is
// the file's text. Parsing may throw sg::Error naming the file and line. Every entry read must have a non-blank
// image path and caption, a line number inside the text and after the previous entry's, its image path resolved
// against the file's folder; a .tsv entry's fields hold no tab or line break and no surrounding white space. The
// entries written back in the same format (a header line, then one line per entry) must parse to the same entries.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "siglip/caption_file.h"

namespace {

using sg::CaptionFormat;
using sg::CaptionRecord;

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

bool tsv_field_ok(const std::string& s) {
  if (s.find_first_of("\t\n") != std::string::npos) return false;
  return s.empty() || (!std::isspace(static_cast<unsigned char>(s.front())) &&
                       !std::isspace(static_cast<unsigned char>(s.back())));
}

std::string write_back(const std::vector<CaptionRecord>& records, CaptionFormat format) {
  std::string text;
  if (format == CaptionFormat::kTsv) {
    text = "image\tcaption\tlabel\n";
    for (const CaptionRecord& r : records) text += r.image + "\t" + r.caption + (r.has_label ? "\t" + r.label : "") + "\n";
  } else {
    for (const CaptionRecord& r : records) {
      nlohmann::json j = {{"image", r.image}, {"caption", r.caption}};
      if (r.has_label) j["label"] = r.label;
      text += j.dump() + "\n";
    }
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const CaptionFormat format = data[0] % 2 == 0 ? CaptionFormat::kTsv : CaptionFormat::kJsonl;
  const std::string name = format == CaptionFormat::kTsv ? "data/captions.tsv" : "data/captions.jsonl";
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<CaptionRecord> records;
  try {
    records = sg::parse_caption_text(text, name, format);
  } catch (const sg::Error&) {
    return 0;
  }
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  int previous = 0;
  for (const CaptionRecord& r : records) {
    if (r.line <= previous || r.line > lines) sg::fuzz::property_failed("an entry's line number is out of order");
    previous = r.line;
    if (blank(r.image) || blank(r.caption)) sg::fuzz::property_failed("an entry has a blank image path or caption");
    if (!r.has_label && !r.label.empty()) sg::fuzz::property_failed("an entry has a label without has_label");
    if (format == CaptionFormat::kTsv && r.has_label && r.label.empty())
      sg::fuzz::property_failed("a .tsv entry has an empty label");
    if (r.image.front() != '/' && r.path != "data/" + r.image)
      sg::fuzz::property_failed("a relative image path is not resolved against the file's folder");
    if (format == CaptionFormat::kTsv && !(tsv_field_ok(r.image) && tsv_field_ok(r.caption) && tsv_field_ok(r.label)))
      sg::fuzz::property_failed("a .tsv field holds a tab, a line break or surrounding white space");
  }
  std::vector<CaptionRecord> back;
  try {
    back = sg::parse_caption_text(write_back(records, format), name, format);
  } catch (const sg::Error& e) {
    sg::fuzz::property_failed(std::string("the entries written back do not parse: ") + e.what());
  }
  if (back.size() != records.size()) sg::fuzz::property_failed("the entries written back parse to another count");
  for (size_t i = 0; i < back.size(); ++i) {
    const CaptionRecord &a = records[i], &b = back[i];
    if (a.image != b.image || a.path != b.path || a.caption != b.caption || a.label != b.label ||
        a.has_label != b.has_label)
      sg::fuzz::property_failed("an entry written back parses to another entry");
  }
  return 0;
}
