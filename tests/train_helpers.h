// train_helpers.h: what the training tests share: a fresh run directory, the smallest run that trains, a run
// trained whole against the same run interrupted and resumed, the losses of a run's metrics.jsonl and the difference
// between two runs' tensor files.
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/train.h"
#include "siglip/train_options.h"

// An empty path under the system's temp folder, unique to this process: sg_test_<name>_<pid>.
inline std::string temp_dir(const std::string& name) {
  const std::string d =
      (std::filesystem::temp_directory_path() / ("sg_test_" + name + "_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(d);
  return d;
}

// micro config at 16 px, batch 8 on 64 shapes, 4 steps, no evaluation, quiet log: a run of a second or two.
inline sg::TrainOptions tiny_run(const std::string& out) {
  sg::TrainOptions o;
  o.data = "shapes:64:16";
  o.config = "micro";
  o.image_size = 16;
  o.batch = 8;
  o.steps = 4;
  o.eval = false;
  o.log_every = 100;
  o.out = out;
  return o;
}

// The final weights of `o` trained to `total` steps in one run (DIR/whole) and in two (DIR/parts: `first` steps,
// then `--resume` to `total`, with `resume_workers` decoding workers when > 0): model.safetensors's bytes of each.
// A resumed run continues bit for bit when the two are equal.
struct WholeAndResumed {
  std::string whole, resumed;
};
inline WholeAndResumed train_whole_and_resumed(sg::TrainOptions o, const std::string& dir, int64_t first, int64_t total,
                                               int resume_workers = 0) {
  const std::string step_dir = "/step-" + std::string(6 - std::to_string(total).size(), '0') + std::to_string(total);
  o.out = dir + "/whole";
  o.steps = total;
  sg::train(o);
  o.out = dir + "/parts";
  o.steps = first;
  sg::train(o);
  sg::TrainOptions cont;
  cont.resume = o.out;
  cont.steps = total;
  if (resume_workers > 0) cont.workers = resume_workers;
  sg::train(cont);
  return {sg::read_file(dir + "/whole" + step_dir + "/model.safetensors"),
          sg::read_file(dir + "/parts" + step_dir + "/model.safetensors")};
}

// The value of `key` on every line of a metrics.jsonl that has it, in order.
inline std::vector<double> metric_values(const std::string& path, const std::string& key) {
  std::vector<double> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains(key)) out.push_back(j[key].get<double>());
  }
  return out;
}

// The "loss" of every line of a metrics.jsonl that has one, in order.
inline std::vector<double> metric_losses(const std::string& path) { return metric_values(path, "loss"); }

// Tensors whose gradient is zero in exact arithmetic: the attention key biases (a softmax over keys does not see
// them: k_proj.bias, and the key third of the MAP head's packed in_proj_bias) and, under the softmax loss, the logit
// bias. Their gradients are rounding noise, which AdamW turns into steps of about the learning rate in a direction
// that differs between two ways of computing the same step: after a few steps they are not comparable.
inline bool gradient_is_exactly_zero(const std::string& name) {
  return name.find("k_proj.bias") != std::string::npos || name.find("in_proj_bias") != std::string::npos ||
         name == "logit_bias";
}

// The largest difference between two files' tensors (same names and shapes), relative to the largest magnitude
// of any tensor in the first file, over the elements for which compared(name, index) holds.
template <class Compared>
double difference_over_largest_of(const std::string& a_file, const std::string& b_file, Compared compared) {
  const auto a = sg::load_safetensors(a_file);
  const auto b = sg::load_safetensors(b_file);
  REQUIRE(a.size() == b.size());
  double scale = 0, diff = 0;
  for (const auto& [name, ta] : a) {
    REQUIRE_MESSAGE(b.count(name), name);
    const std::vector<double> x = ta.template to_vector<double>(), y = b.at(name).template to_vector<double>();
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      scale = std::max(scale, std::abs(x[i]));
      if (compared(name, i)) diff = std::max(diff, std::abs(x[i] - y[i]));
    }
  }
  return diff / scale;
}

// The same over every element, or where `leave_out(name)` does not hold.
inline double difference_over_largest(const std::string& a_file, const std::string& b_file,
                                      bool (*leave_out)(const std::string&) = nullptr) {
  return difference_over_largest_of(a_file, b_file, [leave_out](const std::string& name, size_t) {
    return leave_out == nullptr || !leave_out(name);
  });
}

// As difference_over_largest of two runs' parameters after `steps` steps (run_a/step-N/model.safetensors against
// run_b's), comparing only the elements whose gradient in run_a (its --dump-grads '*' --dump-every 1 files,
// run_a/grads/step-K.safetensors) was at least `floor` of that step's largest gradient at every step. Below that the
// sign of an element's gradient is decided by rounding (two ways of summing the same gradient differ by about 1e-6
// of the largest), and AdamW's step for it is about the learning rate in that sign: the tensors of
// gradient_is_exactly_zero, and single elements elsewhere, such as a weight column behind a GELU that is off for
// every token of a small batch.
inline double difference_over_largest_where_gradients_decide(const std::string& run_a, const std::string& run_b,
                                                             int steps, double floor = 1e-6) {
  const std::string params = fmt::format("{}/step-{:06d}/model.safetensors", run_a, steps);
  std::map<std::string, std::vector<bool>> decided;  // per element: its gradient was above the floor at every step
  for (const auto& [name, t] : sg::load_safetensors(params)) decided[name].assign(static_cast<size_t>(t.numel()), true);
  for (int step = 1; step <= steps; ++step) {
    const auto grads = sg::load_safetensors(fmt::format("{}/grads/step-{:06d}.safetensors", run_a, step));
    double largest = 0;
    std::map<std::string, std::vector<double>> g;
    for (const auto& [name, t] : grads) {
      g[name] = t.to_vector<double>();
      for (double v : g[name]) largest = std::max(largest, std::abs(v));
    }
    for (auto& [name, keep] : decided) {
      REQUIRE_MESSAGE(g.count(name), name << " has no gradient at step " << step);
      for (size_t i = 0; i < keep.size(); ++i) keep[i] = keep[i] && std::abs(g[name][i]) >= floor * largest;
    }
  }
  return difference_over_largest_of(params, fmt::format("{}/step-{:06d}/model.safetensors", run_b, steps),
                                    [&decided](const std::string& name, size_t i) { return bool(decided[name][i]); });
}
