// webdataset.h: WebDataset tar shards (libarchive): reading samples, scanning shards, decoding a sample, writing.
//
// A shard is a tar file. Its members are grouped into samples by key, as webdataset does: the key is the member's
// path up to the first dot of its file name, the extension what follows ("dir/0001.jpg" and "dir/0001.txt" form
// sample "dir/0001"); consecutive members with the same key make one sample. Per sample:
//   image    .jpg / .jpeg / .png (decoded by stb_image); .webp is refused: stb_image cannot decode WebP
//   caption  .txt (the text, trimmed), or .json with a string "caption" (or "text") field; .txt wins over .json
//   label    optional: .cls (an integer or a class name), or a "label" field (string or integer) in the .json
// Other members (.mp4, .npy, ...) are ignored. A sample without image or caption is bad, as is a truncated or
// corrupt shard; errors name the shard, the sample's key and the member, e.g.
//   "data: shards/00003.tar: sample 'img/0042': cannot decode 'img/0042.jpg': bad huffman code".
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "siglip/data.h"
#include "siglip/image_processor.h"
#include "siglip/shard_index.h"

struct archive;

namespace sg {

// One sample as stored: its members' bytes, not decoded.
struct ShardSample {
  std::string shard, key;
  std::string image_member;   // "img/0042.jpg"; empty when the sample has no image
  std::vector<uint8_t> image;  // the encoded file (empty when the reader was told not to read images)
  std::string caption;
  std::string label;  // the .cls text or the .json "label", as written
  bool has_label = false;
  std::string problem;  // why the sample cannot be used ("" when it can), naming the member at fault
  // A caption file's record: `shard` is the caption file, `line` its line, `image_member` the image as written
  // and `image_path` the file to read it from (`image` stays empty until the sample is decoded).
  int line = 0;
  std::string image_path;

  // "shards/00003.tar: sample 'img/0042'", or "captions.tsv:17" for a caption file's record
  std::string where() const { return line > 0 ? shard + ":" + std::to_string(line) : shard + ": sample '" + key + "'"; }
};

// Reads one shard's samples in order. Throws sg::Error naming the shard (and the last sample or member read) when
// the shard cannot be opened, is truncated or is corrupt; the samples before that point are returned first.
// Both sources go through the same member reading and grouping; compressed shards (gzip, bzip2, xz, zstd) are
// decompressed in process (libarchive's filters that would run an outside program are not enabled).
class ShardReader {
 public:
  explicit ShardReader(const std::string& path, bool read_images = true);
  // A shard held in memory: `size` bytes at `data`, which must outlive the reader; `name` names it in errors.
  ShardReader(const uint8_t* data, size_t size, const std::string& name, bool read_images = true);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  // The next sample (problem set when it is bad); false after the last one.
  bool next(ShardSample& out);

 private:
  struct Member {
    std::string name, key, ext;
    std::vector<uint8_t> data;
  };
  void start();                            // a new libarchive reader with the tar format and the filters
  [[noreturn]] void fail_open(int status);  // frees the reader; sg::Error naming the shard
  bool read_member(Member& m);              // false at the end of the archive
  void finish_sample(const std::vector<Member>& members, ShardSample& out) const;

  std::string path_;
  bool read_images_;
  archive* ar_ = nullptr;
  bool have_pending_ = false, at_end_ = false;
  Member pending_;
  std::string last_member_;
};

// Labels of shard data: label set 0 "label". When every label is a non-negative integer, the integer is the class
// index and the class names come from classes.txt (one a line, line i names class i) in the folder of the first
// shard, or are the numbers themselves; otherwise the classes are the sorted distinct label names.
struct ShardLabels {
  std::vector<std::string> classes;  // empty: the data has no labels
  bool numeric = false;
  std::map<std::string, int> index;  // name -> class (named labels)

  static ShardLabels from(const std::set<std::string>& raw_labels, const std::string& first_shard);
  int of(const ShardSample& s) const;  // -1 without a label
  LabelSet label_set() const;          // with the zero-shot templates of caption files
};

// What a pass over shards (images skipped, not read) finds.
struct ShardScan {
  std::vector<std::string> shards;
  std::vector<uint64_t> samples;  // usable samples per shard
  uint64_t total = 0;
  uint64_t bad = 0;                  // bad samples and truncated shards skipped (skip_bad)
  std::vector<std::string> bad_log;  // the first ten, with their location and reason
  std::set<std::string> raw_labels;
  std::vector<ShardIndexEntry> entries;  // per shard: what shardindex.json records (siglip/shard_index.h)
  uint64_t from_index = 0;               // shards whose counts came from shardindex.json, not from reading them
};

// Scans `shards` in order. skip_bad = false: the first bad sample or shard throws sg::Error naming it; true: they
// are counted and left out. `captions`, when given, receives the captions of the first `caption_limit` usable
// samples. use_index: a shard that shardindex.json describes (siglip/shard_index.h) is not read once its captions
// are not needed (nor, without skip_bad, when it has bad samples: reading it names the first), so that the cost
// does not grow with the data set.
ShardScan scan_shards(const std::vector<std::string>& shards, bool skip_bad, std::vector<std::string>* captions = nullptr,
                      size_t caption_limit = SIZE_MAX, bool use_index = true);

// How a streamed training sample's image is prepared: scaled JPEG decoding and the random crop.
struct SamplePrep {
  DecodeOptions decode;               // min_width/min_height > 0: decode a JPEG at libjpeg's smallest scale covering it
  const CropAugment* crop = nullptr;  // null or disabled: the whole image
  uint64_t crop_seed = 0;             // crop_seed(seed, epoch, position of the sample in the stream)
};

// Decodes the sample's image (from `image`, or from the file `image_path`) and prepares it with `processor` to an
// 8-bit S x S image of `channels` bands (S = image_size; ImageProcessor::prepare8). Returns "" or the error, naming
// the shard, the key and the member (or the caption file, the line and the image).
std::string decode_sample8(const ShardSample& s, const ImageProcessor& processor, int channels, int image_size,
                           const SamplePrep& prep, Image8& out);
// The same at full size without a crop, to pixel values [channels, S, S] (ImageProcessor::process's output).
std::string decode_sample(const ShardSample& s, const ImageProcessor& processor, int channels, int image_size,
                          std::vector<float>& out);

// Decodes encoded image bytes with decode_image_bytes (siglip/image_decode.h: JPEG by libjpeg-turbo as Pillow
// decodes it, the rest by stb_image): RGB, or RGBA when the image has transparency. Returns "" or why it failed.
std::string decode_image_memory(const std::vector<uint8_t>& bytes, Image8& out);

// Every usable sample of `shards` decoded into memory, in shard order (for test splits and small sets).
std::vector<Example> load_shard_examples(const std::vector<std::string>& shards, const ShardLabels& labels,
                                         const ImageProcessor& processor, int channels, int image_size, bool skip_bad);

// Writes a shard: a ustar archive of members with mode 0644 and time 0 (the same input gives the same bytes).
class ShardWriter {
 public:
  explicit ShardWriter(const std::string& path);
  ~ShardWriter();  // closes if close() was not called (errors then go unreported)
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(const std::string& name, const void* data, size_t size);
  void add(const std::string& name, const std::string& text) { add(name, text.data(), text.size()); }
  void close();  // sg::Error naming the file when writing failed

 private:
  std::string path_;
  archive* ar_ = nullptr;
};

}  // namespace sg
