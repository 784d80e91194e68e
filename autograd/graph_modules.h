// graph_modules.h: a recorded graph (graph.h) with one node per module at a depth of the module path, so that
// a whole model fits on a page (`siglip graph --collapse-modules 4`: one node per encoder layer). Depth counts
// the dotted parts of the path: depth 4 groups "vision_model.encoder.layers.3.mlp.fc1" under
// "vision_model.encoder.layers.3"; a node whose path is shorter than the depth keeps its own path; a node made
// outside every module (the loss) stays a node of its own.
#pragma once
#include <string>
#include <vector>

#include "autograd/graph.h"

namespace sg {

struct ModuleNode {
  int id = 0;          // in forward order of each group's first op
  std::string module;  // the path cut at the depth; empty for an op outside every module
  std::string op;      // the op of a node outside every module, else empty
  int ops = 0;         // ops recorded inside
  int parameters = 0;  // distinct named leaves (parameters) read inside
  Shape shape;         // the output of the group's last op
  DType dtype = DType::F32;
  std::vector<GraphInput> inputs;  // from other groups (node = a ModuleNode id), leaves, inputs without grad; once each
};

// "vision_model.encoder.layers.3.mlp" at depth 4 -> "vision_model.encoder.layers.3".
std::string module_prefix(const std::string& path, int depth);
std::vector<ModuleNode> collapse_modules(const std::vector<GraphNode>& nodes, int depth);

// One line per group: "#1 vision_model.encoder.layers.0 [4, 36, 96] <- #0 (24 ops, 16 parameters)"; DOT with one
// box per group; JSON.
std::string module_graph_text(const std::vector<ModuleNode>& nodes);
std::string module_graph_dot(const std::vector<ModuleNode>& nodes);
std::string module_graph_json(const std::vector<ModuleNode>& nodes);

}  // namespace sg
