#include "siglip/position_interpolation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"

namespace sg {
namespace {

constexpr double kA = -0.75;  // torch's bicubic (Keys' a); Pillow uses -0.5

// The 4 weights of taps floor(s)-1 .. floor(s)+2 for the fractional offset t = s - floor(s).
void cubic_weights(double t, double w[4]) {
  auto near = [](double x) { return ((kA + 2) * x - (kA + 3)) * x * x + 1; };          // |x| <= 1
  auto far = [](double x) { return ((kA * x - 5 * kA) * x + 8 * kA) * x - 4 * kA; };  // 1 < |x| < 2
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

// For each output index: the 4 clamped input indices and their weights.
struct Taps {
  std::vector<int64_t> index;  // [out, 4]
  std::vector<double> weight;  // [out, 4]
};

Taps taps(int64_t in, int64_t out) {
  Taps t{std::vector<int64_t>(out * 4), std::vector<double>(out * 4)};
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    const double src = scale * (static_cast<double>(o) + 0.5) - 0.5;  // half-pixel centres, not clamped
    const double base = std::floor(src);
    cubic_weights(src - base, &t.weight[o * 4]);
    for (int k = 0; k < 4; ++k)
      t.index[o * 4 + k] = std::clamp<int64_t>(static_cast<int64_t>(base) - 1 + k, 0, in - 1);
  }
  return t;
}

}  // namespace

Tensor interpolate_position_table(const Tensor& table, int64_t new_grid) {
  SG_CHECK(table.dim() == 2, "interpolate_position_table: the table is {}, expected [g*g, D]", table.shape_str());
  const int64_t n = table.size(0), D = table.size(1);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  SG_CHECK(g * g == n, "interpolate_position_table: {} positions are not a square grid", n);
  SG_CHECK(new_grid >= 1, "interpolate_position_table: new grid {} must be at least 1", new_grid);
  const std::vector<double> src = table.to_vector<double>();  // [g, g, D]
  const Taps ty = taps(g, new_grid), tx = taps(g, new_grid);
  std::vector<double> out(static_cast<size_t>(new_grid * new_grid * D), 0.0);  // [G, G, D]
  for (int64_t y = 0; y < new_grid; ++y)
    for (int64_t x = 0; x < new_grid; ++x) {
      double* o = &out[(y * new_grid + x) * D];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const double w = ty.weight[y * 4 + i] * tx.weight[x * 4 + j];
          const double* s = &src[(ty.index[y * 4 + i] * g + tx.index[x * 4 + j]) * D];
          for (int64_t d = 0; d < D; ++d) o[d] += w * s[d];
        }
    }
  return from_vector(out, {new_grid * new_grid, D}, DType::F32);
}

std::string fit_position_table(std::map<std::string, Tensor>& tensors, const VisionConfig& cfg,
                               const std::string& source) {
  const std::string name = "vision_model.embeddings.position_embedding.weight";
  auto it = tensors.find(name);
  if (it == tensors.end() || it->second.dim() != 2 || it->second.size(0) == cfg.num_patches()) return "";
  const int64_t n = it->second.size(0);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  SG_CHECK(g * g == n, "checkpoint: {}: '{}' has {} positions, not a square grid, so it cannot be resized to {}x{} "
           "patches", source, name, n, cfg.image_size / cfg.patch_size, cfg.image_size / cfg.patch_size);
  const int64_t G = cfg.image_size / cfg.patch_size;
  it->second = interpolate_position_table(it->second.to(Device::CPU), G);
  return fmt::format("position embeddings: {}x{} -> {}x{} patches (bicubic, as transformers' interpolate_pos_encoding)",
                     g, g, G, G);
}

}  // namespace sg
