// test_cli.cpp: the command line: options parsed from their one definition, errors that name the command, the
// option and the value, --help of every command (through the built binary), the README table of train's options,
// the options' JSON in trainer_state.json (old files included), and --threads.
#include <cblas.h>
#include <doctest/doctest.h>
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "nn/fileio.h"
#include "siglip/cli.h"
#include "siglip/option_json.h"
#include "siglip/commands.h"
#include "siglip/threads.h"
#include "siglip/train_options.h"
#include "tests/siglip_run.h"
#include "tests/error_of.h"

using namespace sg;

namespace {

TrainOptions parse_train(const std::vector<std::string>& args) {
  TrainOptions o;
  parse_command_line(args, o);
  return o;
}

const Command& command(const std::string& name) {
  for (const Command& c : commands())
    if (c.name == name) return c;
  FAIL("no command " << name);
  throw 0;
}

SiglipRun siglip(const std::string& args) { return run_siglip(args); }

}  // namespace

TEST_CASE("cli: train options parse into typed values") {
  TrainOptions d;
  CHECK(d.steps == 300);
  CHECK(d.loss == Loss::Sigmoid);
  CHECK(d.init_bias.is_auto());
  CHECK(d.eval);
  TrainOptions o = parse_train({"--steps", "7", "--lr=2e-3", "--loss", "softmax", "--positives", "label", "--init-bias",
                                "-10", "--device", "cuda", "--precision", "bf16", "--no-eval", "--profile", "--seed",
                                "42", "--threads", "1", "--image-size", "32"});
  CHECK(o.steps == 7);
  CHECK(o.lr == 2e-3);
  CHECK(o.loss == Loss::Softmax);
  CHECK(o.positives == Positives::Label);
  CHECK(o.init_bias == InitBias{-10.0});
  CHECK(o.device == Device::CUDA);
  CHECK(o.precision == Precision::BF16);
  CHECK(!o.eval);
  CHECK(o.profile);
  CHECK(o.seed == 42);
  CHECK(o.threads == 1);
  CHECK(o.image_size == 32);
  CHECK(parse_train({"--steps", "5", "--steps", "9"}).steps == 9);  // the last one counts (scripts append overrides)
  TrainOptions given;
  CommandLine cl = parse_command_line({"--steps", "5"}, given);
  CHECK(cl.has("steps"));
  CHECK(!cl.has("batch"));
}

TEST_CASE("cli: unknown options, options of another command and stray words are errors naming the command") {
  CHECK(error_of([] { parse_train({"--foo", "3"}); }) == "train: unknown option --foo (`siglip train --help` lists the options)");
  CHECK(error_of([] { parse_train({"--foo=3"}); }).starts_with("train: unknown option --foo "));
  CHECK(error_of([] { command("eval").run({"--steps", "5"}); }) == "eval: unknown option --steps (an option of train)");
  CHECK(error_of([] { command("bench ops").run({"--device", "cuda"}); }) ==
        "bench ops: unknown option --device (an option of train, bench kernels, bench embed)");
  CHECK(error_of([] { command("train").run({"--checkpoint", "x"}); }) ==
        "train: unknown option --checkpoint (an option of eval, classify, embed, gradcheck, graph, grad, trace, "
        "preprocess, export)");
  CHECK(error_of([] { parse_train({"extra"}); }) == "train: unexpected argument 'extra'");
  CHECK(error_of([] { parse_train({"--steps"}); }) == "train: --steps needs a value");
  CHECK(error_of([] { parse_train({"--profile=1"}); }) == "train: --profile takes no value");
}

TEST_CASE("cli: bad values name the option and the value") {
  CHECK(error_of([] { parse_train({"--loss", "hinge"}); }) == "train: --loss must be one of sigmoid, softmax; got 'hinge'");
  CHECK(error_of([] { parse_train({"--positives", "all"}); }) ==
        "train: --positives must be one of diagonal, caption, label; got 'all'");
  CHECK(error_of([] { parse_train({"--precision", "f16"}); }) == "train: --precision must be one of f32, bf16; got 'f16'");
  CHECK(error_of([] { parse_train({"--device", "tpu"}); }) == "train: --device must be one of cpu, cuda; got 'tpu'");
  CHECK(error_of([] { parse_train({"--steps", "12x"}); }) == "train: --steps must be an integer; got '12x'");
  CHECK(error_of([] { parse_train({"--lr", "fast"}); }) == "train: --lr must be a number; got 'fast'");
  CHECK(error_of([] { parse_train({"--init-bias", "low"}); }) == "train: --init-bias must be auto or a number; got 'low'");
  CHECK(error_of([] { parse_train({"--seed", "-1"}); }) == "train: --seed must be a non-negative integer; got '-1'");
  CHECK(error_of([] { parse_train({"--image-size", "99999999999"}); }) ==
        "train: --image-size must be an integer; got '99999999999'");
}

TEST_CASE("cli: positional words, flags and optional values of the other commands") {
  ClassifyOptions c;
  parse_command_line({"--checkpoint", "ck", "img.png", "a red circle", "--json", "a blue square"}, c);
  CHECK(c.checkpoint == "ck");
  CHECK(c.json);
  CHECK(c.inputs == std::vector<std::string>{"img.png", "a red circle", "a blue square"});
  BenchKernelsOptions b;
  CHECK(!b.device.has_value());
  parse_command_line({"--device", "cpu", "--batch", "4"}, b);
  CHECK(b.device == Device::CPU);
  CHECK(b.batch == 4);
  GradcheckOptions g;
  parse_command_line({"matmul", "--rtol", "1e-5"}, g);
  CHECK(g.ops == std::vector<std::string>{"matmul"});
  CHECK(g.rtol == 1e-5);
}

TEST_CASE("cli: --help of every command, `siglip help`, and errors from the binary") {
  for (const Command& c : commands()) {
    CAPTURE(c.name);
    SiglipRun r = siglip(c.name + " --help");
    CHECK(r.status == 0);
    CHECK(r.output == c.help());
    CHECK(r.output.find("usage: siglip " + c.name) != std::string::npos);
    for (const std::string& o : c.option_names) CHECK(r.output.find("--" + o) != std::string::npos);
    CHECK(siglip("help " + c.name).output == c.help());
  }
  SiglipRun overview = siglip("help");
  CHECK(overview.status == 0);
  for (const Command& c : commands()) CHECK(overview.output.find(c.name) != std::string::npos);
  CHECK(siglip("").status == 2);
  SiglipRun unknown = siglip("train --foo 1");
  CHECK(unknown.status != 0);
  CHECK(unknown.output.find("error: train: unknown option --foo") != std::string::npos);
  SiglipRun bad = siglip("train --loss hinge");
  CHECK(bad.status != 0);
  CHECK(bad.output.find("--loss must be one of sigmoid, softmax; got 'hinge'") != std::string::npos);
  CHECK(siglip("frobnicate").status == 2);
  CHECK(siglip("bench nothing").output.find("bench: unknown benchmark 'nothing' (known: ops, kernels, embed)") !=
        std::string::npos);
  CHECK(siglip("help train --markdown").output == command("train").markdown());
}

TEST_CASE("cli: README's table of train options is what `siglip help train --markdown` prints") {
  const std::string readme = read_file("README.md");  // tests run from the repository root
  const std::string begin = "<!-- train options: begin", end = "<!-- train options: end -->";
  const size_t b = readme.find(begin), e = readme.find(end);
  REQUIRE_MESSAGE(b != std::string::npos, "README.md has no '" << begin << "' marker");
  REQUIRE(e != std::string::npos);
  const size_t table = readme.find('\n', b) + 1;
  const std::string in_readme = readme.substr(table, e - table);
  INFO("regenerate with: build/siglip help train --markdown");
  CHECK(in_readme == command("train").markdown());
}

TEST_CASE("cli: train options to JSON and back; older files keep defaults for missing keys") {
  TrainOptions o = parse_train({"--steps", "7", "--loss", "softmax", "--init-bias", "-2.5", "--no-eval", "--device", "cuda",
                                "--lr", "0.1", "--seed", "3"});
  nlohmann::json j = options_to_json(o);
  CHECK(j["steps"] == 7);
  CHECK(j["loss"] == "softmax");
  CHECK(j["init_bias"] == "-2.5");
  CHECK(j["eval"] == false);
  CHECK(j["weight_decay"] == 1e-4);
  TrainOptions back = options_from_json<TrainOptions>(j, "state.json");
  CHECK(options_to_json(back) == j);
  CHECK(back.lr == 0.1);
  CHECK(back.device == Device::CUDA);
  // A file written before threads/profile existed, with string choices as they were always written.
  nlohmann::json old = {{"data", "shapes:256:32"}, {"config", "micro"}, {"steps", 6},        {"loss", "sigmoid"},
                        {"positives", "caption"},  {"init_bias", "auto"}, {"device", "cpu"}, {"precision", "f32"},
                        {"eval", false},           {"image_size", 16}};
  TrainOptions o2 = options_from_json<TrainOptions>(old, "old.json");
  CHECK(o2.steps == 6);
  CHECK(o2.positives == Positives::Caption);
  CHECK(o2.image_size == 16);
  CHECK(!o2.eval);
  CHECK(o2.batch == 128);  // missing: the default
  CHECK(o2.threads == 0);
  old["loss"] = "hinge";
  CHECK(error_of([&] { options_from_json<TrainOptions>(old, "old.json"); }) ==
        "old.json: option 'loss' is \"hinge\", expected one of sigmoid, softmax");
}

TEST_CASE("cli: --threads sets the OpenMP and OpenBLAS thread counts for the scope's life") {
  const int omp_before = omp_get_max_threads(), blas_before = openblas_get_num_threads();
  {
    ThreadCountScope one(1);
    CHECK(omp_get_max_threads() == 1);
    CHECK(openblas_get_num_threads() == 1);
    ThreadCountScope unchanged(0);
    CHECK(omp_get_max_threads() == 1);
  }
  CHECK(omp_get_max_threads() == omp_before);
  CHECK(openblas_get_num_threads() == blas_before);
}
