/* TFLite loader: the generated fixtures reproduce numpy's logits; broken
 * files (truncated, corrupted, offsets out of range, short weights, wrong
 * channels, bad labels zip) give an error naming where, never a crash; the
 * real models load with the right metadata and run.
 *
 * Fixtures: tests/fixtures/tflite, written by scripts/make-tflite-fixture.py.
 * Real models: $STREAMSIGHT_TEST_DATA/models (skipped when unset). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "file-util.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "preprocess.h"
#include "testutil.h"
#include "tflite-load.h"

#define SEED 20261128u
#define FILE_MAX (64u * 1024 * 1024)

/* ---- helpers ---- */

struct blob {
  uint8_t *data;
  size_t size;
};

static struct blob
read_fixture(const char *name)
{
  char path[1024];
  tu_fixture_path(name, path, sizeof path);
  struct blob b = { 0 };
  struct ss_error err = { 0 };
  int rc = file_read_all(path, FILE_MAX, &b.data, &b.size, &err);
  ck_assert_msg(rc == 0, "%s: %s", path, err.message);
  return b;
}

static uint32_t
rd32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static uint16_t
rd16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static void
wr32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* A minimal, unchecked navigation of a known-good flatbuffer, to aim the
 * corruptions below at specific fields. */
static uint32_t
fb_field_pos(const uint8_t *b, uint32_t table, int slot)
{
  uint32_t vt = table - rd32(b + table);
  uint16_t fo = rd16(b + vt + 4 + 2 * slot);
  ck_assert_msg(fo != 0, "slot %d absent in table at %u", slot, table);
  return table + fo;
}

static uint32_t
fb_follow(const uint8_t *b, uint32_t pos)
{
  return pos + rd32(b + pos);
}

/* Element i of the vector of tables at field slot of table. */
static uint32_t
fb_elem_table(const uint8_t *b, uint32_t table, int slot, uint32_t i)
{
  uint32_t vec = fb_follow(b, fb_field_pos(b, table, slot));
  return fb_follow(b, vec + 4 + 4 * i);
}

/* True when an error message says where: a table/field with a byte offset,
 * an operator or tensor index, or a named tensor/buffer. */
static bool
names_location(const char *msg)
{
  static const char *const keys[] = {
    " at ", "operator ", "tensor ", "buffer ", "offset", "'", "labels zip",
    "bytes is too short", "subgraph ",
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (strstr(msg, keys[i]))
      return true;
  return false;
}

static int
load(const uint8_t *data, size_t size, struct ss_model **m,
     struct ss_error *err)
{
  *m = NULL;
  memset(err, 0, sizeof *err);
  return model_load_tflite_buffer(data, size, "test", m, err);
}

/* Loads data that must fail; checks the message names a place. */
static void
expect_error(const uint8_t *data, size_t size, const char *what,
             const char *needle)
{
  struct ss_model *m;
  struct ss_error err;
  int rc = load(data, size, &m, &err);
  ck_assert_msg(rc < 0, "%s: loaded although broken", what);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(err.code, rc);
  ck_assert_msg(names_location(err.message), "%s: message '%s' names no place",
                what, err.message);
  if (needle)
    ck_assert_msg(strstr(err.message, needle) != NULL,
                  "%s: message '%s' lacks '%s'", what, err.message, needle);
}

/* Runs a model once through the reference kernels on a constant image;
 * returns the arg max of the logits (all checked finite when requested). */
static int
run_constant(struct ss_model *m, bool require_finite)
{
  struct ss_engine *e = NULL;
  struct ss_scratch *s = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(engine_new(m, KERN_ISA_REF, &e, &err) == 0, "%s",
                err.message);
  ck_assert_msg(engine_scratch_new(e, &s, &err) == 0, "%s", err.message);
  size_t n = (size_t)model_input_width(m) * model_input_height(m);
  uint8_t *rgb = malloc(n * 3);
  float *in = malloc(n * 3 * sizeof *in);
  float *logits = malloc((size_t)model_num_outputs(m) * sizeof *logits);
  ck_assert(rgb && in && logits);
  memset(rgb, 128, n * 3);
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  preprocess_normalize_rgb8(rgb, n, mean, std, in);
  engine_run(e, s, in, logits);
  int best = 0;
  for (int i = 0; i < model_num_outputs(m); i++) {
    if (require_finite)
      ck_assert_msg(isfinite(logits[i]), "logit %d = %g", i,
                    (double)logits[i]);
    if (logits[i] > logits[best])
      best = i;
  }
  free(rgb);
  free(in);
  free(logits);
  engine_scratch_free(s);
  engine_free(e);
  return best;
}

/* ---- fixtures: expected logits ---- */

struct expected {
  size_t fb_bytes;
  uint8_t input[4096];
  size_t n_input;
  float logits[64];
  size_t n_logits;
};

static void
read_expected(const char *name, struct expected *x)
{
  struct blob b = read_fixture(name);
  char *text = malloc(b.size + 1);
  ck_assert(text);
  memcpy(text, b.data, b.size);
  text[b.size] = '\0';
  memset(x, 0, sizeof *x);
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *p;
    if (!strncmp(line, "flatbuffer_bytes ", 17)) {
      x->fb_bytes = strtoul(line + 17, NULL, 10);
    } else if (!strncmp(line, "input_u8 ", 9)) {
      x->n_input = strtoul(line + 9, &p, 10);
      ck_assert(x->n_input <= sizeof x->input);
      for (size_t i = 0; i < x->n_input; i++)
        x->input[i] = (uint8_t)strtoul(p, &p, 10);
    } else if (!strncmp(line, "logits ", 7)) {
      x->n_logits = strtoul(line + 7, &p, 10);
      ck_assert(x->n_logits <= sizeof x->logits / sizeof x->logits[0]);
      for (size_t i = 0; i < x->n_logits; i++)
        x->logits[i] = strtof(p, &p);
    }
  }
  ck_assert_msg(x->fb_bytes && x->n_input && x->n_logits, "%s incomplete",
                name);
  free(text);
  free(b.data);
}

static const struct {
  const char *file, *expected;
  int size, outputs;
  bool quantized;
  const char *label0; /* NULL: no labels */
  float mean, std;
} fixtures[] = {
  { "tflite/tiny-quant.tflite", "tflite/tiny-quant.expected", 8, 10, true,
    "class_0", 128.0f, 128.0f },
  { "tflite/tiny-float.tflite", "tflite/tiny-float.expected", 9, 5, false,
    NULL, 127.5f, 127.5f },
};

START_TEST(test_fixture_logits)
{
  struct blob b = read_fixture(fixtures[_i].file);
  struct expected x;
  read_expected(fixtures[_i].expected, &x);
  struct ss_model *m;
  struct ss_error err;
  ck_assert_msg(load(b.data, b.size, &m, &err) == 0, "%s: %s",
                fixtures[_i].file, err.message);
  ck_assert_int_eq(model_format(m), MODEL_FORMAT_TFLITE);
  ck_assert_int_eq(model_pad_rule(m), MODEL_PAD_RULE_TF_SAME);
  ck_assert_int_eq(model_input_width(m), fixtures[_i].size);
  ck_assert_int_eq(model_input_height(m), fixtures[_i].size);
  ck_assert_int_eq(model_num_outputs(m), fixtures[_i].outputs);
  ck_assert_int_eq(model_class_offset(m), 0);
  ck_assert_int_eq(model_is_quantized(m), fixtures[_i].quantized);
  ck_assert_str_eq(model_name(m), "test");
  ck_assert_float_eq(model_alpha(m), 0.0f); /* too small for a MobileNet */
  if (fixtures[_i].label0) {
    ck_assert_msg(model_has_labels(m), "no labels from the zip");
    ck_assert_str_eq(model_label(m, 0), fixtures[_i].label0);
    ck_assert_str_eq(model_label(m, 9), "class_9");
  } else {
    ck_assert(!model_has_labels(m));
  }
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  for (int c = 0; c < 3; c++) {
    ck_assert_float_eq_tol(mean[c], fixtures[_i].mean, 1e-4f);
    ck_assert_float_eq_tol(std[c], fixtures[_i].std, 1e-3f);
  }
  ck_assert_uint_eq(x.n_input,
                    (size_t)fixtures[_i].size * fixtures[_i].size * 3);
  ck_assert_uint_eq(x.n_logits, (size_t)fixtures[_i].outputs);

  float in[4096], logits[64];
  preprocess_normalize_rgb8(x.input, x.n_input / 3, mean, std, in);
  const enum kern_isa isas[] = { KERN_ISA_REF, KERN_ISA_AUTO };
  for (size_t k = 0; k < 2; k++) {
    struct ss_engine *e;
    struct ss_scratch *s;
    ck_assert_msg(engine_new(m, isas[k], &e, &err) == 0, "%s", err.message);
    ck_assert_msg(engine_scratch_new(e, &s, &err) == 0, "%s", err.message);
    engine_run(e, s, in, logits);
    /* numpy computed in float64 from the same dequantised weights; the
     * engine accumulates at most 72 float32 products per output through
     * 7 layers, so 1e-4 absolute + 1e-4 relative is ample and still far
     * below any layout or padding mistake (those move logits by > 0.01). */
    for (size_t i = 0; i < x.n_logits; i++) {
      float tol = 1e-4f + 1e-4f * fabsf(x.logits[i]);
      ck_assert_msg(fabsf(logits[i] - x.logits[i]) <= tol,
                    "%s (%s): logit %zu = %.7g, numpy %.7g",
                    fixtures[_i].file, engine_isa_name(e), i,
                    (double)logits[i], (double)x.logits[i]);
    }
    engine_scratch_free(s);
    engine_free(e);
  }
  model_unref(m);
  free(b.data);
}
END_TEST

START_TEST(test_fixture_graph)
{
  /* PAD folded into the VALID depthwise, the residual ADD kept, MEAN as a
   * global pool, the FC classifier; QUANTIZE/DEQUANTIZE/SOFTMAX vanish. */
  struct blob b = read_fixture("tflite/tiny-quant.tflite");
  struct ss_model *m;
  struct ss_error err;
  ck_assert_msg(load(b.data, b.size, &m, &err) == 0, "%s", err.message);
  static const enum model_layer_kind kinds[] = {
    MODEL_LAYER_CONV,    MODEL_LAYER_DWCONV, MODEL_LAYER_CONV, MODEL_LAYER_ADD,
    MODEL_LAYER_DWCONV,  MODEL_LAYER_AVGPOOL, MODEL_LAYER_FC,
  };
  ck_assert_int_eq(m->n_layers, 7);
  for (int i = 0; i < 7; i++)
    ck_assert_msg(m->layers[i].kind == kinds[i], "layer %d kind %d", i,
                  (int)m->layers[i].kind);
  /* 3x3 s2 SAME on 8: the odd pixel after */
  ck_assert_int_eq(m->layers[0].pad_top, 0);
  ck_assert_int_eq(m->layers[0].pad_bottom, 1);
  /* RELU6, narrowed to the uint8 output range [0, x] when x < 6 */
  ck_assert_float_eq(m->layers[0].act_min, 0.0f);
  ck_assert(m->layers[0].act_max > 2.0f && m->layers[0].act_max <= 6.0f);
  /* No fused activation, but a uint8 range [0, 6]: the ReLU6 is implied. */
  ck_assert_float_eq(m->layers[1].act_min, 0.0f);
  ck_assert_float_eq_tol(m->layers[1].act_max, 6.0f, 1e-5f);
  ck_assert(isinf(m->layers[2].act_max)); /* linear projection */
  const struct model_layer *dw = &m->layers[4];
  ck_assert_int_eq(dw->pad_top, 1);
  ck_assert_int_eq(dw->pad_bottom, 1);
  ck_assert_int_eq(dw->pad_left, 1);
  ck_assert_int_eq(dw->pad_right, 1);
  ck_assert_int_eq(dw->stride, 2);
  ck_assert_int_eq(m->values[dw->out].h, 2);
  ck_assert_int_eq(m->output, m->layers[6].out);
  ck_assert_int_eq(model_arch(m), MODEL_ARCH_MOBILENET_V2); /* has an ADD */
  model_unref(m);

  /* Full saturation on request: the projection clamps to its uint8 range. */
  struct tflite_load_opts opts = { .clamp_qrange = true };
  ck_assert_msg(model_load_tflite_buffer_opts(b.data, b.size, "t", &opts, &m,
                                              &err) == 0,
                "%s", err.message);
  ck_assert(isfinite(m->layers[2].act_min) && m->layers[2].act_min < 0);
  ck_assert(isfinite(m->layers[2].act_max) && m->layers[2].act_max > 0);
  model_unref(m);
  free(b.data);

  b = read_fixture("tflite/tiny-float.tflite");
  ck_assert_msg(load(b.data, b.size, &m, &err) == 0, "%s", err.message);
  ck_assert_int_eq(m->n_layers, 5);
  ck_assert_int_eq(m->layers[3].kind, MODEL_LAYER_AVGPOOL);
  ck_assert_int_eq(m->layers[4].kind, MODEL_LAYER_FC); /* 1x1 conv of 1x1 */
  ck_assert_float_eq(m->layers[1].act_min, -1.0f); /* RELU_N1_TO_1 */
  ck_assert_float_eq(m->layers[1].act_max, 1.0f);
  ck_assert_int_eq(model_arch(m), MODEL_ARCH_MOBILENET_V1);
  model_unref(m);
  free(b.data);
}
END_TEST

/* ---- broken files ---- */

START_TEST(test_truncated_every_byte)
{
  /* tiny-float keeps its classifier weights after the flatbuffer (Buffer
   * offset/size), so every shorter length is broken; tiny-quant ends with
   * the labels zip, so every length inside the flatbuffer is. */
  static const char *const files[] = { "tflite/tiny-float",
                                       "tflite/tiny-quant" };
  char name[64];
  snprintf(name, sizeof name, "%s.tflite", files[_i]);
  struct blob b = read_fixture(name);
  snprintf(name, sizeof name, "%s.expected", files[_i]);
  struct expected x;
  read_expected(name, &x);
  size_t limit = _i == 0 ? b.size : x.fb_bytes;
  ck_assert_uint_le(x.fb_bytes, b.size);
  for (size_t len = 0; len < limit; len++) {
    /* A fresh copy of exactly len bytes, so ASan sees any overread. */
    uint8_t *cut = malloc(len ? len : 1);
    ck_assert(cut);
    memcpy(cut, b.data, len);
    char what[64];
    snprintf(what, sizeof what, "%s cut at %zu", files[_i], len);
    expect_error(cut, len, what, NULL);
    free(cut);
  }
  /* Inside the zip: the model loads; labels only with the whole archive. */
  for (size_t len = limit; len <= b.size; len++) {
    uint8_t *cut = malloc(len);
    ck_assert(cut);
    memcpy(cut, b.data, len);
    struct ss_model *m;
    struct ss_error err;
    int rc = load(cut, len, &m, &err);
    ck_assert_msg(rc == 0, "cut at %zu: %s", len, err.message);
    ck_assert_int_eq(model_has_labels(m), len == b.size && _i == 1);
    model_unref(m);
    free(cut);
  }
  printf("%s: %zu truncations rejected\n", files[_i], limit);
  free(b.data);
}
END_TEST

START_TEST(test_corrupt_random_bytes)
{
  /* Random bytes at random places: weights may legitimately change, so a
   * load may succeed, but then the model is consistent and runs; failures
   * must say where. */
  static const char *const files[] = { "tflite/tiny-quant.tflite",
                                       "tflite/tiny-float.tflite" };
  struct blob b = read_fixture(files[_i]);
  struct tu_rng r;
  tu_rng_seed(&r, SEED + (uint64_t)_i);
  printf("%s: corrupting with seed %u\n", files[_i], SEED + _i);
  uint8_t *copy = malloc(b.size);
  ck_assert(copy);
  int errors = 0, loads = 0;
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(copy, b.data, b.size);
    int n = 1 + (int)(tu_rng_u32(&r) % 4);
    for (int k = 0; k < n; k++)
      copy[tu_rng_u32(&r) % b.size] = (uint8_t)tu_rng_u32(&r);
    struct ss_model *m;
    struct ss_error err;
    if (load(copy, b.size, &m, &err) == 0) {
      ck_assert_msg(model_validate(m, &err) == 0, "iter %d: %s", iter,
                    err.message);
      run_constant(m, false);
      model_unref(m);
      loads++;
    } else {
      ck_assert_msg(names_location(err.message), "iter %d: '%s'", iter,
                    err.message);
      errors++;
    }
  }
  printf("%s: %d corrupted copies rejected, %d loaded (weights changed)\n",
         files[_i], errors, loads);
  ck_assert_int_gt(errors, 0);
  free(copy);
  free(b.data);
}
END_TEST

START_TEST(test_offsets_out_of_range)
{
  struct blob b = read_fixture("tflite/tiny-quant.tflite");
  uint8_t *c = malloc(b.size);
  ck_assert(c);
  uint32_t root = rd32(b.data);

  memcpy(c, b.data, b.size);
  wr32(c, (uint32_t)b.size + 100);
  expect_error(c, b.size, "root offset", "root offset");

  memcpy(c, b.data, b.size);
  wr32(c + root, 0x7FFFFFF0u); /* soffset: vtable far before the start */
  expect_error(c, b.size, "root vtable", "vtable");

  memcpy(c, b.data, b.size);
  uint32_t vt = root - rd32(b.data + root);
  c[vt + 4 + 2 * 2] = 0xF0; /* Model.subgraphs field offset */
  c[vt + 4 + 2 * 2 + 1] = 0xFF;
  expect_error(c, b.size, "subgraphs field offset", "Model.subgraphs");

  memcpy(c, b.data, b.size);
  uint32_t pos = fb_field_pos(b.data, root, 2); /* subgraphs uoffset */
  wr32(c + pos, (uint32_t)b.size);
  expect_error(c, b.size, "subgraphs uoffset", "Model.subgraphs");

  memcpy(c, b.data, b.size);
  uint32_t vec = fb_follow(b.data, fb_field_pos(b.data, root, 4));
  wr32(c + vec, 0x3FFFFFFFu); /* buffers vector length */
  expect_error(c, b.size, "buffers length", "Model.buffers");

  uint32_t sg = fb_elem_table(b.data, root, 2, 0);
  uint32_t t0 = fb_elem_table(b.data, sg, 0, 0);
  memcpy(c, b.data, b.size);
  uint32_t str = fb_follow(b.data, fb_field_pos(b.data, t0, 3));
  wr32(c + str, 0x00FFFFFFu); /* tensor 0's name length */
  expect_error(c, b.size, "tensor name length", "Tensor.name");

  memcpy(c, b.data, b.size);
  c[str + 4 + rd32(b.data + str)] = 'x'; /* its NUL terminator */
  expect_error(c, b.size, "tensor name NUL", "NUL");

  memcpy(c, b.data, b.size);
  uint32_t shape = fb_follow(b.data, fb_field_pos(b.data, t0, 0));
  wr32(c + shape, 9); /* 9 dims */
  expect_error(c, b.size, "shape length", "tensor 0");

  memcpy(c, b.data, b.size);
  uint32_t t2 = fb_elem_table(b.data, sg, 0, 2);
  wr32(c + fb_field_pos(b.data, t2, 2), 5000); /* buffer index */
  expect_error(c, b.size, "buffer index", "buffer index 5000");

  memcpy(c, b.data, b.size);
  uint32_t op0 = fb_elem_table(b.data, sg, 3, 1); /* the first CONV_2D */
  uint32_t ins = fb_follow(b.data, fb_field_pos(b.data, op0, 1));
  wr32(c + ins + 4 + 4, 999); /* its filter tensor index */
  expect_error(c, b.size, "operator input index", "operator 1");

  memcpy(c, b.data, b.size);
  wr32(c + fb_field_pos(b.data, op0, 0), 77); /* opcode_index */
  expect_error(c, b.size, "opcode index", "opcode_index 77");

  memcpy(c, b.data, b.size);
  uint32_t opt = fb_follow(b.data, fb_field_pos(b.data, op0, 4));
  uint32_t ovt = opt - rd32(b.data + opt);
  c[ovt + 2] = 2; /* Conv2DOptions inline size below its fields */
  c[ovt + 3] = 0;
  expect_error(c, b.size, "options inline size", "Options");

  free(c);
  free(b.data);
}
END_TEST

START_TEST(test_bad_weights_and_shapes)
{
  struct blob b = read_fixture("tflite/bad-short-weights.tflite");
  struct ss_model *m;
  struct ss_error err;
  ck_assert_int_eq(load(b.data, b.size, &m, &err), SS_EFORMAT);
  ck_assert_msg(strstr(err.message, "'conv1/weights'") &&
                    strstr(err.message, "215 bytes") &&
                    strstr(err.message, "operator 1"),
                "%s", err.message);
  free(b.data);

  b = read_fixture("tflite/bad-conv-channels.tflite");
  ck_assert_int_eq(load(b.data, b.size, &m, &err), SS_EMISMATCH);
  ck_assert_msg(strstr(err.message, "'block/project/weights'") &&
                    strstr(err.message, "6 input channels") &&
                    strstr(err.message, "operator 3"),
                "%s", err.message);
  free(b.data);

  b = read_fixture("tflite/bad-pad-kernel.tflite");
  ck_assert_int_eq(load(b.data, b.size, &m, &err), SS_EUNSUPPORTED);
  ck_assert_msg(strstr(err.message, "operator 7 (DEPTHWISE_CONV_2D)") &&
                    strstr(err.message, "not smaller than the 3x3 kernel"),
                "%s", err.message);
  free(b.data);

  b = read_fixture("tflite/bad-dilation.tflite");
  ck_assert_int_eq(load(b.data, b.size, &m, &err), SS_EUNSUPPORTED);
  ck_assert_msg(strstr(err.message, "operator 1 (CONV_2D): dilation 2x2"),
                "%s", err.message);
  free(b.data);

  /* The first conv's fused activation set to TANH (4). */
  b = read_fixture("tflite/tiny-quant.tflite");
  uint32_t root = rd32(b.data);
  uint32_t sg = fb_elem_table(b.data, root, 2, 0);
  uint32_t conv = fb_elem_table(b.data, sg, 3, 1);
  uint32_t opt = fb_follow(b.data, fb_field_pos(b.data, conv, 4));
  ck_assert_uint_eq(b.data[fb_field_pos(b.data, opt, 3)], 3); /* RELU6 */
  b.data[fb_field_pos(b.data, opt, 3)] = 4;
  ck_assert_int_eq(load(b.data, b.size, &m, &err), SS_EUNSUPPORTED);
  ck_assert_msg(strstr(err.message, "operator 1 (CONV_2D): fused activation "
                                    "4"),
                "%s", err.message);
  free(b.data);

  /* Every op of tiny-float replaced by an unsupported one (MAX_POOL_2D). */
  b = read_fixture("tflite/tiny-float.tflite");
  root = rd32(b.data);
  uint32_t code0 = fb_elem_table(b.data, root, 1, 0);
  b.data[fb_field_pos(b.data, code0, 0)] = 17;
  ck_assert_int_eq(load(b.data, b.size, &m, &err), SS_EUNSUPPORTED);
  ck_assert_msg(strstr(err.message, "operator 0 (MAX_POOL_2D)"), "%s",
                err.message);
  free(b.data);
}
END_TEST

START_TEST(test_labels_zip)
{
  struct blob b = read_fixture("tflite/tiny-quant.tflite");
  struct expected x;
  read_expected("tflite/tiny-quant.expected", &x);
  uint8_t *c = malloc(b.size);
  ck_assert(c);
  /* Local header right after the flatbuffer: data at +30+10 ("labels.txt") */
  ck_assert_uint_eq(rd32(b.data + x.fb_bytes), 0x04034b50u);
  size_t eocd = b.size - 22;
  ck_assert_uint_eq(rd32(b.data + eocd), 0x06054b50u);

  memcpy(c, b.data, b.size);
  c[x.fb_bytes + 30 + 10] ^= 1; /* a label byte: CRC mismatch */
  expect_error(c, b.size, "label byte", "CRC-32");

  memcpy(c, b.data, b.size);
  wr32(c + eocd + 16, 0x7FFFFFF0u); /* central directory offset */
  expect_error(c, b.size, "central directory offset", "labels zip");

  memcpy(c, b.data, b.size);
  wr32(c + eocd + 12, 0x7FFFFFF0u); /* central directory size */
  expect_error(c, b.size, "central directory size", "labels zip");

  memcpy(c, b.data, b.size);
  uint32_t cd = rd32(b.data + eocd + 16);
  wr32(c + cd + 42, (uint32_t)b.size); /* local header offset */
  expect_error(c, b.size, "local header offset", "local file header");

  memcpy(c, b.data, b.size);
  wr32(c + cd + 20, 1u << 30); /* compressed size */
  wr32(c + cd + 24, 1u << 30);
  expect_error(c, b.size, "entry size", "past the file");

  memcpy(c, b.data, b.size);
  c[cd + 28] = 0xFF; /* name length runs past the directory */
  expect_error(c, b.size, "name length", "central directory entry 0");

  free(c);
  free(b.data);
}
END_TEST

/* ---- real models ---- */

static const struct {
  const char *file;
  enum model_arch arch;
  float alpha;
  int res;
  bool quantized, labels;
} real[] = {
  { "mobilenet_v1_0.25_128_quant.tflite", MODEL_ARCH_MOBILENET_V1, 0.25f, 128,
    true, true },
  { "mobilenet_v1_0.25_224_quant.tflite", MODEL_ARCH_MOBILENET_V1, 0.25f, 224,
    true, true },
  { "mobilenet_v1_0.5_160_quant.tflite", MODEL_ARCH_MOBILENET_V1, 0.5f, 160,
    true, true },
  { "mobilenet_v1_0.75_192_quant.tflite", MODEL_ARCH_MOBILENET_V1, 0.75f, 192,
    true, true },
  { "mobilenet_v1_0.25_224.tflite", MODEL_ARCH_MOBILENET_V1, 0.25f, 224,
    false, false },
  { "mobilenet_v2_1.0_224_quant.tflite", MODEL_ARCH_MOBILENET_V2, 1.0f, 224,
    true, true },
  { "mobilenet_v2_1.0_224_quant_nometadata.tflite", MODEL_ARCH_MOBILENET_V2,
    1.0f, 224, true, false },
  { "tf2_mobilenet_v2_1.0_224_ptq.tflite", MODEL_ARCH_MOBILENET_V2, 1.0f, 224,
    true, true },
};

START_TEST(test_real_models)
{
  char rel[256], path[1024];
  snprintf(rel, sizeof rel, "models/%s", real[_i].file);
  if (!tu_data_path(rel, path, sizeof path))
    return;
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(model_load(path, &m, &err) == 0, "%s", err.message);
  ck_assert_int_eq(model_format(m), MODEL_FORMAT_TFLITE);
  ck_assert_int_eq(model_input_width(m), real[_i].res);
  ck_assert_int_eq(model_input_height(m), real[_i].res);
  ck_assert_int_eq(model_num_outputs(m), 1001);
  ck_assert_int_eq(model_class_offset(m), 1);
  ck_assert_int_eq(model_arch(m), real[_i].arch);
  ck_assert_float_eq(model_alpha(m), real[_i].alpha);
  ck_assert_int_eq(model_is_quantized(m), real[_i].quantized);
  ck_assert_int_eq(model_has_labels(m), real[_i].labels);
  if (real[_i].labels) {
    ck_assert_msg(!strncmp(model_label(m, 0), "tench", 5), "label 0 '%s'",
                  model_label(m, 0));
    ck_assert_ptr_nonnull(model_label(m, 999));
  }
  struct ss_model *built;
  ck_assert_msg(mobilenet_build(real[_i].arch, real[_i].alpha, real[_i].res,
                                MODEL_PAD_RULE_TF_SAME, 1001, &built,
                                &err) == 0,
                "%s", err.message);
  ck_assert_uint_eq(model_macs(m), model_macs(built));
  ck_assert_uint_eq(model_params(m), model_params(built));
  printf("%s: %s %.2f/%d, %.1f M MACs, %.3f M params, label 0 '%s'\n",
         real[_i].file, model_arch_name(model_arch(m)),
         (double)model_alpha(m), real[_i].res, model_macs(m) / 1e6,
         model_params(m) / 1e6,
         model_has_labels(m) ? model_label(m, 0) : "(none)");
  model_unref(built);
  run_constant(m, true);
  model_unref(m);
}
END_TEST

/* Offset of the zip's first local header, or size when there is none. */
static size_t
zip_start(const uint8_t *d, size_t size)
{
  if (size < 22 || rd32(d + size - 22) != 0x06054b50u)
    return size;
  uint32_t cd = rd32(d + size - 22 + 16);
  return rd32(d + cd + 42);
}

START_TEST(test_real_broken)
{
  static const char *const files[] = {
    "models/mobilenet_v1_0.25_128_quant.tflite",
    "models/mobilenet_v1_0.25_224.tflite",
  };
  char path[1024];
  if (!tu_data_path(files[_i], path, sizeof path))
    return;
  struct blob b = { 0 };
  struct ss_error err = { 0 };
  ck_assert_msg(file_read_all(path, FILE_MAX, &b.data, &b.size, &err) == 0,
                "%s", err.message);
  size_t fb_end = zip_start(b.data, b.size);
  struct tu_rng r;
  tu_rng_seed(&r, SEED + 7 + (uint64_t)_i);
  printf("%s: truncations and corruption with seed %u\n", files[_i],
         SEED + 7 + _i);
  /* Truncations: the first 512 bytes one by one, then 300 random lengths,
   * then the last 64 bytes of the flatbuffer. */
  int n = 0;
  for (int k = 0; k < 512 + 300 + 64; k++) {
    size_t len = k < 512         ? (size_t)k
                 : k < 512 + 300 ? tu_rng_u32(&r) % fb_end
                                 : fb_end - 1 - (size_t)(k - 812);
    uint8_t *cut = malloc(len ? len : 1);
    ck_assert(cut);
    memcpy(cut, b.data, len);
    char what[128];
    snprintf(what, sizeof what, "%s cut at %zu", files[_i], len);
    expect_error(cut, len, what, NULL);
    free(cut);
    n++;
  }
  /* Corruption at random positions: never a crash. */
  uint8_t *c = malloc(b.size);
  ck_assert(c);
  int errors = 0;
  for (int k = 0; k < 60; k++) {
    memcpy(c, b.data, b.size);
    for (int j = 0; j < 8; j++)
      c[tu_rng_u32(&r) % b.size] = (uint8_t)tu_rng_u32(&r);
    /* and one in the first KiB, where the tables are */
    c[tu_rng_u32(&r) % 1024] = (uint8_t)tu_rng_u32(&r);
    struct ss_model *m;
    if (load(c, b.size, &m, &err) == 0) {
      ck_assert_msg(model_validate(m, &err) == 0, "%s", err.message);
      model_unref(m);
    } else {
      ck_assert_msg(names_location(err.message), "'%s'", err.message);
      errors++;
    }
  }
  printf("%s: %d truncations rejected; %d of 60 corrupted copies rejected\n",
         files[_i], n, errors);
  free(c);
  free(b.data);
}
END_TEST

static Suite *
tflite_suite(void)
{
  Suite *s = suite_create("tflite");
  TCase *tc = tcase_create("fixture");
  tcase_add_loop_test(tc, test_fixture_logits, 0,
                      (int)(sizeof fixtures / sizeof fixtures[0]));
  tcase_add_test(tc, test_fixture_graph);
  suite_add_tcase(s, tc);
  tc = tcase_create("broken");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_truncated_every_byte, 0, 2);
  tcase_add_loop_test(tc, test_corrupt_random_bytes, 0, 2);
  tcase_add_test(tc, test_offsets_out_of_range);
  tcase_add_test(tc, test_bad_weights_and_shapes);
  tcase_add_test(tc, test_labels_zip);
  suite_add_tcase(s, tc);
  tc = tcase_create("real");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_real_models, 0,
                      (int)(sizeof real / sizeof real[0]));
  tcase_add_loop_test(tc, test_real_broken, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  return tu_run_suite(tflite_suite());
}
