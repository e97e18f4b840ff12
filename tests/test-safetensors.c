/* The safetensors loader on valid files: the golden fixtures load,
 * batch-norm is folded and layouts converted as PyTorch defines them, a
 * convolution's own bias, a round trip through PyTorch's layouts with the
 * architecture inferred, F16/BF16 convert exactly and other dtypes are
 * refused. Broken files: test-safetensors-broken.c.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-util.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "safetensors-fixture.h"
#include "safetensors-load.h"
#include "testutil.h"

/* ---- valid files ---- */

START_TEST(test_fixtures_load)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  struct ss_model *m = load_ok(&f);
  ck_assert_int_eq(model_arch(m), MODEL_ARCH_MOBILENET_V2);
  ck_assert_float_eq(model_alpha(m), 0.25f);
  ck_assert_int_eq(model_input_width(m), 64);
  ck_assert_int_eq(model_num_outputs(m), 16);
  ck_assert_int_eq(model_class_offset(m), 0);
  ck_assert_int_eq(model_format(m), MODEL_FORMAT_SAFETENSORS);
  ck_assert_str_eq(model_name(m), "test");
  model_unref(m);
  stf_clear(&f);

  stf_load(V1_STEM, &f);
  m = load_ok(&f);
  ck_assert_int_eq(model_arch(m), MODEL_ARCH_MOBILENET_V1);
  ck_assert_float_eq(model_alpha(m), 0.25f);
  ck_assert_int_eq(model_input_width(m), 80);
  model_unref(m);

  /* The caller's resolution wins over the metadata's. */
  size_t size;
  uint8_t *buf = stf_build(&f, &size);
  struct ss_error err = { 0 };
  ck_assert_int_eq(model_load_safetensors_buffer(buf, size, NULL, 96, &m,
                                                 &err),
                   0);
  ck_assert_int_eq(model_input_width(m), 96);
  ck_assert_str_eq(model_name(m), "mobilenet_v1_0.25_96");
  model_unref(m);
  free(buf);
  stf_clear(&f);
}
END_TEST

START_TEST(test_no_metadata_infers)
{
  /* V2: no metadata at all (its eps is PyTorch's default 1e-5). */
  struct stf f;
  stf_load(V2_STEM, &f);
  struct ss_model *ref = load_ok(&f);
  json_object_del(f.header, "__metadata__");
  struct ss_model *m = load_ok(&f);
  ck_assert_int_eq(model_arch(m), MODEL_ARCH_MOBILENET_V2);
  ck_assert_float_eq(model_alpha(m), 0.25f);
  ck_assert_int_eq(model_num_outputs(m), 16); /* from classifier.1.weight */
  ck_assert_int_eq(model_input_width(m), 224); /* the default */
  assert_same_weights(ref, m, 0.0);
  model_unref(m);
  model_unref(ref);
  stf_clear(&f);

  /* V1: keep only bn_eps (1e-3, not the default). */
  stf_load(V1_STEM, &f);
  ref = load_ok(&f);
  json_object_set_new(f.header, "__metadata__",
                      json_pack("{s:s}", "bn_eps", "0.001"));
  m = load_ok(&f);
  ck_assert_int_eq(model_arch(m), MODEL_ARCH_MOBILENET_V1);
  ck_assert_float_eq(model_alpha(m), 0.25f);
  ck_assert_int_eq(model_num_outputs(m), 16);
  assert_same_weights(ref, m, 0.0);
  model_unref(m);

  /* Without bn_eps the default 1e-5 is used: the folded weights change. */
  json_object_del(f.header, "__metadata__");
  m = load_ok(&f);
  const struct model_layer *a = find_layer(ref, "features.5.0");
  const struct model_layer *b = find_layer(m, "features.5.0");
  int differ = 0;
  for (size_t k = 0; k < model_layer_weight_count(a); k++)
    differ += a->weight[k] != b->weight[k];
  ck_assert_int_gt(differ, 0);
  model_unref(m);
  model_unref(ref);
  stf_clear(&f);
}
END_TEST

/* The fold and the layout change, recomputed here in double from the raw
 * tensors for a dense conv, a depthwise conv and a V2 projection (whose BN is
 * "conv.3" after "conv.2"). */
START_TEST(test_fold_and_layout)
{
  static const struct {
    const char *conv, *bn;
    int depthwise;
  } cases[] = {
    { "features.0.0", "features.0.1", 0 },
    { "features.2.conv.1.0", "features.2.conv.1.1", 1 },
    { "features.2.conv.2", "features.2.conv.3", 0 },
    { "features.18.0", "features.18.1", 0 },
  };
  const double eps = 1e-5;
  struct stf f;
  stf_load(V2_STEM, &f);
  struct ss_model *m = load_ok(&f);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char name[128];
    size_t nw, n;
    snprintf(name, sizeof name, "%s.weight", cases[c].conv);
    const float *w = f32_data(&f, name, &nw);
    json_t *shape = json_object_get(stf_tensor(&f, name), "shape");
    int cout = (int)json_integer_value(json_array_get(shape, 0));
    int cin = (int)json_integer_value(json_array_get(shape, 1));
    int kh = (int)json_integer_value(json_array_get(shape, 2));
    int kw = (int)json_integer_value(json_array_get(shape, 3));
    const float *bn[4];
    static const char *parts[4] = { "weight", "bias", "running_mean",
                                    "running_var" };
    for (int p = 0; p < 4; p++) {
      snprintf(name, sizeof name, "%s.%s", cases[c].bn, parts[p]);
      bn[p] = f32_data(&f, name, &n);
      ck_assert_uint_eq(n, (size_t)cout);
    }
    const struct model_layer *l = find_layer(m, cases[c].conv);
    ck_assert_uint_eq(model_layer_weight_count(l), nw);
    for (int o = 0; o < cout; o++) {
      double s = bn[0][o] / sqrt((double)bn[3][o] + eps);
      double b = bn[1][o] - bn[2][o] * s;
      ck_assert_msg(fabs(l->bias[o] - b) <= 1e-6 * fabs(b) + 1e-7,
                    "%s bias[%d] %.9g vs %.9g", cases[c].conv, o,
                    (double)l->bias[o], b);
      for (int ci = 0; ci < cin; ci++)
        for (int y = 0; y < kh; y++)
          for (int x = 0; x < kw; x++) {
            double want = w[((o * cin + ci) * kh + y) * kw + x] * s;
            float got = cases[c].depthwise
                            ? l->weight[(y * kw + x) * cout + o]
                            : l->weight[((o * kh + y) * kw + x) * cin + ci];
            ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want),
                          "%s [%d][%d][%d][%d]: %.9g vs %.9g", cases[c].conv,
                          o, ci, y, x, (double)got, want);
          }
    }
  }
  model_unref(m);
  stf_clear(&f);
}
END_TEST

/* A convolution with its own bias and no batch-norm: fold features.0 by hand
 * into new tensors, drop its BN, and the loaded layer is the same. */
START_TEST(test_conv_bias_without_bn)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  struct ss_model *ref = load_ok(&f);
  size_t nw, n;
  const float *w = f32_data(&f, "features.0.0.weight", &nw);
  const float *g = f32_data(&f, "features.0.1.weight", &n);
  const float *beta = f32_data(&f, "features.0.1.bias", &n);
  const float *mean = f32_data(&f, "features.0.1.running_mean", &n);
  const float *var = f32_data(&f, "features.0.1.running_var", &n);
  float *nwt = malloc(nw * sizeof *nwt), *nb = malloc(n * sizeof *nb);
  ck_assert(nwt && nb);
  for (size_t o = 0; o < n; o++) {
    double s = g[o] / sqrt((double)var[o] + 1e-5);
    nb[o] = (float)(beta[o] - mean[o] * s);
    for (size_t k = 0; k < nw / n; k++)
      nwt[o * (nw / n) + k] = (float)(w[o * (nw / n) + k] * s);
  }
  const int64_t wshape[4] = { (int64_t)n, 3, 3, 3 }, bshape[1] = { (int64_t)n };
  stf_replace(&f, "features.0.0.weight", "F32", wshape, 4, nwt,
              nw * sizeof *nwt);
  stf_replace(&f, "features.0.0.bias", "F32", bshape, 1, nb, n * sizeof *nb);
  static const char *parts[] = { "weight", "bias", "running_mean",
                                 "running_var", "num_batches_tracked" };
  for (size_t p = 0; p < 5; p++) {
    char name[64];
    snprintf(name, sizeof name, "features.0.1.%s", parts[p]);
    ck_assert_int_eq(json_object_del(f.header, name), 0);
  }
  struct ss_model *m = load_ok(&f);
  assert_same_weights(ref, m, 1e-6);
  model_unref(m);

  /* And with neither BN nor bias, the error says what is missing. */
  json_object_del(f.header, "features.0.0.bias");
  expect_error(&f, "'features.0.1.weight' is missing", "'features.0.0.bias'");
  model_unref(ref);
  free(nwt);
  free(nb);
  stf_clear(&f);
}
END_TEST

/* Round trip through PyTorch's layouts: a built graph with random weights is
 * written the way PyTorch would store it, each layer with its own bias and
 * no batch-norm and no metadata, so that the architecture, the width
 * multiplier (not always the first candidate) and the class count must all
 * be inferred. The loaded weights must be bit-identical. */
static const struct {
  enum model_arch arch;
  float alpha;
} roundtrip_cases[] = {
  { MODEL_ARCH_MOBILENET_V1, 0.5f },  { MODEL_ARCH_MOBILENET_V1, 0.75f },
  { MODEL_ARCH_MOBILENET_V2, 0.35f }, { MODEL_ARCH_MOBILENET_V2, 0.5f },
  { MODEL_ARCH_MOBILENET_V2, 0.75f },
};

START_TEST(test_roundtrip_inferred)
{
  const uint64_t seed = 0x5afe7e45u + (uint64_t)_i;
  printf("roundtrip case %d, seed %llu\n", _i, (unsigned long long)seed);
  struct tu_rng rng;
  tu_rng_seed(&rng, seed);
  struct ss_model *built = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(mobilenet_build(roundtrip_cases[_i].arch,
                                   roundtrip_cases[_i].alpha, 32,
                                   MODEL_PAD_RULE_SYMMETRIC, 10, &built, &err),
                   0);
  struct stf f = { .header = json_object() };
  for (int i = 0; i < built->n_layers; i++) {
    struct model_layer *l = &built->layers[i];
    size_t n = model_layer_weight_count(l);
    if (!n)
      continue;
    tu_rng_fill(&rng, l->weight, n, -1.0f, 1.0f);
    tu_rng_fill(&rng, l->bias, (size_t)l->cout, -1.0f, 1.0f);
    float *t = malloc(n * sizeof *t);
    ck_assert_ptr_nonnull(t);
    int64_t shape[4] = { l->cout, l->cin, l->kh, l->kw };
    int rank = 4;
    for (int o = 0; o < l->cout; o++)
      for (int ci = 0; ci < l->cin; ci++)
        for (int y = 0; y < l->kh; y++)
          for (int x = 0; x < l->kw; x++) {
            if (l->kind == MODEL_LAYER_CONV) /* ours [o][y][x][ci] */
              t[((o * l->cin + ci) * l->kh + y) * l->kw + x] =
                  l->weight[((o * l->kh + y) * l->kw + x) * l->cin + ci];
            else if (l->kind == MODEL_LAYER_DWCONV && ci == 0) /* [y][x][c] */
              t[(o * l->kh + y) * l->kw + x] =
                  l->weight[(y * l->kw + x) * l->cout + o];
            else if (l->kind == MODEL_LAYER_FC)
              t[o * l->cin + ci] = l->weight[o * l->cin + ci];
          }
    if (l->kind == MODEL_LAYER_DWCONV)
      shape[1] = 1;
    if (l->kind == MODEL_LAYER_FC)
      rank = 2;
    char name[SS_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.weight", l->name);
    stf_replace(&f, name, "F32", shape, rank, t, n * sizeof *t);
    snprintf(name, sizeof name, "%s.bias", l->name);
    stf_replace(&f, name, "F32", shape, 1, l->bias,
                (size_t)l->cout * sizeof(float));
    free(t);
  }
  struct ss_model *m = load_ok(&f);
  ck_assert_int_eq(model_arch(m), roundtrip_cases[_i].arch);
  ck_assert_float_eq(model_alpha(m), roundtrip_cases[_i].alpha);
  ck_assert_int_eq(model_num_outputs(m), 10);
  assert_same_weights(built, m, 0.0);
  model_unref(m);

  /* A wrong shape in a file without metadata: the error says which width
   * multiplier was inferred, then names the tensor. */
  const char *t = "features.0.0.weight";
  json_t *shape = json_object_get(stf_tensor(&f, t), "shape");
  json_int_t c = json_integer_value(json_array_get(shape, 0));
  json_object_set_new(stf_tensor(&f, t), "shape",
                      json_pack("[I, i, i, i]", c, 3, 1, 9));
  expect_error(&f, "(width multiplier inferred): tensor 'features.0.0.weight'"
                   ": shape",
               NULL);
  model_unref(built);
  stf_clear(&f);
}
END_TEST

/* ---- F16 / BF16 ---- */

/* Bit patterns with their exact values: normals, the largest finite, the
 * smallest normal, subnormals and signed zero. */
static const struct {
  uint16_t bits;
  float value;
} f16_cases[] = {
  { 0x0000, 0.0f },           { 0x8000, -0.0f },
  { 0x3c00, 1.0f },           { 0xc000, -2.0f },
  { 0x3800, 0.5f },           { 0x3555, 0.333251953125f },
  { 0x4248, 3.140625f },      { 0x7bff, 65504.0f },
  { 0xfbff, -65504.0f },      { 0x0400, 6.103515625e-05f },   /* 2^-14 */
  { 0x0001, 5.9604644775390625e-08f },                        /* 2^-24 */
  { 0x83ff, -6.0975551605224609375e-05f },                    /* 1023 * 2^-24 */
};

static const struct {
  uint16_t bits;
  float value;
} bf16_cases[] = {
  { 0x0000, 0.0f },           { 0x8000, -0.0f },
  { 0x3f80, 1.0f },           { 0xc040, -3.0f },
  { 0x4049, 3.140625f },      { 0x3eab, 0.333984375f },
  { 0x7f7f, 3.38953139e38f },  /* the largest finite */
  { 0x0080, 1.17549435e-38f }, /* FLT_MIN */
  { 0x0001, 9.18354962e-41f }, /* 2^-133, subnormal */
  { 0xbf00, -0.5f },
};

/* Replaces the V2 classifier weight [16][1280] by a half-precision tensor
 * cycling through the given bit patterns and checks the loaded values. */
static void
check_half(const char *dtype, const uint16_t *bits, const float *values,
           size_t ncases)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  size_t n = 16 * 1280;
  uint8_t *bytes = malloc(2 * n);
  ck_assert_ptr_nonnull(bytes);
  for (size_t i = 0; i < n; i++) {
    bytes[2 * i] = (uint8_t)(bits[i % ncases] & 0xff);
    bytes[2 * i + 1] = (uint8_t)(bits[i % ncases] >> 8);
  }
  const int64_t shape[2] = { 16, 1280 };
  stf_replace(&f, "classifier.1.weight", dtype, shape, 2, bytes, 2 * n);
  struct ss_model *m = load_ok(&f);
  const struct model_layer *l = find_layer(m, "classifier.1");
  ck_assert_int_eq(l->kind, MODEL_LAYER_FC);
  for (size_t i = 0; i < n; i++) {
    float want = values[i % ncases];
    ck_assert_msg(l->weight[i] == want &&
                      signbit(l->weight[i]) == signbit(want),
                  "%s 0x%04x: got %.9g, want %.9g", dtype, bits[i % ncases],
                  (double)l->weight[i], (double)want);
  }
  model_unref(m);

  /* Infinity and NaN are refused, naming the tensor and element. */
  uint16_t inf = strcmp(dtype, "F16") == 0 ? 0x7c00 : 0x7f80;
  bytes[2 * 77] = (uint8_t)(inf & 0xff);
  bytes[2 * 77 + 1] = (uint8_t)(inf >> 8);
  stf_replace(&f, "classifier.1.weight", dtype, shape, 2, bytes, 2 * n);
  expect_error(&f, "tensor 'classifier.1.weight': element 77 is not finite",
               NULL);
  free(bytes);
  stf_clear(&f);
}

START_TEST(test_f16_values)
{
  uint16_t bits[16];
  float values[16];
  size_t n = sizeof f16_cases / sizeof *f16_cases;
  for (size_t i = 0; i < n; i++) {
    bits[i] = f16_cases[i].bits;
    values[i] = f16_cases[i].value;
  }
  check_half("F16", bits, values, n);
}
END_TEST

START_TEST(test_bf16_values)
{
  uint16_t bits[16];
  float values[16];
  size_t n = sizeof bf16_cases / sizeof *bf16_cases;
  for (size_t i = 0; i < n; i++) {
    bits[i] = bf16_cases[i].bits;
    values[i] = bf16_cases[i].value;
  }
  check_half("BF16", bits, values, n);
}
END_TEST

START_TEST(test_dtypes)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  json_t *t = stf_tensor(&f, "features.3.conv.1.0.weight");
  json_object_set_new(t, "dtype", json_string("Q4_K"));
  expect_error(&f, "tensor 'features.3.conv.1.0.weight'",
               "unknown dtype 'Q4_K'");
  /* a valid safetensors dtype that the loader does not convert (I32 has the
   * same element size as F32, so the offsets stay consistent) */
  json_object_set_new(t, "dtype", json_string("I32"));
  expect_error(&f, "tensor 'features.3.conv.1.0.weight'",
               "dtype I32 is not supported");
  /* F16 with F32's byte count: the sizes no longer agree */
  json_object_set_new(t, "dtype", json_string("F16"));
  expect_error(&f, "tensor 'features.3.conv.1.0.weight'", "bytes");
  stf_clear(&f);
}
END_TEST

static Suite *
safetensors_suite(void)
{
  Suite *s = suite_create("safetensors");
  TCase *tc = tcase_create("valid");
  tcase_add_test(tc, test_fixtures_load);
  tcase_add_test(tc, test_no_metadata_infers);
  tcase_add_test(tc, test_fold_and_layout);
  tcase_add_test(tc, test_conv_bias_without_bn);
  tcase_add_loop_test(tc, test_roundtrip_inferred, 0,
                      sizeof roundtrip_cases / sizeof *roundtrip_cases);
  suite_add_tcase(s, tc);

  tc = tcase_create("dtypes");
  tcase_add_test(tc, test_f16_values);
  tcase_add_test(tc, test_bf16_values);
  tcase_add_test(tc, test_dtypes);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(safetensors_suite());
}
