/* streamsight — crop, resize and normalise still images (TF eval convention). */
#include "preprocess.h"

#include <math.h>

void
preprocess_crop_resize_rgb8(const uint8_t *src, int w, int h, size_t stride,
                            float crop_fraction, uint8_t *dst, int dw, int dh)
{
  /* tf.image.central_crop: start = int((size - size * fraction) / 2). */
  int x0 = (int)(((double)w - (double)w * crop_fraction) / 2);
  int y0 = (int)(((double)h - (double)h * crop_fraction) / 2);
  int cw = w - 2 * x0, ch = h - 2 * y0;
  float sx = (float)cw / (float)dw, sy = (float)ch / (float)dh;
  for (int y = 0; y < dh; y++) {
    float fy = (float)y * sy;
    int iy0 = (int)floorf(fy);
    int iy1 = iy0 + 1 < ch ? iy0 + 1 : ch - 1;
    float ly = fy - (float)iy0;
    const uint8_t *r0 = src + (size_t)(y0 + iy0) * stride;
    const uint8_t *r1 = src + (size_t)(y0 + iy1) * stride;
    for (int x = 0; x < dw; x++) {
      float fx = (float)x * sx;
      int ix0 = (int)floorf(fx);
      int ix1 = ix0 + 1 < cw ? ix0 + 1 : cw - 1;
      float lx = fx - (float)ix0;
      for (int c = 0; c < 3; c++) {
        float tl = r0[(x0 + ix0) * 3 + c], tr = r0[(x0 + ix1) * 3 + c];
        float bl = r1[(x0 + ix0) * 3 + c], br = r1[(x0 + ix1) * 3 + c];
        float top = tl + (tr - tl) * lx;
        float bot = bl + (br - bl) * lx;
        float v = top + (bot - top) * ly;
        long r = lroundf(v);
        dst[((size_t)y * dw + x) * 3 + c] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
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
