// tokenizer.h: a word-level tokenizer built from the training captions.
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
#include <unordered_map>
#include <vector>

namespace sg {

class Tokenizer {
 public:
  // max_vocab: the largest vocabulary (the two specials included); min_count: words seen fewer times are
  // left out (they encode as <unk>).
  static Tokenizer build(const std::vector<std::string>& captions, size_t max_vocab = 32000, int min_count = 1);
  static std::string canonicalize(const std::string& text);

  // Exactly max_len ids (max_len >= 1).
  std::vector<int64_t> encode(const std::string& text, int max_len) const;
  // Words up to the first eos, joined by spaces; ids outside the vocabulary throw sg::Error.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  int64_t eos_id() const { return 0; }
  int64_t pad_id() const { return 0; }
  int64_t unk_id() const { return 1; }
  const std::vector<std::string>& vocab() const { return vocab_; }
  int64_t id_of(const std::string& word) const;  // unk_id() when absent

  // JSON {"type": "word", "vocab": [...]}, written atomically (temporary file, fsync, rename).
  void save(const std::string& path) const;
  // Errors (missing file, bad JSON, wrong type, bad vocabulary) throw sg::Error naming the file.
  static Tokenizer load(const std::string& path);

 private:
  void index();
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace sg
