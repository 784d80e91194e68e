// added_tokens.h: splitting text on a tokenizer's added and special tokens ("</s>", "<unk>", "<pad>", ...),
// before SentencePiece sees it, as transformers does, in its two ways:
//
// - slow_tokenizer_chunks: PreTrainedTokenizer.tokenize (transformers' Python tokenizers, SiglipTokenizer):
//   Trie.split over code points (its own longest-match rules, ported as they are), then each token's rstrip /
//   lstrip strips Python str.isspace() characters off the neighbouring text, single_word glues a token that
//   touches a non-space back onto its neighbour. The chunks between tokens are then tokenised one by one.
// - fast_tokenizer_chunks: tokenizers' AddedVocabulary (GemmaTokenizer, Siglip2Tokenizer): leftmost-longest
//   matches on the raw text for tokens with normalized = false; lstrip / rstrip take the Unicode White_Space
//   around a match into it. Tokens with normalized = true are matched after normalisation (the caller does
//   that second pass on each text chunk with the normalised token contents).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sg {

struct AddedToken {
  std::string content;
  int64_t id = -1;  // -1: not in the model's vocabulary (transformers would give it a new id)
  bool lstrip = false, rstrip = false, single_word = false, normalized = false, special = true;
};

// A piece of the text: either an added token (token >= 0, an index into the token list) or text.
struct TextChunk {
  std::string text;
  int token = -1;
};

// PreTrainedTokenizer.tokenize's split on `tokens` (transformers adds every special token to its added tokens).
// Chunks that became empty are dropped.
std::vector<TextChunk> slow_tokenizer_chunks(const std::string& text, const std::vector<AddedToken>& tokens);

// tokenizers' find_matches over `text` with the tokens whose index is in `candidates`; `patterns[i]` is the
// string matched for candidates[i] (the token's content, or its normalised content).
std::vector<TextChunk> fast_tokenizer_chunks(const std::string& text, const std::vector<AddedToken>& tokens,
                                             const std::vector<int>& candidates,
                                             const std::vector<std::string>& patterns);

}  // namespace sg
