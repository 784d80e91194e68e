// sentencepiece_tokenizer.cpp: SentencePiece tokenizer of Hugging Face SigLIP folders (see sentencepiece_tokenizer.h).
#include "siglip/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "nn/fileio.h"
#include "siglip/sentencepiece_proto.h"
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

// tokenizer.json without its "model" (the vocabulary and merges, which can be tens of megabytes).
nlohmann::json read_tokenizer_json_if_present(const std::string& path) {
  if (!file_exists(path)) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(read_file(path), [](int depth, nlohmann::json::parse_event_t event,
                                                                 nlohmann::json& parsed) {
      return !(depth == 1 && event == nlohmann::json::parse_event_t::key && parsed == "model");
    });
    SG_CHECK(j.is_object(), "tokenizer: {}: expected a JSON object", path);
    return j;
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer: {}: invalid JSON: {}", path, e.what());
  }
}

// An AddedToken serialised by transformers or tokenizers: {"content": ..., "lstrip": ..., ...}.
AddedToken added_token_of(const nlohmann::json& j, const std::string& file, const std::string& where) {
  SG_CHECK(j.is_object() && j.contains("content") && j["content"].is_string(),
           "tokenizer: {}: {} must be {{\"content\": ...}}", file, where);
  AddedToken t;
  t.content = j["content"].get<std::string>();
  auto flag = [&](const char* key, bool& value) {
    if (!j.contains(key) || j[key].is_null()) return;
    SG_CHECK(j[key].is_boolean(), "tokenizer: {}: {}: \"{}\" must be true or false", file, where, key);
    value = j[key].get<bool>();
  };
  t.normalized = true;  // the AddedToken default, unless the entry says otherwise
  t.special = false;
  flag("lstrip", t.lstrip);
  flag("rstrip", t.rstrip);
  flag("single_word", t.single_word);
  flag("special", t.special);
  if (!j.contains("normalized")) t.normalized = !t.special;
  flag("normalized", t.normalized);
  return t;
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

  const std::string config_path = dir + "/tokenizer_config.json", map_path = dir + "/special_tokens_map.json",
                    json_path = dir + "/tokenizer.json", model_config_path = dir + "/config.json";
  const nlohmann::json config = parse_json_object(config_path, tokenizer_config_json),
                       special = parse_json_object(map_path, special_tokens_map_json);
  t.config_ = std::make_shared<const nlohmann::json>(config);
  const nlohmann::json model_config = parse_json_object(model_config_path, read_file_if_present(model_config_path));
  // AutoTokenizer: model_type "siglip2" loads Siglip2Tokenizer whatever tokenizer_class says.
  if (string_field(model_config, "model_type", "", model_config_path) == "siglip2") {
    t.tokenizer_class_ = "Siglip2Tokenizer";
  } else {
    t.tokenizer_class_ = string_field(config, "tokenizer_class",
                                      t.model_file_ == "spiece.model" ? "SiglipTokenizer" : "GemmaTokenizer", config_path);
  }
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
  // Only transformers' Python (SentencePiece-backed) tokenizers read "legacy"; GemmaTokenizer is tokenizers-backed.
  t.legacy_ = !siglip || bool_field(config, "legacy", true, config_path);
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(
      t.legacy_ ? t.serialized_ : sentencepiece_without_dummy_prefix(t.serialized_, model_path));
  SG_CHECK(status.ok(), "tokenizer: {}: not a SentencePiece model ({})", model_path, status.ToString());
  t.sp_ = sp;

  t.lower_ = siglip ? bool_field(config, "do_lower_case", true, config_path) : t.tokenizer_class_ == "Siglip2Tokenizer";
  // With tokenizer.json, transformers drops add_bos_token / add_eos_token and uses its post-processor.
  const bool has_tokenizer_json = !siglip && file_exists(json_path);
  const nlohmann::json tokenizer_json = siglip ? nlohmann::json::object() : read_tokenizer_json_if_present(json_path);
  t.add_bos_ = !siglip && !has_tokenizer_json && bool_field(config, "add_bos_token", false, config_path);
  t.add_eos_ = siglip || (!has_tokenizer_json && bool_field(config, "add_eos_token", false, config_path));
  std::string side = siglip ? "right" : "left";
  if (tokenizer_json.contains("padding") && tokenizer_json["padding"].is_object() &&
      tokenizer_json["padding"].value("direction", "") == "Right")
    side = "right";
  side = string_field(config, "padding_side", side, config_path);
  SG_CHECK(side == "left" || side == "right", "tokenizer: {}: padding_side \"{}\" is neither left nor right", config_path, side);
  t.pad_left_ = side == "left";

  t.read_special_tokens(config, special, tokenizer_json, config_path, map_path, json_path);
  auto token = [&](const char* key) {
    for (const auto& [role, content] : t.named_)
      if (role == key) return content;
    return std::string();
  };
  t.unk_token_ = token("unk_token");
  auto id_of = [&](const std::string& piece, const char* role) {
    for (const AddedToken& a : t.added_)
      if (a.content == piece && a.id >= 0) return a.id;
    const int id = t.sp_->PieceToId(piece);
    SG_CHECK(id != t.sp_->unk_id() || piece == t.unk_token_, "tokenizer: {}: the {} token \"{}\" is not in the model",
             model_path, role, piece);
    return static_cast<int64_t>(id);
  };
  id_of(t.unk_token_, "unk");
  t.eos_id_ = id_of(token("eos_token"), "eos");
  t.pad_id_ = id_of(token("pad_token"), "pad");
  if (t.add_bos_) t.bos_id_ = id_of(token("bos_token"), "bos");
  if (has_tokenizer_json) t.read_post_processor(tokenizer_json, json_path);
  if (siglip) {
    std::vector<int> unk_pieces;
    const auto st = t.sp_->Encode(t.unk_token_, &unk_pieces);
    SG_CHECK(st.ok(), "tokenizer: {}: cannot encode the unk token ({})", model_path, st.ToString());
    t.unk_prefix_pieces_ = unk_pieces.size();
  } else {
    // tokenizers matches tokens with normalized = false on the raw text, the others on the normalised text.
    for (size_t i = 0; i < t.added_.size(); ++i) {
      const AddedToken& a = t.added_[i];
      SG_CHECK(!a.single_word, "tokenizer: {}: the added token \"{}\" has single_word = true, which is not supported",
               dir, a.content);
      if (a.normalized) {
        t.normalized_match_.push_back(static_cast<int>(i));
        std::string pattern = t.lower_ ? utf32_to_utf8(python_lower(utf8_to_utf32(a.content, "tokenizer: added token"), false))
                                       : a.content;
        t.normalized_patterns_.push_back(replace_all(pattern, " ", kUnderline));
      } else {
        t.raw_match_.push_back(static_cast<int>(i));
        t.raw_patterns_.push_back(a.content);
      }
    }
  }
  return t;
}

// The special and added tokens, as transformers' from_pretrained and __init__ gather them.
void SentencePieceTokenizer::read_special_tokens(const nlohmann::json& config, const nlohmann::json& special,
                                                 const nlohmann::json& tokenizer_json, const std::string& config_path,
                                                 const std::string& map_path, const std::string& json_path) {
  const bool siglip = style_ == Style::siglip;
  const bool has_decoder = config.contains("added_tokens_decoder") && !config["added_tokens_decoder"].is_null();
  // 1. The added tokens saved with the tokenizer.
  if (has_decoder) {
    const nlohmann::json& decoder = config["added_tokens_decoder"];
    SG_CHECK(decoder.is_object(), "tokenizer: {}: \"added_tokens_decoder\" must be an object {{\"id\": {{...}}}}", config_path);
    std::vector<std::pair<int64_t, AddedToken>> sorted;
    for (auto it = decoder.begin(); it != decoder.end(); ++it) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(it.key(), &used);
        SG_CHECK(used == it.key().size() && id >= 0, "");
      } catch (const std::exception&) {
        fail("tokenizer: {}: added_tokens_decoder: \"{}\" is not a token id", config_path, it.key());
      }
      AddedToken a = added_token_of(it.value(), config_path, "added_tokens_decoder[\"" + it.key() + "\"]");
      a.id = id < vocab_size() ? id : -1;
      sorted.emplace_back(id, a);
    }
    std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (auto& [id, a] : sorted) added_.push_back(a);
  } else if (tokenizer_json.contains("added_tokens") && tokenizer_json["added_tokens"].is_array()) {
    for (const nlohmann::json& entry : tokenizer_json["added_tokens"]) {
      AddedToken a = added_token_of(entry, json_path, "added_tokens[]");
      SG_CHECK(entry.contains("id") && entry["id"].is_number_integer(), "tokenizer: {}: added token \"{}\" has no id",
               json_path, a.content);
      const int64_t id = entry["id"].get<int64_t>();
      a.id = id >= 0 && id < vocab_size() ? id : -1;
      added_.push_back(a);
    }
  }
  // 2. The named special tokens (special_tokens_map.json wins over tokenizer_config.json only without an
  //    added_tokens_decoder) and the extra special tokens.
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& map = has_decoder ? empty : special;
  struct Named {
    const char* key;
    const char* siglip_default;
    const char* gemma_default;
  };
  const Named roles[] = {{"bos_token", nullptr, "<bos>"}, {"eos_token", "</s>", "<eos>"}, {"unk_token", "<unk>", "<unk>"},
                         {"sep_token", nullptr, nullptr}, {"pad_token", "</s>", "<pad>"}, {"cls_token", nullptr, nullptr},
                         {"mask_token", nullptr, "<mask>"}};
  std::vector<AddedToken> specials;  // with the flags a fast tokenizer keeps; a slow one adds plain strings
  for (const Named& r : roles) {
    const char* fallback = siglip ? r.siglip_default : r.gemma_default;
    const nlohmann::json* value = nullptr;
    std::string file;
    if (map.contains(r.key) && !map[r.key].is_null()) value = &map[r.key], file = map_path;
    else if (config.contains(r.key) && !config[r.key].is_null()) value = &config[r.key], file = config_path;
    AddedToken a;
    if (value) {
      if (value->is_string()) a.content = value->get<std::string>();
      else a = added_token_of(*value, file, std::string("\"") + r.key + "\"");
    } else if (fallback) {
      a.content = fallback;
    } else {
      continue;
    }
    a.special = true;
    named_.emplace_back(r.key, a.content);
    specials.push_back(a);
  }
  for (const char* key : {"extra_special_tokens", "additional_special_tokens"}) {
    for (const nlohmann::json* source : {&config, &map}) {
      if (!source->contains(key) || !(*source)[key].is_array()) continue;
      const std::string& file = source == &config ? config_path : map_path;
      for (const nlohmann::json& v : (*source)[key]) {
        AddedToken a;
        if (v.is_string()) a.content = v.get<std::string>();
        else a = added_token_of(v, file, std::string("\"") + key + "\"");
        a.special = true;
        if (std::find(extra_special_.begin(), extra_special_.end(), a.content) == extra_special_.end()) {
          extra_special_.push_back(a.content);
          specials.push_back(a);
        }
      }
    }
    if (!extra_special_.empty()) break;  // additional_special_tokens is read only without extra_special_tokens
  }
  for (const auto& [role, content] : named_) special_strings_.push_back(content);
  for (const auto& content : extra_special_)
    if (std::find(special_strings_.begin(), special_strings_.end(), content) == special_strings_.end())
      special_strings_.push_back(content);
  // 3. Special tokens not yet added are added; they keep their id in the model's vocabulary.
  for (AddedToken a : specials) {
    if (a.content.empty() || std::any_of(added_.begin(), added_.end(), [&](const AddedToken& x) { return x.content == a.content; }))
      continue;
    if (siglip) a.lstrip = a.rstrip = a.single_word = false;  // PreTrainedTokenizer adds them as plain strings
    a.normalized = false;
    const int id = sp_->PieceToId(a.content);
    a.id = sp_->IdToPiece(id) == a.content ? id : -1;
    added_.push_back(a);
  }
}

// tokenizer.json's post-processor: a TemplateProcessing "single" of [special] $A [special], or none.
void SentencePieceTokenizer::read_post_processor(const nlohmann::json& tokenizer_json, const std::string& json_path) {
  add_bos_ = add_eos_ = false;
  bos_id_ = -1;
  if (!tokenizer_json.contains("post_processor") || tokenizer_json["post_processor"].is_null()) return;
  const nlohmann::json& p = tokenizer_json["post_processor"];
  SG_CHECK(p.is_object() && p.value("type", "") == "TemplateProcessing" && p.contains("single") && p["single"].is_array(),
           "tokenizer: {}: post_processor: only TemplateProcessing (or none) is supported", json_path);
  std::vector<int64_t> before, after;
  bool seen_sequence = false;
  for (const nlohmann::json& item : p["single"]) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    SG_CHECK(item.contains("SpecialToken") && item["SpecialToken"].contains("id"),
             "tokenizer: {}: post_processor.single: an item is neither Sequence nor SpecialToken", json_path);
    const std::string name = item["SpecialToken"]["id"].get<std::string>();
    const nlohmann::json& ids = p["special_tokens"][name]["ids"];
    SG_CHECK(ids.is_array() && ids.size() == 1, "tokenizer: {}: post_processor.special_tokens[\"{}\"] must have one id",
             json_path, name);
    (seen_sequence ? after : before).push_back(ids[0].get<int64_t>());
  }
  SG_CHECK(before.size() <= 1 && after.size() <= 1 && (after.empty() || after[0] == eos_id_),
           "tokenizer: {}: post_processor.single: only [bos] $A [eos] is supported ({} before, {} after the text)",
           json_path, before.size(), after.size());
  add_bos_ = !before.empty();
  add_eos_ = !after.empty();
  if (add_bos_) bos_id_ = before[0];
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::string SentencePieceTokenizer::piece(int64_t id) const {
  SG_CHECK(id >= 0 && id < vocab_size(), "tokenizer: piece: id {} outside the vocabulary [0, {})", id, vocab_size());
  return sp_->IdToPiece(static_cast<int>(id));
}

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
// The n best segmentations of one word ("▁" + text without "▁"). With the dummy prefix, " " + text encodes as
// "▁" + text; without it (legacy false) a leading space or "▁" is dropped by the normaliser, so the word is
// encoded behind unk_token and candidates whose first pieces spell unk_token exactly keep the rest.
std::vector<std::vector<std::string>> SentencePieceTokenizer::word_segmentations(const std::string& surface) const {
  std::vector<std::vector<std::string>> nbest, words;
  const std::string underline = kUnderline;
  if (legacy_) {
    if (!sp_->NBestEncode(" " + surface.substr(underline.size()), 16, &nbest).ok()) return {};
    return nbest;
  }
  if (!sp_->NBestEncode(unk_token_ + surface, 64, &nbest).ok()) return {};
  for (auto& candidate : nbest) {
    size_t n = 0, length = 0;
    while (n < candidate.size() && length < unk_token_.size()) length += candidate[n++].size();
    if (length == unk_token_.size()) words.emplace_back(candidate.begin() + static_cast<std::ptrdiff_t>(n), candidate.end());
  }
  return words;
}

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
    if (word.size() > 1 && surface.rfind(underline, 0) == 0 && surface.find(underline, 1) == std::string::npos) {
      const std::vector<std::vector<std::string>> nbest = word_segmentations(surface);
      const double best = score(word);
      double top = -1e300;
      for (const auto& candidate : nbest) top = std::max(top, score(candidate));
      if (!nbest.empty() && top == best) {
        std::vector<size_t> chosen = starts_from_end(word);
        for (const auto& candidate : nbest) {
          std::string candidate_surface;
          for (const auto& piece : candidate) candidate_surface += piece;
          if (candidate_surface != surface || std::abs(score(candidate) - best) > 1e-9 * (1.0 + std::abs(best))) continue;
          std::vector<size_t> starts = starts_from_end(candidate);
          if (starts < chosen) chosen = std::move(starts), word = candidate;
        }
      }
    }
    out.insert(out.end(), word.begin(), word.end());
  }
  pieces = std::move(out);
}

int64_t SentencePieceTokenizer::added_token_id(int token) const {
  const AddedToken& a = added_[static_cast<size_t>(token)];
  SG_CHECK(a.id >= 0, "tokenizer: the text contains \"{}\", an added token outside the vocabulary of {} ({} pieces)",
           a.content, model_file_, vocab_size());
  return a.id;
}

int64_t SentencePieceTokenizer::piece_id(const std::string& piece) const {
  for (size_t i = 0; i < added_.size(); ++i)
    if (added_[i].content == piece) return added_token_id(static_cast<int>(i));
  return sp_->PieceToId(piece);
}

std::vector<int64_t> SentencePieceTokenizer::text_ids(const std::string& text) const {
  return style_ == Style::gemma ? gemma_text_ids(text) : siglip_text_ids(text);
}

// SiglipTokenizer._tokenize: the chunk canonicalised, encoded behind unk_token so that SentencePiece's dummy
// prefix falls on unk_token, whose pieces are then dropped.
std::vector<std::string> SentencePieceTokenizer::siglip_chunk_pieces(const std::string& chunk) const {
  std::vector<std::string> pieces;
  const auto st = sp_->Encode(unk_token_ + canonicalize(chunk), &pieces);
  SG_CHECK(st.ok(), "tokenizer: {}: encode failed ({})", model_file_, st.ToString());
  break_ties_as_sentencepiece_0_2(pieces);
  const size_t skip = pieces.size() >= unk_prefix_pieces_ ? unk_prefix_pieces_ : 0;
  pieces.erase(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(skip));
  return pieces;
}

// SiglipTokenizer.tokenize: "▁" + text, split on the added tokens, the text chunks tokenised one by one.
std::vector<int64_t> SentencePieceTokenizer::siglip_text_ids(const std::string& text) const {
  std::vector<std::string> pieces;
  std::vector<int> token_of;  // the added token of each piece, or -1
  for (const TextChunk& chunk : slow_tokenizer_chunks(kUnderline + replace_all(text, kUnderline, " "), added_)) {
    if (chunk.token >= 0) {
      pieces.push_back(chunk.text);
      token_of.push_back(chunk.token);
      continue;
    }
    for (auto& piece : siglip_chunk_pieces(chunk.text)) {
      pieces.push_back(std::move(piece));
      token_of.push_back(-1);
    }
  }
  // A lone "▁" before a special token is dropped.
  const bool drop_first = pieces.size() > 1 && pieces[0] == kUnderline &&
                          std::find(special_strings_.begin(), special_strings_.end(), pieces[1]) != special_strings_.end();
  std::vector<int64_t> ids;
  for (size_t i = drop_first ? 1 : 0; i < pieces.size(); ++i)
    ids.push_back(token_of[i] >= 0 ? added_token_id(token_of[i]) : piece_id(pieces[i]));
  return ids;
}

void SentencePieceTokenizer::append_sentencepiece_ids(const std::string& text, std::vector<int64_t>& ids) const {
  std::vector<int> sp_ids;
  const auto st = sp_->Encode(text, &sp_ids);
  SG_CHECK(st.ok(), "tokenizer: {}: encode failed ({})", model_file_, st.ToString());
  ids.insert(ids.end(), sp_ids.begin(), sp_ids.end());
}

// tokenizers: added tokens matched on the raw text, each text chunk normalised (Siglip2Tokenizer lower-cases one
// code point at a time: no final sigma; ' ' -> '▁'), matched again for the normalised added tokens, encoded.
std::vector<int64_t> SentencePieceTokenizer::gemma_text_ids(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const TextChunk& chunk : fast_tokenizer_chunks(text, added_, raw_match_, raw_patterns_)) {
    if (chunk.token >= 0) {
      ids.push_back(added_token_id(chunk.token));
      continue;
    }
    const std::string normal = lower_ ? utf32_to_utf8(python_lower(utf8_to_utf32(chunk.text, "tokenizer: text"), false))
                                      : chunk.text;
    if (normalized_match_.empty()) {
      append_sentencepiece_ids(normal, ids);
      continue;
    }
    for (const TextChunk& piece : fast_tokenizer_chunks(replace_all(normal, " ", kUnderline), added_,
                                                        normalized_match_, normalized_patterns_)) {
      if (piece.token >= 0) ids.push_back(added_token_id(piece.token));
      else append_sentencepiece_ids(piece.text, ids);
    }
  }
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
  nlohmann::json config = config_ ? *config_ : nlohmann::json::object();
  for (const char* stale : {"add_bos_token", "add_eos_token", "additional_special_tokens", "extra_special_tokens",
                            "added_tokens_decoder", "legacy", "do_lower_case"})
    config.erase(stale);
  config["tokenizer_class"] = tokenizer_class_;
  for (const auto& [role, content] : named_) config[role] = content;
  if (!extra_special_.empty()) config["extra_special_tokens"] = extra_special_;
  nlohmann::json decoder = nlohmann::json::object();
  for (const AddedToken& a : added_) {
    if (a.id < 0) continue;
    decoder[std::to_string(a.id)] = {{"content", a.content}, {"lstrip", a.lstrip},           {"rstrip", a.rstrip},
                                     {"normalized", a.normalized}, {"single_word", a.single_word}, {"special", a.special}};
  }
  config["added_tokens_decoder"] = decoder;
  if (style_ == Style::siglip) {
    config["do_lower_case"] = lower_;
    config["legacy"] = legacy_;
  } else {
    config["add_bos_token"] = add_bos_;
    config["add_eos_token"] = add_eos_;
  }
  config["padding_side"] = pad_left_ ? "left" : "right";
  write_file_atomic(dir + "/tokenizer_config.json", config.dump(2) + "\n");
}

}  // namespace sg
