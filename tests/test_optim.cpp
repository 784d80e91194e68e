// test_optim.cpp: the multi-tensor AdamW step (adamw_step_multi) against the per-buffer step (adamw_step):
// bit for bit on the CPU, bit for bit between the two CUDA kernels, CUDA within 1e-6 (normwise relative) of the
// CPU; and nn::AdamW's wiring (per-parameter weight decay, f32 through the multi path, f64 per buffer).
// Without a GPU (or without CUDA in the build) the CUDA cases say so and check nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/kernels.h"
#include "nn/optim.h"
#include "tensor/ops.h"
#include "tests/gpu.h"
#include "tensor/backends.h"

using namespace sg;

namespace {

constexpr double kLr = 3e-3, kB1 = 0.9, kB2 = 0.95, kEps = 1e-8;

// The buffers of one parameter: p, g, m, v of n f32 elements each (m random, v non-negative: a state mid-training).
struct Buffers {
  Tensor p, g, m, v;
  double wd = 0;
};

// Sizes chosen to cross the CUDA kernel's chunks (2048 elements) in every way: empty, tiny, many small slices
// inside one chunk, one slice spanning several chunks, one large enough for the CPU's OpenMP path (> 2^16).
std::vector<int64_t> test_sizes() {
  std::vector<int64_t> sizes = {0, 1, 7, 768, 2048, 2049, 70000, 3, 0, 300000};
  for (int k = 0; k < 200; ++k) sizes.push_back(1 + (k * 37) % 50);
  return sizes;
}

std::vector<Buffers> make_buffers(const std::vector<int64_t>& sizes, uint64_t seed) {
  Generator gen(seed);
  std::vector<Buffers> out;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const Shape s = {sizes[k]};
    out.push_back({randn(s, DType::F32, &gen), randn(s, DType::F32, &gen), mul(randn(s, DType::F32, &gen), 0.1),
                   mul(rand(s, DType::F32, &gen), 0.01), k % 3 == 0 ? 0.0 : 1e-2});
  }
  return out;
}

std::vector<Buffers> copy_to(const std::vector<Buffers>& bufs, Device d) {
  std::vector<Buffers> out;
  for (const auto& b : bufs) out.push_back({b.p.to(d).clone(), b.g.to(d).clone(), b.m.to(d).clone(), b.v.to(d).clone(), b.wd});
  return out;
}

std::vector<AdamWSlice> slices_of(const std::vector<Buffers>& bufs) {
  std::vector<AdamWSlice> s;
  for (const auto& b : bufs) s.push_back({b.p.data<float>(), b.g.data<float>(), b.m.data<float>(), b.v.data<float>(), b.p.numel(), b.wd});
  return s;
}

double bias_correction(double beta, int step) { return 1 - std::pow(beta, static_cast<double>(step)); }

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
}

// max |a - b| / max(max |b|, 1e-30): a normwise relative error.
double normwise_error(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(x[i]) - static_cast<double>(y[i])));
    scale = std::max(scale, std::abs(static_cast<double>(y[i])));
  }
  return x.empty() ? 0.0 : diff / scale;
}

}  // namespace

TEST_CASE("optim: multi-tensor AdamW equals the per-buffer step bit for bit (CPU)") {
  std::vector<Buffers> multi = make_buffers(test_sizes(), 11), single = copy_to(multi, Device::CPU);
  for (int step = 1; step <= 3; ++step) {
    const double bc1 = bias_correction(kB1, step), bc2 = bias_correction(kB2, step);
    std::vector<AdamWSlice> s = slices_of(multi);
    cpu::adamw_step_multi(s.data(), static_cast<int64_t>(s.size()), kLr, kB1, kB2, kEps, bc1, bc2);
    for (auto& b : single)
      cpu::adamw_step<float>(b.p.data<float>(), b.g.data<float>(), b.m.data<float>(), b.v.data<float>(), b.p.numel(),
                             kLr, kB1, kB2, kEps, b.wd, bc1, bc2);
  }
  int differing = 0;
  for (size_t k = 0; k < multi.size(); ++k)
    differing += !bitwise_equal(multi[k].p, single[k].p) + !bitwise_equal(multi[k].m, single[k].m) +
                 !bitwise_equal(multi[k].v, single[k].v);
  CHECK(differing == 0);
}

TEST_CASE("optim: nn::AdamW applies per-parameter decay, f32 multi-tensor and f64 per buffer") {
  Generator gen(5);
  // w (matrix, decays), b (vector, no decay), d (f64 matrix, decays: the per-buffer path)
  Tensor w = randn({16, 8}, DType::F32, &gen), b = randn({8}, DType::F32, &gen), d = randn({4, 3}, DType::F64, &gen);
  Tensor gw = randn({16, 8}, DType::F32, &gen), gb = randn({8}, DType::F32, &gen), gd = randn({4, 3}, DType::F64, &gen);
  // References: the per-buffer kernel on copies, moments starting at zero.
  Tensor rw = w.clone(), rb = b.clone(), rd = d.clone();
  Tensor mw = zeros_like(w), vw = zeros_like(w), mb = zeros_like(b), vb = zeros_like(b), md = zeros_like(d), vd = zeros_like(d);
  for (Tensor* t : {&w, &b, &d}) t->requires_grad_();
  nn::AdamWConfig cfg;
  cfg.weight_decay = 0.1;
  nn::AdamW opt({{"w", &w}, {"b", &b}, {"d", &d}}, cfg, [](const std::string&, const Tensor& t) { return nn::ParamRule{t.dim() >= 2}; });
  for (int step = 1; step <= 2; ++step) {
    w.set_grad(gw);
    b.set_grad(gb);
    d.set_grad(gd);
    opt.step(kLr);
    const double bc1 = bias_correction(cfg.beta1, step), bc2 = bias_correction(cfg.beta2, step);
    cpu::adamw_step<float>(rw.data<float>(), gw.data<float>(), mw.data<float>(), vw.data<float>(), rw.numel(), kLr,
                           cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, bc1, bc2);
    cpu::adamw_step<float>(rb.data<float>(), gb.data<float>(), mb.data<float>(), vb.data<float>(), rb.numel(), kLr,
                           cfg.beta1, cfg.beta2, cfg.eps, 0.0, bc1, bc2);
    cpu::adamw_step<double>(rd.data<double>(), gd.data<double>(), md.data<double>(), vd.data<double>(), rd.numel(),
                            kLr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, bc1, bc2);
  }
  CHECK(bitwise_equal(w.detach(), rw));
  CHECK(bitwise_equal(b.detach(), rb));
  CHECK(d.detach().to_vector<double>() == rd.to_vector<double>());
}

TEST_CASE("optim: nn::AdamW learning-rate multipliers: lr * mult per parameter, 0 leaves a parameter untouched") {
  Generator gen(23);
  Tensor a = randn({6, 5}, DType::F32, &gen), b = randn({6, 5}, DType::F32, &gen), c = randn({7}, DType::F32, &gen);
  Tensor ga = randn({6, 5}, DType::F32, &gen), gb = randn({6, 5}, DType::F32, &gen), gc = randn({7}, DType::F32, &gen);
  Tensor ra = a.clone(), rb = b.clone(), c0 = c.clone();
  Tensor ma = zeros_like(a), va = zeros_like(a), mb = zeros_like(b), vb = zeros_like(b);
  for (Tensor* t : {&a, &b, &c}) t->requires_grad_();
  nn::AdamWConfig cfg;
  cfg.weight_decay = 0.1;
  const std::map<std::string, double> mult = {{"a", 1.0}, {"b", 0.25}, {"c", 0.0}};
  nn::AdamW opt({{"a", &a}, {"b", &b}, {"c", &c}}, cfg,
                [&](const std::string& name, const Tensor&) { return nn::ParamRule{true, mult.at(name)}; });
  for (int step = 1; step <= 2; ++step) {
    a.set_grad(ga);
    b.set_grad(gb);
    c.set_grad(gc);
    opt.step(kLr);
    const double bc1 = bias_correction(cfg.beta1, step), bc2 = bias_correction(cfg.beta2, step);
    cpu::adamw_step<float>(ra.data<float>(), ga.data<float>(), ma.data<float>(), va.data<float>(), ra.numel(), kLr,
                           cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, bc1, bc2);
    cpu::adamw_step<float>(rb.data<float>(), gb.data<float>(), mb.data<float>(), vb.data<float>(), rb.numel(),
                           kLr * 0.25, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, bc1, bc2);
  }
  CHECK(bitwise_equal(a.detach(), ra));
  CHECK(bitwise_equal(b.detach(), rb));
  CHECK(!bitwise_equal(a.detach(), b.detach()));
  CHECK(bitwise_equal(c.detach(), c0));  // multiplier 0: no step, no decay
  CHECK_THROWS_WITH_AS(nn::AdamW({{"a", &a}}, cfg, [](const std::string&, const Tensor&) { return nn::ParamRule{true, -1}; }),
                       doctest::Contains("AdamW: parameter 'a': learning-rate multiplier -1"), Error);
}

TEST_CASE("optim: multi-tensor AdamW on CUDA: bit for bit with the per-buffer kernel, within 1e-6 of the CPU") {
  if (!gpu_present("optim: multi-tensor AdamW on CUDA")) return;
  std::vector<Buffers> cpu_bufs = make_buffers(test_sizes(), 13);
  std::vector<Buffers> multi = copy_to(cpu_bufs, Device::CUDA), single = copy_to(cpu_bufs, Device::CUDA);
  for (int step = 1; step <= 3; ++step) {
    const double bc1 = bias_correction(kB1, step), bc2 = bias_correction(kB2, step);
    std::vector<AdamWSlice> s_gpu = slices_of(multi), s_cpu = slices_of(cpu_bufs);
    SG_KERNEL_CALL(Device::CUDA, adamw_step_multi, s_gpu.data(), static_cast<int64_t>(s_gpu.size()), kLr, kB1, kB2, kEps, bc1, bc2);
    cpu::adamw_step_multi(s_cpu.data(), static_cast<int64_t>(s_cpu.size()), kLr, kB1, kB2, kEps, bc1, bc2);
    for (auto& b : single)
      SG_KERNEL_CALL(Device::CUDA, adamw_step<float>, b.p.data<float>(), b.g.data<float>(), b.m.data<float>(),
                     b.v.data<float>(), b.p.numel(), kLr, kB1, kB2, kEps, b.wd, bc1, bc2);
  }
  runtime(Device::CUDA).synchronize();
  int differing = 0;
  double worst = 0;
  for (size_t k = 0; k < multi.size(); ++k) {
    differing += !bitwise_equal(multi[k].p, single[k].p) + !bitwise_equal(multi[k].m, single[k].m) +
                 !bitwise_equal(multi[k].v, single[k].v);
    worst = std::max({worst, normwise_error(multi[k].p, cpu_bufs[k].p), normwise_error(multi[k].m, cpu_bufs[k].m),
                      normwise_error(multi[k].v, cpu_bufs[k].v)});
  }
  CHECK(differing == 0);
  MESSAGE("multi-tensor AdamW, CUDA vs CPU: worst normwise relative error ", worst);
  CHECK(worst <= 1e-6);
}

TEST_CASE("optim: nn::AdamW on CUDA matches the CPU within 1e-6") {
  if (!gpu_present("optim: nn::AdamW on CUDA")) return;
  Generator gen(17);
  Tensor w = randn({64, 48}, DType::F32, &gen), b = randn({48}, DType::F32, &gen);
  Tensor gw = randn({64, 48}, DType::F32, &gen), gb = randn({48}, DType::F32, &gen);
  Tensor wc = w.to(Device::CUDA), bc = b.to(Device::CUDA);
  for (Tensor* t : {&w, &b, &wc, &bc}) t->requires_grad_();
  auto decay = [](const std::string&, const Tensor& t) { return nn::ParamRule{t.dim() >= 2}; };
  nn::AdamWConfig cfg;
  cfg.weight_decay = 0.1;
  nn::AdamW on_cpu({{"w", &w}, {"b", &b}}, cfg, decay), on_gpu({{"w", &wc}, {"b", &bc}}, cfg, decay);
  on_gpu.to(Device::CUDA);
  for (int step = 0; step < 3; ++step) {
    w.set_grad(gw);
    b.set_grad(gb);
    wc.set_grad(gw.to(Device::CUDA));
    bc.set_grad(gb.to(Device::CUDA));
    on_cpu.step(kLr);
    on_gpu.step(kLr);
  }
  CHECK(normwise_error(wc.detach(), w.detach()) <= 1e-6);
  CHECK(normwise_error(bc.detach(), b.detach()) <= 1e-6);
}
