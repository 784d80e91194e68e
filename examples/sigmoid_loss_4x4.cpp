// sigmoid_loss_4x4.cpp: SigLIP's loss on a 4 x 4 batch, its gradients derived by hand and checked against the
// library's fused loss (sigmoid_loss_fused) in float64.
//
//   l_ij = t <x_i, y_j> + b,  t = exp(t'),  z_ij = +1 on the diagonal (matching pairs), -1 elsewhere
//   L    = -(1/B) sum_ij log sigmoid(z_ij l_ij)            (the paper's Algorithm 1: divided by B, not B^2)
//   With d/du log sigmoid(u) = sigmoid(-u), write s_ij = sigmoid(-z_ij l_ij), the weight of pair ij:
//   dL/db  = -(1/B) sum_ij z_ij s_ij
//   dL/dt' = -(1/B) sum_ij z_ij s_ij t <x_i, y_j>          (dt/dt' = t)
//   dL/dx_i = -(1/B) sum_j z_ij s_ij t y_j,   dL/dy_j = -(1/B) sum_i z_ij s_ij t x_i
// Build and run: make examples && build/examples/sigmoid_loss_4x4
#include <cmath>
#include <cstdio>
#include <vector>

#include "sg.h"

using namespace sg;

int main() {
  constexpr int B = 4, D = 3;
  Generator gen(4);
  Tensor x = l2_normalize(randn({B, D}, DType::F64, &gen)).detach().requires_grad_();  // image embeddings [B, D]
  Tensor y = l2_normalize(randn({B, D}, DType::F64, &gen)).detach().requires_grad_();  // text embeddings [B, D]
  Tensor t_prime = from_vector({std::log(10.0)}, {1}, DType::F64).requires_grad_();     // the paper's init
  Tensor b = from_vector({-std::log(B - 1.0)}, {1}, DType::F64).requires_grad_();       // -log(B - 1)
  Tensor groups = from_vector(std::vector<int64_t>{0, 1, 2, 3}, {B});                  // pair i matches text i only
  Tensor loss = sigmoid_loss_fused(x, y, t_prime, b, groups);
  loss.backward();

  // The same by hand, in plain doubles.
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  const double t = std::exp(t_prime.item()), bias = b.item();
  double L = 0, dL_db = 0, dL_dt = 0;
  std::vector<double> dx(B * D, 0.0), dy(B * D, 0.0);
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < B; ++j) {
      double dot = 0;
      for (int k = 0; k < D; ++k) dot += xv[i * D + k] * yv[j * D + k];
      const double z = i == j ? 1.0 : -1.0, l = t * dot + bias;
      const double s = 1 / (1 + std::exp(z * l));  // sigmoid(-z l)
      L += -std::log(1 / (1 + std::exp(-z * l))) / B;
      dL_db += -z * s / B;
      dL_dt += -z * s * t * dot / B;
      for (int k = 0; k < D; ++k) {
        dx[i * D + k] += -z * s * t * yv[j * D + k] / B;
        dy[j * D + k] += -z * s * t * xv[i * D + k] / B;
      }
    }

  auto max_diff = [](const std::vector<double>& a, const std::vector<double>& b2) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b2[i]));
    return m;
  };
  const double e_loss = std::abs(L - loss.item()), e_b = std::abs(dL_db - b.grad().item()),
               e_t = std::abs(dL_dt - t_prime.grad().item()), e_x = max_diff(dx, x.grad().to_vector<double>()),
               e_y = max_diff(dy, y.grad().to_vector<double>());
  std::printf("%-8s %14s %14s %10s\n", "", "by hand", "library", "|diff|");
  std::printf("%-8s %14.10f %14.10f %10.2e\n", "L", L, loss.item(), e_loss);
  std::printf("%-8s %14.10f %14.10f %10.2e\n", "dL/db", dL_db, b.grad().item(), e_b);
  std::printf("%-8s %14.10f %14.10f %10.2e\n", "dL/dt'", dL_dt, t_prime.grad().item(), e_t);
  std::printf("%-8s %14s %14s %10.2e\n", "dL/dx", "[4, 3]", "[4, 3]", e_x);
  std::printf("%-8s %14s %14s %10.2e\n", "dL/dy", "[4, 3]", "[4, 3]", e_y);
  const bool ok = e_loss < 1e-12 && e_b < 1e-12 && e_t < 1e-12 && e_x < 1e-12 && e_y < 1e-12;
  std::printf("the hand derivation and the library agree: %s\n", ok ? "yes" : "NO");
  return ok ? 0 : 1;
}
