// cmd_gradcheck.cpp: `siglip gradcheck`, backward passes against f64 central differences.
//   siglip gradcheck [OP|OP/CASE...] [--values] [--json]: every registered op case (or those named), contiguous and
//     strided inputs, one row per input; exit status 0 only when all pass.
//   siglip gradcheck OP[/CASE] --inputs FILE.safetensors: one op on the caller's tensors.
//   siglip gradcheck --param NAME [--checkpoint DIR | --config NAME]: one parameter of the whole model's loss.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "siglip/commands.h"
#include "siglip/model_gradcheck.h"
#include "tensor/op_registry.h"

namespace sg {
namespace {

constexpr int64_t kMaxValuesShown = 64;  // --values prints inputs of at most this many elements

// "softmax" or "softmax/dim-1": the selected cases, or an error listing what exists.
std::vector<const OpCase*> select_cases(const std::vector<std::string>& words) {
  std::set<std::string> ops;
  for (const auto& c : op_cases()) ops.insert(c.op);
  std::vector<const OpCase*> out;
  for (const auto& c : op_cases()) {
    bool wanted = words.empty();
    for (const auto& w : words) wanted = wanted || w == c.op || w == c.full_name();
    if (wanted) out.push_back(&c);
  }
  for (const auto& w : words) {
    const bool found = std::any_of(out.begin(), out.end(), [&](const OpCase* c) { return w == c->op || w == c->full_name(); });
    if (found) continue;
    const std::string op = w.substr(0, w.find('/'));
    SG_CHECK(ops.count(op), "gradcheck: unknown op '{}' (known: {})", op, fmt::join(ops, ", "));
    std::vector<std::string> names;
    for (const auto& c : op_cases())
      if (c.op == op) names.push_back(c.full_name());
    fail("gradcheck: {} has no case '{}' (its cases: {})", op, w, fmt::join(names, ", "));
  }
  return out;
}

// "[0, 2, :]" for row r of a tensor of `shape` printed one last-dim row per line.
std::string row_label(int64_t r, const Shape& shape) {
  if (shape.size() < 2) return "";
  Shape lead(shape.begin(), shape.end() - 1);
  std::vector<std::string> idx(lead.size() + 1, ":");
  for (int64_t d = static_cast<int64_t>(lead.size()) - 1; d >= 0; --d) {
    idx[d] = std::to_string(r % lead[d]);
    r /= lead[d];
  }
  return fmt::format("[{}] ", fmt::join(idx, ", "));
}

void print_values(const char* what, const std::vector<double>& v, const Shape& shape) {
  const int64_t row = shape.empty() ? 1 : shape.back();
  fmt::print("    {} {}\n", what, shape_str(shape));
  for (int64_t r = 0; r * row < static_cast<int64_t>(v.size()); ++r) {
    std::vector<std::string> cells;
    for (int64_t j = 0; j < row; ++j) cells.push_back(fmt::format("{:>17.10e}", v[static_cast<size_t>(r * row + j)]));
    fmt::print("      {}{}\n", row_label(r, shape), fmt::join(cells, " "));
  }
}

// The tensors of `file`, one per input of case c, converted to float64 (int64 inputs stay int64).
std::vector<Tensor> inputs_from_file(const OpCase& c, const std::string& file) {
  const std::map<std::string, Tensor> given = load_safetensors(file);
  auto listing = [&] {
    std::vector<std::string> l;
    for (const auto& [n, t] : given) l.push_back(fmt::format("{} {} {}", n, t.shape_str(), dtype_name(t.dtype())));
    return fmt::format("{}", fmt::join(l, ", "));
  };
  Generator g(7);
  const std::vector<Tensor> own = c.make_inputs(DType::F64, g);  // for the dtype of each input
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.input_names.size(); ++i) {
    const std::string& n = c.input_names[i];
    auto it = given.find(n);
    SG_CHECK(it != given.end(), "gradcheck: {} has no tensor '{}'; {} takes {} (e.g. {} [{}]); the file has: {}", file, n,
             c.full_name(), fmt::join(c.input_names, ", "), n, fmt::join(own[i].shape(), ", "), listing());
    const Tensor& t = it->second;
    if (own[i].dtype() == DType::I64) {
      SG_CHECK(t.dtype() == DType::I64, "gradcheck: {}: tensor '{}' {} must be int64 for {}", file, n, t.describe(),
               c.full_name());
      xs.push_back(t);
    } else {
      SG_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "gradcheck: {}: tensor '{}' is {}; expected float32 "
               "or float64", file, n, t.describe());
      xs.push_back(t.to(DType::F64));
    }
  }
  for (const auto& [n, t] : given)
    SG_CHECK(std::find(c.input_names.begin(), c.input_names.end(), n) != c.input_names.end(),
             "gradcheck: {}: tensor '{}' {} is not an input of {} (its inputs: {})", file, n, t.shape_str(),
             c.full_name(), fmt::join(c.input_names, ", "));
  return xs;
}

struct Tally {
  int passed = 0, failed = 0;
};

// Column widths of the op table: op (as wide as the longest op shown), case, layout, input.
struct Columns {
  size_t op = 14;
  std::string row(const std::string& op_name, const std::string& name, const std::string& layout, const std::string& input,
                  const std::string& abs_err, const std::string& rel_err, const std::string& result) const {
    return fmt::format("{:<{}} {:<26} {:<11} {:<12} {:>12} {:>12}  {}\n", op_name, op, name, layout, input, abs_err,
                       rel_err, result);
  }
};

// The rows of one gradient check: one per differentiated input.
void report(const OpCase& c, const char* layout, const GradcheckResult& r, const std::vector<Tensor>& inputs,
            const GradcheckOptions& o, const Columns& cols, Tally& tally, nlohmann::json& rows) {
  if (r.inputs.empty()) {
    tally.failed++;
    if (o.json) rows.push_back({{"op", c.op}, {"case", c.name}, {"layout", layout}, {"input", nullptr}, {"passed", false}});
    else fmt::print("{}", cols.row(c.op, c.name, layout, "-", "-", "-", "FAIL (no input needs a gradient)"));
    return;
  }
  for (const InputGradError& e : r.inputs) {
    const bool ok = e.max_rel < o.rtol;
    (ok ? tally.passed : tally.failed)++;
    const std::string& input = c.input_names[e.input];
    const Shape& shape = inputs[e.input].shape();
    const bool show = o.values && e.numel <= kMaxValuesShown;
    if (o.json) {
      nlohmann::json row = {{"op", c.op}, {"case", c.name}, {"layout", layout}, {"input", input}, {"shape", shape},
                            {"max_abs_error", e.max_abs}, {"max_rel_error", e.max_rel}, {"passed", ok}};
      if (show) {
        row["analytic"] = e.analytic;
        row["numeric"] = e.numeric;
      }
      rows.push_back(row);
      continue;
    }
    fmt::print("{}", cols.row(c.op, c.name, layout, input, fmt::format("{:.3e}", e.max_abs),
                              fmt::format("{:.3e}", e.max_rel), ok ? "pass" : "FAIL"));
    if (show) {
      print_values("analytic", e.analytic, shape);
      print_values("numeric ", e.numeric, shape);
    } else if (o.values) {
      fmt::print("    ({} elements: --values prints inputs of at most {})\n", e.numel, kMaxValuesShown);
    }
  }
}

int run_op_gradcheck(const GradcheckOptions& o) {
  const std::vector<const OpCase*> cases = select_cases(o.ops);
  SG_CHECK(o.inputs.empty() || o.ops.size() == 1, "gradcheck: --inputs FILE checks one op: name it (OP or OP/CASE), "
           "got {}", o.ops.empty() ? std::string("none") : fmt::format("{}", fmt::join(o.ops, " ")));
  Columns cols;
  for (const OpCase* c : cases) cols.op = std::max(cols.op, c->op.size());
  nlohmann::json rows = nlohmann::json::array();
  Tally tally;
  if (!o.inputs.empty()) {
    // OP alone: the form of its first case (OP/CASE: that case's); checked before anything is printed
    const OpCase& c = *cases.front();
    const std::string what = o.ops.front() == c.op ? c.op : c.full_name();
    const std::vector<Tensor> xs = inputs_from_file(c, o.inputs);
    GradcheckResult r;
    try {
      r = gradient_check(c, xs, o.eps);
    } catch (const Error& e) {
      std::vector<std::string> l;
      for (size_t i = 0; i < xs.size(); ++i) l.push_back(fmt::format("{} {}", c.input_names[i], xs[i].shape_str()));
      fail("gradcheck: the tensors of {} ({}) do not fit {}: {}", o.inputs, fmt::join(l, ", "), what, e.what());
    }
    OpCase shown = c;
    shown.name = std::filesystem::path(o.inputs).filename().string();
    if (!o.json) fmt::print("{}", cols.row("op", "inputs", "layout", "input", "max abs err", "max rel err", "result"));
    report(shown, "as given", r, xs, o, cols, tally, rows);
  } else {
    if (!o.json) fmt::print("{}", cols.row("op", "case", "layout", "input", "max abs err", "max rel err", "result"));
    for (const OpCase* c : cases) {
      Generator g(7);  // the inputs gradient_check makes, for their shapes
      const std::vector<Tensor> xs = c->make_inputs(DType::F64, g);
      for (Layout l : {Layout::Contiguous, Layout::Strided})
        report(*c, layout_name(l), gradient_check(*c, l), xs, o, cols, tally, rows);
    }
  }
  if (o.json)
    fmt::print("{}\n", nlohmann::json{{"rtol", o.rtol}, {"passed", tally.passed}, {"failed", tally.failed},
                                      {"results", rows}}.dump(2));
  else
    fmt::print("{} passed, {} failed (f64 central differences, relative tolerance {:g})\n", tally.passed, tally.failed,
               o.rtol);
  return tally.failed == 0 ? 0 : 1;
}

int run_param_gradcheck(const GradcheckOptions& o) {
  SG_CHECK(o.ops.empty() && o.inputs.empty() && !o.values, "gradcheck: --param checks a model parameter; OP names, "
           "--inputs and --values belong to the op check");
  SG_CHECK(!o.step || *o.step >= 1, "gradcheck: --step must be 1 or more (the first training step is 1), got {}", *o.step);
  ModelBatch mb = model_batch({.command = "gradcheck", .checkpoint = o.checkpoint, .config = o.config,
                               .batch = o.batch, .seed = o.seed, .step = o.step.value_or(0)});
  const ParamGradcheck r = param_gradcheck(mb, o.param, o.elements, mb.seed, o.eps);
  Tally tally;
  nlohmann::json rows = nlohmann::json::array();
  const size_t width = std::max<size_t>(9, r.name.size());
  if (!o.json) {
    fmt::print("{}, batch of {} pairs at step {} (seed {}), float64: loss {:.12f}\n", mb.source, o.batch, mb.step,
               mb.seed, r.loss);
    fmt::print("{} {}: relative error = |analytic - numeric| / {:.3e} (largest |analytic| element, at least 1e-3)\n",
               r.name, shape_str(r.shape), r.scale);
    fmt::print("{:<{}} {:<14} {:>19} {:>19} {:>10} {:>10}  {}\n", "parameter", width, "element", "analytic", "numeric",
               "abs err", "rel err", "result");
  }
  for (const ParamElementCheck& e : r.elements) {
    const bool ok = e.rel_error < o.rtol;
    (ok ? tally.passed : tally.failed)++;
    const std::string idx = fmt::format("[{}]", fmt::join(e.index, ", "));
    if (o.json)
      rows.push_back({{"parameter", r.name}, {"element", e.index}, {"analytic", e.analytic}, {"numeric", e.numeric},
                      {"abs_error", e.abs_error}, {"rel_error", e.rel_error}, {"passed", ok}});
    else
      fmt::print("{:<{}} {:<14} {:>19.12e} {:>19.12e} {:>10.3e} {:>10.3e}  {}\n", r.name, width, idx, e.analytic, e.numeric,
                 e.abs_error, e.rel_error, ok ? "pass" : "FAIL");
  }
  if (o.json)
    fmt::print("{}\n", nlohmann::json{{"parameter", r.name}, {"shape", r.shape}, {"loss", r.loss}, {"step", mb.step},
                                      {"seed", mb.seed}, {"scale", r.scale}, {"rtol", o.rtol}, {"passed", tally.passed},
                                      {"failed", tally.failed}, {"results", rows}}.dump(2));
  else
    fmt::print("{} passed, {} failed (f64 central differences of the model loss, eps {:g}, relative tolerance {:g})\n",
               tally.passed, tally.failed, o.eps, o.rtol);
  return tally.failed == 0 ? 0 : 1;
}

}  // namespace

int run_gradcheck(const GradcheckOptions& o) {
  return o.param.empty() ? run_op_gradcheck(o) : run_param_gradcheck(o);
}

}  // namespace sg
