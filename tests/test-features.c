/* Pooled features (engine_run_features, engine_run_with_features): their
 * length per architecture and width, unit L2 norm, repeatability, and that
 * they are the classifier's input: logits = W * features * |raw| + b. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "testutil.h"

#define SEED 20261207u

static const struct {
  enum model_arch arch;
  float alpha;
  int res;
  int want_len; /* V1: 1024 x alpha; V2: 1280, or 1280 x alpha above 1 */
} nets[] = {
  { MODEL_ARCH_MOBILENET_V1, 0.25f, 64, 256 },
  { MODEL_ARCH_MOBILENET_V1, 0.5f, 35, 512 }, /* odd size */
  { MODEL_ARCH_MOBILENET_V1, 0.75f, 32, 768 },
  { MODEL_ARCH_MOBILENET_V1, 1.0f, 32, 1024 },
  { MODEL_ARCH_MOBILENET_V2, 0.35f, 64, 1280 },
  { MODEL_ARCH_MOBILENET_V2, 1.0f, 33, 1280 },
  { MODEL_ARCH_MOBILENET_V2, 1.4f, 32, 1792 },
};
#define N_NETS ((int)(sizeof nets / sizeof nets[0]))

static struct ss_model *
build(int i)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(mobilenet_build(nets[i].arch, nets[i].alpha, nets[i].res,
                                MODEL_PAD_RULE_TF_SAME, 1001, &m, &err) == 0,
                "net %d: %s", i, err.message);
  tu_fill_model_weights(m, SEED + (uint64_t)i);
  return m;
}

static float *
random_input(const struct ss_model *m, uint64_t seed)
{
  size_t n = (size_t)m->input_h * m->input_w * 3;
  float *x = malloc(n * sizeof *x);
  struct tu_rng r;
  tu_rng_seed(&r, seed);
  tu_rng_fill(&r, x, n, -1.0f, 1.0f);
  return x;
}

static double
l2_norm(const float *v, int n)
{
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double)v[i] * v[i];
  return sqrt(s);
}

/* The classifier: the fully connected layer writing the output. */
static const struct model_layer *
classifier(const struct ss_model *m)
{
  for (int i = m->n_layers - 1; i >= 0; i--)
    if (m->layers[i].out == m->output && m->layers[i].kind == MODEL_LAYER_FC)
      return &m->layers[i];
  return NULL;
}

/* logits - b must be a positive multiple (the raw features' norm) of
 * W * features. Returns the largest deviation relative to max |logits - b|
 * and the fitted multiple. */
static double
fc_deviation(const struct ss_model *m, const float *logits,
             const float *features, double *scale)
{
  const struct model_layer *fc = classifier(m);
  ck_assert_ptr_nonnull(fc);
  double *z = calloc((size_t)fc->cout, sizeof *z);
  double yz = 0, zz = 0, ymax = 0;
  for (int o = 0; o < fc->cout; o++) {
    for (int i = 0; i < fc->cin; i++)
      z[o] += (double)fc->weight[(size_t)o * fc->cin + i] * features[i];
    double y = (double)logits[o] - fc->bias[o];
    yz += y * z[o];
    zz += z[o] * z[o];
    ymax = fmax(ymax, fabs(y));
  }
  *scale = zz > 0 ? yz / zz : 0;
  double dev = 0;
  for (int o = 0; o < fc->cout; o++)
    dev = fmax(dev, fabs((double)logits[o] - fc->bias[o] - *scale * z[o]));
  free(z);
  return dev / fmax(ymax, 1e-12);
}

START_TEST(test_feature_len)
{
  struct ss_model *m = build(_i);
  struct ss_engine *e = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(engine_new(m, KERN_ISA_AUTO, &e, &err), 0);
  printf("net %d: %s alpha %.2f: %d features\n", _i,
         model_arch_name(nets[_i].arch), nets[_i].alpha,
         engine_feature_len(e));
  ck_assert_int_eq(engine_feature_len(e), nets[_i].want_len);
  ck_assert_int_eq(engine_feature_len(e), classifier(m)->cin);
  engine_free(e);
  model_unref(m);
}
END_TEST

/* Unit norm; the same bits from two calls, two scratches and the combined
 * run; the combined run's logits are engine_run's; and the features are
 * the classifier's input. Every kernel set, fused and not. */
START_TEST(test_features_are_classifier_input)
{
  struct ss_model *m = build(_i);
  float *input = random_input(m, SEED);
  struct ss_error err = { 0 };
  for (int isa = KERN_ISA_REF; isa <= KERN_ISA_AVX2; isa++) {
    if (!kern_ops_get((enum kern_isa)isa))
      continue;
    for (int fuse = 0; fuse <= 1; fuse++) {
      struct engine_options o = { .isa = (enum kern_isa)isa,
                                  .fuse_blocks = fuse };
      struct ss_engine *e = NULL;
      struct ss_scratch *s1 = NULL, *s2 = NULL;
      ck_assert_msg(engine_new_opts(m, &o, &e, &err) == 0, "%s", err.message);
      ck_assert_int_eq(engine_scratch_new(e, &s1, &err), 0);
      ck_assert_int_eq(engine_scratch_new(e, &s2, &err), 0);
      int n = engine_feature_len(e), outs = m->num_outputs;
      float *f1 = malloc((size_t)n * sizeof *f1);
      float *f2 = malloc((size_t)n * sizeof *f2);
      float *f3 = malloc((size_t)n * sizeof *f3);
      float *logits = malloc((size_t)outs * sizeof *logits);
      float *logits2 = malloc((size_t)outs * sizeof *logits2);

      ck_assert_int_eq(engine_run_features(e, s1, input, f1, n), n);
      engine_run(e, s1, input, logits); /* overwrites s1's arena */
      ck_assert_int_eq(engine_run_features(e, s1, input, f2, n), n);
      ck_assert_msg(memcmp(f1, f2, (size_t)n * sizeof *f1) == 0,
                    "net %d isa %d fuse %d: features differ across calls", _i,
                    isa, fuse);
      ck_assert_int_eq(engine_run_with_features(e, s2, input, logits2, f3, n),
                       n);
      ck_assert_msg(memcmp(f1, f3, (size_t)n * sizeof *f1) == 0,
                    "net %d isa %d fuse %d: combined run's features differ",
                    _i, isa, fuse);
      ck_assert_msg(memcmp(logits, logits2, (size_t)outs * sizeof *logits)
                      == 0,
                    "net %d isa %d fuse %d: combined run's logits differ", _i,
                    isa, fuse);

      double norm = l2_norm(f1, n);
      ck_assert_msg(fabs(norm - 1.0) < 1e-5, "net %d: |f| = %.8f", _i, norm);
      double scale = 0;
      double dev = fc_deviation(m, logits, f1, &scale);
      printf("net %d %s fuse %d: |f| %.7f, logits - b = %.4f * W f, worst "
             "deviation %.2e of max |logits - b|\n", _i, engine_isa_name(e),
             fuse, norm, scale, dev);
      /* float32 sums of up to 1792 products against double ones: 1e-5 of
       * the logit scale. */
      ck_assert_msg(scale > 0 && dev < 1e-5, "net %d: scale %g dev %g", _i,
                    scale, dev);
      free(f1);
      free(f2);
      free(f3);
      free(logits);
      free(logits2);
      engine_scratch_free(s1);
      engine_scratch_free(s2);
      engine_free(e);
    }
  }
  free(input);
  model_unref(m);
}
END_TEST

/* Too little room: -1 and nothing written (a canary stays). */
START_TEST(test_features_room)
{
  struct ss_model *m = build(0);
  struct ss_engine *e = NULL;
  struct ss_scratch *s = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(engine_new(m, KERN_ISA_AUTO, &e, &err), 0);
  ck_assert_int_eq(engine_scratch_new(e, &s, &err), 0);
  float *input = random_input(m, SEED);
  int n = engine_feature_len(e);
  float *f = malloc((size_t)(n + 1) * sizeof *f);
  float *logits = malloc((size_t)m->num_outputs * sizeof *logits);
  for (int i = 0; i <= n; i++)
    f[i] = 12345.0f;
  logits[0] = 12345.0f;
  ck_assert_int_eq(engine_run_features(e, s, input, f, n - 1), -1);
  ck_assert_int_eq(engine_run_with_features(e, s, input, logits, f, n - 1),
                   -1);
  for (int i = 0; i <= n; i++)
    ck_assert_msg(f[i] == 12345.0f, "feature %d written", i);
  ck_assert(logits[0] == 12345.0f);
  ck_assert_int_eq(engine_run_features(e, s, input, f, n + 1), n);
  ck_assert(f[n] == 12345.0f);
  free(f);
  free(logits);
  free(input);
  engine_scratch_free(s);
  engine_free(e);
  model_unref(m);
}
END_TEST

/* Real files: the feature length and the classifier relation on a float
 * and on a quantised (dequantised: float engine) file; the quantised one's
 * integer-engine features too. */
static const struct {
  const char *file;
  int want_len;
} files[] = {
  { "models/mobilenet_v1_0.25_224.tflite", 256 },
  { "models/mobilenet_v2_1.0_224_quant.tflite", 1280 },
};

START_TEST(test_features_real)
{
  char path[1024];
  if (!tu_data_path(files[_i].file, path, sizeof path))
    return;
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(model_load(path, &m, &err) == 0, "%s", err.message);
  struct engine_options o = { .isa = KERN_ISA_AUTO, .fuse_blocks = 1,
                              .arith = ENGINE_ARITH_FLOAT };
  struct ss_engine *e = NULL;
  struct ss_scratch *s = NULL;
  ck_assert_msg(engine_new_opts(m, &o, &e, &err) == 0, "%s", err.message);
  ck_assert_int_eq(engine_scratch_new(e, &s, &err), 0);
  int n = engine_feature_len(e);
  ck_assert_int_eq(n, files[_i].want_len);
  float *input = random_input(m, SEED);
  float *f = malloc((size_t)n * sizeof *f);
  float *logits = malloc((size_t)m->num_outputs * sizeof *logits);
  ck_assert_int_eq(engine_run_with_features(e, s, input, logits, f, n), n);
  double norm = l2_norm(f, n), scale = 0;
  double dev = fc_deviation(m, logits, f, &scale);
  printf("%s: %d features, |f| %.7f, raw norm %.4f, deviation %.2e\n",
         files[_i].file, n, norm, scale, dev);
  ck_assert(fabs(norm - 1.0) < 1e-5);
  ck_assert(scale > 0 && dev < 1e-5);
  if (model_is_quantized(m)) {
    /* The integer engine (the default for the file): its pooled bytes
     * dequantised, unit norm, pointing where the float engine's do. */
    struct ss_engine *ei = NULL;
    struct ss_scratch *si = NULL;
    ck_assert_int_eq(engine_new(m, KERN_ISA_AUTO, &ei, &err), 0);
    ck_assert_str_eq(engine_arith_name(ei), "integer");
    ck_assert_int_eq(engine_feature_len(ei), n);
    ck_assert_int_eq(engine_scratch_new(ei, &si, &err), 0);
    float *fi = malloc((size_t)n * sizeof *fi);
    ck_assert_int_eq(engine_run_with_features(ei, si, input, logits, fi, n),
                     n);
    double dot = 0;
    for (int i = 0; i < n; i++)
      dot += (double)f[i] * fi[i];
    printf("%s: integer engine features |f| %.7f, cosine with float %.5f\n",
           files[_i].file, l2_norm(fi, n), dot);
    ck_assert(fabs(l2_norm(fi, n) - 1.0) < 1e-5);
    ck_assert_msg(dot > 0.98, "cosine %g", dot);
    float *fo = malloc((size_t)n * sizeof *fo);
    ck_assert_int_eq(engine_run_features(ei, si, input, fo, n), n);
    ck_assert(memcmp(fo, fi, (size_t)n * sizeof *fo) == 0);
    free(fo);
    free(fi);
    engine_scratch_free(si);
    engine_free(ei);
  }
  free(f);
  free(logits);
  free(input);
  engine_scratch_free(s);
  engine_free(e);
  model_unref(m);
}
END_TEST

static Suite *
features_suite(void)
{
  Suite *s = suite_create("features");
  TCase *tc = tcase_create("built");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_feature_len, 0, N_NETS);
  tcase_add_loop_test(tc, test_features_are_classifier_input, 0, N_NETS);
  tcase_add_test(tc, test_features_room);
  suite_add_tcase(s, tc);
  tc = tcase_create("real");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_features_real, 0,
                      (int)(sizeof files / sizeof files[0]));
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  printf("seed %u\n", SEED);
  return tu_run_suite(features_suite());
}
