// print.cpp: PyTorch-style text for tensors:
//   tensor([[ 1.0000, -2.5000],
//           [ 3.0000,  4.0000]], dtype=torch.float64, requires_grad=True)
// Tensors over 1000 elements show the first and last three entries of each dim around "...".
#include <cmath>

#include "tensor/tensor.h"

namespace sg {
namespace {

struct Style {
  bool integer = true, sci = false, is_int_dtype = false;
  int width = 1;
};

std::string format_value(double v, const Style& s) {
  if (s.is_int_dtype) return fmt::format("{}", static_cast<int64_t>(v));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (s.sci) return fmt::format("{:.4e}", v);
  if (s.integer) return fmt::format("{:.0f}.", v);
  return fmt::format("{:.4f}", v);
}

void print_rec(std::string& out, const std::vector<double>& v, const Shape& shape, size_t d, int64_t base,
               const Style& s, bool summarize, int indent) {
  const int64_t n = shape[d];
  int64_t inner = 1;
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 6 && i == 3) {
      out += d + 1 == shape.size() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - 3;
    }
    if (d + 1 == shape.size()) {
      out += fmt::format("{:>{}}", format_value(v[static_cast<size_t>(base + i)], s), s.width);
    } else {
      print_rec(out, v, shape, d + 1, base + i * inner, s, summarize, indent + 1);
    }
    if (i + 1 < n) {
      if (d + 1 == shape.size()) out += ", ";
      else out += fmt::format(",{}{:{}}", std::string(shape.size() - d - 1, '\n'), "", indent + 1);
    }
  }
  out += ']';
}
}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(<undefined>)";
  std::vector<double> v = t.dtype() == DType::I64 ? std::vector<double>() : t.to_vector<double>();
  if (t.dtype() == DType::I64)
    for (int64_t x : t.to_vector<int64_t>()) v.push_back(static_cast<double>(x));
  Style s;
  s.is_int_dtype = t.dtype() == DType::I64;
  double amax = 0, amin = INFINITY;
  for (double x : v) {
    if (!std::isfinite(x)) continue;
    if (x != std::floor(x)) s.integer = false;
    amax = std::max(amax, std::abs(x));
    if (x != 0) amin = std::min(amin, std::abs(x));
  }
  if (!s.is_int_dtype && (amax >= 1e8 || (!s.integer && amin < 1e-4))) s.sci = true;
  for (double x : v) s.width = std::max<int>(s.width, static_cast<int>(format_value(x, s).size()));
  std::string body;
  const std::string prefix = "tensor(";
  if (t.dim() == 0) {
    body = format_value(v[0], s);
  } else if (t.numel() == 0) {
    body = "[]";
  } else {
    print_rec(body, v, t.shape(), 0, 0, s, t.numel() > 1000, static_cast<int>(prefix.size()));
  }
  std::string out = prefix + body;
  if (t.dtype() != DType::F32 && t.dtype() != DType::I64) out += fmt::format(", dtype=torch.{}", dtype_name(t.dtype()));
  if (t.device() == Device::CUDA) out += ", device='cuda:0'";
  if (!t.is_leaf()) {
    std::string name;  // layer_norm -> LayerNormBackward, as PyTorch names its nodes
    bool up = true;
    for (char c : t.grad_fn_name()) {
      if (c == '_') { up = true; continue; }
      name += up ? static_cast<char>(std::toupper(c)) : c;
      up = false;
    }
    out += fmt::format(", grad_fn=<{}Backward>", name);
  } else if (t.requires_grad()) {
    out += ", requires_grad=True";
  }
  return out + ")";
}

}  // namespace sg
