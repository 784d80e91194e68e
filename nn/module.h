// module.h: Module = named parameters + named children; the building blocks of the model.
// Parameter names are dotted paths exactly as Hugging Face's SiglipModel names them
// ("vision_model.encoder.layers.0.self_attn.q_proj.weight"), so checkpoints move both ways.
// Each module's forward opens a ModuleScope with its name: every graph node then knows its layer.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "tensor/ops.h"

namespace sg::nn {

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // All parameters below this module, depth first in registration order, with their dotted names.
  std::vector<std::pair<std::string, Tensor*>> named_parameters(const std::string& prefix = "");
  std::vector<Tensor*> parameters();
  const std::string& name() const { return name_; }
  // Frozen parameters get no gradient (requires_grad off): nothing is computed or stored for them.
  void set_requires_grad(bool on);
  // Moves every parameter (and its gradient, if any) to a device; the module keeps the new tensors.
  void to(Device device);
  // Converts every parameter to a dtype (float64 for gradient checks of whole models).
  void to(DType dtype);
  int64_t num_parameters();

 protected:
  void register_parameter(const std::string& name, Tensor* t);
  void register_module(const std::string& name, Module* m);

 private:
  std::string name_;
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<Module*> children_;
};

// Mixed precision (--precision bf16). While a ComputeDTypeGuard(BF16) is alive on this thread, layers use
// their parameters through compute(): a differentiable cast to bf16, so activations and GEMM operands are
// bf16 (f32 accumulation inside the kernels) while the f32 master weights receive f32 gradients (the cast's
// backward widens them). Without a guard, compute(p) is p itself.
class ComputeDTypeGuard {
 public:
  explicit ComputeDTypeGuard(DType dtype);
  ~ComputeDTypeGuard();
  ComputeDTypeGuard(const ComputeDTypeGuard&) = delete;
  ComputeDTypeGuard& operator=(const ComputeDTypeGuard&) = delete;

 private:
  bool had_ = false;
  DType previous_ = DType::F32;
};
bool has_compute_dtype();
DType compute_dtype();                // only when has_compute_dtype()
Tensor compute(const Tensor& t);      // t cast to the compute dtype (floating tensors only), or t itself
Tensor to_f32_output(const Tensor& t);  // a model output back in float32 (for normalisation and the loss)

// Random initialisers, as Hugging Face's SiglipPreTrainedModel._init_weights uses them.
struct Init {
  Generator* gen;
  void normal(Tensor& t, double std) const;
  void lecun_normal(Tensor& t) const;    // truncated normal (+-2 sd), variance 1/fan_in
  void xavier_uniform(Tensor& t) const;  // U(+-sqrt(6 / (fan_in + fan_out)))
  void constant(Tensor& t, double v) const;
};
// PyTorch's fan-in/fan-out: dim 1 and dim 0 times the receptive field (product of dims 2..).
std::pair<int64_t, int64_t> fans(const Tensor& t);

}  // namespace sg::nn
