// cmd_graph.cpp: `siglip graph`: the recorded forward graph of one batch through SigLIP and its loss, one node per
// op (fused or, with --unfused, their pieces) or one per module (--collapse-modules DEPTH).
#include <cstdlib>
#include <map>
#include <memory>

#include "autograd/graph.h"
#include "autograd/graph_modules.h"
#include "nn/fileio.h"
#include "nn/unfused.h"
#include "siglip/commands.h"
#include "siglip/model_batch.h"

namespace sg {
namespace {

std::string render(const std::vector<GraphNode>& nodes, GraphFormat f) {
  switch (f) {
    case GraphFormat::Text: return graph_text(nodes);
    case GraphFormat::Dot: return graph_dot(nodes);
    case GraphFormat::Json: return graph_json(nodes);
  }
  fail("graph: format {} has no printer", static_cast<int>(f));
}

std::string render(const std::vector<ModuleNode>& nodes, GraphFormat f) {
  switch (f) {
    case GraphFormat::Text: return module_graph_text(nodes);
    case GraphFormat::Dot: return module_graph_dot(nodes);
    case GraphFormat::Json: return module_graph_json(nodes);
  }
  fail("graph: format {} has no printer", static_cast<int>(f));
}

}  // namespace

int run_graph(const GraphOptions& o) {
  SG_CHECK(o.collapse_modules >= 0, "graph: --collapse-modules must be 0 (one node per op) or a depth >= 1, got {}",
           o.collapse_modules);
  ModelBatch in = model_batch({.command = "graph", .checkpoint = o.checkpoint, .config = o.config, .batch = o.batch,
                               .seed = o.seed, .step = 1});
  SiglipModel& m = in.model();
  SG_CHECK(!(o.values && o.collapse_modules > 0), "graph: --values shows ops, not modules: drop --collapse-modules");
  nn::UnfusedGuard unfused_scope(o.unfused);
  Tensor loss;
  {
    RetainForwardGuard keep(o.values);  // --values: every node keeps its output
    loss = model_batch_loss(in);
  }

  std::map<const AutogradMeta*, std::string> names;
  for (const auto& [name, p] : m.named_parameters())
    if (p->impl()->meta) names[p->impl()->meta.get()] = name;
  std::vector<GraphNode> nodes = describe_graph(loss, names);
  if (o.values) {  // the gradient each node receives, caught by a pre-hook during one backward pass
    const std::vector<Node*> order = graph_nodes(loss);
    std::vector<Tensor> received(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i]->register_prehook([&received, i](const Tensor& g) {
        received[i] = g;
        return Tensor();
      });
    loss.backward();
    for (size_t i = 0; i < order.size(); ++i) nodes[i].values = value_summary(order[i]->saved_output, received[i]);
  }
  if (!o.module.empty()) {
    std::erase_if(nodes, [&](const GraphNode& g) { return g.module.rfind(o.module, 0) != 0; });
    SG_CHECK(!nodes.empty(), "graph: no node was made inside a module starting with '{}'", o.module);
    // ids stay those of the whole graph; collapsing below renumbers its own
  }
  std::vector<ModuleNode> modules;
  if (o.collapse_modules > 0) {
    // --module kept a subset: inputs from dropped nodes become leaves of unknown origin for the collapse
    std::vector<int> index(nodes.empty() ? 0 : static_cast<size_t>(nodes.back().id) + 1, -1);
    for (size_t i = 0; i < nodes.size(); ++i) index[static_cast<size_t>(nodes[i].id)] = static_cast<int>(i);
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i].id = static_cast<int>(i);
      for (auto& g_in : nodes[i].inputs)
        if (g_in.kind == GraphInput::NodeOutput) {
          if (index[static_cast<size_t>(g_in.node)] < 0) g_in.kind = GraphInput::Leaf;
          else g_in.node = index[static_cast<size_t>(g_in.node)];
        }
    }
    modules = collapse_modules(nodes, o.collapse_modules);
  }

  const bool svg = o.out.size() > 4 && o.out.ends_with(".svg");
  const GraphFormat format = svg ? GraphFormat::Dot : o.format;
  const std::string text = o.collapse_modules > 0 ? render(modules, format) : render(nodes, format);
  if (o.out.empty()) {
    fmt::print("{}", text);
  } else if (!svg) {
    write_file_atomic(o.out, text);
  } else {
    const std::string dot_file = o.out + ".dot";
    write_file_atomic(dot_file, text);
    const std::string cmd = fmt::format("dot -Tsvg -o '{}' '{}'", o.out, dot_file);
    SG_CHECK(std::system(cmd.c_str()) == 0, "graph: `{}` failed (is Graphviz installed? apt-get install graphviz); "
             "the DOT is in {}", cmd, dot_file);
  }
  if (!o.out.empty())
    fmt::print(stderr, "graph: {} nodes, loss {:.4f}, written to {}\n",
               o.collapse_modules > 0 ? modules.size() : nodes.size(), loss.item(), o.out);
  return 0;
}

}  // namespace sg
