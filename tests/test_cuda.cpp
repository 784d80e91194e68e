// test_cuda.cpp: the CUDA backend beyond the per-op parity of test_ops.cpp: the whole model's loss and
// gradients on CPU and GPU, a short training run on the GPU, determinism, and CUDA error paths.
// Without a GPU (or without CUDA in the build) every case says so and checks nothing.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "nn/module.h"
#include "siglip/loss.h"
#include "siglip/model.h"
#include "siglip/train.h"
#include "tensor/allocator.h"
#include "tests/gpu.h"
#include "tensor/backends.h"

using namespace sg;

namespace {
SiglipConfig cuda_test_config() {
  SiglipConfig c;
  c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = 64;
  c.vision.intermediate_size = c.text.intermediate_size = 128;
  c.vision.num_hidden_layers = c.text.num_hidden_layers = 2;
  c.vision.num_attention_heads = c.text.num_attention_heads = 2;
  c.vision.image_size = 16;
  c.vision.patch_size = 4;
  c.text.vocab_size = 50;
  c.text.max_position_embeddings = 8;
  c.init_bias = -2.0;
  return c;
}

// Loss and all gradients of the same model and batch on one device (bf16: mixed precision, f32 masters).
std::pair<double, std::vector<std::vector<float>>> loss_and_grads(Device d, bool bf16 = false) {
  SiglipModel m(cuda_test_config());
  m.init_weights(7);
  m.to(d);
  Generator g(9);
  Tensor images = randn({8, 3, 16, 16}, DType::F32, &g).to(d);
  Tensor ids = randint({8, 8}, 0, 50, &g).to(d);
  std::optional<nn::ComputeDTypeGuard> mixed;
  if (bf16) mixed.emplace(DType::BF16);
  Tensor logits = m.logits(m.image_embeds(images), m.text_embeds(ids));
  Tensor labels = positive_labels(Positives::Diagonal, std::vector<std::string>(8, ""), {}).to(d);
  Tensor loss = sigmoid_loss(logits, labels);
  loss.backward();
  std::vector<std::vector<float>> grads;
  for (auto& [n, p] : m.named_parameters()) grads.push_back(p->grad().to_vector<float>());
  return {loss.item(), grads};
}
}  // namespace

TEST_CASE("cuda: whole-model loss and gradients match the CPU") {
  if (!gpu_present("cuda model parity")) return;
  auto [lc, gc] = loss_and_grads(Device::CPU);
  auto [lg, gg] = loss_and_grads(Device::CUDA);
  CHECK(lg == doctest::Approx(lc).epsilon(1e-5));
  REQUIRE(gc.size() == gg.size());
  // Errors relative to the largest gradient of the whole model: some gradients are exactly zero in theory
  // (the key biases: softmax ignores a shift shared by a query's scores) and hold only rounding noise.
  double global = 1e-12;
  for (const auto& g : gc)
    for (float v : g) global = std::max(global, static_cast<double>(std::abs(v)));
  for (size_t i = 0; i < gc.size(); ++i) {
    double err = 0;
    for (size_t k = 0; k < gc[i].size(); ++k) err = std::max(err, static_cast<double>(std::abs(gc[i][k] - gg[i][k])));
    INFO("parameter ", i, ": max abs err ", err, " relative to the model's max |grad| ", global);
    CHECK(err / global < 1e-4);
  }
}

TEST_CASE("cuda: bf16 whole-model loss and gradients match the CPU's bf16") {
  if (!gpu_present("cuda bf16 model parity")) return;
  auto [lc, gc] = loss_and_grads(Device::CPU, true);
  auto [lg, gg] = loss_and_grads(Device::CUDA, true);
  CHECK(lg == doctest::Approx(lc).epsilon(1e-2));
  REQUIRE(gc.size() == gg.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < gc.size(); ++i)
    for (size_t k = 0; k < gc[i].size(); ++k) {
      diff += static_cast<double>(gg[i][k] - gc[i][k]) * static_cast<double>(gg[i][k] - gc[i][k]);
      norm += static_cast<double>(gc[i][k]) * static_cast<double>(gc[i][k]);
    }
  INFO("relative gradient error, CUDA bf16 vs CPU bf16: ", std::sqrt(diff / norm));
  CHECK(std::sqrt(diff / norm) < 3e-2);
}

TEST_CASE("cuda: two runs with one seed agree bit for bit") {
  if (!gpu_present("cuda determinism")) return;
  auto a = loss_and_grads(Device::CUDA);
  auto b = loss_and_grads(Device::CUDA);
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  auto c = loss_and_grads(Device::CUDA, true);
  auto d = loss_and_grads(Device::CUDA, true);
  CHECK(c.first == d.first);
  CHECK(c.second == d.second);
}

TEST_CASE("cuda: a short training run on the GPU lowers the loss") {
  if (!gpu_present("cuda training")) return;
  TrainOptions o;
  o.device = Device::CUDA;
  o.data = "shapes:1024:64";
  o.config = "micro";
  o.image_size = 16;
  o.batch = 64;
  o.steps = 60;
  o.lr = 2e-3;
  o.eval = false;
  o.log_every = 20;
  o.out = (std::filesystem::temp_directory_path() / "sg_cuda_train").string();
  std::filesystem::remove_all(o.out);
  double final_loss = train(o);
  CHECK(std::isfinite(final_loss));
  CHECK(final_loss < collapsed_sigmoid_loss(64) - 0.3);
  std::filesystem::remove_all(o.out);
  o.precision = Precision::BF16;
  double bf16_loss = train(o);
  INFO("f32 final loss ", final_loss, ", bf16 final loss ", bf16_loss);
  CHECK(std::isfinite(bf16_loss));
  CHECK(bf16_loss < collapsed_sigmoid_loss(64) - 0.3);
  std::filesystem::remove_all(o.out);
}

TEST_CASE("cuda: errors are sg::Error with the call and sizes") {
  if (!gpu_present("cuda errors")) return;
  // out of memory: far more than any card has
  try {
    Tensor huge = Tensor::empty({int64_t(1) << 40}, DType::F32, Device::CUDA);
    FAIL("allocating 4 TiB on the GPU did not throw");
  } catch (const Error& e) {
    std::string m = e.what();
    INFO(m);
    CHECK(m.find("4398046511104") != std::string::npos);  // bytes asked
    CHECK(m.find("free") != std::string::npos);
  }
  // mixed devices in one op
  Tensor a = ones({2, 2}), b = ones({2, 2}).to(Device::CUDA);
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("different devices"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("different devices"), Error);
  // a copy through a bad device pointer is reported, not a crash
  CHECK_THROWS_AS(runtime(Device::CUDA).copy_to_host(a.data<float>(), reinterpret_cast<void*>(0x10), 16), Error);
}
