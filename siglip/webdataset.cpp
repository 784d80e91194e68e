// webdataset.cpp: WebDataset tar shards through libarchive (see webdataset.h).
#include "siglip/webdataset.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "siglip/shard_index.h"
#include "siglip/text_util.h"

namespace sg {
namespace fs = std::filesystem;

namespace {

bool is_image_ext(const std::string& ext) { return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "webp"; }

bool is_count(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string member_list(const std::vector<std::string>& names) { return fmt::format("{}", fmt::join(names, ", ")); }

}  // namespace

// ---- reading ---------------------------------------------------------------------------------------------

void ShardReader::start() {
  ar_ = archive_read_new();
  SG_CHECK(ar_, "data: {}: cannot start libarchive", path_);
  archive_read_support_filter_gzip(ar_);
  archive_read_support_filter_bzip2(ar_);
  archive_read_support_filter_xz(ar_);
  archive_read_support_filter_zstd(ar_);
  archive_read_support_format_tar(ar_);
}

void ShardReader::fail_open(int status) {
  const std::string why = archive_error_string(ar_) ? archive_error_string(ar_) : fmt::format("status {}", status);
  archive_read_free(ar_);
  ar_ = nullptr;
  fail("data: {}: cannot open the shard ({})", path_, why);
}

ShardReader::ShardReader(const std::string& path, bool read_images) : path_(path), read_images_(read_images) {
  start();
  const int r = archive_read_open_filename(ar_, path.c_str(), 1 << 16);
  if (r != ARCHIVE_OK) fail_open(r);
}

ShardReader::ShardReader(const uint8_t* data, size_t size, const std::string& name, bool read_images)
    : path_(name), read_images_(read_images) {
  start();
  const int r = archive_read_open_memory(ar_, data, size);
  if (r != ARCHIVE_OK) fail_open(r);
}

ShardReader::~ShardReader() {
  if (ar_) archive_read_free(ar_);
}

bool ShardReader::read_member(Member& m) {
  for (;;) {
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(ar_, &entry);
    if (r == ARCHIVE_EOF) return false;
    if (r < ARCHIVE_WARN)
      fail("data: {}: truncated or corrupt shard after member '{}': {}", path_,
           last_member_.empty() ? "(none)" : last_member_, archive_error_string(ar_) ? archive_error_string(ar_) : "?");
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    m.name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    last_member_ = m.name;
    const size_t slash = m.name.rfind('/');
    const size_t dot = m.name.find('.', slash == std::string::npos ? 0 : slash + 1);
    if (dot == std::string::npos || dot + 1 == m.name.size()) continue;  // no extension: not part of a sample
    m.key = m.name.substr(0, dot);
    m.ext = ascii_lower(m.name.substr(dot + 1));
    m.data.clear();
    const bool wanted = is_image_ext(m.ext) ? read_images_ : (m.ext == "txt" || m.ext == "json" || m.ext == "cls");
    if (!wanted) {
      if (archive_read_data_skip(ar_) < ARCHIVE_WARN)
        fail("data: {}: truncated or corrupt shard in member '{}': {}", path_, m.name,
             archive_error_string(ar_) ? archive_error_string(ar_) : "?");
      return true;
    }
    const la_int64_t size = archive_entry_size(entry);
    SG_CHECK(size >= 0 && size < (la_int64_t(1) << 32), "data: {}: member '{}' has size {}", path_, m.name, size);
    // The buffer doubles as bytes arrive (from 64 KiB) instead of taking the header's size at once: a corrupt size
    // in a small shard allocates little before the data runs out.
    size_t got = 0;
    while (got < static_cast<size_t>(size)) {
      m.data.resize(got + std::min(static_cast<size_t>(size) - got, std::max(size_t{1} << 16, got)));
      const la_ssize_t n = archive_read_data(ar_, m.data.data() + got, m.data.size() - got);
      if (n < 0)
        fail("data: {}: truncated or corrupt shard in member '{}': {}", path_, m.name,
             archive_error_string(ar_) ? archive_error_string(ar_) : "?");
      if (n == 0) fail("data: {}: truncated shard: member '{}' ends after {} of its {} bytes", path_, m.name, got, size);
      got += static_cast<size_t>(n);
    }
    return true;
  }
}

void ShardReader::finish_sample(const std::vector<Member>& members, ShardSample& s) const {
  s = ShardSample{};
  s.shard = path_;
  s.key = members.front().key;
  std::vector<std::string> names;
  const Member *image = nullptr, *txt = nullptr, *json = nullptr, *cls = nullptr;
  std::string duplicate, webp;
  for (const Member& m : members) {
    names.push_back(m.name);
    const Member** slot = nullptr;
    if (is_image_ext(m.ext)) {
      if (m.ext == "webp") {
        webp = m.name;
        continue;
      }
      slot = &image;
    } else if (m.ext == "txt") {
      slot = &txt;
    } else if (m.ext == "json") {
      slot = &json;
    } else if (m.ext == "cls") {
      slot = &cls;
    }
    if (!slot) continue;
    if (*slot && duplicate.empty()) duplicate = m.name;
    if (!*slot) *slot = &m;
  }
  auto bad = [&](std::string why) { s.problem = std::move(why); };
  if (!duplicate.empty()) return bad(fmt::format("two members of one kind ('{}'; members: {})", duplicate, member_list(names)));
  if (!image && !webp.empty())
    return bad(fmt::format("'{}': WebP images are not supported (stb_image decodes JPEG and PNG)", webp));
  if (!image) return bad(fmt::format("no image (.jpg, .jpeg or .png; members: {})", member_list(names)));
  s.image_member = image->name;
  s.image = image->data;
  nlohmann::json j;
  if (json) {
    j = nlohmann::json::parse(json->data.begin(), json->data.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad(fmt::format("'{}' is not a JSON object", json->name));
  }
  if (txt) {
    s.caption = trim_space(std::string(txt->data.begin(), txt->data.end()));
  } else if (json) {
    for (const char* field : {"caption", "text"})
      if (j.contains(field) && j[field].is_string()) {
        s.caption = trim_space(j[field].get<std::string>());
        break;
      }
  }
  if (!txt && s.caption.empty())
    return bad(fmt::format("no caption (.txt, or .json with a string \"caption\" or \"text\"; members: {})",
                           member_list(names)));
  if (s.caption.empty()) return bad(fmt::format("empty caption ('{}')", txt->name));
  if (cls) {
    s.label = trim_space(std::string(cls->data.begin(), cls->data.end()));
    if (s.label.empty()) return bad(fmt::format("'{}' is empty", cls->name));
    s.has_label = true;
  } else if (json && j.contains("label") && !j["label"].is_null()) {
    if (j["label"].is_string()) s.label = j["label"].get<std::string>();
    else if (j["label"].is_number_integer()) s.label = std::to_string(j["label"].get<int64_t>());
    else return bad(fmt::format("'{}': \"label\" must be a string or an integer", json->name));
    s.has_label = true;
  }
}

bool ShardReader::next(ShardSample& out) {
  std::vector<Member> members;
  if (have_pending_) {
    members.push_back(std::move(pending_));
    have_pending_ = false;
  }
  while (!at_end_) {
    Member m;
    if (!read_member(m)) {
      at_end_ = true;
      break;
    }
    if (!members.empty() && m.key != members.front().key) {
      pending_ = std::move(m);
      have_pending_ = true;
      break;
    }
    members.push_back(std::move(m));
  }
  if (members.empty()) return false;
  finish_sample(members, out);
  return true;
}

// ---- labels ----------------------------------------------------------------------------------------------

ShardLabels ShardLabels::from(const std::set<std::string>& raw, const std::string& first_shard) {
  ShardLabels l;
  if (raw.empty()) return l;
  l.numeric = std::all_of(raw.begin(), raw.end(), is_count);
  if (!l.numeric) {
    l.classes.assign(raw.begin(), raw.end());
    for (size_t i = 0; i < l.classes.size(); ++i) l.index[l.classes[i]] = static_cast<int>(i);
    return l;
  }
  int max_label = 0;
  for (const std::string& s : raw) max_label = std::max(max_label, std::stoi(s));
  const fs::path names_file = fs::path(first_shard).parent_path() / "classes.txt";
  if (fs::exists(names_file)) {
    std::ifstream in(names_file);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      l.classes.push_back(trim_space(line));
    }
    SG_CHECK(static_cast<int>(l.classes.size()) > max_label,
             "data: {} names {} classes, but the shards have label {}", names_file.string(), l.classes.size(), max_label);
  } else {
    for (int i = 0; i <= max_label; ++i) l.classes.push_back(std::to_string(i));
  }
  return l;
}

int ShardLabels::of(const ShardSample& s) const {
  if (!s.has_label || classes.empty()) return -1;
  if (numeric) return is_count(s.label) ? std::stoi(s.label) : -1;
  auto it = index.find(s.label);
  return it == index.end() ? -1 : it->second;
}

LabelSet ShardLabels::label_set() const { return {"label", classes, {"a photo of a {}", "a picture of a {}", "{}"}}; }

// ---- scanning --------------------------------------------------------------------------------------------

namespace {
void note_bad(ShardScan& scan, const std::string& what) {
  ++scan.bad;
  if (scan.bad_log.size() < 10) scan.bad_log.push_back(what);
}

// Reads one shard (images skipped) into its index entry; bad samples as scan_shards says. Captions are appended
// while `captions` holds fewer than `caption_limit`.
ShardIndexEntry read_shard_entry(const std::string& path, bool skip_bad, ShardScan& scan,
                                 std::vector<std::string>* captions, size_t caption_limit) {
  ShardIndexEntry entry;
  std::error_code ec;
  entry.filesize = fs::file_size(path, ec);
  try {
    ShardReader reader(path, /*read_images=*/false);
    ShardSample s;
    while (reader.next(s)) {
      if (!s.problem.empty()) {
        SG_CHECK(skip_bad, "data: {}: {} (--on-bad-sample skip leaves such samples out)", s.where(), s.problem);
        note_bad(scan, s.where() + ": " + s.problem);
        ++entry.bad;
        continue;
      }
      ++entry.samples;
      if (s.has_label) entry.labels.insert(s.label);
      if (captions && captions->size() < caption_limit) captions->push_back(std::move(s.caption));
    }
  } catch (const Error& e) {
    if (!skip_bad) throw;
    note_bad(scan, e.what());  // a truncated or corrupt shard: its samples before the damage are kept
    ++entry.bad;
  }
  return entry;
}
}  // namespace

ShardScan scan_shards(const std::vector<std::string>& shards, bool skip_bad, std::vector<std::string>* captions,
                      size_t caption_limit, bool use_index) {
  ShardScan scan;
  scan.shards = shards;
  const auto index = use_index && !shards.empty() ? read_shard_index(shards.front()) : std::map<std::string, ShardIndexEntry>{};
  for (const std::string& path : shards) {
    std::optional<ShardIndexEntry> entry = index.empty() ? std::nullopt : indexed_entry(index, path);
    const bool want_captions = captions && captions->size() < caption_limit;
    if (entry && !want_captions && (entry->bad == 0 || skip_bad)) {
      ++scan.from_index;
      if (entry->bad > 0) {  // skip_bad: counted when indexed; `siglip data stats` names them
        scan.bad += entry->bad - 1;
        note_bad(scan, fmt::format("data: {}: {} bad sample{} left out when it was indexed ({}; `siglip data stats` "
                                   "names them)", path, entry->bad, entry->bad > 1 ? "s" : "", kShardIndexName));
      }
    } else {
      entry = read_shard_entry(path, skip_bad, scan, captions, caption_limit);
    }
    scan.raw_labels.insert(entry->labels.begin(), entry->labels.end());
    scan.samples.push_back(entry->samples);
    scan.total += entry->samples;
    scan.entries.push_back(std::move(*entry));
  }
  return scan;
}

// ---- decoding --------------------------------------------------------------------------------------------

std::string decode_image_memory(const std::vector<uint8_t>& bytes, Image8& out) {
  if (bytes.empty()) return "empty file";
  return decode_image_bytes(bytes.data(), bytes.size(), out);  // JPEG by libjpeg-turbo, as Pillow decodes it
}

std::string decode_sample8(const ShardSample& s, const ImageProcessor& processor, int channels, int image_size,
                           const SamplePrep& prep, Image8& out) {
  Image8 image;
  std::string why;
  if (!s.image_path.empty()) why = decode_image_file(s.image_path, image, prep.decode);
  else if (s.image.empty()) why = "empty file";
  else why = decode_image_bytes(s.image.data(), s.image.size(), image, prep.decode);
  if (!why.empty()) return fmt::format("data: {}: cannot decode '{}': {}", s.where(), s.image_member, why);
  try {
    CropBox box;
    const bool crop = prep.crop && prep.crop->enabled;
    if (crop) box = sample_crop(image.width, image.height, prep.crop->area_min, prep.crop->area_max, prep.crop_seed);
    out = processor.prepare8(image, channels, crop ? &box : nullptr);
  } catch (const std::exception& e) {
    return fmt::format("data: {}: '{}': {}", s.where(), s.image_member, e.what());
  }
  if (out.height != image_size || out.width != image_size)
    return fmt::format("data: {}: '{}' is {}x{} after preprocessing ({}), the model takes {}x{}", s.where(),
                       s.image_member, out.height, out.width, processor.describe(), image_size, image_size);
  return {};
}

std::string decode_sample(const ShardSample& s, const ImageProcessor& processor, int channels, int image_size,
                          std::vector<float>& out) {
  Image8 prepared;
  const std::string why = decode_sample8(s, processor, channels, image_size, SamplePrep{}, prepared);
  if (!why.empty()) return why;
  out.resize(static_cast<size_t>(channels) * image_size * image_size);
  processor.to_pixels(prepared, out.data());
  return {};
}

std::vector<Example> load_shard_examples(const std::vector<std::string>& shards, const ShardLabels& labels,
                                         const ImageProcessor& processor, int channels, int image_size, bool skip_bad) {
  std::vector<Example> out;
  std::vector<ShardSample> chunk;
  auto flush = [&] {
    std::vector<Example> ex(chunk.size());
    std::vector<std::string> errors(chunk.size());
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < static_cast<int64_t>(chunk.size()); ++i)
      errors[i] = decode_sample(chunk[i], processor, channels, image_size, ex[i].image);
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (!errors[i].empty()) {
        SG_CHECK(skip_bad, "{}", errors[i]);
        continue;
      }
      ex[i].caption = std::move(chunk[i].caption);
      if (!labels.classes.empty()) ex[i].labels = {labels.of(chunk[i])};
      out.push_back(std::move(ex[i]));
    }
    chunk.clear();
  };
  for (const std::string& path : shards) {
    try {
      ShardReader reader(path);
      ShardSample s;
      while (reader.next(s)) {
        if (!s.problem.empty()) {
          SG_CHECK(skip_bad, "data: {}: {}", s.where(), s.problem);
          continue;
        }
        chunk.push_back(std::move(s));
        if (chunk.size() >= 256) flush();
      }
    } catch (const Error&) {
      if (!skip_bad) throw;
    }
    flush();
  }
  return out;
}

// ---- writing ---------------------------------------------------------------------------------------------

ShardWriter::ShardWriter(const std::string& path) : path_(path) {
  ar_ = archive_write_new();
  SG_CHECK(ar_, "data: {}: cannot start libarchive", path);
  archive_write_set_format_ustar(ar_);
  if (archive_write_open_filename(ar_, path.c_str()) != ARCHIVE_OK) {
    const std::string why = archive_error_string(ar_) ? archive_error_string(ar_) : "unknown error";
    archive_write_free(ar_);
    ar_ = nullptr;
    fail("data: {}: cannot create ({})", path, why);
  }
}

ShardWriter::~ShardWriter() {
  if (ar_) archive_write_free(ar_);
}

void ShardWriter::add(const std::string& name, const void* data, size_t size) {
  SG_CHECK(ar_, "data: {}: already closed", path_);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(size));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, 0, 0);
  const int r = archive_write_header(ar_, e);
  archive_entry_free(e);
  SG_CHECK(r == ARCHIVE_OK, "data: {}: cannot write member '{}': {}", path_, name,
           archive_error_string(ar_) ? archive_error_string(ar_) : "?");
  SG_CHECK(size == 0 || archive_write_data(ar_, data, size) == static_cast<la_ssize_t>(size),
           "data: {}: cannot write member '{}': {}", path_, name, archive_error_string(ar_) ? archive_error_string(ar_) : "?");
}

void ShardWriter::close() {
  if (!ar_) return;
  const int r = archive_write_close(ar_);
  const std::string why = archive_error_string(ar_) ? archive_error_string(ar_) : "?";
  archive_write_free(ar_);
  ar_ = nullptr;
  SG_CHECK(r == ARCHIVE_OK, "data: {}: cannot finish writing: {}", path_, why);
}

}  // namespace sg
