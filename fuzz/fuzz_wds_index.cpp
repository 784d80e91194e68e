// fuzz_wds_index: one input = the text of a shardindex.json (webdataset's wids index with our fields), read by
// parse_shard_index (siglip/shard_index.h). It may throw sg::Error (and nothing else); an entry it returns must have
// a path, and no more labels than the text has bytes.
#include <string>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "siglip/shard_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto index = sg::parse_shard_index("shards/shardindex.json", text);
    for (const auto& [path, entry] : index) {
      if (path.empty()) sg::fuzz::property_failed("an entry with an empty path");
      if (entry.labels.size() > text.size()) sg::fuzz::property_failed("more labels than the text has bytes");
    }
  } catch (const sg::Error&) {
  }
  return 0;
}
