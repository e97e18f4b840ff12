/* streamsight — fused row conversion, AVX2 + FMA (built with -mavx2 -mfma).
 *
 * Eight output pixels per step. Each component's two taps of a row come from
 * one 32-bit gather at the tap-0 offset when ps <= 3 (tap 1 is byte ps of
 * the same dword), or from two gathers otherwise. The blends, the colour
 * matrix, the clamp and the normalisation are FMAs, mins and maxes; the
 * three channels are interleaved into NHWC with permutes and blends.
 * Pixels from n_safe_vec on, where a 4-byte load could leave the row, go to
 * the reference. Same results as frame_convert_row_ref up to FMA rounding.
 */
#include <immintrin.h>

#include "frame-convert.h"

/* Taps 0 and 1 of one row of one component, as floats. */
static inline void
taps(const uint8_t *row, __m256i off, int ps, __m256 *t0, __m256 *t1)
{
  const __m256i lo = _mm256_set1_epi32(0xff);
  __m256i g = _mm256_i32gather_epi32((const int *)row, off, 1);
  *t0 = _mm256_cvtepi32_ps(_mm256_and_si256(g, lo));
  if (ps <= 3) {
    __m256i s = _mm256_srl_epi32(g, _mm_cvtsi32_si128(8 * ps));
    *t1 = _mm256_cvtepi32_ps(_mm256_and_si256(s, lo));
  } else {
    __m256i h = _mm256_i32gather_epi32((const int *)(row + ps), off, 1);
    *t1 = _mm256_cvtepi32_ps(_mm256_and_si256(h, lo));
  }
}

static inline __m256
sample(const uint8_t *top, const uint8_t *bot, __m256i off, int ps,
       __m256 fx, __m256 fy)
{
  __m256 t0, t1, b0, b1;
  taps(top, off, ps, &t0, &t1);
  taps(bot, off, ps, &b0, &b1);
  __m256 t = _mm256_fmadd_ps(_mm256_sub_ps(t1, t0), fx, t0);
  __m256 b = _mm256_fmadd_ps(_mm256_sub_ps(b1, b0), fx, b0);
  return _mm256_fmadd_ps(_mm256_sub_ps(b, t), fy, t);
}

/* r0..r7, g0..g7, b0..b7 -> r0 g0 b0 r1 ... b7 (24 floats). */
static inline void
store_rgb(float *o, __m256 r, __m256 g, __m256 b)
{
  /* out0 = r0 g0 b0 r1 g1 b1 r2 g2 */
  __m256 pr = _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 0, 0, 1, 0, 0, 2, 0));
  __m256 pg = _mm256_permutevar8x32_ps(g, _mm256_setr_epi32(0, 0, 0, 0, 1, 0, 0, 2));
  __m256 pb = _mm256_permutevar8x32_ps(b, _mm256_setr_epi32(0, 0, 0, 0, 0, 1, 0, 0));
  __m256 o0 = _mm256_blend_ps(_mm256_blend_ps(pr, pg, 0x92), pb, 0x24);
  /* out1 = b2 r3 g3 b3 r4 g4 b4 r5 */
  pr = _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 3, 0, 0, 4, 0, 0, 5));
  pg = _mm256_permutevar8x32_ps(g, _mm256_setr_epi32(0, 0, 3, 0, 0, 4, 0, 0));
  pb = _mm256_permutevar8x32_ps(b, _mm256_setr_epi32(2, 0, 0, 3, 0, 0, 4, 0));
  __m256 o1 = _mm256_blend_ps(_mm256_blend_ps(pr, pg, 0x24), pb, 0x49);
  /* out2 = g5 b5 r6 g6 b6 r7 g7 b7 */
  pr = _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 0, 6, 0, 0, 7, 0, 0));
  pg = _mm256_permutevar8x32_ps(g, _mm256_setr_epi32(5, 0, 0, 6, 0, 0, 7, 0));
  pb = _mm256_permutevar8x32_ps(b, _mm256_setr_epi32(0, 5, 0, 0, 6, 0, 0, 7));
  __m256 o2 = _mm256_blend_ps(_mm256_blend_ps(pr, pg, 0x49), pb, 0x92);
  _mm256_storeu_ps(o, o0);
  _mm256_storeu_ps(o + 8, o1);
  _mm256_storeu_ps(o + 16, o2);
}

void
frame_convert_row__avx2(const FrameConvertRow *r)
{
  const FrameConvertCoefs *k = r->k;
  const __m256 fy = _mm256_set1_ps(r->fy);
  const __m256 zero = _mm256_setzero_ps(), max = _mm256_set1_ps(255.0f);
  __m256 m[3][3], t[3], s[3], bias[3];
  for (int c = 0; c < 3; c++) {
    for (int j = 0; j < 3; j++)
      m[c][j] = _mm256_set1_ps(k->m[c][j]);
    t[c] = _mm256_set1_ps(k->t[c]);
    s[c] = _mm256_set1_ps(k->scale[c]);
    bias[c] = _mm256_set1_ps(k->bias[c]);
  }
  const int psa = r->ps[0], psb = r->ps[1];
  const int n_vec = (r->n_safe_vec < r->n ? r->n_safe_vec : r->n) & ~7;
  int i = 0;
  for (; i < n_vec; i += 8) {
    __m256i oa = _mm256_loadu_si256((const __m256i *)(r->off[0] + i));
    __m256i ob = _mm256_loadu_si256((const __m256i *)(r->off[1] + i));
    __m256 fa = _mm256_loadu_ps(r->fx[0] + i);
    __m256 fb = _mm256_loadu_ps(r->fx[1] + i);
    __m256 v0 = sample(r->top[0], r->bot[0], oa, psa, fa, fy);
    __m256 v1 = sample(r->top[1], r->bot[1], ob, psb, fb, fy);
    __m256 v2 = sample(r->top[2], r->bot[2], ob, psb, fb, fy);
    __m256 rgb[3];
    for (int c = 0; c < 3; c++) {
      __m256 x = _mm256_fmadd_ps(m[c][0], v0, t[c]);
      x = _mm256_fmadd_ps(m[c][1], v1, x);
      x = _mm256_fmadd_ps(m[c][2], v2, x);
      x = _mm256_min_ps(_mm256_max_ps(x, zero), max);
      rgb[c] = _mm256_fmadd_ps(x, s[c], bias[c]);
    }
    store_rgb(r->out + 3 * i, rgb[0], rgb[1], rgb[2]);
  }
  if (i < r->n) {
    FrameConvertRow tail = *r;
    tail.n = r->n - i;
    tail.n_safe_vec = 0;
    for (int c = 0; c < 2; c++) {
      tail.off[c] = r->off[c] + i;
      tail.fx[c] = r->fx[c] + i;
    }
    tail.out = r->out + 3 * i;
    frame_convert_row_ref(&tail);
  }
}
