// fuzz_shard_index: one input = the text of a model.safetensors.index.json (Hugging Face's shard index), read by
// read_hf_shard_index (siglip/hf_safetensors.h). It may throw sg::Error; the shard names it returns must be plain
// file names of the folder, and every tensor must appear once.
#include <set>
#include <string>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "siglip/hf_safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto names_by_shard = sg::read_hf_shard_index("model.safetensors.index.json", text);
    std::set<std::string> seen;
    for (const auto& [shard, names] : names_by_shard) {
      if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
          shard.find('\0') != std::string::npos)
        sg::fuzz::property_failed("a shard name that is not a file of the folder");
      if (names.empty()) sg::fuzz::property_failed("a shard with no tensors");
      for (const auto& name : names)
        if (!seen.insert(name).second) sg::fuzz::property_failed("a tensor named twice");
    }
  } catch (const sg::Error&) {
  }
  return 0;
}
