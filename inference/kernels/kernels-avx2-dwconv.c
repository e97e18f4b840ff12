/* streamsight — AVX2/FMA depthwise convolution, one output row:
 * kern_f32_dwconv3x3_s1_clamp and kern_f32_dwconv3x3_s2_clamp (blocks of
 * 16 channels, interior pixels four at a time), and the general
 * kern_f32_dwconv_clamp. Built with -mavx2 -mfma.
 *
 * Computes what the twins in kernels-ref.c compute; only the order of the
 * sums and the FMA rounding differ. Channel tails use masked loads and
 * stores, so no kernel reads or writes outside the rows the contract
 * describes.
 */
#include "kernels-avx2.h"

#include <assert.h>
#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels-avx2-util.h"
#include "kernels-ref.h"

/* Output pixels of one depthwise interior step (see dw3x3_block). */
#ifndef DW_QUAD
#define DW_QUAD 4
#endif

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

