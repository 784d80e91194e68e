// fuzz_tokenizer: the tokenizer files. The first byte of an input picks what the rest is (byte % 4) and a variant
// (bit 2 of the byte):
//   0  a word tokenizer.json (Tokenizer::parse), then encode + decode of text derived from it;
//   1  a SentencePiece model file (SentencePieceTokenizer::load_from_memory, as spiece.model, or with the variant
//      bit as tokenizer.model: the SigLIP and Gemma styles), then encode + decode;
//   2  a tokenizer_config.json (or with the variant bit a special_tokens_map.json) beside the fixed model
//      fuzz/data/spiece.model, then encode;
//   3  UTF-8 text, canonicalised and encoded by the fixed model in both styles and by a word tokenizer.
// Loading may throw sg::Error, and encoding may throw it for text that is not UTF-8; encode must return exactly
// max_len ids inside the vocabulary.
#include <libgen.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "siglip/tokenizer.h"

namespace {

std::string g_fixed_model;  // the bytes of fuzz/data/spiece.model

void check_encode(const sg::Tokenizer& t, const std::string& text, int max_len) {
  std::vector<int64_t> ids;
  try {
    ids = t.encode(text, max_len);
  } catch (const sg::Error&) {
    return;  // text that is not UTF-8 (SentencePiece canonicalisation)
  }
  if (ids.size() != static_cast<size_t>(max_len)) sg::fuzz::property_failed("encode did not return max_len ids");
  for (int64_t id : ids)
    if (id < 0 || id >= t.vocab_size()) sg::fuzz::property_failed("encode returned an id outside the vocabulary");
  (void)t.decode(ids);
}

void word_tokenizer(const std::string& text) {
  const sg::Tokenizer t = sg::Tokenizer::parse(text, "tokenizer.json");
  std::string words;
  for (const auto& w : t.vocab()) words += w + " ";
  check_encode(t, words, 1 + static_cast<int>(text.size() % 64));
  check_encode(t, text, 16);
}

sg::Tokenizer sentencepiece(const std::string& model_file, std::string model,
                            const std::optional<std::string>& config = {},
                            const std::optional<std::string>& special = {}) {
  return sg::Tokenizer::from_sentencepiece(
      sg::SentencePieceTokenizer::load_from_memory("fuzz", model_file, std::move(model), config, special));
}

void sentencepiece_model(const std::string& model, bool gemma) {
  const sg::Tokenizer t = sentencepiece(gemma ? "tokenizer.model" : "spiece.model", model);
  check_encode(t, "A photo of a cat, sitting on a mat!", 16);
  check_encode(t, "", 4);
}

void sentencepiece_config(const std::string& json, bool special_tokens_map) {
  const sg::Tokenizer t = special_tokens_map ? sentencepiece("spiece.model", g_fixed_model, std::nullopt, json)
                                             : sentencepiece("spiece.model", g_fixed_model, json);
  check_encode(t, "A photo of a cat, sitting on a mat!", 16);
}

void text(const std::string& s) {
  static const sg::Tokenizer siglip = sentencepiece("spiece.model", g_fixed_model);
  static const sg::Tokenizer siglip2 =
      sentencepiece("spiece.model", g_fixed_model, R"({"tokenizer_class": "Siglip2Tokenizer", "add_bos_token": true,
                    "add_eos_token": true, "bos_token": "</s>", "eos_token": "</s>", "pad_token": "</s>"})");
  static const sg::Tokenizer words = sg::Tokenizer::build({"a photo of a cat", "two dogs on the grass"});
  try {
    (void)siglip.sentencepiece()->canonicalize(s);
  } catch (const sg::Error&) {
  }
  (void)sg::Tokenizer::canonicalize(s);
  check_encode(siglip, s, 16);
  check_encode(siglip2, s, 16);
  check_encode(words, s, 16);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Finds fuzz/data/spiece.model beside the build folder of this program (build-fuzz/fuzz_tokenizer), or in the
// current directory; $SG_FUZZ_DATA overrides the folder.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("SG_FUZZ_DATA")) dirs.emplace_back(d);
  std::string self = (*argc > 0) ? (*argv)[0] : "";
  dirs.push_back(std::string(::dirname(self.data())) + "/../fuzz/data");
  dirs.emplace_back("fuzz/data");
  for (const auto& d : dirs) {
    g_fixed_model = read_all(d + "/spiece.model");
    if (!g_fixed_model.empty()) return 0;
  }
  std::fprintf(stderr, "fuzz_tokenizer: fuzz/data/spiece.model not found (run from the repository root)\n");
  std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 4;
  const bool flag = (data[0] >> 2) & 1;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (mode) {
      case 0: word_tokenizer(rest); break;
      case 1: sentencepiece_model(rest, flag); break;
      case 2: sentencepiece_config(rest, flag); break;
      case 3: text(rest); break;
    }
  } catch (const sg::Error&) {
  }
  return 0;
}
