// engine.cpp: recording nodes and the backward pass.
// backward() is Kahn's algorithm over the nodes reachable from the root: count how many consumers each
// node has, start from the root, and run a node once all its consumers have handed it their gradient.
// No recursion, so 10,000-node chains are fine.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "autograd/anomaly.h"
#include "autograd/node.h"
#include "tensor/dispatch.h"

namespace sg {
namespace {
thread_local bool g_grad_enabled = true;
thread_local bool g_retain_forward = false;
thread_local std::vector<std::string> g_module_stack;
std::atomic<uint64_t> g_sequence{0};

// a + b for two gradients of one tensor (same shape, dtype and device), with the binary Add kernel: the
// engine sits below the differentiable ops and records nothing.
Tensor sum_of(const Tensor& a, const Tensor& b) {
  SG_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype() && a.device() == b.device(),
           "backward: two gradients of one tensor differ: {} and {}", a.describe(), b.describe());
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (out.numel() > 0)
    SG_FLOAT_TYPES(a.dtype(), "backward",
                   SG_KERNEL(a.device(), binary<T>, Binary::Add, a.data<T>(), a.strides(), b.data<T>(), b.strides(),
                             out.data<T>(), a.shape()));
  return out;
}

Tensor accumulate(const Tensor& acc, const Tensor& g) { return acc.defined() ? sum_of(acc, g) : g; }

std::atomic<bool> g_anomaly{[] {
  const char* v = std::getenv("SG_DETECT_ANOMALY");
  return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
}()};

// The first NaN or Inf of a float tensor (copied to the host as f64): its index and value; index -1 if none.
struct NonFinite {
  int64_t index = -1;
  double value = 0;
};
NonFinite first_non_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return {};
  std::vector<double> v = t.detach().to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return {static_cast<int64_t>(i), v[i]};
  return {};
}

std::string node_name(const Node& n) {
  return fmt::format("'{}'{}{} (op number {} recorded by this process)", n.op, n.module_path.empty() ? "" : " in module ",
                     n.module_path, n.sequence);
}
}  // namespace

bool anomaly_detection_enabled() { return g_anomaly; }
void set_anomaly_detection(bool on) { g_anomaly = on; }

Node::~Node() {
  // Dropping the last reference to a deep chain would recurse once per node through shared_ptr destructors.
  // Instead, take over the producers that only this node keeps alive and release them one by one.
  std::vector<std::shared_ptr<Node>> stack;
  auto take = [&stack](std::vector<std::shared_ptr<AutogradMeta>>& ins) {
    for (auto& m : ins)
      if (m && m.use_count() == 1 && m->grad_fn && m->grad_fn.use_count() == 1) stack.push_back(std::move(m->grad_fn));
    ins.clear();
  };
  take(inputs);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    take(n->inputs);
  }  // n dies here with no inputs left: no recursion
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }
bool retain_forward_enabled() { return g_retain_forward; }
void set_retain_forward(bool on) { g_retain_forward = on; }

ModuleScope::ModuleScope(const std::string& name) { g_module_stack.push_back(name); }
ModuleScope::~ModuleScope() { g_module_stack.pop_back(); }
std::string current_module_path() {
  std::string path;
  for (const auto& s : g_module_stack) {
    if (s.empty()) continue;
    if (!path.empty()) path += '.';
    path += s;
  }
  return path;
}

Tensor record(Tensor out, const char* op, const std::vector<Tensor>& inputs,
              const std::function<BackwardFn(const Node&)>& make_backward) {
  return record(std::move(out), op, inputs, ReplayFn(), make_backward);
}

Tensor record(Tensor out, const char* op, const std::vector<Tensor>& inputs, const ReplayFn& replay,
              const std::function<BackwardFn(const Node&)>& make_backward) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->module_path = current_module_path();
  node->output_shape = out.shape();
  node->output_dtype = out.dtype();
  node->sequence = g_sequence++;
  for (const auto& t : inputs) {
    node->inputs.push_back(t.defined() && t.requires_grad() ? t.impl()->meta : nullptr);
  }
  node->backward = make_backward(*node);
  if (g_retain_forward) {  // detached copies of the handles: no node owns its own output's metadata
    node->saved_output = out.detach();
    for (const auto& t : inputs) node->saved_inputs.push_back(t.defined() ? t.detach() : Tensor());
    node->replay = replay;
  }
  if (g_anomaly) {
    const NonFinite bad = first_non_finite(out);
    SG_CHECK(bad.index < 0, "anomaly: the forward of {} produced {} at element {} of its output {}", node_name(*node),
             bad.value, bad.index, out.describe());
  }
  AutogradMeta& m = out.meta();
  m.requires_grad = true;
  m.grad_fn = node;
  node->output = out.impl()->meta;
  return out;
}

void visit_graph(const Tensor& root, const std::function<void(Node&)>& fn) {
  if (!root.defined() || !root.grad_fn()) return;
  // Iterative DFS post-order, then reversed: a topological order with outputs first.
  std::vector<Node*> order;
  std::unordered_map<Node*, bool> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  seen[root.grad_fn().get()] = true;
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->inputs.size()) {
      auto& in = n->inputs[i++];
      if (in && in->grad_fn && !seen[in->grad_fn.get()]) {
        seen[in->grad_fn.get()] = true;
        stack.push_back({in->grad_fn.get(), 0});
      }
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) fn(**it);
}

void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph) {
  SG_CHECK(root.defined(), "backward: undefined tensor");
  SG_CHECK(root.requires_grad(), "backward: tensor {} does not require grad (no input of its graph does)",
           root.describe());
  Tensor g0 = grad_root;
  if (!g0.defined()) {
    SG_CHECK(root.numel() == 1,
             "backward: grad can be implied only for a scalar output, got shape {}; pass a gradient of that shape",
             root.shape_str());
    g0 = ones(root.shape(), root.dtype(), root.device());
  } else {
    SG_CHECK(g0.shape() == root.shape(), "backward: gradient shape {} does not match output shape {}",
             g0.shape_str(), root.shape_str());
    SG_CHECK(g0.dtype() == root.dtype() && g0.device() == root.device(),
             "backward: gradient {} does not match output {} in dtype or device", g0.describe(), root.describe());
  }
  NoGradGuard no_grad;  // backward formulas are not themselves recorded (no double backward)

  std::vector<std::pair<std::shared_ptr<AutogradMeta>, Tensor>> leaf_grads;  // in first-touch order
  std::unordered_map<AutogradMeta*, size_t> leaf_index;
  auto add_leaf_grad = [&](const std::shared_ptr<AutogradMeta>& m, const Tensor& g) {
    auto it = leaf_index.find(m.get());
    if (it == leaf_index.end()) {
      leaf_index[m.get()] = leaf_grads.size();
      leaf_grads.push_back({m, g});
    } else {
      leaf_grads[it->second].second = accumulate(leaf_grads[it->second].second, g);
    }
  };

  std::shared_ptr<Node> root_node = root.grad_fn();
  if (!root_node) {  // a leaf: its gradient is the given one
    add_leaf_grad(root.impl()->meta, g0);
  } else {
    // Count each node's consumers inside this graph.
    std::unordered_map<Node*, int> consumers;
    visit_graph(root, [&](const Node& n) {
      for (auto& in : n.inputs)
        if (in && in->grad_fn) consumers[in->grad_fn.get()]++;
    });
    std::unordered_map<Node*, Tensor> pending{{root_node.get(), g0}};
    std::vector<std::shared_ptr<Node>> ready{root_node};
    while (!ready.empty()) {
      std::shared_ptr<Node> node = std::move(ready.back());
      ready.pop_back();
      SG_CHECK(!node->released,
               "backward: the graph of '{}' was already freed by an earlier backward; pass retain_graph=true to "
               "backward twice",
               node->op);
      Tensor g = std::move(pending[node.get()]);
      pending.erase(node.get());
      if (auto out = node->output.lock()) {
        for (auto& hook : out->hooks) {
          Tensor h = hook(g);
          if (h.defined()) g = h;
        }
        if (out->retain_grad) {
          Tensor prev = out->grad ? Tensor(out->grad) : Tensor();
          out->grad = accumulate(prev, g.clone()).impl_ptr();
        }
      }
      for (auto& hook : node->pre_hooks) {
        Tensor h = hook(g);
        if (!h.defined()) continue;
        SG_CHECK(h.shape() == g.shape() && h.dtype() == g.dtype() && h.device() == g.device(),
                 "backward: a pre-hook of {} returned {} for its gradient {}", node_name(*node), h.describe(),
                 g.describe());
        g = h;
      }
      std::vector<Tensor> grads = node->backward(g);
      if (g_anomaly) {
        for (size_t i = 0; i < grads.size(); ++i) {
          const NonFinite bad = first_non_finite(grads[i]);
          SG_CHECK(bad.index < 0,
                   "anomaly: the backward of {} gave {} at element {} of the gradient of its input {} ({}); the "
                   "gradient it received was {}",
                   node_name(*node), bad.value, bad.index, i, grads[i].describe(),
                   first_non_finite(g).index < 0 ? "finite" : "already not finite");
        }
      }
      for (auto& hook : node->post_hooks) {
        std::vector<Tensor> replaced = hook(grads, g);
        if (replaced.empty()) continue;
        SG_CHECK(replaced.size() == grads.size(), "backward: a post-hook of {} returned {} gradients for {} inputs",
                 node_name(*node), replaced.size(), grads.size());
        for (size_t i = 0; i < grads.size(); ++i) {
          if (!replaced[i].defined()) continue;
          SG_CHECK(grads[i].defined(), "backward: a post-hook of {} gave a gradient to input {}, which needs none",
                   node_name(*node), i);
          SG_CHECK(replaced[i].shape() == grads[i].shape() && replaced[i].dtype() == grads[i].dtype() &&
                       replaced[i].device() == grads[i].device(),
                   "backward: a post-hook of {} returned {} for input {}'s gradient {}", node_name(*node),
                   replaced[i].describe(), i, grads[i].describe());
          grads[i] = replaced[i];
        }
      }
      g = Tensor();
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        auto& in = node->inputs[i];
        if (!in || !grads[i].defined()) continue;
        if (in->grad_fn) {
          Node* next = in->grad_fn.get();
          pending[next] = accumulate(pending[next], grads[i]);
          if (--consumers[next] == 0) ready.push_back(in->grad_fn);
        } else {
          add_leaf_grad(in, grads[i]);
        }
      }
      if (!retain_graph) {
        node->backward = nullptr;  // frees the saved tensors now
        node->released = true;
      }
    }
  }
  for (auto& [m, g] : leaf_grads) {
    Tensor gg = g;
    for (auto& hook : m->hooks) {
      Tensor h = hook(gg);
      if (h.defined()) gg = h;
    }
    // A fresh copy: a backward formula may hand the same tensor to several inputs.
    Tensor prev = m->grad ? Tensor(m->grad) : Tensor();
    m->grad = (prev.defined() ? sum_of(prev, gg) : gg.clone()).impl_ptr();
  }
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph); }
std::string Tensor::grad_fn_name() const { return grad_fn() ? grad_fn()->op : std::string(); }

}  // namespace sg
