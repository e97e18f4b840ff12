/* Kernels: the reference kernels against a double-precision loop over the
 * unpacked weights, the GEMM and depthwise packing layouts, and
 * half-precision weights (f32 <-> f16 conversion, gemv16 packing, every
 * variant's gemv16 against the reference's), with guard floats around
 * every output.
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
/* The reference against a double-precision loop over unpacked weights  */

START_TEST(test_ref_vs_naive)
{
  struct tu_rng r;
  const uint64_t seed = case_seed(9, _i);
  tu_rng_seed(&r, seed);
  const struct kern_ops *ref = kern_ops_ref();
  /* GEMM with residual and ReLU6, N not a multiple of NR */
  const size_t m = 5 + (size_t)_i, n = 13 + 2 * (size_t)_i, k = 9 + (size_t)_i;
  float *in = random_floats(&r, m * k, -1, 1);
  float *w = random_floats(&r, n * k, -1, 1);
  float *bias = random_floats(&r, n, -2, 8);
  float *res = random_floats(&r, m * n, -2, 2);
  float *out = guarded_new(m * n);
  float *packed = gemm_packed(ref, n, k, w, bias);
  ref->gemm(m, n, k, in, k, packed, out, n, res, n, 0.0f, 6.0f);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      double acc = bias[j] + res[i * n + j];
      for (size_t kk = 0; kk < k; kk++)
        acc += (double)in[i * k + kk] * w[j * k + kk];
      acc = acc < 0 ? 0 : (acc > 6 ? 6 : acc);
      expect_msg(close_enough(out[i * n + j], (float)acc),
                    "ref gemm seed=%#llx out[%zu][%zu] = %g, naive %g",
                    (unsigned long long)seed, i, j, (double)out[i * n + j],
                    acc);
    }
  free(packed);
  guarded_free(out);
  free(in);
  free(w);
  free(bias);
  free(res);

  /* Dense and depthwise 3x3, stride 2, padding 1 on top/left only. */
  const size_t h = 6 + (size_t)_i, wd = 7 + (size_t)_i, cin = 3, cout = 10;
  const size_t oh = (h + 1 - 3) / 2 + 1, ow = (wd + 1 - 3) / 2 + 1;
  float *img = random_floats(&r, h * wd * 4, -1, 1);
  float *cw = random_floats(&r, cout * 9 * cin, -1, 1); /* [co][ky][kx][ci] */
  float *dw = random_floats(&r, 9 * 4, -1, 1);          /* [ky][kx][c], c=4 */
  float *cb = random_floats(&r, cout, -1, 1);
  float *cpk = gemm_packed(ref, cout, 9 * cin, cw, cb);
  float *dpk = xmalloc_floats(kern_dw_packed_size(4, 9));
  kern_dw_pack(4, 9, dw, cb, dpk);
  float *crow = guarded_new(ow * cout), *drow = guarded_new(ow * 4);
  float *drow2 = guarded_new(ow * 4);
  for (size_t oy = 0; oy < oh; oy++) {
    const float *crows[3], *drows[3];
    for (size_t ky = 0; ky < 3; ky++) {
      long iy = (long)(oy * 2 + ky) - 1;
      bool ok = iy >= 0 && iy < (long)h;
      crows[ky] = ok ? img + (size_t)iy * wd * cin : NULL;
      drows[ky] = ok ? img + (size_t)iy * wd * 4 : NULL;
    }
    ref->conv(cin, wd, crows, 3, 3, 2, 1, ow, cout, cpk, crow, -INFINITY,
              INFINITY);
    ref->dwconv(4, wd, drows, 3, 3, 2, 1, ow, dpk, drow, -INFINITY,
                INFINITY);
    ref->dwconv3x3_s2(4, wd, drows, 3, 3, 2, 1, ow, dpk, drow2, -INFINITY,
                      INFINITY);
    for (size_t x = 0; x < ow; x++) {
      for (size_t co = 0; co < cout; co++) {
        double acc = cb[co];
        for (size_t ky = 0; ky < 3; ky++)
          for (size_t kx = 0; kx < 3; kx++) {
            long iy = (long)(oy * 2 + ky) - 1, ix = (long)(x * 2 + kx) - 1;
            if (iy < 0 || iy >= (long)h || ix < 0 || ix >= (long)wd)
              continue;
            for (size_t ci = 0; ci < cin; ci++)
              acc += (double)img[((size_t)iy * wd + (size_t)ix) * cin + ci] *
                     cw[((co * 3 + ky) * 3 + kx) * cin + ci];
          }
        expect_msg(close_enough(crow[x * cout + co], (float)acc),
                      "ref conv seed=%#llx (%zu,%zu,%zu) = %g, naive %g",
                      (unsigned long long)seed, oy, x, co,
                      (double)crow[x * cout + co], acc);
      }
      for (size_t c = 0; c < 4; c++) {
        double acc = cb[c];
        for (size_t ky = 0; ky < 3; ky++)
          for (size_t kx = 0; kx < 3; kx++) {
            long iy = (long)(oy * 2 + ky) - 1, ix = (long)(x * 2 + kx) - 1;
            if (iy < 0 || iy >= (long)h || ix < 0 || ix >= (long)wd)
              continue;
            acc += (double)img[((size_t)iy * wd + (size_t)ix) * 4 + c] *
                   dw[(ky * 3 + kx) * 4 + c];
          }
        expect_msg(close_enough(drow[x * 4 + c], (float)acc),
                      "ref dwconv seed=%#llx (%zu,%zu,%zu) = %g, naive %g",
                      (unsigned long long)seed, oy, x, c,
                      (double)drow[x * 4 + c], acc);
        expect_msg(close_enough(drow2[x * 4 + c], (float)acc),
                   "ref dwconv3x3_s2 seed=%#llx (%zu,%zu,%zu) = %g, naive %g",
                   (unsigned long long)seed, oy, x, c,
                   (double)drow2[x * 4 + c], acc);
      }
    }
  }
  expect_msg(guard_clobbered(crow, ow * cout) < 0, "wrote a guard float");
  expect_msg(guard_clobbered(drow, ow * 4) < 0, "wrote a guard float");
  expect_msg(guard_clobbered(drow2, ow * 4) < 0, "wrote a guard float");
  guarded_free(crow);
  guarded_free(drow);
  guarded_free(drow2);
  free(cpk);
  free(dpk);
  free(img);
  free(cw);
  free(dw);
  free(cb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Packing                                                             */

START_TEST(test_gemm_pack_layout)
{
  static const size_t nrs[] = { 1, 4, 8, 16, 24 };
  const size_t nr = nrs[_i % 5];
  const size_t n = 1 + (size_t)_i * 7 % 37, k = 1 + (size_t)_i * 5 % 11;
  const size_t blocks = (n + nr - 1) / nr;
  ck_assert_uint_eq(kern_gemm_packed_size(nr, n, k), blocks * nr * (k + 1));
  float *w = xmalloc_floats(n * k), *bias = xmalloc_floats(n);
  for (size_t j = 0; j < n; j++) {
    bias[j] = 1000.0f + (float)j;
    for (size_t kk = 0; kk < k; kk++)
      w[j * k + kk] = (float)(j * 100 + kk + 1);
  }
  const size_t size = kern_gemm_packed_size(nr, n, k);
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    float *p = guarded_new(size);
    kern_gemm_pack(nr, n, k, w, with_bias ? bias : NULL, p);
    expect_msg(guard_clobbered(p, size) < 0, "wrote a guard float");
    for (size_t b = 0; b < blocks; b++) {
      const float *blk = p + b * nr * (k + 1);
      for (size_t j = 0; j < nr; j++) {
        size_t col = b * nr + j;
        float eb = col < n && with_bias ? bias[col] : 0.0f;
        expect_msg(blk[j] == eb, "nr=%zu n=%zu: bias of column %zu = %g",
                      nr, n, col, (double)blk[j]);
        for (size_t kk = 0; kk < k; kk++) {
          float ew = col < n ? w[col * k + kk] : 0.0f; /* zero padding */
          expect_msg(blk[nr + kk * nr + j] == ew,
                        "nr=%zu n=%zu k=%zu: w[%zu][%zu] = %g, want %g", nr,
                        n, k, col, kk, (double)blk[nr + kk * nr + j],
                        (double)ew);
        }
      }
    }
    guarded_free(p);
  }
  free(w);
  free(bias);
}
END_TEST

START_TEST(test_dw_pack_layout)
{
  const size_t c = 1 + (size_t)_i * 3, taps = 9, cb = KERN_DW_CB;
  const size_t blocks = (c + cb - 1) / cb, size = blocks * cb * (taps + 1);
  ck_assert_uint_eq(kern_dw_packed_size(c, taps), size);
  float *w = xmalloc_floats(c * taps), *bias = xmalloc_floats(c);
  for (size_t i = 0; i < c * taps; i++)
    w[i] = (float)i + 1;
  for (size_t i = 0; i < c; i++)
    bias[i] = -(float)i - 1;
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    float *p = guarded_new(size);
    kern_dw_pack(c, taps, w, with_bias ? bias : NULL, p);
    expect_msg(guard_clobbered(p, size) < 0, "wrote a guard float");
    /* Block b holds cb biases then taps x cb weights; channels past c are
     * zero. */
    for (size_t ch = 0; ch < blocks * cb; ch++) {
      const float *blk = p + ch / cb * cb * (taps + 1);
      const bool real = ch < c;
      expect_msg(blk[ch % cb] == (real && with_bias ? bias[ch] : 0.0f),
                 "bias[%zu]", ch);
      for (size_t t = 0; t < taps; t++)
        expect_msg(blk[cb + t * cb + ch % cb] == (real ? w[t * c + ch] : 0.0f),
                   "w[%zu][%zu]", t, ch);
    }
    guarded_free(p);
  }
  free(w);
  free(bias);
}
END_TEST

/* ------------------------------------------------------------------ */
/* half-precision weights: conversion, gemv16                          */

/* Conversions against values whose binary16 encodings are known, ties that
 * must round to even, subnormals, overflow, and a round trip over every
 * finite half. */
START_TEST(test_f16_convert)
{
  static const struct {
    float f;
    unsigned short h;
  } cases[] = {
    { 0.0f, 0x0000 },        { -0.0f, 0x8000 },
    { 1.0f, 0x3c00 },        { -2.0f, 0xc000 },
    { 65504.0f, 0x7bff },    { 65519.0f, 0x7bff }, /* below the midpoint */
    { 65520.0f, 0x7c00 },    { INFINITY, 0x7c00 }, /* overflow: inf */
    { 0x1p-14f, 0x0400 },    { 0x1p-24f, 0x0001 }, /* min normal, subnormal */
    { 0x1p-25f, 0x0000 },    { 0x1.8p-25f, 0x0001 }, /* tie to even, above */
    { 0x1.002p0f, 0x3c00 },  { 0x1.006p0f, 0x3c02 }, /* ties to even */
    { 0x1.0021p0f, 0x3c01 }, { 0.1f, 0x2e66 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned short h = half_from_f32(cases[i].f);
    expect_msg(h == cases[i].h, "f32_to_f16(%a) = %#06x, want %#06x",
               (double)cases[i].f, h, cases[i].h);
  }
  ck_assert(isnan(half_to_f32(half_from_f32(NAN))));
  for (unsigned u = 0; u < 0x10000u; u++) {
    if ((u & 0x7c00u) == 0x7c00u)
      continue; /* inf, NaN */
    float f = half_to_f32((unsigned short)u);
    expect_msg(half_from_f32(f) == u, "round trip of %#06x via %a", u,
               (double)f);
  }
  expect_msg(half_to_f32(0x3555) == 0x1.554p-2f, "f16_to_f32(0x3555)");
  expect_msg(half_to_f32(0x8001) == -0x1p-24f, "f16_to_f32(0x8001)");
}
END_TEST

/* Packing refuses weights that have no finite half; the layout holds the
 * bias in float32 and every weight rounded to nearest. */
START_TEST(test_gemv16_pack)
{
  const size_t n = 1 + (size_t)_i * 5, k = 3 + (size_t)_i, np = (n + 15) / 16 * 16;
  struct tu_rng r;
  tu_rng_seed(&r, case_seed(30, _i));
  float *w = random_floats(&r, n * k, -2.0f, 2.0f);
  float *bias = random_floats(&r, n, -1.0f, 1.0f);
  ck_assert_uint_eq(kern_gemv16_packed_size(n, k), np + np * k / 2);
  float *p = guarded_new(kern_gemv16_packed_size(n, k));
  ck_assert_int_eq(kern_gemv16_pack(n, k, w, bias, p), 0);
  expect_msg(guard_clobbered(p, kern_gemv16_packed_size(n, k)) < 0,
             "wrote a guard float");
  const unsigned short *h = (const unsigned short *)(p + np);
  for (size_t j = 0; j < np; j++) {
    expect_msg(p[j] == (j < n ? bias[j] : 0.0f), "bias[%zu]", j);
    for (size_t kk = 0; kk < k; kk++) {
      unsigned short want = j < n ? half_from_f32(w[j * k + kk]) : 0;
      expect_msg(h[j / 16 * 16 * k + kk * 16 + j % 16] == want,
                 "w[%zu][%zu]", j, kk);
    }
  }
  w[n * k / 2] = 70000.0f;
  ck_assert_int_eq(kern_gemv16_pack(n, k, w, bias, p), -1);
  w[n * k / 2] = NAN;
  ck_assert_int_eq(kern_gemv16_pack(n, k, w, bias, p), -1);
  guarded_free(p);
  free(w);
  free(bias);
}
END_TEST

/* Every variant's gemv16 against the reference's (same half weights, so the
 * usual tolerance), and the reference against a double loop over the
 * widened weights. N tails 1..33 around the blocks of 16 and of 4 blocks,
 * the classifier's shapes, clamps that bite. */
START_TEST(test_gemv16)
{
  static const size_t ks[] = { 1, 7, 64, 1024, 1280 };
  const size_t n = _i < 33 ? (size_t)_i + 1 : (_i == 33 ? 1000 : 1001);
  const size_t k = ks[_i % 5];
  float min, max;
  pick_clamp(_i, &min, &max);
  struct tu_rng r;
  tu_rng_seed(&r, case_seed(31, _i));
  const float ws = 1.0f / sqrtf((float)k);
  float *in = random_floats(&r, k, -1.0f, 1.0f);
  float *w = random_floats(&r, n * k, -ws, ws);
  float *bias = random_floats(&r, n, -1.0f, 1.0f);
  float *p = xmalloc_floats(kern_gemv16_packed_size(n, k));
  ck_assert_int_eq(kern_gemv16_pack(n, k, w, bias, p), 0);
  float *want = guarded_new(n);
  kern_ops_ref()->gemv16(n, k, in, p, want, min, max);
  for (size_t j = 0; j < n; j++) {
    double acc = bias[j];
    for (size_t kk = 0; kk < k; kk++)
      acc += (double)in[kk] * half_to_f32(half_from_f32(w[j * k + kk]));
    float v = (float)acc;
    v = v < min ? min : v > max ? max : v;
    expect_msg(close_enough(want[j], v), "ref gemv16 n=%zu k=%zu: out[%zu] "
               "= %.7g, double loop %.7g", n, k, j, (double)want[j],
               (double)v);
  }
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    float *got = guarded_new(n);
    ops->gemv16(n, k, in, p, got, min, max);
    expect_msg(guard_clobbered(got, n) < 0, "%s gemv16 n=%zu k=%zu: wrote a "
               "guard float", ops->isa, n, k);
    for (size_t j = 0; j < n; j++)
      expect_msg(close_enough(got[j], want[j]), "%s gemv16 n=%zu k=%zu "
                 "seed=%#llx: out[%zu] = %.7g, reference %.7g", ops->isa, n,
                 k, (unsigned long long)case_seed(31, _i), j,
                 (double)got[j], (double)want[j]);
    guarded_free(got);
  }
  guarded_free(want);
  free(p);
  free(in);
  free(w);
  free(bias);
}
END_TEST

static Suite *
kernels_pack_suite(void)
{
  Suite *s = suite_create("kernels-pack");
  TCase *tc = tcase_create("reference");
  tcase_add_loop_test(tc, test_ref_vs_naive, 0, 4);
  suite_add_tcase(s, tc);

  tc = tcase_create("pack");
  tcase_add_loop_test(tc, test_gemm_pack_layout, 0, 20);
  tcase_add_loop_test(tc, test_dw_pack_layout, 0, 12);
  tcase_add_loop_test(tc, test_gemv16_pack, 0, 8);
  tcase_add_test(tc, test_f16_convert);
  tcase_add_loop_test(tc, test_gemv16, 0, 35);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  print_variants("test-kernels-pack");
  return tu_run_suite(kernels_pack_suite());
}
