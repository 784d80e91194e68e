// fuzz_tar: one input = the bytes of a WebDataset shard (a tar file, possibly gzip / bzip2 / xz / zstd compressed),
// read sample by sample by ShardReader (siglip/webdataset.h) twice:
//   from memory, with the images' bytes read (as the loaders read shards), and
//   from a tmpfs file by its path, with the images skipped (as scan_shards reads them).
// Either may throw sg::Error (a truncated or corrupt shard) after the samples before the damage. A sample without
// a problem must have an image member of its key and a trimmed, non-empty caption; the two passes must agree on
// every sample both returned (key, members, caption, label, problem), and read to the end together.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "siglip/webdataset.h"

namespace {

struct Pass {
  std::vector<sg::ShardSample> samples;
  bool complete = false;  // read to the end without sg::Error
};

Pass read_all(sg::ShardReader& reader) {
  Pass p;
  try {
    sg::ShardSample s;
    while (reader.next(s)) p.samples.push_back(std::move(s));
    p.complete = true;
  } catch (const sg::Error&) {
  }
  return p;
}

bool is_trimmed(const std::string& s) {
  return !s.empty() && !std::isspace(static_cast<unsigned char>(s.front())) &&
         !std::isspace(static_cast<unsigned char>(s.back()));
}

void check_sample(const sg::ShardSample& s, bool images_read) {
  if (!s.problem.empty()) return;
  if (s.image_member.size() <= s.key.size() + 1 || s.image_member.compare(0, s.key.size(), s.key) != 0 ||
      s.image_member[s.key.size()] != '.')
    sg::fuzz::property_failed("a usable sample's image member is not '<key>.<ext>'");
  if (!is_trimmed(s.caption)) sg::fuzz::property_failed("a usable sample's caption is empty or not trimmed");
  if (!images_read && !s.image.empty()) sg::fuzz::property_failed("image bytes read with read_images = false");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = sg::fuzz::scratch_path("fuzz_tar.tar");
  Pass memory, file;
  try {
    sg::ShardReader reader(data, size, "shard.tar", /*read_images=*/true);
    memory = read_all(reader);
  } catch (const sg::Error&) {  // not a tar file
  }
  sg::fuzz::write_scratch(path, data, size);
  try {
    sg::ShardReader reader(path, /*read_images=*/false);
    file = read_all(reader);
  } catch (const sg::Error&) {
  }
  for (const auto& s : memory.samples) check_sample(s, true);
  for (const auto& s : file.samples) check_sample(s, false);
  const size_t common = std::min(memory.samples.size(), file.samples.size());
  for (size_t i = 0; i < common; ++i) {
    const sg::ShardSample &a = memory.samples[i], &b = file.samples[i];
    if (a.key != b.key || a.image_member != b.image_member || a.caption != b.caption || a.label != b.label ||
        a.has_label != b.has_label || a.problem != b.problem)
      sg::fuzz::property_failed("the memory and file readers disagree on sample " + std::to_string(i));
  }
  if (memory.complete && file.complete && memory.samples.size() != file.samples.size())
    sg::fuzz::property_failed("the memory and file readers read different numbers of samples");
  return 0;
}
