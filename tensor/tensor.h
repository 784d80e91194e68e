// tensor.h: Tensor = shared storage + shape + strides + offset + dtype + device, plus autograd metadata.
// Views (reshape, permute, transpose, narrow, slice, unsqueeze, squeeze, expand) share storage; they are
// differentiable ops like any other. contiguous() copies only when the layout needs it.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"

namespace sg {

struct Node;
class Tensor;

// Memory of one tensor (or several views), returned to the caching allocator when the last view dies.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device = Device::CPU;
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

using GradHook = std::function<Tensor(const Tensor& grad)>;  // may return an undefined Tensor: keep grad

// What autograd knows of one tensor. Graph nodes hold this (not the storage), so activations that backward
// does not need are freed as soon as the forward pass drops them.
struct AutogradMeta {
  bool requires_grad = false;
  bool retain_grad = false;
  std::shared_ptr<Node> grad_fn;  // the op that produced this tensor; null for leaves
  std::shared_ptr<struct TensorImpl> grad;
  std::vector<GradHook> hooks;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  std::shared_ptr<AutogradMeta> meta;  // created on demand
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // A new uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return static_cast<int64_t>(impl_->shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const;
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device; }
  bool is_contiguous() const;
  std::string shape_str() const { return sg::shape_str(shape()); }
  // "[4, 3] float32"
  std::string describe() const;

  // Pointer to element [0, ..., 0] (storage + offset).
  template <typename T>
  T* data() const {
    return static_cast<T*>(impl_->storage->data) + impl_->offset;
  }
  void* data_ptr() const;
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- copies (differentiable; tensor/ops/convert.cpp) ----
  Tensor contiguous() const;  // this tensor itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy

  // ---- conversion (differentiable; tested in tests/test_tensor.cpp and tests/test_cuda.cpp) ----
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  double item() const;        // the value of a one-element tensor
  template <typename T>
  std::vector<T> to_vector() const;  // all elements in row-major order
  void copy_(const Tensor& src);     // elementwise copy into this tensor (shapes must match; no autograd)
  void fill_(double value);          // no autograd

  // ---- views (differentiable) ----
  Tensor reshape(const Shape& shape) const;  // a view when the layout allows, else a copy; one dim may be -1
  Tensor view(const Shape& shape) const;     // a view or an error
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // narrow + squeeze
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  // broadcast: size-1 dims get stride 0
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;

  // ---- autograd ----
  bool requires_grad() const { return impl_->meta && impl_->meta->requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return !impl_->meta || !impl_->meta->grad_fn; }
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();
  const std::shared_ptr<Node>& grad_fn() const;
  std::string grad_fn_name() const;  // the op that produced this tensor ("matmul", ...); "" for leaves
  // backward from this tensor: a scalar, or any shape when `grad` (same shape) is given.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // shares storage, no graph
  void retain_grad() const;  // keep .grad() of a non-leaf after backward
  void register_hook(GradHook hook) const;  // called with this tensor's gradient during backward
  AutogradMeta& meta() const;  // created on demand

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- creation ----
Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::CPU);
Tensor arange(double start, double end, double step = 1, DType dtype = DType::F32);
Tensor scalar(double value, DType dtype = DType::F32);
Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::F32);
// A literal as one first types it: from_vector({1.0, 2.0, 3.0, 4.0}, {2, 2}) (float32 unless dtype says).
Tensor from_vector(std::initializer_list<double> values, const Shape& shape, DType dtype = DType::F32);
Tensor from_vector(const std::vector<float>& values, const Shape& shape, DType dtype = DType::F32);
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape);  // int64 indices
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);

// Seeded random numbers: same seed, same numbers, on every machine (xoshiro256** + Box-Muller).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t next_u64();
  double uniform();  // [0, 1)
  double normal();   // N(0, 1)
  uint64_t state_word(int i) const { return s_[i]; }
  void set_state_word(int i, uint64_t v) { s_[i] = v; }

 private:
  uint64_t s_[4]{};
};
Generator& default_generator();
// SplitMix64: a well-mixed 64-bit hash of x (seeds, derived streams). Also Generator's seeding function.
uint64_t splitmix64(uint64_t x);
void manual_seed(uint64_t seed);  // seeds default_generator()

Tensor rand(const Shape& shape, DType dtype = DType::F32, Generator* gen = nullptr);                    // U[0, 1)
Tensor randn(const Shape& shape, DType dtype = DType::F32, Generator* gen = nullptr);                   // N(0, 1)
Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = DType::F32, Generator* gen = nullptr);
Tensor randint(const Shape& shape, int64_t lo, int64_t hi, Generator* gen = nullptr);  // int64 in [lo, hi)

// PyTorch-style text: tensor([[1.0000, 2.0000], ...], dtype=torch.float64, grad_fn=<MatmulBackward>)
std::string to_string(const Tensor& t);

// Contiguous strides for a shape.
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// Wraps a possibly negative dim into [0, ndim); names `op` in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace sg
