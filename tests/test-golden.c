/* Whole-network golden test: MobileNets with random weights and random
 * batch-norm statistics, saved from PyTorch by scripts/make-golden-fixtures.py
 * together with PyTorch's logits for a few inputs (tests/fixtures/golden).
 * Each fixture is loaded with the safetensors loader and run on every kernel
 * table this build and CPU have; the logits must match PyTorch's within
 * 1e-3 absolute, the bar. (PyTorch's own float32 logits differ from a
 * float64 run by about 2e-5 on these fixtures, so the bar leaves room for a
 * different summation order but not for a wrong layout, fold or padding.)
 *
 * The fixtures need no torch at test time. Regenerate them with
 *   /usr/bin/python3 scripts/make-golden-fixtures.py
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "file-util.h"
#include "model.h"
#include "testutil.h"

#define GOLDEN_TOLERANCE 1e-3
#define MANIFEST "golden/manifest.txt"
#define MANIFEST_MAX_BYTES (64 * 1024)

struct golden_fixture {
  char stem[128];
  char arch[32];
  float alpha;
  int resolution, classes, n_inputs;
  char dtype[8];
};

/* Reads the manifest's line `index` (comments and blank lines skipped).
 * Returns the number of fixtures when fx is NULL. */
static int
manifest_read(int index, struct golden_fixture *fx)
{
  char path[512];
  tu_fixture_path(MANIFEST, path, sizeof path);
  uint8_t *text;
  size_t size;
  struct ss_error err = { 0 };
  ck_assert_msg(file_read_all(path, MANIFEST_MAX_BYTES, &text, &size, &err) ==
                    0,
                "%s", err.message);
  int n = 0;
  char *save = NULL;
  /* Not strndup: text has no NUL, and ASan's strict_string_checks reads
   * strndup's argument as a C string. */
  char *copy = malloc(size + 1);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, text, size);
  copy[size] = '\0';
  free(text);
  for (char *line = strtok_r(copy, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' || line[0] == '\0')
      continue;
    if (fx && n == index) {
      int got = sscanf(line, "%127s %31s %f %d %d %d %7s", fx->stem, fx->arch,
                       &fx->alpha, &fx->resolution, &fx->classes,
                       &fx->n_inputs, fx->dtype);
      ck_assert_msg(got == 7, "manifest line %d is malformed: '%s'", n, line);
    }
    n++;
  }
  free(copy);
  ck_assert_msg(!fx || index < n, "manifest has %d fixtures, asked for %d", n,
                index);
  return n;
}

/* Reads tests/fixtures/golden/<stem><suffix>, which must hold exactly
 * `floats` little-endian float32 values (x86-64 is little-endian). */
static float *
read_floats(const char *stem, const char *suffix, size_t floats)
{
  char rel[256], path[512];
  snprintf(rel, sizeof rel, "golden/%s%s", stem, suffix);
  tu_fixture_path(rel, path, sizeof path);
  uint8_t *data;
  size_t size;
  struct ss_error err = { 0 };
  ck_assert_msg(file_read_all(path, 64u << 20, &data, &size, &err) == 0, "%s",
                err.message);
  ck_assert_msg(size == floats * sizeof(float),
                "%s: %zu bytes, expected %zu floats", path, size, floats);
  float *v = malloc(size);
  ck_assert_ptr_nonnull(v);
  memcpy(v, data, size);
  free(data);
  return v;
}

static struct ss_model *
load_fixture(const struct golden_fixture *fx)
{
  char rel[256], path[512];
  snprintf(rel, sizeof rel, "golden/%s.safetensors", fx->stem);
  tu_fixture_path(rel, path, sizeof path);
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  int rc = model_load(path, &m, &err);
  ck_assert_msg(rc == 0, "%s: %s", path, err.message);
  return m;
}

START_TEST(test_fixture_loads)
{
  struct golden_fixture fx;
  manifest_read(_i, &fx);
  struct ss_model *m = load_fixture(&fx);
  ck_assert_str_eq(model_arch_name(model_arch(m)), fx.arch);
  ck_assert_msg(fabsf(model_alpha(m) - fx.alpha) < 1e-6f, "%s: alpha %g",
                fx.stem, (double)model_alpha(m));
  ck_assert_int_eq(model_format(m), MODEL_FORMAT_SAFETENSORS);
  ck_assert_int_eq(model_pad_rule(m), MODEL_PAD_RULE_SYMMETRIC);
  ck_assert_int_eq(model_input_width(m), fx.resolution);
  ck_assert_int_eq(model_input_height(m), fx.resolution);
  ck_assert_int_eq(model_num_outputs(m), fx.classes);
  ck_assert_int_eq(model_class_offset(m), 0);
  ck_assert_int_eq(model_num_classes(m), fx.classes);
  ck_assert(!model_is_quantized(m));
  ck_assert_str_eq(model_name(m), fx.stem);
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  ck_assert_float_eq_tol(mean[0], 123.675f, 1e-4f);
  ck_assert_float_eq_tol(mean[2], 103.53f, 1e-4f);
  ck_assert_float_eq_tol(std[1], 57.12f, 1e-4f);
  model_unref(m);
}
END_TEST

/* Runs every input of fixture _i on one kernel table. */
static void
check_fixture_isa(int index, enum kern_isa isa, const char *isa_label)
{
  struct golden_fixture fx;
  manifest_read(index, &fx);
  if (!kern_ops_get(isa)) {
    printf("SKIP: golden %s on %s: kernel table not available in this "
           "build/CPU\n",
           fx.stem, isa_label);
    return;
  }
  struct ss_model *m = load_fixture(&fx);
  int res = fx.resolution, classes = fx.classes;
  size_t plane = (size_t)res * res;
  float *inputs = read_floats(fx.stem, ".inputs.f32",
                              (size_t)fx.n_inputs * 3 * plane);
  float *expected = read_floats(fx.stem, ".logits.f32",
                                (size_t)fx.n_inputs * classes);

  struct ss_engine *e = NULL;
  struct ss_scratch *s = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(engine_new(m, isa, &e, &err) == 0, "%s: %s", fx.stem,
                err.message);
  ck_assert_msg(engine_scratch_new(e, &s, &err) == 0, "%s", err.message);
  float *nhwc = malloc(3 * plane * sizeof *nhwc);
  float *logits = malloc((size_t)classes * sizeof *logits);
  ck_assert(nhwc && logits);

  double worst = 0.0;
  for (int n = 0; n < fx.n_inputs; n++) {
    const float *nchw = inputs + (size_t)n * 3 * plane;
    for (size_t p = 0; p < plane; p++)
      for (int c = 0; c < 3; c++)
        nhwc[p * 3 + c] = nchw[(size_t)c * plane + p];
    engine_run(e, s, nhwc, logits);
    const float *want = expected + (size_t)n * classes;
    double err_n = 0.0;
    int at = 0;
    for (int k = 0; k < classes; k++) {
      double d = fabs((double)logits[k] - want[k]);
      if (!(d <= err_n)) { /* also catches NaN */
        err_n = isnan(d) ? INFINITY : d;
        at = k;
      }
    }
    printf("golden %s [%s] input %d: max abs error %.3g (logit %d: %.6f vs "
           "PyTorch %.6f)\n",
           fx.stem, engine_isa_name(e), n, err_n, at, (double)logits[at],
           (double)want[at]);
    ck_assert_msg(err_n <= GOLDEN_TOLERANCE,
                  "%s [%s] input %d: logit %d is %.6f, PyTorch %.6f (error "
                  "%.3g > %g)",
                  fx.stem, engine_isa_name(e), n, at, (double)logits[at],
                  (double)want[at], err_n, GOLDEN_TOLERANCE);
    if (err_n > worst)
      worst = err_n;
  }
  printf("golden %s [%s]: max abs error over %d inputs %.3g\n", fx.stem,
         engine_isa_name(e), fx.n_inputs, worst);
  free(logits);
  free(nhwc);
  free(inputs);
  free(expected);
  engine_scratch_free(s);
  engine_free(e);
  model_unref(m);
}

START_TEST(test_golden_ref)
{
  check_fixture_isa(_i, KERN_ISA_REF, "ref");
}
END_TEST

START_TEST(test_golden_avx2)
{
  check_fixture_isa(_i, KERN_ISA_AVX2, "avx2");
}
END_TEST

START_TEST(test_manifest_nonempty)
{
  /* The loop tests below run once per manifest line: an empty manifest
   * would make them pass vacuously. */
  ck_assert_int_ge(manifest_read(-1, NULL), 2);
}
END_TEST

static Suite *
golden_suite(int n_fixtures)
{
  Suite *s = suite_create("golden");
  TCase *tc = tcase_create("fixtures");
  tcase_add_test(tc, test_manifest_nonempty);
  tcase_add_loop_test(tc, test_fixture_loads, 0, n_fixtures);
  suite_add_tcase(s, tc);
  tc = tcase_create("logits");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_golden_ref, 0, n_fixtures);
  tcase_add_loop_test(tc, test_golden_avx2, 0, n_fixtures);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  /* Counting outside a test: a missing manifest fails the manifest test. */
  char path[512];
  tu_fixture_path(MANIFEST, path, sizeof path);
  FILE *f = fopen(path, "r");
  int n = 0;
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f))
      n += line[0] != '#' && line[0] != '\n';
    fclose(f);
  }
  return tu_run_suite(golden_suite(n));
}
