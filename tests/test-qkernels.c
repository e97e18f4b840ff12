/* streamsight — tests of the integer kernels (inference/kernels/qkernels.h):
 * every optimised table against the reference, byte for byte (integer
 * arithmetic has no tolerance), over channel tails 1..40, every padding
 * edge, input zero points 0/128/255, extreme weights and activations that
 * saturate the clamp, both requantisations; and the fixed-point helpers
 * against values worked out by hand from TFLite's definitions.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "testutil.h"

static const struct qk_ops *
best(void)
{
  return qk_ops_get(KERN_ISA_AUTO);
}

/* The optimised tables this CPU runs: AVX2 and the best (AVX-VNNI where
 * the CPU has it); the reference alone elsewhere. */
static const struct qk_ops *
table(int i)
{
  return i == 0 ? (qk_ops_get(KERN_ISA_AVX2) ? qk_ops_get(KERN_ISA_AVX2)
                                             : qk_ops_ref())
                : best();
}

/* Every table this CPU runs besides the reference: AVX2, AVX-VNNI,
 * AVX-512 VNNI (their packed layouts differ: each packs its own); the GEMM
 * and depthwise tests go through all of them. */
static const enum kern_isa gemm_isas[] = { KERN_ISA_AVX2, KERN_ISA_AVXVNNI,
                                           KERN_ISA_AVX512VNNI };
#define N_GEMM_ISAS (sizeof gemm_isas / sizeof gemm_isas[0])

static uint32_t
rnd(struct tu_rng *r, uint32_t n)
{
  return tu_rng_u32(r) % n;
}

/* Random requantisation for n channels into the caller's arrays. */
static void
random_rq(struct tu_rng *r, size_t n, enum qk_rq_mode mode, float *scale,
          int32_t *mult, int32_t *shift, struct qk_requant *rq)
{
  for (size_t j = 0; j < n; j++) {
    /* scales of real layers: 1e-5 .. 0.05 (a sum of ~1e4 maps to a step) */
    scale[j] = (float)exp(tu_rng_uniform(r, logf(1e-5f), logf(0.05f)));
    qk_quantize_multiplier(scale[j], &mult[j], &shift[j]);
  }
  rq->mode = mode;
  rq->scale = scale;
  rq->mult = mult;
  rq->shift = shift;
  rq->zp = (int32_t)rnd(r, 256);
  rq->lo = (int32_t)rnd(r, 3) == 0 ? rq->zp : 0; /* ReLU at the zero point */
  rq->hi = (int32_t)rnd(r, 3) == 0 ? 200 + (int32_t)rnd(r, 56) : 255;
  if (rq->hi < rq->lo)
    rq->hi = rq->lo;
}

static void
fill_u8(struct tu_rng *r, uint8_t *v, size_t n, int extreme)
{
  for (size_t i = 0; i < n; i++)
    v[i] = extreme ? 255 : (uint8_t)rnd(r, 256);
}

/* Weights as a file gives them: one byte minus a zero point, so that each
 * group of `per` weights (one channel) spans at most 256 values: uint8
 * with a zero point 0..255, or int8 with zero point 0. Extreme: only the
 * ends of the byte and zero points at its ends (-255 or +255 then). */
static void
fill_w(struct tu_rng *r, int16_t *w, size_t n, size_t per, int extreme)
{
  for (size_t c0 = 0; c0 < n; c0 += per) {
    int kind = (int)rnd(r, 2), zp;
    if (extreme)
      zp = rnd(r, 2) ? 255 : 0;
    else
      zp = kind ? (int)rnd(r, 256) : 0;
    for (size_t i = c0; i < c0 + per && i < n; i++) {
      int raw = extreme ? (rnd(r, 2) ? 255 : 0)
                : kind  ? (int)rnd(r, 256)
                        : (int)rnd(r, 256) - 128;
      w[i] = (int16_t)(raw - zp);
    }
  }
}

/* The weights of a whole layer as the two kinds of files give them, which
 * the AVX-512 kernel packs with one offset for the layer (or none):
 * per-tensor uint8 (one zero point: TF1) or symmetric int8 (TF2). */
enum wkind { W_CHANNELS = 0, W_TENSOR_U8, W_SYMMETRIC_I8 };

static void
fill_w_layer(struct tu_rng *r, int16_t *w, size_t n, enum wkind kind,
             int extreme)
{
  const int zp = kind == W_SYMMETRIC_I8 ? 0
                 : extreme              ? (rnd(r, 2) ? 255 : 0)
                                        : (int)rnd(r, 256);
  for (size_t i = 0; i < n; i++) {
    int raw = extreme ? (rnd(r, 2) ? 255 : 0) : (int)rnd(r, 256);
    if (kind == W_SYMMETRIC_I8)
      raw = extreme ? (rnd(r, 2) ? 127 : -127) : raw - 128;
    w[i] = (int16_t)(raw - zp);
  }
}

/* One GEMM case through the reference and every table this CPU runs;
 * extreme: 1 weights and activations at the ends of their bytes, 2 that
 * and scales up to 250. */
static void
gemm_case_w(struct tu_rng *r, size_t m, size_t n, size_t k, int32_t in_zp,
            enum qk_rq_mode mode, int extreme, enum wkind wkind)
{
  const size_t stride = k + rnd(r, 3);
  /* exactly the bytes the rows span: the last one ends at its k-th byte,
   * so that a read past it is AddressSanitizer's */
  const size_t n_in = (m - 1) * stride + k;
  uint8_t *in = malloc(n_in);
  int16_t *w = malloc(n * k * sizeof *w);
  int32_t *bias = malloc(n * sizeof *bias);
  float *scale = malloc(n * sizeof *scale);
  int32_t *mult = malloc(n * sizeof *mult), *shift = malloc(n * sizeof *shift);
  size_t psize = qk_gemm_packed_size(n, k);
  void *packed = aligned_alloc(64, (psize + 63) / 64 * 64);
  const size_t ostride = n + rnd(r, 3);
  const size_t n_out = (m - 1) * ostride + n; /* as tight as the input */
  uint8_t *o_ref = calloc(n_out, 1), *o_opt = calloc(n_out, 1);
  ck_assert(in && w && bias && scale && mult && shift && packed && o_ref &&
            o_opt);
  fill_u8(r, in, n_in, extreme);
  if (wkind == W_CHANNELS)
    fill_w(r, w, n * k, k, extreme);
  else
    fill_w_layer(r, w, n * k, wkind, extreme);
  for (size_t j = 0; j < n; j++)
    bias[j] = (int32_t)rnd(r, 1u << 21) - (1 << 20);
  struct qk_requant rq;
  random_rq(r, n, mode, scale, mult, shift, &rq);
  if (extreme == 2) /* scales up to 250 (their limit is 256): sums times
                       them overflow int32, which the clamp must catch */
    for (size_t j = 0; j < n; j++) {
      scale[j] = (float)exp(tu_rng_uniform(r, logf(1e-3f), logf(250.0f)));
      qk_quantize_multiplier(scale[j], &mult[j], &shift[j]);
    }
  qk_gemm_pack(n, k, w, bias, in_zp, packed);
  qk_ops_ref()->gemm(m, n, k, in, stride, packed, &rq, o_ref, ostride);
  /* the reference against the definition, computed here directly */
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      int64_t acc = bias[j];
      for (size_t kk = 0; kk < k; kk++)
        acc += ((int64_t)in[i * stride + kk] - in_zp) * w[j * k + kk];
      uint8_t want = qk_requant_one((int32_t)acc, &rq, j);
      ck_assert_msg(o_ref[i * ostride + j] == want,
                    "ref gemm m%zu n%zu k%zu [%zu][%zu]: %u, want %u", m, n,
                    k, i, j, o_ref[i * ostride + j], want);
    }
  for (size_t t = 0; t < N_GEMM_ISAS; t++) {
    const struct qk_ops *ops = qk_ops_get(gemm_isas[t]);
    if (!ops)
      continue;
    void *tp = aligned_alloc(64, (ops->gemm_packed_size(n, k) + 63) / 64 * 64);
    ck_assert(tp != NULL);
    ops->gemm_pack(n, k, w, bias, in_zp, tp);
    memset(o_opt, 0, n_out);
    ops->gemm(m, n, k, in, stride, tp, &rq, o_opt, ostride);
    free(tp);
    for (size_t i = 0; i < n_out; i++)
      ck_assert_msg(o_ref[i] == o_opt[i],
                    "%s gemm m%zu n%zu k%zu zp%d mode %d weights %d: byte "
                    "%zu %u vs ref %u",
                    ops->isa, m, n, k, in_zp, mode, wkind, i, o_opt[i],
                    o_ref[i]);
  }
  free(in);
  free(w);
  free(bias);
  free(scale);
  free(mult);
  free(shift);
  free(packed);
  free(o_ref);
  free(o_opt);
}

static void
gemm_case(struct tu_rng *r, size_t m, size_t n, size_t k, int32_t in_zp,
          enum qk_rq_mode mode, int extreme)
{
  gemm_case_w(r, m, n, k, in_zp, mode, extreme, W_CHANNELS);
}

static const int32_t zps[] = { 0, 128, 255 };

START_TEST(test_gemm_tails)
{
  struct tu_rng r;
  tu_rng_seed(&r, 1000 + (uint64_t)_i);
  static const size_t ks[] = { 1, 2, 3, 8, 27, 31, 64 };
  for (size_t n = 1; n <= 40; n++)
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
      gemm_case(&r, 1 + rnd(&r, 6), n, ks[ki], zps[(n + ki) % 3],
                (n + ki) % 4 == 0 ? QK_RQ_GEMMLOWP : QK_RQ_FP32, 0);
}
END_TEST

START_TEST(test_gemm_saturation)
{
  struct tu_rng r;
  tu_rng_seed(&r, 2000);
  for (int zi = 0; zi < 3; zi++)
    for (int mode = 0; mode < 2; mode++) {
      gemm_case(&r, 5, 33, 1280, zps[zi], (enum qk_rq_mode)mode, 1);
      gemm_case(&r, 9, 16, 960, zps[zi], (enum qk_rq_mode)mode, 0);
    }
}
END_TEST

/* The AVX-512 VNNI GEMM's own shapes: tiles of 24, 12, 8 and 6 pixels
 * (1-4 blocks of 16 channels) and their row tails (m 1..30, and 49 as a
 * 7x7 layer, 1 as the classifier), channel tails 1..40 and past one group
 * of 64, reduction tails 1..40, the three weight kinds (its offset per
 * layer, none, per channel), zero points 0/128/255, both
 * requantisations. */
START_TEST(test_gemm_avx512)
{
  if (!qk_ops_get(KERN_ISA_AVX512VNNI)) {
    printf("test_gemm_avx512: skipped: this CPU has no AVX-512 VNNI (or "
           "the OS does not save zmm state)\n");
    return;
  }
  struct tu_rng r;
  tu_rng_seed(&r, 5000 + (uint64_t)_i);
  for (size_t n = 1; n <= 40; n++)
    for (size_t k = 1; k <= 40; k++) {
      if ((n + k) % 4 != (size_t)_i)
        continue;
      gemm_case_w(&r, 1 + rnd(&r, 30), n, k, zps[(n + 2 * k) % 3],
                  (n * k) % 7 == 0 ? QK_RQ_GEMMLOWP : QK_RQ_FP32, 0,
                  (enum wkind)((n + k / 4) % 3));
    }
  static const size_t ns[] = { 48, 63, 64, 65, 96, 130, 144 };
  static const size_t ms[] = { 1, 6, 7, 23, 24, 25, 49 };
  for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
      gemm_case_w(&r, ms[mi], ns[ni], 16 + 8 * rnd(&r, 4) + (size_t)_i,
                  zps[(ni + mi) % 3], (ni + mi) % 5 == 0 ? QK_RQ_GEMMLOWP
                                                         : QK_RQ_FP32,
                  0, (enum wkind)((ni + mi + (size_t)_i) % 3));
}
END_TEST

/* Saturation through the AVX-512 kernel: weights and activations at the
 * ends of their bytes, long reductions (sums near the int16 and int32
 * packs' limits), scales from 1e-3 to 250 (the float clamp before the
 * conversion, needed from a scale of 1 on), each weight kind. */
START_TEST(test_gemm_avx512_saturation)
{
  if (!qk_ops_get(KERN_ISA_AVX512VNNI)) {
    printf("test_gemm_avx512_saturation: skipped: this CPU has no AVX-512 "
           "VNNI (or the OS does not save zmm state)\n");
    return;
  }
  struct tu_rng r;
  tu_rng_seed(&r, 6000);
  for (int zi = 0; zi < 3; zi++)
    for (int mode = 0; mode < 2; mode++)
      for (int wk = 0; wk < 3; wk++) {
        gemm_case_w(&r, 13, 70, 1280, zps[zi], (enum qk_rq_mode)mode, 1,
                    (enum wkind)wk);
        gemm_case_w(&r, 25, 17, 27, zps[zi], (enum qk_rq_mode)mode, 1,
                    (enum wkind)wk);
        gemm_case_w(&r, 11, 80, 400, zps[zi], (enum qk_rq_mode)mode, 2,
                    (enum wkind)wk);
        gemm_case_w(&r, 30, 30, 20, zps[zi], (enum qk_rq_mode)mode, 2,
                    (enum wkind)wk);
      }
}
END_TEST

/* How a depthwise case draws its weights: int8 (a TF2 file: symmetric,
 * -128..127, fit vpdpbusd's signed bytes), uint8 with one zero point per
 * layer (a TF1 file: -255..255 overall), or every weight with a zero point
 * of its own (fill_w: the whole range, 255 included). */
enum dw_wmode { DW_W_INT8 = 0, DW_W_UINT8, DW_W_ANY, DW_W_N };

static void
fill_dw_w(struct tu_rng *r, int16_t *w, size_t n, enum dw_wmode wm,
          int extreme)
{
  if (wm == DW_W_ANY) {
    fill_w(r, w, n, 1, extreme);
    return;
  }
  const int zp = wm == DW_W_INT8 ? 0 : extreme ? (rnd(r, 2) ? 255 : 0)
                                               : (int)rnd(r, 256);
  for (size_t i = 0; i < n; i++) {
    int raw = wm == DW_W_INT8
                  ? (extreme ? (rnd(r, 2) ? 127 : -128) : (int)rnd(r, 256) - 128)
                  : (extreme ? (rnd(r, 2) ? 255 : 0) : (int)rnd(r, 256));
    w[i] = (int16_t)(raw - zp);
  }
}

/* One depthwise layer (k x k, in_h x in_w x c) through the reference and
 * every table, whole and in two calls of rows; the reference against the
 * definition computed here. pad_bottom/right: the extra rows and columns
 * of padding past the input that out_h/out_w imply. */
static void
dw_case_hw(struct tu_rng *r, size_t c, size_t in_h, size_t in_w, size_t kh,
           size_t kw, size_t stride, size_t pad_top, size_t pad_left,
           size_t pad_bottom, size_t pad_right, int32_t in_zp,
           enum qk_rq_mode mode, enum dw_wmode wm, int extreme, int edge_w)
{
  const size_t taps = kh * kw;
  /* the output size as the loader computes it (model_conv_out_size): C's
   * division truncates towards zero, so a kernel up to stride - 1 pixels
   * taller than the padded input still gives one output row, whose taps
   * past the input count as padding */
  const long oh = ((long)(in_h + pad_top + pad_bottom) - (long)kh) /
                      (long)stride + 1;
  const long ow = ((long)(in_w + pad_left + pad_right) - (long)kw) /
                      (long)stride + 1;
  if (oh < 1 || ow < 1)
    return;
  struct qk_dw_shape sh = {
    .c = c, .in_h = in_h, .in_w = in_w, .kh = kh, .kw = kw,
    .stride = stride, .pad_top = pad_top, .pad_left = pad_left,
    .out_h = (size_t)oh, .out_w = (size_t)ow,
  };
  const size_t n_in = in_h * in_w * c, n_out = sh.out_h * sh.out_w * c;
  uint8_t *in = malloc(n_in);
  int16_t *w = malloc(taps * c * sizeof *w);
  int32_t *bias = malloc(c * sizeof *bias);
  float *scale = malloc(c * sizeof *scale);
  int32_t *mult = malloc(c * sizeof *mult), *shift = malloc(c * sizeof *shift);
  uint8_t *o_ref = malloc(n_out), *o_opt = malloc(n_out);
  ck_assert(in && w && bias && scale && mult && shift && o_ref && o_opt);
  fill_u8(r, in, n_in, extreme);
  if (extreme && rnd(r, 2))
    memset(in, 0, n_in); /* the other end of the byte */
  fill_dw_w(r, w, taps * c, wm, extreme);
  if (edge_w) /* the corner taps of the first and last channels */
    for (size_t t = 0; t < taps; t++)
      if ((t / kw == 0 || t / kw == kh - 1) &&
          (t % kw == 0 || t % kw == kw - 1)) {
        w[t * c] = (int16_t)edge_w;
        w[t * c + c - 1] = (int16_t)edge_w;
      }
  for (size_t j = 0; j < c; j++)
    bias[j] = extreme ? (int32_t)tu_rng_u32(r) /* the whole int32 range */
                      : (int32_t)rnd(r, 1u << 17) - (1 << 16);
  struct qk_requant rq;
  random_rq(r, c, mode, scale, mult, shift, &rq);
  if (extreme && mode == QK_RQ_FP32)
    for (size_t j = 0; j < c; j += 2) { /* sums far past int32 as floats */
      scale[j] = 200.0f;
      qk_quantize_multiplier(scale[j], &mult[j], &shift[j]);
    }
  const struct qk_ops *ref = qk_ops_ref();
  void *packed = malloc(ref->dw_packed_size(c, kh, kw));
  ck_assert(packed != NULL);
  ref->dw_pack(c, kh, kw, w, bias, in_zp, packed);
  ref->dwconv(&sh, 0, sh.out_h, in, in_zp, packed, &rq, o_ref, NULL);
  /* the reference against the definition */
  for (size_t y = 0; y < sh.out_h; y++)
    for (size_t x = 0; x < sh.out_w; x++)
      for (size_t j = 0; j < c; j++) {
        int64_t acc = bias[j];
        for (size_t ky = 0; ky < kh; ky++)
          for (size_t kx = 0; kx < kw; kx++) {
            long iy = (long)(y * stride + ky) - (long)pad_top;
            long ix = (long)(x * stride + kx) - (long)pad_left;
            if (iy < 0 || iy >= (long)in_h || ix < 0 || ix >= (long)in_w)
              continue;
            acc += ((int64_t)in[((size_t)iy * in_w + (size_t)ix) * c + j] -
                    in_zp) *
                   w[(ky * kw + kx) * c + j];
          }
        const size_t i = (y * sh.out_w + x) * c + j;
        ck_assert_msg(o_ref[i] == qk_requant_one((int32_t)acc, &rq, j),
                      "ref dwconv [%zu][%zu][%zu]", y, x, j);
      }
  for (size_t t = 0; t < N_GEMM_ISAS; t++) {
    const struct qk_ops *opt = qk_ops_get(gemm_isas[t]);
    if (!opt)
      continue;
    void *op = malloc(opt->dw_packed_size(c, kh, kw));
    void *scratch = malloc(opt->dw_scratch_size(&sh) + 1);
    ck_assert(op && scratch);
    opt->dw_pack(c, kh, kw, w, bias, in_zp, op);
    memset(o_opt, 0xa5, n_out);
    opt->dwconv(&sh, 0, sh.out_h, in, in_zp, op, &rq, o_opt, scratch);
    for (size_t i = 0; i < n_out; i++)
      ck_assert_msg(o_ref[i] == o_opt[i],
                    "%s dwconv c%zu %zux%zu k%zux%zu s%zu pad "
                    "%zu/%zu/%zu/%zu zp%d w%d x%d mode %d: byte %zu (y%zu "
                    "x%zu c%zu) %u vs ref %u",
                    opt->isa, c, in_h, in_w, kh, kw, stride, pad_top, pad_left,
                    pad_bottom, pad_right, in_zp, wm, extreme, mode, i,
                    i / c / sh.out_w, i / c % sh.out_w, i % c, o_opt[i],
                    o_ref[i]);
    /* rows in two calls, the second alone writing its rows */
    const size_t split = rnd(r, (uint32_t)sh.out_h + 1);
    memset(o_opt, 0xa5, n_out);
    opt->dwconv(&sh, split, sh.out_h, in, in_zp, op, &rq, o_opt, scratch);
    for (size_t i = 0; i < split * sh.out_w * c; i++)
      ck_assert_msg(o_opt[i] == 0xa5, "%s dwconv wrote row %zu before y0",
                    opt->isa, i / c / sh.out_w);
    opt->dwconv(&sh, 0, split, in, in_zp, op, &rq, o_opt, scratch);
    ck_assert_msg(memcmp(o_ref, o_opt, n_out) == 0,
                  "%s dwconv in rows [0,%zu) and [%zu,%zu)", opt->isa, split,
                  split, sh.out_h);
    free(op);
    free(scratch);
  }
  free(in);
  free(w);
  free(bias);
  free(scale);
  free(mult);
  free(shift);
  free(packed);
  free(o_ref);
  free(o_opt);
}

/* A square k x k depthwise case (dw_case_hw). */
static void
dw_case(struct tu_rng *r, size_t c, size_t in_h, size_t in_w, size_t k,
        size_t stride, size_t pad_top, size_t pad_left, size_t pad_bottom,
        size_t pad_right, int32_t in_zp, enum qk_rq_mode mode,
        enum dw_wmode wm, int extreme)
{
  dw_case_hw(r, c, in_h, in_w, k, k, stride, pad_top, pad_left, pad_bottom,
             pad_right, in_zp, mode, wm, extreme, 0);
}

/* Channel tails 1..40 and every padding edge (top, left, bottom, right: 0
 * or 1, and 2 past the input with stride 2), both strides, zero points
 * 0/128/255, the three kinds of weights, both requantisations. */
START_TEST(test_dwconv_edges)
{
  struct tu_rng r;
  tu_rng_seed(&r, 3000 + (uint64_t)_i);
  for (size_t c = 1; c <= 40; c++)
    for (size_t stride = 1; stride <= 2; stride++)
      for (size_t pads = 0; pads < 16; pads++) {
        const size_t in_h = 1 + rnd(&r, 6), in_w = 1 + rnd(&r, 12);
        const enum dw_wmode wm = (enum dw_wmode)((c + pads) % DW_W_N);
        dw_case(&r, c, in_h, in_w, 3, stride, pads & 1, (pads >> 1) & 1,
                (pads >> 2) & 1, ((pads >> 3) & 1) + (stride == 2 && c % 2),
                zps[(c + pads) % 3],
                (c + pads) % 5 == 0 ? QK_RQ_GEMMLOWP : QK_RQ_FP32, wm, 0);
      }
}
END_TEST

/* Saturation: inputs all 255 or all 0, weights at the ends of their range,
 * biases over the whole int32 range, scales that take sums past int32 as
 * floats; and kernels other than 3x3. */
START_TEST(test_dwconv_saturation)
{
  struct tu_rng r;
  tu_rng_seed(&r, 3500);
  for (int rep = 0; rep < 8; rep++)
    for (int wm = 0; wm < DW_W_N; wm++)
      for (int mode = 0; mode < 2; mode++)
        dw_case(&r, 1 + rnd(&r, 40), 1 + rnd(&r, 5), 1 + rnd(&r, 20), 3,
                1 + (size_t)(rep % 2), 1, 1, 1, 1, zps[rep % 3],
                (enum qk_rq_mode)mode, (enum dw_wmode)wm, 1);
  dw_case(&r, 24, 6, 7, 5, 1, 2, 2, 2, 2, 128, QK_RQ_FP32, DW_W_INT8, 0);
  dw_case(&r, 9, 5, 6, 1, 2, 0, 0, 0, 0, 7, QK_RQ_FP32, DW_W_UINT8, 0);
}
END_TEST

/* Shapes of real layers (MobileNet V1/V2), and rows too long for the
 * AVX2 kernel's widened path. */
START_TEST(test_dwconv_layers)
{
  struct tu_rng r;
  tu_rng_seed(&r, 3700);
  dw_case(&r, 32, 12, 112, 3, 1, 1, 1, 1, 1, 128, QK_RQ_FP32, DW_W_UINT8, 0);
  dw_case(&r, 96, 9, 112, 3, 2, 0, 0, 1, 1, 3, QK_RQ_FP32, DW_W_UINT8, 0);
  dw_case(&r, 24, 8, 96, 3, 1, 1, 1, 1, 1, 255, QK_RQ_FP32, DW_W_UINT8, 0);
  dw_case(&r, 144, 6, 56, 3, 1, 1, 1, 1, 1, 0, QK_RQ_FP32, DW_W_INT8, 0);
  dw_case(&r, 960, 7, 7, 3, 1, 1, 1, 1, 1, 128, QK_RQ_GEMMLOWP, DW_W_INT8,
          0);
  dw_case(&r, 576, 14, 14, 3, 2, 0, 0, 1, 1, 9, QK_RQ_FP32, DW_W_ANY, 0);
  dw_case(&r, 40, 3, 400, 3, 1, 1, 1, 1, 1, 255, QK_RQ_FP32, DW_W_UINT8, 0);
}
END_TEST

/* Tiny layers, where the kernels' vector ranges are empty or one column
 * wide: inputs of 1..4 x 1..5 pixels, kernels 1..5 (square or not), strides
 * 1..4 (odd inputs with stride 2 included), any padding smaller than the
 * kernel on each side (a PAD folded in gives 2 on the left or top of a 3x3),
 * kernels taller than the padded input by less than the stride (the
 * loader's output size then rounds up to 1), channel counts around the
 * blocks of 16, and weights of 255, -255, -128 or 127 at the corner taps
 * of the first and last channel (255: no int8 split on vpdpbusd, the AVX2
 * path; -255: the split). */
START_TEST(test_dwconv_tiny)
{
  struct tu_rng r;
  tu_rng_seed(&r, 3900 + (uint64_t)_i);
  /* A PAD of 2 columns folded into a 3x3 on an input 1 or 2 wide: the
   * first column with its taps inside the input is past the output's last
   * (the AVX2 pairs read the pixel before the row and wrote a column past
   * the scratch row there); 255 sends the VNNI tables the AVX2 way too. */
  for (size_t in_w = 1; in_w <= 2; in_w++)
    for (size_t pr = 0; pr <= 2; pr++)
      for (size_t stride = 1; stride <= 2; stride++)
        for (int e = 0; e < 2; e++)
          dw_case_hw(&r, e ? 17 : 16, 5, in_w, 3, 3, stride, 2 - (size_t)e,
                     2, e, pr, zps[(in_w + pr) % 3], QK_RQ_FP32,
                     e ? DW_W_UINT8 : DW_W_INT8, 0, e ? 255 : 0);
  /* Kernels of more than 64 taps (the loader takes up to 15x15): the AVX2
   * row kernel handed them to the reference's row kernel with its own
   * packed layout, which is not the reference's (wrong bytes). */
  static const size_t big[][2] = { { 8, 8 }, { 5, 13 }, { 9, 9 }, { 7, 10 },
                                   { 15, 15 }, { 1, 15 }, { 15, 1 } };
  for (size_t b = 0; b < sizeof big / sizeof big[0]; b++)
    for (size_t stride = 1; stride <= 8; stride *= 2)
      dw_case_hw(&r, 1 + rnd(&r, 40), big[b][0] + rnd(&r, 4),
                 big[b][1] + rnd(&r, 4), big[b][0], big[b][1], stride,
                 rnd(&r, (uint32_t)big[b][0]), rnd(&r, (uint32_t)big[b][1]),
                 rnd(&r, (uint32_t)big[b][0]), rnd(&r, (uint32_t)big[b][1]),
                 zps[b % 3], stride == 4 ? QK_RQ_GEMMLOWP : QK_RQ_FP32,
                 (enum dw_wmode)(b % DW_W_N), 0, 0);
  static const size_t cs[] = { 1, 2, 3, 7, 15, 16, 17, 31, 33, 48 };
  static const int edges[] = { 0, 255, -255, -128, 127 };
  const char *iters_env = getenv("QK_TINY_ITERS");
  const int iters = iters_env ? atoi(iters_env) : 300; /* QK_TINY_ITERS: more */
  for (int it = 0; it < iters; it++) {
    const size_t kh = rnd(&r, 2) ? 3 : 1 + rnd(&r, 5);
    const size_t kw = rnd(&r, 2) ? kh : 1 + rnd(&r, 5);
    const size_t stride = 1 + rnd(&r, 4);
    const size_t in_h = 1 + rnd(&r, 4), in_w = 1 + rnd(&r, 5);
    const size_t pmh = kh < 3 ? kh : 3, pmw = kw < 3 ? kw : 3;
    const size_t pt = rnd(&r, (uint32_t)pmh), pb = rnd(&r, (uint32_t)pmh);
    const size_t pl = rnd(&r, (uint32_t)pmw), pr = rnd(&r, (uint32_t)pmw);
    const size_t c = cs[rnd(&r, sizeof cs / sizeof cs[0])];
    const int32_t zp = rnd(&r, 2) ? zps[rnd(&r, 3)] : (int32_t)rnd(&r, 256);
    dw_case_hw(&r, c, in_h, in_w, kh, kw, stride, pt, pl, pb, pr, zp,
               rnd(&r, 4) == 0 ? QK_RQ_GEMMLOWP : QK_RQ_FP32,
               (enum dw_wmode)rnd(&r, DW_W_N), rnd(&r, 4) == 0,
               edges[rnd(&r, sizeof edges / sizeof edges[0])]);
  }
}
END_TEST

/* Tiny GEMMs: 1..3 rows, channel counts around the blocks of 16 and the
 * groups of 64, reductions 1..9 (each tail of the groups of 4 bytes), the
 * three kinds of weights and the ends of the byte, both zero point ends. */
START_TEST(test_gemm_tiny)
{
  struct tu_rng r;
  tu_rng_seed(&r, 5900 + (uint64_t)_i);
  static const size_t ns[] = { 1, 2, 3, 15, 16, 17, 63, 64, 65 };
  for (size_t m = 1; m <= 3; m++)
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
      for (size_t k = 1; k <= 9; k++)
        gemm_case_w(&r, m, ns[ni], k, zps[(m + ni + k + (size_t)_i) % 3],
                    (m + k) % 3 == 0 ? QK_RQ_GEMMLOWP : QK_RQ_FP32,
                    (int)((ni + k + (size_t)_i) % 3),
                    (enum wkind)((m + ni + k) % 3));
}
END_TEST

START_TEST(test_add)
{
  struct tu_rng r;
  tu_rng_seed(&r, 4000);
  for (size_t n = 1; n <= 40; n++) {
    for (int mode = 0; mode < 2; mode++) {
      struct qk_add_params p = { .mode = (enum qk_add_mode)mode };
      p.a_zp = zps[n % 3];
      p.b_zp = (int32_t)rnd(&r, 256);
      p.out_zp = (int32_t)rnd(&r, 256);
      p.lo = n % 4 == 0 ? p.out_zp : 0;
      p.hi = 255;
      p.shift = 12 + (int32_t)rnd(&r, 19);
      p.a_mult = (int32_t)rnd(&r, 1u << 21);
      p.b_mult = (int32_t)rnd(&r, 1u << 21);
      p.bias = (int32_t)((1u << (p.shift - 1)) - (uint32_t)(p.a_mult * p.a_zp) -
                         (uint32_t)(p.b_mult * p.b_zp));
      p.left_shift = 20;
      qk_quantize_multiplier(tu_rng_uniform(&r, 0.25f, 0.5f), &p.a_qm,
                             &p.a_shift);
      qk_quantize_multiplier(tu_rng_uniform(&r, 0.25f, 0.5f), &p.b_qm,
                             &p.b_shift);
      qk_quantize_multiplier(tu_rng_uniform(&r, 1e-6f, 1e-5f), &p.out_qm,
                             &p.out_shift);
      size_t len = n + (n % 2 ? 100 : 0);
      uint8_t a[160], b[160], o_ref[160], o_opt[160];
      fill_u8(&r, a, len, 0);
      fill_u8(&r, b, len, 0);
      qk_ops_ref()->add(len, a, b, &p, o_ref);
      best()->add(len, a, b, &p, o_opt);
      ck_assert_msg(memcmp(o_ref, o_opt, len) == 0, "%s add n%zu mode %d",
                    best()->isa, len, mode);
    }
  }
}
END_TEST

/* TFLite's definitions worked by hand: QuantizeMultiplier(0.5) is 2^30
 * with shift 0; the doubling high multiply rounds a half up (3 * 0.5 = 1.5
 * -> 2, -1.5 -> -1: its nudge is 1 - 2^30 for negatives and the division
 * truncates); 0.25 = 2^30 with shift -1, whose final shift rounds a half
 * away from zero (6 * 0.25 = 1.5 -> 2, -6 * 0.25 = -1.5 -> -2), and the two
 * roundings together take 5 * 0.25 = 1.25 to 2 (2.5 -> 3, then 1.5 -> 2:
 * the double rounding XNNPACK's fp32 path avoids); 3.0 has shift 2. XNNPACK's fp32
 * requantisation rounds ties to even instead (2.5 -> 2, 3.5 -> 4). */
START_TEST(test_fixed_point)
{
  int32_t m, s;
  qk_quantize_multiplier(0.5, &m, &s);
  ck_assert_int_eq(m, 1 << 30);
  ck_assert_int_eq(s, 0);
  ck_assert_int_eq(qk_mul_by_quantized_multiplier(3, m, s), 2);
  ck_assert_int_eq(qk_mul_by_quantized_multiplier(-3, m, s), -1);
  qk_quantize_multiplier(0.25, &m, &s);
  ck_assert_int_eq(m, 1 << 30);
  ck_assert_int_eq(s, -1);
  ck_assert_int_eq(qk_mul_by_quantized_multiplier(5, m, s), 2);
  ck_assert_int_eq(qk_mul_by_quantized_multiplier(6, m, s), 2);
  ck_assert_int_eq(qk_mul_by_quantized_multiplier(-6, m, s), -2);
  qk_quantize_multiplier(3.0, &m, &s);
  ck_assert_int_eq(s, 2);
  ck_assert_int_eq(qk_mul_by_quantized_multiplier(7, m, s), 21);

  float scale[1] = { 0.5f };
  struct qk_requant rq = { .mode = QK_RQ_FP32, .scale = scale, .zp = 10,
                           .lo = 0, .hi = 255 };
  ck_assert_int_eq(qk_requant_one(5, &rq, 0), 12);  /* 2.5 -> 2 */
  ck_assert_int_eq(qk_requant_one(7, &rq, 0), 14);  /* 3.5 -> 4 */
  ck_assert_int_eq(qk_requant_one(-7, &rq, 0), 6);  /* -3.5 -> -4 */
  ck_assert_int_eq(qk_requant_one(-100, &rq, 0), 0); /* clamped */
  ck_assert_int_eq(qk_requant_one(1000, &rq, 0), 255);
  ck_assert_int_eq(qk_requant_one(INT32_MAX, &rq, 0), 255);
}
END_TEST

int
main(void)
{
  kern_init();
  printf("integer kernels: %s and %s against ref\n", table(0)->isa,
         table(1)->isa);
  Suite *s = suite_create("qkernels");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_gemm_tails, 0, 2);
  tcase_add_test(tc, test_gemm_saturation);
  tcase_add_loop_test(tc, test_gemm_avx512, 0, 4);
  tcase_add_test(tc, test_gemm_avx512_saturation);
  tcase_add_loop_test(tc, test_dwconv_edges, 0, 2);
  tcase_add_test(tc, test_dwconv_saturation);
  tcase_add_test(tc, test_dwconv_layers);
  tcase_add_loop_test(tc, test_dwconv_tiny, 0, 2);
  tcase_add_loop_test(tc, test_gemm_tiny, 0, 2);
  tcase_add_test(tc, test_add);
  tcase_add_test(tc, test_fixed_point);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
