// hf_export.cpp: a checkpoint -> a transformers folder: f32 weights, SiglipConfig, the image processor's settings and
// the tokenizer in a form transformers reads (see hf_export.h).
#include "siglip/hf_export.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/model.h"

namespace sg {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

// ---- the word tokenizer as a `tokenizers` tokenizer.json ------------------------------------------------------

ojson replace(const char* kind, const std::string& pattern, const std::string& content) {
  return {{"type", "Replace"}, {"pattern", {{kind, pattern}}}, {"content", content}};
}

// Tokenizer::canonicalize as a normalizer sequence, step for step on the same characters:
//   '_' -> ' '; ASCII punctuation (Python's string.punctuation) removed; 'A'..'Z' -> 'a'..'z' one by one (the
//   Lowercase normalizer would lower every Unicode letter, we lower ASCII only); runs of ASCII whitespace
//   (space, \t, \n, \r, \v, \f) -> one space; a leading and a trailing space removed (Strip would strip Unicode
//   whitespace too).
ojson canonicalize_normalizer() {
  ojson steps = ojson::array();
  steps.push_back(replace("String", "_", " "));
  steps.push_back(replace("Regex", "[!-/:-@\\[-`{-~]", ""));
  for (char c = 'A'; c <= 'Z'; ++c)
    steps.push_back(replace("String", std::string(1, c), std::string(1, static_cast<char>(c - 'A' + 'a'))));
  steps.push_back(replace("Regex", "[ \\t\\n\\r\\x0B\\x0C]+", " "));
  steps.push_back(replace("Regex", "\\A | \\z", ""));
  return {{"type", "Sequence"}, {"normalizers", steps}};
}

ojson added_token(int64_t id, const std::string& content) {
  return {{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},   {"normalized", false}, {"special", true}};
}

ojson template_piece(const char* kind, const std::string& id, int type_id) {
  return {{kind, {{"id", id}, {"type_id", type_id}}}};
}

// ---- files ---------------------------------------------------------------------------------------------------

ojson read_json_object(const std::string& path) {
  ojson j;
  try {
    j = ojson::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("export: {}: invalid JSON: {}", path, e.what());
  }
  SG_CHECK(j.is_object(), "export: {}: expected a JSON object", path);
  return j;
}

std::string dump(const ojson& j) { return j.dump(2) + "\n"; }

bool is_empty_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_empty(dir, ec) && !ec;
}

// The checkpoint, loaded as load_checkpoint does, with the dtypes its weights are stored in.
struct Source {
  std::string dir;
  SiglipConfig config;
  std::unique_ptr<SiglipModel> model;
  Tokenizer tokenizer;
  std::string dtypes;
};

Source load_source(const std::string& checkpoint) {
  SG_CHECK(!checkpoint.empty(), "export: --checkpoint DIR is required");
  SG_CHECK(fs::is_directory(checkpoint), "export: --checkpoint {}: no such directory", checkpoint);
  Source s;
  try {
    s.dir = resolve_checkpoint(checkpoint);
  } catch (const Error& e) {
    fail("export: {}", e.what());
  }
  const bool has_tokenizer = SentencePieceTokenizer::folder_has_model(s.dir) || file_exists(s.dir + "/tokenizer.json");
  SG_CHECK(has_tokenizer,
           "export: checkpoint {} has no tokenizer (no tokenizer.json, spiece.model or tokenizer.model); "
           "transformers' tokenizer, processor and pipeline need one",
           s.dir);
  s.config = SiglipConfig::load(s.dir + "/config.json");
  const std::string weights = s.dir + "/model.safetensors";
  std::set<std::string> dtypes;
  {
    std::map<std::string, Tensor> tensors = load_safetensors(weights);
    s.model = std::make_unique<SiglipModel>(s.config);
    for (auto& [name, p] : s.model->named_parameters()) {
      auto it = tensors.find(name);
      if (it != tensors.end()) dtypes.insert(safetensors_dtype(it->second.dtype()));
    }
    load_parameters(*s.model, tensors, weights);  // every parameter, shapes checked; widened to f32
  }
  for (const std::string& d : dtypes) s.dtypes += (s.dtypes.empty() ? "" : ", ") + d;
  s.tokenizer = Tokenizer::load_folder(s.dir);
  SG_CHECK(s.tokenizer.vocab_size() <= s.config.text.vocab_size,
           "export: {}: the tokenizer has {} tokens but config.json's vocab_size is {}", s.dir,
           s.tokenizer.vocab_size(), s.config.text.vocab_size);
  return s;
}

// The folder to write: absent, empty, or (with force) replaced file by file; never the checkpoint itself.
void prepare_out_dir(const std::string& out, const std::string& checkpoint, bool force) {
  SG_CHECK(!out.empty(), "export: --out DIR is required");
  std::error_code ec;
  if (fs::exists(out)) {
    SG_CHECK(fs::is_directory(out), "export: --out {}: exists and is not a directory", out);
    SG_CHECK(!fs::equivalent(out, checkpoint, ec), "export: --out {} is the checkpoint {} itself; give another folder",
             out, checkpoint);
    SG_CHECK(force || is_empty_dir(out),
             "export: --out {}: exists and is not empty (--force replaces the files of the same names)", out);
  }
  make_dirs(out);
}

void write_tokenizer_files(const std::string& ck, const std::string& out, const Tokenizer& tok, int64_t text_length,
                           ExportReport& r) {
  auto write = [&](const std::string& name, const std::string& bytes) {
    write_file_atomic(out + "/" + name, bytes);
    r.files.push_back(name);
  };
  const SentencePieceTokenizer* sp = tok.sentencepiece();
  if (!sp) {
    r.tokenizer = fmt::format("word ({} words) as a tokenizers WordLevel tokenizer.json", tok.vocab_size());
    write("tokenizer.json", word_tokenizer_json(tok).dump() + "\n");
    const ojson config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                          {"model_max_length", text_length},
                          {"padding_side", "right"},
                          {"truncation_side", "right"},
                          {"eos_token", "</s>"},
                          {"pad_token", "</s>"},
                          {"unk_token", "<unk>"},
                          {"model_input_names", {"input_ids"}},
                          {"clean_up_tokenization_spaces", false},
                          {"processor_class", "SiglipProcessor"}};
    write("tokenizer_config.json", dump(config));
    write("special_tokens_map.json", dump({{"eos_token", "</s>"}, {"pad_token", "</s>"}, {"unk_token", "<unk>"}}));
    return;
  }
  const std::string model_file = sp->model_file();
  write(model_file, read_file(ck + "/" + model_file));
  const std::string config_path = ck + "/tokenizer_config.json", map_path = ck + "/special_tokens_map.json";
  const bool has_config = file_exists(config_path);
  ojson config = has_config ? read_json_object(config_path) : ojson::object();
  if (!config.contains("tokenizer_class"))
    config["tokenizer_class"] = model_file == "spiece.model" ? "SiglipTokenizer" : "GemmaTokenizer";
  r.tokenizer = fmt::format("SentencePiece {} ({}, {} pieces), tokenizer_config.json {}", model_file,
                            config["tokenizer_class"].dump(), sp->vocab_size(),
                            has_config ? "from the checkpoint" : "written");
  ojson tokens = {{"unk_token", sp->unk_token()}, {"eos_token", sp->piece(sp->eos_id())},
                  {"pad_token", sp->piece(sp->pad_id())}};
  if (sp->bos_id() >= 0) tokens["bos_token"] = sp->piece(sp->bos_id());
  for (auto it = tokens.begin(); it != tokens.end(); ++it)
    if (!config.contains(it.key()) || config[it.key()].is_null()) config[it.key()] = it.value();
  if (!config.contains("model_max_length")) config["model_max_length"] = text_length;
  config["model_input_names"] = {"input_ids"};
  write("tokenizer_config.json", dump(config));
  write("special_tokens_map.json", file_exists(map_path) ? read_file(map_path) : dump(tokens));
}

}  // namespace

nlohmann::ordered_json hf_config_json(const SiglipConfig& c, const Tokenizer& tok) {
  const SentencePieceTokenizer* sp = tok.sentencepiece();
  const ojson bos = sp && sp->bos_id() >= 0 ? ojson(sp->bos_id()) : ojson(nullptr);
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  return {{"architectures", {"SiglipModel"}},
          {"dtype", "float32"},
          {"initializer_factor", 1.0},
          {"model_type", "siglip"},
          {"text_config",
           {{"attention_dropout", 0.0},
            {"bos_token_id", bos},
            {"eos_token_id", tok.eos_id()},
            {"hidden_act", "gelu_pytorch_tanh"},
            {"hidden_size", t.hidden_size},
            {"intermediate_size", t.intermediate_size},
            {"layer_norm_eps", t.layer_norm_eps},
            {"max_position_embeddings", t.max_position_embeddings},
            {"model_type", "siglip_text_model"},
            {"num_attention_heads", t.num_attention_heads},
            {"num_hidden_layers", t.num_hidden_layers},
            {"pad_token_id", tok.pad_id()},
            {"projection_size", t.projection_size},
            {"vocab_size", t.vocab_size}}},
          {"vision_config",
           {{"attention_dropout", 0.0},
            {"hidden_act", "gelu_pytorch_tanh"},
            {"hidden_size", v.hidden_size},
            {"image_size", v.image_size},
            {"intermediate_size", v.intermediate_size},
            {"layer_norm_eps", v.layer_norm_eps},
            {"model_type", "siglip_vision_model"},
            {"num_attention_heads", v.num_attention_heads},
            {"num_channels", v.num_channels},
            {"num_hidden_layers", v.num_hidden_layers},
            {"patch_size", v.patch_size},
            {"vision_use_head", v.pool == "map"}}}};
}

nlohmann::ordered_json image_processor_json(const std::string& checkpoint_dir, const SiglipConfig& config) {
  // nlohmann::json keeps keys sorted; transformers reads them by name.
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(checkpoint_image_processor(checkpoint_dir, config).to_json().dump());
  j["processor_class"] = "SiglipProcessor";  // AutoProcessor pairs it with the tokenizer
  return j;
}

nlohmann::ordered_json word_tokenizer_json(const Tokenizer& tok) {
  SG_CHECK(!tok.sentencepiece(), "export: word_tokenizer_json: a SentencePiece tokenizer is exported as its model file");
  const std::vector<std::string>& words = tok.vocab();
  const std::string eos = words.at(static_cast<size_t>(tok.eos_id())), unk = words.at(static_cast<size_t>(tok.unk_id()));
  ojson vocab = ojson::object();
  for (size_t i = 0; i < words.size(); ++i) vocab[words[i]] = static_cast<int64_t>(i);
  const ojson post = {
      {"type", "TemplateProcessing"},
      {"single", {template_piece("Sequence", "A", 0), template_piece("SpecialToken", eos, 0)}},
      {"pair",
       {template_piece("Sequence", "A", 0), template_piece("SpecialToken", eos, 0), template_piece("Sequence", "B", 1),
        template_piece("SpecialToken", eos, 1)}},
      {"special_tokens", {{eos, {{"id", eos}, {"ids", {tok.eos_id()}}, {"tokens", {eos}}}}}}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", {added_token(tok.eos_id(), eos), added_token(tok.unk_id(), unk)}},
          {"normalizer", canonicalize_normalizer()},
          {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}, {"invert", false}}},
          {"post_processor", post},
          {"decoder", nullptr},
          {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", unk}}}};
}

ExportReport export_hf_siglip(const std::string& checkpoint, const std::string& out, bool force) {
  Source s = load_source(checkpoint);
  SG_CHECK(s.config.vision.pool != "tok", "export: {}: pool 'tok' (a class token, vision_model.embeddings."
           "class_embedding) has no counterpart in transformers' SiglipModel, so it cannot be exported", s.dir);
  prepare_out_dir(out, s.dir, force);
  ExportReport r;
  r.config = s.config;
  r.checkpoint = s.dir;
  r.source_dtypes = s.dtypes;

  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : s.model->named_parameters()) {
    tensors.emplace_back(name, *p);
    r.parameters += p->numel();
  }
  r.tensors = static_cast<int64_t>(tensors.size());
  save_safetensors(out + "/model.safetensors", tensors, {{"format", "pt"}});
  r.files.push_back("model.safetensors");
  tensors.clear();
  s.model.reset();

  write_file_atomic(out + "/config.json", dump(hf_config_json(s.config, s.tokenizer)));
  r.files.push_back("config.json");
  write_file_atomic(out + "/preprocessor_config.json", dump(image_processor_json(s.dir, s.config)));
  r.files.push_back("preprocessor_config.json");
  const int64_t T = s.config.text.max_position_embeddings;
  write_tokenizer_files(s.dir, out, s.tokenizer, T, r);

  // A tokenizer file of another kind left by an earlier export would be read instead of, or with, this one.
  for (const char* name : {"tokenizer.json", "spiece.model", "tokenizer.model"}) {
    const bool written = std::find(r.files.begin(), r.files.end(), name) != r.files.end();
    if (!written && file_exists(out + "/" + name)) {
      fs::remove(out + "/" + name);
      r.removed.push_back(name);
    }
  }

  const VisionConfig& v = s.config.vision;
  if (T != kPipelineTextLength)
    r.notes.push_back(fmt::format(
        "text length {}: transformers' zero-shot-image-classification pipeline pads SigLIP text to {} tokens, so it "
        "cannot run this model ({}); tokenize with padding=\"max_length\" (model_max_length is {}) and call the model",
        T, kPipelineTextLength,
        T < kPipelineTextLength ? "the model refuses more than max_position_embeddings tokens"
                                : "its scores would pool another position than ours",
        T));
  if (v.num_channels != 3)
    r.notes.push_back(fmt::format(
        "{} image channel{}: SiglipImageProcessor and the pipeline feed RGB images (3 channels), which this model "
        "cannot take; give it pixel_values of {} channel{} in [-1, 1] yourself",
        v.num_channels, v.num_channels == 1 ? "" : "s", v.num_channels, v.num_channels == 1 ? "" : "s"));
  if (v.pool != "map")
    r.notes.push_back(
        "no MAP head (vision_use_head false, mean pooling): transformers' SiglipModel.forward fails without a pooled "
        "image output, so the pipeline cannot run this model; our image embedding is "
        "get_image_features(...).last_hidden_state.mean(1), L2-normalised");
  return r;
}

}  // namespace sg
