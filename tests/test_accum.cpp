// test_accum.cpp: --accum-steps K (siglip/accum_step.h). K micro-batches give the loss and every gradient of the
// one batch (float64 within 1e-12, float32 within 1e-5 of each tensor's largest gradient) for the sigmoid and the
// softmax loss, diagonal and caption positives, K = 1, 2, 4 and an uneven cut; a training run with K = 2 follows
// the run with K = 1 and resumes bit for bit; --init-bias auto and the collapse probe take the whole batch; under
// mpirun, K = 2 and 3 on 2 ranks give one process's gradients; bad values are errors naming the option.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "nn/safetensors.h"
#include "siglip/accum_step.h"
#include "siglip/loss.h"
#include "siglip/model.h"
#include "siglip/train.h"
#include "tests/siglip_run.h"
#include "tests/small_config.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

struct Setting {
  Loss loss;
  Positives positives;
};

// The loss the trainer computes on one process (Trainer::loss_of) from the embeddings of the whole batch.
Tensor batch_loss(SiglipModel& m, const Tensor& img, const Tensor& txt, const Setting& s,
                  const std::vector<std::string>& captions) {
  if (s.loss == Loss::Sigmoid)
    return sigmoid_loss_of(img, txt, m.logit_scale, m.logit_bias, positive_groups(s.positives, captions, {}));
  return softmax_loss(m.logits(img, txt), positive_labels(s.positives, captions, {}).to(img.dtype()));
}

std::map<std::string, Tensor> take_gradients(SiglipModel& m) {
  std::map<std::string, Tensor> g;
  for (auto& [name, p] : m.named_parameters()) {
    if (p->grad().defined()) g[name] = p->grad().clone();
    p->zero_grad();
  }
  return g;
}

double largest(const Tensor& t) {
  double v = 0;
  for (double x : t.to_vector<double>()) v = std::max(v, std::abs(x));
  return v;
}

// The largest difference of any gradient from the one-batch gradient, relative to the largest element of that
// parameter's one-batch gradient (of all parameters' for those whose gradient is zero in exact arithmetic).
double worst_gradient_difference(const std::map<std::string, Tensor>& whole, const std::map<std::string, Tensor>& acc) {
  REQUIRE(whole.size() == acc.size());
  double overall = 0;
  for (const auto& [name, g] : whole) overall = std::max(overall, largest(g));
  double worst = 0;
  for (const auto& [name, g] : whole) {
    INFO(name);
    REQUIRE(acc.count(name));
    const double scale = gradient_is_exactly_zero(name) ? overall : std::max(largest(g), 1e-30);
    const std::vector<double> a = g.to_vector<double>(), b = acc.at(name).to_vector<double>();
    REQUIRE(a.size() == b.size());
    double diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

// One batch of B rows against K micro-batches on the same model: the relative difference of the losses and the
// worst relative gradient difference.
std::pair<double, double> compare(DType dtype, const Setting& s, int64_t B, int64_t K) {
  SiglipModel m(small_config());
  m.init_weights(11);
  if (dtype == DType::F64) m.to(DType::F64);
  {
    NoGradGuard ng;  // a bias nearer the balance than -10, so that positives and negatives both have gradients
    m.logit_bias.detach().fill_(-2.0);
  }
  Generator gen(7);
  Tensor images = randn({B, 3, 16, 16}, dtype, &gen);  // [B, C, H, W]
  Tensor ids = randint({B, 12}, 0, 50, &gen);           // [B, T]
  std::vector<std::string> captions;
  for (int64_t i = 0; i < B; ++i) captions.push_back("caption " + std::to_string(i % 3));  // caption positives: 3 groups

  Tensor whole = batch_loss(m, m.image_embeds(images), m.text_embeds(ids), s, captions);
  whole.backward();
  const std::map<std::string, Tensor> g_whole = take_gradients(m);

  AccumulatedStep acc(m, images, ids, K);
  Tensor loss = batch_loss(m, acc.image(), acc.text(), s, captions);
  loss.backward();
  acc.backward();
  const std::map<std::string, Tensor> g_acc = take_gradients(m);
  REQUIRE(g_whole.size() >= 30);  // every trained parameter has a gradient
  return {std::abs(loss.item() - whole.item()) / std::abs(whole.item()), worst_gradient_difference(g_whole, g_acc)};
}

}  // namespace

TEST_CASE("accum: K micro-batches give the loss and every gradient of the one batch (float64 and float32)") {
  struct Cut {
    int64_t B, K;
  };
  for (DType dtype : {DType::F64, DType::F32}) {
    double worst_loss = 0, worst_grads = 0;
    for (Setting s : {Setting{Loss::Sigmoid, Positives::Diagonal}, Setting{Loss::Sigmoid, Positives::Caption},
                      Setting{Loss::Softmax, Positives::Diagonal}, Setting{Loss::Softmax, Positives::Caption}})
      for (Cut c : {Cut{8, 1}, Cut{8, 2}, Cut{8, 4}, Cut{7, 3}}) {  // 7 in 3: micro-batches of 3, 2 and 2
        const std::string dtype_str = dtype_name(dtype);
        CAPTURE(dtype_str);
        CAPTURE(choice_name(s.loss));
        CAPTURE(choice_name(s.positives));
        CAPTURE(c.B);
        CAPTURE(c.K);
        const auto [loss, grads] = compare(dtype, s, c.B, c.K);
        const double tol = dtype == DType::F64 ? 1e-12 : 1e-5;
        CHECK(loss <= tol);
        CHECK(grads <= tol);
        worst_loss = std::max(worst_loss, loss);
        worst_grads = std::max(worst_grads, grads);
      }
    MESSAGE(std::string(dtype_name(dtype)) << ": losses differ by at most " << worst_loss << " (relative), gradients by "
                              << worst_grads << " of their tensor's largest");
  }
}

TEST_CASE("accum: micro-batches are as even as possible; K outside [1, b] is an error naming the option") {
  const MicroBatches m = split_micro_batches(10, 4);
  CHECK(m.rows == std::vector<int64_t>{3, 3, 2, 2});
  CHECK(m.offsets == std::vector<int64_t>{0, 3, 6, 8});
  CHECK(split_micro_batches(4, 4).rows == std::vector<int64_t>{1, 1, 1, 1});
  CHECK_THROWS_WITH_AS(split_micro_batches(4, 0), "train: --accum-steps 0 must be at least 1", Error);
  CHECK_THROWS_WITH_AS(split_micro_batches(4, 5),
                       doctest::Contains("--accum-steps 5 is more than the 4 pairs of a batch"), Error);

  TrainOptions o = tiny_run(temp_dir("accum_bad"));
  o.accum_steps = 0;
  CHECK_THROWS_WITH_AS(train(o), "train: --accum-steps 0 must be between 1 and --batch 8 (each micro-batch needs at "
                       "least one pair)", Error);
  o.accum_steps = 9;
  CHECK_THROWS_WITH_AS(train(o), doctest::Contains("--accum-steps 9 must be between 1 and --batch 8"), Error);
  const SiglipRun r = run_siglip("train --data shapes:64:16 --config micro --steps 1 --batch 8 --accum-steps -2 "
                                 "--no-eval --out " + o.out);
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("--accum-steps -2 must be between 1 and --batch 8") != std::string::npos, r.output);
  fs::remove_all(o.out);
}

TEST_CASE("accum: training with --accum-steps 2 follows --accum-steps 1 and resumes bit for bit") {
  TrainOptions one = tiny_run(temp_dir("accum_one"));
  one.steps = 4;
  one.warmup = 3;  // the learning rates of steps 1 and 2 do not depend on --steps: the run of 2 steps has them too
  train(one);
  TrainOptions two = one;
  two.out = temp_dir("accum_two");
  two.accum_steps = 2;
  two.ckpt_every = 2;
  train(two);
  const std::vector<double> a = metric_losses(one.out + "/metrics.jsonl"), b = metric_losses(two.out + "/metrics.jsonl");
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("step ", i + 1, ": ", a[i], " vs ", b[i]);
    CHECK(std::abs(a[i] - b[i]) <= 1e-5 * std::abs(a[i]));
  }
  const double params = difference_over_largest(one.out + "/step-000004/model.safetensors",
                                                two.out + "/step-000004/model.safetensors", gradient_is_exactly_zero);
  MESSAGE("--accum-steps 2 against 1: parameters after 4 steps differ by " << params << " of the largest");
  CHECK(params < 1e-5);

  // Resume: 2 steps, then on to 4 from the checkpoint, against the straight run of 4 (which checkpointed at 2).
  TrainOptions half = two;
  half.out = temp_dir("accum_half");
  half.steps = 2;
  half.ckpt_every = 0;
  train(half);
  TrainOptions cont;
  cont.resume = half.out;
  cont.steps = 4;
  train(cont);
  const std::vector<double> c = metric_losses(half.out + "/metrics.jsonl");
  REQUIRE(c.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("step ", i + 1, ": ", b[i], " vs ", c[i]);
    CHECK(b[i] == c[i]);
  }
  CHECK(difference_over_largest(two.out + "/step-000004/model.safetensors",
                                half.out + "/step-000004/model.safetensors") == 0.0);
  for (const TrainOptions* r : {&one, &two, &half}) fs::remove_all(r->out);
}

TEST_CASE("accum: --init-bias auto from the first batch and the collapse probe see the whole batch") {
  const std::string args = " train --data shapes:64:16 --config micro --image-size 16 --batch 8 --steps 2 --no-eval "
                           "--positives caption --init-bias auto --log-every 100 --out ";
  const std::string one = temp_dir("accum_bias_one"), two = temp_dir("accum_bias_two");
  const SiglipRun r1 = run_siglip(args + one);
  REQUIRE_MESSAGE(r1.status == 0, r1.output);
  const SiglipRun r2 = run_siglip(args + two + " --accum-steps 2");
  REQUIRE_MESSAGE(r2.status == 0, r2.output);
  // The same first-batch bias line (positives per row over all 8 rows, not a micro-batch's 4).
  const auto bias_line = [](const std::string& out) {
    const size_t at = out.find("init bias:");
    return at == std::string::npos ? std::string("(none)") : out.substr(at, out.find('\n', at) - at);
  };
  CHECK(bias_line(r1.output) != "(none)");
  CHECK(bias_line(r1.output) == bias_line(r2.output));
  const std::vector<double> a = metric_values(one + "/metrics.jsonl", "logit_std"), b = metric_values(two + "/metrics.jsonl", "logit_std");
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (size_t i = 0; i < 2; ++i) CHECK(std::abs(a[i] - b[i]) <= 1e-5 * std::abs(a[i]));
  fs::remove_all(one);
  fs::remove_all(two);
}

TEST_CASE("accum: --precision bf16 and frozen towers take the accumulated path") {
  TrainOptions o = tiny_run(temp_dir("accum_bf16"));
  o.steps = 2;
  o.precision = Precision::BF16;
  CHECK(std::isfinite(train(o)));
  const std::vector<double> whole = metric_losses(o.out + "/metrics.jsonl");
  fs::remove_all(o.out);
  o.accum_steps = 3;  // 8 in 3: 3/3/2
  CHECK(std::isfinite(train(o)));
  const std::vector<double> accumulated = metric_losses(o.out + "/metrics.jsonl");
  REQUIRE(whole.size() == 2);
  REQUIRE(accumulated.size() == 2);
  // bf16 activations: the micro-batches' GEMMs may round differently from the whole batch's (measured: 3e-6 relative).
  for (size_t i = 0; i < 2; ++i) {
    INFO("step ", i + 1, ": ", whole[i], " vs ", accumulated[i]);
    CHECK(std::abs(whole[i] - accumulated[i]) <= 1e-3 * std::abs(whole[i]));
  }
  fs::remove_all(o.out);
  o = tiny_run(temp_dir("accum_freeze"));
  o.steps = 2;
  o.accum_steps = 2;
  o.freeze = Freeze::Text;
  CHECK(std::isfinite(train(o)));
  fs::remove_all(o.out);
}

TEST_CASE("accum: under mpirun, --accum-steps on 2 ranks gives the gradients of one process with the whole batch") {
  if (run_shell("command -v mpirun").status != 0 || !dist::built_with_mpi()) {
    MESSAGE("skipped: no mpirun, or a build without MPI (scripts/install-deps.sh installs Open MPI)");
    return;
  }
  const std::string common =
      " train --data shapes:64:16 --config micro --image-size 16 --steps 3 --no-eval --threads 1 --log-every 100"
      " --positives caption --dump-grads '*' --dump-every 1";
  const std::string mpirun =
      "env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 120 mpirun --allow-run-as-root --oversubscribe -np 2 ";
  struct Case {
    const char* loss;
    int batch, accum;
  };
  // batch 8: 4 + 4 rows, each in 2 micro-batches of 2; batch 7: 4 + 3 rows, in 3 micro-batches (2/1/1 and 1/1/1).
  for (const Case c : {Case{"sigmoid", 8, 2}, Case{"softmax", 8, 2}, Case{"sigmoid", 7, 3}}) {
    CAPTURE(std::string(c.loss));
    CAPTURE(c.batch);
    const std::string one = temp_dir(fmt::format("accum_one_{}_{}", c.loss, c.batch));
    const std::string many = temp_dir(fmt::format("accum_many_{}_{}", c.loss, c.batch));
    const std::string args = fmt::format("{} --loss {} --batch {}", common, c.loss, c.batch);
    const SiglipRun r1 = run_siglip(args + " --out " + one);
    REQUIRE_MESSAGE(r1.status == 0, r1.output);
    const SiglipRun rn = run_shell(fmt::format("{} {} {} --accum-steps {} --out {} --grad-bucket-mb 0.5 "
                                               "--check-params-every 3", mpirun, siglip_binary(), args, c.accum, many));
    REQUIRE_MESSAGE(rn.status == 0, rn.output);
    CHECK_MESSAGE(rn.output.find(fmt::format("accumulation: the towers run over {} micro-batches", c.accum)) !=
                  std::string::npos, rn.output);
    for (int step = 1; step <= 3; ++step) {
      CAPTURE(step);
      const std::string file = fmt::format("/grads/step-{:06d}.safetensors", step);
      const double grads = difference_over_largest(one + file, many + file);
      MESSAGE(std::string(c.loss) << " batch " << c.batch << ", accum " << c.accum << " on 2 ranks, step " << step
                                  << ": gradients differ by " << grads << " of the largest");
      CHECK(grads < 1e-5);
    }
    fs::remove_all(one);
    fs::remove_all(many);
  }
  // Rank 1 holds 3 rows of a batch of 7: 4 micro-batches are too many.
  const std::string out = temp_dir("accum_many_bad");
  const SiglipRun bad = run_shell(fmt::format("{} {} {} --batch 7 --accum-steps 4 --out {}", mpirun, siglip_binary(),
                                              common, out));
  CHECK(bad.status != 0);
  CHECK_MESSAGE(bad.output.find("--accum-steps 4 is more than the 3 pairs a rank holds of the batch of 7 on 2 ranks") !=
                std::string::npos, bad.output);
  fs::remove_all(out);
}
