// sigmoid_loss.cpp: SigLIP's pairwise sigmoid loss, fused and tiled (formulas in base/kernel_api.inc). The
// B x B logits are recomputed kTile x kTile at a time into a small per-thread buffer, never stored whole.
//   forward:  one partial sum per tile (tiles in parallel), then the partials added in tile order (compensated)
//   backward: g_img by row tiles, each walking every column tile in order; g_txt by the same code with img and
//             txt swapped (the dot products and z are symmetric), so no two threads write the same row; the
//             scalar gradients from per-row-tile partials added in order. Bit-identical from run to run.
// Dot products are in T (vectorised over D); logits, sigmoids and every sum are in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/kernels.h"

namespace sg::cpu {
namespace {

constexpr int64_t kTile = 32;                // rows and columns of one tile of logits (as on CUDA)
constexpr int64_t kParallelWork = 1 << 16;   // B * B * D below this: one thread

int64_t tile_count(int64_t B) { return (B + kTile - 1) / kTile; }

// log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)): stable for any |x|
double log_sigmoid(double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::abs(x))); }
// sigmoid(x) without overflow for any x
double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// Neumaier's compensated sum: the loss adds B^2 terms, and its rounding would otherwise dominate the f64 central
// differences of the gradient checks (about sqrt(B^2) ulps of the sum instead of one).
struct CompensatedSum {
  double sum = 0, carry = 0;
  void add(double x) {
    const double t = sum + x;
    carry += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double value() const { return sum + carry; }
};

// The rows [r0, r0 + nr) of one operand against the rows [c0, c0 + nc) of the other.
struct Tile {
  int64_t r0, nr, c0, nc;
};
Tile tile_at(int64_t ti, int64_t tj, int64_t B) {
  const int64_t r0 = ti * kTile, c0 = tj * kTile;
  return {r0, std::min(kTile, B - r0), c0, std::min(kTile, B - c0)};
}

// dots[i * kTile + j] = <a_{r0+i}, b_{c0+j}>   a, b: [B, D]; dots: [kTile, kTile]
template <typename T>
void tile_dots(const T* a, const T* b, const Tile& t, int64_t D, T* dots) {
  for (int64_t i = 0; i < t.nr; ++i) {
    const T* ai = a + (t.r0 + i) * D;
    for (int64_t j = 0; j < t.nc; ++j) {
      const T* bj = b + (t.c0 + j) * D;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < D; ++k) s += ai[k] * bj[k];
      dots[i * kTile + j] = s;
    }
  }
}

// z_ij as a sign: +1 for a positive pair, -1 otherwise.
double pair_sign(const int64_t* groups, int64_t i, int64_t j) { return groups[i] == groups[j] ? 1.0 : -1.0; }

// What every element of the backward needs: exp(t'), b and the factor of g_ij (-gout / B).
struct Coefs {
  double scale_exp, bias, g_factor;
};

// g_own_i = exp(t') sum_j g_ij other_j for every row i of `own` ([B, D], as is other). When partials are asked
// for, also per row tile: gdot[ti] = sum g_ij <own_i, other_j> and g[ti] = sum g_ij (each over its tile's rows).
template <typename T>
void grad_rows(const T* own, const T* other, const int64_t* groups, const Coefs& c, T* g_own, int64_t B, int64_t D,
               double* partial_gdot, double* partial_g) {
  const int64_t nt = tile_count(B);
#pragma omp parallel if (B * B * D > kParallelWork)
  {
    std::vector<T> dots(static_cast<size_t>(kTile * kTile));
    std::vector<double> acc;  // [nr, D]: this row tile's gradient, summed over the column tiles in order
#pragma omp for schedule(static)
    for (int64_t ti = 0; ti < nt; ++ti) {
      const int64_t r0 = ti * kTile, nr = std::min(kTile, B - r0);
      acc.assign(static_cast<size_t>(nr * D), 0.0);
      double s_gdot = 0, s_g = 0;
      for (int64_t tj = 0; tj < nt; ++tj) {
        const Tile t = tile_at(ti, tj, B);
        tile_dots(own, other, t, D, dots.data());
        for (int64_t i = 0; i < t.nr; ++i) {
          double* acc_i = acc.data() + i * D;
          for (int64_t j = 0; j < t.nc; ++j) {
            const double dot = static_cast<double>(dots[i * kTile + j]);
            const double z = pair_sign(groups, t.r0 + i, t.c0 + j);
            const double l = c.scale_exp * dot + c.bias;
            const double g = c.g_factor * z * sigmoid(-z * l);  // dL/dl_ij
            s_gdot += g * dot;
            s_g += g;
            const double w = c.scale_exp * g;
            const T* oj = other + (t.c0 + j) * D;
#pragma omp simd
            for (int64_t k = 0; k < D; ++k) acc_i[k] += w * static_cast<double>(oj[k]);
          }
        }
      }
      for (int64_t k = 0; k < nr * D; ++k) g_own[r0 * D + k] = static_cast<T>(acc[static_cast<size_t>(k)]);
      if (partial_gdot) partial_gdot[ti] = s_gdot;
      if (partial_g) partial_g[ti] = s_g;
    }
  }
}

double sum_in_order(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

template <typename T>
void sigmoid_loss_forward(const T* img, const T* txt, const int64_t* groups, const T* scale, const T* bias, T* loss,
                          int64_t B, int64_t D) {
  if (B <= 0) return;
  const double e = std::exp(static_cast<double>(*scale)), b = static_cast<double>(*bias);
  const int64_t nt = tile_count(B);
  std::vector<double> partial(static_cast<size_t>(nt * nt));  // one per tile, row-major over tiles
#pragma omp parallel if (B * B * D > kParallelWork)
  {
    std::vector<T> dots(static_cast<size_t>(kTile * kTile));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < nt * nt; ++t) {
      const Tile tl = tile_at(t / nt, t % nt, B);
      tile_dots(img, txt, tl, D, dots.data());
      CompensatedSum s;
      for (int64_t i = 0; i < tl.nr; ++i)
        for (int64_t j = 0; j < tl.nc; ++j) {
          const double l = e * static_cast<double>(dots[i * kTile + j]) + b;
          s.add(log_sigmoid(pair_sign(groups, tl.r0 + i, tl.c0 + j) * l));
        }
      partial[static_cast<size_t>(t)] = s.value();
    }
  }
  CompensatedSum total;
  for (double p : partial) total.add(p);
  *loss = static_cast<T>(-total.value() / static_cast<double>(B));
}

template <typename T>
void sigmoid_loss_backward(const T* img, const T* txt, const int64_t* groups, const T* scale, const T* bias,
                           const T* gout, T* g_img, T* g_txt, T* g_scale, T* g_bias, int64_t B, int64_t D) {
  if (B <= 0) return;
  const Coefs c{std::exp(static_cast<double>(*scale)), static_cast<double>(*bias),
                -static_cast<double>(*gout) / static_cast<double>(B)};
  const int64_t nt = tile_count(B);
  std::vector<double> partial_gdot(static_cast<size_t>(nt)), partial_g(static_cast<size_t>(nt));
  grad_rows(img, txt, groups, c, g_img, B, D, partial_gdot.data(), partial_g.data());
  grad_rows(txt, img, groups, c, g_txt, B, D, nullptr, nullptr);  // z and the dots are symmetric in i, j
  *g_scale = static_cast<T>(c.scale_exp * sum_in_order(partial_gdot));
  *g_bias = static_cast<T>(sum_in_order(partial_g));
}

template void sigmoid_loss_forward<float>(const float*, const float*, const int64_t*, const float*, const float*,
                                          float*, int64_t, int64_t);
template void sigmoid_loss_forward<double>(const double*, const double*, const int64_t*, const double*, const double*,
                                           double*, int64_t, int64_t);
template void sigmoid_loss_backward<float>(const float*, const float*, const int64_t*, const float*, const float*,
                                           const float*, float*, float*, float*, float*, int64_t, int64_t);
template void sigmoid_loss_backward<double>(const double*, const double*, const int64_t*, const double*,
                                            const double*, const double*, double*, double*, double*, double*, int64_t,
                                            int64_t);

}  // namespace sg::cpu
