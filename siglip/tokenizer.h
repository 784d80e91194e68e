// tokenizer.h: the model's tokenizer: a word-level tokenizer built from the training captions, or the
// SentencePiece tokenizer of a Hugging Face checkpoint (siglip/sentencepiece_tokenizer.h), behind one interface:
// encode(text, L) -> exactly L ids. The word tokenizer:
//
// Text is canonicalised as SigLIP does (big_vision's canonicalize_text): '_' becomes a space, ASCII
// punctuation is removed, ASCII letters are lower-cased, runs of whitespace collapse to one space, and the
// ends are trimmed. Words are the space-separated pieces of the canonical text.
// Ids: 0 = "</s>" (end of sequence, also used as padding), 1 = "<unk>", then the words by descending count in
// the training captions (ties alphabetical, byte order). encode() appends eos and pads with eos to max_len;
// text too long keeps its first max_len - 1 words and ends with eos.
// A built or loaded Tokenizer is immutable, so its const methods may be called from several threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <memory>
#include <unordered_map>
#include <vector>

#include "siglip/sentencepiece_tokenizer.h"

namespace sg {

class Tokenizer {
 public:
  // max_vocab: the largest vocabulary (the two specials included); min_count: words seen fewer times are
  // left out (they encode as <unk>).
  static Tokenizer build(const std::vector<std::string>& captions, size_t max_vocab = 32000, int min_count = 1);
  static std::string canonicalize(const std::string& text);
  static Tokenizer from_sentencepiece(SentencePieceTokenizer sp);

  // A checkpoint's tokenizer: SentencePiece when `dir` holds spiece.model or tokenizer.model, else the word
  // tokenizer of dir/tokenizer.json. save_folder() writes what load_folder() reads.
  static Tokenizer load_folder(const std::string& dir);
  void save_folder(const std::string& dir) const;
  // The SentencePiece tokenizer, or nullptr for the word tokenizer.
  const SentencePieceTokenizer* sentencepiece() const { return sp_.get(); }

  // Exactly max_len ids (max_len >= 1).
  std::vector<int64_t> encode(const std::string& text, int max_len) const;
  // Words up to the first eos, joined by spaces; ids outside the vocabulary throw sg::Error.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const { return sp_ ? sp_->vocab_size() : static_cast<int64_t>(vocab_.size()); }
  int64_t eos_id() const { return sp_ ? sp_->eos_id() : 0; }
  int64_t pad_id() const { return sp_ ? sp_->pad_id() : 0; }
  // The word tokenizer's <unk>, vocabulary (empty for SentencePiece) and word ids.
  int64_t unk_id() const { return 1; }
  const std::vector<std::string>& vocab() const { return vocab_; }
  int64_t id_of(const std::string& word) const;  // unk_id() when absent

  // JSON {"type": "word", "vocab": [...]}, written atomically (temporary file, fsync, rename).
  void save(const std::string& path) const;
  // Errors (missing file, bad JSON, wrong type, bad vocabulary) throw sg::Error naming the file.
  static Tokenizer load(const std::string& path);
  // The word tokenizer from the text of a tokenizer.json; `source` names it in errors.
  static Tokenizer parse(const std::string& text, const std::string& source);

 private:
  void index();
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
  std::shared_ptr<const SentencePieceTokenizer> sp_;
};

}  // namespace sg
