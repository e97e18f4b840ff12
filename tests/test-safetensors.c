/* The safetensors loader: valid files load, batch-norm is folded and layouts
 * converted as PyTorch defines them, F16/BF16 convert exactly, and broken
 * files (generated here from the golden fixtures: truncated, bad header,
 * offsets out of range, wrong dtype, missing/extra/misshapen tensors, bad
 * metadata) give an error naming the tensor or offset, never a crash. This
 * suite runs under ASan/UBSan and valgrind: every broken file is loaded from a
 * buffer of exactly its size.
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
#include "safetensors-load.h"
#include "testutil.h"

#define V2_STEM "mobilenet_v2_0.25_64" /* F32, bn_eps 1e-5 */
#define V1_STEM "mobilenet_v1_0.25_80" /* F16, bn_eps 1e-3 */

/* ---- a safetensors file taken apart for editing ---- */

struct stf {
  json_t *header;
  uint8_t *data; /* the data section, owned */
  size_t data_size;
  size_t data_cap; /* allocated bytes of data */
};

static uint8_t *
read_fixture(const char *stem, size_t *size)
{
  char rel[256], path[512];
  snprintf(rel, sizeof rel, "golden/%s.safetensors", stem);
  tu_fixture_path(rel, path, sizeof path);
  uint8_t *data;
  struct ss_error err = { 0 };
  ck_assert_msg(file_read_all(path, 16u << 20, &data, size, &err) == 0, "%s",
                err.message);
  return data;
}

static void
stf_load(const char *stem, struct stf *f)
{
  size_t size;
  uint8_t *buf = read_fixture(stem, &size);
  ck_assert_uint_ge(size, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | buf[i];
  ck_assert_uint_le(n, size - 8);
  json_error_t jerr;
  f->header = json_loadb((const char *)buf + 8, n, 0, &jerr);
  ck_assert_msg(f->header != NULL, "%s: %s", stem, jerr.text);
  f->data_size = f->data_cap = size - 8 - n;
  f->data = malloc(f->data_size);
  ck_assert_ptr_nonnull(f->data);
  memcpy(f->data, buf + 8 + n, f->data_size);
  free(buf);
}

static void
stf_clear(struct stf *f)
{
  json_decref(f->header);
  free(f->data);
}

/* Serialises header + data; the header is padded with spaces to 8 bytes as
 * the reference writer does. */
static uint8_t *
stf_build(const struct stf *f, size_t *size)
{
  char *text = json_dumps(f->header, JSON_COMPACT);
  ck_assert_ptr_nonnull(text);
  size_t n = strlen(text), padded = (n + 7) / 8 * 8;
  *size = 8 + padded + f->data_size;
  uint8_t *buf = malloc(*size);
  ck_assert_ptr_nonnull(buf);
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)(padded >> (8 * i));
  memcpy(buf + 8, text, n);
  memset(buf + 8 + n, ' ', padded - n);
  memcpy(buf + 8 + padded, f->data, f->data_size);
  free(text);
  return buf;
}

static json_t *
stf_tensor(const struct stf *f, const char *name)
{
  json_t *t = json_object_get(f->header, name);
  ck_assert_msg(t != NULL, "fixture has no tensor '%s'", name);
  return t;
}

/* Appends bytes to the data section; returns their begin offset. */
static size_t
stf_append(struct stf *f, const void *bytes, size_t n)
{
  if (f->data_size + n > f->data_cap) { /* grow geometrically */
    size_t cap = 2 * (f->data_size + n);
    uint8_t *d = realloc(f->data, cap);
    ck_assert_ptr_nonnull(d);
    f->data = d;
    f->data_cap = cap;
  }
  memcpy(f->data + f->data_size, bytes, n);
  f->data_size += n;
  return f->data_size - n;
}

/* Points a tensor at new data with a new dtype and shape. */
static void
stf_replace(struct stf *f, const char *name, const char *dtype,
            const int64_t *shape, int rank, const void *bytes, size_t n)
{
  json_t *t = json_object_get(f->header, name);
  if (!t) {
    t = json_object();
    json_object_set_new(f->header, name, t);
  }
  size_t begin = stf_append(f, bytes, n);
  json_t *js = json_array();
  for (int i = 0; i < rank; i++)
    json_array_append_new(js, json_integer(shape[i]));
  json_object_set_new(t, "dtype", json_string(dtype));
  json_object_set_new(t, "shape", js);
  json_object_set_new(t, "data_offsets",
                      json_pack("[I, I]", (json_int_t)begin,
                                (json_int_t)(begin + n)));
}

static void
set_offsets(struct stf *f, const char *name, json_int_t begin, json_int_t end)
{
  json_object_set_new(stf_tensor(f, name), "data_offsets",
                      json_pack("[I, I]", begin, end));
}

static void
set_meta(struct stf *f, const char *key, const char *value)
{
  json_t *meta = json_object_get(f->header, "__metadata__");
  ck_assert_ptr_nonnull(meta);
  if (value)
    json_object_set_new(meta, key, json_string(value));
  else
    json_object_del(meta, key);
}

/* Element count and F32 values of a tensor of the (F32) fixture. */
static const float *
f32_data(const struct stf *f, const char *name, size_t *numel)
{
  json_t *t = stf_tensor(f, name);
  ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), "F32");
  json_t *offs = json_object_get(t, "data_offsets");
  size_t begin = (size_t)json_integer_value(json_array_get(offs, 0));
  size_t end = (size_t)json_integer_value(json_array_get(offs, 1));
  ck_assert(begin % 4 == 0 && end <= f->data_size);
  *numel = (end - begin) / 4;
  return (const float *)(f->data + begin);
}

/* ---- loading ---- */

/* Loads buf[0..size) from a copy of exactly that size, so that ASan and
 * valgrind see any read past the end. */
static int
load_exact(const uint8_t *buf, size_t size, struct ss_model **m,
           struct ss_error *err)
{
  uint8_t *copy = malloc(size ? size : 1);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, buf, size);
  int rc = model_load_safetensors_buffer(copy, size, "test", 0, m, err);
  free(copy);
  return rc;
}

static struct ss_model *
load_ok(const struct stf *f)
{
  size_t size;
  uint8_t *buf = stf_build(f, &size);
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  int rc = load_exact(buf, size, &m, &err);
  free(buf);
  ck_assert_msg(rc == 0, "load failed: %s", err.message);
  ck_assert_ptr_nonnull(m);
  return m;
}

/* Asserts that loading fails with a message holding both needles (the second
 * may be NULL), and that the out-parameter is left alone. */
static void
expect_error_buf(const uint8_t *buf, size_t size, const char *needle,
                 const char *needle2)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  int rc = load_exact(buf, size, &m, &err);
  printf("  %zu bytes -> %s\n", size, rc ? err.message : "loaded");
  ck_assert_msg(rc < 0, "a broken file loaded (%zu bytes; wanted '%s')", size,
                needle);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(err.code, rc);
  ck_assert_msg(strstr(err.message, needle) != NULL,
                "message '%s' lacks '%s'", err.message, needle);
  ck_assert_msg(!needle2 || strstr(err.message, needle2) != NULL,
                "message '%s' lacks '%s'", err.message, needle2);
}

static void
expect_error(const struct stf *f, const char *needle, const char *needle2)
{
  size_t size;
  uint8_t *buf = stf_build(f, &size);
  expect_error_buf(buf, size, needle, needle2);
  free(buf);
}

static const struct model_layer *
find_layer(const struct ss_model *m, const char *name)
{
  for (int i = 0; i < m->n_layers; i++)
    if (strcmp(m->layers[i].name, name) == 0)
      return &m->layers[i];
  ck_abort_msg("model has no layer '%s'", name);
  return NULL;
}

/* Every layer's weights and bias are identical (bit for bit when tol == 0).
 * One assertion per layer: Check's assertions are too slow to make one per
 * element under valgrind. */
static void
assert_same_weights(const struct ss_model *a, const struct ss_model *b,
                    double tol)
{
  ck_assert_int_eq(a->n_layers, b->n_layers);
  for (int i = 0; i < a->n_layers; i++) {
    const struct model_layer *la = &a->layers[i], *lb = &b->layers[i];
    ck_assert_str_eq(la->name, lb->name);
    size_t n = model_layer_weight_count(la);
    ck_assert_uint_eq(n, model_layer_weight_count(lb));
    size_t bad_w = n, bad_b = n;
    for (size_t k = 0; k < n && bad_w == n; k++)
      if (!(fabs(la->weight[k] - lb->weight[k]) <= tol * fabs(la->weight[k])))
        bad_w = k;
    for (size_t k = 0; n && k < (size_t)la->cout && bad_b == n; k++)
      if (!(fabs(la->bias[k] - lb->bias[k]) <=
            tol * fabs(la->bias[k]) + tol * 1e-3))
        bad_b = k;
    ck_assert_msg(bad_w == n, "%s weight[%zu]: %.9g vs %.9g", la->name, bad_w,
                  bad_w < n ? (double)la->weight[bad_w] : 0.0,
                  bad_w < n ? (double)lb->weight[bad_w] : 0.0);
    ck_assert_msg(bad_b == n, "%s bias[%zu]: %.9g vs %.9g", la->name, bad_b,
                  bad_b < n ? (double)la->bias[bad_b] : 0.0,
                  bad_b < n ? (double)lb->bias[bad_b] : 0.0);
  }
}

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

/* ---- broken files ---- */

/* Truncation points: the first bytes one by one, around the header's end,
 * then spread over the data section, and the last bytes. */
#define N_TRUNCATIONS 64

START_TEST(test_truncated)
{
  size_t size;
  uint8_t *buf = read_fixture(V2_STEM, &size);
  size_t header_end = 8;
  for (int i = 7; i >= 0; i--)
    header_end += (size_t)buf[i] << (8 * i); /* below 2^32 for the fixture */
  size_t len;
  if (_i < 12)
    len = (size_t)_i; /* 0 .. 11 */
  else if (_i < 24)
    len = header_end - 6 + (size_t)(_i - 12); /* header_end - 6 .. + 5 */
  else if (_i < 60)
    len = header_end + (size - header_end) / 37 * (size_t)(_i - 23);
  else
    len = size - (size_t)(64 - _i); /* size - 4 .. size - 1 */
  ck_assert_uint_lt(len, size);
  if (len < 8)
    expect_error_buf(buf, len, "shorter than the 8-byte header length", NULL);
  else if (len < header_end)
    expect_error_buf(buf, len, "header length", "> file size - 8");
  else /* the header parses; some tensor now ends past the data */
    expect_error_buf(buf, len, "tensor '", "end offset");
  free(buf);
}
END_TEST

START_TEST(test_header_length_absurd)
{
  size_t size;
  uint8_t *buf = read_fixture(V2_STEM, &size);
  static const uint64_t lengths[] = { UINT64_MAX, 1ull << 63, 1ull << 40,
                                      0xffffffffull };
  for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
    for (int i = 0; i < 8; i++)
      buf[i] = (uint8_t)(lengths[k] >> (8 * i));
    expect_error_buf(buf, size, "header length", NULL);
  }
  /* one byte more than the file holds after the length */
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)((uint64_t)(size - 7) >> (8 * i));
  expect_error_buf(buf, size, "header length", "> file size - 8");
  /* zero-length header */
  memset(buf, 0, 8);
  expect_error_buf(buf, size, "header", "'{'");
  free(buf);
}
END_TEST

static void
expect_header_error(const char *header, const char *needle)
{
  size_t n = strlen(header);
  size_t size = 8 + n + 16;
  uint8_t *buf = calloc(1, size);
  ck_assert_ptr_nonnull(buf);
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
  memcpy(buf + 8, header, n);
  expect_error_buf(buf, size, needle, NULL);
  free(buf);
}

START_TEST(test_header_not_json)
{
  expect_header_error("{not json at all", "not valid JSON");
  expect_header_error("{\"a\": {\"dtype\": \"F32\"", "not valid JSON");
  expect_header_error("{\"a\": 1} trailing", "not valid JSON");
  expect_header_error("{\"a\": 1, \"a\": 2}", "not valid JSON"); /* dup key */
  expect_header_error("[1, 2, 3]", "does not start with '{'");
  expect_header_error("{}", "no tensors");
  expect_header_error("{\"__metadata__\": {}}", "no tensors");
  expect_header_error("{\"__metadata__\": [], \"x\": {}}",
                      "__metadata__ is not an object");
  expect_header_error("{\"__metadata__\": {\"alpha\": 0.5}, \"x\": {}}",
                      "__metadata__ 'alpha': value is not a string");
  expect_header_error("{\"x\": 3}", "tensor 'x': entry is not an object");
  expect_header_error("{\"x\": {\"shape\": [], \"data_offsets\": [0, 0]}}",
                      "tensor 'x': no \"dtype\"");
  expect_header_error("{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}",
                      "tensor 'x': no \"shape\"");
  expect_header_error("{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}",
                      "tensor 'x': \"data_offsets\" is not");
  expect_header_error("{\"x\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,"
                      "1,1], \"data_offsets\": [0, 4]}}",
                      "tensor 'x': rank 9");
  expect_header_error("{\"x\": {\"dtype\": \"F32\", \"shape\": [-1], "
                      "\"data_offsets\": [0, 4]}}",
                      "tensor 'x': shape dimension 0");
  expect_header_error("{\"x\": {\"dtype\": \"F32\", \"shape\": [1.5], "
                      "\"data_offsets\": [0, 4]}}",
                      "tensor 'x': shape dimension 0");
  /* a huge shape whose byte count would overflow size_t */
  expect_header_error("{\"x\": {\"dtype\": \"F32\", \"shape\": [2147483647, "
                      "2147483647, 2147483647, 2147483647], "
                      "\"data_offsets\": [0, 4]}}",
                      "tensor 'x': data_offsets [0, 4] hold 4 bytes; F32 "
                      "[2147483647,2147483647,2147483647,2147483647] is far "
                      "larger");
}
END_TEST

START_TEST(test_offsets)
{
  const char *t = "features.5.conv.0.0.weight";
  struct stf f;
  stf_load(V2_STEM, &f);
  json_t *offs = json_object_get(stf_tensor(&f, t), "data_offsets");
  json_int_t begin = json_integer_value(json_array_get(offs, 0));
  json_int_t end = json_integer_value(json_array_get(offs, 1));
  json_int_t ds = (json_int_t)f.data_size;
  char needle[128];

  /* past the data section (keeping the size consistent) */
  set_offsets(&f, t, ds - (end - begin) + 4, ds + 4);
  snprintf(needle, sizeof needle, "end offset %lld > data size %lld",
           (long long)(ds + 4), (long long)ds);
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", needle);
  set_offsets(&f, t, INT64_MAX - 8, INT64_MAX);
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", "end offset");
  /* inconsistent with the shape */
  set_offsets(&f, t, begin, end - 4);
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", "bytes");
  set_offsets(&f, t, begin + 4, end);
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", "bytes");
  /* reversed, negative, not integers */
  set_offsets(&f, t, end, begin);
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'",
               "begin offset");
  set_offsets(&f, t, -4, end - begin - 4);
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", "negative");
  json_object_set_new(stf_tensor(&f, t), "data_offsets",
                      json_pack("[f, f]", 0.0, 16.0));
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", "data_offsets");
  json_object_set_new(stf_tensor(&f, t), "data_offsets",
                      json_pack("[I]", begin));
  expect_error(&f, "tensor 'features.5.conv.0.0.weight'", "data_offsets");

  /* overlapping is allowed: point the tensor at the start of the data */
  set_offsets(&f, t, 0, end - begin);
  struct ss_model *m = load_ok(&f);
  model_unref(m);
  stf_clear(&f);
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

START_TEST(test_missing_tensors)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  json_object_del(f.header, "features.3.conv.1.0.weight");
  expect_error(&f, "tensor 'features.3.conv.1.0.weight' is missing", NULL);
  stf_clear(&f);

  stf_load(V2_STEM, &f);
  json_object_del(f.header, "features.7.conv.3.running_var");
  expect_error(&f, "tensor 'features.7.conv.3.running_var' is missing", NULL);
  stf_clear(&f);

  stf_load(V2_STEM, &f);
  json_object_del(f.header, "classifier.1.bias");
  expect_error(&f, "tensor 'classifier.1.bias' is missing", NULL);
  stf_clear(&f);

  /* a whole batch-norm gone: the error names it and the missing bias */
  stf_load(V1_STEM, &f);
  json_object_del(f.header, "features.4.4.weight");
  expect_error(&f, "'features.4.4.weight' is missing", "'features.4.3.bias'");
  stf_clear(&f);
}
END_TEST

START_TEST(test_wrong_shape)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  /* Claim 96 more depthwise channels than features.3 has, pointing at
   * enough (overlapping) bytes that only the shape is wrong. */
  const char *t = "features.3.conv.1.0.weight";
  json_t *shape = json_object_get(stf_tensor(&f, t), "shape");
  int c = (int)json_integer_value(json_array_get(shape, 0));
  json_object_set_new(stf_tensor(&f, t), "shape",
                      json_pack("[i, i, i, i]", c + 96, 1, 3, 3));
  set_offsets(&f, t, 0, (c + 96) * 9 * 4);
  char needle[160];
  snprintf(needle, sizeof needle,
           "tensor 'features.3.conv.1.0.weight': shape [%d,1,3,3], expected "
           "[%d,1,3,3]",
           c + 96, c);
  expect_error(&f, needle, NULL);
  stf_clear(&f);

  /* same element count, transposed: [cin][cout][1][1] */
  stf_load(V2_STEM, &f);
  t = "features.4.conv.2.weight";
  shape = json_object_get(stf_tensor(&f, t), "shape");
  json_int_t co = json_integer_value(json_array_get(shape, 0));
  json_int_t ci = json_integer_value(json_array_get(shape, 1));
  ck_assert_int_ne(co, ci);
  json_object_set_new(stf_tensor(&f, t), "shape",
                      json_pack("[I, I, i, i]", ci, co, 1, 1));
  expect_error(&f, "tensor 'features.4.conv.2.weight': shape", "expected");
  stf_clear(&f);

  /* a BN vector of the wrong length */
  stf_load(V1_STEM, &f);
  t = "features.6.1.running_mean";
  json_object_set_new(stf_tensor(&f, t), "shape", json_pack("[i]", 3));
  set_offsets(&f, t, 0, 6);
  expect_error(&f, "tensor 'features.6.1.running_mean': shape [3], expected",
               NULL);
  stf_clear(&f);
}
END_TEST

START_TEST(test_extra_tensors)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  const int64_t shape[1] = { 1 };
  const float one = 1.0f;
  /* num_batches_tracked is tolerated wherever it appears */
  stf_replace(&f, "features.99.1.num_batches_tracked", "F32", shape, 1, &one,
              sizeof one);
  struct ss_model *m = load_ok(&f);
  model_unref(m);
  stf_replace(&f, "features.19.weight", "F32", shape, 1, &one, sizeof one);
  expect_error(&f, "unexpected tensor 'features.19.weight'", NULL);
  stf_clear(&f);

  /* a V1 file claimed to be V2 must not load silently */
  stf_load(V1_STEM, &f);
  set_meta(&f, "arch", "mobilenet_v2");
  expect_error(&f, "tensor 'features.1.conv.0.0.weight' is missing", NULL);
  stf_clear(&f);
}
END_TEST

START_TEST(test_bad_metadata)
{
  struct stf f;
  stf_load(V2_STEM, &f);
  set_meta(&f, "arch", "resnet50");
  expect_error(&f, "__metadata__ 'arch' is 'resnet50'", NULL);
  set_meta(&f, "arch", "mobilenet_v2");
  /* alpha 0.5 on a 0.25 file: the first conv has 8 channels, not 16 */
  set_meta(&f, "alpha", "0.5");
  expect_error(&f, "tensor 'features.0.0.weight': shape [8,3,3,3], expected "
                   "[16,3,3,3]",
               NULL);
  set_meta(&f, "alpha", "quarter");
  expect_error(&f, "__metadata__ 'alpha' is 'quarter'", NULL);
  set_meta(&f, "alpha", "0.25");
  set_meta(&f, "num_classes", "1000");
  expect_error(&f, "tensor 'classifier.1.weight': shape [16,1280], expected "
                   "[1000,1280]",
               NULL);
  set_meta(&f, "num_classes", "16.5");
  expect_error(&f, "'num_classes' is not an integer", NULL);
  set_meta(&f, "num_classes", "16");
  set_meta(&f, "bn_eps", "-1");
  expect_error(&f, "__metadata__ 'bn_eps' is '-1'", NULL);
  set_meta(&f, "bn_eps", "1e-5");
  set_meta(&f, "resolution", "100000");
  expect_error(&f, "__metadata__ 'resolution' is '100000'", NULL);
  set_meta(&f, "resolution", "64.5");
  expect_error(&f, "'resolution' is not an integer", NULL);
  set_meta(&f, "resolution", "64");
  struct ss_model *m = load_ok(&f);
  model_unref(m);

  /* no metadata and no recognisable names */
  json_object_del(f.header, "__metadata__");
  json_object_del(f.header, "features.1.conv.0.0.weight");
  expect_error(&f, "neither 'features.1.conv.0.0.weight'", NULL);
  stf_clear(&f);
}
END_TEST

START_TEST(test_model_load_path)
{
  /* model_load() reads the file and prefixes errors with its path */
  size_t size;
  uint8_t *buf = read_fixture(V1_STEM, &size);
  char path[512];
  snprintf(path, sizeof path, "%s/truncated.safetensors", tu_tmp_dir());
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fwrite(buf, 1, size - 100, fp), size - 100);
  fclose(fp);
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_lt(model_load(path, &m, &err), 0);
  ck_assert_ptr_null(m);
  printf("  %s\n", err.message);
  ck_assert(strstr(err.message, path) == err.message);
  ck_assert(strstr(err.message, "end offset") != NULL);
  remove(path);
  free(buf);
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

  tc = tcase_create("broken");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_truncated, 0, N_TRUNCATIONS);
  tcase_add_test(tc, test_header_length_absurd);
  tcase_add_test(tc, test_header_not_json);
  tcase_add_test(tc, test_offsets);
  tcase_add_test(tc, test_missing_tensors);
  tcase_add_test(tc, test_wrong_shape);
  tcase_add_test(tc, test_extra_tensors);
  tcase_add_test(tc, test_bad_metadata);
  tcase_add_test(tc, test_model_load_path);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(safetensors_suite());
}
