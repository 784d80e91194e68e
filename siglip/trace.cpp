// trace.cpp: `siglip trace` (trace.h): the model's backward node by node, parameters and their first AdamW step.
#include "siglip/trace.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <optional>
#include <ostream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/optim.h"
#include "nn/unfused.h"
#include "siglip/model_batch.h"
#include "siglip/run_setup.h"
#include "siglip/threads.h"
#include "tensor/ops.h"

namespace sg {

FirstStep first_adamw_step(SiglipModel& m) {
  const TrainOptions o;  // train's defaults
  const int64_t warmup = o.warmup >= 0 ? o.warmup : o.steps / 10;
  FirstStep s;
  s.lr = nn::lr_at(0, o.steps, warmup, o.lr);
  // Copies of the parameters and their gradients, so that the model itself stays as it is.
  NoGradGuard ng;
  const auto params = m.named_parameters();
  std::vector<Tensor> before, after, grads;
  before.reserve(params.size());
  after.reserve(params.size());
  std::vector<std::pair<std::string, Tensor*>> named;
  std::vector<Tensor*> trained;
  for (const auto& [name, p] : params) {
    if (!p->requires_grad()) continue;
    before.push_back(p->detach());
    grads.push_back(p->grad());
    after.push_back(p->detach().clone());
    after.back().requires_grad_();
    if (p->grad().defined()) after.back().set_grad(p->grad().clone());
    named.push_back({name, &after.back()});
    trained.push_back(&after.back());
  }
  nn::clip_grad_norm(trained, o.clip);
  auto adamw = make_adamw(named, o);
  adamw->to(m.device());
  adamw->step(s.lr);
  for (size_t i = 0; i < named.size(); ++i) {
    ParameterRow r;
    r.name = named[i].first;
    r.shape = before[i].shape();
    r.value = value_stats(before[i]);
    r.grad = value_stats(grads[i]);
    r.update_norm = value_stats(sub(after[i].detach(), before[i])).norm;
    r.update_ratio = r.value.norm > 0   ? r.update_norm / r.value.norm
                     : r.update_norm > 0 ? std::numeric_limits<double>::infinity()
                                         : 0;
    s.rows.push_back(r);
  }
  return s;
}

std::string first_step_text(const FirstStep& s, const std::string& prefix) {
  const TrainOptions o;
  size_t name_w = 9, shape_w = 5;
  for (const auto& r : s.rows) {
    if (r.name.rfind(prefix, 0) != 0) continue;
    name_w = std::max(name_w, r.name.size());
    shape_w = std::max(shape_w, shape_str(r.shape).size());
  }
  std::string out = fmt::format(
      "parameters, and the first step of `siglip train` with its defaults: gradients clipped to global norm {}, then "
      "AdamW at lr {:.3e} (step 1 of the warm-up to {}), beta2 {}, weight decay {} on matrices\n",
      o.clip, s.lr, o.lr, o.beta2, o.weight_decay);
  out += fmt::format("{:<{}} {:<{}} {:>10} {:>10} {:>10} {:>6} {:>7} {:>10} {:>13}\n", "parameter", name_w, "shape",
                     shape_w, "norm", "grad norm", "max|g|", "zeros", "nan/inf", "update", "update/param");
  for (const auto& r : s.rows) {
    if (r.name.rfind(prefix, 0) != 0) continue;
    out += fmt::format("{:<{}} {:<{}} {:10.3e} {:10.3e} {:10.3e} {:>5.1f}% {:>7} {:10.3e} {:>13}\n", r.name, name_w,
                       shape_str(r.shape), shape_w, r.value.norm, r.grad.norm, r.grad.max_abs,
                       100 * r.grad.zero_fraction, r.grad.non_finite, r.update_norm,
                       std::isfinite(r.update_ratio) ? fmt::format("{:.3e}", r.update_ratio) : "inf (p = 0)");
  }
  return out;
}

int trace_session(const TraceOptions& o, std::istream& in, std::ostream& out,
                  const std::function<void(BackwardTrace&)>& before_backward) {
  ThreadCountScope threads(o.threads);
  ModelBatch batch = model_batch({.command = "trace", .checkpoint = o.checkpoint, .config = o.config,
                                  .batch = o.batch, .seed = o.seed, .step = 1});
  SiglipModel& m = batch.model();
  Tensor loss;
  {
    RetainForwardGuard keep;  // every node keeps its output, inputs and replay
    nn::UnfusedGuard unfused(o.unfused);
    loss = model_batch_loss(batch);
  }
  std::map<const AutogradMeta*, std::string> names;  // leaves by their Hugging Face names
  for (const auto& [name, p] : m.named_parameters())
    if (p->impl()->meta) names[p->impl()->meta.get()] = name;
  BackwardTrace trace(loss, names);
  auto shown = [&](const TracedNode& n) { return o.module.empty() || n.graph.module.rfind(o.module, 0) == 0; };
  SG_CHECK(std::any_of(trace.nodes().begin(), trace.nodes().end(), shown),
           "trace: no node was made inside a module starting with '{}'", o.module);
  const TableLayout layout = table_layout(trace.nodes(), shown);
  out << fmt::format("trace: {} nodes, loss {:.6f}, batch {}; rows in backward order (node ids as `siglip graph`)\n",
                     trace.nodes().size(), loss.item(), o.batch);

  std::optional<BackwardStepper> stepper;
  if (o.step) {
    std::map<std::string, Tensor> named;
    for (const auto& [name, p] : m.named_parameters()) named[name] = p->detach();
    // Commands read from a pipe or a file are echoed after the prompt, so that the transcript reads like a session.
    const bool echo = !(&in == &std::cin && ::isatty(STDIN_FILENO));
    stepper.emplace(in, out, layout, named, o.values, echo);
    out << "step: Enter or n: next node; p NAME: print out, grad, inK, ginK or a parameter; b OP: run to a node of "
           "op OP; c: continue; q: quit\n"
        << trace_header(layout);
    trace.on_node = [&](const TracedNode& n) {
      if (shown(n)) (*stepper)(n);
    };
  }
  if (before_backward) before_backward(trace);
  trace.run_backward();
  if (stepper && stepper->quit()) return 0;

  nlohmann::json rows = nlohmann::json::array();
  if (!o.step) out << trace_header(layout);
  for (const TracedNode* n : trace.backward_order()) {
    if (!shown(*n)) continue;
    if (!o.step) out << trace_row(*n, layout, o.values);
    if (!o.json.empty()) rows.push_back(trace_row_json(*n, o.values));
  }
  const FirstStep first = first_adamw_step(m);
  out << "\n" << first_step_text(first, o.module);

  int status = 0;
  nlohmann::json check = nullptr;
  if (o.check) {
    CheckSettings s;
    s.seed = o.seed;
    const BackwardCheck c = check_backward(trace, s, shown);
    out << "\n" << check_text(c, s);
    status = c.passed() ? 0 : 1;
    check = check_json(c);
  }
  if (!o.json.empty()) {
    nlohmann::json params = nlohmann::json::array();
    for (const auto& r : first.rows) {
      if (r.name.rfind(o.module, 0) != 0) continue;
      params.push_back({{"name", r.name}, {"shape", r.shape}, {"norm", r.value.norm}, {"grad_norm", r.grad.norm},
                        {"grad_max_abs", r.grad.max_abs}, {"grad_zero_fraction", r.grad.zero_fraction},
                        {"grad_non_finite", r.grad.non_finite}, {"update_norm", r.update_norm},
                        {"update_ratio", std::isfinite(r.update_ratio) ? nlohmann::json(r.update_ratio) : nlohmann::json(nullptr)}});
    }
    const nlohmann::json j = {{"loss", loss.item()},   {"batch", o.batch},      {"nodes", rows},
                              {"first_step_lr", first.lr}, {"parameters", params}, {"check", check}};
    write_file_atomic(o.json, j.dump(1) + "\n");
  }
  return status;
}

}  // namespace sg
