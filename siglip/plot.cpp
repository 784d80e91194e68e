// plot.cpp: rasterises the training curves into an RGB buffer (lines, axes, a 5x7 bitmap font) and writes a
// PNG with stb_image_write.
#include "siglip/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stb/stb_image_write.h>

#include "nn/fileio.h"
#include "base/error.h"

namespace sg {
namespace {

struct Color {
  uint8_t r, g, b;
};
constexpr Color kBlack{0, 0, 0}, kGrid{225, 225, 225}, kGray{110, 110, 110};
constexpr Color kBlue{31, 119, 180}, kOrange{230, 110, 0}, kGreen{34, 150, 34};

// 5x7 glyphs: 7 rows, bit 4 is the leftmost column. g, p, q, y are drawn 2 rows lower (descenders).
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}}, {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}}, {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}}, {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}}, {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}}, {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}}, {'p', {0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01}}, {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}}, {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}}, {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}}, {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'z', {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}}, {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

const uint8_t* glyph(char c) {
  for (const auto& g : kFont)
    if (g.c == c) return g.rows;
  for (const auto& g : kFont)
    if (g.c == '?') return g.rows;
  return kFont[0].rows;
}

constexpr int kScale = 2;                // font pixels per glyph pixel
constexpr int kAdvance = 6 * kScale;     // 5 columns + 1 of spacing
constexpr int kTextH = 7 * kScale;

int text_width(const std::string& s) { return s.empty() ? 0 : static_cast<int>(s.size()) * kAdvance - kScale; }

struct Rect {
  int x0, y0, x1, y1;  // inclusive
  bool contains(int x, int y) const { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }
};

struct Canvas {
  int w, h;
  std::vector<uint8_t> px;
  Canvas(int width, int height) : w(width), h(height), px(static_cast<size_t>(width) * height * 3, 255) {}

  void set(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void fill(const Rect& r, Color c) {
    for (int y = r.y0; y <= r.y1; ++y)
      for (int x = r.x0; x <= r.x1; ++x) set(x, y, c);
  }
  void hline(int x0, int x1, int y, Color c) { fill({std::min(x0, x1), y, std::max(x0, x1), y}, c); }
  void vline(int x, int y0, int y1, Color c) { fill({x, std::min(y0, y1), x, std::max(y0, y1)}, c); }
  // Bresenham, `thick` x `thick` pen, clipped to `clip`.
  void line(int x0, int y0, int x1, int y1, Color c, int thick, const Rect& clip) {
    int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      for (int a = 0; a < thick; ++a)
        for (int b = 0; b < thick; ++b)
          if (clip.contains(x0 + a, y0 + b)) set(x0 + a, y0 + b, c);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Top-left corner at (x, y).
  void text(int x, int y, const std::string& s, Color c) {
    for (char ch : s) {
      const uint8_t* rows = glyph(ch);
      const int y0 = y + (ch == 'g' || ch == 'p' || ch == 'q' || ch == 'y' ? 2 * kScale : 0);
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col)
          if (rows[r] & (0x10 >> col)) fill({x + col * kScale, y0 + r * kScale, x + col * kScale + kScale - 1,
                                             y0 + r * kScale + kScale - 1}, c);
      x += kAdvance;
    }
  }
};

struct Range {
  double lo, hi;
};

// Range of the finite values in `vals` (first `n` only); padded, never empty.
Range value_range(const std::vector<const std::vector<double>*>& series, size_t n, const std::vector<double>& steps,
                  double pad_frac) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* s : series)
    for (size_t i = 0; i < std::min(n, s->size()); ++i)
      if (std::isfinite((*s)[i]) && std::isfinite(steps[i])) lo = std::min(lo, (*s)[i]), hi = std::max(hi, (*s)[i]);
  if (!(lo <= hi)) return {0, 1};
  if (hi - lo <= 1e-12 * std::max(std::abs(lo), std::abs(hi))) {
    double pad = lo != 0 ? std::abs(lo) * 0.1 : 1.0;
    return {lo - pad, hi + pad};
  }
  double pad = (hi - lo) * pad_frac;
  return {lo - pad, hi + pad};
}

double nice_step(double span, int target) {
  double raw = span / std::max(target, 1);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double mult = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return mult * mag;
}

std::vector<double> ticks(Range r, double step) {
  std::vector<double> out;
  if (!(step > 0) || !std::isfinite(step)) return out;
  double first = std::ceil(r.lo / step - 1e-9) * step;
  for (int i = 0; i < 100; ++i) {
    double v = first + i * step;
    if (v > r.hi + step * 1e-9) break;
    out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  return out;
}

std::string tick_label(double v, double step) {
  double mag = std::max(std::abs(v), step);
  if (mag >= 1e6 || step < 1e-4) return fmt::format("{:.3g}", v);
  int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
  return fmt::format("{:.{}f}", v, decimals);
}

std::string last_value(const std::vector<double>& s, const std::vector<double>& steps, size_t n) {
  for (size_t i = std::min(n, s.size()); i-- > 0;)
    if (std::isfinite(s[i]) && std::isfinite(steps[i])) return fmt::format("{:.4g}", s[i]);
  return "none";
}

struct Panel {
  Rect area;
  Range x, y;
  // Pixel coordinates, clamped far outside the canvas so that extreme values cannot overflow an int.
  static int to_px(double base, double frac, double len) {
    double v = frac * len;
    v = std::isfinite(v) ? std::clamp(v, -1e5, 1e5) : 0.0;
    return static_cast<int>(base) + static_cast<int>(std::lround(v));
  }
  int px(double v) const { return to_px(area.x0, (v - x.lo) / (x.hi - x.lo), area.x1 - area.x0); }
  int py(double v) const { return to_px(area.y1, -(v - y.lo) / (y.hi - y.lo), area.y1 - area.y0); }
};

void draw_axes(Canvas& c, const Panel& p) {
  // Horizontal grid lines and y tick labels.
  for (double v : ticks(p.y, nice_step(p.y.hi - p.y.lo, 5))) {
    int y = p.py(v);
    if (y < p.area.y0 || y > p.area.y1) continue;
    c.hline(p.area.x0, p.area.x1, y, kGrid);
    c.hline(p.area.x0 - 6, p.area.x0 - 1, y, kBlack);
    std::string s = tick_label(v, nice_step(p.y.hi - p.y.lo, 5));
    c.text(p.area.x0 - 10 - text_width(s), y - kTextH / 2, s, kBlack);
  }
  // Vertical grid lines and x tick labels: as many as fit without overlapping.
  for (int target = 8; target >= 2; --target) {
    double step = nice_step(p.x.hi - p.x.lo, target);
    auto xs = ticks(p.x, step);
    int widest = 0;
    for (double v : xs) widest = std::max(widest, text_width(tick_label(v, step)));
    double spacing = step / (p.x.hi - p.x.lo) * (p.area.x1 - p.area.x0);
    if (target > 2 && spacing < widest + 16) continue;
    for (double v : xs) {
      int x = p.px(v);
      if (x < p.area.x0 || x > p.area.x1) continue;
      c.vline(x, p.area.y0, p.area.y1, kGrid);
      c.vline(x, p.area.y1 + 1, p.area.y1 + 6, kBlack);
      std::string s = tick_label(v, step);
      c.text(x - text_width(s) / 2, p.area.y1 + 9, s, kBlack);
    }
    break;
  }
  // Frame.
  c.hline(p.area.x0 - 1, p.area.x1 + 1, p.area.y0 - 1, kBlack);
  c.hline(p.area.x0 - 1, p.area.x1 + 1, p.area.y1 + 1, kBlack);
  c.vline(p.area.x0 - 1, p.area.y0 - 1, p.area.y1 + 1, kBlack);
  c.vline(p.area.x1 + 1, p.area.y0 - 1, p.area.y1 + 1, kBlack);
}

// The finite points of `s` joined by lines; a non-finite value breaks the line. Isolated points get a dot.
void draw_series(Canvas& c, const Panel& p, const std::vector<double>& steps, const std::vector<double>& s, size_t n,
                 Color col) {
  n = std::min(n, s.size());
  auto ok = [&](size_t i) { return i < n && std::isfinite(steps[i]) && std::isfinite(s[i]); };
  for (size_t i = 0; i < n; ++i) {
    if (!ok(i)) continue;
    int x = p.px(steps[i]), y = p.py(s[i]);
    bool prev = i > 0 && ok(i - 1), next = ok(i + 1);
    if (prev) c.line(p.px(steps[i - 1]), p.py(s[i - 1]), x, y, col, 2, p.area);
    if (!prev && !next) c.line(x - 2, y - 2, x - 2, y - 2, col, 5, p.area);
  }
}

}  // namespace

void write_training_plot(const std::string& png_path, const std::vector<double>& steps,
                         const std::vector<double>& loss, const std::vector<double>& temperature,
                         const std::vector<double>& bias) {
  constexpr int W = 900, H = 600;
  Canvas c(W, H);
  const size_t n = steps.size();

  // The step axis covers the steps that carry at least one finite value.
  double xlo = INFINITY, xhi = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(steps[i])) continue;
    bool any = false;
    for (const auto* s : {&loss, &temperature, &bias}) any |= i < s->size() && std::isfinite((*s)[i]);
    if (any) xlo = std::min(xlo, steps[i]), xhi = std::max(xhi, steps[i]);
  }
  Range xr{0, 1};
  if (xlo < xhi) xr = {xlo, xhi};
  else if (xlo == xhi) xr = {xlo - 1, xhi + 1};

  Panel top{{100, 40, W - 25, 265}, xr, value_range({&loss}, n, steps, 0.05)};
  Panel bottom{{100, 330, W - 25, 545}, xr, value_range({&temperature, &bias}, n, steps, 0.08)};

  draw_axes(c, top);
  draw_axes(c, bottom);
  draw_series(c, top, steps, loss, n, kBlue);
  draw_series(c, bottom, steps, temperature, n, kOrange);
  draw_series(c, bottom, steps, bias, n, kGreen);

  // Titles, legends, axis label.
  std::string loss_title = "loss  last=" + last_value(loss, steps, n);
  c.text(top.area.x0, 14, loss_title, kBlue);
  if (n > 0 && xlo <= xhi) {
    std::string st = fmt::format("step {:.0f}", xhi);
    c.text(top.area.x1 - text_width(st), 14, st, kGray);
  }
  std::string t_title = "t=temperature  last=" + last_value(temperature, steps, n);
  std::string b_title = "b=bias  last=" + last_value(bias, steps, n);
  c.text(bottom.area.x0, 304, t_title, kOrange);
  c.text(bottom.area.x0 + text_width(t_title) + 4 * kAdvance, 304, b_title, kGreen);
  c.text((bottom.area.x0 + bottom.area.x1 - text_width("step")) / 2, H - 22, "step", kBlack);
  if (xlo > xhi) c.text((top.area.x0 + top.area.x1 - text_width("no data")) / 2, (top.area.y0 + top.area.y1) / 2,
                        "no data", kGray);

  std::string png;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(sink, &png, W, H, 3, c.px.data(), W * 3))
    fail("write_training_plot: {}: PNG encoding failed", png_path);
  write_file_atomic(png_path, png);
}

}  // namespace sg
