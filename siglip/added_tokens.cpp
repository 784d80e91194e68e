// added_tokens.cpp: splitting text on added tokens as transformers' two tokenizer kinds do (see added_tokens.h).
#include "siglip/added_tokens.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "siglip/unicode_text.h"

namespace sg {
namespace {

// transformers' Trie: one node per prefix; `end` marks a complete token.
class Trie {
 public:
  explicit Trie(const std::vector<std::u32string>& words) : nodes_(1) {
    for (const auto& word : words) {
      if (word.empty()) continue;
      int at = 0;
      for (char32_t c : word) {
        auto it = nodes_[static_cast<size_t>(at)].next.find(c);
        if (it == nodes_[static_cast<size_t>(at)].next.end()) {
          nodes_.push_back({});
          it = nodes_[static_cast<size_t>(at)].next.emplace(c, static_cast<int>(nodes_.size() - 1)).first;
        }
        at = it->second;
      }
      nodes_[static_cast<size_t>(at)].end = true;
    }
  }

  // Trie.split, step for step: `states` holds (start, node) of the partial matches in the order they began.
  std::vector<std::u32string> split(const std::u32string& text) const {
    const auto& root = nodes_[0].next;
    if (std::none_of(text.begin(), text.end(), [&](char32_t c) { return root.count(c) > 0; }))
      return text.empty() ? std::vector<std::u32string>{} : std::vector<std::u32string>{text};
    std::vector<std::pair<size_t, int>> states;
    std::vector<size_t> offsets{0};
    size_t skip = 0;
    for (size_t current = 0; current < text.size(); ++current) {
      const char32_t current_char = text[current];
      if (skip && current < skip) continue;
      std::vector<size_t> to_remove;
      bool reset = false;
      for (auto& [state_start, state_node] : states) {
        size_t start = state_start;
        if (node(state_node).end) {
          size_t end = 0;
          for (const auto& [lookstart, look_node_start] : states) {
            int look_node = look_node_start;
            if (lookstart > start) break;
            size_t lookahead = lookstart < start ? current + 1 : current;
            end = lookahead;
            if (node(look_node).end) start = lookstart, end = lookahead, skip = lookahead;
            while (lookahead < text.size() && node(look_node).next.count(text[lookahead])) {
              look_node = node(look_node).next.at(text[lookahead]);
              ++lookahead;
              if (node(look_node).end) start = lookstart, end = lookahead, skip = lookahead;
              if (lookahead == text.size()) break;
            }
          }
          offsets.push_back(start);
          offsets.push_back(end);
          reset = true;
          break;
        }
        auto next = node(state_node).next.find(current_char);
        if (next != node(state_node).next.end()) state_node = next->second;
        else to_remove.push_back(state_start);
      }
      if (reset) {
        states.clear();
      } else {
        for (size_t start : to_remove)
          states.erase(std::find_if(states.begin(), states.end(), [&](const auto& s) { return s.first == start; }));
      }
      if (current >= skip && root.count(current_char)) states.emplace_back(current, root.at(current_char));
    }
    for (const auto& [start, state_node] : states) {
      if (node(state_node).end) {
        offsets.push_back(start);
        offsets.push_back(text.size());
        break;
      }
    }
    offsets.push_back(text.size());  // Trie.cut_text
    std::vector<std::u32string> parts;
    size_t start = 0;
    for (size_t end : offsets) {
      if (start >= end) continue;
      parts.push_back(text.substr(start, end - start));
      start = end;
    }
    return parts;
  }

 private:
  struct Node {
    std::map<char32_t, int> next;
    bool end = false;
  };
  const Node& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  std::vector<Node> nodes_;
};

std::u32string python_lstrip(const std::u32string& s) {
  size_t b = 0;
  while (b < s.size() && python_isspace(s[b])) ++b;
  return s.substr(b);
}

std::u32string python_rstrip(const std::u32string& s) {
  size_t e = s.size();
  while (e > 0 && python_isspace(s[e - 1])) --e;
  return s.substr(0, e);
}

// Rust's char::is_whitespace (Unicode White_Space), which the regex \s of tokenizers matches.
bool unicode_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

std::vector<TextChunk> slow_tokenizer_chunks(const std::string& text, const std::vector<AddedToken>& tokens) {
  std::vector<std::u32string> words;
  std::unordered_map<std::u32string, int> index;  // content -> token (the last of equal contents, as a dict)
  for (size_t i = 0; i < tokens.size(); ++i) {
    words.push_back(utf8_to_utf32(tokens[i].content, "tokenizer: added token"));
    index[words.back()] = static_cast<int>(i);
  }
  std::vector<std::u32string> parts = Trie(words).split(utf8_to_utf32(text, "tokenizer: text"));
  // PreTrainedTokenizer.tokenize: each added token's rstrip / lstrip / single_word acts on its neighbours.
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto it = index.find(parts[i]);
    if (it == index.end()) continue;
    const AddedToken& t = tokens[static_cast<size_t>(it->second)];
    const std::u32string token = parts[i];
    const std::u32string left = i > 0 ? parts[i - 1] : U"", right = i + 1 < parts.size() ? parts[i + 1] : U"";
    if (t.rstrip && !right.empty()) parts[i + 1] = python_lstrip(right);
    if (t.lstrip && !left.empty()) parts[i - 1] = python_rstrip(left);
    if (t.single_word) {
      if (!left.empty() && left.back() != U' ') {
        parts[i - 1] += token;
        parts[i].clear();
      } else if (!right.empty() && right.front() != U' ') {
        parts[i + 1] = token + parts[i + 1];
        parts[i].clear();
      }
    }
  }
  std::vector<TextChunk> chunks;
  for (const auto& part : parts) {
    if (part.empty()) continue;
    const auto it = index.find(part);
    chunks.push_back({utf32_to_utf8(part), it == index.end() ? -1 : it->second});
  }
  return chunks;
}

std::vector<TextChunk> fast_tokenizer_chunks(const std::string& text, const std::vector<AddedToken>& tokens,
                                             const std::vector<int>& candidates,
                                             const std::vector<std::string>& patterns) {
  std::vector<TextChunk> chunks;
  auto push_text = [&](size_t begin, size_t end) {
    if (begin < end) chunks.push_back({text.substr(begin, end - begin), -1});
  };
  // UTF-8 code points decoded one at a time, for the whitespace around a match.
  auto space_before = [&](size_t at) {  // the start of the whitespace run that ends at `at`
    const std::u32string before = utf8_to_utf32(std::string_view(text).substr(0, at), "tokenizer: text");
    size_t n = before.size();
    while (n > 0 && unicode_white_space(before[n - 1])) --n;
    return utf32_to_utf8(std::u32string_view(before).substr(0, n)).size();
  };
  auto space_after = [&](size_t at) {  // the end of the whitespace run that starts at `at`
    const std::u32string after = utf8_to_utf32(std::string_view(text).substr(at), "tokenizer: text");
    size_t n = 0;
    while (n < after.size() && unicode_white_space(after[n])) ++n;
    return at + utf32_to_utf8(std::u32string_view(after).substr(0, n)).size();
  };
  size_t start_offset = 0, search = 0;
  while (search < text.size()) {
    // Leftmost-longest: the earliest position where a pattern matches, the longest pattern there.
    size_t match_at = std::string::npos, match_len = 0;
    int match = -1;
    for (size_t at = search; at < text.size() && match < 0; ++at) {
      for (size_t k = 0; k < candidates.size(); ++k) {
        const std::string& p = patterns[k];
        if (!p.empty() && p.size() > match_len && text.compare(at, p.size(), p) == 0)
          match_at = at, match_len = p.size(), match = candidates[k];
      }
    }
    if (match < 0) break;
    size_t start = match_at, stop = match_at + match_len;
    search = stop;
    const AddedToken& t = tokens[static_cast<size_t>(match)];
    if (t.lstrip) start = std::max(space_before(start), start_offset);
    if (t.rstrip) stop = space_after(stop);
    push_text(start_offset, start);
    chunks.push_back({text.substr(start, stop - start), match});
    start_offset = stop;
  }
  push_text(start_offset, text.size());
  return chunks;
}

}  // namespace sg
