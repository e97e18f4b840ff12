/* streamsight — crop, resize and normalise still images (TF eval convention).
 *
 * preprocess_crop_resize_rgb8 reproduces, byte for byte, the input that the
 * TFLite reference outputs were computed from (checked against their
 * input_rgb_sha256 on all dev images at 224, 192, 160 and 128 px, given
 * libjpeg-turbo's decoded pixels): tf.image.central_crop, then TF1's bilinear
 * resize (align_corners=False, half_pixel_centers=False) in float32, then
 * rounding half away from zero.
 *
 * The details that matter for exactness:
 * - the source coordinate of output row y is the float32 quotient
 *   (float)(y * in) / (float)out, i.e. the exact position rounded once;
 *   y * ((float)in / out) rounds twice and differs for most sizes that are
 *   not powers of two (sha matches fall from 100% to 5-15% at 160/192/224);
 * - the interpolation is top + (bottom - top) * ly with
 *   top = tl + (tr - tl) * lx, in float32, without fused multiply-adds
 *   (contraction is disabled below: an FMA rounds once where the reference
 *   rounds twice).
 */
#include "preprocess.h"

#include <math.h>
#include <stdint.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* tf.image.central_crop: start = int((size - size * fraction) / 2) computed
 * in double (Python floats), the same margin on both sides. */
static int
central_crop_start(int size, float fraction)
{
  if (!(fraction < 1.0f))
    return 0;
  double s = (double)size;
  int start = (int)((s - s * (double)fraction) / 2.0);
  if (2 * start >= size) /* tiny images: keep at least one pixel */
    start = (size - 1) / 2;
  return start;
}

void
preprocess_central_crop(int w, int h, float crop_fraction, int *x0, int *y0,
                        int *cw, int *ch)
{
  int x = central_crop_start(w, crop_fraction);
  int y = central_crop_start(h, crop_fraction);
  *x0 = x;
  *y0 = y;
  *cw = w - 2 * x;
  *ch = h - 2 * y;
}

/* Source position of output index i: the exact i * in / out rounded to
 * float32 once, its floor, the next sample (clamped) and the fraction. */
static void
source_coord(int i, int in, int out, int *i0, int *i1, float *frac)
{
  float f = (float)((int64_t)i * in) / (float)out;
  float fl = floorf(f);
  int lo = (int)fl;
  if (lo > in - 1)
    lo = in - 1;
  *i0 = lo;
  *i1 = lo + 1 < in ? lo + 1 : in - 1;
  *frac = f - fl;
}

void
preprocess_crop_resize_rgb8(const uint8_t *src, int w, int h, size_t stride,
                            float crop_fraction, uint8_t *dst, int dw, int dh)
{
  int x0, y0, cw, ch;
  preprocess_central_crop(w, h, crop_fraction, &x0, &y0, &cw, &ch);
  for (int y = 0; y < dh; y++) {
    int iy0, iy1;
    float ly;
    source_coord(y, ch, dh, &iy0, &iy1, &ly);
    const uint8_t *r0 = src + (size_t)(y0 + iy0) * stride + (size_t)x0 * 3;
    const uint8_t *r1 = src + (size_t)(y0 + iy1) * stride + (size_t)x0 * 3;
    uint8_t *out = dst + (size_t)y * dw * 3;
    for (int x = 0; x < dw; x++) {
      int ix0, ix1;
      float lx;
      source_coord(x, cw, dw, &ix0, &ix1, &lx);
      for (int c = 0; c < 3; c++) {
        float tl = r0[ix0 * 3 + c], tr = r0[ix1 * 3 + c];
        float bl = r1[ix0 * 3 + c], br = r1[ix1 * 3 + c];
        float top = tl + (tr - tl) * lx;
        float bot = bl + (br - bl) * lx;
        float v = top + (bot - top) * ly;
        long r = lroundf(v);
        out[x * 3 + c] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
      }
    }
  }
}

void
preprocess_normalize_rgb8(const uint8_t *rgb, size_t n, const float mean[3],
                          const float std[3], float *out)
{
  const float inv[3] = { 1.0f / std[0], 1.0f / std[1], 1.0f / std[2] };
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 3; c++)
      out[i * 3 + c] = ((float)rgb[i * 3 + c] - mean[c]) * inv[c];
}
