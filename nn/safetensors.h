// safetensors.h: the Hugging Face safetensors format, byte for byte.
//
//   [8 bytes] N, little-endian uint64
//   [N bytes] JSON header, padded with spaces so that N % 8 == 0:
//             {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//              "__metadata__": {"key": "value", ...}}          (__metadata__ optional, string -> string)
//   [rest]    raw little-endian tensor data; offsets are relative to the start of this section.
// We write tensors in the order of their sorted names, back to back, with no gaps (as the HF library does,
// and as its loader requires). Supported dtypes: F32, F64, I64, BF16 (BF16 loads as DType::BF16 storage); I32 is
// read only, widened to I64 (token ids written by numpy or a tokenizer as int32).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace sg {

// Writes `tensors` to `path` atomically (write_file_atomic). Tensors may be non-contiguous views or live on
// the GPU; they are copied to contiguous host memory first. Names must be unique and non-empty and may not
// be "__metadata__". Throws sg::Error naming the file and the problem.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor of `path` (contiguous CPU tensors, no autograd) and, when `metadata` is given, its
// __metadata__ (cleared first). Validates the whole file and throws sg::Error naming the file and the
// problem: short file, header length past the end, malformed JSON, unknown dtype, bad shape, data_offsets
// out of range, overlapping, or not matching shape x dtype size.
std::map<std::string, Tensor> load_safetensors(const std::string& path,
                                               std::map<std::string, std::string>* metadata = nullptr);

// The safetensors dtype string ("F32", "F64", "I64", "BF16").
const char* safetensors_dtype(DType t);

}  // namespace sg
