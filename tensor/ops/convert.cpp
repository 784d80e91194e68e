// convert.cpp: copies and conversions of whole tensors: contiguous, clone, to(dtype), to(device), copy_.
// Each copy is differentiable: the gradient of a copy is the gradient itself, brought back to the source's
// dtype or device.
#include "autograd/node.h"
#include "tensor/backends.h"
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace sg {

namespace {
// A contiguous copy of `src` with dtype `dt` on src's device; no autograd.
Tensor copy_as(const Tensor& src, DType dt) {
  Tensor out = Tensor::empty(src.shape(), dt, src.device());
  if (src.numel() > 0)
    SG_KERNEL(src.device(), copy_strided, src.data_ptr(), src.dtype(), src.shape(), src.strides(), out.data_ptr(), dt);
  return out;
}
}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = copy_as(*this, dtype());
  return record(out, "contiguous", {*this}, [](const std::vector<Tensor>& in) { return in[0].clone(); }, [](const Node&) { return [](const Tensor& g) { return std::vector<Tensor>{g}; }; });
}

Tensor Tensor::clone() const {
  Tensor out = copy_as(*this, dtype());
  return record(out, "clone", {*this}, [](const std::vector<Tensor>& in) { return in[0].clone(); }, [](const Node&) { return [](const Tensor& g) { return std::vector<Tensor>{g}; }; });
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = copy_as(*this, dt);
  DType src = dtype();
  // The replay keeps the inputs' dtype (a copy): recomputed in f64, the conversion is the identity it stands for.
  return record(out, "to_dtype", {*this}, [](const std::vector<Tensor>& in) { return in[0].clone(); }, [src](const Node&) {
    return [src](const Tensor& g) { return std::vector<Tensor>{g.to(src)}; };
  });
}

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  SG_CHECK(device_available(Device::CUDA), "to: cannot move {} to {}: {}", describe(), device_name(dev),
           built_with_cuda() ? "no CUDA GPU is available" : "this build has no CUDA support");
  Tensor src = contiguous();
  Tensor out = Tensor::empty(shape(), dtype(), dev);
  size_t nbytes = static_cast<size_t>(numel()) * dtype_size(dtype());
  if (nbytes) {
    if (dev == Device::CPU)
      runtime(device()).copy_to_host(out.data_ptr(), src.data_ptr(), nbytes);
    else
      runtime(dev).copy_from_host(out.data_ptr(), src.data_ptr(), nbytes);
  }
  Device from = device();
  return record(out, "to_device", {*this}, [](const std::vector<Tensor>& in) { return in[0].clone(); }, [from](const Node&) {
    return [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; };
  });
}

void Tensor::copy_(const Tensor& src) {
  SG_CHECK(src.shape() == shape(), "copy_: source shape {} does not match destination shape {}", src.shape_str(),
           shape_str());
  Tensor s = src.device() == device() ? src : src.detach().to(device());
  if (s.dtype() != dtype()) s = copy_as(s, dtype());
  s = s.is_contiguous() ? s : copy_as(s, dtype());
  if (numel() == 0) return;
  SG_KERNEL(device(), copy_into_strided, s.data_ptr(), data_ptr(), dtype(), shape(), strides());
}

}  // namespace sg
