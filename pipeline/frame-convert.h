/* streamsight — the sink's fused resize + colour conversion + normalisation,
 * one output row segment at a time.
 *
 * The sink (sink-resize.c) plans the geometry once per caps/target and
 * calls a row function per output row. The plain-C reference
 * (frame_convert_row_ref) is the definition; frame_convert_row__avx2
 * (frame-convert-avx2.c, built with -mavx2 -mfma) must match it within float
 * rounding. frame_convert_row_best() picks one at run time.
 *
 * Sampling model. The three components are split in two classes that share
 * column taps: class 0 is component 0 (luma, or R), class 1 components 1
 * and 2 (chroma, or G and B). For output pixel i, class k reads two
 * horizontally adjacent samples at byte offsets off[k][i] and
 * off[k][i] + ps[k] of each component's top and bottom rows, and blends
 * them with weight fx[k][i] (right sample) and fy (bottom row):
 *   v = lerp(lerp(t[o], t[o + ps], fx), lerp(b[o], b[o + ps], fx), fy)
 * Then
 *   rgb = clamp(m * (v0, v1, v2) + t, 0, 255)
 *   out[3 i + c] = rgb[c] * scale[c] + bias[c]
 * The planner makes the taps always adjacent (ps apart) by shifting the
 * pair left at the right edge with weight 1, and by giving subsampled
 * chroma weight 0 when both luma taps fall on the same chroma sample.
 */
#ifndef SS_FRAME_CONVERT_H
#define SS_FRAME_CONVERT_H

#include <stdint.h>

typedef struct {
  float m[3][3], t[3];   /* raw components -> RGB 0..255 */
  float scale[3], bias[3]; /* normalisation */
} FrameConvertCoefs;

typedef struct {
  int n;               /* output pixels */
  /* Reads stay inside each row for pixels [0, n_safe_vec): a vector
   * variant may load 4 bytes at off (and at off + ps when ps > 3) there;
   * it must treat pixels from n_safe_vec on like the reference. */
  int n_safe_vec;
  const int32_t *off[2]; /* per class, n entries */
  const float *fx[2];    /* per class, n entries */
  int ps[2];             /* per class, bytes from tap 0 to tap 1 (0..8) */
  const uint8_t *top[3], *bot[3]; /* per component, row + pixel offset */
  float fy;
  const FrameConvertCoefs *k;
  float *out;          /* n x 3 floats */
} FrameConvertRow;

typedef void (*FrameConvertRowFn)(const FrameConvertRow *row);

void frame_convert_row_ref(const FrameConvertRow *row);
#if defined(SS_HAVE_FRAME_CONVERT_AVX2)
void frame_convert_row__avx2(const FrameConvertRow *row);
#endif

/* The best variant for this CPU (AVX2 + FMA when present). Any thread. */
FrameConvertRowFn frame_convert_row_best(void);
/* "avx2" or "ref", for logs and benchmarks. */
const char *frame_convert_row_name(FrameConvertRowFn fn);

#endif
