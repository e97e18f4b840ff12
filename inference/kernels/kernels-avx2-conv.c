/* streamsight — AVX2/FMA dense convolution, one output row
 * (kern_f32_conv_clamp): border pixels gathered into on-stack tiles,
 * interior pixels read in place, both through the GEMM micro-tile.
 * Built with -mavx2 -mfma.
 *
 * Computes what kern_f32_conv_clamp__ref computes; only the order of the
 * sums and the FMA rounding differ. Channel tails use masked stores, so
 * nothing outside the output row is written.
 */
#include "kernels-avx2.h"

#include <immintrin.h>
#include <stddef.h>

#include "kernels-avx2-tile.h"
#include "kernels-avx2-util.h"

/* Largest K = kh*kw*cin for which the conv kernel gathers border pixels
 * into an on-stack tile of MR pixels (MR * 512 floats = 12 KiB of stack).
 * Border pixels of larger convolutions are computed one at a time. */
#define CONV_TILE_MAX_K 512

/* Kernel heights whose interior the conv kernel reads in place, one
 * segment per row (the engine allows kh <= 15). Taller kernels go pixel by
 * pixel. */
#define CONV_MAX_SEGS 16

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

