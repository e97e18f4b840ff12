/* streamsight — the AVX2 GEMM micro-tile: MR rows x NR output channels of
 * the "gemm" layout, over one or more segments of the reduction. The GEMM
 * kernels (kernels-avx2-gemm.c) run it on rows of a matrix, the dense
 * convolution (kernels-avx2-conv.c) on rows of image patches read in place.
 *
 * Static functions in a header, included by exactly those two files: as
 * before the split, each compiles its own copy specialised for its call
 * sites (gemm_tile is always inlined with constant mr and nv).
 */
#ifndef SS_KERNELS_AVX2_TILE_H
#define SS_KERNELS_AVX2_TILE_H

#include <immintrin.h>
#include <stddef.h>

#include "kernels-avx2-util.h"
#include "kernels-avx2.h"

#define NR KERN_AVX2_GEMM_NR

/* Rows of one GEMM micro-tile. 6 rows x 2 ymm = 12 accumulators, plus two
 * weight registers and one broadcast: 15 of the 16 ymm registers. */
#define MR 6

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

#endif
