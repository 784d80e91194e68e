// op_registry.h: one registry of ops drives every op test (ggml's test-backend-ops, PyTorch's OpInfo).
// Each case names an op, makes random inputs (never all zeros), runs the op, and computes the same result
// with a plain reference (loops in f64). From one entry the harness derives: forward against the reference
// (f32 and f64), the same on strided and transposed inputs, backward against f64 central differences
// (contiguous and strided), and CPU against CUDA where a GPU is present. Adding an op = adding entries here.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/ops.h"

namespace sg {

struct OpCase {
  std::string op;    // the op's name, as in ops.h ("matmul")
  std::string name;  // what this case covers ("batched_broadcast")
  // Inputs in the given float dtype (index inputs stay int64). Random, seeded by the harness.
  std::function<std::vector<Tensor>(DType, Generator&)> make_inputs;
  std::function<Tensor(const std::vector<Tensor>&)> forward;    // the op under test
  std::function<Tensor(const std::vector<Tensor>&)> reference;  // plain f64 loops; returns an f64 tensor
  std::vector<size_t> no_grad_inputs;  // float inputs that are not differentiated (masks)
  // The inputs' names, as the op's parameters in tensor/ops.h ("img", "txt", "logit_scale", ...; "x" for the
  // tensor a view or copy is taken of; "ts.0", "ts.1", ... for the list of concat and stack). Set by the registry
  // from the op's name unless the case sets them (a case that skips an optional input).
  std::vector<std::string> input_names = {};
  std::string full_name() const { return op + "/" + name; }
};

struct BadInputCase {
  std::string op, name;
  std::function<void()> run;  // must throw sg::Error
  std::vector<std::string> expect;  // substrings the message must contain
};

const std::vector<OpCase>& op_cases();
const std::vector<BadInputCase>& bad_input_cases();

// Input layouts the harness tries: as made, every input a stride-2 view, every >=2-d input column-major.
enum class Layout { Contiguous, Strided, Transposed };
const char* layout_name(Layout l);
// Same values in the given layout; differentiable (built from views and copies).
Tensor relayout(const Tensor& t, Layout l);

// Forward: max |op - reference| / max(1, max |reference|). The output must have the inputs' dtype (or int64).
// dtype BF16: inputs made in f32 and rounded; the CPU widens them to f32, computes, rounds once per op; the
// reference sees the same bf16 values.
double forward_error(const OpCase& c, DType dtype, Layout layout, uint64_t seed = 7);
// Backward at f64 against central differences, inputs in `layout`.
GradcheckResult gradient_check(const OpCase& c, Layout layout, uint64_t seed = 7);
// The same on the caller's inputs (float64 CPU tensors, or int64 where the case's input is; `no_grad_inputs` and
// int64 inputs are not differentiated). Their shapes are checked by the op itself.
GradcheckResult gradient_check(const OpCase& c, const std::vector<Tensor>& inputs, double eps = 1e-6);
// bf16 backward on the CPU: forward and backward with bf16 inputs and cotangent against the same in f32 on the
// same (bf16-representable) values; the largest error of the output and every input gradient, each relative
// to that tensor's largest f32 magnitude.
double bf16_backward_error(const OpCase& c, uint64_t seed = 7);
// CPU against CUDA: max relative error of the output and of every input gradient. dtype F32 or BF16 (then
// both devices get the same bf16 inputs and cotangent; the CPU's bf16 kernels are the reference).
double cuda_parity_error(const OpCase& c, uint64_t seed = 7, DType dtype = DType::F32);

}  // namespace sg
