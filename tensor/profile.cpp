// profile.cpp: the kernel timer behind SG_PROFILE (see profile.h).
#include "tensor/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "tensor/backends.h"

namespace sg::profile {
namespace {

struct Row {
  int64_t calls = 0;
  int64_t ns = 0;
  double flops = 0;
  void add(int64_t n_calls, int64_t n_ns, double n_flops) {
    calls += n_calls;
    ns += n_ns;
    flops += n_flops;
  }
};

// A GEMM shape's row: the kernel, its device and the shape.
using ShapeKey = std::tuple<std::string, Device, int64_t, int64_t, int64_t, bool, bool>;

struct State {
  bool on = [] {
    const char* e = std::getenv("SG_PROFILE");
    return e != nullptr && std::string(e) != "0" && std::string(e) != "";
  }();
  std::mutex mu;
  std::map<std::pair<std::string, Device>, Row> rows;
  std::map<ShapeKey, Row> shapes;
};

State& state() {
  static State s;
  return s;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sync(Device d) { runtime(d).synchronize(); }

}  // namespace

bool enabled() { return state().on; }
void set_enabled(bool on) { state().on = on; }

void reset() {
  std::lock_guard<std::mutex> lock(state().mu);
  state().rows.clear();
  state().shapes.clear();
}

double kernel_seconds() {
  std::lock_guard<std::mutex> lock(state().mu);
  int64_t ns = 0;
  for (const auto& [key, row] : state().rows) ns += row.ns;
  return static_cast<double>(ns) * 1e-9;
}

std::string report(int64_t steps) {
  std::lock_guard<std::mutex> lock(state().mu);
  std::vector<std::pair<std::pair<std::string, Device>, Row>> v(state().rows.begin(), state().rows.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  int64_t total = 0;
  for (const auto& e : v) total += e.second.ns;
  const double per = static_cast<double>(std::max<int64_t>(steps, 1));
  std::string out = fmt::format("{:<28} {:>6} {:>10} {:>12} {:>10} {:>7} {:>9}\n", "kernel", "device", "calls/step",
                                "ms/step", "mean us", "share", "GFLOP/s");
  for (const auto& [key, row] : v) {
    const std::string rate =
        row.flops > 0 && row.ns > 0 ? fmt::format("{:.1f}", row.flops / static_cast<double>(row.ns)) : "";
    out += fmt::format("{:<28} {:>6} {:>10.1f} {:>12.3f} {:>10.1f} {:>6.1f}% {:>9}\n", key.first,
                       device_name(key.second), static_cast<double>(row.calls) / per,
                       static_cast<double>(row.ns) * 1e-6 / per,
                       static_cast<double>(row.ns) * 1e-3 / static_cast<double>(std::max<int64_t>(row.calls, 1)),
                       total > 0 ? 100.0 * static_cast<double>(row.ns) / static_cast<double>(total) : 0.0, rate);
  }
  out += fmt::format("{:<28} {:>6} {:>10} {:>12.3f}\n", "all kernels", "", "", static_cast<double>(total) * 1e-6 / per);
  if (state().shapes.empty()) return out;
  // The GEMM calls by shape, largest total first; the shapes past the 24th are summed in one row.
  std::vector<std::pair<ShapeKey, Row>> g(state().shapes.begin(), state().shapes.end());
  std::sort(g.begin(), g.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  out += fmt::format("\nby shape: C[M, N] = op(A) @ op(B), (M, N, K) and op as `siglip bench ops` writes them\n");
  out += fmt::format("{:<24} {:>7} {:>6} {:>10} {:>12} {:>10} {:>9}\n", "kernel (M, N, K)", "op", "device",
                     "calls/step", "ms/step", "mean us", "GFLOP/s");
  auto line = [&](const std::string& what, const std::string& op, const std::string& dev, const Row& r) {
    const std::string rate = r.ns > 0 ? fmt::format("{:.1f}", r.flops / static_cast<double>(r.ns)) : "";
    out += fmt::format("{:<24} {:>7} {:>6} {:>10.1f} {:>12.3f} {:>10.1f} {:>9}\n", what, op, dev,
                       static_cast<double>(r.calls) / per, static_cast<double>(r.ns) * 1e-6 / per,
                       static_cast<double>(r.ns) * 1e-3 / static_cast<double>(std::max<int64_t>(r.calls, 1)), rate);
  };
  const size_t shown = std::min<size_t>(g.size(), 24);
  for (size_t i = 0; i < shown; ++i) {
    const auto& [name, device, M, N, K, ta, tb] = g[i].first;
    line(fmt::format("{} ({}, {}, {})", name, M, N, K), fmt::format("{} {}", ta ? "A^T" : "A", tb ? "B^T" : "B"),
         device_name(device), g[i].second);
  }
  if (g.size() > shown) {
    Row rest;
    for (size_t i = shown; i < g.size(); ++i) rest.add(g[i].second.calls, g[i].second.ns, g[i].second.flops);
    line(fmt::format("{} more shapes", g.size() - shown), "", "", rest);
  }
  return out;
}

KernelScope::KernelScope(const char* kernel, Device device, double flops) {
  if (!state().on) return;
  kernel_ = kernel;
  device_ = device;
  flops_ = flops;
  sync(device_);  // time this kernel alone, not the queue in front of it
  t0_ns_ = now_ns();
}

KernelScope::KernelScope(const char* kernel, Device device, const GemmShape& shape)
    : KernelScope(kernel, device, shape.flops()) {
  shape_ = shape;
}

KernelScope::~KernelScope() {
  if (kernel_ == nullptr) return;
  try {
    sync(device_);
  } catch (...) {
    // A failed kernel reports its own error; the timer only loses this row.
    return;
  }
  const int64_t dt = now_ns() - t0_ns_;
  // The kernel name as SG_KERNEL spells it, without the template argument ("gemm<T>" -> "gemm").
  std::string name(kernel_);
  if (auto lt = name.find('<'); lt != std::string::npos) name.resize(lt);
  std::lock_guard<std::mutex> lock(state().mu);
  state().rows[{name, device_}].add(1, dt, flops_);
  if (shape_) {
    const GemmShape& sh = *shape_;
    state().shapes[{name, device_, sh.M, sh.N, sh.K, sh.trans_a, sh.trans_b}].add(1, dt, flops_);
  }
}

}  // namespace sg::profile
