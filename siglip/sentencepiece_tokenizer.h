// sentencepiece_tokenizer.h: the SentencePiece tokenizer of a Hugging Face SigLIP / SigLIP 2 checkpoint,
// producing exactly the ids of transformers' tokenizer called as SigLIP must be called:
//   tokenizer(text, padding="max_length", max_length=L, truncation=True)["input_ids"]
// (the text tower pools the last position and has no attention mask, so every text has length L).
//
// A folder holds spiece.model (SigLIP) or tokenizer.model (SigLIP 2), and optionally tokenizer_config.json
// and special_tokens_map.json. tokenizer_config.json's "tokenizer_class" picks the style:
//   SiglipTokenizer (the default with spiece.model): text = "▁" + text (with '▁' -> ' '), then
//     canonicalize_text: Python's lower() when do_lower_case (default true), ASCII punctuation
//     (string.punctuation) removed, runs of whitespace -> ' ', ends stripped; SentencePiece pieces of
//     unk_token + text minus the pieces of unk_token alone; ids, eos appended; pad = eos = "</s>".
//   GemmaTokenizer (the default with tokenizer.model) and Siglip2Tokenizer (which lower-cases first): the text
//     as it is, SentencePiece (BPE, byte fallback); bos first when add_bos_token, eos last when add_eos_token;
//     pad = "<pad>", eos = "<eos>".
// Truncation keeps the special tokens: the text's ids are cut to L minus their count. Padding goes on the
// padding_side of the config (default: right for SigLIP, left for Gemma, as transformers).
// Honoured fields: tokenizer_class, do_lower_case, add_bos_token, add_eos_token, padding_side, eos_token,
// pad_token, unk_token, bos_token (strings or {"content": ...}), legacy (false is refused: it changes the
// model's dummy prefix). Special-token strings inside the text (e.g. a literal "</s>") are tokenised as text,
// where transformers would map them to their special id.
// Immutable once loaded; encode() may be called from several threads.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  Style style() const { return style_; }
  const std::string& model_file() const { return model_file_; }

  // Writes the model file (under its own name) and tokenizer_config.json into `dir`, atomically.
  void save(const std::string& dir) const;

 private:
  std::vector<int64_t> text_ids(const std::string& text) const;  // before special tokens, truncation, padding
  void break_ties_as_sentencepiece_0_2(std::vector<std::string>& pieces) const;

  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  std::string model_file_;    // "spiece.model" or "tokenizer.model"
  std::string serialized_;    // the model file's bytes
  std::string tokenizer_class_;
  Style style_ = Style::siglip;
  bool lower_ = true;
  bool add_bos_ = false, add_eos_ = true;
  bool pad_left_ = false;
  std::string unk_token_ = "<unk>";
  int64_t eos_id_ = 1, pad_id_ = 1, bos_id_ = -1;
  size_t unk_prefix_pieces_ = 0;  // pieces of unk_token alone (SigLIP style)
};

}  // namespace sg
