/* streamsight — AVX2/FMA kernels, built with -mavx2 -mfma.
 *
 * Each kernel computes what its twin in kernels-ref.c computes; only the
 * order of the sums and the FMA rounding differ. Tails (rows, channels) use
 * masked loads and stores, so no kernel reads or writes outside the buffers
 * the contract describes. The packed "gemm" weights use NR = 16 (two ymm
 * registers of output channels) and are zero-padded to NR, so weight loads
 * need no mask.
 */
#include "kernels-avx2.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels-ref.h"

#define NR KERN_AVX2_GEMM_NR

/* Rows of one GEMM micro-tile. 6 rows x 2 ymm = 12 accumulators, plus two
 * weight registers and one broadcast: 15 of the 16 ymm registers. */
#define MR 6

/* Bytes of packed weights the GEMM walks per pass over the input rows:
 * about a quarter of Zen 3's 512 KiB L2. Measured on the MobileNetV2 shapes
 * (bench/kernels-microbench.c): 32-128 KiB are within noise of each other;
 * walking all rows per block of weights instead (input chunk in L2) was up
 * to 25% slower on small K (K=16, N=96), where output writes dominate. */
#define GEMM_B_CHUNK_BYTES (128u * 1024u)

/* Largest K = kh*kw*cin for which the conv kernel gathers border pixels
 * into an on-stack tile of MR pixels (MR * 512 floats = 12 KiB of stack).
 * Border pixels of larger convolutions are computed one at a time. */
#define CONV_TILE_MAX_K 512

/* Kernel heights whose interior the conv kernel reads in place, one
 * segment per row (the engine allows kh <= 15). Taller kernels go pixel by
 * pixel. */
#define CONV_MAX_SEGS 16

/* Output pixels of one depthwise interior step (see dw3x3_block). */
#ifndef DW_QUAD
#define DW_QUAD 4
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Lanes j < n set (n may be 0 or above 8). */
ALWAYS_INLINE __m256i
mask_first(size_t n)
{
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n > 8 ? 8 : (int)n), iota);
}

ALWAYS_INLINE __m256
clamp8(__m256 v, __m256 vmin, __m256 vmax)
{
  return _mm256_min_ps(_mm256_max_ps(v, vmin), vmax);
}

/* ---- GEMM ---- */

/* A stretch of the reduction: tile row r reads a[r * a_stride + kk] and
 * multiplies it with the NR weights w[kk * NR ...], for kk < k. A GEMM tile
 * is one segment; an interior convolution tile has one per input row. */
struct tile_seg {
  const float *a, *w;
  size_t k;
};

/* The reduction of a full 6-row x 16-channel tile, 4 steps per pass, for
 * passes > 0: adds sum over kk < 4 * passes of a[r * a_stride + kk] times
 * w[kk * NR + j] to acc0[r] (j < 8) and acc1[r] (j >= 8), in the order of
 * kk, as gemm_tile's loop does; returns 4 * passes.
 *
 * Written in assembly because of what GCC made of it. Its loop over ap[r] +
 * kk (an "unroll 4" pragma) spends 27 instructions per step on 20 of work:
 * five address computations and an exit test that reloads the trip count.
 * Written with two stepped row pointers, GCC spilled an accumulator to the
 * stack. Here a step is exactly 2 weight loads, 6 broadcasts and 12 FMAs,
 * and a pass adds 4 loop instructions. Measured alternating with the
 * intrinsics loop, per shape of MobileNetV2/V1 (bench/README.md,
 * "Performance"): the intrinsics loop is 10-30% slower whenever the other
 * hyperthread of the host's core is busy, which is how this machine runs
 * half of the time.
 *
 * Rows 0-2 are addressed from a0 and rows 3-5 from r11 = a0 + 3 * a_stride,
 * each as base + index * {0, 1, 2}; rcx counts the passes; ymm12-15 hold the
 * weights and the broadcast row value, the 12 accumulators the other
 * registers (GCC allows 30 operands: 24 for the accumulators, a0, w, s and
 * the count fill them, hence the fixed registers). */
static inline size_t
gemm_6x16_steps4(size_t passes, const float *a0, size_t a_stride,
                 const float *w, __m256 *acc0, __m256 *acc1)
{
  if (passes == 0)
    return 0;
  const size_t s = a_stride * sizeof(float);
  __m256 c0 = acc0[0], c1 = acc1[0], c2 = acc0[1], c3 = acc1[1];
  __m256 c4 = acc0[2], c5 = acc1[2], c6 = acc0[3], c7 = acc1[3];
  __m256 c8 = acc0[4], c9 = acc1[4], c10 = acc0[5], c11 = acc1[5];
#define SS_GEMM_STEP(wo, ao)                                                  \
  "vmovups " #wo "(%[w]), %%ymm12\n\t"                                       \
  "vmovups " #wo "+32(%[w]), %%ymm13\n\t"                                    \
  "vbroadcastss " #ao "(%[a0]), %%ymm14\n\t"                                 \
  "vfmadd231ps %%ymm12, %%ymm14, %[c0]\n\t"                                  \
  "vfmadd231ps %%ymm13, %%ymm14, %[c1]\n\t"                                  \
  "vbroadcastss " #ao "(%[a0], %[s], 1), %%ymm15\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm15, %[c2]\n\t"                                  \
  "vfmadd231ps %%ymm13, %%ymm15, %[c3]\n\t"                                  \
  "vbroadcastss " #ao "(%[a0], %[s], 2), %%ymm14\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm14, %[c4]\n\t"                                  \
  "vfmadd231ps %%ymm13, %%ymm14, %[c5]\n\t"                                  \
  "vbroadcastss " #ao "(%%r11), %%ymm15\n\t"                                     \
  "vfmadd231ps %%ymm12, %%ymm15, %[c6]\n\t"                                  \
  "vfmadd231ps %%ymm13, %%ymm15, %[c7]\n\t"                                  \
  "vbroadcastss " #ao "(%%r11, %[s], 1), %%ymm14\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm14, %[c8]\n\t"                                  \
  "vfmadd231ps %%ymm13, %%ymm14, %[c9]\n\t"                                  \
  "vbroadcastss " #ao "(%%r11, %[s], 2), %%ymm15\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"                                 \
  "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"
  __asm__("mov %[n], %%rcx\n\t"
          "lea (%[a0], %[s], 2), %%r11\n\t"
          "add %[s], %%r11\n\t"
          "1:\n\t"
          SS_GEMM_STEP(0, 0)
          SS_GEMM_STEP(64, 4)
          SS_GEMM_STEP(128, 8)
          SS_GEMM_STEP(192, 12)
          "add $16, %[a0]\n\t"
          "add $16, %%r11\n\t"
          "add $256, %[w]\n\t"
          "dec %%rcx\n\t"
          "jnz 1b\n\t"
          : [a0] "+r"(a0), [w] "+r"(w),
            [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3),
            [c4] "+x"(c4), [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7),
            [c8] "+x"(c8), [c9] "+x"(c9), [c10] "+x"(c10), [c11] "+x"(c11)
          : [s] "r"(s), [n] "r"(passes)
          : "rcx", "r11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
#undef SS_GEMM_STEP
  acc0[0] = c0; acc1[0] = c1; acc0[1] = c2; acc1[1] = c3;
  acc0[2] = c4; acc1[2] = c5; acc0[3] = c6; acc1[3] = c7;
  acc0[4] = c8; acc1[4] = c9; acc0[5] = c10; acc1[5] = c11;
  return 4 * passes;
}

/* gemm_6x16_steps4 for a tile of 6 rows x 8 channels (the last block of a
 * layer with 8 more than a multiple of 16 channels, such as MobileNetV2's
 * 24): adds the products to acc0[r] only. */
static inline size_t
gemm_6x8_steps4(size_t passes, const float *a0, size_t a_stride,
                const float *w, __m256 *acc0)
{
  if (passes == 0)
    return 0;
  const size_t s = a_stride * sizeof(float);
  __m256 c0 = acc0[0], c1 = acc0[1], c2 = acc0[2];
  __m256 c3 = acc0[3], c4 = acc0[4], c5 = acc0[5];
#define SS_GEMM_STEP(wo, ao)                                                  \
  "vmovups " #wo "(%[w]), %%ymm12\n\t"                                       \
  "vbroadcastss " #ao "(%[a0]), %%ymm14\n\t"                                 \
  "vfmadd231ps %%ymm12, %%ymm14, %[c0]\n\t"                                  \
  "vbroadcastss " #ao "(%[a0], %[s], 1), %%ymm15\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm15, %[c1]\n\t"                                  \
  "vbroadcastss " #ao "(%[a0], %[s], 2), %%ymm14\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm14, %[c2]\n\t"                                  \
  "vbroadcastss " #ao "(%%r11), %%ymm15\n\t"                                 \
  "vfmadd231ps %%ymm12, %%ymm15, %[c3]\n\t"                                  \
  "vbroadcastss " #ao "(%%r11, %[s], 1), %%ymm14\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm14, %[c4]\n\t"                                  \
  "vbroadcastss " #ao "(%%r11, %[s], 2), %%ymm15\n\t"                        \
  "vfmadd231ps %%ymm12, %%ymm15, %[c5]\n\t"
  __asm__("mov %[n], %%rcx\n\t"
          "lea (%[a0], %[s], 2), %%r11\n\t"
          "add %[s], %%r11\n\t"
          "1:\n\t"
          SS_GEMM_STEP(0, 0)
          SS_GEMM_STEP(64, 4)
          SS_GEMM_STEP(128, 8)
          SS_GEMM_STEP(192, 12)
          "add $16, %[a0]\n\t"
          "add $16, %%r11\n\t"
          "add $256, %[w]\n\t"
          "dec %%rcx\n\t"
          "jnz 1b\n\t"
          : [a0] "+r"(a0), [w] "+r"(w), [c0] "+x"(c0), [c1] "+x"(c1),
            [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5)
          : [s] "r"(s), [n] "r"(passes)
          : "rcx", "r11", "xmm12", "xmm14", "xmm15", "cc", "memory");
#undef SS_GEMM_STEP
  acc0[0] = c0; acc0[1] = c1; acc0[2] = c2;
  acc0[3] = c3; acc0[4] = c4; acc0[5] = c5;
  return 4 * passes;
}

/* One micro-tile: mr rows (1..MR) by one NR block of output channels, of
 * which nb are real, starting from the bias at blk. nv is the number of ymm
 * columns computed: 2, or 1 when nb <= 8 (the padded upper half would be
 * all zeros). mr and nv are compile-time constants at every call site, so
 * the loops unroll and the accumulators live in registers. */
ALWAYS_INLINE void
gemm_tile(const size_t mr, const size_t nv, const struct tile_seg *seg,
          size_t nseg, size_t a_stride, const float *blk, float *c,
          size_t c_stride, const float *res, size_t res_stride, size_t nb,
          __m256 vmin, __m256 vmax)
{
  __m256 acc0[MR], acc1[MR];
  const __m256 bias0 = _mm256_loadu_ps(blk);
  const __m256 bias1 = nv == 2 ? _mm256_loadu_ps(blk + 8) : bias0;
#pragma GCC unroll 6
  for (size_t r = 0; r < mr; r++) {
    acc0[r] = bias0;
    acc1[r] = bias1;
  }
  for (size_t sg = 0; sg < nseg; sg++) {
    const float *ap[MR];
#pragma GCC unroll 6
    for (size_t r = 0; r < mr; r++)
      ap[r] = seg[sg].a + r * a_stride;
    const float *w = seg[sg].w;
    size_t kk = 0;
    if (mr == MR) {
      /* Full-height tiles: 4 steps of the reduction per pass, written
       * out. */
      kk = nv == 2 ? gemm_6x16_steps4(seg[sg].k / 4, ap[0], a_stride, w,
                                      acc0, acc1)
                   : gemm_6x8_steps4(seg[sg].k / 4, ap[0], a_stride, w, acc0);
      w += kk * NR;
    }
    if (mr < MR) {
      /* Thinner tiles: rows 0-2 addressed from a0, 3-4 from a3, both
       * stepped, 4 steps per pass with no exit test between them. */
      const float *a0 = ap[0], *a3 = ap[0] + 3 * a_stride;
      for (; kk + 4 <= seg[sg].k; kk += 4, a0 += 4, a3 += 4, w += 4 * NR) {
#pragma GCC unroll 4
        for (size_t u = 0; u < 4; u++) {
          const __m256 w0 = _mm256_loadu_ps(w + u * NR);
          const __m256 w1 = nv == 2 ? _mm256_loadu_ps(w + u * NR + 8) : w0;
#pragma GCC unroll 6
          for (size_t r = 0; r < mr; r++) {
            const float *ar = r < 3 ? a0 + r * a_stride
                                    : a3 + (r - 3) * a_stride;
            const __m256 av = _mm256_broadcast_ss(ar + u);
            acc0[r] = _mm256_fmadd_ps(av, w0, acc0[r]);
            if (nv == 2)
              acc1[r] = _mm256_fmadd_ps(av, w1, acc1[r]);
          }
        }
      }
    }
    /* Unrolled: measured 5-10% faster on the MobileNet shapes (less loop
     * overhead around the 12 FMAs of a step). */
#pragma GCC unroll 4
    for (; kk < seg[sg].k; kk++, w += NR) {
      const __m256 w0 = _mm256_loadu_ps(w);
      const __m256 w1 = nv == 2 ? _mm256_loadu_ps(w + 8) : w0;
#pragma GCC unroll 6
      for (size_t r = 0; r < mr; r++) {
        const __m256 av = _mm256_broadcast_ss(ap[r] + kk);
        acc0[r] = _mm256_fmadd_ps(av, w0, acc0[r]);
        if (nv == 2)
          acc1[r] = _mm256_fmadd_ps(av, w1, acc1[r]);
      }
    }
  }
  if (nb == nv * 8) {
#pragma GCC unroll 6
    for (size_t r = 0; r < mr; r++) {
      float *cr = c + r * c_stride;
      if (res) {
        const float *rr = res + r * res_stride;
        acc0[r] = _mm256_add_ps(acc0[r], _mm256_loadu_ps(rr));
        if (nv == 2)
          acc1[r] = _mm256_add_ps(acc1[r], _mm256_loadu_ps(rr + 8));
      }
      _mm256_storeu_ps(cr, clamp8(acc0[r], vmin, vmax));
      if (nv == 2)
        _mm256_storeu_ps(cr + 8, clamp8(acc1[r], vmin, vmax));
    }
  } else {
    const __m256i m0 = mask_first(nb);
    const __m256i m1 = mask_first(nb > 8 ? nb - 8 : 0);
#pragma GCC unroll 6
    for (size_t r = 0; r < mr; r++) {
      float *cr = c + r * c_stride;
      if (res) {
        const float *rr = res + r * res_stride;
        acc0[r] = _mm256_add_ps(acc0[r], _mm256_maskload_ps(rr, m0));
        if (nv == 2)
          acc1[r] = _mm256_add_ps(acc1[r], _mm256_maskload_ps(rr + 8, m1));
      }
      _mm256_maskstore_ps(cr, m0, clamp8(acc0[r], vmin, vmax));
      if (nv == 2)
        _mm256_maskstore_ps(cr + 8, m1, clamp8(acc1[r], vmin, vmax));
    }
  }
}

/* gemm_tile with mr and nv made constant: one specialisation per case. */
static void
gemm_tile_any(size_t mr, const struct tile_seg *seg, size_t nseg,
              size_t a_stride, const float *blk, float *c, size_t c_stride,
              const float *res, size_t res_stride, size_t nb, __m256 vmin,
              __m256 vmax)
{
  if (nb > 8) {
    switch (mr) {
    case 6:
      gemm_tile(6, 2, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 5:
      gemm_tile(5, 2, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 4:
      gemm_tile(4, 2, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 3:
      gemm_tile(3, 2, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 2:
      gemm_tile(2, 2, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    default:
      gemm_tile(1, 2, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    }
  } else {
    switch (mr) {
    case 6:
      gemm_tile(6, 1, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 5:
      gemm_tile(5, 1, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 4:
      gemm_tile(4, 1, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 3:
      gemm_tile(3, 1, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    case 2:
      gemm_tile(2, 1, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    default:
      gemm_tile(1, 1, seg, nseg, a_stride, blk, c, c_stride, res,
                res_stride, nb, vmin, vmax);
      break;
    }
  }
}

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

/* ---- dense convolution, one output row ---- */

/* Copies the kh x kw x cin patch of output pixel x into dst (K floats in the
 * packed order ky, kx, ci), zeros where it reads padding. */
static void
conv_gather(size_t cin, size_t in_w, const float *const *rows, size_t kh,
            size_t kw, size_t stride, size_t pad_left, size_t x, float *dst)
{
  for (size_t ky = 0; ky < kh; ky++) {
    for (size_t kx = 0; kx < kw; kx++, dst += cin) {
      size_t ix = x * stride + kx;
      if (!rows[ky] || ix < pad_left || ix - pad_left >= in_w) {
        for (size_t ci = 0; ci < cin; ci++)
          dst[ci] = 0.0f;
      } else {
        const float *px = rows[ky] + (ix - pad_left) * cin;
        for (size_t ci = 0; ci < cin; ci++)
          dst[ci] = px[ci];
      }
    }
  }
}

/* Any K, pixels [x0, x1): one pixel at a time, straight from the rows. */
static void
conv_pixels_direct(size_t cin, size_t in_w, const float *const *rows,
                   size_t kh, size_t kw, size_t stride, size_t pad_left,
                   size_t x0, size_t x1, size_t cout, const float *packed,
                   float *out, __m256 vmin, __m256 vmax)
{
  const size_t k = kh * kw * cin;
  for (size_t x = x0; x < x1; x++) {
    const float *blk = packed;
    for (size_t n0 = 0; n0 < cout; n0 += NR, blk += NR * (k + 1)) {
      size_t nb = cout - n0 < NR ? cout - n0 : NR;
      __m256 acc0 = _mm256_loadu_ps(blk), acc1 = _mm256_loadu_ps(blk + 8);
      for (size_t ky = 0; ky < kh; ky++) {
        if (!rows[ky])
          continue;
        for (size_t kx = 0; kx < kw; kx++) {
          size_t ix = x * stride + kx;
          if (ix < pad_left || ix - pad_left >= in_w)
            continue;
          const float *px = rows[ky] + (ix - pad_left) * cin;
          const float *wk = blk + NR + (ky * kw + kx) * cin * NR;
          for (size_t ci = 0; ci < cin; ci++, wk += NR) {
            const __m256 av = _mm256_broadcast_ss(px + ci);
            acc0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(wk), acc0);
            acc1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(wk + 8), acc1);
          }
        }
      }
      float *o = out + x * cout + n0;
      _mm256_maskstore_ps(o, mask_first(nb), clamp8(acc0, vmin, vmax));
      _mm256_maskstore_ps(o + 8, mask_first(nb > 8 ? nb - 8 : 0),
                          clamp8(acc1, vmin, vmax));
    }
  }
}

/* Border pixels [x0, x1) (some tap column is padding): their patches are
 * gathered, MR at a time, into an on-stack tile with zeros for padding,
 * then multiplied like a GEMM. */
static void
conv_pixels_gathered(size_t cin, size_t in_w, const float *const *rows,
                     size_t kh, size_t kw, size_t stride, size_t pad_left,
                     size_t x0, size_t x1, size_t cout, const float *packed,
                     float *out, __m256 vmin, __m256 vmax)
{
  const size_t k = kh * kw * cin;
  if (k > CONV_TILE_MAX_K) {
    conv_pixels_direct(cin, in_w, rows, kh, kw, stride, pad_left, x0, x1,
                       cout, packed, out, vmin, vmax);
    return;
  }
  float tile[MR * CONV_TILE_MAX_K];
  for (size_t x = x0; x < x1; x += MR) {
    size_t mr = x1 - x < MR ? x1 - x : MR;
    for (size_t r = 0; r < mr; r++)
      conv_gather(cin, in_w, rows, kh, kw, stride, pad_left, x + r,
                  tile + r * k);
    const struct tile_seg seg = { tile, NULL, k };
    const float *blk = packed;
    for (size_t n0 = 0; n0 < cout; n0 += NR, blk += NR * (k + 1)) {
      struct tile_seg s = seg;
      s.w = blk + NR;
      gemm_tile_any(mr, &s, 1, k, blk, out + x * cout + n0, cout, NULL, 0,
                    cout - n0 < NR ? cout - n0 : NR, vmin, vmax);
    }
  }
}

void
kern_f32_conv_clamp__avx2(size_t cin, size_t in_w, const float *const *rows,
                          size_t kh, size_t kw, size_t stride,
                          size_t pad_left, size_t out_w, size_t cout,
                          const float *packed, float *out, float min,
                          float max)
{
  const __m256 vmin = _mm256_set1_ps(min), vmax = _mm256_set1_ps(max);
  const size_t k = kh * kw * cin;
  /* Interior pixels [x_lo, x_hi) read no padding column: x*stride >=
   * pad_left and x*stride + kw-1 - pad_left < in_w. */
  size_t x_lo = (pad_left + stride - 1) / stride;
  size_t x_hi = in_w + pad_left >= kw ? (in_w + pad_left - kw) / stride + 1
                                      : 0;
  if (x_hi > out_w)
    x_hi = out_w;
  if (x_lo > x_hi)
    x_lo = x_hi;
  if (kh > CONV_MAX_SEGS)
    x_lo = x_hi = out_w; /* all "border": one pixel at a time */
  conv_pixels_gathered(cin, in_w, rows, kh, kw, stride, pad_left, 0, x_lo,
                       cout, packed, out, vmin, vmax);
  conv_pixels_gathered(cin, in_w, rows, kh, kw, stride, pad_left, x_hi,
                       out_w, cout, packed, out, vmin, vmax);
  if (x_lo == x_hi)
    return;

  /* Interior: each input row is one segment of the reduction, read in
   * place. Tile row r is pixel x+r, whose patch in row ky starts
   * r * stride * cin floats after pixel x's; within a row the kw * cin taps
   * are contiguous and in the packed order (kx, ci). Padding rows (NULL)
   * are left out. */
  for (size_t x = x_lo; x < x_hi; x += MR) {
    size_t mr = x_hi - x < MR ? x_hi - x : MR;
    const size_t off = (x * stride - pad_left) * cin;
    const float *blk = packed;
    for (size_t n0 = 0; n0 < cout; n0 += NR, blk += NR * (k + 1)) {
      struct tile_seg seg[CONV_MAX_SEGS];
      size_t nseg = 0;
      for (size_t ky = 0; ky < kh; ky++) {
        if (!rows[ky])
          continue;
        seg[nseg].a = rows[ky] + off;
        seg[nseg].w = blk + NR + ky * kw * cin * NR;
        seg[nseg++].k = kw * cin;
      }
      gemm_tile_any(mr, seg, nseg, stride * cin, blk, out + x * cout + n0,
                    cout, NULL, 0, cout - n0 < NR ? cout - n0 : NR, vmin,
                    vmax);
    }
  }
}

/* ---- depthwise 3x3, one output row ---- */

/* Everything one row needs. rp[0..nrows) are the rows that are not
 * padding and wi[] their tap rows (ky). Output pixels [x_lo, x_hi) read no
 * padding column. */
struct dw_args {
  size_t c, in_w, pad_left, out_w, x_lo, x_hi;
  const float *rp[3];
  size_t wi[3];
  const float *packed; /* "dw" layout, blocks of KERN_DW_CB channels */
  float *out;
  __m256 vmin, vmax;
};

/* Loads 8 channels, masked when masked (the tail of the last block). */
ALWAYS_INLINE __m256
load8(const float *p, const bool masked, __m256i mask)
{
  return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

ALWAYS_INLINE void
store8(float *p, __m256 v, const bool masked, __m256i mask)
{
  if (masked)
    _mm256_maskstore_ps(p, mask, v);
  else
    _mm256_storeu_ps(p, v);
}

/* One tap row of DW_QUAD = 4 interior output pixels x 16 channels (both
 * halves, unmasked), stride 1 or 2: adds to acc0[q] (channels 0-7) and
 * acc1[q] (8-15) of pixel q the products of the row's columns
 * p + j * c (j < 3 + 3 * stride; the 16 channels at each) with the row's
 * 3 taps at w ("dw" layout: tap kx's 16 weights at w + 16 * kx), column j
 * being tap j - q * stride of pixel q, in the order of j as dw3x3_block's
 * loop does.
 *
 * Written in assembly for the same reason as gemm_6x16_steps4: for this
 * loop (8 accumulators, 6 weights, 2 columns: all 16 registers) GCC spilled
 * the bias and row pointers to the stack and folded column loads into the
 * FMAs, loading the same column up to three times; here each column and
 * weight is loaded once. ymm8-13 hold the weights, ymm14-15 a column's two
 * halves, rcx and rdx the columns 3 and 6 onwards. */
static inline void
dw3x3_quad_row_s1(const float *p, size_t c, const float *w, __m256 *acc0,
                     __m256 *acc1)
{
  const size_t s = c * sizeof(float);
  __m256 a0 = acc0[0], a1 = acc0[1], a2 = acc0[2], a3 = acc0[3];
  __m256 b0 = acc1[0], b1 = acc1[1], b2 = acc1[2], b3 = acc1[3];
  __asm__("vmovups (%[w]), %%ymm8\n\t"
          "vmovups 64(%[w]), %%ymm9\n\t"
          "vmovups 128(%[w]), %%ymm10\n\t"
          "vmovups 32(%[w]), %%ymm11\n\t"
          "vmovups 96(%[w]), %%ymm12\n\t"
          "vmovups 160(%[w]), %%ymm13\n\t"
          "lea (%[p], %[s], 2), %%rcx\n\t"
          "add %[s], %%rcx\n\t"
          "vmovups (%[p]), %%ymm14\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a0]\n\t"
          "vmovups 32(%[p]), %%ymm15\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b0]\n\t"
          "vmovups (%[p], %[s], 1), %%ymm14\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a0]\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a1]\n\t"
          "vmovups 32(%[p], %[s], 1), %%ymm15\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b0]\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b1]\n\t"
          "vmovups (%[p], %[s], 2), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a0]\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a1]\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a2]\n\t"
          "vmovups 32(%[p], %[s], 2), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b0]\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b1]\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b2]\n\t"
          "vmovups (%%rcx), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a1]\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a2]\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a3]\n\t"
          "vmovups 32(%%rcx), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b1]\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b2]\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b3]\n\t"
          "vmovups (%[p], %[s], 4), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a2]\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a3]\n\t"
          "vmovups 32(%[p], %[s], 4), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b2]\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b3]\n\t"
          "vmovups (%%rcx, %[s], 2), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a3]\n\t"
          "vmovups 32(%%rcx, %[s], 2), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b3]\n\t"
          : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3),
            [b0] "+x"(b0), [b1] "+x"(b1), [b2] "+x"(b2), [b3] "+x"(b3)
          : [p] "r"(p), [s] "r"(s), [w] "r"(w)
          : "rcx", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
            "xmm14", "xmm15", "memory");
  acc0[0] = a0; acc0[1] = a1; acc0[2] = a2; acc0[3] = a3;
  acc1[0] = b0; acc1[1] = b1; acc1[2] = b2; acc1[3] = b3;
}

static inline void
dw3x3_quad_row_s2(const float *p, size_t c, const float *w, __m256 *acc0,
                     __m256 *acc1)
{
  const size_t s = c * sizeof(float);
  __m256 a0 = acc0[0], a1 = acc0[1], a2 = acc0[2], a3 = acc0[3];
  __m256 b0 = acc1[0], b1 = acc1[1], b2 = acc1[2], b3 = acc1[3];
  __asm__("vmovups (%[w]), %%ymm8\n\t"
          "vmovups 64(%[w]), %%ymm9\n\t"
          "vmovups 128(%[w]), %%ymm10\n\t"
          "vmovups 32(%[w]), %%ymm11\n\t"
          "vmovups 96(%[w]), %%ymm12\n\t"
          "vmovups 160(%[w]), %%ymm13\n\t"
          "lea (%[p], %[s], 2), %%rcx\n\t"
          "add %[s], %%rcx\n\t"
          "lea (%%rcx, %[s], 2), %%rdx\n\t"
          "add %[s], %%rdx\n\t"
          "vmovups (%[p]), %%ymm14\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a0]\n\t"
          "vmovups 32(%[p]), %%ymm15\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b0]\n\t"
          "vmovups (%[p], %[s], 1), %%ymm14\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a0]\n\t"
          "vmovups 32(%[p], %[s], 1), %%ymm15\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b0]\n\t"
          "vmovups (%[p], %[s], 2), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a0]\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a1]\n\t"
          "vmovups 32(%[p], %[s], 2), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b0]\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b1]\n\t"
          "vmovups (%%rcx), %%ymm14\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a1]\n\t"
          "vmovups 32(%%rcx), %%ymm15\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b1]\n\t"
          "vmovups (%[p], %[s], 4), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a1]\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a2]\n\t"
          "vmovups 32(%[p], %[s], 4), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b1]\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b2]\n\t"
          "vmovups (%%rcx, %[s], 2), %%ymm14\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a2]\n\t"
          "vmovups 32(%%rcx, %[s], 2), %%ymm15\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b2]\n\t"
          "vmovups (%%rdx), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a2]\n\t"
          "vfmadd231ps %%ymm8, %%ymm14, %[a3]\n\t"
          "vmovups 32(%%rdx), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b2]\n\t"
          "vfmadd231ps %%ymm11, %%ymm15, %[b3]\n\t"
          "vmovups (%%rdx, %[s], 1), %%ymm14\n\t"
          "vfmadd231ps %%ymm9, %%ymm14, %[a3]\n\t"
          "vmovups 32(%%rdx, %[s], 1), %%ymm15\n\t"
          "vfmadd231ps %%ymm12, %%ymm15, %[b3]\n\t"
          "vmovups (%[p], %[s], 8), %%ymm14\n\t"
          "vfmadd231ps %%ymm10, %%ymm14, %[a3]\n\t"
          "vmovups 32(%[p], %[s], 8), %%ymm15\n\t"
          "vfmadd231ps %%ymm13, %%ymm15, %[b3]\n\t"
          : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3),
            [b0] "+x"(b0), [b1] "+x"(b1), [b2] "+x"(b2), [b3] "+x"(b3)
          : [p] "r"(p), [s] "r"(s), [w] "r"(w)
          : "rcx", "rdx", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
            "xmm14", "xmm15", "memory");
  acc0[0] = a0; acc0[1] = a1; acc0[2] = a2; acc0[3] = a3;
  acc1[0] = b0; acc1[1] = b1; acc1[2] = b2; acc1[3] = b3;
}

/* One block of up to 16 channels starting at ch, all output pixels of the
 * row: nv halves of 8 channels (2, or 1 for a last block of exactly 8),
 * masked to the real channels when masked. nrows, stride, nv and masked
 * are compile-time constants at each call site.
 *
 * A block is one 64-byte line of each pixel, and both halves are used as
 * soon as a line is loaded: no line has to survive in L1 until another
 * pass comes back for its other half. With 16 channels per block that
 * matters: pixels of 512 or 1024 channels lie 2 or 4 KiB apart, so a row's
 * lines all fall in one or two L1 sets, and a pass of 8 channels followed
 * by another for the next 8 fetched every line twice from L2 (measured:
 * 14x14x512 rows at 20% of peak, 7x7x1024 at 12%).
 *
 * Interior pixels go DW_QUAD at a time: pixel x+q reads columns
 * (x+q)*stride + kx, so the quad's columns of one row are loaded once and
 * each is multiplied into every pixel that reads it (stride 1: 6 column
 * loads for 12 FMAs per row and half). 2*DW_QUAD accumulators give enough
 * independent FMA chains to cover the FMA latency; the 6 weights of the
 * current row and one column take the other registers. */
ALWAYS_INLINE void
dw3x3_block(const struct dw_args *g, size_t ch, const float *wb,
            const size_t nrows, const size_t stride, const size_t nv,
            const bool masked, __m256i m0, __m256i m1)
{
  const size_t c = g->c, pad = g->pad_left;
  const float *wt = wb + KERN_DW_CB; /* tap t, half h: wt[t*16 + 8h] */
  const __m256 bias0 = _mm256_loadu_ps(wb);
  const __m256 bias1 = nv == 2 ? _mm256_loadu_ps(wb + 8) : bias0;
  float *out = g->out + ch;

  /* Border pixels (some column is padding), one at a time. */
  for (size_t x = 0; x < g->out_w; x++) {
    if (x == g->x_lo && g->x_lo < g->x_hi) {
      x = g->x_hi - 1;
      continue;
    }
    __m256 a0 = bias0, a1 = bias1;
#pragma GCC unroll 3
    for (size_t r = 0; r < nrows; r++) {
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) {
        size_t ix = x * stride + kx;
        if (ix < pad || ix - pad >= g->in_w)
          continue;
        const float *px = g->rp[r] + (ix - pad) * c + ch;
        const float *w = wt + (g->wi[r] * 3 + kx) * KERN_DW_CB;
        a0 = _mm256_fmadd_ps(load8(px, masked, m0), _mm256_loadu_ps(w), a0);
        if (nv == 2)
          a1 = _mm256_fmadd_ps(load8(px + 8, masked, m1),
                               _mm256_loadu_ps(w + 8), a1);
      }
    }
    store8(out + x * c, clamp8(a0, g->vmin, g->vmax), masked, m0);
    if (nv == 2)
      store8(out + x * c + 8, clamp8(a1, g->vmin, g->vmax), masked, m1);
  }

  /* Interior, DW_QUAD pixels at a time. */
  const size_t ncol = 3 + (DW_QUAD - 1) * stride;
  size_t x = g->x_lo;
  for (; x + DW_QUAD <= g->x_hi; x += DW_QUAD) {
    __m256 acc0[DW_QUAD], acc1[DW_QUAD];
#pragma GCC unroll 4
    for (size_t q = 0; q < DW_QUAD; q++) {
      acc0[q] = bias0;
      acc1[q] = bias1;
    }
#pragma GCC unroll 3
    for (size_t r = 0; r < nrows; r++) {
      const float *pr = g->rp[r] + (x * stride - pad) * c + ch;
      const float *wr = wt + g->wi[r] * 3 * KERN_DW_CB;
      if (DW_QUAD == 4 && nv == 2 && !masked) {
        if (stride == 1)
          dw3x3_quad_row_s1(pr, c, wr, acc0, acc1);
        else
          dw3x3_quad_row_s2(pr, c, wr, acc0, acc1);
        continue;
      }
      __m256 w0[3], w1[3];
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) {
        w0[kx] = _mm256_loadu_ps(wr + kx * KERN_DW_CB);
        w1[kx] = nv == 2 ? _mm256_loadu_ps(wr + kx * KERN_DW_CB + 8) : w0[kx];
      }
#pragma GCC unroll 9
      for (size_t j = 0; j < ncol; j++) {
        const __m256 v0 = load8(pr + j * c, masked, m0);
        const __m256 v1 = nv == 2 ? load8(pr + j * c + 8, masked, m1) : v0;
#pragma GCC unroll 4
        for (size_t q = 0; q < DW_QUAD; q++) {
          /* column j is tap kx = j - q*stride of pixel q */
          if (j >= q * stride && j - q * stride < 3) {
            acc0[q] = _mm256_fmadd_ps(v0, w0[j - q * stride], acc0[q]);
            if (nv == 2)
              acc1[q] = _mm256_fmadd_ps(v1, w1[j - q * stride], acc1[q]);
          }
        }
      }
    }
#pragma GCC unroll 4
    for (size_t q = 0; q < DW_QUAD; q++) {
      store8(out + (x + q) * c, clamp8(acc0[q], g->vmin, g->vmax), masked, m0);
      if (nv == 2)
        store8(out + (x + q) * c + 8, clamp8(acc1[q], g->vmin, g->vmax),
               masked, m1);
    }
  }
  /* The last interior pixels, one at a time. */
  for (; x < g->x_hi; x++) {
    __m256 a0 = bias0, a1 = bias1;
#pragma GCC unroll 3
    for (size_t r = 0; r < nrows; r++) {
      const float *pr = g->rp[r] + (x * stride - pad) * c + ch;
      const float *wr = wt + g->wi[r] * 3 * KERN_DW_CB;
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) {
        a0 = _mm256_fmadd_ps(load8(pr + kx * c, masked, m0),
                             _mm256_loadu_ps(wr + kx * KERN_DW_CB), a0);
        if (nv == 2)
          a1 = _mm256_fmadd_ps(load8(pr + kx * c + 8, masked, m1),
                               _mm256_loadu_ps(wr + kx * KERN_DW_CB + 8), a1);
      }
    }
    store8(out + x * c, clamp8(a0, g->vmin, g->vmax), masked, m0);
    if (nv == 2)
      store8(out + x * c + 8, clamp8(a1, g->vmin, g->vmax), masked, m1);
  }
}

/* All blocks of the row, with nrows and stride constant: full blocks of 16
 * channels, then the tail (exactly 8 channels: one unmasked half; else
 * masked). */
ALWAYS_INLINE void
dw3x3_rows(const struct dw_args *g, const size_t nrows, const size_t stride)
{
  const size_t c = g->c, cfull = c / KERN_DW_CB * KERN_DW_CB;
  const __m256i all = _mm256_set1_epi32(-1);
  const float *wb = g->packed;
  for (size_t ch = 0; ch < cfull; ch += KERN_DW_CB, wb += KERN_DW_CB * 10)
    dw3x3_block(g, ch, wb, nrows, stride, 2, false, all, all);
  if (c - cfull == 8)
    dw3x3_block(g, cfull, wb, nrows, stride, 1, false, all, all);
  else if (cfull < c)
    dw3x3_block(g, cfull, wb, nrows, stride, 2, true, mask_first(c - cfull),
                mask_first(c - cfull > 8 ? c - cfull - 8 : 0));
}

static void
dw3x3_rows1_s1(const struct dw_args *g)
{
  dw3x3_rows(g, 1, 1);
}

static void
dw3x3_rows2_s1(const struct dw_args *g)
{
  dw3x3_rows(g, 2, 1);
}

static void
dw3x3_rows3_s1(const struct dw_args *g)
{
  dw3x3_rows(g, 3, 1);
}

static void
dw3x3_rows1_s2(const struct dw_args *g)
{
  dw3x3_rows(g, 1, 2);
}

static void
dw3x3_rows2_s2(const struct dw_args *g)
{
  dw3x3_rows(g, 2, 2);
}

static void
dw3x3_rows3_s2(const struct dw_args *g)
{
  dw3x3_rows(g, 3, 2);
}

/* Every tap row is padding: the output is the clamped bias. */
static void
dw_bias_only(const struct dw_args *g)
{
  for (size_t ch = 0; ch < g->c; ch += 8) {
    const float *bias = g->packed + ch / KERN_DW_CB * KERN_DW_CB * 10 +
                        ch % KERN_DW_CB;
    const __m256i mask = mask_first(g->c - ch);
    const __m256 y = clamp8(_mm256_loadu_ps(bias), g->vmin, g->vmax);
    for (size_t x = 0; x < g->out_w; x++)
      _mm256_maskstore_ps(g->out + x * g->c + ch, mask, y);
  }
}

/* Fills g for one output row of a 3x3 depthwise convolution of that
 * stride; returns the number of tap rows that are not padding. */
static size_t
dw3x3_args(struct dw_args *g, size_t c, size_t in_w, const float *const *rows,
           size_t stride, size_t pad_left, size_t out_w, const float *packed,
           float *out, float min, float max)
{
  *g = (struct dw_args){
    .c = c, .in_w = in_w, .pad_left = pad_left, .out_w = out_w,
    .packed = packed, .out = out,
    .vmin = _mm256_set1_ps(min), .vmax = _mm256_set1_ps(max),
  };
  size_t nrows = 0;
  for (size_t ky = 0; ky < 3; ky++) {
    if (rows[ky]) {
      g->rp[nrows] = rows[ky];
      g->wi[nrows++] = ky;
    }
  }
  /* Interior: x*stride >= pad_left and x*stride + 2 - pad_left < in_w. */
  size_t x_lo = (pad_left + stride - 1) / stride;
  size_t x_hi = in_w + pad_left >= 3 ? (in_w + pad_left - 3) / stride + 1 : 0;
  if (x_hi > out_w)
    x_hi = out_w;
  if (x_lo > x_hi)
    x_lo = x_hi;
  g->x_lo = x_lo;
  g->x_hi = x_hi;
  return nrows;
}

void
kern_f32_dwconv3x3_s1_clamp__avx2(size_t c, size_t in_w,
                                  const float *const *rows, size_t kh,
                                  size_t kw, size_t stride, size_t pad_left,
                                  size_t out_w, const float *packed,
                                  float *out, float min, float max)
{
  assert(kh == 3 && kw == 3 && stride == 1);
  struct dw_args g;
  switch (dw3x3_args(&g, c, in_w, rows, 1, pad_left, out_w, packed, out, min,
                     max)) {
  case 3: dw3x3_rows3_s1(&g); break;
  case 2: dw3x3_rows2_s1(&g); break;
  case 1: dw3x3_rows1_s1(&g); break;
  default: dw_bias_only(&g); break;
  }
}

void
kern_f32_dwconv3x3_s2_clamp__avx2(size_t c, size_t in_w,
                                  const float *const *rows, size_t kh,
                                  size_t kw, size_t stride, size_t pad_left,
                                  size_t out_w, const float *packed,
                                  float *out, float min, float max)
{
  assert(kh == 3 && kw == 3 && stride == 2);
  struct dw_args g;
  switch (dw3x3_args(&g, c, in_w, rows, 2, pad_left, out_w, packed, out, min,
                     max)) {
  case 3: dw3x3_rows3_s2(&g); break;
  case 2: dw3x3_rows2_s2(&g); break;
  case 1: dw3x3_rows1_s2(&g); break;
  default: dw_bias_only(&g); break;
  }
}

/* Other kernel sizes and strides (no MobileNet has them): the "dw" layout
 * does not depend on the ISA, so the reference runs them on the same packed
 * weights. */
void
kern_f32_dwconv_clamp__avx2(size_t c, size_t in_w, const float *const *rows,
                            size_t kh, size_t kw, size_t stride,
                            size_t pad_left, size_t out_w,
                            const float *packed, float *out, float min,
                            float max)
{
  kern_f32_dwconv_clamp__ref(c, in_w, rows, kh, kw, stride, pad_left, out_w,
                             packed, out, min, max);
}

/* ---- global average pool, add, softmax ---- */

void
kern_f32_avgpool__avx2(size_t n, size_t c, const float *in, float *out)
{
  /* Sums in double like the reference: n can be a few thousand pixels. */
  const __m256d inv = _mm256_set1_pd(1.0 / (double)n);
  for (size_t ch = 0; ch < c; ch += 8) {
    const bool tail = c - ch < 8;
    const __m256i mask = mask_first(c - ch);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (size_t p = 0; p < n; p++) {
      const float *src = in + p * c + ch;
      const __m256 v = tail ? _mm256_maskload_ps(src, mask)
                            : _mm256_loadu_ps(src);
      lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
      hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    const __m256 y = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_mul_pd(hi, inv)),
                                     _mm256_cvtpd_ps(_mm256_mul_pd(lo, inv)));
    if (tail)
      _mm256_maskstore_ps(out + ch, mask, y);
    else
      _mm256_storeu_ps(out + ch, y);
  }
}

void
kern_f32_add_clamp__avx2(size_t n, const float *a, const float *b, float *out,
                         float min, float max)
{
  const __m256 vmin = _mm256_set1_ps(min), vmax = _mm256_set1_ps(max);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 s = _mm256_add_ps(_mm256_loadu_ps(a + i),
                                   _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(out + i, clamp8(s, vmin, vmax));
  }
  if (i < n) {
    const __m256i mask = mask_first(n - i);
    const __m256 s = _mm256_add_ps(_mm256_maskload_ps(a + i, mask),
                                   _mm256_maskload_ps(b + i, mask));
    _mm256_maskstore_ps(out + i, mask, clamp8(s, vmin, vmax));
  }
}

/* exp(x) for x <= 0 (softmax after subtracting the maximum): Cephes' expf,
 * exp(x) = 2^n * exp(r) with r = x - n*ln2 split in two constants for
 * accuracy and a degree-5 polynomial for exp(r) on [-ln2/2, ln2/2]; about
 * 2 ulp. Inputs below -87.3 give about 1e-38 instead of a subnormal, which
 * is zero to any softmax tolerance. */
static inline __m256
exp8(__m256 x)
{
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
  const __m256 fx = _mm256_round_ps(
      _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x),
                      _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

void
kern_f32_softmax__avx2(size_t n, const float *in, float *out)
{
  if (n == 0)
    return;
  /* Maximum: lanes past the end read as -inf. */
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 vmx = ninf;
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(in + i));
  if (i < n) {
    const __m256i mask = mask_first(n - i);
    vmx = _mm256_max_ps(vmx, _mm256_blendv_ps(ninf,
                                              _mm256_maskload_ps(in + i, mask),
                                              _mm256_castsi256_ps(mask)));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmx),
                         _mm256_extractf128_ps(vmx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(m4));

  /* exp and the sum, in double like the reference. */
  __m256d sum = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(in + i), mx));
    _mm256_storeu_ps(out + i, e);
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  const __m256i tmask = mask_first(n - i);
  if (i < n) {
    /* Masked-off lanes are zeroed so that they add nothing to the sum. */
    const __m256 e = _mm256_and_ps(
        exp8(_mm256_sub_ps(_mm256_maskload_ps(in + i, tmask), mx)),
        _mm256_castsi256_ps(tmask));
    _mm256_maskstore_ps(out + i, tmask, e);
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(sum),
                          _mm256_extractf128_pd(sum, 1));
  s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
  const __m256 inv = _mm256_set1_ps((float)(1.0 / _mm_cvtsd_f64(s2)));

  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), inv));
  if (i < n)
    _mm256_maskstore_ps(out + i, tmask,
                        _mm256_mul_ps(_mm256_maskload_ps(out + i, tmask), inv));
}
