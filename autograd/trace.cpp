// trace.cpp: tracing one backward pass with node hooks, the table, the stepper and the per-node check (trace.h).
#include "autograd/trace.h"

#include <algorithm>
#include <cmath>
#include <istream>
#include <limits>
#include <ostream>

#include "tensor/ops.h"

namespace sg {

ValueStats value_stats(const Tensor& t) {
  ValueStats s;
  if (!t.defined() || !is_floating(t.dtype())) return s;
  const std::vector<double> v = t.detach().to_vector<double>();
  s.numel = static_cast<int64_t>(v.size());
  double sum = 0, sq = 0;
  int64_t finite = 0, zeros = 0;
  for (double x : v) {
    if (!std::isfinite(x)) {
      ++s.non_finite;
      continue;
    }
    ++finite;
    sum += x;
    sq += x * x;
    s.max_abs = std::max(s.max_abs, std::abs(x));
    zeros += x == 0;
  }
  if (finite > 0) {
    s.mean = sum / static_cast<double>(finite);
    double var = 0;
    for (double x : v)
      if (std::isfinite(x)) var += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(var / static_cast<double>(finite));
  }
  s.norm = std::sqrt(sq);
  s.zero_fraction = s.numel > 0 ? static_cast<double>(zeros) / static_cast<double>(s.numel) : 0;
  return s;
}

std::string TracedNode::input_label(size_t i) const {
  return i < graph.inputs.size() ? input_text(graph.inputs[i]) : "?";
}

// ---------------------------------------------------------------- the trace

BackwardTrace::BackwardTrace(Tensor root, std::map<const AutogradMeta*, std::string> leaf_names)
    : root_(std::move(root)), leaf_names_(std::move(leaf_names)) {
  SG_CHECK(root_.defined() && root_.grad_fn(), "trace: the result {} has no graph (no input of it requires grad)",
           root_.defined() ? root_.describe() : "<undefined>");
  const std::vector<GraphNode> described = describe_graph(root_, leaf_names_);
  const std::vector<Node*> order = graph_nodes(root_);
  nodes_.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    nodes_[i].graph = described[i];
    nodes_[i].node = order[i];
  }
}

void BackwardTrace::run_backward(const Tensor& grad) {
  // One post-hook per node, registered last so that it sees what the node really sends; removed afterwards
  // (also when the backward throws), so that no node keeps a pointer to this trace.
  std::vector<size_t> slot(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    TracedNode* tn = &nodes_[i];
    slot[i] = tn->node->post_hooks.size();
    tn->node->register_hook([this, tn](const std::vector<Tensor>& sent, const Tensor& g) {
      tn->grad = g;
      tn->grads_sent = sent;
      tn->step = steps_++;
      if (on_node) on_node(*tn);
      return std::vector<Tensor>{};
    });
  }
  struct Unhook {
    std::vector<TracedNode>& nodes;
    std::vector<size_t>& slot;
    ~Unhook() {
      for (size_t i = 0; i < nodes.size(); ++i) {
        auto& hooks = nodes[i].node->post_hooks;
        if (slot[i] < hooks.size()) hooks.erase(hooks.begin() + static_cast<std::ptrdiff_t>(slot[i]));
      }
    }
  } unhook{nodes_, slot};
  root_.backward(grad);
}

std::vector<const TracedNode*> BackwardTrace::backward_order() const {
  std::vector<const TracedNode*> order;
  for (const auto& n : nodes_)
    if (n.step >= 0) order.push_back(&n);
  std::sort(order.begin(), order.end(), [](const TracedNode* a, const TracedNode* b) { return a->step < b->step; });
  return order;
}

TracedNode* BackwardTrace::find(const std::string& op, const std::string& module, int nth) {
  for (auto& n : nodes_)
    if (n.graph.op == op && n.graph.module.rfind(module, 0) == 0 && nth-- == 0) return &n;
  return nullptr;
}

// ---------------------------------------------------------------- the table

namespace {
std::string shape_text(const GraphNode& g) {
  return shape_str(g.shape) + (g.dtype == DType::F32 ? "" : std::string(" ") + dtype_name(g.dtype));
}

// Every element of a small tensor on one line: "[0.1235, -2.5, ...]"
std::string flat_values(const Tensor& t) {
  if (!t.defined()) return "none";
  std::vector<std::string> parts;
  for (double v : t.detach().to_vector<double>()) parts.push_back(fmt::format("{:.6g}", v));
  return fmt::format("{} [{}]", shape_str(t.shape()), fmt::join(parts, ", "));
}

std::string sci(double v) { return fmt::format("{:10.3e}", v); }
}  // namespace

TableLayout table_layout(const std::vector<TracedNode>& nodes, const std::function<bool(const TracedNode&)>& keep) {
  TableLayout l;
  for (const auto& n : nodes) {
    if (keep && !keep(n)) continue;
    l.op = std::max(l.op, n.graph.op.size());
    l.module = std::max(l.module, n.graph.module.size());
    l.shape = std::max(l.shape, shape_text(n.graph).size());
  }
  return l;
}

std::string trace_header(const TableLayout& l) {
  return fmt::format("{:>5} {:<{}} {:<{}} {:<{}} {:>10} {:>10} {:>10} | {:>10} {:>10} {:>6} {:>7} | {}\n", "node", "op",
                     l.op, "module", l.module, "shape", l.shape, "mean", "std", "max|x|", "grad norm", "max|g|", "zeros",
                     "nan/inf", "sends (gradient norm per input)");
}

std::string trace_row(const TracedNode& n, const TableLayout& l, bool values, int64_t small) {
  const ValueStats v = value_stats(n.output());
  const ValueStats g = value_stats(n.grad);
  std::vector<std::string> sends;
  for (size_t i = 0; i < n.grads_sent.size(); ++i)
    if (n.grads_sent[i].defined() && n.node->needs_grad(i))  // (a formula may compute one the engine drops)
      sends.push_back(fmt::format("{} {:.3e}", n.input_label(i), value_stats(n.grads_sent[i]).norm));
  std::string s = fmt::format(
      "{:>5} {:<{}} {:<{}} {:<{}} {} {} {} | {} {} {:>5.1f}% {:>7} | {}\n", fmt::format("#{}", n.graph.id), n.graph.op,
      l.op, n.graph.module.empty() ? "-" : n.graph.module, l.module, shape_text(n.graph), l.shape,
      n.output().defined() ? sci(v.mean) : fmt::format("{:>10}", "-"), n.output().defined() ? sci(v.std) : fmt::format("{:>10}", "-"),
      n.output().defined() ? sci(v.max_abs) : fmt::format("{:>10}", "-"), sci(g.norm), sci(g.max_abs),
      100 * g.zero_fraction, g.non_finite, sends.empty() ? "-" : fmt::format("{}", fmt::join(sends, ", ")));
  if (!values) return s;
  auto line = [&](const std::string& name, const Tensor& t) {
    if (t.defined() && t.numel() <= small) s += fmt::format("{:>12} = {}\n", name, flat_values(t));
  };
  line("out", n.output());
  line("grad", n.grad);
  for (size_t i = 0; i < n.inputs().size(); ++i) line(fmt::format("in{}", i), n.inputs()[i]);
  for (size_t i = 0; i < n.grads_sent.size(); ++i) line(fmt::format("gin{}", i), n.grads_sent[i]);
  return s;
}

nlohmann::json trace_row_json(const TracedNode& n, bool values, int64_t small) {
  auto stats = [](const Tensor& t) -> nlohmann::json {
    if (!t.defined()) return nullptr;
    const ValueStats s = value_stats(t);
    return {{"mean", s.mean}, {"std", s.std}, {"max_abs", s.max_abs}, {"norm", s.norm},
            {"zero_fraction", s.zero_fraction}, {"non_finite", s.non_finite}};
  };
  nlohmann::json ins = nlohmann::json::array();
  for (size_t i = 0; i < n.graph.inputs.size(); ++i) {
    const Tensor sent = i < n.grads_sent.size() && n.node->needs_grad(i) ? n.grads_sent[i] : Tensor();
    ins.push_back({{"from", n.input_label(i)},
                   {"grad_norm", sent.defined() ? nlohmann::json(value_stats(sent).norm) : nlohmann::json(nullptr)}});
  }
  nlohmann::json j = {{"id", n.graph.id}, {"step", n.step}, {"op", n.graph.op}, {"module", n.graph.module},
                      {"shape", n.graph.shape}, {"dtype", dtype_name(n.graph.dtype)}, {"value", stats(n.output())},
                      {"grad", stats(n.grad)}, {"inputs", ins}};
  if (values) {
    auto small_values = [&](const Tensor& t) -> nlohmann::json {
      if (!t.defined() || t.numel() > small) return nullptr;
      return t.detach().to_vector<double>();
    };
    j["values"] = {{"out", small_values(n.output())}, {"grad", small_values(n.grad)}};
    for (size_t i = 0; i < n.inputs().size(); ++i) j["values"][fmt::format("in{}", i)] = small_values(n.inputs()[i]);
    for (size_t i = 0; i < n.grads_sent.size(); ++i)
      j["values"][fmt::format("gin{}", i)] = small_values(n.grads_sent[i]);
  }
  return j;
}

std::string tensor_report(const Tensor& t) {
  if (!t.defined()) return "none\n";
  const ValueStats s = value_stats(t);
  return fmt::format("{}  mean {:.4e}  std {:.4e}  max|x| {:.4e}  norm {:.4e}  zeros {:.1f}%  nan/inf {}\n{}\n",
                     t.describe(), s.mean, s.std, s.max_abs, s.norm, 100 * s.zero_fraction, s.non_finite,
                     to_string(t.detach()));
}

// ---------------------------------------------------------------- --step

BackwardStepper::BackwardStepper(std::istream& in, std::ostream& out, TableLayout layout,
                                 std::map<std::string, Tensor> named, bool values, bool echo)
    : in_(in), out_(out), layout_(layout), named_(std::move(named)), values_(values), echo_(echo) {}

void BackwardStepper::print(const TracedNode& n, const std::string& what) {
  auto numbered = [&](const std::string& prefix, const std::vector<Tensor>& ts) -> const Tensor* {
    if (what.size() <= prefix.size() || what.rfind(prefix, 0) != 0) return nullptr;
    const std::string digits = what.substr(prefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return nullptr;
    const size_t i = std::stoul(digits);
    return i < ts.size() ? &ts[i] : nullptr;
  };
  const Tensor* t = what == "out" ? &n.output() : what == "grad" ? &n.grad : nullptr;
  if (!t) t = numbered("gin", n.grads_sent);
  if (!t) t = numbered("in", n.inputs());
  if (t) {
    out_ << what << " of #" << n.graph.id << " " << n.graph.op << ": " << tensor_report(*t);
    return;
  }
  auto it = named_.find(what);
  if (it == named_.end()) {
    out_ << fmt::format("p: no tensor '{}' here: out, grad, in0..in{}, gin0..gin{} or a parameter's name\n", what,
                        n.inputs().empty() ? 0 : n.inputs().size() - 1,
                        n.grads_sent.empty() ? 0 : n.grads_sent.size() - 1);
    return;
  }
  out_ << what << ": " << tensor_report(it->second);
  for (size_t i = 0; i < n.graph.inputs.size(); ++i)
    if (n.graph.inputs[i].kind == GraphInput::NamedLeaf && n.graph.inputs[i].name == what && i < n.grads_sent.size())
      out_ << "gradient #" << n.graph.id << " sends to it (gin" << i << "): " << tensor_report(n.grads_sent[i]);
}

void BackwardStepper::operator()(const TracedNode& n) {
  if (quit_) return;
  out_ << trace_row(n, layout_, values_);
  if (running_) {
    if (break_op_.empty() || n.graph.op != break_op_) return;
    running_ = false;  // reached the breakpoint
    break_op_.clear();
  }
  for (;;) {
    out_ << "(trace) " << std::flush;
    std::string line;
    if (!std::getline(in_, line)) {  // end of input: run to the end
      out_ << "\n";
      running_ = true;
      return;
    }
    if (echo_) out_ << line << "\n";
    const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    line = b == std::string::npos ? "" : line.substr(b, e - b + 1);
    const size_t space = line.find(' ');
    const std::string cmd = line.substr(0, space);
    std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    arg.erase(0, std::min(arg.find_first_not_of(' '), arg.size()));
    if (cmd.empty() || cmd == "n") return;
    if (cmd == "c") return void(running_ = true);
    if (cmd == "q") {
      quit_ = true;
      out_ << "quit: the backward finishes without stopping\n";
      return;
    }
    if (cmd == "b" && !arg.empty()) {
      break_op_ = arg;
      running_ = true;
      return;
    }
    if (cmd == "p" && !arg.empty()) {
      print(n, arg);
      continue;
    }
    out_ << "commands: Enter or n (next node), p NAME (out, grad, inK, ginK or a parameter), b OP (run to the next "
            "node of op OP), c (continue to the end), q (quit)\n";
  }
}

// ---------------------------------------------------------------- --check

double kernel_tolerance(DType dt) {
  switch (dt) {
    case DType::F64: return 1e-9;
    case DType::BF16: return 3e-2;
    default: return 1e-3;
  }
}

std::string NodeCheck::kind() const {
  if (!skipped.empty()) return "";
  if (!kernel_ok() && !formula_ok()) return "kernel+formula";
  if (!kernel_ok()) return "kernel";
  if (!formula_ok()) return "formula";
  return "";
}

namespace {
// A fresh contiguous float64 copy on the CPU, with no graph.
Tensor to_f64_cpu(const Tensor& t) {
  NoGradGuard ng;
  Tensor c = t.detach().to(Device::CPU);
  c = c.dtype() == DType::F64 ? c.clone() : c.to(DType::F64);
  return c.detach();
}

// max |a - ref| / max(max |ref|, floor) (or / max |a| when both are zero; 0 when all are); infinite when a is not
// finite.
double normwise_error(const std::vector<double>& a, const std::vector<double>& ref, double floor) {
  double diff = 0, scale = floor, scale_a = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(ref[i])) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(a[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
    scale_a = std::max(scale_a, std::abs(a[i]));
  }
  if (scale == 0) scale = scale_a;
  return scale == 0 ? 0 : diff / scale;
}

struct GradModeOn {  // the check differentiates replays even when called under a NoGradGuard
  bool prev = grad_enabled();
  RetainForwardGuard keep_nothing{false};
  GradModeOn() { set_grad_enabled(true); }
  ~GradModeOn() { set_grad_enabled(prev); }
};
}  // namespace

NodeCheck check_node(const TracedNode& n, const CheckSettings& s) {
  NodeCheck c;
  c.id = n.graph.id;
  c.op = n.graph.op;
  c.module = n.graph.module;
  c.formula_tol = s.formula_tol;
  const size_t k = n.graph.inputs.size();
  c.kernel_errors.assign(k, 0);
  c.formula_errors.assign(k, 0);
  double tol = kernel_tolerance(n.graph.dtype);
  for (const Tensor& in : n.inputs())
    if (in.defined() && is_floating(in.dtype())) tol = std::max(tol, kernel_tolerance(in.dtype()));
  c.kernel_tol = s.kernel_tol > 0 ? s.kernel_tol : tol;
  if (!n.node->replay) return c.skipped = "no replay (an op recorded without one)", c;
  if (n.inputs().size() != k) return c.skipped = "no saved inputs (forward not run under a RetainForwardGuard)", c;
  if (n.step < 0 || !n.grad.defined()) return c.skipped = "not reached by the backward", c;
  try {
    GradModeOn on;
    // x: the inputs in float64 on the CPU; those the node differentiates require grad
    std::vector<Tensor> x(k);
    for (size_t i = 0; i < k; ++i) {
      const Tensor& in = n.inputs()[i];
      if (!in.defined()) continue;
      x[i] = is_floating(in.dtype()) ? to_f64_cpu(in) : in.detach();
      if (n.node->needs_grad(i) && is_floating(in.dtype())) x[i].requires_grad_();
    }
    const Tensor g = to_f64_cpu(n.grad);
    Tensor y = n.node->replay(x);
    SG_CHECK(y.shape() == g.shape() && y.dtype() == DType::F64,
             "trace: the replay of #{} {} gave {}, but the node's output gradient is {}", c.id, c.op, y.describe(),
             g.describe());
    if (y.requires_grad()) y.backward(g);
    const std::vector<double> gv = g.to_vector<double>();
    Generator gen(splitmix64(s.seed ^ (static_cast<uint64_t>(c.id) << 8)));
    NoGradGuard ng;
    for (size_t i = 0; i < k; ++i) {
      if (!n.node->needs_grad(i) || !x[i].defined() || !x[i].requires_grad()) continue;
      const int64_t numel = x[i].numel();
      const std::vector<double> analytic =
          x[i].grad().defined() ? x[i].grad().to_vector<double>() : std::vector<double>(static_cast<size_t>(numel), 0.0);
      const Tensor& sent = i < n.grads_sent.size() ? n.grads_sent[i] : Tensor();
      const std::vector<double> sent_v =
          sent.defined() ? sent.detach().to_vector<double>() : std::vector<double>(analytic.size(), 0.0);
      SG_CHECK(sent_v.size() == analytic.size(), "trace: #{} {} sent input {} a gradient of {} elements, expected {}",
               c.id, c.op, i, sent_v.size(), analytic.size());
      // Central differences of L = sum(replay(x) * g) at a few sampled elements e, from replay(x + h e) -
      // replay(x - h e) (outputs that do not change cancel exactly). Alongside, the same sum with absolute values,
      // sum_j |dy_j/dx_e| |g_j|: the size of the terms the gradient adds up, which sets how small an error
      // rounding can explain where they cancel (the bias of an attention key, whose true gradient is 0).
      double worst = 0, terms = 0, largest = 0;
      for (double a : analytic) largest = std::max(largest, std::abs(a));
      for (int t = 0; t < s.samples && numel > 0; ++t) {
        const size_t e = static_cast<size_t>(gen.next_u64() % static_cast<uint64_t>(numel));
        std::vector<Tensor> xs = x;
        Tensor xi = x[i].detach().clone();
        xs[i] = xi;
        double* p = xi.data<double>();
        const double x0 = p[e], h = s.eps * std::max(1.0, std::abs(x0));
        p[e] = x0 + h;
        const std::vector<double> up = n.node->replay(xs).to_vector<double>();  // copied before xi changes again
        p[e] = x0 - h;
        const std::vector<double> down = n.node->replay(xs).to_vector<double>();
        double dl = 0, dl_abs = 0;
        for (size_t j = 0; j < gv.size(); ++j) {
          dl += (up[j] - down[j]) * gv[j];
          dl_abs += std::abs((up[j] - down[j]) * gv[j]);
        }
        const double numeric = dl / (2 * h);
        worst = std::max(worst, std::isfinite(numeric) ? std::abs(numeric - analytic[e])
                                                       : std::numeric_limits<double>::infinity());
        terms = std::max(terms, dl_abs / (2 * h));
      }
      const double scale = std::max(largest, terms);
      c.formula_errors[i] = scale == 0 ? 0 : worst / scale;
      // kernel: what the real run sent against the float64 replay's gradient, relative to the same scale
      c.kernel_errors[i] = normwise_error(sent_v, analytic, terms);
    }
  } catch (const std::exception& e) {
    c.skipped = std::string("the replay failed: ") + e.what();
  }
  for (size_t i = 0; i < k; ++i) {
    c.kernel_error = std::max(c.kernel_error, c.kernel_errors[i]);
    c.formula_error = std::max(c.formula_error, c.formula_errors[i]);
  }
  return c;
}

BackwardCheck check_backward(const BackwardTrace& t, const CheckSettings& s,
                             const std::function<bool(const TracedNode&)>& keep) {
  BackwardCheck out;
  for (const TracedNode* n : t.backward_order()) {
    if (keep && !keep(*n)) continue;
    out.nodes.push_back(check_node(*n, s));
    const NodeCheck& c = out.nodes.back();
    out.skipped += !c.skipped.empty();
    if (out.first_bad < 0 && !c.ok()) out.first_bad = static_cast<int>(out.nodes.size()) - 1;
  }
  return out;
}

std::string check_text(const BackwardCheck& c, const CheckSettings& s) {
  std::string out = fmt::format(
      "check, node by node in backward order: kernel = the real run's gradients vs the op replayed in float64 on the "
      "CPU (tolerance f32 {:.0e}, bf16 {:.0e}); formula = float64 gradient vs central differences at {} sampled "
      "elements per input (tolerance {:.0e})\n",
      kernel_tolerance(DType::F32), kernel_tolerance(DType::BF16), s.samples, s.formula_tol);
  size_t op_w = 2, module_w = 6;
  for (const auto& n : c.nodes) {
    op_w = std::max(op_w, n.op.size());
    module_w = std::max(module_w, n.module.size());
  }
  out += fmt::format("{:>5} {:<{}} {:<{}} {:>12} {:>12}  {}\n", "node", "op", op_w, "module", module_w, "kernel err",
                     "formula err", "result");
  double worst_kernel = 0, worst_formula = 0;
  for (const auto& n : c.nodes) {
    const std::string result = !n.skipped.empty() ? "not checked: " + n.skipped
                               : n.ok()           ? "ok"
                                                  : "FAIL (" + n.kind() + ")";
    out += fmt::format("{:>5} {:<{}} {:<{}} {:12.3e} {:12.3e}  {}\n", fmt::format("#{}", n.id), n.op, op_w,
                       n.module.empty() ? "-" : n.module, module_w, n.kernel_error, n.formula_error, result);
    if (n.skipped.empty()) {
      worst_kernel = std::max(worst_kernel, n.kernel_error);
      worst_formula = std::max(worst_formula, n.formula_error);
    }
  }
  if (c.passed()) {
    const size_t agreed = c.nodes.size() - static_cast<size_t>(c.skipped);
    out += fmt::format("{} ({} not checked); largest kernel error {:.3e}, largest formula error {:.3e}\n",
                       agreed == 1 ? std::string("the 1 node agrees") : fmt::format("all {} nodes agree", agreed),
                       c.skipped, worst_kernel, worst_formula);
  } else {
    const NodeCheck& b = c.nodes[static_cast<size_t>(c.first_bad)];
    out += fmt::format(
        "first disagreement: #{} {} {}: {} (kernel error {:.3e}, tolerance {:.0e}; formula error {:.3e}, tolerance "
        "{:.0e})\n",
        b.id, b.op, b.module.empty() ? "-" : b.module, b.kind(), b.kernel_error, b.kernel_tol, b.formula_error,
        b.formula_tol);
  }
  return out;
}

nlohmann::json check_json(const BackwardCheck& c) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : c.nodes)
    nodes.push_back({{"id", n.id}, {"op", n.op}, {"module", n.module}, {"kernel_error", n.kernel_error},
                     {"formula_error", n.formula_error}, {"kernel_tol", n.kernel_tol}, {"formula_tol", n.formula_tol},
                     {"kernel_errors", n.kernel_errors}, {"formula_errors", n.formula_errors}, {"ok", n.ok()},
                     {"kind", n.kind()}, {"skipped", n.skipped}});
  nlohmann::json first = nullptr;
  if (!c.passed()) {
    const NodeCheck& b = c.nodes[static_cast<size_t>(c.first_bad)];
    first = {{"id", b.id}, {"op", b.op}, {"module", b.module}, {"kind", b.kind()}};
  }
  return {{"passed", c.passed()}, {"first_bad", first}, {"skipped", c.skipped}, {"nodes", nodes}};
}

}  // namespace sg
