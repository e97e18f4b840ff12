/* Kernels: every variant of kernels-list.h against the reference kernels on
 * random shapes (row and channel tails, odd sizes, strides 1/2, padding on
 * every edge, clamps that bite) for the GEMM and the convolution row
 * kernels, with guard floats around every output to catch writes outside
 * it; and the dispatch table. The reference against a double-precision
 * loop, packing and half-precision weights: test-kernels-pack.c; avgpool,
 * add, softmax: test-kernels-elementwise.c.
 *
 * Inputs come from a fixed seed (printed at start); each case derives its
 * own seed from it and its loop index, printed on failure
 * (kernels-fixture.c).
 */
#include <check.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "kernels-fixture.h"
#include "kernels/kernels.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* GEMM                                                                */

struct gemm_shape {
  size_t m, n, k;
  size_t in_gap, out_gap, res_gap; /* extra floats per row */
  bool residual;
  float min, max;
};

/* Runs every variant on one shape and compares with the reference. */
static void
check_gemm(const struct gemm_shape *s, uint64_t seed, struct clamp_hits *hits)
{
  struct tu_rng r;
  tu_rng_seed(&r, seed);
  const size_t in_stride = s->k + s->in_gap, out_stride = s->n + s->out_gap;
  const size_t res_stride = s->n + s->res_gap;
  const size_t in_len = (s->m - 1) * in_stride + s->k;
  const size_t out_len = (s->m - 1) * out_stride + s->n;
  const size_t res_len = (s->m - 1) * res_stride + s->n;
  const float ws = 1.0f / sqrtf((float)(s->k ? s->k : 1));
  float *in = random_floats(&r, in_len, -1.0f, 1.0f);
  float *w = random_floats(&r, s->n * s->k, -ws, ws);
  /* Bias and residual reach beyond [0, 6] so that ReLU6 bites both ways. */
  float *bias = random_floats(&r, s->n, -4.0f, 10.0f);
  float *res = s->residual ? random_floats(&r, res_len, -4.0f, 4.0f) : NULL;

  const struct kern_ops *ref = kern_ops_ref();
  float *want = guarded_new(out_len);
  float *pref = gemm_packed(ref, s->n, s->k, w, bias);
  ref->gemm(s->m, s->n, s->k, in, in_stride, pref, want, out_stride, res,
            res_stride, s->min, s->max);

  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    float *got = guarded_new(out_len);
    float *packed = gemm_packed(ops, s->n, s->k, w, bias);
    ops->gemm(s->m, s->n, s->k, in, in_stride, packed, got, out_stride, res,
              res_stride, s->min, s->max);
    long g = guard_clobbered(got, out_len);
    expect_msg(g < 0, "%s gemm m=%zu n=%zu k=%zu seed=%#llx: wrote guard "
                  "float %ld", ops->isa, s->m, s->n, s->k,
                  (unsigned long long)seed, g);
    for (size_t i = 0; i < s->m; i++) {
      for (size_t j = 0; j < out_stride && i * out_stride + j < out_len; j++) {
        float gv = got[i * out_stride + j], wv = want[i * out_stride + j];
        if (j >= s->n) {
          expect_msg(gv == CANARY, "%s gemm m=%zu n=%zu k=%zu seed=%#llx: "
                        "wrote the stride gap at row %zu col %zu", ops->isa,
                        s->m, s->n, s->k, (unsigned long long)seed, i, j);
          continue;
        }
        expect_msg(close_enough(gv, wv),
                      "%s gemm m=%zu n=%zu k=%zu res=%d clamp=[%g,%g] "
                      "seed=%#llx: out[%zu][%zu] = %.7g, reference %.7g",
                      ops->isa, s->m, s->n, s->k, s->residual,
                      (double)s->min, (double)s->max,
                      (unsigned long long)seed, i, j, (double)gv, (double)wv);
      }
    }
    /* One row: the one-row GEMM against the reference's. */
    if (s->m == 1) {
      float *want1 = guarded_new(s->n), *got1 = guarded_new(s->n);
      ref->gemv(s->n, s->k, in, pref, want1, res, s->min, s->max);
      ops->gemv(s->n, s->k, in, packed, got1, res, s->min, s->max);
      long g1 = guard_clobbered(got1, s->n);
      expect_msg(g1 < 0, "%s gemv n=%zu k=%zu seed=%#llx: wrote guard "
                 "float %ld", ops->isa, s->n, s->k, (unsigned long long)seed,
                 g1);
      for (size_t j = 0; j < s->n; j++)
        expect_msg(close_enough(got1[j], want1[j]),
                   "%s gemv n=%zu k=%zu res=%d clamp=[%g,%g] seed=%#llx: "
                   "out[%zu] = %.7g, reference %.7g", ops->isa, s->n, s->k,
                   s->residual, (double)s->min, (double)s->max,
                   (unsigned long long)seed, j, (double)got1[j],
                   (double)want1[j]);
      guarded_free(want1);
      guarded_free(got1);
    }
    free(packed);
    guarded_free(got);
  }
  if (hits)
    for (size_t i = 0; i < s->m; i++)
      for (size_t j = 0; j < s->n; j++)
        count_clamp(hits, want[i * out_stride + j], s->min, s->max);
  free(pref);
  guarded_free(want);
  free(in);
  free(w);
  free(bias);
  free(res);
}

static const size_t gemm_ms[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                  49, 196, 200 };
static const size_t gemm_ks[] = { 1, 3, 8, 17, 27, 32, 144, 960 };
static const size_t gemm_real_ns[] = { 8, 16, 24, 96, 144, 1001 };

/* N tails: every N in 1 .. 2*NR+1 for NR up to 16, against all small M
 * and a cycle of K, residual and clamp. */
START_TEST(test_gemm_n_tails)
{
  const size_t n = (size_t)_i + 1;
  struct clamp_hits hits = { 0 };
  for (size_t mi = 0; mi < 14; mi++) {
    struct gemm_shape s = { .m = gemm_ms[mi], .n = n,
                            .k = gemm_ks[(mi + n) % 8],
                            .residual = (mi + n) % 2 == 0 };
    pick_clamp((int)mi, &s.min, &s.max);
    check_gemm(&s, case_seed(1, _i * 100 + (int)mi), &hits);
  }
  expect_msg(hits.at_min > 0 && hits.at_max > 0,
                "n=%zu: the clamps never bit (%zu at min, %zu at max)", n,
                hits.at_min, hits.at_max);
}
END_TEST

/* Row tails and blocking: each M against real channel counts and every K. */
START_TEST(test_gemm_m_sweep)
{
  const size_t m = gemm_ms[_i];
  struct clamp_hits hits = { 0 };
  int j = 0;
  for (size_t ni = 0; ni < 6; ni++) {
    for (size_t ki = 0; ki < 8; ki++, j++) {
      const size_t n = gemm_real_ns[ni], k = gemm_ks[ki];
      /* keep the reference's share of the run time modest */
      if (m * n * k > 30u * 1000 * 1000)
        continue;
      struct gemm_shape s = { .m = m, .n = n, .k = k, .residual = j % 2 };
      pick_clamp(j, &s.min, &s.max);
      check_gemm(&s, case_seed(2, _i * 100 + j), &hits);
    }
  }
  expect_msg(hits.at_min > 0 && hits.at_max > 0,
                "m=%zu: the clamps never bit", m);
}
END_TEST

/* Strided input, output and residual rows; the gaps must stay untouched. */
START_TEST(test_gemm_strides)
{
  static const struct gemm_shape shapes[] = {
    { 7, 17, 9, 3, 5, 2, true, 0.0f, 6.0f },
    { 13, 40, 32, 1, 8, 16, true, -INFINITY, INFINITY },
    { 1, 33, 64, 0, 3, 1, true, 0.0f, 6.0f },
    { 49, 24, 144, 16, 16, 8, false, 0.0f, 6.0f },
    { 6, 5, 1, 2, 1, 7, true, -1.0f, 1.0f },
  };
  check_gemm(&shapes[_i], case_seed(3, _i), NULL);
}
END_TEST

/* M = 0 and N = 0 write nothing; K = 0 gives the clamped bias. */
START_TEST(test_gemm_degenerate)
{
  const float w[4] = { 0 }, bias[4] = { -3.0f, 2.0f, 9.0f, 0.5f };
  const float in[4] = { 1, 2, 3, 4 };
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    float *packed = gemm_packed(ops, 4, 1, w, bias);
    float *out = guarded_new(8);
    ops->gemm(0, 4, 1, in, 1, packed, out, 4, NULL, 0, 0.0f, 6.0f);
    ops->gemm(2, 0, 1, in, 1, packed, out, 4, NULL, 0, 0.0f, 6.0f);
    ops->gemv(0, 1, in, packed, out, NULL, 0.0f, 6.0f);
    for (int i = -GUARD; i < 8 + GUARD; i++)
      expect_msg(out[i] == CANARY, "%s: empty gemm wrote out[%d]",
                    ops->isa, i);
    free(packed);
    packed = gemm_packed(ops, 4, 0, NULL, bias);
    ops->gemm(2, 4, 0, in, 1, packed, out, 4, NULL, 0, 0.0f, 6.0f);
    static const float expect[4] = { 0.0f, 2.0f, 6.0f, 0.5f };
    for (int i = 0; i < 8; i++)
      expect_msg(out[i] == expect[i % 4], "%s: k=0 out[%d] = %g",
                    ops->isa, i, (double)out[i]);
    expect_msg(guard_clobbered(out, 8) < 0, "wrote a guard float");
    float *out1 = guarded_new(4);
    ops->gemv(4, 0, in, packed, out1, NULL, 0.0f, 6.0f);
    for (int i = 0; i < 4; i++)
      expect_msg(out1[i] == expect[i], "%s: gemv k=0 out[%d] = %g",
                 ops->isa, i, (double)out1[i]);
    expect_msg(guard_clobbered(out1, 4) < 0, "gemv wrote a guard float");
    guarded_free(out1);
    free(packed);
    guarded_free(out);
  }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Row convolutions                                                    */

struct conv_shape {
  size_t in_h, in_w, cin, cout; /* cout = cin for depthwise */
  size_t kh, kw, stride;
  size_t pad_top, pad_left, pad_bottom, pad_right;
  float min, max;
};

static size_t
out_size(size_t in, size_t k, size_t stride, size_t before, size_t after)
{
  if (in + before + after < k)
    return 0;
  return (in + before + after - k) / stride + 1;
}

/* Points rows[ky] at the input rows output row oy reads, NULL for padding,
 * as the engine does. */
static void
tap_rows(const struct conv_shape *s, const float *in, size_t oy,
         const float **rows)
{
  for (size_t ky = 0; ky < s->kh; ky++) {
    size_t iy = oy * s->stride + ky;
    rows[ky] = iy >= s->pad_top && iy - s->pad_top < s->in_h
                   ? in + (iy - s->pad_top) * s->in_w * s->cin
                   : NULL;
  }
}

/* The row kernels of a table: the dense one, the general depthwise one and
 * the depthwise ones specialised for 3x3 stride 1 and 2. */
enum conv_op { OP_CONV, OP_DWCONV, OP_DWCONV3X3_S1, OP_DWCONV3X3_S2 };
static const char *const conv_op_names[] = { "conv", "dwconv", "dwconv3x3_s1",
                                             "dwconv3x3_s2" };

static kern_dwconv_row_fn
dw_kernel(const struct kern_ops *ops, enum conv_op op)
{
  return op == OP_DWCONV3X3_S1   ? ops->dwconv3x3_s1
         : op == OP_DWCONV3X3_S2 ? ops->dwconv3x3_s2
                                 : ops->dwconv;
}

/* The depthwise kernel specialised for the shape, or OP_DWCONV. */
static enum conv_op
dw_special(const struct conv_shape *s)
{
  if (s->kh == 3 && s->kw == 3 && s->stride <= 2)
    return s->stride == 1 ? OP_DWCONV3X3_S1 : OP_DWCONV3X3_S2;
  return OP_DWCONV;
}

/* Every variant's kernel op, every output row, against its reference twin;
 * each row call writes into its own guarded buffer. */
static void
check_conv(const struct conv_shape *s, enum conv_op op, uint64_t seed,
           struct clamp_hits *hits)
{
  const bool dense = op == OP_CONV;
  const char *name = conv_op_names[op];
  const size_t out_h = out_size(s->in_h, s->kh, s->stride, s->pad_top,
                                s->pad_bottom);
  const size_t out_w = out_size(s->in_w, s->kw, s->stride, s->pad_left,
                                s->pad_right);
  if (!out_h || !out_w)
    return;
  struct tu_rng r;
  tu_rng_seed(&r, seed);
  const size_t taps = s->kh * s->kw;
  const size_t k = dense ? taps * s->cin : taps;
  const float ws = 1.0f / sqrtf((float)k);
  float *in = random_floats(&r, s->in_h * s->in_w * s->cin, -1.0f, 1.0f);
  /* dense: [cout][kh][kw][cin]; depthwise: [kh][kw][c] */
  float *w = random_floats(&r, dense ? s->cout * k : taps * s->cin, -ws, ws);
  float *bias = random_floats(&r, s->cout, -4.0f, 10.0f);
  const struct kern_ops *ref = kern_ops_ref();
  float *pref;
  if (dense) {
    pref = gemm_packed(ref, s->cout, k, w, bias);
  } else {
    pref = xmalloc_floats(kern_dw_packed_size(s->cin, taps));
    kern_dw_pack(s->cin, taps, w, bias, pref);
  }
  const size_t row_len = out_w * s->cout;
  float *want = guarded_new(row_len);
  const float *rows[32]; /* kh <= 32 */

  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    float *packed = dense ? gemm_packed(ops, s->cout, k, w, bias) : pref;
    float *got = guarded_new(row_len);
    for (size_t oy = 0; oy < out_h; oy++) {
      tap_rows(s, in, oy, rows);
      if (dense) {
        ref->conv(s->cin, s->in_w, rows, s->kh, s->kw, s->stride,
                  s->pad_left, out_w, s->cout, pref, want, s->min, s->max);
        ops->conv(s->cin, s->in_w, rows, s->kh, s->kw, s->stride,
                  s->pad_left, out_w, s->cout, packed, got, s->min, s->max);
      } else {
        dw_kernel(ref, op)(s->cin, s->in_w, rows, s->kh, s->kw, s->stride,
                           s->pad_left, out_w, pref, want, s->min, s->max);
        dw_kernel(ops, op)(s->cin, s->in_w, rows, s->kh, s->kw, s->stride,
                           s->pad_left, out_w, packed, got, s->min, s->max);
      }
      long g = guard_clobbered(got, row_len);
      expect_msg(g < 0, "%s %s c=%zu->%zu %zux%zu k%zux%zu s%zu "
                    "pad %zu,%zu,%zu,%zu seed=%#llx: row %zu wrote guard "
                    "float %ld", ops->isa, name, s->cin,
                    s->cout, s->in_h, s->in_w, s->kh, s->kw, s->stride,
                    s->pad_top, s->pad_left, s->pad_bottom, s->pad_right,
                    (unsigned long long)seed, oy, g);
      for (size_t i = 0; i < row_len; i++) {
        expect_msg(close_enough(got[i], want[i]),
                      "%s %s c=%zu->%zu %zux%zu k%zux%zu s%zu "
                      "pad %zu,%zu,%zu,%zu clamp=[%g,%g] seed=%#llx: "
                      "out[%zu][%zu][%zu] = %.7g, reference %.7g", ops->isa,
                      name, s->cin, s->cout, s->in_h,
                      s->in_w, s->kh, s->kw, s->stride, s->pad_top,
                      s->pad_left, s->pad_bottom, s->pad_right,
                      (double)s->min, (double)s->max,
                      (unsigned long long)seed, oy, i / s->cout, i % s->cout,
                      (double)got[i], (double)want[i]);
        if (hits && v == 0)
          count_clamp(hits, want[i], s->min, s->max);
      }
    }
    guarded_free(got);
    if (dense)
      free(packed);
  }
  guarded_free(want);
  free(pref);
  free(in);
  free(w);
  free(bias);
}

/* Input sizes for the row sweeps: odd and even, down to 1x1. */
static const size_t conv_sizes[][2] = {
  { 5, 7 }, { 6, 9 }, { 1, 1 }, { 2, 3 }, { 7, 4 }, { 3, 12 },
};

/* Depthwise 3x3: channel tails 1..17 and 24, 144; strides 1 and 2; every
 * padding from 0 to 2 on each edge (NULL rows at top and bottom, padding
 * columns left and right); all sizes above. */
static const size_t dw_channels[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                      11, 12, 13, 14, 15, 16, 17, 24, 144 };

START_TEST(test_dwconv_3x3)
{
  const size_t c = dw_channels[_i];
  struct clamp_hits hits = { 0 };
  int j = 0;
  for (size_t stride = 1; stride <= 2; stride++)
    for (size_t sz = 0; sz < 6; sz++)
      for (size_t pads = 0; pads < 81; pads++, j++) {
        struct conv_shape s = {
          .in_h = conv_sizes[sz][0], .in_w = conv_sizes[sz][1],
          .cin = c, .cout = c, .kh = 3, .kw = 3, .stride = stride,
          .pad_top = pads % 3, .pad_left = pads / 3 % 3,
          .pad_bottom = pads / 9 % 3, .pad_right = pads / 27 % 3,
        };
        pick_clamp(j, &s.min, &s.max);
        check_conv(&s, OP_DWCONV, case_seed(4, _i * 1000 + j), &hits);
        check_conv(&s, dw_special(&s), case_seed(4, _i * 1000 + j), NULL);
      }
  expect_msg(hits.at_min > 0 && hits.at_max > 0,
                "c=%zu: the clamps never bit", c);
}
END_TEST

/* MobileNet-sized rows (wide enough for the interior loop to matter) and
 * kernel sizes the optimised variants hand to their generic path. */
START_TEST(test_dwconv_shapes)
{
  static const struct conv_shape shapes[] = {
    /* h, w, c, c, kh, kw, s, pads t l b r */
    { 4, 112, 32, 32, 3, 3, 1, 1, 1, 1, 1, 0.0f, 6.0f },
    { 5, 56, 144, 144, 3, 3, 2, 1, 1, 1, 1, 0.0f, 6.0f },
    { 4, 28, 192, 192, 3, 3, 2, 0, 0, 1, 1, 0.0f, 6.0f }, /* TF SAME s2 */
    { 7, 7, 960, 960, 3, 3, 1, 1, 1, 1, 1, 0.0f, 6.0f },
    { 3, 15, 37, 37, 3, 3, 2, 1, 1, 1, 1, -INFINITY, INFINITY },
    { 6, 9, 20, 20, 5, 5, 1, 2, 2, 2, 2, 0.0f, 6.0f },    /* generic */
    { 6, 9, 11, 11, 3, 3, 3, 1, 1, 1, 1, 0.0f, 6.0f },    /* stride 3 */
    { 5, 8, 9, 9, 1, 1, 1, 0, 0, 0, 0, 0.0f, 6.0f },      /* 1x1 */
    { 4, 6, 13, 13, 3, 5, 2, 1, 2, 1, 2, 0.0f, 6.0f },    /* 3x5 */
  };
  check_conv(&shapes[_i], OP_DWCONV, case_seed(5, _i), NULL);
  if (dw_special(&shapes[_i]) != OP_DWCONV)
    check_conv(&shapes[_i], dw_special(&shapes[_i]), case_seed(5, _i), NULL);
}
END_TEST

/* Every tap row padding (pad_top >= kh): the output is the clamped bias. */
START_TEST(test_dwconv_all_padding)
{
  struct tu_rng r;
  tu_rng_seed(&r, case_seed(6, 0));
  const size_t c = 19, taps = 9, out_w = 4;
  float *w = random_floats(&r, taps * c, -1.0f, 1.0f);
  float *bias = random_floats(&r, c, -4.0f, 10.0f);
  float *packed = xmalloc_floats(kern_dw_packed_size(c, taps));
  kern_dw_pack(c, taps, w, bias, packed);
  const float *rows[3] = { NULL, NULL, NULL };
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    /* op 0, 1: the general kernel at stride 1, 2; op 2, 3: the 3x3 ones of
     * stride 1, 2 (OP_DWCONV3X3_S1, _S2) */
    for (size_t op = 0; op < 4; op++) {
      const size_t stride = op % 2 == 0 ? 1 : 2;
      const kern_dwconv_row_fn dw =
        op < 2 ? ops->dwconv : dw_kernel(ops, (enum conv_op)op);
      float *out = guarded_new(out_w * c);
      dw(c, 5, rows, 3, 3, stride, 1, out_w, packed, out, 0.0f, 6.0f);
      for (size_t i = 0; i < out_w * c; i++) {
        float b = bias[i % c], e = b < 0 ? 0 : (b > 6 ? 6 : b);
        expect_msg(out[i] == e, "%s op %zu s%zu: out[%zu] = %g, want %g",
                      ops->isa, op, stride, i, (double)out[i], (double)e);
      }
      expect_msg(guard_clobbered(out, out_w * c) < 0, "wrote a guard float");
      guarded_free(out);
    }
  }
  free(packed);
  free(w);
  free(bias);
}
END_TEST

/* Dense convolution: the first layer (3x3, stride 2, cin 3, cout 8..48 and
 * every tail up to 2*NR+1), odd and even inputs, every padding 0..1. */
static const size_t conv_couts[] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,
                                     10, 11, 12, 13, 14, 15, 16, 17, 18,
                                     19, 20, 21, 22, 23, 24, 25, 26, 27,
                                     28, 29, 30, 31, 32, 33, 48 };

START_TEST(test_conv_first_layer)
{
  const size_t cout = conv_couts[_i];
  struct clamp_hits hits = { 0 };
  int j = 0;
  for (size_t sz = 0; sz < 6; sz++)
    for (size_t pads = 0; pads < 16; pads++, j++) {
      struct conv_shape s = {
        .in_h = conv_sizes[sz][0] + 2, .in_w = conv_sizes[sz][1] + 2,
        .cin = 3, .cout = cout, .kh = 3, .kw = 3, .stride = 2,
        .pad_top = pads & 1, .pad_left = pads >> 1 & 1,
        .pad_bottom = pads >> 2 & 1, .pad_right = pads >> 3 & 1,
      };
      pick_clamp(j, &s.min, &s.max);
      check_conv(&s, OP_CONV, case_seed(7, _i * 1000 + j), &hits);
    }
  expect_msg(hits.at_min > 0 && hits.at_max > 0,
                "cout=%zu: the clamps never bit", cout);
}
END_TEST

/* Other dense convolutions: full-size first-layer rows, stride 1, other
 * cin, 1x1, 5x5, and K = kh*kw*cin beyond any on-stack tile. */
START_TEST(test_conv_shapes)
{
  static const struct conv_shape shapes[] = {
    /* h, w, cin, cout, kh, kw, s, pads t l b r */
    { 4, 224, 3, 32, 3, 3, 2, 1, 1, 1, 1, 0.0f, 6.0f },
    { 4, 225, 3, 48, 3, 3, 2, 0, 0, 1, 1, 0.0f, 6.0f }, /* TF SAME, odd */
    { 5, 17, 3, 16, 3, 3, 1, 1, 1, 1, 1, 0.0f, 6.0f },
    { 5, 11, 5, 19, 3, 3, 2, 1, 1, 1, 1, -INFINITY, INFINITY },
    { 3, 9, 16, 24, 1, 1, 1, 0, 0, 0, 0, 0.0f, 6.0f },
    { 7, 9, 2, 8, 5, 5, 2, 2, 2, 2, 2, 0.0f, 6.0f },
    { 4, 7, 64, 40, 3, 3, 1, 1, 1, 1, 1, 0.0f, 6.0f }, /* K = 576 */
    { 3, 5, 100, 17, 3, 3, 2, 1, 0, 1, 2, 0.0f, 6.0f }, /* K = 900 */
    { 20, 5, 2, 9, 17, 1, 1, 8, 0, 8, 0, 0.0f, 6.0f },   /* kh = 17 */
  };
  check_conv(&shapes[_i], OP_CONV, case_seed(8, _i), NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

START_TEST(test_dispatch)
{
  const struct kern_ops *ref = kern_ops_get(KERN_ISA_REF);
  ck_assert_ptr_eq(ref, kern_ops_ref());
  ck_assert_str_eq(ref->isa, "ref");
  const struct kern_ops *best = kern_ops_get(KERN_ISA_AUTO);
  ck_assert_ptr_nonnull(best);
  /* AUTO is the last supported variant of the list */
  const struct kern_ops *last = NULL;
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    last = ops;
    ck_assert_str_eq(ops->isa, variants[v].name);
    ck_assert_uint_gt(ops->gemm_nr, 0);
    ck_assert(ops->gemm && ops->gemv && ops->conv && ops->dwconv &&
              ops->dwconv3x3_s1 && ops->dwconv3x3_s2 && ops->gemv16 &&
              ops->avgpool && ops->add && ops->softmax);
  }
  ck_assert_ptr_eq(best, last);
#if defined(__x86_64__)
  /* F16C from CPUID leaf 1, as dispatch.c (clang's __builtin_cpu_supports
   * has no "f16c") */
  unsigned a, b, c, d;
  bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              f16c;
  ck_assert_int_eq(kern_ops_get(KERN_ISA_AVX2) != NULL, avx2);
  if (avx2)
    ck_assert_str_eq(best->isa, "avx2");
#endif
}
END_TEST

static Suite *
kernels_suite(void)
{
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("gemm");
  tcase_add_loop_test(tc, test_gemm_n_tails, 0, 33);
  tcase_add_loop_test(tc, test_gemm_m_sweep, 0,
                      (int)(sizeof gemm_ms / sizeof gemm_ms[0]));
  tcase_add_loop_test(tc, test_gemm_strides, 0, 5);
  tcase_add_test(tc, test_gemm_degenerate);
  suite_add_tcase(s, tc);

  tc = tcase_create("dwconv");
  tcase_add_loop_test(tc, test_dwconv_3x3, 0,
                      (int)(sizeof dw_channels / sizeof dw_channels[0]));
  tcase_add_loop_test(tc, test_dwconv_shapes, 0, 9);
  tcase_add_test(tc, test_dwconv_all_padding);
  suite_add_tcase(s, tc);

  tc = tcase_create("conv");
  tcase_add_loop_test(tc, test_conv_first_layer, 0,
                      (int)(sizeof conv_couts / sizeof conv_couts[0]));
  tcase_add_loop_test(tc, test_conv_shapes, 0, 9);
  suite_add_tcase(s, tc);

  tc = tcase_create("dispatch");
  tcase_add_test(tc, test_dispatch);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  print_variants("test-kernels");
  return tu_run_suite(kernels_suite());
}
