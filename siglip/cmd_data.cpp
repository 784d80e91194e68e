// cmd_data.cpp: `siglip data pack` (any data set as WebDataset shards), `siglip data index` (their shardindex.json)
// and `siglip data stats` (samples, shards and the decode rate of the streaming loader's workers).
#include <stb/stb_image_write.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "nn/fileio.h"
#include "siglip/commands.h"
#include "siglip/data.h"
#include "siglip/shard_loader.h"
#include "siglip/shard_spec.h"
#include "siglip/text_util.h"
#include "siglip/webdataset.h"

namespace sg {
namespace fs = std::filesystem;
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Shards DIR/00000.tar, DIR/00001.tar, ... of `shard_size` samples each, written one after the other, and their
// DIR/shardindex.json (siglip/shard_index.h), so that training starts without reading them.
class ShardSetWriter {
 public:
  ShardSetWriter(std::string dir, int64_t shard_size, std::string name)
      : dir_(std::move(dir)), name_(std::move(name)), shard_size_(shard_size) {}

  void add(const std::string& key, const std::string& image_ext, const void* image, size_t image_size,
           const std::string& caption, const std::string& label) {
    if (!writer_ || in_shard_ == shard_size_) roll();
    writer_->add(key + "." + image_ext, image, image_size);
    writer_->add(key + ".txt", caption);
    if (!label.empty()) writer_->add(key + ".cls", label);
    ++in_shard_;
    ++samples_;
    ++entries_.back().samples;
    if (!label.empty()) entries_.back().labels.insert(label);
  }
  // Ends the last shard and writes the index.
  void close() {
    finish_shard();
    if (!paths_.empty()) write_shard_index(dir_, name_, paths_, entries_);
  }
  int64_t samples() const { return samples_; }
  // "DIR/{00000..00009}.tar", or "DIR/00000.tar" for one shard
  std::string pattern() const {
    if (paths_.size() <= 1) return (fs::path(dir_) / "00000.tar").string();
    return (fs::path(dir_) / fmt::format("{{00000..{:05d}}}.tar", paths_.size() - 1)).string();
  }

 private:
  void finish_shard() {
    if (!writer_) return;
    writer_->close();
    writer_.reset();
    entries_.back().filesize = fs::file_size(paths_.back());
  }
  void roll() {
    finish_shard();
    fs::create_directories(dir_);
    paths_.push_back((fs::path(dir_) / fmt::format("{:05d}.tar", paths_.size())).string());
    entries_.emplace_back();
    writer_ = std::make_unique<ShardWriter>(paths_.back());
    in_shard_ = 0;
  }
  std::string dir_, name_;
  int64_t shard_size_, in_shard_ = 0, samples_ = 0;
  std::vector<std::string> paths_;
  std::vector<ShardIndexEntry> entries_;
  std::unique_ptr<ShardWriter> writer_;
};

void write_classes(const std::string& dir, const std::vector<std::string>& classes) {
  if (classes.empty()) return;
  fs::create_directories(dir);
  std::string text;
  for (const std::string& c : classes) text += c + "\n";
  write_file_atomic((fs::path(dir) / "classes.txt").string(), text);
}

// [C, S, S] in [-1, 1] -> PNG or JPEG (quality 95) bytes, 1 or 3 channels.
std::vector<uint8_t> encode_pixels(const std::vector<float>& chw, int channels, int size, PackFormat format) {
  const size_t hw = static_cast<size_t>(size) * size;
  std::vector<uint8_t> hwc(hw * channels);
  for (int c = 0; c < channels; ++c)
    for (size_t i = 0; i < hw; ++i)
      hwc[i * channels + c] =
          static_cast<uint8_t>(std::clamp(std::lround((chw[c * hw + i] + 1.0f) * 127.5f), 0L, 255L));
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
  };
  const int ok = format == PackFormat::Png
                     ? stbi_write_png_to_func(sink, &out, size, size, channels, hwc.data(), size * channels)
                     : stbi_write_jpg_to_func(sink, &out, size, size, channels, hwc.data(), 95);
  SG_CHECK(ok, "data pack: cannot encode a {}x{} image", size, size);
  return out;
}

// shapes / fashion-mnist: made in memory, encoded as --format.
void pack_generated(const DataPackOptions& o, ShardSetWriter& train, ShardSetWriter& test) {
  const Dataset d = load_dataset(o.data, o.image_size, 0, o.seed);
  const std::string ext = choice_name(o.format);
  auto write = [&](const std::vector<Example>& split, ShardSetWriter& w) {
    for (size_t i = 0; i < split.size(); ++i) {
      const std::vector<uint8_t> bytes = encode_pixels(split[i].image, d.channels, d.height, o.format);
      const std::string label = !d.label_sets.empty() && !split[i].labels.empty() && split[i].labels[0] >= 0
                                    ? std::to_string(split[i].labels[0]) : "";
      w.add(fmt::format("{:09d}", i), ext, bytes.data(), bytes.size(), split[i].caption, label);
    }
  };
  write(d.train, train);
  write(d.test, test);
  if (!d.label_sets.empty()) {
    write_classes(o.out, d.label_sets[0].classes);
    if (!d.test.empty()) write_classes((fs::path(o.out) / "test").string(), d.label_sets[0].classes);
  }
}

// A caption file: its image files copied as they are; every 10th line to the test split (as train reads it).
void pack_caption_file(const DataPackOptions& o, ShardSetWriter& train, ShardSetWriter& test) {
  const std::vector<CaptionRecord> records = read_caption_file(o.data);
  std::set<std::string> names;
  for (const CaptionRecord& r : records)
    if (r.has_label) names.insert(r.label);
  const std::vector<std::string> classes(names.begin(), names.end());
  std::map<std::string, int> index;
  for (size_t i = 0; i < classes.size(); ++i) index[classes[i]] = static_cast<int>(i);
  for (size_t i = 0; i < records.size(); ++i) {
    const CaptionRecord& r = records[i];
    std::string ext = lower_extension(r.path);
    SG_CHECK(ext == "jpg" || ext == "jpeg" || ext == "png", "data pack: {}:{}: '{}' is not a .jpg, .jpeg or .png file",
             o.data, r.line, r.image);
    SG_CHECK(fs::is_regular_file(r.path), "data pack: {}:{}: image '{}' not found ({})", o.data, r.line, r.image, r.path);
    const std::string bytes = read_file(r.path);
    const bool to_test = (i + 1) % 10 == 0;
    (to_test ? test : train).add(fmt::format("{:09d}", i), ext, bytes.data(), bytes.size(), r.caption,
                                 r.has_label ? std::to_string(index[r.label]) : "");
  }
  write_classes(o.out, classes);
  if (test.samples() > 0) write_classes((fs::path(o.out) / "test").string(), classes);
}

// Shards: their samples copied into shards of the new size (bad samples stop the packing, naming them).
void pack_shards(const DataPackOptions& o, ShardSetWriter& train) {
  const std::vector<std::string> shards = shard_paths(o.data);
  for (const std::string& path : shards) {
    ShardReader reader(path);
    ShardSample s;
    while (reader.next(s)) {
      SG_CHECK(s.problem.empty(), "data pack: {}: {}", s.where(), s.problem);
      train.add(s.key, lower_extension(s.image_member), s.image.data(), s.image.size(), s.caption, s.has_label ? s.label : "");
    }
  }
  const fs::path classes = fs::path(shards.front()).parent_path() / "classes.txt";
  if (fs::exists(classes)) {
    fs::create_directories(o.out);
    write_file_atomic((fs::path(o.out) / "classes.txt").string(), read_file(classes.string()));
  }
}

}  // namespace

int run_data_pack(const DataPackOptions& o) {
  SG_CHECK(!o.data.empty(), "data pack: --data is required");
  SG_CHECK(!o.out.empty(), "data pack: --out is required");
  SG_CHECK(o.shard_size >= 1, "data pack: --shard-size must be at least 1, got {}", o.shard_size);
  SG_CHECK(o.force || !fs::exists(fs::path(o.out) / "00000.tar"),
           "data pack: {} already has shards (--force writes over them)", o.out);
  const auto t0 = std::chrono::steady_clock::now();
  ShardSetWriter train(o.out, o.shard_size, o.data), test((fs::path(o.out) / "test").string(), o.shard_size, o.data + " (test)");
  if (is_shard_spec(o.data)) pack_shards(o, train);
  else if (lower_extension(o.data) == "tsv" || lower_extension(o.data) == "jsonl") pack_caption_file(o, train, test);
  else pack_generated(o, train, test);
  train.close();
  test.close();
  SG_CHECK(train.samples() > 0, "data pack: {} has no training samples", o.data);
  fmt::print("packed {} training samples{} in {:.1f}s\n", train.samples(),
             test.samples() ? fmt::format(" and {} test samples", test.samples()) : "", seconds_since(t0));
  fmt::print("train with: --data '{}'{}\n", train.pattern(),
             test.samples() ? fmt::format(" --eval-data '{}'", test.pattern()) : "");
  return 0;
}

// The prepared 8-bit images of the first 100 samples of `shard`, decoded at the scale the loader picks against a
// full-size decode: mean and max difference in levels (0..255), and the scales used.
void print_scaled_decode_difference(const std::string& shard, int image_size) {
  ShardReader reader(shard);
  ShardSample s;
  const ImageProcessor processor = ImageProcessor::siglip_default(image_size);
  DecodeOptions scaled;
  scaled.min_width = scaled.min_height = image_size;
  double sum = 0;
  uint64_t values = 0, images = 0, reduced = 0;
  int worst = 0;
  while (images < 100 && reader.next(s)) {
    Image8 full, small;
    if (!s.problem.empty() || !decode_image_bytes(s.image.data(), s.image.size(), full).empty() ||
        !decode_image_bytes(s.image.data(), s.image.size(), small, scaled).empty())
      continue;
    ++images;
    reduced += small.width < full.width;
    const Image8 a = processor.prepare8(full, 3), b = processor.prepare8(small, 3);
    for (size_t i = 0; i < a.pixels.size(); ++i) {
      const int d = std::abs(static_cast<int>(a.pixels[i]) - static_cast<int>(b.pixels[i]));
      sum += d;
      worst = std::max(worst, d);
    }
    values += a.pixels.size();
  }
  if (images == 0) return;
  fmt::print("scaled decode against full size ({} of the first {} images of {} decoded at a reduced scale): prepared "
             "pixels differ by {:.3f} levels on average, at most {}\n", reduced, images, shard,
             values ? sum / static_cast<double>(values) : 0.0, worst);
}

int run_data_stats(const DataStatsOptions& o) {
  SG_CHECK(!o.data.empty(), "data stats: --data is required");
  SG_CHECK(o.workers >= 1, "data stats: --workers must be at least 1, got {}", o.workers);
  SG_CHECK(o.image_size >= 1, "data stats: --image-size must be positive, got {}", o.image_size);
  SG_CHECK(o.limit >= 0, "data stats: --limit must be 0 or more, got {}", o.limit);
  auto t0 = std::chrono::steady_clock::now();
  if (!is_shard_spec(o.data)) {  // in-memory sets: decoded whole when loaded
    const Dataset d = load_dataset(o.data, o.image_size, 0, 0);
    fmt::print("{}: {} train, {} test samples, {}x{}x{}; loaded (decoded and resized) in {:.2f}s\n", d.name,
               d.train.size(), d.test.size(), d.channels, d.height, d.width, seconds_since(t0));
    return 0;
  }
  const std::vector<std::string> shards = shard_paths(o.data);
  std::vector<std::string> captions;
  ShardScan scan = scan_shards(shards, o.on_bad_skip, &captions, 1000, /*use_index=*/false);  // reads them all
  uintmax_t bytes = 0;
  for (const std::string& s : shards) bytes += fs::file_size(s);
  const auto [lo, hi] = std::minmax_element(scan.samples.begin(), scan.samples.end());
  fmt::print("{}: {} samples in {} shards ({} to {} a shard, {:.1f} MB); scanned in {:.2f}s{}\n", o.data, scan.total,
             shards.size(), *lo, *hi, bytes / 1e6, seconds_since(t0),
             scan.bad ? fmt::format("; {} bad left out", scan.bad) : "");
  for (const std::string& b : scan.bad_log) fmt::print("  left out: {}\n", b);
  const ShardLabels labels = ShardLabels::from(scan.raw_labels, shards.front());
  if (!labels.classes.empty()) fmt::print("labels: {} classes\n", labels.classes.size());
  if (scan.total == 0) return 0;

  captions.resize(std::min<size_t>(captions.size(), 1000));
  const Tokenizer tok = Tokenizer::build(captions, 1000);
  std::vector<std::string>().swap(captions);
  ShardLoaderOptions lo_opts;
  lo_opts.batch_size = static_cast<int>(std::min<uint64_t>(64, scan.total));
  lo_opts.text_len = 16;
  lo_opts.image_size = o.image_size;
  lo_opts.workers = o.workers;
  lo_opts.skip_bad = o.on_bad_skip;
  lo_opts.scaled_decode = !o.exact_decode;
  const uint64_t want = o.limit > 0 ? std::min<uint64_t>(static_cast<uint64_t>(o.limit), scan.total) : scan.total;
  t0 = std::chrono::steady_clock::now();
  ShardLoader loader(std::move(scan), labels, tok, ImageProcessor::siglip_default(o.image_size), lo_opts);
  uint64_t done = 0;
  while (done < want) done += static_cast<uint64_t>(loader.next().captions.size());
  const double s = seconds_since(t0);
  fmt::print("{} decode + resize to {}x{} with {} worker{}: {:.0f} samples/s ({} samples in {:.2f}s, shuffle buffer "
             "1000)\n", o.exact_decode ? "full-size" : "scaled", o.image_size, o.image_size, o.workers,
             o.workers > 1 ? "s" : "", done / s, done, s);
  if (!o.exact_decode) print_scaled_decode_difference(shards.front(), o.image_size);
  return 0;
}

int run_data_index(const DataIndexOptions& o) {
  SG_CHECK(!o.data.empty(), "data index: --data is required");
  SG_CHECK(is_shard_spec(o.data), "data index: --data {}: expected WebDataset shards (names ending in .tar)", o.data);
  const std::vector<std::string> shards = shard_paths(o.data);
  const fs::path dir = fs::path(shards.front()).parent_path();
  for (const std::string& s : shards)
    SG_CHECK(fs::path(s).parent_path() == dir, "data index: {} and {} are in different folders; index each folder "
             "on its own", shards.front(), s);
  const auto t0 = std::chrono::steady_clock::now();
  const ShardScan scan = scan_shards(shards, o.on_bad_skip, nullptr, 0, /*use_index=*/false);
  write_shard_index(dir.string(), o.data, shards, scan.entries);
  fmt::print("{}: {} shards, {} samples{}; indexed in {:.2f}s\n", (dir / kShardIndexName).string(), shards.size(),
             scan.total, scan.bad ? fmt::format(", {} bad left out", scan.bad) : "", seconds_since(t0));
  for (const std::string& b : scan.bad_log) fmt::print("  left out: {}\n", b);
  return 0;
}

}  // namespace sg
