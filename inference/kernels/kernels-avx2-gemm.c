/* streamsight — AVX2/FMA GEMM kernels: kern_f32_gemm_clamp (rows in tiles
 * of MR), kern_f32_gemv_clamp (one row) and kern_f32_gemv16_clamp (one row,
 * half-precision weights). Built with -mavx2 -mfma -mf16c.
 *
 * Each kernel computes what its twin in kernels-ref.c computes; only the
 * order of the sums and the FMA rounding differ. Tails (rows, channels) use
 * masked loads and stores, so no kernel reads or writes outside the buffers
 * the contract describes. The packed "gemm" weights use NR = 16 (two ymm
 * registers of output channels) and are zero-padded to NR, so weight loads
 * need no mask.
 */
#include "kernels-avx2.h"

#include <immintrin.h>
#include <stddef.h>

#include "kernels-avx2-tile.h"
#include "kernels-avx2-util.h"

/* Bytes of packed weights the GEMM walks per pass over the input rows:
 * about a quarter of Zen 3's 512 KiB L2. Measured on the MobileNetV2 shapes
 * (bench/kernels-microbench.c): 32-128 KiB are within noise of each other;
 * walking all rows per block of weights instead (input chunk in L2) was up
 * to 25% slower on small K (K=16, N=96), where output writes dominate. */
#define GEMM_B_CHUNK_BYTES (128u * 1024u)

/* Blocks of weights a one-row GEMM walks side by side. Measured on the
 * classifier (K=1280, N=1000) with its 5 MB of weights evicted from the
 * caches: 1 block 5.4 GFLOP/s, 2: 7.3, 4: 8.9, 8: 8.6; software prefetch
 * on top did not help. With warm caches 4 blocks also give the best, 36. */
#define GEMV_BLOCKS 4

/* Stores one block of a row: bias + sum, residual, clamp, nb real columns. */
ALWAYS_INLINE void
gemv_store(__m256 acc0, __m256 acc1, const float *blk, const float *res,
           float *c, size_t nb, __m256 vmin, __m256 vmax)
{
  acc0 = _mm256_add_ps(_mm256_loadu_ps(blk), acc0);
  acc1 = _mm256_add_ps(_mm256_loadu_ps(blk + 8), acc1);
  const __m256i m0 = mask_first(nb);
  const __m256i m1 = mask_first(nb > 8 ? nb - 8 : 0);
  if (res) {
    acc0 = _mm256_add_ps(acc0, _mm256_maskload_ps(res, m0));
    acc1 = _mm256_add_ps(acc1, _mm256_maskload_ps(res + 8, m1));
  }
  _mm256_maskstore_ps(c, m0, clamp8(acc0, vmin, vmax));
  _mm256_maskstore_ps(c + 8, m1, clamp8(acc1, vmin, vmax));
}

/* One row (fully connected layers). The weights are read once and, for a
 * classifier, come from DRAM: GEMV_BLOCKS blocks are walked side by side so
 * that several sequential streams are in flight, which also gives
 * 2 * GEMV_BLOCKS independent FMA chains. */
static void
gemv(size_t n, size_t k, const float *a, const float *packed, float *c,
     const float *res, __m256 vmin, __m256 vmax)
{
  const size_t bf = NR * (k + 1);
  const size_t nblocks = (n + NR - 1) / NR;
  size_t b = 0;
  for (; b + GEMV_BLOCKS <= nblocks; b += GEMV_BLOCKS) {
    __m256 s0[GEMV_BLOCKS], s1[GEMV_BLOCKS];
    const float *w[GEMV_BLOCKS];
#pragma GCC unroll 8
    for (int u = 0; u < GEMV_BLOCKS; u++) {
      s0[u] = s1[u] = _mm256_setzero_ps();
      w[u] = packed + (b + u) * bf + NR;
    }
    for (size_t kk = 0; kk < k; kk++) {
      const __m256 av = _mm256_broadcast_ss(a + kk);
#pragma GCC unroll 8
      for (int u = 0; u < GEMV_BLOCKS; u++) {
        s0[u] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w[u] + kk * NR), s0[u]);
        s1[u] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w[u] + kk * NR + 8),
                                s1[u]);
      }
    }
#pragma GCC unroll 8
    for (int u = 0; u < GEMV_BLOCKS; u++) {
      size_t n0 = (b + u) * NR;
      gemv_store(s0[u], s1[u], packed + (b + u) * bf, res ? res + n0 : NULL,
                 c + n0, n - n0 < NR ? n - n0 : NR, vmin, vmax);
    }
  }
  for (; b < nblocks; b++) {
    const float *blk = packed + b * bf, *w = blk + NR;
    __m256 s0[4], s1[4];
    for (int u = 0; u < 4; u++)
      s0[u] = s1[u] = _mm256_setzero_ps();
    size_t kk = 0;
    for (; kk + 4 <= k; kk += 4, w += 4 * NR) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; u++) {
        const __m256 av = _mm256_broadcast_ss(a + kk + u);
        s0[u] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + u * NR), s0[u]);
        s1[u] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + u * NR + 8), s1[u]);
      }
    }
    for (; kk < k; kk++, w += NR) {
      const __m256 av = _mm256_broadcast_ss(a + kk);
      s0[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w), s0[0]);
      s1[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 8), s1[0]);
    }
    size_t n0 = b * NR;
    gemv_store(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]),
                             _mm256_add_ps(s0[2], s0[3])),
               _mm256_add_ps(_mm256_add_ps(s1[0], s1[1]),
                             _mm256_add_ps(s1[2], s1[3])),
               blk, res ? res + n0 : NULL, c + n0,
               n - n0 < NR ? n - n0 : NR, vmin, vmax);
  }
}

/* 16 weights of the "gemv16" layout, widened to float32. */
ALWAYS_INLINE void
load16h(const unsigned short *p, __m256 *lo, __m256 *hi)
{
  *lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
  *hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 8)));
}

void
kern_f32_gemv16_clamp__avx2(size_t n, size_t k, const float *in,
                            const float *packed, float *out, float min,
                            float max)
{
  /* As gemv(): GEMV_BLOCKS blocks of 16 outputs side by side, so that
   * several sequential weight streams are in flight; the weights are half
   * as many bytes, which is the point (the classifier's come from memory). */
  const __m256 vmin = _mm256_set1_ps(min), vmax = _mm256_set1_ps(max);
  const size_t np = (n + 15) / 16 * 16, nblocks = np / 16;
  const unsigned short *h = (const unsigned short *)(packed + np);
  size_t b = 0;
  for (; b < nblocks; b += GEMV_BLOCKS) {
    const size_t nb = nblocks - b < GEMV_BLOCKS ? nblocks - b : GEMV_BLOCKS;
    __m256 s0[GEMV_BLOCKS], s1[GEMV_BLOCKS];
    const unsigned short *w[GEMV_BLOCKS];
#pragma GCC unroll 8
    for (size_t u = 0; u < GEMV_BLOCKS; u++) {
      s0[u] = s1[u] = _mm256_setzero_ps();
      /* a short last group repeats its first block (computed, not stored) */
      w[u] = h + (b + (u < nb ? u : 0)) * 16 * k;
    }
    for (size_t kk = 0; kk < k; kk++) {
      const __m256 av = _mm256_broadcast_ss(in + kk);
#pragma GCC unroll 8
      for (size_t u = 0; u < GEMV_BLOCKS; u++) {
        __m256 lo, hi;
        load16h(w[u] + kk * 16, &lo, &hi);
        s0[u] = _mm256_fmadd_ps(av, lo, s0[u]);
        s1[u] = _mm256_fmadd_ps(av, hi, s1[u]);
      }
    }
#pragma GCC unroll 8
    for (size_t u = 0; u < GEMV_BLOCKS; u++) {
      if (u >= nb)
        break;
      size_t n0 = (b + u) * 16;
      gemv_store(s0[u], s1[u], packed + n0, NULL, out + n0,
                 n - n0 < 16 ? n - n0 : 16, vmin, vmax);
    }
  }
}

void
kern_f32_gemv_clamp__avx2(size_t n, size_t k, const float *in,
                          const float *packed, float *out, const float *res,
                          float min, float max)
{
  gemv(n, k, in, packed, out, res, _mm256_set1_ps(min), _mm256_set1_ps(max));
}

void
kern_f32_gemm_clamp__avx2(size_t m, size_t n, size_t k, const float *in,
                          size_t in_stride, const float *packed, float *out,
                          size_t out_stride, const float *res,
                          size_t res_stride, float min, float max)
{
  const __m256 vmin = _mm256_set1_ps(min), vmax = _mm256_set1_ps(max);
  /* Blocks of weights are taken in chunks that stay in L2 (or, for small
   * K, all of them in L1); each tile of MR input rows stays in L1 while it
   * meets every block of the chunk, and writes its output rows
   * contiguously. */
  const size_t blk_floats = NR * (k + 1);
  size_t nc = GEMM_B_CHUNK_BYTES / (blk_floats * sizeof(float));
  if (nc < 1)
    nc = 1;
  for (size_t n0 = 0; n0 < n; n0 += nc * NR) {
    size_t n1 = n0 + nc * NR < n ? n0 + nc * NR : n;
    /* Full tiles of MR rows; the last 7..11 rows are split into two
     * balanced tiles rather than MR and a thin one, because a tile of one or
     * two rows has too few independent accumulators to hide FMA latency. */
    size_t i = 0;
    while (i < m) {
      size_t rem = m - i, mr;
      if (rem >= 2 * MR || rem == MR)
        mr = MR;
      else if (rem > MR)
        mr = (rem + 1) / 2;
      else
        mr = rem;
      const float *blk = packed + (n0 / NR) * blk_floats;
      for (size_t j = n0; j < n1; j += NR, blk += blk_floats) {
        size_t nb = n - j < NR ? n - j : NR;
        const struct tile_seg seg = { in + i * in_stride, blk + NR, k };
        gemm_tile_any(mr, &seg, 1, in_stride, blk, out + i * out_stride + j,
                      out_stride, res ? res + i * res_stride + j : NULL,
                      res_stride, nb, vmin, vmax);
      }
      i += mr;
    }
  }
}

