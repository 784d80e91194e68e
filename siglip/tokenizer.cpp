// tokenizer.cpp: word-level tokenizer (see tokenizer.h).
#include "siglip/tokenizer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace sg {

namespace {
bool is_ascii_punct(unsigned char c) {  // Python's string.punctuation
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}
bool is_ascii_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::vector<std::string> split_words(const std::string& canonical) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < canonical.size()) {
    size_t sp = canonical.find(' ', start);
    if (sp == std::string::npos) sp = canonical.size();
    if (sp > start) words.push_back(canonical.substr(start, sp - start));
    start = sp + 1;
  }
  return words;
}
}  // namespace

std::string Tokenizer::canonicalize(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (unsigned char c : text) {
    if (c == '_') c = ' ';
    if (is_ascii_punct(c)) continue;  // removed, not replaced: "t-shirt" -> "tshirt"
    if (is_ascii_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' '), pending_space = false;
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  return out;
}

void Tokenizer::index() {
  ids_.clear();
  for (size_t i = 0; i < vocab_.size(); ++i) ids_.emplace(vocab_[i], static_cast<int64_t>(i));
}

Tokenizer Tokenizer::build(const std::vector<std::string>& captions, size_t max_vocab, int min_count) {
  SG_CHECK(max_vocab >= 2, "tokenizer: max_vocab must be >= 2 (the </s> and <unk> tokens), got {}", max_vocab);
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& c : captions)
    for (auto& w : split_words(canonicalize(c))) ++counts[w];
  std::vector<std::pair<std::string, int64_t>> words;
  for (auto& [w, n] : counts)
    if (n >= min_count) words.emplace_back(w, n);
  std::sort(words.begin(), words.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  Tokenizer t;
  t.vocab_ = {"</s>", "<unk>"};
  for (auto& [w, n] : words) {
    if (t.vocab_.size() >= max_vocab) break;
    t.vocab_.push_back(w);
  }
  t.index();
  return t;
}

int64_t Tokenizer::id_of(const std::string& word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? unk_id() : it->second;
}

Tokenizer Tokenizer::from_sentencepiece(SentencePieceTokenizer sp) {
  Tokenizer t;
  t.sp_ = std::make_shared<const SentencePieceTokenizer>(std::move(sp));
  return t;
}

Tokenizer Tokenizer::load_folder(const std::string& dir) {
  if (SentencePieceTokenizer::folder_has_model(dir)) return from_sentencepiece(SentencePieceTokenizer::load(dir));
  return load(dir + "/tokenizer.json");
}

void Tokenizer::save_folder(const std::string& dir) const {
  if (sp_) sp_->save(dir);
  else save(dir + "/tokenizer.json");
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, int max_len) const {
  if (sp_) return sp_->encode(text, max_len);
  SG_CHECK(max_len >= 1, "tokenizer: encode: max_len must be >= 1 (got {})", max_len);
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(max_len));
  for (auto& w : split_words(canonicalize(text))) {
    if (static_cast<int>(ids.size()) >= max_len - 1) break;  // room for eos
    ids.push_back(id_of(w));
  }
  ids.resize(static_cast<size_t>(max_len), eos_id());  // eos, then eos padding
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  if (sp_) return sp_->decode(ids);
  std::string out;
  for (int64_t id : ids) {
    SG_CHECK(id >= 0 && id < vocab_size(), "tokenizer: decode: id {} outside the vocabulary [0, {})", id, vocab_size());
    if (id == eos_id()) break;
    if (!out.empty()) out.push_back(' ');
    out += vocab_[static_cast<size_t>(id)];
  }
  return out;
}

void Tokenizer::save(const std::string& path) const {
  SG_CHECK(!sp_, "tokenizer: {}: a SentencePiece tokenizer is saved with save_folder()", path);
  nlohmann::json j;
  j["type"] = "word";
  j["vocab"] = vocab_;
  std::string text = j.dump() + "\n";
  std::string tmp = fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("tokenizer: {}: cannot create {} ({})", path, tmp, std::strerror(errno));
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("tokenizer: {}: write failed ({})", path, std::strerror(e));
    }
    p += w, left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("tokenizer: {}: fsync/close failed ({})", path, std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("tokenizer: {}: rename from {} failed ({})", path, tmp, std::strerror(e));
  }
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("tokenizer: {}: cannot open ({})", path, std::filesystem::exists(path) ? std::strerror(errno) : "file not found");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Tokenizer Tokenizer::parse(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer: {}: invalid JSON: {}", path, e.what());
  }
  if (!j.is_object() || !j.contains("type") || j["type"] != "word")
    fail("tokenizer: {}: not a word tokenizer (expected {{\"type\": \"word\", \"vocab\": [...]}})", path);
  if (!j.contains("vocab") || !j["vocab"].is_array()) fail("tokenizer: {}: missing \"vocab\" array", path);
  Tokenizer t;
  for (size_t i = 0; i < j["vocab"].size(); ++i) {
    const auto& w = j["vocab"][i];
    if (!w.is_string()) fail("tokenizer: {}: vocab[{}] is not a string", path, i);
    t.vocab_.push_back(w.get<std::string>());
  }
  if (t.vocab_.size() < 2 || t.vocab_[0] != "</s>" || t.vocab_[1] != "<unk>")
    fail("tokenizer: {}: vocab must start with \"</s>\", \"<unk>\"", path);
  t.index();
  if (t.ids_.size() != t.vocab_.size()) fail("tokenizer: {}: vocab has duplicate words", path);
  return t;
}

}  // namespace sg
