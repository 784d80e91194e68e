// hf_safetensors.cpp: memory-mapped safetensors files and the shard index of a Hugging Face folder
// (see hf_safetensors.h).
#include "siglip/hf_safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace sg {
namespace {

using json = nlohmann::json;

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

}  // namespace

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
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

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

void MappedFile::release(const char* p, size_t n) const {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1), end = reinterpret_cast<uintptr_t>(p) + n;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

size_t hf_element_size(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }

std::map<std::string, HfTensor> read_hf_safetensors_header(const std::string& path, const char* bytes, size_t size) {
  SG_CHECK(size >= 8, "import: {}: {} bytes, shorter than the 8-byte header length (truncated?)", path, size);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  SG_CHECK(n <= size - 8, "import: {}: header length {} runs past the end of the file ({} bytes; truncated?)", path, n,
           size);
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + n);
  } catch (const json::exception& e) {
    fail("import: {}: safetensors header is not valid JSON: {}", path, e.what());
  }
  SG_CHECK(header.is_object(), "import: {}: safetensors header must be a JSON object", path);
  const char* data = bytes + 8 + n;
  const uint64_t data_size = size - 8 - n;
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
    uint64_t numel = 1, extent = 1;  // extent: the product of the non-zero sizes (it bounds every stride)
    bool overflow = false;
    for (const json& d : v["shape"]) {
      SG_CHECK(d.is_number_unsigned() && d.get<uint64_t>() < (uint64_t{1} << 40),
               "import: {}: tensor '{}': bad shape {}", path, name, v["shape"].dump());
      t.shape.push_back(d.get<int64_t>());
      overflow |= __builtin_mul_overflow(numel, d.get<uint64_t>(), &numel);
      if (d.get<uint64_t>() != 0) overflow |= __builtin_mul_overflow(extent, d.get<uint64_t>(), &extent);
    }
    uint64_t need = 0;
    overflow |= __builtin_mul_overflow(numel, hf_element_size(t.dtype), &need);
    SG_CHECK(!overflow && extent <= static_cast<uint64_t>(INT64_MAX), "import: {}: tensor '{}': shape {} is too large",
             path, name, shape_str(t.shape));
    const json& off = v["data_offsets"];
    SG_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned() &&
                 off[0].get<uint64_t>() <= off[1].get<uint64_t>(),
             "import: {}: tensor '{}': data_offsets must be [begin, end], got {}", path, name, off.dump());
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    SG_CHECK(end <= data_size,
             "import: {}: tensor '{}': data_offsets [{}, {}] run past the end of the data ({} bytes): the file is "
             "truncated",
             path, name, begin, end, data_size);
    SG_CHECK(end - begin == need, "import: {}: tensor '{}': data_offsets [{}, {}] hold {} bytes, shape {} {} needs {}",
             path, name, begin, end, end - begin, shape_str(t.shape), t.dtype, need);
    t.numel = static_cast<int64_t>(numel);
    t.bytes = data + begin;
    out.emplace(name, std::move(t));
  }
  return out;
}

void convert_to_f32(const HfTensor& t, float* dst) {
  const char* src = t.bytes;
  const int64_t n = t.numel;
  if (t.dtype == "F32") {
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * 4);
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

std::map<std::string, std::vector<std::string>> read_hf_shard_index(const std::string& path, const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("import: {}: malformed JSON at byte {}: {}", path, e.byte, e.what());
  } catch (const json::exception& e) {  // out_of_range: a number past double's range ("1e999")
    fail("import: {}: malformed JSON: {}", path, e.what());
  }
  SG_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
           "import: {}: required field weight_map (tensor name -> shard file) is missing", path);
  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    SG_CHECK(it.value().is_string(), "import: {}: weight_map[\"{}\"] must be a file name, got {}", path, it.key(),
             it.value().dump());
    const std::string shard = it.value().get<std::string>();
    SG_CHECK(!shard.empty() && shard.find_first_of(std::string("/\0", 2)) == std::string::npos && shard != "." &&
                 shard != "..",
             "import: {}: weight_map[\"{}\"] names {}, not a file in this folder", path, it.key(),
             it.value().dump());  // JSON-quoted: a NUL would end the message
    names_by_shard[shard].push_back(it.key());
  }
  return names_by_shard;
}

}  // namespace sg
