/* streamsight — the safetensors suites' file editing and loading (see
 * safetensors-fixture.h).
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-util.h"
#include "safetensors-fixture.h"
#include "safetensors-load.h"
#include "testutil.h"

uint8_t *
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

void
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

void
stf_clear(struct stf *f)
{
  json_decref(f->header);
  free(f->data);
}

uint8_t *
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

json_t *
stf_tensor(const struct stf *f, const char *name)
{
  json_t *t = json_object_get(f->header, name);
  ck_assert_msg(t != NULL, "fixture has no tensor '%s'", name);
  return t;
}

size_t
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

void
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

void
set_offsets(struct stf *f, const char *name, json_int_t begin, json_int_t end)
{
  json_object_set_new(stf_tensor(f, name), "data_offsets",
                      json_pack("[I, I]", begin, end));
}

void
set_meta(struct stf *f, const char *key, const char *value)
{
  json_t *meta = json_object_get(f->header, "__metadata__");
  ck_assert_ptr_nonnull(meta);
  if (value)
    json_object_set_new(meta, key, json_string(value));
  else
    json_object_del(meta, key);
}

const float *
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

int
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

struct ss_model *
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

void
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

void
expect_error(const struct stf *f, const char *needle, const char *needle2)
{
  size_t size;
  uint8_t *buf = stf_build(f, &size);
  expect_error_buf(buf, size, needle, needle2);
  free(buf);
}

const struct model_layer *
find_layer(const struct ss_model *m, const char *name)
{
  for (int i = 0; i < m->n_layers; i++)
    if (strcmp(m->layers[i].name, name) == 0)
      return &m->layers[i];
  ck_abort_msg("model has no layer '%s'", name);
  return NULL;
}

void
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
