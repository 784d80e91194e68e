// test_gradcheck.cpp: `siglip gradcheck`: op rows per named input, --values, --inputs FILE.safetensors, and one
// parameter of the whole model (--param) in float64 against central differences.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "nn/safetensors.h"
#include "siglip/commands.h"
#include "siglip/model_gradcheck.h"
#include "tensor/op_registry.h"
#include "tests/siglip_run.h"
#include "tests/error_of.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {
// The op check of `ops` on the tensors of `file`, called directly (run_command_line would print the error).
std::string error_of_file_check(std::vector<std::string> ops, const std::string& file) {
  GradcheckOptions o;
  o.ops = std::move(ops);
  o.inputs = file;
  return error_of([&] { run_gradcheck(o); });
}
std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("sg_gradcheck_" + std::to_string(::getpid()) + "_" + name)).string();
}
int count_of(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
// The 4 x 3 sigmoid-loss inputs of a small file: img and txt f32, t' and b f64, groups int64.
std::vector<std::pair<std::string, Tensor>> loss_inputs() {
  Generator g(11);
  return {{"img", mul(randn({4, 3}, DType::F32, &g), 0.5)}, {"txt", mul(randn({4, 3}, DType::F32, &g), 0.5)},
          {"logit_scale", from_vector({0.7}, {1}, DType::F64)}, {"logit_bias", from_vector({-1.2}, {1}, DType::F64)},
          {"groups", from_vector(std::vector<int64_t>{0, 1, 0, 2}, {4})}};
}
}  // namespace

TEST_CASE("gradcheck: every registry case names each of its inputs") {
  for (const OpCase& c : op_cases()) {
    Generator g(7);
    INFO(c.full_name());
    CHECK(c.input_names.size() == c.make_inputs(DType::F64, g).size());
  }
  for (const OpCase& c : op_cases())
    if (c.op == "sigmoid_loss_fused")
      CHECK(c.input_names == std::vector<std::string>{"img", "txt", "logit_scale", "logit_bias", "groups"});
}

TEST_CASE("gradcheck: one row per differentiated input, the summary line, --values in full") {
  SiglipRun r = run_siglip("gradcheck sigmoid_loss_fused/repeats_B5_D3 --values");
  INFO(r.output);
  CHECK(r.status == 0);
  // contiguous and strided, each with img, txt, logit_scale, logit_bias (groups are int64: not differentiated)
  for (const char* input : {" img ", " txt ", " logit_scale ", " logit_bias "}) CHECK(count_of(r.output, input) == 2);
  CHECK(r.output.find("8 passed, 0 failed") != std::string::npos);
  CHECK(count_of(r.output, "    analytic [5, 3]") == 4);  // img and txt, both layouts
  CHECK(count_of(r.output, "    numeric  [1]") == 4);     // t' and b
  CHECK(r.output.find("      [4, :] ") != std::string::npos);  // the last row of a [5, 3] gradient
  // An input over 64 elements is not printed.
  SiglipRun big = run_siglip("gradcheck sigmoid_loss_fused/diagonal_B70_D33 --values");
  CHECK(big.output.find("(2310 elements: --values prints inputs of at most 64)") != std::string::npos);
  // An unknown case names the op's cases.
  SiglipRun bad = run_siglip("gradcheck softmax/no_such_case");
  CHECK(bad.status == 1);
  CHECK(bad.output.find("softmax/dim-1") != std::string::npos);
}

TEST_CASE("gradcheck: --inputs FILE.safetensors: the user's tensors for one op; missing, misshapen, extra are errors") {
  const std::string file = temp_file("loss.safetensors");
  save_safetensors(file, loss_inputs());
  SiglipRun r = run_siglip("gradcheck sigmoid_loss_fused --inputs " + file + " --values");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("4 passed, 0 failed") != std::string::npos);
  CHECK(count_of(r.output, " as given ") == 4);
  CHECK(count_of(r.output, fs::path(file).filename().string()) == 4);
  CHECK(count_of(r.output, "    analytic [4, 3]") == 2);

  // The values printed for t' are the op's own derivative (w = 1 for a scalar output): check one against the
  // library's gradient on the same f64 values.
  std::vector<Tensor> xs;
  for (auto& [n, t] : loss_inputs()) xs.push_back(t.dtype() == DType::I64 ? t : t.to(DType::F64).requires_grad_());
  sigmoid_loss_fused(xs[0], xs[1], xs[2], xs[3], xs[4]).backward();
  const std::string dt = fmt::format("{:>17.10e}", xs[2].grad().item());
  CHECK(r.output.find("logit_scale") != std::string::npos);
  CHECK(r.output.find(dt) != std::string::npos);

  auto without = [](const std::string& drop) {
    std::vector<std::pair<std::string, Tensor>> v;
    for (auto& p : loss_inputs())
      if (p.first != drop) v.push_back(p);
    return v;
  };
  save_safetensors(file, without("txt"));
  std::string e = error_of_file_check({"sigmoid_loss_fused"}, file);
  for (const char* s : {file.c_str(), "no tensor 'txt'", "img [4, 3] float32", "groups [4] int64"}) CHECK_MESSAGE(e.find(s) != std::string::npos, e);

  auto misshapen = loss_inputs();
  misshapen[1].second = randn({5, 3});
  save_safetensors(file, misshapen);
  e = error_of_file_check({"sigmoid_loss_fused"}, file);
  for (const char* s : {file.c_str(), "txt [5, 3]", "img [4, 3]", "do not fit"}) CHECK_MESSAGE(e.find(s) != std::string::npos, e);

  auto extra = loss_inputs();
  extra.push_back({"tx", randn({4, 3})});
  save_safetensors(file, extra);
  e = error_of_file_check({"sigmoid_loss_fused"}, file);
  CHECK_MESSAGE(e.find("'tx' [4, 3] is not an input of sigmoid_loss_fused") != std::string::npos, e);

  e = error_of_file_check({"softmax", "matmul"}, file);
  CHECK_MESSAGE(e.find("checks one op") != std::string::npos, e);
  fs::remove(file);
}

TEST_CASE("gradcheck: --inputs on an op with a list input and an f32 file (concat)") {
  const std::string file = temp_file("concat.safetensors");
  save_safetensors(file, {{"ts.0", randn({2, 3})}, {"ts.1", randn({2, 1})}, {"ts.2", randn({2, 4})}});
  SiglipRun r = run_siglip("gradcheck concat/dim1 --inputs " + file);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("3 passed, 0 failed") != std::string::npos);
  fs::remove(file);
}

TEST_CASE("gradcheck --param: whole-model gradients of micro parameters in f64 (rel error < 1e-6)") {
  for (const char* name : {"vision_model.encoder.layers.0.self_attn.q_proj.weight", "logit_scale", "logit_bias",
                           "text_model.encoder.layers.1.mlp.fc1.bias", "vision_model.head.probe"}) {
    ModelBatch mb = model_batch({.command = "gradcheck", .checkpoint = "", .config = "micro", .batch = 4, .seed = 1, .step = 0});
    const ParamGradcheck r = param_gradcheck(mb, name, 3, 1, 1e-6);
    REQUIRE(r.elements.size() == std::min<size_t>(3, static_cast<size_t>(shape_numel(r.shape))));
    for (const auto& e : r.elements) {
      INFO(name, " ", e.flat, ": analytic ", e.analytic, " numeric ", e.numeric, " scale ", r.scale);
      CHECK(e.rel_error < 1e-6);
      CHECK(e.analytic != 0.0);
    }
  }
}

TEST_CASE("gradcheck --param: the command, an unknown name lists close names, --step picks a later batch") {
  SiglipRun r = run_siglip("gradcheck --param vision_model.encoder.layers.0.self_attn.q_proj.weight --elements 4 --seed 2");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("4 passed, 0 failed") != std::string::npos);
  // one row per element: name, multi-index [i, j], analytic, numeric, errors
  std::regex row(R"(vision_model\.encoder\.layers\.0\.self_attn\.q_proj\.weight +\[\d+, \d+\] +-?\d\.\d+e[-+]\d+ +-?\d\.\d+e[-+]\d+ +.* pass)");
  CHECK(std::distance(std::sregex_iterator(r.output.begin(), r.output.end(), row), std::sregex_iterator()) == 4);

  const std::string e = error_of([] {
    ModelBatch mb = model_batch({.command = "gradcheck", .checkpoint = "", .config = "micro", .batch = 2, .seed = 0, .step = 0});
    param_gradcheck(mb, "vision_model.encoder.layers.0.self_attn.q_proj.weigth", 1, 0, 1e-6);
  });
  CHECK_MESSAGE(e.find("no parameter 'vision_model.encoder.layers.0.self_attn.q_proj.weigth'") != std::string::npos, e);
  CHECK_MESSAGE(e.find("vision_model.encoder.layers.0.self_attn.q_proj.weight") != std::string::npos, e);
  SiglipRun bad = run_siglip("gradcheck --param logit_sclae");
  CHECK(bad.status == 1);
  CHECK(bad.output.find("logit_scale") != std::string::npos);

  // --step N: the batch of training step N, counted from 1 as the training log counts (step 3: the third next())
  ModelBatch at3 = model_batch({.command = "gradcheck", .checkpoint = "", .config = "micro", .batch = 4, .seed = 5, .step = 3});
  TrainOptions t;
  t.config = "micro";
  t.batch = 4;
  t.steps = 3;
  t.seed = 5;
  RunSetup run(t);
  run.loader->next(), run.loader->next();
  const Batch third = run.loader->next();
  CHECK(at3.batch.captions == third.captions);
  CHECK(at3.batch.images.to_vector<float>() == third.images.to_vector<float>());
  ModelBatch at1 = model_batch({.command = "gradcheck", .checkpoint = "", .config = "micro", .batch = 4, .seed = 5, .step = 1});
  CHECK(at1.batch.images.to_vector<float>() != third.images.to_vector<float>());
  SiglipRun zero = run_siglip("gradcheck --param logit_bias --step 0");
  CHECK(zero.status == 1);
  CHECK(zero.output.find("--step must be 1 or more") != std::string::npos);
}

TEST_CASE("gradcheck: spread_elements covers the tensor, one per run, seeded") {
  const std::vector<int64_t> a = spread_elements(100, 4, 3), b = spread_elements(100, 4, 3), c = spread_elements(100, 4, 4);
  CHECK(a == b);
  CHECK(a != c);
  for (size_t s = 0; s < a.size(); ++s) {
    CHECK(a[s] >= static_cast<int64_t>(s) * 25);
    CHECK(a[s] < static_cast<int64_t>(s + 1) * 25);
  }
  CHECK(spread_elements(2, 8, 0) == std::vector<int64_t>{0, 1});
}
