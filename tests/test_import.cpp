// `siglip import`: Hugging Face SigLIP folders written here (config.json as save_pretrained writes it, weights in
// F32, BF16 or F16, one file or index + shards) load as the same model; bad folders are errors naming the file and
// the field or tensor; and scripts/import_parity.py against transformers (when .venv has torch and transformers).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/dtype.h"
#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/hf_import.h"
#include "siglip/hf_safetensors.h"
#include "tests/siglip_run.h"
#include "tests/small_config.h"
#include "tests/train_helpers.h"
#include "tests/error_of.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

using Entry = std::tuple<std::string, std::string, Shape, std::string>;  // name, dtype, shape, bytes

// A safetensors file written byte by byte, for dtypes our writer has no DType for (F16, I8).
std::string safetensors_bytes(const std::vector<Entry>& entries) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, dtype, shape, bytes] : entries) {
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return len + text + data;
}

// A small config: 16 px, patch 4, width 32, 2 heads, one layer per tower; vocab 50, 6 tokens.
SiglipConfig small_config(bool head) {
  SiglipConfig c = small_config(SmallShape{.text_len = 6});
  c.text.intermediate_size = 40;
  c.vision.pool = head ? "map" : "mean";
  return c;
}

// config.json as transformers 5.24's save_pretrained writes it.
nlohmann::json hf_config_json(const SiglipConfig& c) {
  return {{"architectures", {"SiglipModel"}},
          {"model_type", "siglip"},
          {"initializer_factor", 1.0},
          {"text_config",
           {{"model_type", "siglip_text_model"}, {"vocab_size", c.text.vocab_size},
            {"hidden_size", c.text.hidden_size}, {"intermediate_size", c.text.intermediate_size},
            {"num_hidden_layers", c.text.num_hidden_layers}, {"num_attention_heads", c.text.num_attention_heads},
            {"max_position_embeddings", c.text.max_position_embeddings}, {"projection_size", c.text.projection_size},
            {"hidden_act", "gelu_pytorch_tanh"}, {"attention_dropout", 0.0}, {"layer_norm_eps", 1e-6},
            {"pad_token_id", 1}, {"bos_token_id", 49406}, {"eos_token_id", 49407}}},
          {"vision_config",
           {{"model_type", "siglip_vision_model"}, {"hidden_size", c.vision.hidden_size},
            {"intermediate_size", c.vision.intermediate_size}, {"num_hidden_layers", c.vision.num_hidden_layers},
            {"num_attention_heads", c.vision.num_attention_heads}, {"image_size", c.vision.image_size},
            {"patch_size", c.vision.patch_size}, {"num_channels", c.vision.num_channels},
            {"hidden_act", "gelu_pytorch_tanh"}, {"attention_dropout", 0.0}, {"layer_norm_eps", 1e-6},
            {"vision_use_head", c.vision.pool == "map"}}}};
}

uint16_t f32_to_f16_exact(float f) {  // for values f16 holds exactly (normal range)
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) == 0) return static_cast<uint16_t>(b >> 16);
  const uint32_t sign = (b >> 16) & 0x8000, exp = ((b >> 23) & 0xff) - 112, mant = (b >> 13) & 0x3ff;
  return static_cast<uint16_t>(sign | (exp << 10) | mant);
}

// Every parameter of `m` in `dtype` (F32, BF16 or F16), by HF name.
std::vector<Entry> entries_of(SiglipModel& m, const std::string& dtype) {
  std::vector<Entry> out;
  for (auto& [name, p] : m.named_parameters()) {
    const std::vector<float> v = p->to_vector<float>();
    std::string bytes;
    if (dtype == "F32") {
      bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    } else {
      std::vector<uint16_t> h;
      for (float x : v) h.push_back(dtype == "BF16" ? f32_to_bf16(x) : f32_to_f16_exact(x));
      bytes.assign(reinterpret_cast<const char*>(h.data()), h.size() * 2);
    }
    out.emplace_back(name, dtype, p->shape(), bytes);
  }
  return out;
}

// A model with random weights; with `f16_exact`, every value is k/256 with |k| <= 1023 (exact in F16).
std::unique_ptr<SiglipModel> random_model(const SiglipConfig& c, uint64_t seed, bool f16_exact = false) {
  auto m = std::make_unique<SiglipModel>(c);
  m->init_weights(seed);
  if (f16_exact) {
    int64_t k = static_cast<int64_t>(seed);
    for (auto& [name, p] : m->named_parameters()) {
      std::vector<float> v(static_cast<size_t>(p->numel()));
      for (float& x : v) x = static_cast<float>((k = (k * 1103515245 + 12345) % 2047) - 1023) / 256.0f;
      p->copy_(from_vector(v, p->shape()));
    }
  }
  return m;
}

void write_folder(const std::string& dir, const nlohmann::json& config, const std::vector<Entry>& entries) {
  make_dirs(dir);
  write_file_atomic(dir + "/config.json", config.dump(2));
  write_file_atomic(dir + "/model.safetensors", safetensors_bytes(entries));
}

// Every parameter of the loaded checkpoint equals `expect(name, value)` of the original model's value.
template <class F>
void check_same_weights(const std::string& ckpt, SiglipModel& original, F expect) {
  LoadedModel lm = load_checkpoint(ckpt);
  auto want = original.named_parameters();
  auto got = lm.model->named_parameters();
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(want[i].first);
    REQUIRE(want[i].first == got[i].first);
    const std::vector<float> a = want[i].second->to_vector<float>(), b = got[i].second->to_vector<float>();
    REQUIRE(a.size() == b.size());
    size_t bad = 0;
    for (size_t j = 0; j < a.size(); ++j) bad += expect(a[j]) != b[j];
    CHECK(bad == 0);
  }
}

std::string import_error(const std::string& dir) {
  return error_of([&] { import_hf_siglip(dir, dir + "_out", Precision::F32); });
}

}  // namespace

TEST_CASE("import: F32, BF16 and F16 folders load as the same weights; tokenizer files copied byte for byte") {
  const std::string dir = temp_dir("import_dtypes");
  const SiglipConfig c = small_config(true);
  auto m = random_model(c, 7);
  std::string spiece = "\x0a\x05piece\x00\xff\x80 binary";
  spiece.push_back('\0');

  SUBCASE("F32, --precision f32 and bf16") {
    write_folder(dir + "/hf", hf_config_json(c), entries_of(*m, "F32"));
    write_file_atomic(dir + "/hf/spiece.model", spiece);
    write_file_atomic(dir + "/hf/tokenizer_config.json", "{\"model_max_length\": 6}\n");
    write_file_atomic(dir + "/hf/special_tokens_map.json", "{\"eos_token\": \"</s>\"}\n");
    write_file_atomic(dir + "/hf/tokenizer.json", "{\"version\": \"1.0\"}\n");
    const ImportReport r = import_hf_siglip(dir + "/hf", dir + "/ck", Precision::F32);
    CHECK(r.source_dtypes == "F32");
    CHECK(r.copied_files ==
          std::vector<std::string>{"spiece.model", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"});
    for (const char* f : {"special_tokens_map.json", "tokenizer.json"})
      CHECK(read_file(dir + "/ck/" + f) == read_file(dir + "/hf/" + f));
    CHECK(read_file(dir + "/ck/spiece.model") == spiece);
    CHECK(read_file(dir + "/ck/tokenizer_config.json") == read_file(dir + "/hf/tokenizer_config.json"));
    // The copied spiece.model is the checkpoint's tokenizer: these bytes are no SentencePiece model, and
    // loading says so, naming the file. Without them the checkpoint loads, with no tokenizer.
    CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/ck"), doctest::Contains("spiece.model"), Error);
    fs::remove(dir + "/ck/spiece.model");
    fs::remove(dir + "/ck/tokenizer.json");  // transformers' file, beside the SentencePiece model only
    check_same_weights(dir + "/ck", *m, [](float x) { return x; });

    import_hf_siglip(dir + "/hf", dir + "/ck16", Precision::BF16);
    CHECK(load_safetensors(dir + "/ck16/model.safetensors").at("logit_scale").dtype() == DType::BF16);
    fs::remove(dir + "/ck16/spiece.model");
    fs::remove(dir + "/ck16/tokenizer.json");
    check_same_weights(dir + "/ck16", *m, [](float x) { return bf16_to_f32(f32_to_bf16(x)); });
  }
  SUBCASE("BF16; a tokenizer.json without a SentencePiece model is not copied (it is not our tokenizer's)") {
    write_folder(dir + "/hf", hf_config_json(c), entries_of(*m, "BF16"));
    write_file_atomic(dir + "/hf/tokenizer.json", "{\"version\": \"1.0\"}\n");
    const ImportReport r = import_hf_siglip(dir + "/hf", dir + "/ck", Precision::F32);
    CHECK(r.source_dtypes == "BF16");
    CHECK(r.copied_files.empty());
    CHECK(!fs::exists(dir + "/ck/tokenizer.json"));
    check_same_weights(dir + "/ck", *m, [](float x) { return bf16_to_f32(f32_to_bf16(x)); });
  }
  SUBCASE("F16") {
    auto exact = random_model(c, 11, true);
    write_folder(dir + "/hf", hf_config_json(c), entries_of(*exact, "F16"));
    CHECK(import_hf_siglip(dir + "/hf", dir + "/ck", Precision::F32).source_dtypes == "F16");
    check_same_weights(dir + "/ck", *exact, [](float x) { return x; });
  }
  fs::remove_all(dir);
}

TEST_CASE("import: F16 special values: subnormals, the largest finite, signed zero") {
  const std::string dir = temp_dir("import_f16");
  const SiglipConfig c = small_config(true);
  auto m = random_model(c, 3);
  std::vector<Entry> entries = entries_of(*m, "F32");
  for (auto& [name, dtype, shape, bytes] : entries)
    if (name == "logit_scale" || name == "logit_bias") {
      const uint16_t h = name == "logit_scale" ? 0x0001 : 0xfbff;  // 2^-24, -65504
      dtype = "F16";
      bytes.assign(reinterpret_cast<const char*>(&h), 2);
    }
  write_folder(dir + "/hf", hf_config_json(c), entries);
  import_hf_siglip(dir + "/hf", dir + "/ck", Precision::F32);
  LoadedModel lm = load_checkpoint(dir + "/ck");
  CHECK(lm.model->logit_scale.to_vector<float>()[0] == std::ldexp(1.0f, -24));
  CHECK(lm.model->logit_bias.to_vector<float>()[0] == -65504.0f);
  fs::remove_all(dir);
}

TEST_CASE("import: shards listed by model.safetensors.index.json; no MAP head; another vocabulary and length") {
  const std::string dir = temp_dir("import_shards");
  SiglipConfig c = small_config(false);
  c.text.vocab_size = 77;
  c.text.max_position_embeddings = 9;
  auto m = random_model(c, 5);
  const std::vector<Entry> all = entries_of(*m, "F32");
  std::vector<Entry> shard[2];
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < all.size(); ++i) {
    shard[i % 2].push_back(all[i]);
    weight_map[std::get<0>(all[i])] = fmt::format("model-0000{}-of-00002.safetensors", i % 2 + 1);
  }
  make_dirs(dir + "/hf");
  write_file_atomic(dir + "/hf/config.json", hf_config_json(c).dump());
  for (int s = 0; s < 2; ++s)
    write_file_atomic(dir + fmt::format("/hf/model-0000{}-of-00002.safetensors", s + 1), safetensors_bytes(shard[s]));
  write_file_atomic(dir + "/hf/model.safetensors.index.json",
                    nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
  const ImportReport r = import_hf_siglip(dir + "/hf", dir + "/ck", Precision::F32);
  CHECK(r.safetensors_files.size() == 2);
  CHECK(r.config.vision.pool == "mean");
  CHECK(r.config.text.vocab_size == 77);
  CHECK(r.config.text.max_position_embeddings == 9);
  check_same_weights(dir + "/ck", *m, [](float x) { return x; });

  // The imported model runs: mean pooling without the head, 9 tokens from a vocabulary of 77.
  LoadedModel lm = load_checkpoint(dir + "/ck");
  CHECK(lm.model->vision_model.head == nullptr);
  NoGradGuard ng;
  Tensor img = lm.model->image_embeds(randn({2, 3, 16, 16}));
  Tensor ids = from_vector({0, 5, 76, 3, 2, 1, 9, 8, 7, 76, 75, 74, 1, 2, 3, 4, 5, 6}, {2, 9}, DType::I64);
  Tensor txt = lm.model->text_embeds(ids);
  CHECK(img.shape() == Shape{2, 32});
  CHECK(txt.shape() == Shape{2, 32});
  fs::remove_all(dir);
}

TEST_CASE("import: bad folders are errors naming the file and the field or tensor") {
  const std::string dir = temp_dir("import_bad");
  const std::string hf = dir + "/hf";
  const SiglipConfig c = small_config(true);
  auto m = random_model(c, 1);
  const std::vector<Entry> good = entries_of(*m, "F32");
  nlohmann::json cfg = hf_config_json(c);
  auto expect = [&](const std::vector<std::string>& parts) {
    const std::string e = import_error(hf);
    for (const std::string& p : parts) CHECK_MESSAGE(e.find(p) != std::string::npos, "'" << p << "' not in: " << e);
  };
  const std::string config_path = hf + "/config.json", weights = hf + "/model.safetensors";

  SUBCASE("model_type missing") {
    cfg.erase("model_type");
    write_folder(hf, cfg, good);
    expect({config_path, "model_type is missing"});
  }
  SUBCASE("model_type of another model") {
    cfg["model_type"] = "clip";
    write_folder(hf, cfg, good);
    expect({config_path, "model_type is \"clip\""});
  }
  SUBCASE("a required field missing") {
    cfg["text_config"].erase("vocab_size");
    write_folder(hf, cfg, good);
    expect({config_path, "text_config.vocab_size is missing"});
  }
  SUBCASE("vision_config missing") {
    cfg.erase("vision_config");
    write_folder(hf, cfg, good);
    expect({config_path, "vision_config is missing"});
  }
  SUBCASE("unsupported values") {
    cfg["vision_config"]["hidden_act"] = "gelu";
    write_folder(hf, cfg, good);
    expect({config_path, "vision_config.hidden_act is \"gelu\""});
    cfg["vision_config"]["hidden_act"] = "gelu_pytorch_tanh";
    cfg["text_config"]["attention_dropout"] = 0.1;
    write_folder(hf, cfg, good);
    expect({config_path, "text_config.attention_dropout is 0.1"});
    cfg["text_config"]["attention_dropout"] = 0;
    cfg["vision_config"]["image_size"] = {16, 32};
    write_folder(hf, cfg, good);
    expect({config_path, "vision_config.image_size is [16,32]", "only square"});
  }
  SUBCASE("a tensor of the wrong shape") {
    std::vector<Entry> bad = good;
    for (auto& e : bad)
      if (std::get<0>(e) == "text_model.embeddings.token_embedding.weight") std::get<2>(e) = {32, 50};
    write_folder(hf, cfg, bad);
    expect({weights, "'text_model.embeddings.token_embedding.weight' has shape [32, 50]", "[50, 32]"});
  }
  SUBCASE("an unsupported dtype") {
    std::vector<Entry> bad = good;
    std::get<1>(bad[3]) = "I8";
    std::get<3>(bad[3]).resize(std::get<3>(bad[3]).size() / 4);
    write_folder(hf, cfg, bad);
    expect({weights, "'" + std::get<0>(bad[3]) + "' has dtype I8", "F32, F16 and BF16"});
  }
  SUBCASE("a missing tensor, and one that is no parameter") {
    std::vector<Entry> bad(good.begin() + 1, good.end());
    write_folder(hf, cfg, bad);
    expect({weights, "'" + std::get<0>(good[0]) + "' is missing"});
    nlohmann::json no_head = cfg;
    no_head["vision_config"]["vision_use_head"] = false;
    write_folder(hf, no_head, good);
    expect({weights, "'vision_model.head.", "is not a parameter", "vision_use_head is false"});
  }
  SUBCASE("a truncated file") {
    write_folder(hf, cfg, good);
    const std::string bytes = read_file(weights);
    write_file_atomic(weights, bytes.substr(0, bytes.size() - 100));
    expect({weights, "truncated"});
    write_file_atomic(weights, bytes.substr(0, 5));
    expect({weights, "5 bytes"});
  }
  SUBCASE("no weights at all") {
    make_dirs(hf);
    write_file_atomic(config_path, cfg.dump());
    expect({hf, "neither model.safetensors nor model.safetensors.index.json"});
  }
  SUBCASE("sharded: a missing shard, an index naming a tensor its shard lacks, a truncated shard") {
    make_dirs(hf);
    write_file_atomic(config_path, cfg.dump());
    const std::string index = hf + "/model.safetensors.index.json", shard = hf + "/model-00001-of-00001.safetensors";
    nlohmann::json weight_map = nlohmann::json::object();
    for (const auto& e : good) weight_map[std::get<0>(e)] = "model-00001-of-00001.safetensors";
    write_file_atomic(index, nlohmann::json{{"weight_map", weight_map}}.dump());
    expect({index, shard, "is missing"});
    write_file_atomic(shard, safetensors_bytes(std::vector<Entry>(good.begin(), good.end() - 1)));
    expect({index, "'" + std::get<0>(good.back()) + "'", shard, "no such tensor"});
    write_file_atomic(shard, safetensors_bytes(good).substr(0, 4000));
    expect({shard, "truncated"});
    write_file_atomic(index, "{\"metadata\": {}}");
    expect({index, "weight_map"});
  }
  SUBCASE("sizes that are no int64") {
    for (const nlohmann::json& bad : {nlohmann::json(1.8e21), nlohmann::json(32.5), nlohmann::json(~uint64_t{0})}) {
      cfg["vision_config"]["hidden_size"] = bad;
      write_folder(hf, cfg, good);
      expect({config_path, "vision_config.hidden_size must be an integer, got " + bad.dump()});
    }
    cfg["vision_config"]["hidden_size"] = 32;
    cfg["vision_config"]["patch_size"] = {~uint64_t{0}, ~uint64_t{0}};
    write_folder(hf, cfg, good);
    expect({config_path, "vision_config.patch_size must be an integer"});
  }
  SUBCASE("a number past double's range in config.json or the index") {  // fuzz/corpus/*/crash_number_overflow
    make_dirs(hf);
    write_file_atomic(config_path, "{\"model_type\": \"siglip\", \"text_config\": {\"hidden_size\": 31e3082}}");
    expect({config_path, "malformed JSON", "number overflow"});
    write_file_atomic(config_path, cfg.dump());
    write_file_atomic(hf + "/model.safetensors.index.json", "{\"weight_map\": {\"w\": 1e999}}");
    expect({hf + "/model.safetensors.index.json", "malformed JSON", "number overflow"});
  }
  fs::remove_all(dir);
}

TEST_CASE("import: the safetensors header and shard index readers refuse what the files cannot hold") {
  auto header_error = [](const std::string& json, const std::string& data) {
    std::string text = json;
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    bytes += text + data;
    return error_of([&] { read_hf_safetensors_header("x.safetensors", bytes.data(), bytes.size()); });
  };
  // Sizes below 2^40 each whose product is 2^64: it wraps to 0 elements, which the 0 bytes there are would hold.
  CHECK(header_error(R"({"w":{"dtype":"F32","shape":[4194304,2097152,2097152],"data_offsets":[0,0]}})", "")
            .find("x.safetensors: tensor 'w': shape [4194304, 2097152, 2097152] is too large") != std::string::npos);
  // Empty, but its strides would overflow int64.
  CHECK(header_error(R"({"w":{"dtype":"BF16","shape":[0,1099511627775,1099511627775],"data_offsets":[0,0]}})", "")
            .find("is too large") != std::string::npos);
  CHECK(header_error(R"({"w":{"dtype":"BF16","shape":[0,3],"data_offsets":[0,0]}})", "") == "(no error)");

  // A NUL would end the path the shard is opened by ("model.safetensors").
  CHECK(error_of([&] { read_hf_shard_index("index.json", R"({"weight_map": {"w": "model.safetensors\u0000.txt"}})"); })
            .find("not a file in this folder") != std::string::npos);
  CHECK(read_hf_shard_index("index.json", R"({"weight_map": {"a": "s1", "b": "s2", "c": "s1"}})") ==
        std::map<std::string, std::vector<std::string>>{{"s1", {"a", "c"}}, {"s2", {"b"}}});
}

TEST_CASE("import: the command prints what it read and wrote; imported checkpoints refuse text but take token ids") {
  const std::string dir = temp_dir("import_cli");
  const SiglipConfig c = small_config(true);
  auto m = random_model(c, 2);
  write_folder(dir + "/hf", hf_config_json(c), entries_of(*m, "BF16"));
  const SiglipRun r = run_siglip("import " + dir + "/hf --out " + dir + "/ck");
  INFO(r.output);
  CHECK(r.status == 0);
  for (const char* s : {"import: read ", "(1 file, BF16)", "pool map (head)", "text vocab 50, length 6", "wrote ",
                        "peak RSS"})
    CHECK(r.output.find(s) != std::string::npos);
  const SiglipRun no_out = run_siglip("import " + dir + "/hf");
  CHECK(no_out.status != 0);
  CHECK(no_out.output.find("--out DIR is required") != std::string::npos);
  const SiglipRun embed = run_siglip("embed --checkpoint " + dir + "/ck --texts \"a cat\" --out " + dir + "/e.json");
  CHECK(embed.status != 0);
  CHECK(embed.output.find("embed: checkpoint " + dir + "/ck has no tokenizer (") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("import: preprocessor_config.json is validated, copied, and fitted to the model's image size") {
  const std::string dir = temp_dir("import_preprocessor");
  const SiglipConfig c = small_config(true);  // 16 px
  auto m = random_model(c, 4);
  write_folder(dir + "/hf", hf_config_json(c), entries_of(*m, "F32"));
  const std::string text = R"({"image_processor_type": "SiglipImageProcessor", "image_mean": [0.4, 0.5, 0.6],
    "image_std": [0.2, 0.3, 0.4], "resample": 3, "rescale_factor": 0.00392156862745098,
    "size": {"height": 32, "width": 32}, "processor_class": "SiglipProcessor"})";
  write_file_atomic(dir + "/hf/preprocessor_config.json", text);
  const ImportReport r = import_hf_siglip(dir + "/hf", dir + "/ck", Precision::F32);
  CHECK(r.copied_files == std::vector<std::string>{"preprocessor_config.json"});
  CHECK(read_file(dir + "/ck/preprocessor_config.json") == text);
  CHECK(r.image_processor_note.find("resizes to 32x32 (height x width) but the model takes 16x16 images: they are "
                                    "resized to 16x16") != std::string::npos);
  CHECK(r.image_processor.find("bicubic resize to 16x16") != std::string::npos);
  const LoadedModel lm = load_checkpoint(dir + "/ck");
  CHECK(lm.image_processor.image_std == std::vector<double>{0.2, 0.3, 0.4});
  CHECK(lm.image_processor.height == 16);
  const SiglipRun cli = run_siglip("import " + dir + "/hf --out " + dir + "/ck2");
  CHECK(cli.output.find("import: note: " + dir + "/hf/preprocessor_config.json resizes to 32x32") != std::string::npos);
  CHECK(cli.output.find("import: images: preprocessor_config.json: bicubic resize to 16x16") != std::string::npos);

  // A bad one is refused before anything is written, naming the file and the field.
  write_file_atomic(dir + "/hf/preprocessor_config.json", R"({"image_mean": [0.5, 0.5]})");
  const std::string msg = error_of([&] { import_hf_siglip(dir + "/hf", dir + "/ck3", Precision::F32); });
  CHECK(msg.find(dir + "/hf/preprocessor_config.json: image_mean has 2 values") != std::string::npos);
  CHECK(!fs::exists(dir + "/ck3"));
  write_file_atomic(dir + "/hf/preprocessor_config.json", R"({"image_processor_type": "ViTImageProcessor"})");
  CHECK(import_error(dir + "/hf").find("image_processor_type is \"ViTImageProcessor\"") != std::string::npos);
  fs::remove_all(dir);
}

// scripts/import_parity.py: random SiglipModels built and saved by transformers, imported, compared.
TEST_CASE("import: import_parity.py: imported models match transformers on four configs (python oracle)") {
  if (const std::string why = oracle_missing("torch, transformers, safetensors"); !why.empty()) {
    MESSAGE("SKIPPED: ", why);
    return;
  }
  const std::string python = kOraclePython, siglip = siglip_binary();
  const auto [rc, out] = run_shell(python + " scripts/import_parity.py --siglip " + siglip);
  MESSAGE(out);  // one line per config with its worst relative errors
  CHECK(rc == 0);
  CHECK(out.find("import_parity: PASS: 4 configs") != std::string::npos);
}
