// attention_tc.cu: bf16 scaled dot-product attention on tensor cores (WMMA, bf16 16x16x16 with float
// accumulators), FlashAttention-2 style; the same formulas, outputs and work split as cuda/attention.cu
// (see there and cpu/attention.cpp), for head dims 32, 64 and 128:
//   forward:   one block per (bh, 64-query tile), looping over 64-key tiles with the online softmax;
//              writes o (bf16) and lse (float).
//   gk, gv:    one block per (bh, 64-key tile), owning those rows; loops over all query tiles.
//   gq:        one block per (bh, 64-query tile), owning those rows; loops over all key tiles.
// No N x M matrix in global memory, no atomics (every sum has a fixed order: deterministic).
// Each block is 4 warps; warp w owns rows 16 w .. 16 w + 15 of every 64-row tile it produces. The tile
// products (S = q k^T, P v, gP = go v^T, P^T go, gS^T q, gS k) are WMMA calls on bf16 tiles in shared
// memory; S and gP are stored as float tiles, on which all threads do the elementwise softmax steps (two
// threads per row; the element layout of WMMA fragments is unspecified and not relied on). P and gS are
// rounded to bf16 for the next product (as FlashAttention does); the softmax statistics, lse, D, the row
// sums and every accumulator stay float. The forward's o accumulator is a float tile in shared memory
// (rescaled by the threads, then loaded into the fragment for P v); the backward's gq, gk, gv accumulate
// in fragments and go out through a float staging tile.
#include "cuda/common.cuh"

#include <cuda_bf16.h>
#include <mma.h>

#include <cstdlib>
#include <cstring>

#include "cuda/attention_tc.h"

namespace sg::cuda {
namespace {

namespace wmma = nvcuda::wmma;
using bfh = __nv_bfloat16;

constexpr int kTcThreads = 128;  // 4 warps
constexpr int kTile = 64;        // query and key tile rows
constexpr int kPadH = 8;         // bf16 row padding (16 bytes; leading dims stay multiples of 8)
constexpr int kPadF = 4;         // float row padding (leading dims stay multiples of 4)
constexpr size_t kMaxSmem = 227 * 1024;
static_assert(kTcThreads / 32 * 16 == kTile, "warp w owns rows 16 w .. 16 w + 15 of a tile");
static_assert(kTcThreads == 2 * kTile, "two threads per row in the elementwise steps");

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bfh, wmma::row_major>;
using FragAT = wmma::fragment<wmma::matrix_a, 16, 16, 16, bfh, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bfh, wmma::row_major>;
using FragBT = wmma::fragment<wmma::matrix_b, 16, 16, 16, bfh, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

extern __shared__ __align__(128) unsigned char tc_smem[];

struct TcMask {  // element (bh, i, j) at data[(bh / H) * sb + (bh % H) * sh + i * si + j * sj]
  const bf16* data;
  int64_t H, sb, sh, si, sj;
};

// Shared-memory tiles (byte sizes are multiples of 128, so every tile and every 16-row block in it is
// 32-byte aligned, as WMMA loads and stores need).
template <int DH>
struct Lay {
  static constexpr int LDH = DH + kPadH;     // bf16 [64][LDH]: q, k, v, go tiles
  static constexpr int LDSF = kTile + kPadF;  // float [64][LDSF]: S, gP
  static constexpr int LDSH = kTile + kPadH;  // bf16 [64][LDSH]: P, gS
  static constexpr int LDO = DH + kPadF;      // float [64][LDO]: o accumulator, output staging
  static constexpr size_t HT = size_t{kTile} * LDH * 2;
  static constexpr size_t SF = size_t{kTile} * LDSF * 4;
  static constexpr size_t SH = size_t{kTile} * LDSH * 2;
  static constexpr size_t OF = size_t{kTile} * LDO * 4;
  static constexpr size_t VEC = size_t{kTile} * 4;
  static constexpr size_t fwd = 3 * HT + SF + SH + OF;           // Q, K, V, S, P, O
  static constexpr size_t dkdv = 4 * HT + 2 * SF + 2 * SH + 2 * VEC;  // K, V, Q, dO, S, gP, P, gS, lse, D
  static constexpr size_t dq = 4 * HT + 2 * SF + SH;             // Q, dO, K, V, S, gP, gS
  static_assert(HT % 128 == 0 && SF % 128 == 0 && SH % 128 == 0 && OF % 128 == 0 && VEC % 128 == 0, "alignment");
  static_assert(OF <= 2 * SF, "the gradient staging tile fits in the S and gP tiles");
  static_assert(fwd <= kMaxSmem && dkdv <= kMaxSmem && dq <= kMaxSmem, "shared memory per block");
  static_assert(DH % 16 == 0 && DH <= 128, "head dim");
};

// Rows [row0, row0 + 64) of a [total, DH] bf16 matrix into a [64][LDH] shared tile, zero rows past the end.
// vec: the matrix is 16-byte aligned (then every row is: DH is a multiple of 8), copied 8 elements at a time.
template <int DH>
__device__ __forceinline__ void load_rows(bfh* __restrict__ dst, const bf16* __restrict__ src, int64_t row0,
                                          int64_t total, bool vec) {
  constexpr int LDH = Lay<DH>::LDH;
  const int tid = static_cast<int>(threadIdx.x);
  if (vec) {
    constexpr int CPR = DH / 8;  // 16-byte chunks per row
    for (int e = tid; e < kTile * CPR; e += kTcThreads) {
      const int r = e / CPR, c = (e - r * CPR) * 8;
      uint4 val = make_uint4(0u, 0u, 0u, 0u);
      if (row0 + r < total) val = *reinterpret_cast<const uint4*>(src + (row0 + r) * DH + c);
      *reinterpret_cast<uint4*>(dst + r * LDH + c) = val;
    }
  } else {
    uint16_t* d16 = reinterpret_cast<uint16_t*>(dst);
    for (int e = tid; e < kTile * DH; e += kTcThreads) {
      const int r = e / DH, c = e - r * DH;
      d16[r * LDH + c] = row0 + r < total ? src[(row0 + r) * DH + c].bits : uint16_t{0};
    }
  }
}

// acc += X[16 rows, 0:K] Y[16 rows, 0:K]^T (X, Y row-major with leading dims ldx, ldy).
template <int K>
__device__ __forceinline__ void mma_abt(FragC& acc, const bfh* X, int ldx, const bfh* Y, int ldy) {
#pragma unroll
  for (int k = 0; k < K; k += 16) {
    FragA a;
    FragBT b;
    wmma::load_matrix_sync(a, X + k, ldx);
    wmma::load_matrix_sync(b, Y + k, ldy);
    wmma::mma_sync(acc, a, b, acc);
  }
}
// acc += X[0:K, 16 cols]^T Z[0:K, 16 cols] (X, Z row-major).
template <int K>
__device__ __forceinline__ void mma_atb(FragC& acc, const bfh* X, int ldx, const bfh* Z, int ldz) {
#pragma unroll
  for (int k = 0; k < K; k += 16) {
    FragAT a;
    FragB b;
    wmma::load_matrix_sync(a, X + k * ldx, ldx);
    wmma::load_matrix_sync(b, Z + k * ldz, ldz);
    wmma::mma_sync(acc, a, b, acc);
  }
}
// acc += X[16 rows, 0:K] Z[0:K, 16 cols] (X, Z row-major).
template <int K>
__device__ __forceinline__ void mma_ab(FragC& acc, const bfh* X, int ldx, const bfh* Z, int ldz) {
#pragma unroll
  for (int k = 0; k < K; k += 16) {
    FragA a;
    FragB b;
    wmma::load_matrix_sync(a, X + k, ldx);
    wmma::load_matrix_sync(b, Z + k * ldz, ldz);
    wmma::mma_sync(acc, a, b, acc);
  }
}

// Warp w: Out[16 w .. 16 w + 15][0:64] = X[16 w .., 0:DH] Y[0:64, 0:DH]^T (float, leading dim LDSF).
template <int DH>
__device__ __forceinline__ void scores_of_warp(float* Out, const bfh* X, const bfh* Y, int warp) {
  constexpr int LDH = Lay<DH>::LDH, LDSF = Lay<DH>::LDSF;
#pragma unroll
  for (int cb = 0; cb < kTile / 16; ++cb) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
    mma_abt<DH>(acc, X + warp * 16 * LDH, LDH, Y + cb * 16 * LDH, LDH);
    wmma::store_matrix_sync(Out + warp * 16 * LDSF + cb * 16, acc, LDSF, wmma::mem_row_major);
  }
}

__device__ __forceinline__ const bf16* mask_rows(const TcMask& m, int64_t bh) {
  return m.data ? m.data + (bh / m.H) * m.sb + (bh % m.H) * m.sh : nullptr;
}

// Each thread of the elementwise steps owns row tid / 2 and the columns part + 2 t (part = tid % 2), t < 32.
constexpr int kColsPerThread = kTile / 2;

template <int DH>
__global__ void __launch_bounds__(kTcThreads)
    tc_fwd_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, TcMask mask,
                  bf16* __restrict__ o, float* __restrict__ lse, int64_t N, int64_t M, float scale, int64_t bh0,
                  bool vec) {
  using L = Lay<DH>;
  constexpr int LDH = L::LDH, LDSF = L::LDSF, LDSH = L::LDSH, LDO = L::LDO;
  bfh* Qs = reinterpret_cast<bfh*>(tc_smem);
  bfh* Ks = reinterpret_cast<bfh*>(tc_smem + L::HT);
  bfh* Vs = reinterpret_cast<bfh*>(tc_smem + 2 * L::HT);
  float* Ss = reinterpret_cast<float*>(tc_smem + 3 * L::HT);
  bfh* Ps = reinterpret_cast<bfh*>(tc_smem + 3 * L::HT + L::SF);
  float* Os = reinterpret_cast<float*>(tc_smem + 3 * L::HT + L::SF + L::SH);

  const int tid = static_cast<int>(threadIdx.x), warp = tid >> 5, row = tid >> 1, part = tid & 1;
  const int64_t bh = bh0 + blockIdx.y;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kTile, i = i0 + row;
  const bf16* kb = k + bh * M * DH;
  const bf16* vb = v + bh * M * DH;
  const bf16* mb = mask_rows(mask, bh);
  const bf16* mrow = mb && i < N ? mb + i * mask.si : nullptr;

  load_rows<DH>(Qs, q + bh * N * DH, i0, N, vec);
  for (int e = tid; e < kTile * LDO; e += kTcThreads) Os[e] = 0.0f;
  float m_run = -INFINITY, l_run = 0.0f;  // this row's running max and sum (both threads of the row hold them)

  for (int64_t j0 = 0; j0 < M; j0 += kTile) {
    __syncthreads();  // every warp is done with Ks and Vs (and Qs, Os are written)
    load_rows<DH>(Ks, kb, j0, M, vec);
    load_rows<DH>(Vs, vb, j0, M, vec);
    __syncthreads();
    scores_of_warp<DH>(Ss, Qs, Ks, warp);
    __syncwarp();  // the warp's rows of S are stored; from here to P v each warp works on its own rows
    {
      const float* srow = Ss + row * LDSF;
      float sv[kColsPerThread];
      float mx = -INFINITY;
#pragma unroll
      for (int t = 0; t < kColsPerThread; ++t) {
        const int c = part + 2 * t;
        const int64_t j = j0 + c;
        float s = -INFINITY;
        if (j < M) {
          s = srow[c] * scale;
          if (mrow) s += static_cast<float>(mrow[j * mask.sj]);
        }
        sv[t] = s;
        mx = fmaxf(mx, s);
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      const float m_new = fmaxf(m_run, mx);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // all -inf so far: exp(-inf - 0) = 0, no NaN
      bfh* prow = Ps + row * LDSH;
      float sum = 0.0f;
#pragma unroll
      for (int t = 0; t < kColsPerThread; ++t) {
        const float p = expf(sv[t] - m_use);
        prow[part + 2 * t] = __float2bfloat16(p);
        sum += p;
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      const float alpha = expf(m_run - m_use);
      l_run = l_run * alpha + sum;
      m_run = m_new;
      float* orow = Os + row * LDO;
      for (int c = part; c < DH; c += 2) orow[c] *= alpha;
    }
    __syncwarp();  // the warp's rows of P and O are written
#pragma unroll
    for (int cb = 0; cb < DH / 16; ++cb) {
      float* op = Os + warp * 16 * LDO + cb * 16;
      FragC acc;
      wmma::load_matrix_sync(acc, op, LDO, wmma::mem_row_major);
      mma_ab<kTile>(acc, Ps + warp * 16 * LDSH, LDSH, Vs + cb * 16, LDH);
      __syncwarp();  // every lane has loaded the block before any lane overwrites it (no layout assumption)
      wmma::store_matrix_sync(op, acc, LDO, wmma::mem_row_major);
    }
  }
  __syncwarp();  // the warp's rows of O are stored
  if (i < N) {
    const float nan = INFINITY - INFINITY;
    const float inv = l_run > 0.0f ? 1.0f / l_run : nan;  // a row with every score -inf: NaN, as on the CPU
    const float* orow = Os + row * LDO;
    bf16* out = o + (bh * N + i) * DH;
    for (int c = part; c < DH; c += 2) out[c] = bf16(orow[c] * inv);
    if (part == 0) lse[bh * N + i] = l_run > 0.0f ? m_run + logf(l_run) : nan;
  }
}

// P = exp(scale S + mask - lse) and gS = P (gP - D) for the thread's row and columns, rounded to bf16 into Ps
// (when not null) and dSs. Zero outside [0, N) x [0, M).
template <int DH>
__device__ __forceinline__ void probs_and_grads_tc(const float* __restrict__ Ss, const float* __restrict__ dPs,
                                                   bfh* __restrict__ Ps, bfh* __restrict__ dSs, float lse_r, float D_r,
                                                   const bf16* __restrict__ mrow, int64_t sj, bool row_in,
                                                   int64_t j0, int64_t M, float scale, int row, int part) {
  constexpr int LDSF = Lay<DH>::LDSF, LDSH = Lay<DH>::LDSH;
#pragma unroll 8
  for (int t = 0; t < kColsPerThread; ++t) {
    const int c = part + 2 * t;
    const int64_t j = j0 + c;
    float p = 0.0f;
    if (row_in && j < M) {
      float s = Ss[row * LDSF + c] * scale;
      if (mrow) s += static_cast<float>(mrow[j * sj]);
      p = expf(s - lse_r);
    }
    const float ds = p * (dPs[row * LDSF + c] - D_r);
    if (Ps) Ps[row * LDSH + c] = __float2bfloat16(p);
    dSs[row * LDSH + c] = __float2bfloat16(ds);
  }
}

// Writes rows [r0, r0 + 64) of a [total, DH] bf16 matrix from the float staging tile St (times mul); the
// calling thread writes row tid / 2, columns part + 2 t.
template <int DH>
__device__ __forceinline__ void write_rows(bf16* __restrict__ dst, const float* __restrict__ St, int64_t r0,
                                           int64_t total, float mul, int row, int part) {
  constexpr int LDO = Lay<DH>::LDO;
  if (r0 + row >= total) return;
  bf16* out = dst + (r0 + row) * DH;
  for (int c = part; c < DH; c += 2) out[c] = bf16(St[row * LDO + c] * mul);
}

template <int DH>
__global__ void __launch_bounds__(kTcThreads)
    tc_dkdv_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, TcMask mask,
                   const float* __restrict__ lse, const float* __restrict__ Dv, const bf16* __restrict__ go,
                   bf16* __restrict__ gk, bf16* __restrict__ gv, int64_t N, int64_t M, float scale, int64_t bh0,
                   bool vec) {
  using L = Lay<DH>;
  constexpr int LDH = L::LDH, LDSH = L::LDSH, LDO = L::LDO;
  bfh* Ks = reinterpret_cast<bfh*>(tc_smem);
  bfh* Vs = reinterpret_cast<bfh*>(tc_smem + L::HT);
  bfh* Qs = reinterpret_cast<bfh*>(tc_smem + 2 * L::HT);
  bfh* dOs = reinterpret_cast<bfh*>(tc_smem + 3 * L::HT);
  float* Ss = reinterpret_cast<float*>(tc_smem + 4 * L::HT);
  float* dPs = reinterpret_cast<float*>(tc_smem + 4 * L::HT + L::SF);
  bfh* Ps = reinterpret_cast<bfh*>(tc_smem + 4 * L::HT + 2 * L::SF);
  bfh* dSs = reinterpret_cast<bfh*>(tc_smem + 4 * L::HT + 2 * L::SF + L::SH);
  float* lse_s = reinterpret_cast<float*>(tc_smem + 4 * L::HT + 2 * L::SF + 2 * L::SH);
  float* D_s = lse_s + kTile;
  float* St = Ss;  // [64][LDO] staging for the outputs, over S and gP once the loop is done

  const int tid = static_cast<int>(threadIdx.x), warp = tid >> 5, row = tid >> 1, part = tid & 1;
  const int64_t bh = bh0 + blockIdx.y;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const bf16* qb = q + bh * N * DH;
  const bf16* gob = go + bh * N * DH;
  const bf16* mb = mask_rows(mask, bh);

  load_rows<DH>(Ks, k + bh * M * DH, j0, M, vec);
  load_rows<DH>(Vs, v + bh * M * DH, j0, M, vec);
  FragC dk[DH / 16], dv[DH / 16];  // rows 16 warp .. of this key tile's gk (unscaled) and gv
#pragma unroll
  for (int cb = 0; cb < DH / 16; ++cb) {
    wmma::fill_fragment(dk[cb], 0.0f);
    wmma::fill_fragment(dv[cb], 0.0f);
  }

  for (int64_t i0 = 0; i0 < N; i0 += kTile) {
    __syncthreads();  // every warp is done with Qs, dOs, Ps, dSs, lse_s, D_s
    load_rows<DH>(Qs, qb, i0, N, vec);
    load_rows<DH>(dOs, gob, i0, N, vec);
    if (tid < kTile) {
      const bool in = i0 + tid < N;
      lse_s[tid] = in ? lse[bh * N + i0 + tid] : 0.0f;
      D_s[tid] = in ? Dv[bh * N + i0 + tid] : 0.0f;
    }
    __syncthreads();
    scores_of_warp<DH>(Ss, Qs, Ks, warp);    // S[i][j] = q_i . k_j
    scores_of_warp<DH>(dPs, dOs, Vs, warp);  // gP[i][j] = go_i . v_j
    __syncwarp();
    {
      const int64_t i = i0 + row;
      const bf16* mrow = mb && i < N ? mb + i * mask.si : nullptr;
      probs_and_grads_tc<DH>(Ss, dPs, Ps, dSs, lse_s[row], D_s[row], mrow, mask.sj, i < N, j0, M, scale, row, part);
    }
    __syncthreads();  // gv and gk need every query row of P and gS
#pragma unroll
    for (int cb = 0; cb < DH / 16; ++cb) {
      mma_atb<kTile>(dv[cb], Ps + warp * 16, LDSH, dOs + cb * 16, LDH);  // gv[j] += sum_i P[i][j] go_i
      mma_atb<kTile>(dk[cb], dSs + warp * 16, LDSH, Qs + cb * 16, LDH);  // gk[j] += sum_i gS[i][j] q_i
    }
  }

  __syncthreads();  // St overlays S and gP of every warp
#pragma unroll
  for (int cb = 0; cb < DH / 16; ++cb)
    wmma::store_matrix_sync(St + warp * 16 * LDO + cb * 16, dk[cb], LDO, wmma::mem_row_major);
  __syncwarp();
  write_rows<DH>(gk + bh * M * DH, St, j0, M, scale, row, part);
  __syncwarp();
#pragma unroll
  for (int cb = 0; cb < DH / 16; ++cb)
    wmma::store_matrix_sync(St + warp * 16 * LDO + cb * 16, dv[cb], LDO, wmma::mem_row_major);
  __syncwarp();
  write_rows<DH>(gv + bh * M * DH, St, j0, M, 1.0f, row, part);
}

template <int DH>
__global__ void __launch_bounds__(kTcThreads)
    tc_dq_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, TcMask mask,
                 const float* __restrict__ lse, const float* __restrict__ Dv, const bf16* __restrict__ go,
                 bf16* __restrict__ gq, int64_t N, int64_t M, float scale, int64_t bh0, bool vec) {
  using L = Lay<DH>;
  constexpr int LDH = L::LDH, LDSH = L::LDSH, LDO = L::LDO;
  bfh* Qs = reinterpret_cast<bfh*>(tc_smem);
  bfh* dOs = reinterpret_cast<bfh*>(tc_smem + L::HT);
  bfh* Ks = reinterpret_cast<bfh*>(tc_smem + 2 * L::HT);
  bfh* Vs = reinterpret_cast<bfh*>(tc_smem + 3 * L::HT);
  float* Ss = reinterpret_cast<float*>(tc_smem + 4 * L::HT);
  float* dPs = reinterpret_cast<float*>(tc_smem + 4 * L::HT + L::SF);
  bfh* dSs = reinterpret_cast<bfh*>(tc_smem + 4 * L::HT + 2 * L::SF);
  float* St = Ss;  // [64][LDO] staging for gq, over S and gP once the loop is done

  const int tid = static_cast<int>(threadIdx.x), warp = tid >> 5, row = tid >> 1, part = tid & 1;
  const int64_t bh = bh0 + blockIdx.y;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kTile, i = i0 + row;
  const bf16* kb = k + bh * M * DH;
  const bf16* vb = v + bh * M * DH;
  const bf16* mb = mask_rows(mask, bh);
  const bf16* mrow = mb && i < N ? mb + i * mask.si : nullptr;
  const float lse_r = i < N ? lse[bh * N + i] : 0.0f;
  const float D_r = i < N ? Dv[bh * N + i] : 0.0f;

  load_rows<DH>(Qs, q + bh * N * DH, i0, N, vec);
  load_rows<DH>(dOs, go + bh * N * DH, i0, N, vec);
  FragC dq[DH / 16];  // rows 16 warp .. of this query tile's gq (unscaled)
#pragma unroll
  for (int cb = 0; cb < DH / 16; ++cb) wmma::fill_fragment(dq[cb], 0.0f);

  for (int64_t j0 = 0; j0 < M; j0 += kTile) {
    __syncthreads();  // every warp is done with Ks, Vs
    load_rows<DH>(Ks, kb, j0, M, vec);
    load_rows<DH>(Vs, vb, j0, M, vec);
    __syncthreads();
    scores_of_warp<DH>(Ss, Qs, Ks, warp);
    scores_of_warp<DH>(dPs, dOs, Vs, warp);
    __syncwarp();  // from here to gS k each warp works on its own rows
    probs_and_grads_tc<DH>(Ss, dPs, nullptr, dSs, lse_r, D_r, mrow, mask.sj, i < N, j0, M, scale, row, part);
    __syncwarp();
#pragma unroll
    for (int cb = 0; cb < DH / 16; ++cb)
      mma_ab<kTile>(dq[cb], dSs + warp * 16 * LDSH, LDSH, Ks + cb * 16, LDH);  // gq[i] += sum_j gS[i][j] k_j
  }

  __syncthreads();  // St overlays S and gP of every warp
#pragma unroll
  for (int cb = 0; cb < DH / 16; ++cb)
    wmma::store_matrix_sync(St + warp * 16 * LDO + cb * 16, dq[cb], LDO, wmma::mem_row_major);
  __syncwarp();
  write_rows<DH>(gq + bh * N * DH, St, i0, N, scale, row, part);
}

template <typename K>
void tc_allow_smem(K kernel, size_t bytes, const char* name) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), name);
}

// Launches over bh in chunks of at most 65535 (grid.y).
template <typename F>
void tc_for_bh_chunks(int64_t BH, F launch) {
  for (int64_t bh0 = 0; bh0 < BH; bh0 += 65535)
    launch(bh0, static_cast<unsigned>(std::min<int64_t>(BH - bh0, 65535)));
}

TcMask tc_mask_of(const MaskView& m) {
  return TcMask{static_cast<const bf16*>(m.data), m.H < 1 ? 1 : m.H, m.sb, m.sh, m.si, m.sj};
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <int DH>
void tc_forward_dh(const bf16* q, const bf16* k, const bf16* v, const TcMask& mask, bf16* o, float* lse, int64_t BH,
                   int64_t N, int64_t M, float scale) {
  constexpr size_t smem = Lay<DH>::fwd;
  static const bool once =
      (tc_allow_smem(tc_fwd_kernel<DH>, smem, "attention_forward (cudaFuncSetAttribute, tc_fwd_kernel)"), true);
  (void)once;
  const int64_t tiles = (N + kTile - 1) / kTile;
  SG_CHECK(tiles <= INT32_MAX, "attention_forward: N = {} too large", N);
  const bool vec = aligned16(q) && aligned16(k) && aligned16(v);
  tc_for_bh_chunks(BH, [&](int64_t bh0, unsigned nbh) {
    tc_fwd_kernel<DH><<<dim3(static_cast<unsigned>(tiles), nbh), kTcThreads, smem, stream()>>>(
        q, k, v, mask, o, lse, N, M, scale, bh0, vec);
    check_launch("attention_forward (tc_fwd_kernel)");
  });
}

template <int DH>
void tc_backward_dh(const bf16* q, const bf16* k, const bf16* v, const TcMask& mask, const float* lse, const float* D,
                    const bf16* go, bf16* gq, bf16* gk, bf16* gv, int64_t BH, int64_t N, int64_t M, float scale) {
  constexpr size_t smem_kv = Lay<DH>::dkdv, smem_q = Lay<DH>::dq;
  static const bool once =
      (tc_allow_smem(tc_dkdv_kernel<DH>, smem_kv, "attention_backward (cudaFuncSetAttribute, tc_dkdv_kernel)"),
       tc_allow_smem(tc_dq_kernel<DH>, smem_q, "attention_backward (cudaFuncSetAttribute, tc_dq_kernel)"), true);
  (void)once;
  const int64_t ktiles = (M + kTile - 1) / kTile, qtiles = (N + kTile - 1) / kTile;
  SG_CHECK(ktiles <= INT32_MAX && qtiles <= INT32_MAX, "attention_backward: N = {}, M = {} too large", N, M);
  const bool vec = aligned16(q) && aligned16(k) && aligned16(v) && aligned16(go);
  tc_for_bh_chunks(BH, [&](int64_t bh0, unsigned nbh) {
    tc_dkdv_kernel<DH><<<dim3(static_cast<unsigned>(ktiles), nbh), kTcThreads, smem_kv, stream()>>>(
        q, k, v, mask, lse, D, go, gk, gv, N, M, scale, bh0, vec);
    check_launch("attention_backward (tc_dkdv_kernel)");
    tc_dq_kernel<DH><<<dim3(static_cast<unsigned>(qtiles), nbh), kTcThreads, smem_q, stream()>>>(
        q, k, v, mask, lse, D, go, gq, N, M, scale, bh0, vec);
    check_launch("attention_backward (tc_dq_kernel)");
  });
}

}  // namespace

bool tc_attention_supported(int64_t Dh) {
  static const bool enabled = [] {
    const char* e = std::getenv("SG_ATTN_TC");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return enabled && (Dh == 32 || Dh == 64 || Dh == 128);
}

void tc_attention_forward(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, bf16* o, float* lse,
                          int64_t BH, int64_t N, int64_t M, int64_t Dh, float scale) {
  SG_CHECK(Dh == 32 || Dh == 64 || Dh == 128, "attention_forward: tensor-core path for head dim {}", Dh);
  if (BH <= 0 || N <= 0 || M <= 0) return;  // the caller handles M = 0
  const TcMask mk = tc_mask_of(mask);
  if (Dh == 32) tc_forward_dh<32>(q, k, v, mk, o, lse, BH, N, M, scale);
  else if (Dh == 64) tc_forward_dh<64>(q, k, v, mk, o, lse, BH, N, M, scale);
  else tc_forward_dh<128>(q, k, v, mk, o, lse, BH, N, M, scale);
}

void tc_attention_backward(const bf16* q, const bf16* k, const bf16* v, const MaskView& mask, const float* lse,
                           const float* D, const bf16* go, bf16* gq, bf16* gk, bf16* gv, int64_t BH, int64_t N,
                           int64_t M, int64_t Dh, float scale) {
  SG_CHECK(Dh == 32 || Dh == 64 || Dh == 128, "attention_backward: tensor-core path for head dim {}", Dh);
  if (BH <= 0 || N <= 0 || M <= 0) return;  // the caller handles empty sums
  const TcMask mk = tc_mask_of(mask);
  if (Dh == 32) tc_backward_dh<32>(q, k, v, mk, lse, D, go, gq, gk, gv, BH, N, M, scale);
  else if (Dh == 64) tc_backward_dh<64>(q, k, v, mk, lse, D, go, gq, gk, gv, BH, N, M, scale);
  else tc_backward_dh<128>(q, k, v, mk, lse, D, go, gq, gk, gv, BH, N, M, scale);
}

}  // namespace sg::cuda
