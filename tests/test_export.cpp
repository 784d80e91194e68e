// test_export.cpp: `siglip export`: the folder's files read back without Python (f32 weights equal to the
// checkpoint's, config.json, preprocessor_config.json, tokenizer.json holding our vocabulary and ids, the
// SentencePiece files), the notes for models the pipeline cannot run, bad input; then transformers on the folders
// (scripts/export_pipeline.py, scripts/export_sentencepiece.py) when .venv has the oracle.
#include <doctest/doctest.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/dtype.h"
#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/hf_export.h"
#include "siglip/train.h"
#include "tests/error_of.h"
#include "tests/siglip_run.h"
#include "tests/small_config.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json(const std::string& path) { return json::parse(read_file(path)); }

// A micro model trained two steps on shapes at 16 px with text length 64 (the length transformers' pipeline pads
// SigLIP text to) and 64 token rows; its tokenizer is then rebuilt from captions with non-ASCII words, so that
// lower-casing ASCII letters only (as Tokenizer::canonicalize) differs from lower-casing all.
std::string trained_checkpoint(const std::string& dir) {
  SiglipConfig c = preset_config("micro");
  c.text.max_position_embeddings = kPipelineTextLength;
  make_dirs(dir);
  write_file_atomic(dir + "/micro64.json", c.to_json().dump());
  TrainOptions o = tiny_run(dir + "/run");
  o.config = dir + "/micro64.json";
  o.vocab = 64;
  o.steps = 2;
  o.threads = 1;  // a two-step run of a micro model: more threads mostly wait on each other (and on other tests)
  train(o);
  const std::string ckpt = resolve_checkpoint(dir + "/run");
  const std::vector<std::string> captions = {
      "a red circle", "a blue square", "a green triangle", "a small yellow ring", "a large purple cross",
      "there is an orange diamond", "a photo of a shape", "café crème", "Straße in Zürich", "naïve élève",
      "ΣΟΦΙΑ σοφια", "東京 tower", "r2d2 and c3po", "50 cats"};
  Tokenizer::build(captions).save(ckpt + "/tokenizer.json");
  return ckpt;
}

// A SigLIP-like SentencePiece model (pad 0, eos 1 "</s>", unk 2), trained on a few captions.
std::string sentencepiece_model(const std::string& dir) {
  make_dirs(dir);
  const std::string corpus = dir + "/corpus.txt";
  {
    std::ofstream f(corpus);
    const char* words[] = {"red", "blue", "green", "cat", "dog", "house", "tree", "in paris", "at night", "a photo"};
    for (int i = 0; i < 300; ++i) f << "a " << words[i % 10] << " " << words[(i * 7) % 10] << " number " << i % 40 << "\n";
  }
  std::string model;
  const auto st = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + corpus + " --vocab_size=60 --hard_vocab_limit=false --minloglevel=2 --num_threads=1 "
      "--model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --pad_piece=<pad> --eos_piece=</s> "
      "--unk_piece=<unk>", nullptr, &model);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  fs::remove(corpus);
  return model;
}

// A checkpoint written here (no training): a small random model of `c` with `tok`, its weights in `dtype`.
void write_checkpoint(const std::string& dir, const SiglipConfig& c, const Tokenizer& tok, DType dtype) {
  SiglipModel m(c);
  m.init_weights(3);
  save_model_files(dir, m, tok);
  if (dtype == DType::F32) return;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : m.named_parameters()) {
    Tensor b = Tensor::empty(p->shape(), dtype);
    b.copy_(*p);
    tensors.emplace_back(name, b);
  }
  save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
}


// Every tensor of OUT/model.safetensors is f32 and equal to the checkpoint's parameter of that name.
void check_weights(const std::string& out, const std::string& ckpt) {
  const std::map<std::string, Tensor> written = load_safetensors(out + "/model.safetensors");
  LoadedModel lm = load_checkpoint(ckpt);
  auto params = lm.model->named_parameters();
  CHECK(written.size() == params.size());
  for (auto& [name, p] : params) {
    CAPTURE(name);
    auto it = written.find(name);
    REQUIRE(it != written.end());
    CHECK(it->second.dtype() == DType::F32);
    CHECK(it->second.shape() == p->shape());
    CHECK(it->second.to_vector<float>() == p->to_vector<float>());
  }
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("export: a trained checkpoint: f32 weights, SiglipConfig, image processor, WordLevel tokenizer of our ids") {
  const std::string dir = temp_dir("export_word");
  const std::string ckpt = trained_checkpoint(dir), out = dir + "/hf";
  const ExportReport r = export_hf_siglip(dir + "/run", out, false);  // the run directory: its latest checkpoint
  CHECK(r.checkpoint == ckpt);
  CHECK(r.source_dtypes == "F32");
  CHECK(r.files == std::vector<std::string>{"model.safetensors", "config.json", "preprocessor_config.json",
                                            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"});
  CHECK(r.notes.empty());
  check_weights(out, ckpt);

  const json config = read_json(out + "/config.json");
  CHECK(config["model_type"] == "siglip");
  CHECK(config["architectures"] == json{"SiglipModel"});
  const json& t = config["text_config"];
  const json& v = config["vision_config"];
  CHECK(t["model_type"] == "siglip_text_model");
  CHECK(t["max_position_embeddings"] == 64);
  CHECK(t["vocab_size"] == 64);
  CHECK(t["hidden_size"] == 96);
  CHECK(t["projection_size"] == 96);
  CHECK(t["num_hidden_layers"] == 2);
  CHECK(t["eos_token_id"] == 0);
  CHECK(t["pad_token_id"] == 0);
  CHECK(t["bos_token_id"].is_null());
  CHECK(t["hidden_act"] == "gelu_pytorch_tanh");
  CHECK(v["model_type"] == "siglip_vision_model");
  CHECK(v["image_size"] == 16);
  CHECK(v["patch_size"] == 4);
  CHECK(v["num_channels"] == 3);
  CHECK(v["num_hidden_layers"] == 3);
  CHECK(v["vision_use_head"] == true);
  CHECK(v["layer_norm_eps"] == 1e-6);
  // our reader takes it back as the same shapes
  const SiglipConfig back = SiglipConfig::load(out + "/config.json"), orig = SiglipConfig::load(ckpt + "/config.json");
  CHECK(back.to_json()["text_config"] == orig.to_json()["text_config"]);
  CHECK(back.to_json()["vision_config"] == orig.to_json()["vision_config"]);

  const json pre = read_json(out + "/preprocessor_config.json");
  CHECK(pre["image_processor_type"] == "SiglipImageProcessor");
  CHECK(pre["size"] == json{{"height", 16}, {"width", 16}});
  CHECK(pre["resample"] == 3);
  CHECK(pre["do_resize"] == true);
  CHECK(pre["do_rescale"] == true);
  CHECK(pre["rescale_factor"].get<double>() == 1.0 / 255.0);
  CHECK(pre["do_normalize"] == true);
  CHECK(pre["image_mean"] == json{0.5, 0.5, 0.5});
  CHECK(pre["image_std"] == json{0.5, 0.5, 0.5});

  // tokenizer.json: WordLevel over exactly our vocabulary and ids, "</s>" appended, our canonicalisation
  const Tokenizer ours = Tokenizer::load(ckpt + "/tokenizer.json");
  const json tj = read_json(out + "/tokenizer.json");
  REQUIRE(tj["model"]["type"] == "WordLevel");
  CHECK(tj["model"]["unk_token"] == "<unk>");
  const json& vocab = tj["model"]["vocab"];
  CHECK(vocab.size() == ours.vocab().size());
  size_t same = 0;
  for (size_t i = 0; i < ours.vocab().size(); ++i)
    same += vocab.contains(ours.vocab()[i]) && vocab[ours.vocab()[i]] == static_cast<int64_t>(i);
  CHECK(same == ours.vocab().size());
  CHECK(vocab["café"] == ours.id_of("café"));
  CHECK(tj["post_processor"]["type"] == "TemplateProcessing");
  CHECK(tj["post_processor"]["special_tokens"]["</s>"]["ids"] == json{0});
  CHECK(tj["post_processor"]["single"].back()["SpecialToken"]["id"] == "</s>");
  CHECK(tj["pre_tokenizer"]["type"] == "Split");
  CHECK(tj["pre_tokenizer"]["pattern"]["String"] == " ");
  const json& steps = tj["normalizer"]["normalizers"];
  REQUIRE(steps.size() == 30);  // '_', punctuation, 'A'..'Z' one by one, whitespace runs, the ends
  CHECK(steps[0]["pattern"]["String"] == "_");
  CHECK(steps[2]["pattern"]["String"] == "A");
  CHECK(steps[2]["content"] == "a");
  CHECK(steps[27]["pattern"]["String"] == "Z");
  for (const json& s : steps) CHECK(s["type"] == "Replace");  // no Lowercase (it lowers non-ASCII letters too)
  CHECK(tj["added_tokens"][0]["content"] == "</s>");
  CHECK(tj["added_tokens"][1]["content"] == "<unk>");

  const json tc = read_json(out + "/tokenizer_config.json");
  CHECK(tc["tokenizer_class"] == "PreTrainedTokenizerFast");
  CHECK(tc["model_max_length"] == 64);
  CHECK(tc["eos_token"] == "</s>");
  CHECK(tc["pad_token"] == "</s>");
  CHECK(tc["unk_token"] == "<unk>");
  CHECK(tc["model_input_names"] == json{"input_ids"});
  CHECK(read_json(out + "/special_tokens_map.json") ==
        json{{"eos_token", "</s>"}, {"pad_token", "</s>"}, {"unk_token", "<unk>"}});

  // The command: what it read and wrote, and that the pipeline can run it.
  const SiglipRun cli = run_siglip("export --checkpoint " + ckpt + " --out " + dir + "/hf2");
  INFO(cli.output);
  CHECK(cli.status == 0);
  for (const char* s : {"export: read ", "(F32)", "text vocab 64, length 64", "WordLevel tokenizer.json",
                        "tokenizer_config.json, special_tokens_map.json} (weights f32)", "can run it"})
    CHECK(contains(cli.output, s));
  CHECK(read_file(dir + "/hf2/tokenizer.json") == read_file(out + "/tokenizer.json"));
  fs::remove_all(dir);
}

TEST_CASE("export: bf16 weights widen to f32; text length, 1 channel and mean pooling are noted") {
  const std::string dir = temp_dir("export_notes");
  SiglipConfig c = small_config();
  c.vision.num_channels = 1;
  c.vision.pool = "mean";
  const Tokenizer tok = Tokenizer::build({"a grey circle", "a white square"});
  c.text.vocab_size = tok.vocab_size();
  write_checkpoint(dir + "/ck", c, tok, DType::BF16);
  const ExportReport r = export_hf_siglip(dir + "/ck", dir + "/hf", false);
  CHECK(r.source_dtypes == "BF16");
  check_weights(dir + "/hf", dir + "/ck");  // load_checkpoint widens bf16 the same way
  const json config = read_json(dir + "/hf/config.json");
  CHECK(config["vision_config"]["num_channels"] == 1);
  CHECK(config["vision_config"]["vision_use_head"] == false);
  REQUIRE(r.notes.size() == 3);
  CHECK(contains(r.notes[0], "text length 12"));
  CHECK(contains(r.notes[0], "pads SigLIP text to 64 tokens"));
  CHECK(contains(r.notes[1], "1 image channel"));
  CHECK(contains(r.notes[1], "feed RGB"));
  CHECK(contains(r.notes[2], "no MAP head"));

  const SiglipRun cli = run_siglip("export --checkpoint " + dir + "/ck --out " + dir + "/hf --force");
  INFO(cli.output);
  CHECK(cli.status == 0);
  CHECK(contains(cli.output, "(BF16)"));
  CHECK(contains(cli.output, "export: note: 1 image channel"));
  CHECK(!contains(cli.output, "can run it"));
  fs::remove_all(dir);
}

TEST_CASE("export: SentencePiece checkpoints: the model file and tokenizer_config.json, model_input_names set") {
  const std::string dir = temp_dir("export_sp");
  const std::string ck = dir + "/ck";
  make_dirs(ck);
  write_file_atomic(ck + "/spiece.model", sentencepiece_model(dir + "/train"));
  SiglipConfig c = small_config();
  const Tokenizer sp = Tokenizer::load_folder(ck);
  c.text.vocab_size = sp.vocab_size();
  write_checkpoint(ck, c, sp, DType::F32);  // writes spiece.model and its tokenizer_config.json again

  SUBCASE("the checkpoint's tokenizer_config.json, its fields kept") {
    write_file_atomic(ck + "/tokenizer_config.json",
                      R"({"tokenizer_class": "SiglipTokenizer", "model_max_length": 64, "do_lower_case": true,
                          "custom_field": 7, "model_input_names": ["input_ids", "attention_mask"]})");
    const ExportReport r = export_hf_siglip(ck, dir + "/hf", false);
    CHECK(r.files == std::vector<std::string>{"model.safetensors", "config.json", "preprocessor_config.json",
                                              "spiece.model", "tokenizer_config.json", "special_tokens_map.json"});
    CHECK(contains(r.tokenizer, "from the checkpoint"));
    const json tc = read_json(dir + "/hf/tokenizer_config.json");
    CHECK(tc["custom_field"] == 7);
    CHECK(tc["model_max_length"] == 64);  // the checkpoint's, kept
    CHECK(tc["model_input_names"] == json{"input_ids"});
    CHECK(tc["eos_token"] == "</s>");
  }
  SUBCASE("no tokenizer_config.json: written from the tokenizer") {
    fs::remove(ck + "/tokenizer_config.json");
    const ExportReport r = export_hf_siglip(ck, dir + "/hf", false);
    CHECK(contains(r.tokenizer, "written"));
    const json tc = read_json(dir + "/hf/tokenizer_config.json");
    CHECK(tc["tokenizer_class"] == "SiglipTokenizer");
    CHECK(tc["model_max_length"] == 12);
    CHECK(tc["model_input_names"] == json{"input_ids"});
    CHECK(tc["unk_token"] == "<unk>");
    CHECK(tc["pad_token"] == "</s>");
  }
  CHECK(read_file(dir + "/hf/spiece.model") == read_file(ck + "/spiece.model"));
  CHECK(read_json(dir + "/hf/special_tokens_map.json") ==
        json{{"unk_token", "<unk>"}, {"eos_token", "</s>"}, {"pad_token", "</s>"}});
  const json config = read_json(dir + "/hf/config.json");
  CHECK(config["text_config"]["eos_token_id"] == 1);
  CHECK(config["text_config"]["pad_token_id"] == 1);
  CHECK(config["text_config"]["vocab_size"] == sp.vocab_size());
  check_weights(dir + "/hf", ck);
  // Our tokenizer reads the exported folder as the checkpoint's.
  const std::string lines = "printf 'A red cat, in Paris!\\n\\nnumber 12 at night\\n' | ";
  const SiglipRun a = run_shell(lines + siglip_binary() + " tokenize --length 12 --tokenizer " + ck);
  const SiglipRun b = run_shell(lines + siglip_binary() + " tokenize --length 12 --tokenizer " + dir + "/hf");
  CHECK(a.status == 0);
  CHECK(a.output.size() > 20);
  CHECK(a.output == b.output);
  fs::remove_all(dir);
}

TEST_CASE("export: bad input is an error naming the folder; --force replaces files and stale tokenizers") {
  const std::string dir = temp_dir("export_bad");
  const std::string ck = dir + "/ck", out = dir + "/hf";
  SiglipConfig c = small_config();
  const Tokenizer tok = Tokenizer::build({"a red circle"});
  c.text.vocab_size = tok.vocab_size();
  write_checkpoint(ck, c, tok, DType::F32);
  auto error = [&](const std::string& from, const std::string& to, bool force = false) {
    return error_of([&] { export_hf_siglip(from, to, force); });
  };
  CHECK(error(dir + "/nothing", out) == "export: --checkpoint " + dir + "/nothing: no such directory");
  make_dirs(dir + "/empty");
  CHECK(contains(error(dir + "/empty", out), "export: checkpoint: " + dir + "/empty has neither model.safetensors"));
  CHECK(error(ck, ck, true) == "export: --out " + ck + " is the checkpoint " + ck + " itself; give another folder");
  write_file_atomic(dir + "/file", "x");
  CHECK(error(ck, dir + "/file") == "export: --out " + dir + "/file: exists and is not a directory");

  make_dirs(out);
  write_file_atomic(out + "/spiece.model", "left by an earlier export");
  write_file_atomic(out + "/notes.txt", "not ours");
  CHECK(error(ck, out) == "export: --out " + out + ": exists and is not empty (--force replaces the files of the "
                          "same names)");
  const ExportReport r = export_hf_siglip(ck, out, true);
  CHECK(r.removed == std::vector<std::string>{"spiece.model"});
  CHECK(!file_exists(out + "/spiece.model"));
  CHECK(read_file(out + "/notes.txt") == "not ours");
  CHECK(file_exists(out + "/tokenizer.json"));

  fs::remove(ck + "/tokenizer.json");
  CHECK(contains(error(ck, dir + "/hf3"), "export: checkpoint " + ck + " has no tokenizer (no tokenizer.json, "
                                          "spiece.model or tokenizer.model)"));
  CHECK(!file_exists(dir + "/hf3"));  // nothing written on bad input

  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--out " + out, "error: export: --checkpoint DIR is required"},
           {"--checkpoint " + ck, "error: export: --out DIR is required"},
           {"--checkpoint " + ck + " --out " + dir + "/hf4", "has no tokenizer"}}) {
    const SiglipRun cli = run_siglip("export " + args);
    CHECK_MESSAGE(cli.status == 1, cli.output);
    CHECK_MESSAGE(contains(cli.output, message), cli.output);
  }
  fs::remove_all(dir);
}

// transformers on the exported folders: scripts/export_pipeline.py (tokens, embeddings, pipeline scores against
// siglip tokenize / embed / classify) on the trained checkpoint, and scripts/export_sentencepiece.py (an imported
// SentencePiece model's text embeddings, then its export in the pipeline).
TEST_CASE("export: export_pipeline.py and export_sentencepiece.py agree with transformers (python oracle)") {
  if (const std::string why = oracle_missing("torch, transformers, safetensors, sentencepiece, PIL"); !why.empty()) {
    MESSAGE("SKIPPED: ", why);
    return;
  }
  const std::string dir = temp_dir("export_oracle");
  const std::string ckpt = trained_checkpoint(dir), siglip = siglip_binary();
  REQUIRE(export_hf_siglip(ckpt, dir + "/hf", false).notes.empty());
  const std::string python = "OMP_NUM_THREADS=1 " + kOraclePython;  // small models: one thread each is fastest
  const SiglipRun word = run_shell(python + " scripts/export_pipeline.py --siglip " + siglip + " --checkpoint " +
                                   ckpt + " --hf " + dir + "/hf");
  MESSAGE(word.output);
  CHECK(word.status == 0);
  CHECK(contains(word.output, "pipeline scores vs classify"));
  CHECK(contains(word.output, "export_pipeline: PASS"));

  const SiglipRun sp = run_shell(python + " scripts/export_sentencepiece.py --siglip " + siglip + " --keep " +
                                 dir + "/sp");
  MESSAGE(sp.output);
  CHECK(sp.status == 0);
  CHECK(contains(sp.output, "pipeline scores vs classify"));
  CHECK(contains(sp.output, "export_sentencepiece: PASS"));
  fs::remove_all(dir);
}
