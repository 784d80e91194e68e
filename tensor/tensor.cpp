// tensor.cpp: storage, layout, creation and random numbers. The members that record autograd nodes
// (contiguous, clone, to, copy_) are in tensor/ops/convert.cpp; backward() and grad_fn_name() in autograd/engine.cpp.
#include "tensor/tensor.h"

#include <cmath>
#include <cstring>

#include "tensor/allocator.h"
#include "tensor/dispatch.h"

namespace sg {

Storage::Storage(size_t n, Device d) : data(allocate(d, n)), nbytes(n), device(d) {}
Storage::~Storage() { deallocate(device, data, nbytes); }

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t d = dim < 0 ? dim + ndim : dim;
  SG_CHECK(d >= 0 && d < std::max<int64_t>(ndim, 1), "{}: dim {} out of range for a {}-d tensor", op, dim, ndim);
  return d;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto s : shape) SG_CHECK(s >= 0, "empty: negative size in shape {}", sg::shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }
void* Tensor::data_ptr() const {
  return static_cast<char*>(impl_->storage->data) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "<undefined>";
  std::string s = fmt::format("{} {}", shape_str(), dtype_name(dtype()));
  if (device() == Device::CUDA) s += " cuda";
  return s;
}

void Tensor::fill_(double value) {
  SG_CHECK(is_contiguous(), "fill_: needs a contiguous tensor, got shape {} strides {}", shape_str(),
           sg::shape_str(strides()));
  SG_KERNEL(device(), fill, data_ptr(), dtype(), numel(), value);
}

double Tensor::item() const {
  SG_CHECK(numel() == 1, "item: tensor of shape {} has {} elements, not one", shape_str(), numel());
  return to_vector<double>()[0];
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = device() == Device::CPU ? *this : detach().to(Device::CPU);
  DType want = std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I64;
  std::vector<T> out(static_cast<size_t>(numel()));
  if (!out.empty())
    cpu::copy_strided(host.data_ptr(), host.dtype(), host.shape(), host.strides(), out.data(), want);
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

// ---------------------------------------------------------------- autograd accessors

AutogradMeta& Tensor::meta() const {
  if (!impl_->meta) impl_->meta = std::make_shared<AutogradMeta>();
  return *impl_->meta;
}

Tensor& Tensor::requires_grad_(bool on) {
  SG_CHECK(!on || is_floating(dtype()), "requires_grad_: {} tensors cannot require grad", dtype_name(dtype()));
  SG_CHECK(is_leaf(), "requires_grad_: only leaf tensors can be set; {} was produced by '{}'", describe(),
           grad_fn_name());
  meta().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl_->meta && impl_->meta->grad ? Tensor(impl_->meta->grad) : Tensor(); }
void Tensor::set_grad(const Tensor& g) { meta().grad = g.defined() ? g.impl_ptr() : nullptr; }
void Tensor::zero_grad() {
  if (impl_->meta) impl_->meta->grad = nullptr;
}
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_->meta ? impl_->meta->grad_fn : none;
}
Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->meta = nullptr;
  return Tensor(std::move(impl));
}
void Tensor::retain_grad() const {
  SG_CHECK(requires_grad(), "retain_grad: tensor {} does not require grad", describe());
  meta().retain_grad = true;
}
void Tensor::register_hook(GradHook hook) const {
  SG_CHECK(requires_grad(), "register_hook: tensor {} does not require grad", describe());
  meta().hooks.push_back(std::move(hook));
}

// ---------------------------------------------------------------- creation

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  SG_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
           "from_vector: {} values cannot fill shape {} ({} elements)", values.size(), shape_str(shape),
           shape_numel(shape));
  Tensor t = Tensor::empty(shape, dtype);
  if (!values.empty()) cpu::copy_strided(values.data(), DType::F64, {shape_numel(shape)}, {1}, t.data_ptr(), dtype);
  return t;
}
Tensor from_vector(std::initializer_list<double> values, const Shape& shape, DType dtype) {
  return from_vector(std::vector<double>(values), shape, dtype);
}
Tensor from_vector(const std::vector<float>& values, const Shape& shape, DType dtype) {
  return from_vector(std::vector<double>(values.begin(), values.end()), shape, dtype);
}
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape) {
  SG_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
           "from_vector: {} values cannot fill shape {} ({} elements)", values.size(), shape_str(shape),
           shape_numel(shape));
  Tensor t = Tensor::empty(shape, DType::I64);
  if (!values.empty()) std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

Tensor arange(double start, double end, double step, DType dtype) {
  SG_CHECK(step != 0 && (end - start) / step >= 0, "arange: empty or infinite range [{}, {}) step {}", start, end, step);
  auto n = static_cast<int64_t>(std::ceil((end - start) / step));
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
  if (dtype == DType::I64) {
    std::vector<int64_t> iv(v.begin(), v.end());
    return from_vector(iv, {n});
  }
  return from_vector(v, {n}, dtype);
}

// ---------------------------------------------------------------- random numbers

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::manual_seed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : s_) {  // the SplitMix64 sequence from `seed`
    w = splitmix64(x);
    x += 0x9e3779b97f4a7c15ull;
  }
}
uint64_t Generator::next_u64() {  // xoshiro256**
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}
double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
double Generator::normal() {
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}
Generator& default_generator() {
  static Generator g(0);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
template <typename F>
Tensor generate(const Shape& shape, DType dtype, F f) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = f();
  return from_vector(v, shape, dtype);
}
}  // namespace

Tensor rand(const Shape& shape, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return generate(shape, dtype, [&] { return g.uniform(); });
}
Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return generate(shape, dtype, [&] { return g.normal(); });
}
Tensor uniform(const Shape& shape, double lo, double hi, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return generate(shape, dtype, [&] { return lo + (hi - lo) * g.uniform(); });
}
Tensor randint(const Shape& shape, int64_t lo, int64_t hi, Generator* gen) {
  SG_CHECK(hi > lo, "randint: empty range [{}, {})", lo, hi);
  Generator& g = gen ? *gen : default_generator();
  std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = lo + static_cast<int64_t>(g.next_u64() % static_cast<uint64_t>(hi - lo));
  return from_vector(v, shape);
}

}  // namespace sg
