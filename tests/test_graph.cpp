// test_graph.cpp: `siglip graph` and autograd/graph.h: the recorded forward graph of one batch of SigLIP, fused or
// unfused (nn/unfused.h), one node per op or per module (autograd/graph_modules.h).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "autograd/graph.h"
#include "autograd/graph_modules.h"
#include "nn/fileio.h"
#include "nn/unfused.h"
#include "siglip/commands.h"
#include "siglip/model_batch.h"
#include "tensor/ops.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {
std::string graph_of(std::vector<std::string> args) {
  const std::string out = (fs::temp_directory_path() / ("sg_graph_" + std::to_string(::getpid()) + ".txt")).string();
  args.insert(args.begin(), "graph");
  args.insert(args.end(), {"--out", out});
  REQUIRE(run_command_line(args) == 0);
  std::string text = read_file(out);
  fs::remove(out);
  return text;
}
std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}
}  // namespace

TEST_CASE("graph: a small graph by hand: ids in forward order, named leaves, inputs without grad") {
  Tensor w = from_vector({1.0, 2.0, 3.0, 4.0}, {2, 2}).requires_grad_();
  Tensor x = from_vector({0.5, -1.0}, {1, 2});  // no grad
  Tensor y = sum(tanh(matmul(x, w)));
  std::vector<GraphNode> g = describe_graph(y, {{w.impl()->meta.get(), "w"}});
  CHECK(graph_text(g) == "#0 matmul - [1, 2] <- (no grad), w\n#1 tanh - [1, 2] <- #0\n#2 sum - [] <- #1\n");
}

TEST_CASE("graph: SigLIP micro, fixed seed: the text, every parameter as a leaf, topological ids") {
  const std::vector<std::string> lines = lines_of(graph_of({"--config", "micro", "--batch", "4", "--seed", "3"}));
  REQUIRE(lines.size() == 81);
  CHECK(lines[0] ==
        "#0 patch_embed vision_model.embeddings.patch_embedding [4, 36, 96] <- (no grad), "
        "vision_model.embeddings.patch_embedding.weight, vision_model.embeddings.patch_embedding.bias");
  CHECK(lines[1] == "#1 embedding vision_model.embeddings.position_embedding [36, 96] <- (no grad), "
                    "vision_model.embeddings.position_embedding.weight");
  CHECK(lines.back() == "#80 sigmoid_loss_fused - [] <- #53, #79, logit_scale, logit_bias");
  // An encoder layer is 7 nodes; out_proj takes the residual stream #2 as its fourth input (linear's residual).
  CHECK(lines[7] == "#7 linear vision_model.encoder.layers.0.self_attn.out_proj [4, 36, 96] <- #6, "
                    "vision_model.encoder.layers.0.self_attn.out_proj.weight, "
                    "vision_model.encoder.layers.0.self_attn.out_proj.bias, #2");
  // Each input that is a node comes from an earlier line.
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    for (size_t p = l.find("<- "); (p = l.find('#', p + 1)) != std::string::npos;) {
      INFO(l);
      CHECK(std::stoul(l.substr(p + 1)) < i);
    }
  }
  // JSON: the same nodes; every parameter of the model feeds some node.
  nlohmann::json j = nlohmann::json::parse(graph_of({"--config", "micro", "--batch", "4", "--seed", "3",
                                                      "--format", "json"}));
  REQUIRE(j.size() == 81);
  std::set<std::string> leaves;
  for (const auto& node : j)
    for (const auto& in : node["inputs"])
      if (in.is_object() && in.contains("leaf") && in["leaf"].is_string()) leaves.insert(in["leaf"].get<std::string>());
  CHECK(leaves.count("text_model.head.weight") == 1);
  CHECK(leaves.count("vision_model.head.probe") == 1);
  CHECK(leaves.size() > 50);
}

TEST_CASE("graph: DOT clusters by module; --module keeps one module's nodes; bad prefix is an error") {
  const std::string dot = graph_of({"--format", "dot", "--batch", "2"});
  CHECK(dot.rfind("digraph G {", 0) == 0);
  CHECK(dot.find("label=\"vision_model.head.attention\";") != std::string::npos);
  CHECK(dot.find("[shape=ellipse, label=\"logit_scale\"]") != std::string::npos);
  for (const auto& l : lines_of(graph_of({"--module", "text_model.head", "--batch", "2"}))) {
    INFO(l);
    CHECK(l.find(" text_model.head ") != std::string::npos);
  }
  CHECK(run_command_line({"graph", "--module", "no_such_module"}) == 1);
}

namespace {
// Loss, logits and every parameter's gradient of one micro batch (seed 3), fused or unfused.
struct StepValues {
  double loss;
  std::vector<double> logits;
  std::map<std::string, std::vector<double>> grads;
};
StepValues step_values(bool unfused) {
  ModelBatch mb = model_batch({.command = "graph", .checkpoint = "", .config = "micro", .batch = 4, .seed = 3, .step = 0});
  nn::UnfusedGuard guard(unfused);
  Tensor loss = model_batch_loss(mb);
  loss.backward();
  StepValues v;
  v.loss = loss.item();
  SiglipModel& m = mb.model();
  {
    NoGradGuard ng;
    v.logits = m.logits(m.image_embeds(mb.batch.images), m.text_embeds(mb.batch.ids)).to_vector<double>();
  }
  for (auto& [name, p] : m.named_parameters()) v.grads[name] = p->grad().to_vector<double>();
  return v;
}
int count_lines_with(const std::string& text, const std::string& what) {
  int n = 0;
  for (const auto& l : lines_of(text)) n += l.find(what) != std::string::npos;
  return n;
}
double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::abs(x));
  return m;
}
double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}
}  // namespace

TEST_CASE("graph: --unfused gives the fused loss, logits and gradients (micro, f32) from its primitive ops") {
  const StepValues fused = step_values(false), unfused = step_values(true);
  // f32 rounding: the fused kernels sum in another order (tiles, online softmax). Loss and logits within 1e-5
  // relative; each parameter's gradient within 1e-4 of its largest element (measured: 4.6e-6 at most).
  CHECK(std::abs(fused.loss - unfused.loss) <= 1e-5 * std::abs(fused.loss));
  CHECK(max_diff(fused.logits, unfused.logits) <= 1e-5 * max_abs(fused.logits));
  REQUIRE(fused.grads.size() == unfused.grads.size());
  double largest = 0;  // the largest gradient element of the model
  for (const auto& [name, g] : fused.grads) largest = std::max(largest, max_abs(g));
  double worst = 0;
  for (const auto& [name, g] : fused.grads) {
    INFO(name, ": max |fused - unfused| ", max_diff(g, unfused.grads.at(name)), ", max |fused| ", max_abs(g));
    if (name.find("k_proj.bias") != std::string::npos) {
      // Zero in theory (q.(k + c) shifts a query's scores alike; softmax ignores it): both are rounding noise.
      CHECK(max_abs(g) <= 1e-6 * largest);
      CHECK(max_abs(unfused.grads.at(name)) <= 1e-6 * largest);
      continue;
    }
    const double rel = max_diff(g, unfused.grads.at(name)) / max_abs(g);
    CHECK(rel <= 1e-4);
    worst = std::max(worst, rel);
  }
  MESSAGE("fused vs unfused: worst parameter gradient difference ", worst, " of its largest element");

  const std::string text = graph_of({"--config", "micro", "--batch", "4", "--seed", "3", "--unfused"});
  CHECK(text.find("scaled_dot_product_attention") == std::string::npos);
  CHECK(text.find("sigmoid_loss_fused") == std::string::npos);
  // softmax: one per attention (3 vision layers, the MAP head, 2 text layers), each [B, H, N, M]
  std::regex softmax_node(R"(#\d+ softmax \S+self_attn \[4, \d+, \d+, \d+\])");
  const std::string s = text;
  CHECK(std::distance(std::sregex_iterator(s.begin(), s.end(), softmax_node), std::sregex_iterator()) == 5);
  CHECK(text.find(" softmax vision_model.head.attention [4, ") != std::string::npos);
  CHECK(text.find(" matmul logits [4, 4] <- ") != std::string::npos);  // the [B, B] logits exist as a node
  CHECK(text.find(" log_sigmoid - [4, 4] <- ") != std::string::npos);
}

TEST_CASE("graph: --collapse-modules DEPTH: one node per module, with its inputs and output shape") {
  CHECK(module_prefix("vision_model.encoder.layers.3.mlp.fc1", 4) == "vision_model.encoder.layers.3");
  CHECK(module_prefix("vision_model.encoder.layers.3", 4) == "vision_model.encoder.layers.3");
  CHECK(module_prefix("vision_model.post_layernorm", 4) == "vision_model.post_layernorm");
  CHECK(module_prefix("vision_model.encoder.layers.3", 1) == "vision_model");

  const std::vector<std::string> lines =
      lines_of(graph_of({"--config", "micro", "--batch", "4", "--seed", "3", "--collapse-modules", "4"}));
  INFO(fmt::format("{}", fmt::join(lines, "\n")));
  CHECK(lines.size() < 40);  // the 120 op nodes of the micro graph
  // the encoder layers one after another, each from the one before (micro: 3 vision and 2 text layers)
  auto line_of = [&](const std::string& module) -> std::string {
    for (const auto& l : lines)
      if (l.find(" " + module + " ") != std::string::npos) return l;
    return "";
  };
  for (int i = 0; i < 3; ++i) {
    const std::string l = line_of(fmt::format("vision_model.encoder.layers.{}", i));
    CHECK(l.find("[4, 36, 96] <- #") != std::string::npos);
    CHECK(l.find("ops, 16 parameters)") != std::string::npos);
    if (i > 0) {
      const std::string prev = line_of(fmt::format("vision_model.encoder.layers.{}", i - 1));
      CHECK(l.find("<- " + prev.substr(0, prev.find(' ')) + " (") != std::string::npos);
    }
  }
  CHECK(line_of("text_model.encoder.layers.1").find("ops, 16 parameters)") != std::string::npos);
  CHECK(lines.back().find(" sigmoid_loss_fused [] <- #") != std::string::npos);
  CHECK(lines.back().find("logit_scale, logit_bias") != std::string::npos);

  // JSON: the collapsed nodes hold every op of the full graph, once.
  const nlohmann::json full = nlohmann::json::parse(graph_of({"--config", "micro", "--batch", "4", "--seed", "3",
                                                              "--format", "json"}));
  const nlohmann::json collapsed = nlohmann::json::parse(graph_of({"--config", "micro", "--batch", "4", "--seed", "3",
                                                                   "--format", "json", "--collapse-modules", "4"}));
  int ops = 0;
  for (const auto& n : collapsed) ops += n["ops"].get<int>();
  CHECK(ops == static_cast<int>(full.size()));
  // Depth 1: the two towers, the logits' parameters and the loss.
  const std::string top = graph_of({"--collapse-modules", "1", "--batch", "2"});
  CHECK(count_lines_with(top, " vision_model [2, 96] <- (no grad) (") == 1);
  CHECK(count_lines_with(top, " text_model [2, 96] <- (no grad) (") == 1);
  CHECK(count_lines_with(top, "layers") == 0);
  const std::string dot = graph_of({"--collapse-modules", "4", "--batch", "2", "--format", "dot"});
  CHECK(dot.rfind("digraph G {", 0) == 0);
  CHECK(dot.find("vision_model.encoder.layers.2\\n[2, 36, 96]") != std::string::npos);
  CHECK(run_command_line({"graph", "--collapse-modules", "-1"}) == 1);
}

TEST_CASE("graph: --values shows each node's output and received gradient, as the backward computes them") {
  // By hand: y = tanh(x w) summed; the sum receives 1, tanh receives ones, matmul receives 1 - tanh^2.
  Tensor w = from_vector({0.5, -1.0}, {2, 1}).requires_grad_();
  Tensor x = from_vector({1.0, 2.0}, {1, 2});
  Tensor h = matmul(x, w);  // [[-1.5]]
  CHECK(value_summary(h, from_vector({0.25}, {1, 1})) == "data [-1.5] | grad [0.25]");
  CHECK(value_summary(Tensor(), Tensor()) == "data ? | grad ?");
  CHECK(value_summary(from_vector({1.0, 2.0, 3.0, 4.0, 5.0}, {5}), from_vector({3.0, 0.0, 0.0, 0.0, -4.0}, {5})) ==
        "data mean 3.000e+00 std 1.414e+00 max|x| 5.000e+00 | grad norm 5.000e+00 max|g| 4.000e+00");

  // The micro model: the loss node shows its value and the seed gradient 1; the text head shows the norm of the
  // gradient a trace of the same batch reports for it.
  const std::vector<std::string> lines = lines_of(graph_of({"--config", "micro", "--values"}));
  const std::string& root = lines.back();
  CHECK_MESSAGE(root.find("sigmoid_loss_fused") != std::string::npos, root);
  CHECK_MESSAGE(root.ends_with("| data [3.373] | grad [1]"), root);
  int with_grad = 0;
  for (const auto& l : lines) with_grad += l.find(" | grad ") != std::string::npos && l.find("grad ?") == std::string::npos;
  CHECK(with_grad == static_cast<int>(lines.size()));  // every node is on the loss's path: each received a gradient
  CHECK(run_command_line({"graph", "--values", "--collapse-modules", "2"}) == 1);  // an error, printed
}
