// trace_backward.cpp: inside one backward pass, node by node. A small residual MLP block
//   h = x + fc2(gelu(fc1(layer_norm(x))))   x: [6, 8], hidden 16
//   loss = sum(log_softmax(h) * targets) * (-1 / 6)
// runs forward under a RetainForwardGuard (each node keeps its output, inputs and a replay of its forward). A
// post-hook on every node prints, during the backward, the op, the norm of the gradient it received and of what it
// sends to each input. Then check_backward() replays each node in float64 and compares: with the gradients of this
// float32 run (kernel) and with central differences (formula). Build and run:
// make examples && build/examples/trace_backward
#include <cmath>
#include <cstdio>

#include "sg.h"

using namespace sg;

static double norm_of(const Tensor& t) { return t.defined() ? value_stats(t).norm : 0.0; }

int main() {
  nn::LayerNorm norm(8);
  nn::Linear fc1(8, 16), fc2(16, 8);
  Generator gen(1);
  for (Tensor* p : {&fc1.weight, &fc1.bias, &fc2.weight, &fc2.bias, &norm.bias})  // layers start at zero
    p->detach().copy_(mul(randn(p->shape(), DType::F32, &gen), 0.3));
  Tensor x = randn({6, 8}, DType::F32, &gen);
  Tensor targets = zeros({6, 8});
  for (int64_t i = 0; i < 6; ++i) targets.detach().select(0, i).narrow(0, i, 1).fill_(1);  // class i for row i

  Tensor loss;
  {
    RetainForwardGuard keep;
    Tensor h = add(x, fc2.forward(gelu(fc1.forward(norm.forward(x)))));  // [6, 8]
    loss = mul(sum(mul(log_softmax(h, -1), targets)), -1.0 / 6);
  }
  std::printf("loss %.6f\n\n", loss.item());

  // Names for the parameters, so that the graph shows "fc1.weight" rather than "(leaf)".
  std::map<const AutogradMeta*, std::string> names{
      {norm.weight.impl()->meta.get(), "norm.weight"}, {norm.bias.impl()->meta.get(), "norm.bias"},
      {fc1.weight.impl()->meta.get(), "fc1.weight"},   {fc1.bias.impl()->meta.get(), "fc1.bias"},
      {fc2.weight.impl()->meta.get(), "fc2.weight"},   {fc2.bias.impl()->meta.get(), "fc2.bias"}};
  BackwardTrace trace(loss, names);

  // Node hooks of our own (PyTorch's Node.register_hook): what each node received and sent, as the backward runs.
  int seen = 0;
  double sent_to_fc1_weight = -1;
  std::printf("%-5s %-12s %12s   %s\n", "node", "op", "grad in", "grad out (per input)");
  for (TracedNode& tn : trace.nodes()) {
    tn.node->register_hook([&seen, &sent_to_fc1_weight, &tn](const std::vector<Tensor>& sent, const Tensor& g) {
      ++seen;
      std::string outs;
      for (size_t i = 0; i < sent.size(); ++i) {
        if (!sent[i].defined() || !tn.node->needs_grad(i)) continue;  // x needs none (add computes one anyway)
        char num[32];
        std::snprintf(num, sizeof num, " %.4e   ", norm_of(sent[i]));
        outs += tn.input_label(i) + num;
        if (tn.input_label(i) == "fc1.weight") sent_to_fc1_weight = norm_of(sent[i]);
      }
      std::printf("#%-4d %-12s %12.4e   %s\n", tn.graph.id, tn.graph.op.c_str(), norm_of(g), outs.c_str());
      return std::vector<Tensor>{};  // keep the gradients as they are
    });
  }
  trace.run_backward();  // the trace's own hook runs after ours on every node

  // Re-check every node in float64.
  CheckSettings settings;
  const BackwardCheck check = check_backward(trace, settings);
  std::printf("\n%s", check_text(check, settings).c_str());

  const bool all_seen = seen == static_cast<int>(trace.nodes().size());
  const bool weight_grad_matches = sent_to_fc1_weight > 0 &&
                                   std::abs(sent_to_fc1_weight - norm_of(fc1.weight.grad())) <= 1e-6 * sent_to_fc1_weight;
  std::printf("\nhooks saw %d of %zu nodes; fc1.weight received %.6e from its node, its .grad() has norm %.6e\n", seen,
              trace.nodes().size(), sent_to_fc1_weight, norm_of(fc1.weight.grad()));
  return check.passed() && check.skipped == 0 && all_seen && weight_grad_matches ? 0 : 1;
}
