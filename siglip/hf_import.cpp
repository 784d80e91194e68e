// hf_import.cpp: config.json -> SiglipConfig, memory-mapped safetensors (single file or index + shards) ->
// SiglipModel parameters in f32, then our checkpoint files.
#include "siglip/hf_import.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "base/error.h"
#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/model.h"
#include "tensor/allocator.h"

namespace sg {
namespace {

using json = nlohmann::json;

// ---- config.json ------------------------------------------------------------------------------------------

json parse_json_file(const std::string& path, const char* what) {
  SG_CHECK(file_exists(path), "import: {}: no {} here", path, what);
  try {
    return json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    fail("import: {}: malformed JSON at byte {}: {}", path, e.byte, e.what());
  }
}

// An integer field: required ones must be present; image_size and patch_size may also be a square [n, n].
int64_t int_field(const json& section, const std::string& path, const std::string& where, const char* key,
                  bool required, int64_t fallback, bool square_pair = false) {
  if (!section.contains(key)) {
    SG_CHECK(!required, "import: {}: required field {}{} is missing", path, where, key);
    return fallback;
  }
  const json& v = section.at(key);
  if (square_pair && v.is_array()) {
    SG_CHECK(v.size() == 2 && v[0].is_number_integer() && v[0] == v[1],
             "import: {}: {}{} is {}: only square sizes (one integer, or [n, n]) are supported", path, where, key,
             v.dump());
    return v[0].get<int64_t>();
  }
  SG_CHECK(v.is_number_integer(), "import: {}: {}{} must be an integer, got {}", path, where, key, v.dump());
  return v.get<int64_t>();
}

double float_field(const json& section, const std::string& path, const std::string& where, const char* key,
                   double fallback) {
  if (!section.contains(key)) return fallback;
  const json& v = section.at(key);
  SG_CHECK(v.is_number(), "import: {}: {}{} must be a number, got {}", path, where, key, v.dump());
  return v.get<double>();
}

// Fields our model has no counterpart for: accepted only at transformers' default.
void require_default(const json& section, const std::string& path, const std::string& where) {
  if (section.contains("hidden_act")) {
    const json& act = section.at("hidden_act");
    SG_CHECK(act == "gelu_pytorch_tanh",
             "import: {}: {}hidden_act is {}: only \"gelu_pytorch_tanh\" (the tanh GELU) is supported", path, where,
             act.dump());
  }
  if (section.contains("attention_dropout")) {
    const json& p = section.at("attention_dropout");
    SG_CHECK(p.is_number() && p.get<double>() == 0.0,
             "import: {}: {}attention_dropout is {}: only 0 is supported (the model has no dropout)", path, where,
             p.dump());
  }
}

const json& section_of(const json& j, const std::string& path, const char* key) {
  SG_CHECK(j.contains(key), "import: {}: required field {} is missing", path, key);
  SG_CHECK(j.at(key).is_object(), "import: {}: {} must be an object, got {}", path, key, j.at(key).type_name());
  return j.at(key);
}

// ---- memory-mapped safetensors -----------------------------------------------------------------------------

class MappedFile {
 public:
  explicit MappedFile(std::string path) : path_(std::move(path)) {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      fail("import: {}: cannot open: {}", path_, std::strerror(e));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
      ::close(fd);
      fail("import: {}: not a readable file", path_);
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      int e = errno;
      ::close(fd);
      if (p == MAP_FAILED) fail("import: {}: mmap failed: {}", path_, std::strerror(e));
      data_ = static_cast<const char*>(p);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  // Drops the pages of [p, p + n) from this process's resident set once converted (they stay in the page cache,
  // and a later read faults them in again): the mapping never holds more than the tensor being read.
  void release(const char* p, size_t n) const {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1), end = reinterpret_cast<uintptr_t>(p) + n;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// One tensor inside a mapped file.
struct HfTensor {
  std::string dtype;  // "F32", "F16", "BF16"
  Shape shape;
  const char* bytes = nullptr;
  const MappedFile* file = nullptr;
};

size_t element_size(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }

// The header of a mapped safetensors file, checked: every tensor F32/F16/BF16, offsets inside the data section
// (a truncated file fails here), sizes matching shape x dtype.
std::map<std::string, HfTensor> read_header(const MappedFile& f) {
  const std::string& path = f.path();
  SG_CHECK(f.size() >= 8, "import: {}: {} bytes, shorter than the 8-byte header length (truncated?)", path, f.size());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(f.data()[i])) << (8 * i);
  SG_CHECK(n <= f.size() - 8, "import: {}: header length {} runs past the end of the file ({} bytes; truncated?)", path,
           n, f.size());
  json header;
  try {
    header = json::parse(f.data() + 8, f.data() + 8 + n);
  } catch (const json::exception& e) {
    fail("import: {}: safetensors header is not valid JSON: {}", path, e.what());
  }
  SG_CHECK(header.is_object(), "import: {}: safetensors header must be a JSON object", path);
  const char* data = f.data() + 8 + n;
  const uint64_t data_size = f.size() - 8 - n;
  std::map<std::string, HfTensor> out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const json& v = it.value();
    SG_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
             "import: {}: tensor '{}': entry needs dtype, shape and data_offsets, got {}", path, name, v.dump());
    SG_CHECK(v["dtype"].is_string(), "import: {}: tensor '{}': dtype must be a string", path, name);
    HfTensor t;
    t.dtype = v["dtype"].get<std::string>();
    SG_CHECK(t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16",
             "import: {}: tensor '{}' has dtype {}: only F32, F16 and BF16 weights can be imported", path, name,
             t.dtype);
    SG_CHECK(v["shape"].is_array(), "import: {}: tensor '{}': shape must be an array", path, name);
    uint64_t numel = 1;
    for (const json& d : v["shape"]) {
      SG_CHECK(d.is_number_unsigned() && d.get<uint64_t>() < (uint64_t{1} << 40),
               "import: {}: tensor '{}': bad shape {}", path, name, v["shape"].dump());
      t.shape.push_back(d.get<int64_t>());
      numel *= d.get<uint64_t>();
    }
    const json& off = v["data_offsets"];
    SG_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned() &&
                 off[0].get<uint64_t>() <= off[1].get<uint64_t>(),
             "import: {}: tensor '{}': data_offsets must be [begin, end], got {}", path, name, off.dump());
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    SG_CHECK(end <= data_size,
             "import: {}: tensor '{}': data_offsets [{}, {}] run past the end of the data ({} bytes): the file is "
             "truncated",
             path, name, begin, end, data_size);
    SG_CHECK(end - begin == numel * element_size(t.dtype),
             "import: {}: tensor '{}': data_offsets [{}, {}] hold {} bytes, shape {} {} needs {}", path, name, begin,
             end, end - begin, shape_str(t.shape), t.dtype, numel * element_size(t.dtype));
    t.bytes = data + begin;
    t.file = &f;
    out.emplace(name, std::move(t));
  }
  return out;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // Inf, NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {        // subnormal: normalise
    exp = 113;
    while (!(mant & 0x400)) mant <<= 1, --exp;
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// dst[i] = the f32 value of element i of `t` (read from the mapping; memcpy: the bytes need not be aligned).
void convert_to_f32(const HfTensor& t, float* dst, int64_t n) {
  const char* src = t.bytes;
  if (t.dtype == "F32") {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  const bool bf = t.dtype == "BF16";
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    if (bf) {
      uint32_t bits = static_cast<uint32_t>(h) << 16;
      std::memcpy(&dst[i], &bits, 4);
    } else {
      dst[i] = f16_to_f32(h);
    }
  }
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
    set.tensors = read_header(*set.files.back());
    return set;
  }
  const json j = parse_json_file(index, "index");
  SG_CHECK(j.contains("weight_map") && j["weight_map"].is_object(),
           "import: {}: required field weight_map (tensor name -> shard file) is missing", index);
  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    SG_CHECK(it.value().is_string(), "import: {}: weight_map[\"{}\"] must be a file name, got {}", index, it.key(),
             it.value().dump());
    const std::string shard = it.value().get<std::string>();
    SG_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "." && shard != "..",
             "import: {}: weight_map[\"{}\"] names '{}', not a file in this folder", index, it.key(), shard);
    names_by_shard[shard].push_back(it.key());
  }
  for (const auto& [shard, names] : names_by_shard) {
    const std::string path = dir + "/" + shard;
    SG_CHECK(file_exists(path), "import: {}: shard {} (holding '{}' and {} more tensors) is missing", index, path,
             names.front(), names.size() - 1);
    set.files.push_back(std::make_unique<MappedFile>(path));
    std::map<std::string, HfTensor> in_shard = read_header(*set.files.back());
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

SiglipConfig read_hf_config(const std::string& path) {
  const json j = parse_json_file(path, "config.json");
  SG_CHECK(j.is_object(), "import: {}: expected a JSON object", path);
  SG_CHECK(j.contains("model_type"), "import: {}: required field model_type is missing (expected \"siglip\")", path);
  SG_CHECK(j["model_type"] == "siglip", "import: {}: model_type is {}: only \"siglip\" (SiglipModel) can be imported",
           path, j["model_type"].dump());
  const json& t = section_of(j, path, "text_config");
  const json& v = section_of(j, path, "vision_config");
  require_default(t, path, "text_config.");
  require_default(v, path, "vision_config.");

  SiglipConfig c;
  const std::string tw = "text_config.", vw = "vision_config.";
  c.text.vocab_size = int_field(t, path, tw, "vocab_size", true, 0);
  c.text.hidden_size = int_field(t, path, tw, "hidden_size", true, 0);
  c.text.intermediate_size = int_field(t, path, tw, "intermediate_size", true, 0);
  c.text.num_hidden_layers = int_field(t, path, tw, "num_hidden_layers", true, 0);
  c.text.num_attention_heads = int_field(t, path, tw, "num_attention_heads", true, 0);
  c.text.max_position_embeddings = int_field(t, path, tw, "max_position_embeddings", true, 0);
  c.text.projection_size = t.contains("projection_size") && t["projection_size"].is_null()
                               ? c.text.hidden_size
                               : int_field(t, path, tw, "projection_size", false, c.text.hidden_size);
  c.text.layer_norm_eps = float_field(t, path, tw, "layer_norm_eps", 1e-6);

  c.vision.hidden_size = int_field(v, path, vw, "hidden_size", true, 0);
  c.vision.intermediate_size = int_field(v, path, vw, "intermediate_size", true, 0);
  c.vision.num_hidden_layers = int_field(v, path, vw, "num_hidden_layers", true, 0);
  c.vision.num_attention_heads = int_field(v, path, vw, "num_attention_heads", true, 0);
  c.vision.image_size = int_field(v, path, vw, "image_size", true, 0, true);
  c.vision.patch_size = int_field(v, path, vw, "patch_size", true, 0, true);
  c.vision.num_channels = int_field(v, path, vw, "num_channels", false, 3);
  c.vision.layer_norm_eps = float_field(v, path, vw, "layer_norm_eps", 1e-6);
  bool use_head = true;
  if (v.contains("vision_use_head")) {
    SG_CHECK(v["vision_use_head"].is_boolean(), "import: {}: vision_config.vision_use_head must be true or false, got {}",
             path, v["vision_use_head"].dump());
    use_head = v["vision_use_head"].get<bool>();
  }
  c.vision.pool = use_head ? "map" : "mean";
  c.validate(path);
  return c;
}

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
    convert_to_f32(t, static_cast<float*>(p->data_ptr()), p->numel());
    t.file->release(t.bytes, static_cast<size_t>(p->numel()) * element_size(t.dtype));
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
