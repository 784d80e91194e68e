// node.h: one recorded op of the dynamic graph.
// A Node keeps what its backward needs (captured by the `backward` closure) and the autograd
// metadata of its inputs. backward() walks nodes in topological order with a loop (autograd/engine.cpp).
// Hooks on a node (PyTorch's Node.register_prehook / register_hook) see the gradient it receives and the
// gradients it sends; under a RetainForwardGuard a node also keeps its forward output, its inputs and a `replay`
// that recomputes its forward (for `siglip trace`, autograd/trace.h).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sg {

// Recomputes an op's forward from tensors in the place of its inputs (same order as record()'s `inputs`; an
// undefined tensor where the op had none), with the op's other arguments (eps, dims, scale, index tensors, ...)
// captured. A replay calls the op itself, so that the node it records has the same backward formula. The result
// has the dtype and device of the given inputs: a replay of a dtype or device conversion is a plain copy, so that
// a whole graph can be recomputed in float64 on the CPU.
using ReplayFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// Node hooks. A pre-hook sees the gradient a node receives (its output's) before its backward runs and may
// return a replacement (an undefined Tensor: keep it). A post-hook sees, after the backward, the gradients the
// node sends to each of its inputs (undefined where an input needs none) and the gradient it received; it may
// return replacements (one per input, undefined: keep that one) or an empty vector (keep all).
using NodePreHook = std::function<Tensor(const Tensor& grad_output)>;
using NodePostHook =
    std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_inputs, const Tensor& grad_output)>;

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
  // Hooks, called by the backward pass in the order registered (pre-hooks after the output tensor's own hooks).
  std::vector<NodePreHook> pre_hooks;
  std::vector<NodePostHook> post_hooks;
  void register_prehook(NodePreHook hook) { pre_hooks.push_back(std::move(hook)); }
  void register_hook(NodePostHook hook) { post_hooks.push_back(std::move(hook)); }
  // Kept only when the node was recorded under a RetainForwardGuard (else undefined / empty): the forward output
  // and the op's inputs, detached (sharing storage: no reference cycle), and the op's replay. They live as long
  // as the node, after backward too.
  Tensor saved_output;
  std::vector<Tensor> saved_inputs;
  ReplayFn replay;

  bool needs_grad(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // frees long chains iteratively: no recursion, whatever the graph's depth
};

// Records `out` as the result of `op` over `inputs` when grad mode is on and any input requires grad.
// `make_backward` is called only then, so ops save tensors for backward only when they will be used.
// `replay` recomputes the op's forward from other inputs (ReplayFn); it is kept only under a RetainForwardGuard.
// The form without a replay is for ops of one's own that do not need one: `siglip trace --check` reports
// their nodes as not checked.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor&)>;
Tensor record(Tensor out, const char* op, const std::vector<Tensor>& inputs, const ReplayFn& replay,
              const std::function<BackwardFn(const Node&)>& make_backward);
Tensor record(Tensor out, const char* op, const std::vector<Tensor>& inputs,
              const std::function<BackwardFn(const Node&)>& make_backward);

// Under a RetainForwardGuard every node recorded keeps its forward output, its inputs and its replay (Node's
// saved_output, saved_inputs, replay), so that a tool can show and recompute each op after the backward pass.
// Off by default: training keeps nothing more than its backward formulas save.
bool retain_forward_enabled();
void set_retain_forward(bool on);
struct RetainForwardGuard {
  bool prev;
  explicit RetainForwardGuard(bool on = true) : prev(retain_forward_enabled()) { set_retain_forward(on); }
  ~RetainForwardGuard() { set_retain_forward(prev); }
  RetainForwardGuard(const RetainForwardGuard&) = delete;
  RetainForwardGuard& operator=(const RetainForwardGuard&) = delete;
};

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
void visit_graph(const Tensor& root, const std::function<void(Node&)>& fn);

// The backward pass (autograd/engine.cpp).
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph);

}  // namespace sg
