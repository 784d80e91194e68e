// sentencepiece_tokenizer.h: the SentencePiece tokenizer of a Hugging Face SigLIP / SigLIP 2 checkpoint,
// producing exactly the ids of transformers' tokenizer called as SigLIP must be called:
//   tokenizer(text, padding="max_length", max_length=L, truncation=True)["input_ids"]
// (the text tower pools the last position and has no attention mask, so every text has length L).
//
// A folder holds spiece.model (SigLIP) or tokenizer.model (SigLIP 2), and optionally tokenizer_config.json,
// special_tokens_map.json, tokenizer.json (its added tokens and post-processor) and config.json (model_type).
// The class is the one AutoTokenizer picks: Siglip2Tokenizer when config.json's model_type is "siglip2", else
// tokenizer_config.json's "tokenizer_class", else SiglipTokenizer with spiece.model, GemmaTokenizer otherwise.
//   SiglipTokenizer (transformers' Python tokenizer): text = "▁" + text (with '▁' -> ' '), split on the added
//     and special tokens (added_tokens.h, slow_tokenizer_chunks); each text chunk canonicalised alone
//     (canonicalize_text: Python's lower() when do_lower_case, default true; ASCII punctuation removed; runs
//     of whitespace -> ' '; ends stripped) and encoded as the SentencePiece pieces of unk_token + chunk minus
//     those of unk_token alone; a first piece "▁" before a special token is dropped; eos appended unless the
//     ids already end with it; pad = eos = "</s>". "legacy": false turns the model's dummy prefix off, as
//     transformers does. Special tokens are matched case-sensitively before lower-casing: "</S>" is text.
//   GemmaTokenizer / Siglip2Tokenizer (tokenizers-backed): split on the added tokens (fast_tokenizer_chunks),
//     each text chunk lower-cased code point by code point (Siglip2Tokenizer only) and encoded by SentencePiece
//     (BPE, byte fallback); bos / eos as add_bos_token / add_eos_token say, or, when tokenizer.json is there,
//     as its post-processor says (transformers then ignores the two flags); pad = "<pad>", eos = "<eos>".
// Added tokens: tokenizer_config.json's added_tokens_decoder, else tokenizer.json's added_tokens, plus the
// special tokens (bos, eos, unk, sep, pad, cls, mask, extra_special_tokens / additional_special_tokens);
// special_tokens_map.json overrides tokenizer_config.json only when the latter has no added_tokens_decoder,
// as in transformers. An added token outside the model's vocabulary cannot be encoded (an error names it).
// Truncation keeps the special tokens: the text's ids are cut to L minus their count. Padding goes on the
// padding_side of the config (default: right for SigLIP, left for Gemma, as transformers).
// Immutable once loaded; encode() may be called from several threads.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "siglip/added_tokens.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace sg {

class SentencePieceTokenizer {
 public:
  enum class Style { siglip, gemma };

  // True when `dir` holds spiece.model or tokenizer.model.
  static bool folder_has_model(const std::string& dir);
  // Errors (no model file, a file that does not load or parse, unknown special tokens) name the file.
  static SentencePieceTokenizer load(const std::string& dir);
  // The same from the files' bytes: `model_file` ("spiece.model" or "tokenizer.model") holding `model_bytes`, and
  // the texts of tokenizer_config.json and special_tokens_map.json (nullopt: the file is absent). Errors name the
  // files as dir/<name>.
  static SentencePieceTokenizer load_from_memory(const std::string& dir, const std::string& model_file,
                                                 std::string model_bytes,
                                                 const std::optional<std::string>& tokenizer_config_json = {},
                                                 const std::optional<std::string>& special_tokens_map_json = {});

  // Exactly max_len ids (max_len >= 1).
  std::vector<int64_t> encode(const std::string& text, int max_len) const;
  // The ids up to the first eos or pad, decoded by SentencePiece.
  std::string decode(const std::vector<int64_t>& ids) const;
  // SiglipTokenizer.canonicalize_text (lower-casing when do_lower_case).
  std::string canonicalize(const std::string& text) const;

  int64_t vocab_size() const;
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t bos_id() const { return bos_id_; }  // -1: no bos added
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const std::string& unk_token() const { return unk_token_; }
  std::string piece(int64_t id) const;  // the piece of an id in the vocabulary
  Style style() const { return style_; }
  const std::string& model_file() const { return model_file_; }

  // Writes the model file (under its own name) and tokenizer_config.json into `dir`, atomically: the folder's
  // tokenizer_config.json with the settings resolved above written out (class, special and added tokens,
  // bos / eos, padding side, legacy), so that transformers and load() read the same tokenizer from it alone.
  void save(const std::string& dir) const;

 private:
  std::vector<int64_t> text_ids(const std::string& text) const;  // before special tokens, truncation, padding
  std::vector<int64_t> siglip_text_ids(const std::string& text) const;
  std::vector<int64_t> gemma_text_ids(const std::string& text) const;
  std::vector<std::string> siglip_chunk_pieces(const std::string& chunk) const;  // SiglipTokenizer._tokenize
  void append_sentencepiece_ids(const std::string& text, std::vector<int64_t>& ids) const;
  int64_t piece_id(const std::string& piece) const;  // added tokens first, then the model
  int64_t added_token_id(int token) const;           // throws for a token outside the vocabulary
  void break_ties_as_sentencepiece_0_2(std::vector<std::string>& pieces) const;
  std::vector<std::vector<std::string>> word_segmentations(const std::string& surface) const;
  void read_special_tokens(const nlohmann::json& config, const nlohmann::json& special, const nlohmann::json& tokenizer_json,
                           const std::string& config_path, const std::string& map_path, const std::string& json_path);
  void read_post_processor(const nlohmann::json& tokenizer_json, const std::string& json_path);

  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  std::string model_file_;    // "spiece.model" or "tokenizer.model"
  std::string serialized_;    // the model file's bytes
  // tokenizer_config.json as read (save() keeps its other fields); held through a pointer so that this header,
  // which tokenizer.h and so most of the program include, needs only json_fwd.hpp
  std::shared_ptr<const nlohmann::json> config_;
  std::string tokenizer_class_;
  Style style_ = Style::siglip;
  bool lower_ = true;
  bool legacy_ = true;
  bool add_bos_ = false, add_eos_ = true;
  bool pad_left_ = false;
  std::string unk_token_ = "<unk>";
  int64_t eos_id_ = 1, pad_id_ = 1, bos_id_ = -1;
  size_t unk_prefix_pieces_ = 0;  // pieces of unk_token alone (SigLIP style)
  std::vector<AddedToken> added_;                     // the added tokens, the special ones included
  std::vector<std::pair<std::string, std::string>> named_;  // ("eos_token", "</s>"), ...: the named special tokens
  std::vector<std::string> extra_special_;            // extra_special_tokens
  std::vector<std::string> special_strings_;          // all_special_tokens: named then extra
  std::vector<int> raw_match_, normalized_match_;     // Gemma style: tokens matched on raw / normalised text
  std::vector<std::string> raw_patterns_, normalized_patterns_;
};

}  // namespace sg
