/* streamsight — fused row conversion: the reference and the dispatch (see
 * frame-convert.h). */
#include "frame-convert.h"

static inline float
lerp2(const uint8_t *t, const uint8_t *b, int32_t o, int ps, float fx,
      float fy)
{
  float t0 = t[o], t1 = t[o + ps], b0 = b[o], b1 = b[o + ps];
  float top = t0 + (t1 - t0) * fx;
  float bot = b0 + (b1 - b0) * fx;
  return top + (bot - top) * fy;
}

/* Written as two selects so that compilers emit min/max, not branches. */
static inline float
clamp255(float v)
{
  v = v > 0.0f ? v : 0.0f;
  return v < 255.0f ? v : 255.0f;
}

void
frame_convert_row_ref(const FrameConvertRow *r)
{
  const FrameConvertCoefs *k = r->k;
  const int psa = r->ps[0], psb = r->ps[1];
  const float fy = r->fy;
  for (int i = 0; i < r->n; i++) {
    const int32_t oa = r->off[0][i], ob = r->off[1][i];
    const float fa = r->fx[0][i], fb = r->fx[1][i];
    float v0 = lerp2(r->top[0], r->bot[0], oa, psa, fa, fy);
    float v1 = lerp2(r->top[1], r->bot[1], ob, psb, fb, fy);
    float v2 = lerp2(r->top[2], r->bot[2], ob, psb, fb, fy);
    float *o = r->out + 3 * i;
    for (int c = 0; c < 3; c++) {
      float x = k->m[c][0] * v0 + k->m[c][1] * v1 + k->m[c][2] * v2 + k->t[c];
      o[c] = clamp255(x) * k->scale[c] + k->bias[c];
    }
  }
}

FrameConvertRowFn
frame_convert_row_best(void)
{
#if defined(SS_HAVE_FRAME_CONVERT_AVX2)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return frame_convert_row__avx2;
#endif
  return frame_convert_row_ref;
}

const char *
frame_convert_row_name(FrameConvertRowFn fn)
{
#if defined(SS_HAVE_FRAME_CONVERT_AVX2)
  if (fn == frame_convert_row__avx2)
    return "avx2";
#endif
  return fn == frame_convert_row_ref ? "ref" : "?";
}
