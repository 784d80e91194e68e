// test_loss.cpp: the fused sigmoid loss (sigmoid_loss_fused, tensor/ops/sigmoid_loss.cpp) against siglip/loss.h's
// sigmoid_loss on the full [B, B] logits, loss and gradients; positive_groups against positive_labels. The op's
// registry cases (tensor/op_registry.cpp) add the f64 gradient checks, strided inputs and CUDA parity.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "siglip/loss.h"
#include "tensor/ops.h"
#include "tests/gpu.h"

using namespace sg;

namespace {

// z [B, B] from group ids: +1 where groups[i] == groups[j], -1 elsewhere.
std::vector<float> z_from_groups(const Tensor& groups) {
  const std::vector<int64_t> g = groups.to_vector<int64_t>();
  std::vector<float> z;
  for (int64_t gi : g)
    for (int64_t gj : g) z.push_back(gi == gj ? 1.0f : -1.0f);
  return z;
}

// One batch of the loss: embeddings img, txt: [B, D] (rows of norm 1), t', b: [1], and its positives.
struct Batch {
  Tensor img, txt, scale, bias;
  std::string mode;
  std::vector<std::string> captions;
  std::vector<int> labels;
};

Batch make_batch(int64_t B, int64_t D, const std::string& mode, uint64_t seed) {
  Generator g(seed);
  Batch b;
  b.img = l2_normalize(randn({B, D}, DType::F64, &g));
  b.txt = l2_normalize(randn({B, D}, DType::F64, &g));
  b.scale = full({1}, std::log(10.0), DType::F64);
  b.bias = full({1}, -std::log(static_cast<double>(B - 1)), DType::F64);
  b.mode = mode;
  for (int64_t i = 0; i < B; ++i) {
    b.captions.push_back("caption " + std::to_string(i % 50));   // each caption 6 times at B = 300
    b.labels.push_back(i % 7 == 3 ? -1 : static_cast<int>(i % 10));  // 10 classes, some rows unlabelled
  }
  return b;
}

// The loss and the gradients wrt img, txt, t', b (in that order), all as host vectors.
struct LossAndGrads {
  std::vector<double> loss;
  std::vector<std::vector<double>> grads;
};

// Fresh leaves with the batch's values in `dt` on `dev`, requiring grad.
std::vector<Tensor> leaves(const Batch& b, DType dt, Device dev) {
  std::vector<Tensor> xs;
  for (const Tensor& t : {b.img, b.txt, b.scale, b.bias}) {
    Tensor x = t.detach().to(dt).to(dev).clone();
    x.requires_grad_();
    xs.push_back(x);
  }
  return xs;
}

LossAndGrads collect(const Tensor& loss, const std::vector<Tensor>& xs) {
  loss.backward();
  LossAndGrads r{loss.to_vector<double>(), {}};
  for (const Tensor& x : xs) r.grads.push_back(x.grad().to_vector<double>());
  return r;
}

// The unfused path, as the model computes it: logits = exp(t') img @ txt^T + b, then sigmoid_loss.
LossAndGrads unfused(const Batch& b) {
  std::vector<Tensor> x = leaves(b, DType::F64, Device::CPU);
  Tensor logits = add(mul(matmul(x[0], x[1], false, true), exp(x[2])), x[3]);
  Tensor z = positive_labels(*parse_choice<Positives>(b.mode), b.captions, b.labels).to(DType::F64);
  return collect(sigmoid_loss(logits, z), x);
}

LossAndGrads fused(const Batch& b, DType dt = DType::F64, Device dev = Device::CPU) {
  std::vector<Tensor> x = leaves(b, dt, dev);
  Tensor groups = positive_groups(*parse_choice<Positives>(b.mode), b.captions, b.labels).to(dev);
  return collect(sigmoid_loss_fused(x[0], x[1], x[2], x[3], groups), x);
}

// max |a - b| / max |a|
double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double err = 0, scale = 1e-300;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  return err / scale;
}

void check_close(const LossAndGrads& want, const LossAndGrads& got, double tol) {
  const char* names[] = {"img", "txt", "logit_scale", "logit_bias"};
  double e = rel_diff(want.loss, got.loss);
  INFO("loss ", want.loss[0], " vs ", got.loss[0], ": relative error ", e);
  CHECK(e < tol);
  for (size_t i = 0; i < want.grads.size(); ++i) {
    double eg = rel_diff(want.grads[i], got.grads[i]);
    INFO("gradient wrt ", std::string(names[i]), ": relative error ", eg);
    CHECK(eg < tol);
  }
}

bool bit_identical(const LossAndGrads& a, const LossAndGrads& b) { return a.loss == b.loss && a.grads == b.grads; }

}  // namespace

TEST_CASE("sigmoid loss: positive_groups gives the same positives as positive_labels") {
  const std::vector<std::string> captions = {"a", "b", "a", "c", "b", "a", "d"};
  const std::vector<int> labels = {3, -1, 3, 0, -1, 7, 0};
  for (Positives mode : {Positives::Diagonal, Positives::Caption, Positives::Label}) {
    INFO("mode ", choice_name(mode));
    Tensor groups = positive_groups(mode, captions, labels);
    CHECK(groups.dtype() == DType::I64);
    CHECK(groups.shape() == Shape{7});
    CHECK(z_from_groups(groups) == positive_labels(mode, captions, labels).to_vector<float>());
  }
  // unlabelled rows get ids of their own, above every label
  CHECK(positive_groups(Positives::Label, {"x", "y", "z"}, {-1, 5, -1}).to_vector<int64_t>() == std::vector<int64_t>{6, 5, 7});
  CHECK_THROWS_WITH_AS(positive_groups(Positives::Label, {"a", "b"}, {1}), doctest::Contains("a label per example"), Error);
}

TEST_CASE("sigmoid loss: fused equals sigmoid_loss on the full logits, with gradients (B=300, D=64, f64)") {
  for (const char* mode : {"diagonal", "caption", "label"}) {
    SUBCASE(mode) {
      Batch b = make_batch(300, 64, mode, 11);
      LossAndGrads want = unfused(b), got = fused(b);
      check_close(want, got, 1e-11);
      CHECK(bit_identical(got, fused(b)));  // fixed summation order: reruns are bit for bit
    }
  }
}

TEST_CASE("sigmoid loss: fused f32 and bf16 are close to the f64 loss") {
  Batch b = make_batch(130, 40, "label", 5);
  check_close(fused(b), fused(b, DType::F32), 1e-5);
  // bf16: against f64 on the same (bf16-rounded) values; f32 inside, the outputs rounded to bf16 once
  for (Tensor* t : {&b.img, &b.txt, &b.scale, &b.bias}) *t = t->to(DType::BF16).to(DType::F64);
  check_close(fused(b), fused(b, DType::BF16), 1e-2);
}

TEST_CASE("sigmoid loss: CUDA equals CPU and reruns bit for bit (skipped without a GPU)") {
  if (!gpu_present("CUDA sigmoid loss")) return;
  for (const char* mode : {"diagonal", "label"}) {
    SUBCASE(mode) {
      Batch b = make_batch(300, 72, mode, 3);  // 10 x 10 tiles of 32, D in 3 chunks of 32 (the last partial)
      LossAndGrads cpu64 = fused(b), gpu64 = fused(b, DType::F64, Device::CUDA);
      check_close(cpu64, gpu64, 1e-11);
      LossAndGrads cpu32 = fused(b, DType::F32), gpu32 = fused(b, DType::F32, Device::CUDA);
      check_close(cpu32, gpu32, 1e-4);
      CHECK(bit_identical(gpu32, fused(b, DType::F32, Device::CUDA)));
      CHECK(bit_identical(gpu64, fused(b, DType::F64, Device::CUDA)));
    }
  }
}
