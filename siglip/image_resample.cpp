// image_resample.cpp: Pillow's 8-bit resize (libImaging/Resample.c, ImagingResample) and alpha composite
// (libImaging/AlphaComposite.c), computed the same way step by step so that the results are the same bytes.
//
// Resize, per axis: output pixel xx covers input [center - support, center + support) with
// center = (xx + 0.5) * scale, scale = in / out, support = filter support * max(scale, 1) (the filter is
// stretched when shrinking: antialiasing). Weights filter((x - center + 0.5) / max(scale, 1)) are normalised to
// sum 1 in double, then rounded to fixed point with PRECISION_BITS = 32 - 8 - 2 = 22 fraction bits. A pixel is
// (2^21 + sum pixel * weight) >> 22, clipped to [0, 255]. The horizontal pass runs first (only over the rows the
// vertical pass reads) and its uint8 result feeds the vertical pass; an axis whose size does not change is skipped.
// As Pillow 13 (python-pillow/Pillow#9549), the vertical pass runs first when the height shrinks by more rows than
// twice the columns the width shrinks by (in_h - out_h > 0 and > 2 (in_w - out_w)); found in its ImagingResampleInner
// and checked against Pillow 13.0 on 225 size pairs. Older Pillow always runs the horizontal pass first: there the results
// differ by a level on some pixels of such resizes.
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "siglip/image_processor.h"

namespace sg {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // float constants, as Pillow has them
}

// Keys' cubic convolution with a = -0.5.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) { return -3.0 <= x && x < 3.0 ? sinc_filter(x) * sinc_filter(x / 3) : 0.0; }

struct Filter {
  double (*weight)(double);
  double support;
};

Filter filter_of(Resample r) {
  switch (r) {
    case Resample::Box: return {box_filter, 0.5};
    case Resample::Bilinear: return {bilinear_filter, 1.0};
    case Resample::Hamming: return {hamming_filter, 1.0};
    case Resample::Bicubic: return {bicubic_filter, 2.0};
    case Resample::Lanczos: return {lanczos_filter, 3.0};
  }
  fail("resize: unsupported resample value {}", static_cast<int>(r));
}

// For each output position: the first input index, the number of taps and ksize fixed-point weights.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;  // [out]
  std::vector<int32_t> weights;   // [out, ksize]
};

Coefficients precompute_coefficients(int in_size, int out_size, const Filter& filter) {
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);  // the box (0, in_size), as floats in Pillow
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    int32_t* out = &c.weights[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x)
      out[x] = k[x] < 0 ? static_cast<int32_t>(-0.5 + k[x] * (1 << kPrecisionBits))
                        : static_cast<int32_t>(0.5 + k[x] * (1 << kPrecisionBits));
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t v) {
  const int32_t shifted = v >> kPrecisionBits;
  return static_cast<uint8_t>(shifted < 0 ? 0 : shifted > 255 ? 255 : shifted);
}

// in: [in_h, w, bands] -> out: [out_h, w, bands]; c.first is relative to row 0 of `in`. Each output row is summed
// a whole input row at a time into int32 accumulators (contiguous: the compiler vectorises it).
void resample_columns(const Image8& in, const Coefficients& c, Image8& out) {
  const size_t row = static_cast<size_t>(in.width) * in.bands;
  std::vector<int32_t> acc(row);
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const uint8_t* src = &in.pixels[static_cast<size_t>(c.first[yy]) * row];
    uint8_t* dst = &out.pixels[static_cast<size_t>(yy) * row];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* s = src + y * row;
      const int32_t w = k[y];
      int32_t* a = acc.data();
      for (size_t i = 0; i < row; ++i) a[i] += s[i] * w;
    }
    for (size_t i = 0; i < row; ++i) dst[i] = clip8(acc[i]);
  }
}

// pixels [rows, cols, bands] -> [cols, rows, bands] (starting at row `first_row` of `in`), in 32 x 32 tiles so that
// both sides stay in cache.
template <int Bands>
void transpose_of(const Image8& in, int first_row, int rows, Image8& t) {
  constexpr int kTile = 32;
  const int bands = Bands > 0 ? Bands : in.bands;
  const int cols = in.width;
  for (int y0 = 0; y0 < rows; y0 += kTile)
    for (int x0 = 0; x0 < cols; x0 += kTile) {
      const int y1 = std::min(rows, y0 + kTile), x1 = std::min(cols, x0 + kTile);
      for (int y = y0; y < y1; ++y) {
        const uint8_t* src = &in.pixels[static_cast<size_t>(y + first_row) * cols * bands];
        for (int x = x0; x < x1; ++x) {
          uint8_t* dst = &t.pixels[(static_cast<size_t>(x) * rows + y) * bands];
          for (int b = 0; b < bands; ++b) dst[b] = src[static_cast<size_t>(x) * bands + b];
        }
      }
    }
}

Image8 transpose(const Image8& in, int first_row, int rows) {
  Image8 t{rows, in.width, in.bands, {}};
  t.pixels.resize(static_cast<size_t>(rows) * in.width * in.bands);
  switch (in.bands) {
    case 1: transpose_of<1>(in, first_row, rows, t); break;
    case 3: transpose_of<3>(in, first_row, rows, t); break;
    case 4: transpose_of<4>(in, first_row, rows, t); break;
    default: transpose_of<0>(in, first_row, rows, t); break;
  }
  return t;
}

// in: [rows, in_w, bands] -> out: [rows, out_w, bands]; rows first_row .. first_row + rows of `in`. Computed as the
// vertical pass of the transposed image, transposed back: the same integer sums as Pillow's horizontal pass (an
// integer sum does not depend on the order of its terms), with the taps walking contiguous rows.
void resample_rows(const Image8& in, int first_row, int rows, const Coefficients& c, Image8& out) {
  const Image8 t = transpose(in, first_row, rows);  // [in_w, rows, bands]
  Image8 u{rows, out.width, in.bands, {}};           // [out_w, rows, bands]
  u.pixels.resize(static_cast<size_t>(rows) * out.width * in.bands);
  resample_columns(t, c, u);
  out.pixels = transpose(u, 0, out.width).pixels;  // [rows, out_w, bands]
}

}  // namespace

Image8 resize_like_pillow(const Image8& image, int out_width, int out_height, Resample resample) {
  SG_CHECK(image.width > 0 && image.height > 0 && image.bands > 0 &&
               image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.bands,
           "resize: bad image {}x{} with {} bands and {} bytes", image.width, image.height, image.bands,
           image.pixels.size());
  SG_CHECK(out_width > 0 && out_height > 0, "resize: output size must be positive, got {}x{}", out_width, out_height);
  const Filter filter = filter_of(resample);
  const bool horizontal = out_width != image.width, vertical = out_height != image.height;
  if (!horizontal && !vertical) return image;
  const int shrink_h = image.height - out_height, shrink_w = image.width - out_width;
  if (horizontal && vertical && shrink_h > 0 && shrink_h > 2 * shrink_w) {  // Pillow 13: vertical pass first
    const Coefficients cv = precompute_coefficients(image.height, out_height, filter);
    Image8 tmp{image.width, out_height, image.bands, {}};
    tmp.pixels.resize(static_cast<size_t>(tmp.width) * out_height * tmp.bands);
    resample_columns(image, cv, tmp);
    const Coefficients ch = precompute_coefficients(image.width, out_width, filter);
    Image8 out{out_width, out_height, image.bands, {}};
    out.pixels.resize(static_cast<size_t>(out_width) * out_height * out.bands);
    resample_rows(tmp, 0, out_height, ch, out);
    return out;
  }

  Coefficients cv = precompute_coefficients(image.height, out_height, filter);
  const int first_row = cv.first[0];                                         // first input row used
  const int last_row = cv.first[out_height - 1] + cv.count[out_height - 1];  // one past the last
  Image8 current = image;
  if (horizontal) {
    const Coefficients ch = precompute_coefficients(image.width, out_width, filter);
    const int rows = vertical ? last_row - first_row : image.height;
    const int row0 = vertical ? first_row : 0;
    Image8 tmp{out_width, rows, image.bands, {}};
    tmp.pixels.resize(static_cast<size_t>(out_width) * rows * image.bands);
    resample_rows(image, row0, rows, ch, tmp);
    if (vertical)
      for (int& f : cv.first) f -= first_row;
    current = std::move(tmp);
  }
  if (!vertical) return current;
  Image8 out{current.width, out_height, current.bands, {}};
  out.pixels.resize(static_cast<size_t>(out.width) * out_height * out.bands);
  resample_columns(current, cv, out);
  return out;
}

Image8 composite_on_white(const Image8& rgba) {
  SG_CHECK(rgba.bands == 4, "composite_on_white: expected 4 bands (RGBA), got {}", rgba.bands);
  constexpr uint32_t kBits = 7;  // AlphaComposite.c's PRECISION_BITS
  auto div255 = [](uint32_t a) { return ((a >> 8) + a) >> 8; };  // SHIFTFORDIV255
  Image8 out{rgba.width, rgba.height, 3, {}};
  const size_t n = static_cast<size_t>(rgba.width) * rgba.height;
  out.pixels.resize(n * 3);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* s = &rgba.pixels[4 * i];
    uint8_t* o = &out.pixels[3 * i];
    const uint32_t sa = s[3], da = 255, dv = 255;  // the background: opaque white
    if (sa == 0) {
      o[0] = o[1] = o[2] = static_cast<uint8_t>(dv);
      continue;
    }
    const uint32_t blend = da * (255 - sa);
    const uint32_t outa255 = sa * 255 + blend;
    const uint32_t coef1 = sa * 255 * 255 * (1u << kBits) / outa255;
    const uint32_t coef2 = 255 * (1u << kBits) - coef1;
    for (int c = 0; c < 3; ++c)
      o[c] = static_cast<uint8_t>(div255(s[c] * coef1 + dv * coef2 + (0x80u << kBits)) >> kBits);
  }
  return out;
}

std::string resample_name(int value) {
  switch (value) {
    case 1: return "lanczos";
    case 2: return "bilinear";
    case 3: return "bicubic";
    case 4: return "box";
    case 5: return "hamming";
    default: return "";
  }
}

}  // namespace sg
