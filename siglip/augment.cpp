// augment.cpp: the random resized crop (see augment.h).
#include "siglip/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "base/error.h"
#include "tensor/tensor.h"

namespace sg {

std::pair<double, double> parse_crop_scale(const std::string& text) {
  const size_t comma = text.find(',');
  double lo = 0, hi = 0;
  bool ok = comma != std::string::npos;
  if (ok) {
    const std::string a = text.substr(0, comma), b = text.substr(comma + 1);
    char* end_a = nullptr;
    char* end_b = nullptr;
    lo = std::strtod(a.c_str(), &end_a);
    hi = std::strtod(b.c_str(), &end_b);
    ok = !a.empty() && !b.empty() && *end_a == '\0' && *end_b == '\0';
  }
  SG_CHECK(ok, "train: --crop-scale '{}': expected MIN,MAX, two area fractions such as 0.05,1", text);
  SG_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo > 0 && lo <= hi && hi <= 1,
           "train: --crop-scale '{}': the area fractions must satisfy 0 < MIN <= MAX <= 1 (got {} and {})", text, lo,
           hi);
  return {lo, hi};
}

uint64_t crop_seed(uint64_t seed, uint64_t epoch, uint64_t position) {
  return splitmix64(splitmix64(splitmix64(seed ^ 0x6a09e667f3bcc909ull) ^ splitmix64(epoch + 0x3c6ef372fe94f82bull)) ^
                    splitmix64(position + 0xa54ff53a5f1d36f1ull));
}

CropBox sample_crop(int width, int height, double area_min, double area_max, uint64_t sample_seed) {
  Generator g(sample_seed);
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(3.0 / 4.0), log_hi = std::log(4.0 / 3.0);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (area_min + (area_max - area_min) * g.uniform());
    const double ratio = std::exp(log_lo + (log_hi - log_lo) * g.uniform());
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w < 1 || h < 1 || w > width || h > height) continue;
    const int x = static_cast<int>(g.next_u64() % static_cast<uint64_t>(width - w + 1));
    const int y = static_cast<int>(g.next_u64() % static_cast<uint64_t>(height - h + 1));
    return {x, y, w, h};
  }
  return {0, 0, width, height};
}

Image8 crop_image8(const Image8& image, const CropBox& box) {
  SG_CHECK(box.x >= 0 && box.y >= 0 && box.width >= 1 && box.height >= 1 && box.x + box.width <= image.width &&
               box.y + box.height <= image.height,
           "crop: box {}x{} at ({}, {}) does not lie inside the {}x{} image", box.width, box.height, box.x, box.y,
           image.width, image.height);
  if (box == CropBox{0, 0, image.width, image.height}) return image;
  Image8 out{box.width, box.height, image.bands, {}};
  const size_t row = static_cast<size_t>(box.width) * image.bands;
  out.pixels.resize(row * box.height);
  for (int r = 0; r < box.height; ++r)
    std::copy_n(&image.pixels[(static_cast<size_t>(box.y + r) * image.width + box.x) * image.bands], row,
                &out.pixels[static_cast<size_t>(r) * row]);
  return out;
}

std::vector<float> crop_resize_chw(const std::vector<float>& chw, int channels, int height, int width,
                                   const CropBox& box) {
  SG_CHECK(chw.size() == static_cast<size_t>(channels) * height * width,
           "crop: the image has {} values, expected [{}, {}, {}]", chw.size(), channels, height, width);
  SG_CHECK(box.x >= 0 && box.y >= 0 && box.width >= 1 && box.height >= 1 && box.x + box.width <= width &&
               box.y + box.height <= height,
           "crop: box {}x{} at ({}, {}) does not lie inside the {}x{} image", box.width, box.height, box.x, box.y,
           width, height);
  if (box == CropBox{0, 0, width, height}) return chw;
  // Source coordinate of output pixel i along an axis: box start + (i + 0.5) * box / out - 0.5, clamped to the box.
  struct Tap {
    int lo, hi;
    float frac;
  };
  auto taps = [](int start, int size, int out) {
    std::vector<Tap> t(static_cast<size_t>(out));
    for (int i = 0; i < out; ++i) {
      const double s = std::clamp((i + 0.5) * size / out - 0.5, 0.0, static_cast<double>(size - 1));
      const int lo = static_cast<int>(std::floor(s));
      t[static_cast<size_t>(i)] = {start + lo, start + std::min(lo + 1, size - 1), static_cast<float>(s - lo)};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(box.y, box.height, height), tx = taps(box.x, box.width, width);
  std::vector<float> out(chw.size());
  for (int c = 0; c < channels; ++c) {
    const float* src = &chw[static_cast<size_t>(c) * height * width];
    float* dst = &out[static_cast<size_t>(c) * height * width];
    for (int i = 0; i < height; ++i) {
      const Tap& y = ty[static_cast<size_t>(i)];
      const float* r0 = src + static_cast<size_t>(y.lo) * width;
      const float* r1 = src + static_cast<size_t>(y.hi) * width;
      for (int j = 0; j < width; ++j) {
        const Tap& x = tx[static_cast<size_t>(j)];
        const float top = r0[x.lo] + (r0[x.hi] - r0[x.lo]) * x.frac;
        const float bottom = r1[x.lo] + (r1[x.hi] - r1[x.lo]) * x.frac;
        dst[static_cast<size_t>(i) * width + j] = top + (bottom - top) * y.frac;
      }
    }
  }
  return out;
}

}  // namespace sg
