// caption_file.h: the entries of a .tsv / .jsonl caption file (siglip/data.h: load_caption_file), parsed from text.
//
//   .tsv    "image path <TAB> caption [<TAB> label]" per line; '#' comment lines, blank lines and a header line
//           "image<TAB>caption[<TAB>label]" (before the first entry) are skipped; fields are trimmed, so a field
//           holds no tab, no line break and no surrounding white space.
//   .jsonl  one object per line, {"image": path, "caption": text[, "label": name or integer]}.
// Lines end in "\n" or "\r\n"; a UTF-8 byte order mark before the first line is skipped. An entry needs a
// non-blank image path and caption. Errors are sg::Error naming the file and line, e.g.
//   "data: captions.tsv:17: malformed line: expected 'image<TAB>caption[<TAB>label]', found 4 fields".
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sg {

// One entry: `image` as written, `path` resolved against the caption file's folder (absolute paths are kept).
struct CaptionRecord {
  int line = 0;  // 1-based line of the file
  std::string image, path, caption, label;
  bool has_label = false;
};

enum class CaptionFormat { kTsv, kJsonl };

// Whether `path` names a caption file: it ends in .tsv or .jsonl (any case).
bool is_caption_file(const std::string& path);
// The format a caption file's name gives (.tsv or .jsonl, any case); sg::Error naming the file otherwise.
CaptionFormat caption_format_of(const std::string& path);

// The entries of `text`, the contents of the caption file `path` (used to resolve image paths and name errors).
// bad: null (a malformed line throws), or where malformed lines are noted ("data: FILE:LINE: ...") and left out.
std::vector<CaptionRecord> parse_caption_text(std::string_view text, const std::string& path, CaptionFormat format,
                                              std::vector<std::string>* bad = nullptr);

// The entries of the file at `path` (format by its name): read whole, then parse_caption_text.
std::vector<CaptionRecord> read_caption_file(const std::string& path, std::vector<std::string>* bad = nullptr);

}  // namespace sg
