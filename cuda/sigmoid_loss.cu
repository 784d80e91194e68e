// sigmoid_loss.cu: SigLIP's pairwise sigmoid loss, fused and tiled, on the GPU (formulas in base/kernel_api.inc;
// cpu/sigmoid_loss.cpp has the same 32 x 32 tiles). The B x B logits are never stored: each block recomputes its
// tiles in shared memory, D staged kChunk elements at a time (any D; B need not be a multiple of the tile).
// t', b and the incoming gradient are read from device memory inside the kernels (no host sync). No atomics:
// every sum runs in a fixed order, so two runs are bit-identical. Accumulation in acc_t<T>, sums in double.
//   forward:  nt x nt blocks, one per tile (nt = ceil(B / 32)); each writes its partial sum to scratch, then
//             one block adds the partials in order and writes the loss
//   backward: 2 nt blocks. Block r < nt owns the img rows of tile r, block nt + c the txt rows of tile c (the
//             same code with img and txt swapped: the dot products and z are symmetric). Each walks every tile
//             of the other operand in order and accumulates its rows' gradient in global memory that only it
//             writes. The img blocks also write partial sums for g_scale and g_bias, added in order by one block.
#include "cuda/common.cuh"

namespace sg::cuda {
namespace {

constexpr int kTile = 32;               // rows and columns of one tile of logits
constexpr int kChunk = 32;              // elements of D staged in shared memory at a time
constexpr int kSide = 16;               // threads along each side of the block: kSide x kSide = kThreads
constexpr int kPer = kTile / kSide;     // each thread owns kPer x kPer logits of a tile ...
constexpr int kPerK = kChunk / kSide;   // ... and kPer x kPerK gradient elements of a D chunk
constexpr int64_t kMaxGridY = 65535;    // CUDA's limit on gridDim.y (the forward's tile rows)
static_assert(kSide * kSide == kThreads, "the block is a kSide x kSide grid of threads");
static_assert(kTile % kSide == 0 && kChunk % kSide == 0, "tiles and chunks split evenly over the threads");
static_assert(kThreads % 32 == 0, "block_sum works on whole warps");

// Shared memory of one block. Rows are padded by one element so that column reads do not hit one bank.
template <typename A>
struct TileSmem {
  A own[kTile][kChunk + 1];    // rows [r0, r0 + kTile) of the operand whose gradient is made, one D chunk
  A other[kTile][kChunk + 1];  // rows [c0, c0 + kTile) of the other operand, one D chunk
  A g[kTile][kTile + 1];       // backward: exp(t') dL/dl for the tile
  double red[kThreads / 32];   // block_sum scratch
};
static_assert(sizeof(TileSmem<double>) <= 48 * 1024, "static shared memory is limited to 48 KiB per block");

__host__ __device__ inline int64_t tile_count(int64_t B) { return (B + kTile - 1) / kTile; }

template <typename A>
__device__ __forceinline__ A log_sigmoid_of(A x) {  // min(x, 0) - log1p(exp(-|x|)): stable for any |x|
  return (x < A(0) ? x : A(0)) - d_log1p(d_exp(-d_abs(x)));
}
template <typename A>
__device__ __forceinline__ A sigmoid_of(A x) {  // no overflow for any x
  if (x >= A(0)) return A(1) / (A(1) + d_exp(-x));
  const A e = d_exp(x);
  return e / (A(1) + e);
}

__device__ __forceinline__ int thread_row() { return static_cast<int>(threadIdx.x) / kSide; }  // ty
__device__ __forceinline__ int thread_col() { return static_cast<int>(threadIdx.x) % kSide; }  // tx

// dst[r][c] = x[row0 + r, k0 + c] for r < kTile, c < kChunk (x: [B, D]); 0 outside x.
template <typename T, typename A>
__device__ __forceinline__ void stage_chunk(const T* __restrict__ x, int64_t row0, int64_t k0, int64_t B, int64_t D,
                                            A (*dst)[kChunk + 1]) {
  for (int e = static_cast<int>(threadIdx.x); e < kTile * kChunk; e += kThreads) {
    const int r = e / kChunk, c = e % kChunk;
    const int64_t row = row0 + r, k = k0 + c;
    dst[r][c] = (row < B && k < D) ? A(x[row * D + k]) : A(0);
  }
}

// acc[p][q] = <a_{a0 + ty + p kSide}, b_{b0 + tx + q kSide}> over all of D (a, b: [B, D]; 0 outside).
// Ends with a barrier: the caller may reuse sm.own and sm.other at once.
template <typename T, typename A>
__device__ __forceinline__ void tile_dots(const T* __restrict__ a, int64_t a0, const T* __restrict__ b, int64_t b0,
                                          int64_t B, int64_t D, TileSmem<A>& sm, A (&acc)[kPer][kPer]) {
  const int ty = thread_row(), tx = thread_col();
#pragma unroll
  for (int p = 0; p < kPer; ++p)
#pragma unroll
    for (int q = 0; q < kPer; ++q) acc[p][q] = A(0);
  for (int64_t k0 = 0; k0 < D; k0 += kChunk) {
    stage_chunk(a, a0, k0, B, D, sm.own);
    stage_chunk(b, b0, k0, B, D, sm.other);
    __syncthreads();
#pragma unroll 8
    for (int c = 0; c < kChunk; ++c) {
      A av[kPer], bv[kPer];
#pragma unroll
      for (int p = 0; p < kPer; ++p) {
        av[p] = sm.own[ty + p * kSide][c];
        bv[p] = sm.other[tx + p * kSide][c];
      }
#pragma unroll
      for (int p = 0; p < kPer; ++p)
#pragma unroll
        for (int q = 0; q < kPer; ++q) acc[p][q] += av[p] * bv[q];
    }
    __syncthreads();
  }
}

// One block per tile (blockIdx.y: img rows, blockIdx.x: txt rows): partial[tile] = sum log sigmoid(z l).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    sigmoid_loss_tiles_kernel(const T* __restrict__ img, const T* __restrict__ txt, const int64_t* __restrict__ groups,
                              const T* __restrict__ scale, const T* __restrict__ bias, int64_t B, int64_t D,
                              double* __restrict__ partial) {
  using A = acc_t<T>;
  __shared__ TileSmem<A> sm;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kTile, c0 = static_cast<int64_t>(blockIdx.x) * kTile;
  A acc[kPer][kPer];
  tile_dots(img, r0, txt, c0, B, D, sm, acc);
  const A e = d_exp(A(*scale)), b = A(*bias);
  const int ty = thread_row(), tx = thread_col();
  double s = 0;
#pragma unroll
  for (int p = 0; p < kPer; ++p)
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int64_t i = r0 + ty + p * kSide, j = c0 + tx + q * kSide;
      if (i < B && j < B) {
        const A l = e * acc[p][q] + b;
        s += static_cast<double>(log_sigmoid_of(groups[i] == groups[j] ? l : -l));
      }
    }
  s = block_sum(s, sm.red);
  if (threadIdx.x == 0) partial[static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x] = s;
}

// One block: out[0] = factor * (exp(*exp_of) if exp_of) * sum_k partial[k * stride], k < n, in a fixed order.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    sum_partials_kernel(const double* __restrict__ partial, int64_t n, int64_t stride, double factor,
                        const T* __restrict__ exp_of, T* __restrict__ out) {
  __shared__ double red[kThreads / 32];
  double s = 0;
  for (int64_t k = threadIdx.x; k < n; k += kThreads) s += partial[k * stride];
  s = block_sum(s, red);
  if (threadIdx.x == 0) {
    if (exp_of) factor *= ::exp(static_cast<double>(*exp_of));
    out[0] = T(factor * s);
  }
}

// Blocks [0, nt): g_img for the img rows of tile blockIdx.x, and partial[2 t] = sum g_ij <img_i, txt_j>,
// partial[2 t + 1] = sum g_ij over those rows. Blocks [nt, 2 nt): g_txt for txt rows, img and txt swapped.
// Thread (ty, tx) owns the gradient elements (r0 + ty + p kSide, k0 + tx + q kSide) of every D chunk k0.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    sigmoid_loss_grad_kernel(const T* __restrict__ img, const T* __restrict__ txt, const int64_t* __restrict__ groups,
                             const T* __restrict__ scale, const T* __restrict__ bias, const T* __restrict__ gout,
                             T* __restrict__ g_img, T* __restrict__ g_txt, int64_t B, int64_t D,
                             double* __restrict__ partial) {
  using A = acc_t<T>;
  __shared__ TileSmem<A> sm;
  const int64_t nt = tile_count(B);
  const bool img_rows = static_cast<int64_t>(blockIdx.x) < nt;  // uniform over the block
  const int64_t tile = img_rows ? static_cast<int64_t>(blockIdx.x) : static_cast<int64_t>(blockIdx.x) - nt;
  const int64_t r0 = tile * kTile;
  const T* own = img_rows ? img : txt;
  const T* other = img_rows ? txt : img;
  T* g_own = img_rows ? g_img : g_txt;
  const int ty = thread_row(), tx = thread_col();
  const A e = d_exp(A(*scale)), b = A(*bias), g_factor = -A(*gout) / A(B);

  for (int64_t k0 = 0; k0 < D; k0 += kChunk)  // this block's rows start at zero (only this thread writes these)
#pragma unroll
    for (int p = 0; p < kPer; ++p)
#pragma unroll
      for (int q = 0; q < kPerK; ++q) {
        const int64_t row = r0 + ty + p * kSide, k = k0 + tx + q * kSide;
        if (row < B && k < D) g_own[row * D + k] = T(A(0));
      }

  int64_t own_group[kPer];
#pragma unroll
  for (int p = 0; p < kPer; ++p) {
    const int64_t row = r0 + ty + p * kSide;
    own_group[p] = row < B ? groups[row] : 0;
  }
  double s_gdot = 0, s_g = 0;
  for (int64_t c0 = 0; c0 < B; c0 += kTile) {
    A acc[kPer][kPer];
    tile_dots(own, r0, other, c0, B, D, sm, acc);  // ends with a barrier: sm.g is free to write
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int64_t j = c0 + tx + q * kSide;
      const int64_t other_group = j < B ? groups[j] : 0;
#pragma unroll
      for (int p = 0; p < kPer; ++p) {
        const int64_t i = r0 + ty + p * kSide;
        A w = A(0);
        if (i < B && j < B) {
          const A l = e * acc[p][q] + b;
          const A z = own_group[p] == other_group ? A(1) : A(-1);
          const A g = g_factor * z * sigmoid_of(-z * l);  // dL/dl_ij
          s_gdot += static_cast<double>(g) * static_cast<double>(acc[p][q]);
          s_g += static_cast<double>(g);
          w = e * g;
        }
        sm.g[ty + p * kSide][tx + q * kSide] = w;
      }
    }
    // g_own[r0 + i, k] += sum_j sm.g[i][j] * other[c0 + j, k], D chunk by chunk
    for (int64_t k0 = 0; k0 < D; k0 += kChunk) {
      stage_chunk(other, c0, k0, B, D, sm.other);
      __syncthreads();  // sm.g and sm.other complete
#pragma unroll
      for (int p = 0; p < kPer; ++p)
#pragma unroll
        for (int q = 0; q < kPerK; ++q) {
          const int64_t row = r0 + ty + p * kSide, k = k0 + tx + q * kSide;
          if (row < B && k < D) {
            A s = A(0);
#pragma unroll 8
            for (int j = 0; j < kTile; ++j) s += sm.g[ty + p * kSide][j] * sm.other[j][tx + q * kSide];
            g_own[row * D + k] = T(A(g_own[row * D + k]) + s);
          }
        }
      __syncthreads();  // done with sm.other (and, after the last chunk, sm.g)
    }
  }
  if (img_rows) {
    s_gdot = block_sum(s_gdot, sm.red);
    s_g = block_sum(s_g, sm.red);
    if (threadIdx.x == 0) {
      partial[2 * tile] = s_gdot;
      partial[2 * tile + 1] = s_g;
    }
  }
}

}  // namespace

template <typename T>
void sigmoid_loss_forward(const T* img, const T* txt, const int64_t* groups, const T* scale, const T* bias, T* loss,
                          int64_t B, int64_t D) {
  if (B <= 0) return;
  const int64_t nt = tile_count(B);
  if (nt > kMaxGridY)
    fail("sigmoid_loss_forward: B = {} needs {} x {} tiles of {}; the CUDA grid allows {} per side", B, nt, nt, kTile,
         kMaxGridY);
  Scratch partial(static_cast<size_t>(nt * nt) * sizeof(double));  // [nt, nt]
  const dim3 grid(static_cast<unsigned>(nt), static_cast<unsigned>(nt));
  sigmoid_loss_tiles_kernel<T><<<grid, kThreads, 0, stream()>>>(img, txt, groups, scale, bias, B, D,
                                                                partial.as<double>());
  check_launch("sigmoid_loss_forward (sigmoid_loss_tiles_kernel)");
  sum_partials_kernel<T><<<1, kThreads, 0, stream()>>>(partial.as<double>(), nt * nt, 1,
                                                       -1.0 / static_cast<double>(B), nullptr, loss);
  check_launch("sigmoid_loss_forward (sum_partials_kernel)");
}

template <typename T>
void sigmoid_loss_backward(const T* img, const T* txt, const int64_t* groups, const T* scale, const T* bias,
                           const T* gout, T* g_img, T* g_txt, T* g_scale, T* g_bias, int64_t B, int64_t D) {
  if (B <= 0) return;
  const int64_t nt = tile_count(B);
  if (2 * nt > int64_t{0x7fffffff})
    fail("sigmoid_loss_backward: B = {} needs {} blocks, more than a CUDA grid holds", B, 2 * nt);
  Scratch partial(static_cast<size_t>(2 * nt) * sizeof(double));  // [nt, 2]: sum g <img, txt>, sum g
  sigmoid_loss_grad_kernel<T><<<static_cast<unsigned>(2 * nt), kThreads, 0, stream()>>>(
      img, txt, groups, scale, bias, gout, g_img, g_txt, B, D, partial.as<double>());
  check_launch("sigmoid_loss_backward (sigmoid_loss_grad_kernel)");
  sum_partials_kernel<T><<<1, kThreads, 0, stream()>>>(partial.as<double>(), nt, 2, 1.0, scale, g_scale);
  check_launch("sigmoid_loss_backward (sum_partials_kernel, logit_scale)");
  sum_partials_kernel<T><<<1, kThreads, 0, stream()>>>(partial.as<double>() + 1, nt, 2, 1.0, nullptr, g_bias);
  check_launch("sigmoid_loss_backward (sum_partials_kernel, logit_bias)");
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

}  // namespace sg::cuda
