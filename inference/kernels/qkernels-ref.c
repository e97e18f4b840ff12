/* streamsight — reference integer kernels (see qkernels.h): the definition
 * every optimised twin must reproduce bit for bit. */
#include "qkernels-ref.h"

#include <math.h>
#include <string.h>

/* ---- fixed point, as TFLite's kernels/internal/common.h and gemmlowp ---- */

void
qk_quantize_multiplier(double m, int32_t *mult, int32_t *shift)
{
  if (m == 0.0) {
    *mult = 0;
    *shift = 0;
    return;
  }
  int e;
  const double q = frexp(m, &e);
  int64_t q_fixed = (int64_t)round(q * (double)(1ll << 31));
  if (q_fixed == (1ll << 31)) {
    q_fixed /= 2;
    e++;
  }
  if (e < -31) { /* too small to matter: TFLite flushes it to 0 */
    e = 0;
    q_fixed = 0;
  }
  *mult = (int32_t)q_fixed;
  *shift = e;
}

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), half
 * away from zero; the single overflowing case saturates. */
static int32_t
srdhm(int32_t a, int32_t b)
{
  if (a == b && a == INT32_MIN)
    return INT32_MAX;
  const int64_t ab = (int64_t)a * b;
  const int64_t nudge = ab >= 0 ? (1ll << 30) : 1 - (1ll << 30);
  return (int32_t)((ab + nudge) / (1ll << 31)); /* C division truncates */
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded half away from zero. */
static int32_t
rdpot(int32_t x, int e)
{
  const int32_t mask = (int32_t)((1u << e) - 1);
  const int32_t rem = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

int32_t
qk_mul_by_quantized_multiplier(int32_t x, int32_t mult, int32_t shift)
{
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  /* TFLite multiplies by 2^left in int32 (wrapping there as here). */
  const int32_t xs = (int32_t)((uint32_t)x << left);
  return rdpot(srdhm(xs, mult), right);
}

uint8_t
qk_requant_one(int32_t acc, const struct qk_requant *rq, size_t j)
{
  int32_t y;
  if (rq->mode == QK_RQ_FP32) {
    float f = (float)acc * rq->scale[j];
    const float lo = (float)(rq->lo - rq->zp), hi = (float)(rq->hi - rq->zp);
    f = f < lo ? lo : f; /* a NaN cannot occur: acc and scale are finite */
    f = f > hi ? hi : f;
    y = (int32_t)lrintf(f) + rq->zp;
  } else {
    y = qk_mul_by_quantized_multiplier(acc, rq->mult[j], rq->shift[j]) +
        rq->zp;
    y = y < rq->lo ? rq->lo : y;
    y = y > rq->hi ? rq->hi : y;
  }
  return (uint8_t)y;
}

/* ---- packing ---- */

size_t
qk_gemm_packed_size(size_t n, size_t k)
{
  size_t blocks = (n + QK_GEMM_NR - 1) / QK_GEMM_NR;
  size_t kp = (k + 1) / 2;
  return blocks * (QK_GEMM_NR * 4 + kp * QK_GEMM_NR * 2 * 2);
}

void
qk_gemm_pack(size_t n, size_t k, const int16_t *w, const int32_t *bias,
             int32_t in_zp, void *packed)
{
  uint8_t *p = packed;
  size_t kp = (k + 1) / 2;
  for (size_t n0 = 0; n0 < n; n0 += QK_GEMM_NR) {
    int32_t *b = (int32_t *)(void *)p;
    int16_t *pw = (int16_t *)(void *)(p + QK_GEMM_NR * 4);
    for (size_t j = 0; j < QK_GEMM_NR; j++) {
      size_t c = n0 + j;
      int64_t sum = 0;
      for (size_t kk = 0; c < n && kk < k; kk++)
        sum += w[c * k + kk];
      /* |bias| < 2^31 and |sum| <= 255 * K: kept in int32 as the kernels
       * add it (wrapping like TFLite's int32 accumulator would). */
      b[j] = c < n ? (int32_t)((uint32_t)bias[c] - (uint32_t)(in_zp * sum))
                   : 0;
      for (size_t q = 0; q < kp; q++)
        for (size_t h = 0; h < 2; h++) {
          size_t kk = 2 * q + h;
          pw[(q * QK_GEMM_NR + j) * 2 + h] =
              c < n && kk < k ? w[c * k + kk] : 0;
        }
    }
    p += QK_GEMM_NR * 4 + kp * QK_GEMM_NR * 2 * 2;
  }
}

size_t
qk_dw_packed_size(size_t c, size_t taps)
{
  size_t blocks = (c + QK_DW_CB - 1) / QK_DW_CB;
  return blocks * (QK_DW_CB * 4 + taps * QK_DW_CB * 2);
}

void
qk_dw_pack(size_t c, size_t taps, const int16_t *w, const int32_t *bias,
           void *packed)
{
  uint8_t *p = packed;
  for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB) {
    int32_t *b = (int32_t *)(void *)p;
    int16_t *pw = (int16_t *)(void *)(p + QK_DW_CB * 4);
    for (size_t j = 0; j < QK_DW_CB; j++) {
      b[j] = c0 + j < c ? bias[c0 + j] : 0;
      for (size_t t = 0; t < taps; t++)
        pw[t * QK_DW_CB + j] = c0 + j < c ? w[t * c + c0 + j] : 0;
    }
    p += QK_DW_CB * 4 + taps * QK_DW_CB * 2;
  }
}

/* ---- kernels ---- */

void
qk_gemm__ref(size_t m, size_t n, size_t k, const uint8_t *in,
             size_t in_stride, const void *packed,
             const struct qk_requant *rq, uint8_t *out, size_t out_stride)
{
  const size_t kp = (k + 1) / 2;
  const size_t block = QK_GEMM_NR * 4 + kp * QK_GEMM_NR * 2 * 2;
  for (size_t i = 0; i < m; i++) {
    const uint8_t *a = in + i * in_stride;
    for (size_t n0 = 0; n0 < n; n0 += QK_GEMM_NR) {
      const uint8_t *p = (const uint8_t *)packed + (n0 / QK_GEMM_NR) * block;
      const int32_t *b = (const int32_t *)(const void *)p;
      const int16_t *pw = (const int16_t *)(const void *)(p + QK_GEMM_NR * 4);
      for (size_t j = 0; j < QK_GEMM_NR && n0 + j < n; j++) {
        /* Unsigned arithmetic: int32 wrap-around, without undefined
         * behaviour, as an int32 accumulator of any optimised kernel. */
        uint32_t acc = (uint32_t)b[j];
        for (size_t kk = 0; kk < k; kk++)
          acc += (uint32_t)((int32_t)a[kk] *
                            pw[((kk / 2) * QK_GEMM_NR + j) * 2 + kk % 2]);
        out[i * out_stride + n0 + j] =
            qk_requant_one((int32_t)acc, rq, n0 + j);
      }
    }
  }
}

void
qk_dwconv_row__ref(size_t c, size_t in_w, const uint8_t *const *rows,
                   size_t kh, size_t kw, size_t stride, size_t pad_left,
                   size_t out_w, int32_t in_zp, const void *packed,
                   const struct qk_requant *rq, uint8_t *out)
{
  const size_t taps = kh * kw;
  const size_t block = QK_DW_CB * 4 + taps * QK_DW_CB * 2;
  for (size_t x = 0; x < out_w; x++) {
    for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB) {
      const uint8_t *p = (const uint8_t *)packed + (c0 / QK_DW_CB) * block;
      const int32_t *b = (const int32_t *)(const void *)p;
      const int16_t *pw = (const int16_t *)(const void *)(p + QK_DW_CB * 4);
      for (size_t j = 0; j < QK_DW_CB && c0 + j < c; j++) {
        uint32_t acc = (uint32_t)b[j]; /* int32 wrap-around, defined */
        for (size_t ky = 0; ky < kh; ky++) {
          if (!rows[ky])
            continue;
          for (size_t kx = 0; kx < kw; kx++) {
            size_t ix = x * stride + kx; /* + pad_left, unsigned */
            if (ix < pad_left || ix - pad_left >= in_w)
              continue;
            int32_t v = rows[ky][(ix - pad_left) * c + c0 + j];
            acc += (uint32_t)((v - in_zp) * pw[(ky * kw + kx) * QK_DW_CB + j]);
          }
        }
        out[x * c + c0 + j] = qk_requant_one((int32_t)acc, rq, c0 + j);
      }
    }
  }
}

/* The rows of one output row y: input row y*stride + ky - pad_top, or NULL
 * where that is padding. */
void
qk_dw_rows(const struct qk_dw_shape *sh, const uint8_t *in, size_t y,
           const uint8_t **rows)
{
  const size_t row = sh->in_w * sh->c;
  for (size_t ky = 0; ky < sh->kh; ky++) {
    size_t iy = y * sh->stride + ky; /* + pad_top, unsigned */
    rows[ky] = iy < sh->pad_top || iy - sh->pad_top >= sh->in_h
                   ? NULL
                   : in + (iy - sh->pad_top) * row;
  }
}

size_t
qk_dw_packed_size__ref(size_t c, size_t kh, size_t kw)
{
  return qk_dw_packed_size(c, kh * kw);
}

void
qk_dw_pack__ref(size_t c, size_t kh, size_t kw, const int16_t *w,
                const int32_t *bias, int32_t in_zp, void *packed)
{
  (void)in_zp; /* the row kernel subtracts it */
  qk_dw_pack(c, kh * kw, w, bias, packed);
}

size_t
qk_dw_scratch_size__ref(const struct qk_dw_shape *sh)
{
  (void)sh;
  return 0;
}

void
qk_dwconv__ref(const struct qk_dw_shape *sh, size_t y0, size_t y1,
               const uint8_t *in, int32_t in_zp, const void *packed,
               const struct qk_requant *rq, uint8_t *out, void *scratch)
{
  (void)scratch;
  const uint8_t *rows[QK_DW_KMAX];
  if (sh->kh > QK_DW_KMAX)
    return; /* the engine refuses such layers at creation */
  for (size_t y = y0; y < y1; y++) {
    qk_dw_rows(sh, in, y, rows);
    qk_dwconv_row__ref(sh->c, sh->in_w, rows, sh->kh, sh->kw, sh->stride,
                       sh->pad_left, sh->out_w, in_zp, packed, rq,
                       out + y * sh->out_w * sh->c);
  }
}

static int32_t
clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

void
qk_add__ref(size_t n, const uint8_t *a, const uint8_t *b,
            const struct qk_add_params *p, uint8_t *out)
{
  for (size_t i = 0; i < n; i++) {
    int32_t y;
    if (p->mode == QK_ADD_XNNPACK) {
      int32_t acc = p->bias + (int32_t)a[i] * p->a_mult +
                    (int32_t)b[i] * p->b_mult;
      y = (acc >> p->shift) + p->out_zp; /* arithmetic shift */
    } else {
      int32_t sa = (int32_t)((uint32_t)((int32_t)a[i] - p->a_zp)
                             << p->left_shift);
      int32_t sb = (int32_t)((uint32_t)((int32_t)b[i] - p->b_zp)
                             << p->left_shift);
      int32_t ra = qk_mul_by_quantized_multiplier(sa, p->a_qm, p->a_shift);
      int32_t rb = qk_mul_by_quantized_multiplier(sb, p->b_qm, p->b_shift);
      y = qk_mul_by_quantized_multiplier(ra + rb, p->out_qm, p->out_shift) +
          p->out_zp;
    }
    out[i] = (uint8_t)clamp_i32(y, p->lo, p->hi);
  }
}

void
qk_avgpool__ref(size_t npix, size_t c, const uint8_t *in,
                const struct qk_pool_params *p, uint8_t *out)
{
  for (size_t j = 0; j < c; j++) {
    int64_t sum = 0; /* 64 bits: a file may pool 4096 x 4096 pixels */
    for (size_t i = 0; i < npix; i++)
      sum += in[i * c + j];
    int64_t y;
    if (p->mode == QK_POOL_FP32) {
      float f = (float)(sum - (int64_t)npix * p->in_zp) * p->scale;
      const float lo = (float)(p->lo - p->out_zp);
      const float hi = (float)(p->hi - p->out_zp);
      f = f < lo ? lo : f;
      f = f > hi ? hi : f;
      y = lrintf(f) + p->out_zp;
    } else {
      y = (sum + (int64_t)npix / 2) / (int64_t)npix;
    }
    out[j] = (uint8_t)(y < p->lo ? p->lo : y > p->hi ? p->hi : y);
  }
}
