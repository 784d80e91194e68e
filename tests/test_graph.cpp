// test_graph.cpp: `siglip graph` and autograd/graph.h: the recorded forward graph of one batch of SigLIP.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "autograd/graph.h"
#include "nn/fileio.h"
#include "siglip/commands.h"
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
  REQUIRE(lines.size() == 257);
  CHECK(lines[0] ==
        "#0 patch_embed vision_model.embeddings.patch_embedding [4, 36, 96] <- (no grad), "
        "vision_model.embeddings.patch_embedding.weight, vision_model.embeddings.patch_embedding.bias");
  CHECK(lines[1] == "#1 embedding vision_model.embeddings.position_embedding [36, 96] <- (no grad), "
                    "vision_model.embeddings.position_embedding.weight");
  CHECK(lines.back() == "#256 sigmoid_loss_fused - [] <- #166, #255, logit_scale, logit_bias");
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
  REQUIRE(j.size() == 257);
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
