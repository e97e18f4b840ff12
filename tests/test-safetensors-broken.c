/* The safetensors loader on broken files, generated here from the golden
 * fixtures: truncated, bad header, offsets out of range, missing, extra and
 * misshapen tensors, bad metadata; each gives an error naming the tensor or
 * offset, never a crash. This suite runs under ASan/UBSan and valgrind:
 * every broken file is loaded from a buffer of exactly its size.
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
safetensors_broken_suite(void)
{
  Suite *s = suite_create("safetensors-broken");
  TCase *tc = tcase_create("broken");
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
  return tu_run_suite(safetensors_broken_suite());
}
