// conv.cpp: patch extraction for the stride = kernel convolution (patch embedding) and its adjoint.
// cols[b, ph * Wp + pw, (c * P + i) * P + j] = x[b, c, ph * P + i, pw * P + j]
#include "cpu/kernels.h"

namespace sg::cpu {

template <typename T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P) {
  const int64_t Hp = H / P, Wp = W / P, K = C * P * P;
#pragma omp parallel for collapse(2) if (B * C * H * W > (1 << 15))
  for (int64_t b = 0; b < B; ++b)
    for (int64_t ph = 0; ph < Hp; ++ph)
      for (int64_t pw = 0; pw < Wp; ++pw) {
        T* dst = cols + (b * Hp * Wp + ph * Wp + pw) * K;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < P; ++i) {
            const T* src = x + ((b * C + c) * H + ph * P + i) * W + pw * P;
            for (int64_t j = 0; j < P; ++j) dst[(c * P + i) * P + j] = src[j];
          }
      }
}

template <typename T>
void col2im_patches(const T* cols, T* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t P) {
  const int64_t Hp = H / P, Wp = W / P, K = C * P * P;
#pragma omp parallel for collapse(2) if (B * C * H * W > (1 << 15))
  for (int64_t b = 0; b < B; ++b)
    for (int64_t ph = 0; ph < Hp; ++ph)
      for (int64_t pw = 0; pw < Wp; ++pw) {
        const T* src = cols + (b * Hp * Wp + ph * Wp + pw) * K;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < P; ++i) {
            T* dst = x + ((b * C + c) * H + ph * P + i) * W + pw * P;
            for (int64_t j = 0; j < P; ++j) dst[j] = src[(c * P + i) * P + j];
          }
      }
}

template void im2col_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void im2col_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void im2col_patches<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace sg::cpu
