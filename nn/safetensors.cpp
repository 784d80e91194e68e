// safetensors.cpp: writer and validating reader for the Hugging Face safetensors format.
#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "nn/fileio.h"

namespace sg {

static_assert(std::endian::native == std::endian::little, "safetensors: this code assumes a little-endian host");

namespace {

using json = nlohmann::json;

// I32 (token ids as numpy and some tokenizers write them) is read as I64: `*widen_i32` says so.
bool dtype_from_string(const std::string& s, DType* out, bool* widen_i32) {
  *widen_i32 = s == "I32";
  if (s == "I32") return *out = DType::I64, true;
  if (s == "F32") return *out = DType::F32, true;
  if (s == "F64") return *out = DType::F64, true;
  if (s == "I64") return *out = DType::I64, true;
  if (s == "BF16") return *out = DType::BF16, true;
  return false;
}

// Closes the descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// pread until `n` bytes are read; returns 0, or an errno (EIO for an unexpected end of file).
int pread_all(int fd, void* dst, size_t n, uint64_t offset) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO;
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return 0;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
  bool widen_i32 = false;  // stored as I32 in the file, loaded as I64
};

}  // namespace

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::BF16: return "BF16";
  }
  return "?";
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Sorted by name; duplicates rejected.
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    SG_CHECK(!name.empty(), "safetensors: {}: tensor #{} has an empty name", path, i);
    SG_CHECK(name != "__metadata__", "safetensors: {}: '__metadata__' is reserved and cannot name a tensor", path);
    SG_CHECK(t.defined(), "safetensors: {}: tensor '{}' is undefined", path, name);
    SG_CHECK(order.emplace(name, i).second, "safetensors: {}: tensor name '{}' appears more than once", path, name);
  }

  std::vector<Tensor> host;  // keeps the contiguous host copies alive until the write
  host.reserve(order.size());
  std::vector<std::string_view> parts;
  parts.reserve(order.size() + 2);
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, idx] : order) {
    Tensor h = tensors[idx].second.detach().to(Device::CPU).contiguous();
    size_t nbytes = static_cast<size_t>(h.numel()) * dtype_size(h.dtype());
    json shape = json::array();
    for (auto s : h.shape()) shape.push_back(s);
    header[name] = {{"dtype", safetensors_dtype(h.dtype())},
                    {"shape", std::move(shape)},
                    {"data_offsets", json::array({offset, offset + nbytes})}};
    offset += nbytes;
    if (nbytes) parts.emplace_back(static_cast<const char*>(h.data_ptr()), nbytes);
    host.push_back(std::move(h));
  }
  if (!metadata.empty()) {
    json md = json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = std::move(md);
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail("safetensors: {}: cannot encode the header (names and metadata must be valid UTF-8): {}", path, e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t n = text.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  parts.insert(parts.begin(), {std::string_view(len, 8), std::string_view(text)});
  write_file_atomic_parts(path, parts);
}

std::map<std::string, Tensor> load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    int e = errno;
    fail("safetensors: {}: cannot open: {}", path, std::strerror(e));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    int e = errno;
    fail("safetensors: {}: cannot stat: {}", path, std::strerror(e));
  }
  SG_CHECK(!S_ISDIR(st.st_mode), "safetensors: {}: is a directory", path);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  SG_CHECK(file_size >= 8, "safetensors: {}: file is {} bytes, shorter than the 8-byte header length field", path,
           file_size);

  unsigned char len[8];
  if (int e = pread_all(f.fd, len, 8, 0)) fail("safetensors: {}: read failed: {}", path, std::strerror(e));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(len[i]) << (8 * i);
  SG_CHECK(n <= file_size - 8, "safetensors: {}: header length {} runs past the end of the file ({} bytes)", path, n,
           file_size);
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = file_size - data_start;

  std::string text(static_cast<size_t>(n), '\0');
  if (int e = pread_all(f.fd, text.data(), text.size(), 8))
    fail("safetensors: {}: read failed: {}", path, std::strerror(e));
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    fail("safetensors: {}: header is not valid JSON: {}", path, e.what());
  }
  SG_CHECK(header.is_object(), "safetensors: {}: header must be a JSON object, got {}", path, header.type_name());

  std::vector<Entry> entries;
  if (metadata) metadata->clear();
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      SG_CHECK(v.is_object(), "safetensors: {}: __metadata__ must be an object of strings, got {}", path,
               v.type_name());
      for (auto m = v.begin(); m != v.end(); ++m) {
        SG_CHECK(m.value().is_string(), "safetensors: {}: __metadata__ value of '{}' must be a string, got {}", path,
                 m.key(), m.value().type_name());
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    SG_CHECK(v.is_object(), "safetensors: {}: tensor '{}': entry must be an object, got {}", path, name, v.type_name());
    auto field = [&](const char* key) -> const json& {
      auto f2 = v.find(key);
      if (f2 == v.end()) fail("safetensors: {}: tensor '{}': missing \"{}\"", path, name, key);
      return *f2;
    };
    const json& jd = field("dtype");
    const json& js = field("shape");
    const json& jo = field("data_offsets");
    SG_CHECK(jd.is_string(), "safetensors: {}: tensor '{}': dtype must be a string, got {}", path, name, jd.dump());
    Entry e;
    e.name = name;
    if (!dtype_from_string(jd.get<std::string>(), &e.dtype, &e.widen_i32))
      fail("safetensors: {}: tensor '{}': dtype '{}' is not supported (supported: F32, F64, I64, I32, BF16)", path,
           name, jd.get<std::string>());
    SG_CHECK(js.is_array(), "safetensors: {}: tensor '{}': shape must be an array, got {}", path, name, js.dump());
    // extent: the product of the non-zero sizes. It bounds every stride, so it must fit in int64 even when a
    // zero size makes the tensor empty ([0, 2^62, 2^62] holds no bytes, but its strides overflow).
    uint64_t numel = 1, extent = 1;
    bool overflow = false;
    for (const auto& s : js) {
      SG_CHECK(s.is_number_integer() && (s.is_number_unsigned() || s.get<int64_t>() >= 0),
               "safetensors: {}: tensor '{}': shape {} must hold non-negative integers", path, name, js.dump());
      uint64_t d = s.get<uint64_t>();
      SG_CHECK(d <= static_cast<uint64_t>(INT64_MAX), "safetensors: {}: tensor '{}': shape {} is too large", path,
               name, js.dump());
      overflow |= __builtin_mul_overflow(numel, d, &numel);
      if (d != 0) overflow |= __builtin_mul_overflow(extent, d, &extent);
      e.shape.push_back(static_cast<int64_t>(d));
    }
    uint64_t need = 0;
    const uint64_t file_elem_size = e.widen_i32 ? sizeof(int32_t) : dtype_size(e.dtype);
    overflow |= __builtin_mul_overflow(numel, file_elem_size, &need);
    SG_CHECK(!overflow && extent <= static_cast<uint64_t>(INT64_MAX),
             "safetensors: {}: tensor '{}': shape {} is too large", path, name, js.dump());
    SG_CHECK(jo.is_array() && jo.size() == 2 && jo[0].is_number_unsigned() && jo[1].is_number_unsigned(),
             "safetensors: {}: tensor '{}': data_offsets must be [begin, end] with non-negative integers, got {}",
             path, name, jo.dump());
    e.begin = jo[0].get<uint64_t>();
    e.end = jo[1].get<uint64_t>();
    SG_CHECK(e.begin <= e.end, "safetensors: {}: tensor '{}': data_offsets [{}, {}] end before they begin", path,
             name, e.begin, e.end);
    SG_CHECK(e.end <= data_size,
             "safetensors: {}: tensor '{}': data_offsets [{}, {}] run past the end of the data ({} bytes)", path, name,
             e.begin, e.end, data_size);
    SG_CHECK(e.end - e.begin == need,
             "safetensors: {}: tensor '{}': data_offsets [{}, {}] hold {} bytes, shape {} {} needs {}", path, name,
             e.begin, e.end, e.end - e.begin, shape_str(e.shape), e.widen_i32 ? "int32" : dtype_name(e.dtype), need);
    entries.push_back(std::move(e));
  }

  // No two tensors may share bytes (empty tensors occupy none).
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry* a = by_offset[i - 1];
    const Entry* b = by_offset[i];
    SG_CHECK(b->begin >= a->end, "safetensors: {}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", path, a->name,
             a->begin, a->end, b->name, b->begin, b->end);
  }

  std::map<std::string, Tensor> out;
  for (const auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::CPU);
    size_t nbytes = static_cast<size_t>(e.end - e.begin);
    std::vector<int32_t> narrow(e.widen_i32 ? static_cast<size_t>(t.numel()) : 0);
    void* dst = e.widen_i32 ? static_cast<void*>(narrow.data()) : t.data_ptr();
    if (nbytes)
      if (int err = pread_all(f.fd, dst, nbytes, data_start + e.begin))
        fail("safetensors: {}: tensor '{}': read failed: {}", path, e.name, std::strerror(err));
    for (size_t i = 0; i < narrow.size(); ++i) t.data<int64_t>()[i] = narrow[i];
    out.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace sg
