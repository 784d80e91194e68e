// hf_safetensors.h: the safetensors files of a Hugging Face folder, memory-mapped and read in place (F32, F16,
// BF16 tensors converted to f32 straight from the mapped bytes), and the shard index
// model.safetensors.index.json ({"weight_map": {tensor name: shard file}}). Used by hf_import.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"

namespace sg {

// A whole file mapped read-only (an empty file maps to no bytes). Throws sg::Error naming the file.
class MappedFile {
 public:
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the pages of [p, p + n) from this process's resident set once converted (they stay in the page cache,
  // and a later read faults them in again): the mapping never holds more than the tensor being read.
  void release(const char* p, size_t n) const;

 private:
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// One tensor inside a safetensors file's bytes.
struct HfTensor {
  std::string dtype;  // "F32", "F16", "BF16"
  Shape shape;
  int64_t numel = 0;
  const char* bytes = nullptr;       // numel x hf_element_size(dtype) bytes inside the file's bytes
  const MappedFile* file = nullptr;  // set by the caller when the bytes are a mapping
};

size_t hf_element_size(const std::string& dtype);  // 4 for F32, 2 for F16 and BF16

// The header of the safetensors file `path` whose bytes are [data, data + size), checked: every tensor
// F32/F16/BF16, shapes of non-negative integers below 2^40 whose product of non-zero sizes fits in int64, offsets
// inside the data section (a truncated file fails here), sizes matching shape x dtype. Throws sg::Error naming `path`.
std::map<std::string, HfTensor> read_hf_safetensors_header(const std::string& path, const char* data, size_t size);

// dst[i] = the f32 value of element i of `t`, i < t.numel (memcpy: the bytes need not be aligned).
void convert_to_f32(const HfTensor& t, float* dst);

// model.safetensors.index.json, the text of `path`: the tensor names of each shard file, by shard file name.
// Shard names must be plain file names (no '/' or NUL, not "." or ".."). Throws sg::Error naming `path`.
std::map<std::string, std::vector<std::string>> read_hf_shard_index(const std::string& path, const std::string& text);

}  // namespace sg
