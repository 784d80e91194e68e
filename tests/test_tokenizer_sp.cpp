// test_tokenizer_sp.cpp: the SentencePiece tokenizer of Hugging Face SigLIP folders: loading and its errors,
// canonicalisation, padding, truncation, checkpoints; and scripts/tokenizer_parity.py against transformers.
#include <doctest/doctest.h>
#include <sentencepiece_trainer.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "nn/fileio.h"
#include "siglip/checkpoint.h"
#include "siglip/added_tokens.h"
#include "siglip/sentencepiece_proto.h"
#include "siglip/sentencepiece_tokenizer.h"
#include "siglip/tokenizer.h"
#include "train_helpers.h"
#include "tests/siglip_run.h"
#include "tests/error_of.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> captions() {
  const char* colours[] = {"red", "blue", "green", "yellow", "purple", "black", "white"};
  const char* things[] = {"cat", "dog", "bicycle", "house", "tree", "boat", "pizza", "robot", "guitar"};
  const char* places[] = {"in paris", "at the beach", "on a table", "near the river", "in tokyo", "at night"};
  std::vector<std::string> out;
  for (int i = 0; i < 600; ++i)
    out.push_back(fmt::format("a {} {} {} number {}", colours[i % 7], things[i % 9], places[i % 6], i % 50));
  return out;
}

// A SentencePiece model trained on captions: SigLIP-like (pad 0, eos 1 "</s>", unk 2) or Gemma-like
// (pad 0, eos 1 "<eos>", bos 2, unk 3, byte fallback, no normalisation).
std::string train_model(const std::string& dir, bool gemma) {
  make_dirs(dir);
  const std::string corpus = dir + "/corpus.txt";
  {
    std::ofstream f(corpus);
    for (const auto& c : captions()) f << c << "\n";
  }
  std::string args = fmt::format("--input={} --vocab_size={} --hard_vocab_limit=false --minloglevel=2 --num_threads=1 "
                                 "--model_type={} ",
                                 corpus, gemma ? 320 : 60, gemma ? "bpe" : "unigram");
  args += gemma ? "--pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece=<pad> --eos_piece=<eos> --bos_piece=<bos> "
                  "--unk_piece=<unk> --byte_fallback=true --normalization_rule_name=identity --add_dummy_prefix=false "
                  "--remove_extra_whitespaces=false"
                : "--pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --pad_piece=<pad> --eos_piece=</s> --unk_piece=<unk>";
  std::string model;
  const auto st = sentencepiece::SentencePieceTrainer::Train(args, nullptr, &model);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  fs::remove(corpus);
  return model;
}

std::string siglip_folder(const std::string& dir, const std::string& config = "") {
  write_file_atomic(dir + "/spiece.model", train_model(dir, false));
  if (!config.empty()) write_file_atomic(dir + "/tokenizer_config.json", config);
  return dir;
}

std::string gemma_folder(const std::string& dir, const std::string& config) {
  write_file_atomic(dir + "/tokenizer.model", train_model(dir, true));
  write_file_atomic(dir + "/tokenizer_config.json", config);
  return dir;
}

}  // namespace

TEST_CASE("sentencepiece tokenizer: load errors name the folder or the file") {
  const std::string dir = temp_dir("spm_errors");
  make_dirs(dir);
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find(dir + " has neither spiece.model nor tokenizer.model") !=
        std::string::npos);
  write_file_atomic(dir + "/spiece.model", "not a model");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find(dir + "/spiece.model: not a SentencePiece model") !=
        std::string::npos);
  siglip_folder(dir, "{not json");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find(dir + "/tokenizer_config.json: invalid JSON") !=
        std::string::npos);
  write_file_atomic(dir + "/tokenizer_config.json", R"({"tokenizer_class": "BertTokenizer"})");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find("BertTokenizer\" is not supported") != std::string::npos);
  write_file_atomic(dir + "/tokenizer_config.json", R"({"eos_token": "<eos>"})");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find("the eos token \"<eos>\" is not in the model") !=
        std::string::npos);
  write_file_atomic(dir + "/tokenizer_config.json", R"({"added_tokens_decoder": {"x": {"content": "</s>"}}})");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find("added_tokens_decoder: \"x\" is not a token id") !=
        std::string::npos);
  // Fields of the wrong type are errors, not nlohmann's type_error (fuzz/corpus/fuzz_tokenizer/bad_config_types).
  write_file_atomic(dir + "/tokenizer_config.json", R"({"tokenizer_class": 7})");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); })
            .find(dir + "/tokenizer_config.json: \"tokenizer_class\" must be a string, got 7") != std::string::npos);
  write_file_atomic(dir + "/tokenizer_config.json", R"({"padding_side": ["left"]})");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find("\"padding_side\" must be a string") !=
        std::string::npos);
  // Loading from the files' bytes reads the same: no file but the model is needed.
  const SentencePieceTokenizer from_bytes = SentencePieceTokenizer::load_from_memory(
      "mem", "spiece.model", read_file(dir + "/spiece.model"), std::string(R"({"pad_token": "<pad>"})"));
  CHECK(from_bytes.pad_id() == 0);
  CHECK(error_of([&] { SentencePieceTokenizer::load_from_memory("mem", "spiece.model", "not a model"); })
            .find("mem/spiece.model: not a SentencePiece model") != std::string::npos);
  // special_tokens_map.json overrides tokenizer_config.json
  write_file_atomic(dir + "/tokenizer_config.json", R"({"pad_token": "<pad>"})");
  CHECK(SentencePieceTokenizer::load(dir).pad_id() == 0);
  write_file_atomic(dir + "/special_tokens_map.json", R"({"pad_token": {"content": "</s>", "lstrip": true}})");
  CHECK(SentencePieceTokenizer::load(dir).pad_id() == 1);
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece tokenizer: SigLIP canonicalisation (lower case, punctuation, whitespace)") {
  const std::string dir = temp_dir("spm_canon");
  const SentencePieceTokenizer t = SentencePieceTokenizer::load(siglip_folder(dir));
  CHECK(t.canonicalize("Hello,  World!") == "hello world");
  CHECK(t.canonicalize("  A photo of a T-Shirt. ") == "a photo of a tshirt");
  CHECK(t.canonicalize("snake_case\tand\x0bvertical") == "snakecase and vertical");  // '_' is punctuation here
  CHECK(t.canonicalize("café ÜBER Straße") == "café über straße");                   // Unicode lower case
  CHECK(t.canonicalize("ΟΔΟΣ ΣΟΦΙΑΣ.") == "οδος σοφιας");                            // final sigma
  CHECK(t.canonicalize("İ") == "i\xCC\x87");                                          // one code point to two
  CHECK(t.canonicalize("a\u3000\u00a0b\u2028c") == "a b c");                          // Unicode whitespace
  CHECK(t.canonicalize("«東京» 🐱!") == "«東京» 🐱");                                 // only ASCII punctuation goes
  CHECK(t.canonicalize(" \t ?! ") == "");
  CHECK(error_of([&] { t.canonicalize("bad \xff byte"); }).find("invalid UTF-8 at byte 4") != std::string::npos);
  write_file_atomic(dir + "/tokenizer_config.json", R"({"do_lower_case": false})");
  CHECK(SentencePieceTokenizer::load(dir).canonicalize("Hello, World") == "Hello World");
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece tokenizer: SigLIP ids: eos appended, padded with eos to L, truncation keeps eos") {
  const std::string dir = temp_dir("spm_siglip");
  const SentencePieceTokenizer t = SentencePieceTokenizer::load(siglip_folder(dir));
  CHECK(t.eos_id() == 1);
  CHECK(t.pad_id() == 1);
  const std::vector<int64_t> ids = t.encode("A Red Cat, at night!", 16);
  REQUIRE(ids.size() == 16);
  CHECK(t.decode(ids) == "a red cat at night");
  const size_t n = static_cast<size_t>(std::find(ids.begin(), ids.end(), t.eos_id()) - ids.begin());
  CHECK(n >= 5);  // at least one piece a word
  for (size_t i = n; i < ids.size(); ++i) CHECK(ids[i] == t.pad_id());
  CHECK(t.encode("a red cat at night", 16) == ids);  // canonicalised first
  CHECK(t.encode("", 4) == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(t.encode("   \t", 4) == std::vector<int64_t>{1, 1, 1, 1});
  // truncation: the first L - 1 ids of the text, then eos
  const std::string long_text = "a green robot on a table near the river in tokyo at night number 42";
  const std::vector<int64_t> full = t.encode(long_text, 64), cut = t.encode(long_text, 8);
  REQUIRE(cut.size() == 8);
  CHECK(std::vector<int64_t>(cut.begin(), cut.end() - 1) == std::vector<int64_t>(full.begin(), full.begin() + 7));
  CHECK(cut.back() == t.eos_id());
  CHECK(t.encode(long_text, 1) == std::vector<int64_t>{1});
  CHECK(error_of([&] { t.encode("x", 0); }).find("max_len must be >= 1") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece tokenizer: Gemma ids: pad 0, eos 1, bos when asked, padding side") {
  const std::string dir = temp_dir("spm_gemma");
  const SentencePieceTokenizer right = SentencePieceTokenizer::load(
      gemma_folder(dir, R"({"tokenizer_class": "GemmaTokenizer", "add_eos_token": true, "padding_side": "right"})"));
  CHECK(right.style() == SentencePieceTokenizer::Style::gemma);
  CHECK(right.pad_id() == 0);
  CHECK(right.eos_id() == 1);
  const std::vector<int64_t> r = right.encode("a red cat", 12);
  const size_t n = static_cast<size_t>(std::find(r.begin(), r.end(), 1) - r.begin());
  REQUIRE(n < 12);
  for (size_t i = n + 1; i < r.size(); ++i) CHECK(r[i] == 0);
  CHECK(right.decode(r) == "a red cat");  // no lower-casing, no canonicalisation: text as it is
  CHECK(right.encode("A Red Cat", 12) != r);
  // bos first, left padding; truncation keeps both
  write_file_atomic(dir + "/tokenizer_config.json",
                    R"({"tokenizer_class": "GemmaTokenizer", "add_bos_token": true, "add_eos_token": true})");
  const SentencePieceTokenizer left = SentencePieceTokenizer::load(dir);
  const std::vector<int64_t> l = left.encode("a red cat", 12);
  std::vector<int64_t> want(12 - n - 2, 0);
  want.push_back(2);
  want.insert(want.end(), r.begin(), r.begin() + static_cast<std::ptrdiff_t>(n) + 1);
  CHECK(l == want);
  const std::vector<int64_t> cut = left.encode("a red cat on a table near the river", 4);
  CHECK(cut.front() == 2);
  CHECK(cut.back() == 1);
  CHECK(error_of([&] { left.encode("x", 1); }).find("max_len must be >= 2") != std::string::npos);
  // Siglip2Tokenizer: Gemma with lower-casing
  write_file_atomic(dir + "/tokenizer_config.json", R"({"tokenizer_class": "Siglip2Tokenizer", "add_eos_token": true,
                    "padding_side": "right"})");
  CHECK(SentencePieceTokenizer::load(dir).encode("A Red Cat", 12) == r);
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece tokenizer: checkpoints with spiece.model use it; save_folder round-trips") {
  const std::string dir = temp_dir("spm_ckpt");
  const Tokenizer sp = Tokenizer::from_sentencepiece(SentencePieceTokenizer::load(siglip_folder(dir + "/hf")));
  CHECK(Tokenizer::load_folder(dir + "/hf").sentencepiece() != nullptr);
  SiglipConfig cfg;
  cfg.vision.hidden_size = cfg.text.hidden_size = cfg.text.projection_size = 8;
  cfg.vision.intermediate_size = cfg.text.intermediate_size = 12;
  cfg.vision.num_hidden_layers = cfg.text.num_hidden_layers = 1;
  cfg.vision.num_attention_heads = cfg.text.num_attention_heads = 2;
  cfg.vision.image_size = 8;
  cfg.vision.patch_size = 4;
  cfg.vision.num_channels = 3;
  cfg.text.vocab_size = sp.vocab_size();
  cfg.text.max_position_embeddings = 8;
  SiglipModel m(cfg);
  m.init_weights(1);
  save_model_files(dir + "/ckpt", m, sp);
  CHECK(fs::exists(dir + "/ckpt/spiece.model"));
  CHECK(!fs::exists(dir + "/ckpt/tokenizer.json"));
  LoadedModel lm = load_checkpoint(dir + "/ckpt");
  REQUIRE(lm.tokenizer.sentencepiece() != nullptr);
  CHECK(lm.tokenizer.encode("A blue boat!", 8) == sp.encode("A blue boat!", 8));
  // the word tokenizer stays the tokenizer of folders without a SentencePiece model
  save_model_files(dir + "/word", m, Tokenizer::build({"a red circle"}));
  CHECK(load_checkpoint(dir + "/word").tokenizer.sentencepiece() == nullptr);
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece tokenizer: splitting on added tokens (transformers' Trie, tokenizers' leftmost-longest)") {
  auto texts = [](const std::vector<TextChunk>& chunks) {
    std::vector<std::string> out;
    for (const auto& c : chunks) out.push_back(c.token >= 0 ? "[" + c.text + "]" : c.text);
    return out;
  };
  std::vector<AddedToken> tokens(3);
  tokens[0].content = "[CLS]", tokens[1].content = "extra_id_1", tokens[2].content = "extra_id_100";
  // Trie.split's docstring example: the longest token wins
  CHECK(texts(slow_tokenizer_chunks("[CLS] This is a extra_id_100", tokens)) ==
        std::vector<std::string>{"[[CLS]]", " This is a ", "[extra_id_100]"});
  CHECK(texts(slow_tokenizer_chunks("extra_id_1x[CLS][CLS]", tokens)) ==
        std::vector<std::string>{"[extra_id_1]", "x", "[[CLS]]", "[[CLS]]"});
  tokens[0].lstrip = tokens[0].rstrip = true;  // Python strips str.isspace() off the neighbours
  CHECK(texts(slow_tokenizer_chunks("a \x1c [CLS]\t b", tokens)) == std::vector<std::string>{"a", "[[CLS]]", "b"});
  // tokenizers: lstrip / rstrip take Unicode White_Space (not U+001C) into the match
  CHECK(texts(fast_tokenizer_chunks("a \x1c [CLS]\t b", tokens, {0, 1, 2}, {"[CLS]", "extra_id_1", "extra_id_100"})) ==
        std::vector<std::string>{"a \x1c", "[ [CLS]\t ]", "b"});
  CHECK(texts(fast_tokenizer_chunks("extra_id_100extra_id_1", tokens, {1, 2}, {"extra_id_1", "extra_id_100"})) ==
        std::vector<std::string>{"[extra_id_100]", "[extra_id_1]"});
}

TEST_CASE("sentencepiece tokenizer: special tokens typed in the text; legacy false drops the dummy prefix") {
  const std::string dir = temp_dir("spm_specials");
  const SentencePieceTokenizer t = SentencePieceTokenizer::load(siglip_folder(dir));
  const std::vector<int64_t> cat = t.encode("a red cat", 16);
  const size_t n = static_cast<size_t>(std::find(cat.begin(), cat.end(), 1) - cat.begin());
  // eos in the middle; the text after it is encoded alone, canonicalised alone, with no "▁" of its own
  const std::vector<int64_t> mid = t.encode("a red cat </s> at night", 16);
  CHECK(std::vector<int64_t>(mid.begin(), mid.begin() + static_cast<std::ptrdiff_t>(n) + 1) ==
        std::vector<int64_t>(cat.begin(), cat.begin() + static_cast<std::ptrdiff_t>(n) + 1));
  CHECK(mid[n + 1] != 1);  // the text goes on after it
  CHECK(t.encode("</s>", 4) == std::vector<int64_t>{1, 1, 1, 1});         // no second eos, no "▁" before it
  CHECK(t.encode("a red cat</s>", 16) == cat);                            // eos not added twice
  CHECK(t.encode("</S>", 4) != std::vector<int64_t>{1, 1, 1, 1});         // matched before lower-casing: text
  CHECK(t.encode("<unk>", 3) == std::vector<int64_t>{2, 1, 1});
  CHECK(t.encode("a red cat <pad>", 16) == t.encode("a red cat pad", 16));  // "<pad>" is not special here: text
  // legacy false: the same model without its dummy prefix
  std::vector<std::string> with, without;
  sentencepiece::SentencePieceProcessor sp;
  REQUIRE(sp.LoadFromSerializedProto(read_file(dir + "/spiece.model")).ok());
  REQUIRE(sp.Encode("red cat", &with).ok());
  REQUIRE(sp.LoadFromSerializedProto(sentencepiece_without_dummy_prefix(read_file(dir + "/spiece.model"), "m")).ok());
  REQUIRE(sp.Encode("red cat", &without).ok());
  CHECK(with.front().rfind("\xE2\x96\x81", 0) == 0);
  CHECK(without.front().rfind("\xE2\x96\x81", 0) != 0);
  CHECK(error_of([] { sentencepiece_without_dummy_prefix(std::string("\x1a\x05" "ab"), "m.model"); }).find("m.model: protobuf field") !=
        std::string::npos);
  write_file_atomic(dir + "/tokenizer_config.json", R"({"legacy": false, "additional_special_tokens": ["<pad>"]})");
  const SentencePieceTokenizer nonlegacy = SentencePieceTokenizer::load(dir);
  CHECK(nonlegacy.encode("a red cat", 16) == cat);
  CHECK(nonlegacy.encode("<pad>", 3) == std::vector<int64_t>{0, 1, 1});  // now a special token
  // save() writes what it resolved: the reloaded tokenizer splits on the same tokens
  nonlegacy.save(dir + "/saved");
  CHECK(SentencePieceTokenizer::load(dir + "/saved").encode("a <pad> red </s> cat", 16) ==
        nonlegacy.encode("a <pad> red </s> cat", 16));
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece tokenizer: Gemma added tokens, tokenizer.json post-processor, model_type siglip2") {
  const std::string dir = temp_dir("spm_gemma_specials");
  const SentencePieceTokenizer g = SentencePieceTokenizer::load(
      gemma_folder(dir, R"({"tokenizer_class": "GemmaTokenizer", "add_eos_token": true, "padding_side": "right"})"));
  const std::vector<int64_t> ids = g.encode("a <pad> b<eos></s>", 16);
  CHECK(std::count(ids.begin(), ids.end(), 1) == 2);                     // "<eos>" typed, then the one added
  CHECK(std::find(ids.begin(), ids.end(), 0) < std::find(ids.begin(), ids.end(), 1));  // "<pad>" typed: id 0
  CHECK(ids[ids.size() - 1] == 0);
  // lstrip / rstrip from added_tokens_decoder take the spaces around "<bos>" into it
  write_file_atomic(dir + "/tokenizer_config.json", R"({"tokenizer_class": "GemmaTokenizer", "add_eos_token": true,
      "padding_side": "right", "added_tokens_decoder": {"2": {"content": "<bos>", "lstrip": true, "rstrip": true,
      "special": true, "normalized": false}}})");
  const SentencePieceTokenizer strip = SentencePieceTokenizer::load(dir);
  CHECK(strip.encode("a <bos> b", 8) == g.encode("a<bos>b", 8));
  CHECK(g.encode("a <bos> b", 8) != g.encode("a<bos>b", 8));
  // tokenizer.json: transformers ignores add_eos_token and follows the post-processor
  write_file_atomic(dir + "/tokenizer.json", R"({"model": {"vocab": {}}, "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}}})");
  const std::vector<int64_t> bos = SentencePieceTokenizer::load(dir).encode("a b", 8);
  CHECK(bos.front() == 2);
  CHECK(std::count(bos.begin(), bos.end(), 1) == 0);
  write_file_atomic(dir + "/tokenizer.json", R"({"post_processor": {"type": "BertProcessing"}})");
  CHECK(error_of([&] { SentencePieceTokenizer::load(dir); }).find("tokenizer.json: post_processor: only TemplateProcessing") !=
        std::string::npos);
  fs::remove(dir + "/tokenizer.json");
  // config.json model_type "siglip2": Siglip2Tokenizer (lower-casing), whatever tokenizer_class says
  CHECK(SentencePieceTokenizer::load(dir).encode("A B", 8) != SentencePieceTokenizer::load(dir).encode("a b", 8));
  write_file_atomic(dir + "/config.json", R"({"model_type": "siglip2"})");
  CHECK(SentencePieceTokenizer::load(dir).encode("A B", 8) == SentencePieceTokenizer::load(dir).encode("a b", 8));
  fs::remove_all(dir);
}

// scripts/tokenizer_parity.py: over a thousand strings (special tokens typed in included), eleven tokenizer
// folders (SigLIP legacy true and false, Gemma and Siglip2 with added tokens, tokenizer.json, config.json), three
// lengths, id for id.
TEST_CASE("sentencepiece tokenizer: tokenizer_parity.py: ids identical to transformers' (python oracle)") {
  if (const std::string why = oracle_missing("transformers, sentencepiece, google.protobuf"); !why.empty()) {
    MESSAGE("SKIPPED: ", why);
    return;
  }
  const std::string python = kOraclePython, siglip = siglip_binary();
  const auto [status, out] = run_shell(python + " scripts/tokenizer_parity.py --siglip " + siglip);
  MESSAGE(out);
  CHECK(status == 0);
  CHECK(out.find("tokenizer_parity: OK") != std::string::npos);
}
