// node.h: one recorded op of the dynamic graph.
// A Node keeps what its backward needs (captured by the `backward` closure) and the autograd
// metadata of its inputs. backward() walks nodes in topological order with a loop (autograd/engine.cpp).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sg {

struct Node {
  std::string op;           // "matmul", "layer_norm", ...
  std::string module_path;  // "vision_model.encoder.layers.3.mlp.fc1" when created inside a named module
  Shape output_shape;       // what the op produced (autograd/graph.cpp shows it)
  DType output_dtype = DType::F32;
  uint64_t sequence = 0;    // creation order: graphs list nodes in the order the forward pass ran them
  // Autograd metadata of each input; null where that input needs no gradient.
  std::vector<std::shared_ptr<AutogradMeta>> inputs;
  std::weak_ptr<AutogradMeta> output;
  // grad_out -> one gradient per input (undefined where inputs[i] is null). Reset after backward
  // (which frees the saved tensors) unless retain_graph.
  std::function<std::vector<Tensor>(const Tensor& grad_out)> backward;
  bool released = false;

  bool needs_grad(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // frees long chains iteratively: no recursion, whatever the graph's depth
};

// Records `out` as the result of `op` over `inputs` when grad mode is on and any input requires grad.
// `make_backward` is called only then, so ops save tensors for backward only when they will be used.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor&)>;
Tensor record(Tensor out, const char* op, const std::vector<Tensor>& inputs,
              const std::function<BackwardFn(const Node&)>& make_backward);

// Grad mode: on by default; NoGradGuard turns it off within a scope (optimisers, evaluation).
bool grad_enabled();
void set_grad_enabled(bool on);
struct NoGradGuard {
  bool prev;
  NoGradGuard() : prev(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev); }
};

// Module paths: nn::Module pushes its name while it runs, so every node knows which layer made it.
struct ModuleScope {
  explicit ModuleScope(const std::string& name);
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;
};
std::string current_module_path();

// Walks the graph from `root` and calls fn(node) for every node in topological order (outputs first).
void visit_graph(const Tensor& root, const std::function<void(const Node&)>& fn);

// The backward pass (autograd/engine.cpp).
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph);

}  // namespace sg
