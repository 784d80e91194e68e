// graph.cpp: listing and printing a recorded graph (graph.h).
#include "autograd/graph.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace sg {

std::vector<Node*> graph_nodes(const Tensor& root) {
  std::vector<Node*> order;
  visit_graph(root, [&](Node& n) { order.push_back(&n); });
  // Creation order is a topological order too (an op's inputs exist before it runs), and the one a reader
  // follows: the forward pass as it ran.
  std::sort(order.begin(), order.end(), [](const Node* a, const Node* b) { return a->sequence < b->sequence; });
  return order;
}

std::vector<GraphNode> describe_graph(const Tensor& root, const std::map<const AutogradMeta*, std::string>& leaf_names) {
  const std::vector<Node*> order = graph_nodes(root);
  std::unordered_map<const Node*, int> id;
  const int n = static_cast<int>(order.size());
  for (int i = 0; i < n; ++i) id[order[static_cast<size_t>(i)]] = i;
  std::vector<GraphNode> out(static_cast<size_t>(n));
  for (const Node* node : order) {
    GraphNode& g = out[static_cast<size_t>(id[node])];
    g.id = id[node];
    g.op = node->op;
    g.module = node->module_path;
    g.shape = node->output_shape;
    g.dtype = node->output_dtype;
    for (const auto& in : node->inputs) {
      GraphInput gi;
      if (!in) {
        gi.kind = GraphInput::NoGrad;
      } else if (in->grad_fn) {
        gi.kind = GraphInput::NodeOutput;
        gi.node = id.at(in->grad_fn.get());
      } else if (auto it = leaf_names.find(in.get()); it != leaf_names.end()) {
        gi.kind = GraphInput::NamedLeaf;
        gi.name = it->second;
      } else {
        gi.kind = GraphInput::Leaf;
      }
      g.inputs.push_back(gi);
    }
  }
  return out;
}

namespace {

// "[0.5, -1.25]" for up to 4 elements, else "<stat a> <stat b> ..." as `large` says
std::string small_or(const Tensor& t, const std::function<std::string(const std::vector<double>&)>& large) {
  const std::vector<double> v = t.to(Device::CPU).to(DType::F64).contiguous().to_vector<double>();
  if (v.size() <= 4) {
    std::vector<std::string> parts;
    for (double x : v) parts.push_back(fmt::format("{:.4g}", x));
    return fmt::format("[{}]", fmt::join(parts, ", "));
  }
  return large(v);
}

}  // namespace

std::string value_summary(const Tensor& data, const Tensor& grad) {
  const std::string d = !data.defined() ? "?" : small_or(data, [](const std::vector<double>& v) {
    double mean = 0, sq = 0, amax = 0;
    for (double x : v) mean += x / static_cast<double>(v.size());
    for (double x : v) sq += (x - mean) * (x - mean), amax = std::max(amax, std::abs(x));
    return fmt::format("mean {:.3e} std {:.3e} max|x| {:.3e}", mean, std::sqrt(sq / static_cast<double>(v.size())), amax);
  });
  const std::string g = !grad.defined() ? "?" : small_or(grad, [](const std::vector<double>& v) {
    double sq = 0, amax = 0;
    for (double x : v) sq += x * x, amax = std::max(amax, std::abs(x));
    return fmt::format("norm {:.3e} max|g| {:.3e}", std::sqrt(sq), amax);
  });
  return "data " + d + " | grad " + g;
}

std::string input_text(const GraphInput& in) {
  switch (in.kind) {
    case GraphInput::NodeOutput: return fmt::format("#{}", in.node);
    case GraphInput::NamedLeaf: return in.name;
    case GraphInput::Leaf: return "(leaf)";
    case GraphInput::NoGrad: return "(no grad)";
  }
  return "?";
}

namespace {
std::string dot_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}
}  // namespace

std::string graph_text(const std::vector<GraphNode>& nodes) {
  std::string s;
  for (const auto& g : nodes) {
    std::vector<std::string> ins;
    for (const auto& in : g.inputs) ins.push_back(input_text(in));
    s += fmt::format("#{} {} {} {}{} <- {}{}\n", g.id, g.op, g.module.empty() ? "-" : g.module, shape_str(g.shape),
                     g.dtype == DType::F32 ? "" : std::string(" ") + dtype_name(g.dtype), fmt::join(ins, ", "),
                     g.values.empty() ? "" : " | " + g.values);
  }
  return s;
}

std::string graph_dot(const std::vector<GraphNode>& nodes) {
  // Nodes grouped by module (one cluster each, in first-use order); named leaves as ellipses.
  std::vector<std::string> modules;
  std::map<std::string, std::vector<const GraphNode*>> by_module;
  for (const auto& g : nodes) {
    if (!by_module.count(g.module)) modules.push_back(g.module);
    by_module[g.module].push_back(&g);
  }
  std::string s = "digraph G {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n";
  int cluster = 0;
  for (const auto& m : modules) {
    const bool boxed = !m.empty();
    if (boxed) s += fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n", cluster++, dot_escape(m));
    for (const GraphNode* g : by_module[m])
      s += fmt::format("    n{} [label=\"#{} {}\\n{}{}\"];\n", g->id, g->id, dot_escape(g->op), shape_str(g->shape),
                       g->values.empty() ? "" : "\\n" + dot_escape(g->values));
    if (boxed) s += "  }\n";
  }
  std::map<std::string, int> leaf_ids;
  for (const auto& g : nodes) {
    for (const auto& in : g.inputs) {
      if (in.kind == GraphInput::NodeOutput) {
        s += fmt::format("  n{} -> n{};\n", in.node, g.id);
      } else if (in.kind == GraphInput::NamedLeaf) {
        auto [it, fresh] = leaf_ids.emplace(in.name, static_cast<int>(leaf_ids.size()));
        if (fresh) s += fmt::format("  p{} [shape=ellipse, label=\"{}\"];\n", it->second, dot_escape(in.name));
        s += fmt::format("  p{} -> n{};\n", it->second, g.id);
      }
    }
  }
  return s + "}\n";
}

std::string graph_json(const std::vector<GraphNode>& nodes) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& g : nodes) {
    nlohmann::json ins = nlohmann::json::array();
    for (const auto& in : g.inputs) {
      if (in.kind == GraphInput::NodeOutput) ins.push_back({{"node", in.node}});
      else if (in.kind == GraphInput::NamedLeaf) ins.push_back({{"leaf", in.name}});
      else if (in.kind == GraphInput::Leaf) ins.push_back({{"leaf", nullptr}});
      else ins.push_back(nullptr);
    }
    nlohmann::json node = {{"id", g.id},       {"op", g.op},   {"module", g.module}, {"shape", g.shape},
                           {"dtype", dtype_name(g.dtype)}, {"inputs", ins}};
    if (!g.values.empty()) node["values"] = g.values;
    arr.push_back(node);
  }
  return arr.dump(1) + "\n";
}

}  // namespace sg
