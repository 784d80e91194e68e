// hf_import.cpp: config.json (hf_config.h) -> SiglipModel, memory-mapped safetensors (hf_safetensors.h: single file or
// index + shards) -> its parameters in f32, then our checkpoint files.
#include "siglip/hf_import.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/hf_safetensors.h"
#include "siglip/model.h"
#include "tensor/allocator.h"

namespace sg {
namespace {

std::map<std::string, HfTensor> read_mapped_header(const MappedFile& f) {
  std::map<std::string, HfTensor> tensors = read_hf_safetensors_header(f.path(), f.data(), f.size());
  for (auto& [name, t] : tensors) t.file = &f;
  return tensors;
}

// Every tensor of the folder: model.safetensors, or the shards model.safetensors.index.json names.
struct TensorSet {
  std::vector<std::unique_ptr<MappedFile>> files;
  std::map<std::string, HfTensor> tensors;
};

TensorSet map_tensors(const std::string& dir) {
  TensorSet set;
  const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
  if (!file_exists(index)) {
    SG_CHECK(file_exists(single), "import: {}: neither model.safetensors nor model.safetensors.index.json is here",
             dir);
    set.files.push_back(std::make_unique<MappedFile>(single));
    set.tensors = read_mapped_header(*set.files.back());
    return set;
  }
  const std::map<std::string, std::vector<std::string>> names_by_shard = read_hf_shard_index(index, read_file(index));
  for (const auto& [shard, names] : names_by_shard) {
    const std::string path = dir + "/" + shard;
    SG_CHECK(file_exists(path), "import: {}: shard {} (holding '{}' and {} more tensors) is missing", index, path,
             names.front(), names.size() - 1);
    set.files.push_back(std::make_unique<MappedFile>(path));
    std::map<std::string, HfTensor> in_shard = read_mapped_header(*set.files.back());
    for (const std::string& name : names) {
      auto it = in_shard.find(name);
      SG_CHECK(it != in_shard.end(), "import: {}: names tensor '{}' in {}, which has no such tensor", index, name,
               path);
      set.tensors.emplace(name, it->second);
    }
  }
  return set;
}

bool is_buffer(const std::string& name) {
  const std::string suffix = ".position_ids";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ImportReport import_hf_siglip(const std::string& hf_dir, const std::string& out_dir, Precision precision) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  ImportReport r;
  r.config = read_hf_config(hf_dir + "/config.json");
  const std::string preprocessor = hf_dir + "/preprocessor_config.json";
  ImageProcessor images = file_exists(preprocessor) ? ImageProcessor::from_json(preprocessor)
                                                    : ImageProcessor::siglip_default(r.config.vision.image_size);
  r.image_processor_note = images.fit_to_model(r.config.vision.image_size, r.config.vision.num_channels, preprocessor);
  r.image_processor = (file_exists(preprocessor) ? "preprocessor_config.json: " : "no preprocessor_config.json: ") +
                      images.describe();
  TensorSet set = map_tensors(hf_dir);
  for (const auto& f : set.files) r.safetensors_files.push_back(f->path());

  SiglipModel model(r.config);
  std::set<std::string> used, dtypes;
  for (auto& [name, p] : model.named_parameters()) {
    auto it = set.tensors.find(name);
    SG_CHECK(it != set.tensors.end(), "import: {}: tensor '{}' is missing (SiglipModel for {}/config.json has it)",
             set.files.size() == 1 ? set.files[0]->path() : hf_dir + "/model.safetensors.index.json", name, hf_dir);
    const HfTensor& t = it->second;
    SG_CHECK(t.shape == p->shape(), "import: {}: tensor '{}' has shape {}, but {}/config.json gives it {}",
             t.file->path(), name, shape_str(t.shape), hf_dir, p->shape_str());
    SG_CHECK(p->dtype() == DType::F32 && p->is_contiguous(), "import: parameter '{}' is not contiguous f32", name);
    convert_to_f32(t, static_cast<float*>(p->data_ptr()));  // t.numel == p->numel(): the shapes are equal
    t.file->release(t.bytes, static_cast<size_t>(t.numel) * hf_element_size(t.dtype));
    used.insert(name);
    dtypes.insert(t.dtype);
    r.parameters += p->numel();
    ++r.tensors;
  }
  for (const auto& [name, t] : set.tensors)
    SG_CHECK(used.count(name) || is_buffer(name),
             "import: {}: tensor '{}' is not a parameter of SiglipModel for {}/config.json{}", t.file->path(), name,
             hf_dir,
             name.rfind("vision_model.head.", 0) == 0 && r.config.vision.pool == "mean" ? " (vision_use_head is false)"
                                                                                       : "");
  for (const std::string& d : dtypes) r.source_dtypes += (r.source_dtypes.empty() ? "" : ", ") + d;
  set = TensorSet{};  // unmap before writing
  r.read_seconds = seconds_since(start);

  const auto write_start = std::chrono::steady_clock::now();
  make_dirs(out_dir);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : model.named_parameters()) {
    if (precision == Precision::F32) {
      tensors.emplace_back(name, *p);
    } else {
      Tensor b = Tensor::empty(p->shape(), DType::BF16);
      b.copy_(*p);
      tensors.emplace_back(name, std::move(b));
      *p = Tensor();  // free the f32 copy as we go, back to the system (not the allocator's cache)
      allocator_empty_cache(Device::CPU);
    }
  }
  save_safetensors(out_dir + "/model.safetensors", tensors,
                   {{"format", "pt"}, {"imported_from", hf_dir}, {"source_dtypes", r.source_dtypes}});
  write_file_atomic(out_dir + "/config.json", r.config.to_json().dump(2) + "\n");
  // The SentencePiece tokenizer's files (tokenizer.json and special_tokens_map.json say which tokens are special
  // and, for Gemma's, what is appended; without a SentencePiece model a tokenizer.json is not ours to read).
  const bool sentencepiece = file_exists(hf_dir + "/spiece.model") || file_exists(hf_dir + "/tokenizer.model");
  for (const char* name : {"spiece.model", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                           "tokenizer.json", "preprocessor_config.json"}) {
    const std::string src = hf_dir + "/" + name;
    if (!file_exists(src)) continue;
    if (!sentencepiece && (std::string(name) == "tokenizer.json" || std::string(name) == "special_tokens_map.json"))
      continue;
    write_file_atomic(out_dir + "/" + name, read_file(src));
    r.copied_files.push_back(name);
  }
  r.write_seconds = seconds_since(write_start);
  return r;
}

}  // namespace sg
