// graph.h: the recorded graph of a result as a list, for showing it (`siglip graph`): every node in forward
// order with its op, module, output shape and where each input comes from (another node, a named leaf such as
// a parameter, or an input that needs no gradient).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "autograd/node.h"

namespace sg {

struct GraphInput {
  enum Kind { NodeOutput, NamedLeaf, Leaf, NoGrad } kind = NoGrad;
  int node = -1;     // NodeOutput: the producing node's id
  std::string name;  // NamedLeaf: e.g. the parameter's Hugging Face name
};

struct GraphNode {
  int id = 0;  // 0 = the first op of the forward pass; the root has the largest id
  std::string op, module;
  Shape shape;
  DType dtype = DType::F32;
  std::vector<GraphInput> inputs;  // one per input of the op, in the op's argument order
  std::string values;              // optional (`siglip graph --values`): "data ... | grad ...", see value_summary
};

// micrograd's draw_dot in one line: a node's output (in full up to 4 elements, else mean, std and max |x|) and
// the gradient it received in the backward pass (in full up to 4 elements, else norm and max |g|). Either
// tensor may be undefined ("data ?", "grad ?").
std::string value_summary(const Tensor& data, const Tensor& grad);

// "#12" (a node's output), a named leaf's name, "(leaf)" or "(no grad)"
std::string input_text(const GraphInput& in);

// The nodes reachable from root in forward order (creation order): graph_nodes(root)[i] is node #i of
// describe_graph(root, ...), the id `siglip graph` and `siglip trace` print.
std::vector<Node*> graph_nodes(const Tensor& root);

// The nodes reachable from root, in forward order. `leaf_names` names leaves by their autograd metadata (for
// a model: each parameter's impl()->meta, see Module::named_parameters).
std::vector<GraphNode> describe_graph(const Tensor& root, const std::map<const AutogradMeta*, std::string>& leaf_names);

// The formats of `siglip graph`: one line per node ("#12 linear vision_model.head [4, 96] <- #11, <name>"),
// Graphviz DOT with one cluster per module and parameters as named leaves, and JSON.
std::string graph_text(const std::vector<GraphNode>& nodes);
std::string graph_dot(const std::vector<GraphNode>& nodes);
std::string graph_json(const std::vector<GraphNode>& nodes);

}  // namespace sg
