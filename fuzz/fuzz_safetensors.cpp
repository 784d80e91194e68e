// fuzz_safetensors: one input = the bytes of a .safetensors file, read by both of the project's readers:
//   load_safetensors (nn/safetensors.h: pread from a file; checkpoints, token files), through a tmpfs file, and
//   read_hf_safetensors_header + convert_to_f32 (siglip/hf_safetensors.h: the importer's memory-mapped reader),
//   over the fuzzer's own buffer (AddressSanitizer sees a read past its end) and over a mapping of the file.
// Either may throw sg::Error; every tensor they return must have all its bytes readable.
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "nn/safetensors.h"
#include "siglip/hf_safetensors.h"

namespace {

// Reads every element (ASan reports bytes that are not the tensor's); the sum keeps the loop.
double touch(const sg::Tensor& t) {
  const auto* p = static_cast<const unsigned char*>(t.data_ptr());
  const size_t n = static_cast<size_t>(t.numel()) * sg::dtype_size(t.dtype());
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

void read_mapped(const std::string& path, const char* data, size_t size) {
  std::map<std::string, sg::HfTensor> tensors = sg::read_hf_safetensors_header(path, data, size);
  for (const auto& [name, t] : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape)
      if (__builtin_mul_overflow(numel, d, &numel)) sg::fuzz::property_failed("HfTensor shape overflows int64");
    if (numel != t.numel) sg::fuzz::property_failed("HfTensor numel is not the product of its shape");
    if (t.bytes < data || t.bytes + t.numel * static_cast<int64_t>(sg::hf_element_size(t.dtype)) > data + size)
      sg::fuzz::property_failed("HfTensor bytes outside the file");
    std::vector<float> out(static_cast<size_t>(t.numel));
    sg::convert_to_f32(t, out.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = sg::fuzz::scratch_path("fuzz_safetensors");
  sg::fuzz::write_scratch(path, data, size);

  try {
    std::map<std::string, std::string> metadata;
    std::map<std::string, sg::Tensor> tensors = sg::load_safetensors(path, &metadata);
    double sum = 0;
    for (const auto& [name, t] : tensors) {
      if (!t.is_contiguous()) sg::fuzz::property_failed("load_safetensors returned a non-contiguous tensor");
      sum += touch(t);
    }
    (void)sum;
  } catch (const sg::Error&) {
  }

  try {
    read_mapped("fuzz.safetensors", reinterpret_cast<const char*>(data), size);
  } catch (const sg::Error&) {
  }

  try {
    sg::MappedFile mapped(path);
    read_mapped(mapped.path(), mapped.data(), mapped.size());
  } catch (const sg::Error&) {
  }
  return 0;
}
