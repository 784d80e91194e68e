// attention.cu: fused scaled dot-product attention, FlashAttention-2 style (formulas in cpu/attention.cpp):
//   S = scale * q k^T + mask,  P = softmax(S),  o = P v,  lse = rowwise log-sum-exp of S
//   backward (P recomputed from lse):  D = rowsum(go * o),  gv = P^T go,  gP = go v^T,  gS = P * (gP - D),
//                                      gq = scale * gS k,  gk = scale * gS^T q
// No N x M matrix ever goes to global memory and there are no atomics:
//   forward:   one block per (bh, tile of BQ queries); loops over key tiles of BK with the online softmax,
//              the o tile accumulating in registers.
//   D:         one warp per query row.
//   gk, gv:    one block per (bh, tile of BK keys), which owns those rows of gk and gv; loops over all query
//              tiles, recomputing S and P for the (query tile, key tile) pair.
//   gq:        one block per (bh, tile of BQ queries), which owns those rows of gq; loops over all key tiles.
// Every block is 256 threads seen as 16 x 16 (ty, tx); a tile product gives thread (ty, tx) the outputs
// at rows ty + 16 a, columns tx + 16 b (strided, so that shared-memory reads do not conflict). Tiles live
// in shared memory with rows padded by one element. The head dim is rounded up to a compile-time DH of
// 32, 64, 96 or 128 (zero padding); f32 uses 64 x 64 tiles, f64 32 x 32 (the shared-memory limit).
// Plain FMA arithmetic (no tensor cores): correctness first; see docs/cuda-notes.md. bf16 q, k, v, go are
// widened to float as tiles are loaded: shared memory, registers, lse and D are float; outputs rounded once.
#include "cuda/common.cuh"

#include <type_traits>

#include "cuda/attention_tc.h"

namespace sg::cuda {
namespace {

constexpr int kAttnThreads = 256;

extern __shared__ __align__(16) unsigned char attn_smem[];

// Mask: element (bh, i, j) at data[(bh / H) * sb + (bh % H) * sh + i * si + j * sj].
template <typename T>
struct Mask {
  const T* data;
  int64_t H, sb, sh, si, sj;
  __device__ __forceinline__ const T* for_bh(int64_t bh) const {
    return data ? data + (bh / H) * sb + (bh % H) * sh : nullptr;
  }
};

template <typename T, int BQ, int BK>
struct Tiles {
  static_assert(BQ % 16 == 0 && BK % 16 == 0, "tiles are multiples of 16");
  static_assert(kAttnThreads % BQ == 0 && kAttnThreads / BQ <= 32, "rows split evenly across lanes of a warp");
  static constexpr int RQ = BQ / 16;  // rows of a BQ tile per thread
  static constexpr int RK = BK / 16;  // rows (or columns) of a BK tile per thread
  static constexpr int LDS = BK + 1;  // leading dim of [BQ][BK] score tiles in shared memory
};

// acc[a][b] += sum_k opA(ty + 16 a, k) * opB(k, tx + 16 b) over k < K, operands in shared memory:
//   opA(r, k) = TA ? A[k * lda + r] : A[r * lda + k],  opB(k, c) = TB ? B[c * ldb + k] : B[k * ldb + c].
template <typename T, int R, int C, int K, bool TA, bool TB>
__device__ __forceinline__ void tile_mma(T (&acc)[R][C], const T* __restrict__ A, int lda, const T* __restrict__ B,
                                         int ldb, int ty, int tx) {
#pragma unroll 4
  for (int k = 0; k < K; ++k) {
    T a[R], b[C];
#pragma unroll
    for (int r = 0; r < R; ++r) a[r] = TA ? A[k * lda + ty + 16 * r] : A[(ty + 16 * r) * lda + k];
#pragma unroll
    for (int c = 0; c < C; ++c) b[c] = TB ? B[(tx + 16 * c) * ldb + k] : B[k * ldb + tx + 16 * c];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);
  }
}

template <typename T, int R, int C>
__device__ __forceinline__ void zero(T (&acc)[R][C]) {
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < C; ++c) acc[r][c] = T(0);
}

// Copies rows [row0, row0 + ROWS) of a [total, Dh] matrix into a [ROWS][DH + 1] shared tile, zero past the
// end (rows >= total, columns >= Dh).
// The tile holds the compute type A (float for bf16 storage T).
template <int ROWS, int DH, typename A, typename T>
__device__ __forceinline__ void load_tile(A* __restrict__ dst, const T* __restrict__ src, int64_t row0, int64_t total,
                                          int Dh) {
  constexpr int LDD = DH + 1;
  for (int e = static_cast<int>(threadIdx.x); e < ROWS * DH; e += kAttnThreads) {
    const int r = e / DH, c = e - r * DH;
    A v = A(0);
    if (row0 + r < total && c < Dh) v = A(src[(row0 + r) * Dh + c]);
    dst[r * LDD + c] = v;
  }
}

template <typename T, int DH, int BQ, int BK>
constexpr size_t fwd_smem_bytes() {
  return sizeof(T) * (static_cast<size_t>(BQ) * (DH + 1) + static_cast<size_t>(BK) * (DH + 1) +
                      static_cast<size_t>(BQ) * (BK + 1) + 3 * static_cast<size_t>(BQ));
}

// Two blocks fit an SM's shared memory (83 KB each for f32 at DH = 128): ask for registers to match.
template <typename T, int DH, int BQ, int BK, typename A = acc_t<T>>
__global__ void __launch_bounds__(kAttnThreads, 2)
    attn_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, Mask<T> mask,
                    T* __restrict__ o, A* __restrict__ lse, int64_t N, int64_t M, int Dh, A scale, int64_t bh0) {
  using Tl = Tiles<A, BQ, BK>;
  constexpr int LDD = DH + 1, LDS = Tl::LDS, RQ = Tl::RQ, RK = Tl::RK, CD = DH / 16;
  constexpr int TPR = kAttnThreads / BQ;  // threads per row for the softmax statistics
  A* Qs = reinterpret_cast<A*>(attn_smem);  // [BQ][LDD]
  A* KVs = Qs + BQ * LDD;                   // [BK][LDD]: K, then V, of the current key tile
  A* Ss = KVs + BK * LDD;                   // [BQ][LDS]: scores, then probabilities
  A* m_s = Ss + BQ * LDS;                   // [BQ] running max
  A* l_s = m_s + BQ;                        // [BQ] running sum
  A* alpha_s = l_s + BQ;                    // [BQ] rescale factor of this step

  const int tid = static_cast<int>(threadIdx.x), ty = tid >> 4, tx = tid & 15;
  const int64_t bh = bh0 + blockIdx.y;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * BQ;
  const T* qb = q + bh * N * Dh;
  const T* kb = k + bh * M * Dh;
  const T* vb = v + bh * M * Dh;
  const T* mb = mask.for_bh(bh);
  const A inf = d_inf<A>();

  load_tile<BQ, DH>(Qs, qb, i0, N, Dh);
  if (tid < BQ) {
    m_s[tid] = -inf;
    l_s[tid] = A(0);
  }
  A acc[RQ][CD];
  zero(acc);

  for (int64_t j0 = 0; j0 < M; j0 += BK) {
    __syncthreads();  // the previous step is done with KVs (V)
    load_tile<BK, DH>(KVs, kb, j0, M, Dh);
    __syncthreads();
    {
      A s[RQ][RK];
      zero(s);
      tile_mma<A, RQ, RK, DH, false, true>(s, Qs, LDD, KVs, LDD, ty, tx);
#pragma unroll
      for (int a = 0; a < RQ; ++a)
#pragma unroll
        for (int b = 0; b < RK; ++b) {
          const int r = ty + 16 * a, c = tx + 16 * b;
          const int64_t i = i0 + r, j = j0 + c;
          A val = s[a][b] * scale;
          if (j >= M)
            val = -inf;
          else if (mb && i < N)
            val += A(mb[i * mask.si + j * mask.sj]);
          Ss[r * LDS + c] = val;
        }
    }
    __syncthreads();
    {
      // Online softmax: TPR consecutive threads share a row.
      const int row = tid / TPR, part = tid % TPR;
      const A m_old = m_s[row];
      A mx = -inf;
      for (int c = part; c < BK; c += TPR) mx = d_max(mx, Ss[row * LDS + c]);
#pragma unroll
      for (int off = TPR / 2; off > 0; off >>= 1) mx = d_max(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const A m_new = d_max(m_old, mx);
      const A m_use = m_new == -inf ? A(0) : m_new;  // all -inf so far: exp(-inf - 0) = 0, no NaN
      A sum = A(0);
      for (int c = part; c < BK; c += TPR) {
        const A p = d_exp(Ss[row * LDS + c] - m_use);
        Ss[row * LDS + c] = p;
        sum += p;
      }
#pragma unroll
      for (int off = TPR / 2; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      __syncwarp();  // every lane of the row has read m_s[row] before lane 0 of the row rewrites it
      if (part == 0) {
        const A al = d_exp(m_old - m_use);
        alpha_s[row] = al;
        l_s[row] = l_s[row] * al + sum;
        m_s[row] = m_new;
      }
    }
    load_tile<BK, DH>(KVs, vb, j0, M, Dh);  // K is no longer read: the barrier above came after S
    __syncthreads();
#pragma unroll
    for (int a = 0; a < RQ; ++a) {
      const A al = alpha_s[ty + 16 * a];
#pragma unroll
      for (int c = 0; c < CD; ++c) acc[a][c] *= al;
    }
    tile_mma<A, RQ, CD, BK, false, false>(acc, Ss, LDS, KVs, LDD, ty, tx);
  }

  // m_s and l_s were last written before the last barrier.
  const A nan = inf - inf;
#pragma unroll
  for (int a = 0; a < RQ; ++a) {
    const int r = ty + 16 * a;
    const int64_t i = i0 + r;
    if (i >= N) continue;
    const A l = l_s[r];
    const A inv = l > A(0) ? A(1) / l : nan;  // a row with every score -inf: NaN, as on the CPU
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int col = tx + 16 * c;
      if (col < Dh) o[(bh * N + i) * Dh + col] = T(acc[a][c] * inv);
    }
  }
  if (tid < BQ && i0 + tid < N) {
    const A l = l_s[tid];
    lse[bh * N + i0 + tid] = l > A(0) ? m_s[tid] + d_log(l) : nan;
  }
}

// D[row] = sum_c go[row, c] * o[row, c], one warp per row.
template <typename T, typename A = acc_t<T>>
__global__ void attn_rowdot_kernel(const T* __restrict__ go, const T* __restrict__ o, A* __restrict__ D, int64_t rows,
                                   int Dh) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    A s = A(0);
    for (int c = lane; c < Dh; c += 32) s += A(go[r * Dh + c]) * A(o[r * Dh + c]);
    s = warp_sum(s);
    if (lane == 0) D[r] = s;
  }
}

// P and gS for a (query tile, key tile) pair, written to shared memory, from the thread's S and gP tiles.
// T: compute type; S: the mask's storage type.
template <typename T, int BQ, int BK, typename S>
__device__ __forceinline__ void probs_and_grads(const T (&s)[BQ / 16][BK / 16], const T (&dp)[BQ / 16][BK / 16],
                                                T* __restrict__ Ps, T* __restrict__ dSs, const T* __restrict__ lse_s,
                                                const T* __restrict__ D_s, const S* __restrict__ mb,
                                                const Mask<S>& mask, int64_t i0, int64_t j0, int64_t N, int64_t M,
                                                T scale, int ty, int tx) {
  constexpr int LDS = BK + 1;
#pragma unroll
  for (int a = 0; a < BQ / 16; ++a)
#pragma unroll
    for (int b = 0; b < BK / 16; ++b) {
      const int r = ty + 16 * a, c = tx + 16 * b;
      const int64_t i = i0 + r, j = j0 + c;
      T p = T(0);
      if (i < N && j < M) {
        T val = s[a][b] * scale;
        if (mb) val += T(mb[i * mask.si + j * mask.sj]);
        p = d_exp(val - lse_s[r]);
      }
      if (Ps) Ps[r * LDS + c] = p;
      dSs[r * LDS + c] = p * (dp[a][b] - D_s[r]);
    }
}

template <typename T, int DH, int BQ, int BK>
constexpr size_t dkdv_smem_bytes() {
  return sizeof(T) * (2 * static_cast<size_t>(BK) * (DH + 1) + 2 * static_cast<size_t>(BQ) * (DH + 1) +
                      2 * static_cast<size_t>(BQ) * (BK + 1) + 2 * static_cast<size_t>(BQ));
}

template <typename T, int DH, int BQ, int BK, typename A = acc_t<T>>
__global__ void __launch_bounds__(kAttnThreads)
    attn_dkdv_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, Mask<T> mask,
                     const A* __restrict__ lse, const A* __restrict__ Dv, const T* __restrict__ go, T* __restrict__ gk,
                     T* __restrict__ gv, int64_t N, int64_t M, int Dh, A scale, int64_t bh0) {
  using Tl = Tiles<A, BQ, BK>;
  constexpr int LDD = DH + 1, LDS = Tl::LDS, RQ = Tl::RQ, RK = Tl::RK, CD = DH / 16;
  A* Ks = reinterpret_cast<A*>(attn_smem);  // [BK][LDD]
  A* Vs = Ks + BK * LDD;                    // [BK][LDD]
  A* Qs = Vs + BK * LDD;                    // [BQ][LDD]
  A* dOs = Qs + BQ * LDD;                   // [BQ][LDD]
  A* Ps = dOs + BQ * LDD;                   // [BQ][LDS]
  A* dSs = Ps + BQ * LDS;                   // [BQ][LDS]
  A* lse_s = dSs + BQ * LDS;                // [BQ]
  A* D_s = lse_s + BQ;                      // [BQ]

  const int tid = static_cast<int>(threadIdx.x), ty = tid >> 4, tx = tid & 15;
  const int64_t bh = bh0 + blockIdx.y;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * BK;
  const T* qb = q + bh * N * Dh;
  const T* gob = go + bh * N * Dh;
  const T* mb = mask.for_bh(bh);

  load_tile<BK, DH>(Ks, k + bh * M * Dh, j0, M, Dh);
  load_tile<BK, DH>(Vs, v + bh * M * Dh, j0, M, Dh);
  A dk[RK][CD], dv[RK][CD];
  zero(dk);
  zero(dv);

  for (int64_t i0 = 0; i0 < N; i0 += BQ) {
    __syncthreads();  // the previous step is done with Qs, dOs, Ps, dSs
    load_tile<BQ, DH>(Qs, qb, i0, N, Dh);
    load_tile<BQ, DH>(dOs, gob, i0, N, Dh);
    if (tid < BQ) {
      const bool in = i0 + tid < N;
      lse_s[tid] = in ? lse[bh * N + i0 + tid] : A(0);
      D_s[tid] = in ? Dv[bh * N + i0 + tid] : A(0);
    }
    __syncthreads();
    {
      A s[RQ][RK], dp[RQ][RK];
      zero(s);
      zero(dp);
      tile_mma<A, RQ, RK, DH, false, true>(s, Qs, LDD, Ks, LDD, ty, tx);    // S[i][j] = q_i . k_j
      tile_mma<A, RQ, RK, DH, false, true>(dp, dOs, LDD, Vs, LDD, ty, tx);  // gP[i][j] = go_i . v_j
      probs_and_grads<A, BQ, BK, T>(s, dp, Ps, dSs, lse_s, D_s, mb, mask, i0, j0, N, M, scale, ty, tx);
    }
    __syncthreads();
    tile_mma<A, RK, CD, BQ, true, false>(dv, Ps, LDS, dOs, LDD, ty, tx);   // gv[j] += sum_i P[i][j] go_i
    tile_mma<A, RK, CD, BQ, true, false>(dk, dSs, LDS, Qs, LDD, ty, tx);   // gk[j] += sum_i gS[i][j] q_i
  }

#pragma unroll
  for (int a = 0; a < RK; ++a) {
    const int64_t j = j0 + ty + 16 * a;
    if (j >= M) continue;
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int col = tx + 16 * c;
      if (col < Dh) {
        gk[(bh * M + j) * Dh + col] = T(dk[a][c] * scale);
        gv[(bh * M + j) * Dh + col] = T(dv[a][c]);
      }
    }
  }
}

template <typename T, int DH, int BQ, int BK>
constexpr size_t dq_smem_bytes() {
  return sizeof(T) * (2 * static_cast<size_t>(BQ) * (DH + 1) + 2 * static_cast<size_t>(BK) * (DH + 1) +
                      static_cast<size_t>(BQ) * (BK + 1) + 2 * static_cast<size_t>(BQ));
}

template <typename T, int DH, int BQ, int BK, typename A = acc_t<T>>
__global__ void __launch_bounds__(kAttnThreads)
    attn_dq_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, Mask<T> mask,
                   const A* __restrict__ lse, const A* __restrict__ Dv, const T* __restrict__ go, T* __restrict__ gq,
                   int64_t N, int64_t M, int Dh, A scale, int64_t bh0) {
  using Tl = Tiles<A, BQ, BK>;
  constexpr int LDD = DH + 1, LDS = Tl::LDS, RQ = Tl::RQ, RK = Tl::RK, CD = DH / 16;
  A* Qs = reinterpret_cast<A*>(attn_smem);  // [BQ][LDD]
  A* dOs = Qs + BQ * LDD;                   // [BQ][LDD]
  A* Ks = dOs + BQ * LDD;                   // [BK][LDD]
  A* Vs = Ks + BK * LDD;                    // [BK][LDD]
  A* dSs = Vs + BK * LDD;                   // [BQ][LDS]
  A* lse_s = dSs + BQ * LDS;                // [BQ]
  A* D_s = lse_s + BQ;                      // [BQ]

  const int tid = static_cast<int>(threadIdx.x), ty = tid >> 4, tx = tid & 15;
  const int64_t bh = bh0 + blockIdx.y;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * BQ;
  const T* kb = k + bh * M * Dh;
  const T* vb = v + bh * M * Dh;
  const T* mb = mask.for_bh(bh);

  load_tile<BQ, DH>(Qs, q + bh * N * Dh, i0, N, Dh);
  load_tile<BQ, DH>(dOs, go + bh * N * Dh, i0, N, Dh);
  if (tid < BQ) {
    const bool in = i0 + tid < N;
    lse_s[tid] = in ? lse[bh * N + i0 + tid] : A(0);
    D_s[tid] = in ? Dv[bh * N + i0 + tid] : A(0);
  }
  A dq[RQ][CD];
  zero(dq);

  for (int64_t j0 = 0; j0 < M; j0 += BK) {
    __syncthreads();  // the previous step is done with Ks and dSs
    load_tile<BK, DH>(Ks, kb, j0, M, Dh);
    load_tile<BK, DH>(Vs, vb, j0, M, Dh);
    __syncthreads();
    {
      A s[RQ][RK], dp[RQ][RK];
      zero(s);
      zero(dp);
      tile_mma<A, RQ, RK, DH, false, true>(s, Qs, LDD, Ks, LDD, ty, tx);
      tile_mma<A, RQ, RK, DH, false, true>(dp, dOs, LDD, Vs, LDD, ty, tx);
      probs_and_grads<A, BQ, BK, T>(s, dp, nullptr, dSs, lse_s, D_s, mb, mask, i0, j0, N, M, scale, ty, tx);
    }
    __syncthreads();
    tile_mma<A, RQ, CD, BK, false, false>(dq, dSs, LDS, Ks, LDD, ty, tx);  // gq[i] += sum_j gS[i][j] k_j
  }

#pragma unroll
  for (int a = 0; a < RQ; ++a) {
    const int64_t i = i0 + ty + 16 * a;
    if (i >= N) continue;
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int col = tx + 16 * c;
      if (col < Dh) gq[(bh * N + i) * Dh + col] = T(dq[a][c] * scale);
    }
  }
}

// Raises a kernel's dynamic shared-memory limit once (beyond the default 48 KB).
template <typename K>
void allow_smem(K kernel, size_t bytes, const char* name) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), name);
}

// Launches over bh in chunks of at most 65535 (grid.y).
template <typename F>
void for_bh_chunks(int64_t BH, F launch) {
  for (int64_t bh0 = 0; bh0 < BH; bh0 += 65535) launch(bh0, static_cast<unsigned>(std::min<int64_t>(BH - bh0, 65535)));
}

template <typename T>
struct TileSize;
template <>
struct TileSize<float> {
  static constexpr int BQ = 64, BK = 64;
};
template <>
struct TileSize<bf16> {  // tiles hold float (acc_t): the same sizes as f32
  static constexpr int BQ = 64, BK = 64;
};
template <>
struct TileSize<double> {
  static constexpr int BQ = 32, BK = 32;
};

template <typename T, int DH>
void forward_dh(const T* q, const T* k, const T* v, const Mask<T>& mask, T* o, acc_t<T>* lse, int64_t BH, int64_t N,
                int64_t M, int Dh, acc_t<T> scale) {
  constexpr int BQ = TileSize<T>::BQ, BK = TileSize<T>::BK;
  constexpr size_t smem = fwd_smem_bytes<acc_t<T>, DH, BQ, BK>();
  static const bool once = (allow_smem(attn_fwd_kernel<T, DH, BQ, BK>, smem,
                                       "attention_forward (cudaFuncSetAttribute, attn_fwd_kernel)"),
                            true);
  (void)once;
  const int64_t tiles = (N + BQ - 1) / BQ;
  SG_CHECK(tiles <= INT32_MAX, "attention_forward: N = {} too large", N);
  for_bh_chunks(BH, [&](int64_t bh0, unsigned nbh) {
    attn_fwd_kernel<T, DH, BQ, BK><<<dim3(static_cast<unsigned>(tiles), nbh), kAttnThreads, smem, stream()>>>(
        q, k, v, mask, o, lse, N, M, Dh, scale, bh0);
    check_launch("attention_forward (attn_fwd_kernel)");
  });
}

template <typename T, int DH>
void backward_dh(const T* q, const T* k, const T* v, const Mask<T>& mask, const acc_t<T>* lse, const acc_t<T>* Dv,
                 const T* go, T* gq, T* gk, T* gv, int64_t BH, int64_t N, int64_t M, int Dh, acc_t<T> scale) {
  constexpr int BQ = TileSize<T>::BQ, BK = TileSize<T>::BK;
  constexpr size_t smem_kv = dkdv_smem_bytes<acc_t<T>, DH, BQ, BK>(), smem_q = dq_smem_bytes<acc_t<T>, DH, BQ, BK>();
  static const bool once = (allow_smem(attn_dkdv_kernel<T, DH, BQ, BK>, smem_kv,
                                       "attention_backward (cudaFuncSetAttribute, attn_dkdv_kernel)"),
                            allow_smem(attn_dq_kernel<T, DH, BQ, BK>, smem_q,
                                       "attention_backward (cudaFuncSetAttribute, attn_dq_kernel)"),
                            true);
  (void)once;
  const int64_t ktiles = (M + BK - 1) / BK, qtiles = (N + BQ - 1) / BQ;
  SG_CHECK(ktiles <= INT32_MAX && qtiles <= INT32_MAX, "attention_backward: N = {}, M = {} too large", N, M);
  for_bh_chunks(BH, [&](int64_t bh0, unsigned nbh) {
    attn_dkdv_kernel<T, DH, BQ, BK><<<dim3(static_cast<unsigned>(ktiles), nbh), kAttnThreads, smem_kv, stream()>>>(
        q, k, v, mask, lse, Dv, go, gk, gv, N, M, Dh, scale, bh0);
    check_launch("attention_backward (attn_dkdv_kernel)");
    attn_dq_kernel<T, DH, BQ, BK><<<dim3(static_cast<unsigned>(qtiles), nbh), kAttnThreads, smem_q, stream()>>>(
        q, k, v, mask, lse, Dv, go, gq, N, M, Dh, scale, bh0);
    check_launch("attention_backward (attn_dq_kernel)");
  });
}

template <typename T>
Mask<T> mask_of(const MaskView& m) {
  return Mask<T>{static_cast<const T*>(m.data), m.H < 1 ? 1 : m.H, m.sb, m.sh, m.si, m.sj};
}

template <typename T, typename A = acc_t<T>>
__global__ void attn_no_keys_kernel(T* __restrict__ o, A* __restrict__ lse, int64_t rows, int Dh) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < rows * Dh;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A nan = d_inf<A>() - d_inf<A>();
    o[e] = T(nan);
    if (e % Dh == 0) lse[e / Dh] = nan;
  }
}

}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const MaskView& mask, T* o, acc_t<T>* lse, int64_t BH, int64_t N,
                       int64_t M, int64_t Dh, double scale) {
  SG_CHECK(Dh >= 1 && Dh <= 128, "attention_forward: head dim {} is not supported on CUDA (1 to 128)", Dh);
  if (BH <= 0 || N <= 0) return;
  if (M <= 0) {  // no keys: an empty softmax (the op rejects this before calling)
    attn_no_keys_kernel<T><<<grid_for(BH * N * Dh), kThreads, 0, stream()>>>(o, lse, BH * N, static_cast<int>(Dh));
    check_launch("attention_forward (attn_no_keys_kernel)");
    return;
  }
  if constexpr (std::is_same_v<T, bf16>)
    if (tc_attention_supported(Dh)) {  // tensor cores (cuda/attention_tc.cu); SG_ATTN_TC=0 forces the code below
      tc_attention_forward(q, k, v, mask, o, lse, BH, N, M, Dh, static_cast<float>(scale));
      return;
    }
  const Mask<T> mk = mask_of<T>(mask);
  const acc_t<T> s = static_cast<acc_t<T>>(scale);
  const int dh = static_cast<int>(Dh);
  if (Dh <= 32) forward_dh<T, 32>(q, k, v, mk, o, lse, BH, N, M, dh, s);
  else if (Dh <= 64) forward_dh<T, 64>(q, k, v, mk, o, lse, BH, N, M, dh, s);
  else if (Dh <= 96) forward_dh<T, 96>(q, k, v, mk, o, lse, BH, N, M, dh, s);
  else forward_dh<T, 128>(q, k, v, mk, o, lse, BH, N, M, dh, s);
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const MaskView& mask, const T* o, const acc_t<T>* lse,
                        const T* go, T* gq, T* gk, T* gv, int64_t BH, int64_t N, int64_t M, int64_t Dh, double scale) {
  SG_CHECK(Dh >= 1 && Dh <= 128, "attention_backward: head dim {} is not supported on CUDA (1 to 128)", Dh);
  if (BH <= 0) return;
  if (N <= 0 || M <= 0) {  // nothing to sum: the gradients that exist are zero
    if (N > 0) check(cudaMemsetAsync(gq, 0, static_cast<size_t>(BH * N * Dh) * sizeof(T), stream()), "attention_backward (cudaMemsetAsync)");
    if (M > 0) {
      check(cudaMemsetAsync(gk, 0, static_cast<size_t>(BH * M * Dh) * sizeof(T), stream()), "attention_backward (cudaMemsetAsync)");
      check(cudaMemsetAsync(gv, 0, static_cast<size_t>(BH * M * Dh) * sizeof(T), stream()), "attention_backward (cudaMemsetAsync)");
    }
    return;
  }
  Scratch dscratch(static_cast<size_t>(BH * N) * sizeof(acc_t<T>));
  acc_t<T>* Dv = dscratch.as<acc_t<T>>();
  attn_rowdot_kernel<T><<<grid_for(BH * N, kThreads / 32), kThreads, 0, stream()>>>(go, o, Dv, BH * N,
                                                                                  static_cast<int>(Dh));
  check_launch("attention_backward (attn_rowdot_kernel)");
  if constexpr (std::is_same_v<T, bf16>)
    if (tc_attention_supported(Dh)) {  // tensor cores (cuda/attention_tc.cu), the same D
      tc_attention_backward(q, k, v, mask, lse, Dv, go, gq, gk, gv, BH, N, M, Dh, static_cast<float>(scale));
      return;
    }
  const Mask<T> mk = mask_of<T>(mask);
  const acc_t<T> s = static_cast<acc_t<T>>(scale);
  const int dh = static_cast<int>(Dh);
  if (Dh <= 32) backward_dh<T, 32>(q, k, v, mk, lse, Dv, go, gq, gk, gv, BH, N, M, dh, s);
  else if (Dh <= 64) backward_dh<T, 64>(q, k, v, mk, lse, Dv, go, gq, gk, gv, BH, N, M, dh, s);
  else if (Dh <= 96) backward_dh<T, 96>(q, k, v, mk, lse, Dv, go, gq, gk, gv, BH, N, M, dh, s);
  else backward_dh<T, 128>(q, k, v, mk, lse, Dv, go, gq, gk, gv, BH, N, M, dh, s);
}

template void attention_forward<float>(const float*, const float*, const float*, const MaskView&, float*, float*,
                                       int64_t, int64_t, int64_t, int64_t, double);
template void attention_forward<double>(const double*, const double*, const double*, const MaskView&, double*,
                                        double*, int64_t, int64_t, int64_t, int64_t, double);
template void attention_backward<float>(const float*, const float*, const float*, const MaskView&, const float*,
                                        const float*, const float*, float*, float*, float*, int64_t, int64_t, int64_t,
                                        int64_t, double);
template void attention_backward<double>(const double*, const double*, const double*, const MaskView&, const double*,
                                         const double*, const double*, double*, double*, double*, int64_t, int64_t,
                                         int64_t, int64_t, double);
template void attention_forward<bf16>(const bf16*, const bf16*, const bf16*, const MaskView&, bf16*, float*, int64_t,
                                      int64_t, int64_t, int64_t, double);
template void attention_backward<bf16>(const bf16*, const bf16*, const bf16*, const MaskView&, const bf16*,
                                       const float*, const bf16*, bf16*, bf16*, bf16*, int64_t, int64_t, int64_t,
                                       int64_t, double);

}  // namespace sg::cuda
