/* Kernels: every variant's avgpool, add and softmax against the reference
 * (channel tails, clamps that bite), with guard floats around every output.
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
/* avgpool, add, softmax                                               */

START_TEST(test_avgpool)
{
  static const size_t ns[] = { 1, 7, 49, 196, 3136 };
  static const size_t cs[] = { 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 1280 };
  const size_t n = ns[_i % 5], c = cs[_i / 5];
  struct tu_rng r;
  const uint64_t seed = case_seed(10, _i);
  tu_rng_seed(&r, seed);
  float *in = random_floats(&r, n * c, -1.0f, 7.0f);
  float *want = guarded_new(c);
  kern_ops_ref()->avgpool(n, c, in, want);
  /* the reference is the mean */
  double mean0 = 0;
  for (size_t p = 0; p < n; p++)
    mean0 += in[p * c];
  ck_assert(close_enough(want[0], (float)(mean0 / (double)n)));
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    float *got = guarded_new(c);
    ops->avgpool(n, c, in, got);
    expect_msg(guard_clobbered(got, c) < 0, "wrote a guard float");
    for (size_t i = 0; i < c; i++)
      expect_msg(close_enough(got[i], want[i]),
                    "%s avgpool n=%zu c=%zu seed=%#llx: out[%zu] = %.7g, "
                    "reference %.7g", ops->isa, n, c,
                    (unsigned long long)seed, i, (double)got[i],
                    (double)want[i]);
    guarded_free(got);
  }
  guarded_free(want);
  free(in);
}
END_TEST

START_TEST(test_add)
{
  const size_t n = _i < 34 ? (size_t)_i : 1000;
  float min, max;
  pick_clamp(_i, &min, &max);
  struct tu_rng r;
  const uint64_t seed = case_seed(11, _i);
  tu_rng_seed(&r, seed);
  float *a = random_floats(&r, n, -5.0f, 5.0f);
  float *b = random_floats(&r, n, -5.0f, 5.0f);
  float *want = guarded_new(n);
  kern_ops_ref()->add(n, a, b, want, min, max);
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    /* out separate, out == a, out == b */
    for (int alias = 0; alias < 3; alias++) {
      float *ga = guarded_new(n), *gb = guarded_new(n), *out = guarded_new(n);
      memcpy(ga, a, n * sizeof *a);
      memcpy(gb, b, n * sizeof *b);
      float *dst = alias == 0 ? out : (alias == 1 ? ga : gb);
      ops->add(n, ga, gb, dst, min, max);
      expect_msg(guard_clobbered(ga, n) < 0, "wrote a guard float");
      expect_msg(guard_clobbered(gb, n) < 0, "wrote a guard float");
      expect_msg(guard_clobbered(out, n) < 0, "wrote a guard float");
      for (size_t i = 0; i < n; i++)
        expect_msg(dst[i] == want[i], /* one rounding either way */
                      "%s add n=%zu alias=%d seed=%#llx: out[%zu] = %g, "
                      "reference %g", ops->isa, n, alias,
                      (unsigned long long)seed, i, (double)dst[i],
                      (double)want[i]);
      guarded_free(ga);
      guarded_free(gb);
      guarded_free(out);
    }
  }
  guarded_free(want);
  free(a);
  free(b);
}
END_TEST

/* Softmax outputs are compared with 1e-4 relative (the vector exp is
 * within a few ulp of expf) plus 1e-7 absolute for probabilities that are
 * essentially zero (e^-17 and below). */
START_TEST(test_softmax)
{
  static const size_t big[] = { 1000, 1001, 4099 };
  const size_t n = _i < 34 ? (size_t)_i + 1 : big[_i - 34];
  struct tu_rng r;
  const uint64_t seed = case_seed(12, _i);
  tu_rng_seed(&r, seed);
  /* logits with a wide spread, shifted so that exp would overflow without
   * the maximum subtracted */
  float *in = random_floats(&r, n, -20.0f, 20.0f);
  for (size_t i = 0; i < n; i++)
    in[i] += (_i % 2) ? 100.0f : -100.0f;
  float *want = guarded_new(n);
  kern_ops_ref()->softmax(n, in, want);
  double total = 0;
  for (size_t i = 0; i < n; i++)
    total += want[i];
  expect_msg(fabs(total - 1.0) < 1e-5, "reference sums to %g", total);
  for (size_t v = 0; v < N_VARIANTS; v++) {
    const struct kern_ops *ops = variant_ops(v);
    if (!ops)
      continue;
    for (int alias = 0; alias < 2; alias++) {
      float *buf = guarded_new(n), *out = guarded_new(n);
      memcpy(buf, in, n * sizeof *in);
      float *dst = alias ? buf : out;
      ops->softmax(n, buf, dst);
      expect_msg(guard_clobbered(buf, n) < 0, "wrote a guard float");
      expect_msg(guard_clobbered(out, n) < 0, "wrote a guard float");
      for (size_t i = 0; i < n; i++)
        expect_msg(fabs((double)dst[i] - want[i]) <=
                          1e-7 + 1e-4 * fabs(want[i]),
                      "%s softmax n=%zu alias=%d seed=%#llx: out[%zu] = %.7g, "
                      "reference %.7g", ops->isa, n, alias,
                      (unsigned long long)seed, i, (double)dst[i],
                      (double)want[i]);
      guarded_free(buf);
      guarded_free(out);
    }
  }
  guarded_free(want);
  free(in);
}
END_TEST

static Suite *
kernels_elementwise_suite(void)
{
  Suite *s = suite_create("kernels-elementwise");
  TCase *tc = tcase_create("elementwise");
  tcase_add_loop_test(tc, test_avgpool, 0, 60);
  tcase_add_loop_test(tc, test_add, 0, 35);
  tcase_add_loop_test(tc, test_softmax, 0, 37);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  print_variants("test-kernels-elementwise");
  return tu_run_suite(kernels_elementwise_suite());
}
