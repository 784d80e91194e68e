// trace.h: one backward pass, node by node (`siglip trace`, examples/trace_backward.cpp).
//
//   RetainForwardGuard keep;            // the forward keeps each node's output, inputs and replay
//   Tensor loss = f(x);
//   BackwardTrace trace(loss, names);   // node ids as `siglip graph` prints them
//   trace.run_backward();               // a node post-hook records what each node receives and sends
//   BackwardCheck c = check_backward(trace, CheckSettings{});
//
// The check takes each node alone, from what it received in the real run (dtype and device as they were):
//   kernel:  its inputs and received gradient converted to float64 on the CPU, the op replayed and
//            differentiated there; the gradients the real run sent must match these (tolerance by dtype,
//            kernel_tolerance()). A mismatch means the computation at that node (kernel, rounding, a hook that
//            changed what it sends), not its formula, is at fault.
//   formula: the float64 gradient against central differences of L(x) = sum(replay(x) * g) on a few sampled
//            elements of each input: (L(x + h e_i) - L(x - h e_i)) / 2h, summed from replay(x + h e_i) -
//            replay(x - h e_i) so that unchanged outputs cancel exactly. A mismatch means the backward formula
//            itself is wrong.
// Since each node is checked with the gradient it actually received, an error upstream does not spread: the first
// node (in backward order) that fails is the one at fault.
// This file belongs to the ops layer (it replays and differentiates ops), like gradcheck.
#pragma once
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/graph.h"

namespace sg {

// Statistics of a tensor's values (copied to the host as float64); non-finite values are counted, not averaged.
struct ValueStats {
  int64_t numel = 0, non_finite = 0;
  double mean = 0, std = 0, max_abs = 0, norm = 0, zero_fraction = 0;
};
ValueStats value_stats(const Tensor& t);

struct TracedNode {
  GraphNode graph;        // id (as `siglip graph`), op, module, output shape, where each input comes from
  Node* node = nullptr;   // alive while the trace holds the root
  int step = -1;          // position in the backward pass (0: the root's node); -1: not reached
  Tensor grad;            // the gradient it received (after its pre-hooks)
  std::vector<Tensor> grads_sent;  // what it sent to each input (after its post-hooks); undefined where none
  const Tensor& output() const { return node->saved_output; }          // undefined without RetainForwardGuard
  const std::vector<Tensor>& inputs() const { return node->saved_inputs; }
  // "#12", a leaf's name, "(leaf)" or "(no grad)": where input i comes from
  std::string input_label(size_t i) const;
};

class BackwardTrace {
 public:
  // root: a result computed under a RetainForwardGuard; leaf_names names leaves (parameters) by their metadata.
  BackwardTrace(Tensor root, std::map<const AutogradMeta*, std::string> leaf_names);
  // Called after each node's backward and post-hooks, in backward order (`--step` pauses there).
  std::function<void(const TracedNode&)> on_node;
  // Registers a post-hook on every node (after any registered before this call) and runs root.backward(grad).
  void run_backward(const Tensor& grad = Tensor());
  std::vector<TracedNode>& nodes() { return nodes_; }  // by id: forward order
  const std::vector<TracedNode>& nodes() const { return nodes_; }
  std::vector<const TracedNode*> backward_order() const;
  // The first node (in forward order) whose op is `op` inside a module starting with `module`, or null.
  TracedNode* find(const std::string& op, const std::string& module = "", int nth = 0);
  const Tensor& root() const { return root_; }
  const std::map<const AutogradMeta*, std::string>& leaf_names() const { return leaf_names_; }

 private:
  Tensor root_;
  std::map<const AutogradMeta*, std::string> leaf_names_;
  std::vector<TracedNode> nodes_;
  int steps_ = 0;
};

// ---- the table: one row per node, in backward order ----
struct TableLayout {
  size_t op = 2, module = 6, shape = 5;
};
// Column widths that fit the nodes (those `keep` accepts, when given).
TableLayout table_layout(const std::vector<TracedNode>& nodes, const std::function<bool(const TracedNode&)>& keep = {});
std::string trace_header(const TableLayout& l);
// One row; with `values`, tensors of at most `small` elements (output, gradient, inputs, gradients sent) in full.
std::string trace_row(const TracedNode& n, const TableLayout& l, bool values, int64_t small = 16);
nlohmann::json trace_row_json(const TracedNode& n, bool values, int64_t small = 16);
// "[4, 3] float32  mean ... std ... max|x| ...", then the values (PyTorch-style, long tensors shortened)
std::string tensor_report(const Tensor& t);

// ---- --step: pause after each node and read commands ----
// Enter or n: next node; p NAME: print out, grad, inK, ginK or a named tensor (a parameter); b OP: run to the next
// node of that op; c: run to the end; q: quit (the backward finishes without pausing or printing). End of input
// acts as c. Rows of the nodes passed are printed as the backward reaches them.
class BackwardStepper {
 public:
  // echo: write each command read after its prompt (input from a pipe or a file is not shown otherwise)
  BackwardStepper(std::istream& in, std::ostream& out, TableLayout layout, std::map<std::string, Tensor> named,
                  bool values, bool echo = true);
  void operator()(const TracedNode& n);
  bool quit() const { return quit_; }

 private:
  void print(const TracedNode& n, const std::string& what);
  std::istream& in_;
  std::ostream& out_;
  TableLayout layout_;
  std::map<std::string, Tensor> named_;
  bool values_, echo_, quit_ = false, running_ = false;
  std::string break_op_;
};

// ---- --check ----
struct CheckSettings {
  int samples = 4;             // sampled elements per input for the central differences
  double eps = 1e-6;           // h = eps * max(1, |x_i|)
  double formula_tol = 1e-5;   // float64 analytic vs central differences (normwise relative)
  double kernel_tol = 0;       // real run vs float64 replay; 0: kernel_tolerance() of the node's dtypes
  uint64_t seed = 0;           // of the sampled elements
};
// The kernel tolerance of a dtype: float64 1e-9, float32 1e-3, bfloat16 3e-2 (normwise relative: the largest
// difference over the largest float64 gradient of that input). f32 GEMMs and reductions over the few thousand
// terms of these models land near 1e-6; a wrong kernel near 1.
double kernel_tolerance(DType dt);

struct NodeCheck {
  int id = 0;
  std::string op, module;
  std::string skipped;  // why it was not checked (no replay, no saved inputs, the replay failed); empty if checked
  // per input (0 where it needs no gradient): normwise relative errors
  std::vector<double> kernel_errors, formula_errors;
  double kernel_error = 0, formula_error = 0, kernel_tol = 0, formula_tol = 0;
  bool kernel_ok() const { return kernel_error <= kernel_tol; }
  bool formula_ok() const { return formula_error <= formula_tol; }
  bool ok() const { return !skipped.empty() || (kernel_ok() && formula_ok()); }
  std::string kind() const;  // "kernel", "formula", "kernel+formula", or "" when it passes
};
NodeCheck check_node(const TracedNode& n, const CheckSettings& s);

struct BackwardCheck {
  std::vector<NodeCheck> nodes;  // backward order
  int first_bad = -1;            // index into nodes of the first that fails, -1 if none
  int skipped = 0;
  bool passed() const { return first_bad < 0; }
};
// Every node reached by the backward (those `keep` accepts, when given), in backward order.
BackwardCheck check_backward(const BackwardTrace& t, const CheckSettings& s,
                             const std::function<bool(const TracedNode&)>& keep = {});
// Per-node lines and the verdict: "first disagreement: #37 layer_norm ...: kernel" or "all N nodes agree".
std::string check_text(const BackwardCheck& c, const CheckSettings& s);
nlohmann::json check_json(const BackwardCheck& c);

}  // namespace sg
