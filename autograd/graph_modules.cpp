// graph_modules.cpp: a graph collapsed to one node per module (graph_modules.h).
#include "autograd/graph_modules.h"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

namespace sg {

std::string module_prefix(const std::string& path, int depth) {
  SG_CHECK(depth >= 1, "graph: module depth must be at least 1, got {}", depth);
  size_t pos = 0;
  for (int d = 1;; ++d, ++pos) {
    pos = path.find('.', pos);
    if (pos == std::string::npos) return path;  // shorter than depth: the whole path
    if (d == depth) return path.substr(0, pos);
  }
}

std::vector<ModuleNode> collapse_modules(const std::vector<GraphNode>& nodes, int depth) {
  std::vector<ModuleNode> out;
  std::vector<int> group_of(nodes.size());  // GraphNode id -> ModuleNode id
  std::map<std::string, int> group_of_module;
  std::vector<std::set<std::string>> params;
  std::vector<std::set<std::pair<int, std::string>>> seen;  // inputs already listed: (kind or node, name)
  for (const GraphNode& g : nodes) {
    const std::string key = g.module.empty() ? "" : module_prefix(g.module, depth);
    int gid;
    if (auto it = group_of_module.find(key); !key.empty() && it != group_of_module.end()) {
      gid = it->second;
    } else {
      gid = static_cast<int>(out.size());
      ModuleNode m;
      m.id = gid;
      m.module = key;
      if (key.empty()) m.op = g.op;
      else group_of_module[key] = gid;
      out.push_back(m);
      params.emplace_back();
      seen.emplace_back();
    }
    group_of[static_cast<size_t>(g.id)] = gid;
    ModuleNode& m = out[static_cast<size_t>(gid)];
    m.ops++;
    m.shape = g.shape;  // the last op so far
    m.dtype = g.dtype;
    for (const GraphInput& in : g.inputs) {
      GraphInput gi = in;
      if (in.kind == GraphInput::NodeOutput) {
        gi.node = group_of[static_cast<size_t>(in.node)];
        if (gi.node == gid) continue;  // inside the group
      } else if (in.kind == GraphInput::NamedLeaf && !key.empty()) {
        params[static_cast<size_t>(gid)].insert(in.name);  // counted, not listed
        continue;
      }
      const std::pair<int, std::string> id{in.kind == GraphInput::NodeOutput ? gi.node : -1 - in.kind, gi.name};
      if (seen[static_cast<size_t>(gid)].insert(id).second) m.inputs.push_back(gi);
    }
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].parameters = static_cast<int>(params[i].size());
  return out;
}

namespace {  // (input_text: autograd/graph.h)
std::string label(const ModuleNode& m) { return m.module.empty() ? m.op : m.module; }
std::string contents(const ModuleNode& m) {
  if (m.module.empty()) return "";
  return fmt::format("{} op{}{}", m.ops, m.ops == 1 ? "" : "s",
                     m.parameters ? fmt::format(", {} parameter{}", m.parameters, m.parameters == 1 ? "" : "s") : "");
}
std::string dot_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}
}  // namespace

std::string module_graph_text(const std::vector<ModuleNode>& nodes) {
  std::string s;
  for (const auto& m : nodes) {
    std::vector<std::string> ins;
    for (const auto& in : m.inputs) ins.push_back(input_text(in));
    const std::string c = contents(m);
    s += fmt::format("#{} {} {}{} <- {}{}\n", m.id, label(m), shape_str(m.shape),
                     m.dtype == DType::F32 ? "" : std::string(" ") + dtype_name(m.dtype),
                     ins.empty() ? "-" : fmt::format("{}", fmt::join(ins, ", ")), c.empty() ? "" : " (" + c + ")");
  }
  return s;
}

std::string module_graph_dot(const std::vector<ModuleNode>& nodes) {
  std::string s = "digraph G {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n";
  for (const auto& m : nodes) {
    const std::string c = contents(m);
    s += fmt::format("  n{} [label=\"#{} {}\\n{}{}\"{}];\n", m.id, m.id, dot_escape(label(m)), shape_str(m.shape),
                     c.empty() ? "" : "\\n" + c, m.module.empty() ? ", style=rounded" : "");
  }
  std::map<std::string, int> leaf_ids;
  for (const auto& m : nodes)
    for (const auto& in : m.inputs) {
      if (in.kind == GraphInput::NodeOutput) {
        s += fmt::format("  n{} -> n{};\n", in.node, m.id);
      } else if (in.kind == GraphInput::NamedLeaf) {
        auto [it, fresh] = leaf_ids.emplace(in.name, static_cast<int>(leaf_ids.size()));
        if (fresh) s += fmt::format("  p{} [shape=ellipse, label=\"{}\"];\n", it->second, dot_escape(in.name));
        s += fmt::format("  p{} -> n{};\n", it->second, m.id);
      }
    }
  return s + "}\n";
}

std::string module_graph_json(const std::vector<ModuleNode>& nodes) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& m : nodes) {
    nlohmann::json ins = nlohmann::json::array();
    for (const auto& in : m.inputs) {
      if (in.kind == GraphInput::NodeOutput) ins.push_back({{"node", in.node}});
      else if (in.kind == GraphInput::NamedLeaf) ins.push_back({{"leaf", in.name}});
      else if (in.kind == GraphInput::Leaf) ins.push_back({{"leaf", nullptr}});
      else ins.push_back(nullptr);
    }
    nlohmann::json j = {{"id", m.id}, {"module", m.module}, {"ops", m.ops}, {"parameters", m.parameters},
                        {"shape", m.shape}, {"dtype", dtype_name(m.dtype)}, {"inputs", ins}};
    if (!m.op.empty()) j["op"] = m.op;
    arr.push_back(j);
  }
  return arr.dump(1) + "\n";
}

}  // namespace sg
