// test_trace.cpp: node hooks, RetainForwardGuard and replays (every op of the registry), autograd/trace.h's check,
// and `siglip trace` on the micro config: the table, a planted wrong kernel and a planted wrong formula found at
// their nodes, the --step session driven through an istream, and --json.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/trace.h"
#include "nn/fileio.h"
#include "siglip/model_batch.h"
#include "siglip/trace.h"
#include "tensor/op_registry.h"
#include "tensor/ops.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}
bool is_node_row(const std::string& l) { return l.size() > 6 && l.find_first_not_of(' ') == l.find('#'); }
size_t count_node_rows(const std::string& text) {
  size_t n = 0;
  for (const auto& l : lines_of(text)) n += is_node_row(l) && l.find(" | ") != std::string::npos;
  return n;
}

TraceOptions micro(std::vector<std::string> flags = {}) {
  TraceOptions o;
  o.config = "micro";
  o.batch = 4;
  o.seed = 3;
  for (const auto& f : flags) {
    if (f == "check") o.check = true;
    if (f == "step") o.step = true;
    if (f == "values") o.values = true;
  }
  return o;
}

// wrong_tanh: the forward is tanh (right, and its replay is the op itself), the backward g * (1 - y) instead of
// g * (1 - y^2): a wrong formula.
Tensor wrong_tanh(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard ng;
    y = tanh(x);
  }
  return record(
      y, "wrong_tanh", {x}, [](const std::vector<Tensor>& in) { return wrong_tanh(in[0]); },
      [y](const Node&) {
        Tensor ys = y.detach();
        return [ys](const Tensor& g) { return std::vector<Tensor>{mul(g, sub(ones_like(ys), ys))}; };
      });
}

struct Session {
  int status = -1;
  std::string out;
};
Session run_session(const TraceOptions& o, const std::string& input = "",
                    const std::function<void(BackwardTrace&)>& before = {}) {
  std::istringstream in(input);
  std::ostringstream out;
  Session s;
  s.status = trace_session(o, in, out, before);
  s.out = out.str();
  return s;
}
}  // namespace

TEST_CASE("trace: node pre-hooks see and replace the gradient a node receives; post-hooks what it sends") {
  Tensor x = from_vector({1.0, -2.0, 3.0}, {3}, DType::F64).requires_grad_();
  Tensor two = full({3}, 2.0, DType::F64);  // needs no gradient
  Tensor y = mul(x, two);   // node "mul"
  Tensor z = sum(exp(y));   // exp then sum
  Node& mul_node = *y.grad_fn();
  Node& exp_node = *z.grad_fn()->inputs[0]->grad_fn;
  REQUIRE(mul_node.op == "mul");
  REQUIRE(exp_node.op == "exp");
  std::vector<double> received, pre_seen;
  std::vector<std::vector<double>> sent_seen;
  exp_node.register_prehook([&](const Tensor& g) {
    pre_seen = g.to_vector<double>();  // d sum / d exp = 1
    return mul(g, 10.0);               // the exp node now receives 10
  });
  mul_node.register_hook([&](const std::vector<Tensor>& sent, const Tensor& g) {
    received = g.to_vector<double>();
    for (const Tensor& t : sent) sent_seen.push_back(t.defined() ? t.to_vector<double>() : std::vector<double>{});
    return std::vector<Tensor>{mul(sent[0], -1.0), Tensor()};  // flip x's gradient; keep the (absent) second
  });
  z.backward();
  CHECK(pre_seen == std::vector<double>{1, 1, 1});
  const std::vector<double> e{10 * std::exp(2.0), 10 * std::exp(-4.0), 10 * std::exp(6.0)};
  REQUIRE(received.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(received[i] == doctest::Approx(e[i]));
  REQUIRE(sent_seen.size() == 2);  // mul(x, two): x, and nothing for `two`
  CHECK(sent_seen[1].empty());
  const std::vector<double> gx = x.grad().to_vector<double>();
  for (size_t i = 0; i < 3; ++i) CHECK(gx[i] == doctest::Approx(-2 * e[i]));
}

TEST_CASE("trace: a hook that returns a gradient of the wrong shape is an error naming the node") {
  Tensor x = from_vector({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = sum(tanh(x));
  y.grad_fn()->inputs[0]->grad_fn->register_hook(
      [](const std::vector<Tensor>&, const Tensor&) { return std::vector<Tensor>{zeros({3})}; });
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("post-hook of 'tanh'"), Error);
}

TEST_CASE("trace: RetainForwardGuard keeps output, inputs and replay; outside it nothing is kept") {
  Tensor x = randn({2, 3}, DType::F64).requires_grad_();
  Tensor w = randn({3}, DType::F64).requires_grad_();
  Tensor b = randn({3}, DType::F64).requires_grad_();
  Tensor plain = layer_norm(x, w, b, 1e-5);
  CHECK(!plain.grad_fn()->saved_output.defined());
  CHECK(plain.grad_fn()->saved_inputs.empty());
  CHECK(!plain.grad_fn()->replay);
  Tensor kept;
  {
    RetainForwardGuard keep;
    kept = layer_norm(x, w, b, 1e-5);
  }
  const Node& n = *kept.grad_fn();
  CHECK(n.saved_output.storage() == kept.storage());  // the same memory, but its own handle: no cycle
  CHECK(n.saved_output.impl() != kept.impl());
  REQUIRE(n.saved_inputs.size() == 3);
  CHECK(n.saved_inputs[0].storage() == x.storage());
  Tensor again = n.replay(n.saved_inputs);
  CHECK(again.to_vector<double>() == kept.to_vector<double>());
  CHECK(!retain_forward_enabled());
}

TEST_CASE("trace: every op of the registry replays its forward, and its backward passes the check") {
  int cases = 0;
  for (const OpCase& c : op_cases()) {
    INFO(c.full_name());
    Generator gen(11);
    std::vector<Tensor> in = c.make_inputs(DType::F64, gen);
    for (size_t i = 0; i < in.size(); ++i)
      if (is_floating(in[i].dtype()) && std::find(c.no_grad_inputs.begin(), c.no_grad_inputs.end(), i) ==
                                            c.no_grad_inputs.end())
        in[i].requires_grad_();
    Tensor y, root;
    {
      RetainForwardGuard keep;
      y = c.forward(in);
      if (!y.requires_grad()) continue;
      root = sum(mul(y, randn(y.shape(), y.dtype(), &gen)));
    }
    // The replay of every node gives its saved output again.
    // (to(dtype) replays as a copy in the input's dtype: equal up to the conversion's rounding.)
    visit_graph(root, [&](Node& n) {
      INFO(n.op);
      REQUIRE(n.replay);
      Tensor r = n.replay(n.saved_inputs);
      REQUIRE(r.shape() == n.saved_output.shape());
      const std::vector<double> a = r.to_vector<double>(), b = n.saved_output.to_vector<double>();
      double diff = 0, scale = 1;
      for (size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
      }
      CHECK(diff <= (n.op == "to_dtype" ? 1e-2 : 0.0) * scale);
    });
    BackwardTrace t(root, {});
    t.run_backward();
    const BackwardCheck chk = check_backward(t, CheckSettings{});
    CHECK(chk.skipped == 0);
    if (!chk.passed()) FAIL_CHECK(check_text(chk, CheckSettings{}));
    ++cases;
  }
  CHECK(cases > 50);
}

TEST_CASE("trace: a wrong backward formula inside a chain of real ops is found at its node, kind formula") {
  Generator gen(5);
  Tensor x = randn({4, 6}, DType::F32, &gen), w = mul(randn({6, 5}, DType::F32, &gen), 0.5).detach().requires_grad_();
  Tensor gamma = ones({5}).requires_grad_(), beta = zeros({5}).requires_grad_();
  Tensor loss;
  {
    RetainForwardGuard keep;
    loss = sum(mul(layer_norm(wrong_tanh(matmul(x, w)), gamma, beta, 1e-5), randn({4, 5}, DType::F32, &gen)));
  }
  BackwardTrace t(loss, {{w.impl()->meta.get(), "w"}});
  t.run_backward();
  const BackwardCheck c = check_backward(t, CheckSettings{});
  INFO(check_text(c, CheckSettings{}));
  REQUIRE(!c.passed());
  const NodeCheck& bad = c.nodes[static_cast<size_t>(c.first_bad)];
  CHECK(bad.op == "wrong_tanh");
  CHECK(bad.kind() == "formula");
  CHECK(bad.formula_error > 0.1);
  CHECK(bad.kernel_error < 1e-5);  // f32 and f64 agree: both follow the same wrong formula
  for (const NodeCheck& n : c.nodes)
    if (n.op != "wrong_tanh") CHECK(n.ok());
  CHECK(check_text(c, CheckSettings{}).find(fmt::format("first disagreement: #{} wrong_tanh -: formula", bad.id)) !=
        std::string::npos);
}

TEST_CASE("trace: siglip micro: a row per node and per parameter; a clean run passes --check; --json parses") {
  const std::string json_file = (fs::temp_directory_path() / ("sg_trace_" + std::to_string(::getpid()) + ".json")).string();
  TraceOptions o = micro({"check"});
  o.json = json_file;
  const Session s = run_session(o);
  INFO(s.out.substr(s.out.size() > 3000 ? s.out.size() - 3000 : 0));
  CHECK(s.status == 0);
  // The graph's node count (tests/test_graph.cpp: 81 for this model and batch) and every parameter.
  ModelBatch b = model_batch({.command = "test", .checkpoint = "", .config = "micro", .batch = 4, .seed = 3, .step = 1});
  const size_t params = b.model().named_parameters().size();
  const std::vector<std::string> lines = lines_of(s.out);
  size_t rows = 0, param_rows = 0, check_rows = 0;
  bool in_params = false, in_check = false;
  for (const auto& l : lines) {
    if (l.rfind("parameters, and the first step", 0) == 0) in_params = true;
    if (l.rfind("check, node by node", 0) == 0) in_params = false, in_check = true;
    if (in_check) check_rows += is_node_row(l);
    else if (in_params) param_rows += l.find(" ") != std::string::npos && l.rfind("parameter", 0) != 0 && !l.empty();
    else rows += is_node_row(l);
  }
  CHECK(rows == 81);
  CHECK(param_rows == params);
  CHECK(check_rows == 81);
  CHECK(s.out.find("all 81 nodes agree (0 not checked)") != std::string::npos);
  CHECK(s.out.find("#80 sigmoid_loss_fused") != std::string::npos);
  // The first row is the loss (the root runs first in backward order).
  const auto header = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("grad norm") != std::string::npos; });
  REQUIRE(header != lines.end());
  CHECK((header + 1)->find("#80 sigmoid_loss_fused") != std::string::npos);

  const nlohmann::json j = nlohmann::json::parse(read_file(json_file));
  fs::remove(json_file);
  CHECK(j["nodes"].size() == 81);
  CHECK(j["nodes"][0]["id"] == 80);
  CHECK(j["nodes"][0]["grad"]["norm"].get<double>() == doctest::Approx(1.0));
  CHECK(j["parameters"].size() == params);
  CHECK(j["check"]["passed"] == true);
  CHECK(j["check"]["nodes"].size() == 81);
  for (const auto& p : j["parameters"]) {
    INFO(p["name"]);
    CHECK(p["update_norm"].get<double>() > 0);  // every parameter gets a gradient and moves
  }
}

TEST_CASE("trace: a planted wrong kernel (a post-hook on the 2nd layer_norm_linear of the vision encoder) is found there") {
  int planted = -1;
  auto plant = [&](BackwardTrace& t) {
    TracedNode* ln = t.find("layer_norm_linear", "vision_model.encoder", 1);  // layer 0's norm2 fused into fc1
    REQUIRE(ln != nullptr);
    planted = ln->graph.id;
    ln->node->register_hook([](const std::vector<Tensor>& sent, const Tensor&) {
      std::vector<Tensor> wrong(sent.size());
      wrong[0] = mul(sent[0], 1.05);  // 5% too much to x
      return wrong;
    });
  };
  TraceOptions o = micro({"check"});
  o.module = "vision_model";
  const Session s = run_session(o, "", plant);
  CHECK(s.status == 1);
  INFO(s.out.substr(s.out.find("first disagreement") == std::string::npos ? 0 : s.out.find("first disagreement")));
  CHECK(s.out.find(fmt::format("first disagreement: #{} layer_norm_linear vision_model.encoder.layers.0.mlp.fc1: kernel",
                               planted)) != std::string::npos);
}

TEST_CASE("trace: --step driven through an istream: n, p grad, b layer_norm, c; and q") {
  TraceOptions o = micro({"step"});
  const Session s = run_session(o, "n\np grad\nb layer_norm\nc\n");
  CHECK(s.status == 0);
  CHECK(count_node_rows(s.out) == 81);  // every node's row, passed or paused at
  const std::vector<std::string> lines = lines_of(s.out);
  std::vector<size_t> prompts;
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind("(trace) ", 0) == 0) prompts.push_back(i);
  REQUIRE(prompts.size() == 4);  // at the loss, at the next node (twice: after p), at the first layer_norm
  CHECK(lines[prompts[0] - 1].find("#80 sigmoid_loss_fused") != std::string::npos);
  CHECK(lines[prompts[0]] == "(trace) n");  // commands from a stream are echoed
  CHECK(lines[prompts[1]] == "(trace) p grad");
  CHECK(lines[prompts[1] + 1].find("grad of #") != std::string::npos);
  CHECK(lines[prompts[1] + 1].find("mean") != std::string::npos);
  CHECK(lines[prompts[3] - 1].find(" layer_norm ") != std::string::npos);
  for (size_t i = prompts[2] + 1; i + 1 < prompts[3]; ++i) CHECK(lines[i].find(" layer_norm ") == std::string::npos);
  CHECK(s.out.find("parameters, and the first step") != std::string::npos);

  const Session q = run_session(o, "p vision_model.head.probe\nq\n");
  CHECK(q.status == 0);
  CHECK(count_node_rows(q.out) == 1);
  CHECK(q.out.find("vision_model.head.probe: [1, 1, 96] float32") != std::string::npos);
  CHECK(q.out.find("quit") != std::string::npos);
  CHECK(q.out.find("parameters, and the first step") == std::string::npos);
}

TEST_CASE("trace: a bfloat16 chain passes the check at bf16's tolerance; at f32's its rounding shows as kernel") {
  Generator gen(9);
  Tensor w = mul(randn({8, 8}, DType::F32, &gen), 0.3).detach().requires_grad_();  // f32 master weight
  Tensor x = randn({4, 8}, DType::F32, &gen).to(DType::BF16);
  Tensor loss;
  {
    RetainForwardGuard keep;
    loss = sum(gelu(matmul(x, w.to(DType::BF16)))).to(DType::F32);
  }
  BackwardTrace t(loss, {{w.impl()->meta.get(), "w"}});
  t.run_backward();
  const BackwardCheck ok = check_backward(t, CheckSettings{});
  INFO(check_text(ok, CheckSettings{}));
  CHECK(ok.passed());
  CHECK(ok.skipped == 0);
  CHECK(ok.nodes.size() == 5);  // to_dtype (w), matmul, gelu, sum, to_dtype (loss)
  CheckSettings strict;
  strict.kernel_tol = 1e-7;
  const BackwardCheck tight = check_backward(t, strict);
  REQUIRE(!tight.passed());
  CHECK(tight.nodes[static_cast<size_t>(tight.first_bad)].kind() == "kernel");
}
