// sentencepiece_tokenizer.cpp: SentencePiece tokenizer of Hugging Face SigLIP folders (see sentencepiece_tokenizer.h).
#include "siglip/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "nn/fileio.h"
#include "siglip/unicode_text.h"

namespace sg {
namespace {

constexpr const char* kUnderline = "\xE2\x96\x81";  // "▁", SentencePiece's word-boundary mark

std::optional<std::string> read_file_if_present(const std::string& path) {
  if (!file_exists(path)) return std::nullopt;
  return read_file(path);
}

// The text of a JSON object file; nullopt (the file is absent) is an empty object.
nlohmann::json parse_json_object(const std::string& path, const std::optional<std::string>& text) {
  if (!text) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(*text);
    SG_CHECK(j.is_object(), "tokenizer: {}: expected a JSON object", path);
    return j;
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer: {}: invalid JSON: {}", path, e.what());
  }
}

// A special token is a string or an AddedToken {"content": "..."}; absent or null keeps `fallback`.
std::string token_field(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const nlohmann::json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  SG_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(),
           "tokenizer: {}: \"{}\" must be a string or {{\"content\": ...}}", file, key);
  return v["content"].get<std::string>();
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  SG_CHECK(j[key].is_string(), "tokenizer: {}: \"{}\" must be a string, got {}", file, key, j[key].dump());
  return j[key].get<std::string>();
}

bool bool_field(const nlohmann::json& j, const char* key, bool fallback, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  SG_CHECK(j[key].is_boolean(), "tokenizer: {}: \"{}\" must be true or false", file, key);
  return j[key].get<bool>();
}

bool is_ascii_punct(char32_t c) {  // Python's string.punctuation
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

}  // namespace

bool SentencePieceTokenizer::folder_has_model(const std::string& dir) {
  return file_exists(dir + "/spiece.model") || file_exists(dir + "/tokenizer.model");
}

SentencePieceTokenizer SentencePieceTokenizer::load(const std::string& dir) {
  const std::string model_file = file_exists(dir + "/spiece.model") ? "spiece.model" : "tokenizer.model";
  const std::string model_path = dir + "/" + model_file;
  SG_CHECK(file_exists(model_path), "tokenizer: {} has neither spiece.model nor tokenizer.model", dir);
  return load_from_memory(dir, model_file, read_file(model_path), read_file_if_present(dir + "/tokenizer_config.json"),
                          read_file_if_present(dir + "/special_tokens_map.json"));
}

SentencePieceTokenizer SentencePieceTokenizer::load_from_memory(const std::string& dir, const std::string& model_file,
                                                                std::string model_bytes,
                                                                const std::optional<std::string>& tokenizer_config_json,
                                                                const std::optional<std::string>& special_tokens_map_json) {
  SentencePieceTokenizer t;
  t.model_file_ = model_file;
  const std::string model_path = dir + "/" + t.model_file_;
  t.serialized_ = std::move(model_bytes);
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(t.serialized_);
  SG_CHECK(status.ok(), "tokenizer: {}: not a SentencePiece model ({})", model_path, status.ToString());
  t.sp_ = sp;

  const std::string config_path = dir + "/tokenizer_config.json", map_path = dir + "/special_tokens_map.json";
  const nlohmann::json config = parse_json_object(config_path, tokenizer_config_json),
                       special = parse_json_object(map_path, special_tokens_map_json);
  t.tokenizer_class_ = string_field(config, "tokenizer_class",
                                    t.model_file_ == "spiece.model" ? "SiglipTokenizer" : "GemmaTokenizer", config_path);
  if (t.tokenizer_class_ == "SiglipTokenizer") {
    t.style_ = Style::siglip;
  } else if (t.tokenizer_class_ == "GemmaTokenizer" || t.tokenizer_class_ == "GemmaTokenizerFast" ||
             t.tokenizer_class_ == "Siglip2Tokenizer") {
    t.style_ = Style::gemma;
  } else {
    fail("tokenizer: {}: tokenizer_class \"{}\" is not supported (SiglipTokenizer, GemmaTokenizer, Siglip2Tokenizer)",
         config_path, t.tokenizer_class_);
  }
  const bool siglip = t.style_ == Style::siglip;
  t.lower_ = siglip ? bool_field(config, "do_lower_case", true, config_path) : t.tokenizer_class_ == "Siglip2Tokenizer";
  SG_CHECK(!siglip || bool_field(config, "legacy", true, config_path),
           "tokenizer: {}: \"legacy\": false (no dummy prefix) is not supported", config_path);
  t.add_bos_ = !siglip && bool_field(config, "add_bos_token", false, config_path);
  t.add_eos_ = siglip || bool_field(config, "add_eos_token", false, config_path);
  const std::string side = string_field(config, "padding_side", siglip ? "right" : "left", config_path);
  SG_CHECK(side == "left" || side == "right", "tokenizer: {}: padding_side \"{}\" is neither left nor right", config_path, side);
  t.pad_left_ = side == "left";

  // special_tokens_map.json overrides tokenizer_config.json, as in transformers.
  auto token = [&](const char* key, const std::string& fallback) {
    return token_field(special, key, token_field(config, key, fallback, config_path), map_path);
  };
  t.unk_token_ = token("unk_token", "<unk>");
  auto id_of = [&](const std::string& piece, const char* role) {
    const int id = t.sp_->PieceToId(piece);
    SG_CHECK(id != t.sp_->unk_id() || piece == t.unk_token_, "tokenizer: {}: the {} token \"{}\" is not in the model",
             model_path, role, piece);
    return static_cast<int64_t>(id);
  };
  id_of(t.unk_token_, "unk");
  t.eos_id_ = id_of(token("eos_token", siglip ? "</s>" : "<eos>"), "eos");
  t.pad_id_ = id_of(token("pad_token", siglip ? "</s>" : "<pad>"), "pad");
  if (t.add_bos_) t.bos_id_ = id_of(token("bos_token", "<bos>"), "bos");
  if (siglip) {
    std::vector<int> unk_pieces;
    const auto st = t.sp_->Encode(t.unk_token_, &unk_pieces);
    SG_CHECK(st.ok(), "tokenizer: {}: cannot encode the unk token ({})", model_path, st.ToString());
    t.unk_prefix_pieces_ = unk_pieces.size();
  }
  return t;
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::string SentencePieceTokenizer::canonicalize(const std::string& text) const {
  std::u32string s = utf8_to_utf32(text, "tokenizer: text");
  if (lower_) s = python_lower(s);
  std::u32string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char32_t c : s) {
    if (is_ascii_punct(c)) continue;  // removed before whitespace collapses: "a - b" -> "a b"
    if (python_isspace(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return utf32_to_utf8(out);
}

// A unigram model may score several segmentations exactly alike ("..." as "." + ".." or ".." + "."). The
// SentencePiece library transformers uses (0.2) keeps, from the end, the segmentation whose last piece starts
// earliest, then the same for the text before it; older libraries (Debian's 0.1.97) may keep another. Pieces
// never span a word boundary ("▁"), so each word is re-segmented alone: among the best-scoring of its n best
// segmentations, the 0.2 one. BPE models have no n-best: left as they are.
void SentencePieceTokenizer::break_ties_as_sentencepiece_0_2(std::vector<std::string>& pieces) const {
  auto score = [&](const std::vector<std::string>& candidate) {
    double total = 0;
    for (const auto& piece : candidate) total += sp_->GetScore(sp_->PieceToId(piece));
    return total;
  };
  auto starts_from_end = [](const std::vector<std::string>& candidate) {  // the smaller wins at the first difference
    std::vector<size_t> starts;
    size_t at = 0;
    for (const auto& piece : candidate) starts.push_back(at), at += piece.size();
    std::reverse(starts.begin(), starts.end());
    return starts;
  };
  const std::string underline = kUnderline;
  std::vector<std::string> out;
  for (size_t begin = 0; begin < pieces.size();) {
    size_t end = begin + 1;
    while (end < pieces.size() && pieces[end].rfind(underline, 0) != 0) ++end;
    std::vector<std::string> word(pieces.begin() + static_cast<std::ptrdiff_t>(begin),
                                  pieces.begin() + static_cast<std::ptrdiff_t>(end));
    begin = end;
    std::string surface;
    for (const auto& piece : word) surface += piece;
    std::vector<std::vector<std::string>> nbest;
    const bool one_word = surface.rfind(underline, 0) == 0 && surface.find(underline, 1) == std::string::npos;
    const std::string text = one_word ? std::string(" ").append(surface, underline.size()) : std::string();
    if (word.size() > 1 && one_word && sp_->NBestEncode(text, 16, &nbest).ok() && !nbest.empty() &&
        score(nbest[0]) == score(word)) {
      const double best = score(word);
      std::vector<size_t> chosen = starts_from_end(word);
      for (const auto& candidate : nbest) {
        std::string candidate_surface;
        for (const auto& piece : candidate) candidate_surface += piece;
        if (candidate_surface != surface || std::abs(score(candidate) - best) > 1e-9 * (1.0 + std::abs(best))) continue;
        std::vector<size_t> starts = starts_from_end(candidate);
        if (starts < chosen) chosen = std::move(starts), word = candidate;
      }
    }
    out.insert(out.end(), word.begin(), word.end());
  }
  pieces = std::move(out);
}

std::vector<int64_t> SentencePieceTokenizer::text_ids(const std::string& text) const {
  std::vector<int64_t> ids;
  if (style_ == Style::gemma) {
    std::vector<int> sp_ids;
    // Siglip2Tokenizer lower-cases one code point at a time (tokenizers' Lowercase): no final sigma.
    const std::string input = lower_ ? utf32_to_utf8(python_lower(utf8_to_utf32(text, "tokenizer: text"), false)) : text;
    const auto st = sp_->Encode(input, &sp_ids);
    SG_CHECK(st.ok(), "tokenizer: {}: encode failed ({})", model_file_, st.ToString());
    ids.assign(sp_ids.begin(), sp_ids.end());
    return ids;
  }
  // SiglipTokenizer: "▁" + text, canonicalised, encoded behind unk_token so that SentencePiece's dummy prefix
  // falls on unk_token, whose pieces are then dropped.
  const std::string canonical = canonicalize(kUnderline + replace_all(text, kUnderline, " "));
  std::vector<std::string> pieces;
  const auto st = sp_->Encode(unk_token_ + canonical, &pieces);
  SG_CHECK(st.ok(), "tokenizer: {}: encode failed ({})", model_file_, st.ToString());
  break_ties_as_sentencepiece_0_2(pieces);
  const size_t skip = pieces.size() >= unk_prefix_pieces_ ? unk_prefix_pieces_ : 0;
  for (size_t i = skip; i < pieces.size(); ++i) ids.push_back(sp_->PieceToId(pieces[i]));
  return ids;
}

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text, int max_len) const {
  const int specials = (add_bos_ ? 1 : 0) + (add_eos_ ? 1 : 0);
  SG_CHECK(max_len >= std::max(1, specials), "tokenizer: encode: max_len must be >= {} (got {})", std::max(1, specials),
           max_len);
  std::vector<int64_t> ids = text_ids(text);
  if (ids.size() > static_cast<size_t>(max_len - specials)) ids.resize(static_cast<size_t>(max_len - specials));
  if (add_bos_) ids.insert(ids.begin(), bos_id_);
  // SiglipTokenizer does not add eos after an eos already there.
  if (add_eos_ && (style_ == Style::gemma || ids.empty() || ids.back() != eos_id_)) ids.push_back(eos_id_);
  const size_t padding = static_cast<size_t>(max_len) - ids.size();
  ids.insert(pad_left_ ? ids.begin() : ids.end(), padding, pad_id_);
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> kept;
  for (int64_t id : ids) {
    SG_CHECK(id >= 0 && id < vocab_size(), "tokenizer: decode: id {} outside the vocabulary [0, {})", id, vocab_size());
    if (id == pad_id_ && pad_left_) continue;
    if (id == eos_id_ || id == pad_id_) break;
    if (id == bos_id_) continue;
    kept.push_back(static_cast<int>(id));
  }
  return sp_->DecodeIds(kept);
}

void SentencePieceTokenizer::save(const std::string& dir) const {
  make_dirs(dir);
  write_file_atomic(dir + "/" + model_file_, serialized_);
  nlohmann::json config;
  config["tokenizer_class"] = tokenizer_class_;
  config["unk_token"] = unk_token_;
  config["eos_token"] = sp_->IdToPiece(static_cast<int>(eos_id_));
  config["pad_token"] = sp_->IdToPiece(static_cast<int>(pad_id_));
  if (style_ == Style::siglip) {
    config["do_lower_case"] = lower_;
  } else {
    config["add_bos_token"] = add_bos_;
    config["add_eos_token"] = add_eos_;
    if (add_bos_) config["bos_token"] = sp_->IdToPiece(static_cast<int>(bos_id_));
  }
  config["padding_side"] = pad_left_ ? "left" : "right";
  write_file_atomic(dir + "/tokenizer_config.json", config.dump(2) + "\n");
}

}  // namespace sg
