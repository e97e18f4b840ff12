/* Model routes: POST /api/v1/embed (features of an upload, its roi, the
 * errors) and the ?roi= of POST /api/v1/classify, on the server fixture's
 * tiny random model and, with STREAMSIGHT_TEST_DATA, the real
 * MobileNetV2 1.0/224.
 *
 * Here: the embed, cli and real TCases and the suite; the stream-roi TCase
 * is in test-routes-models-stream-roi.c, the models, one-model and
 * models-config TCases in test-routes-models-several.c, the fixture and
 * helpers in routes-models-fixture.c (routes-models-fixture.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "image-classify.h"
#include "image-decode.h"
#include "model.h"
#include "routes-models-fixture.h"
#include "server-fixture.h"
#include "testutil.h"

START_TEST(test_embed)
{
  const int dim = engine_feature_len(fx.engine);
  ck_assert_int_eq(dim, 1280); /* V2 0.35 keeps 1280 features */
  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *png = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  json_t *j = NULL;

  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, png, "image/png", &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "default");
  float *f = features_of(j, dim);
  json_decref(j);

  /* The same as embedding it directly, whole image, no crop. */
  ImageClassifier *c = image_classifier_new(fx.engine, NULL);
  RgbImage ri;
  gsize len;
  const guint8 *data = g_bytes_get_data(png, &len);
  ck_assert(image_decode_buffer(data, len, &ri, NULL));
  float *direct = g_new(float, dim);
  ck_assert_int_eq(image_classifier_embed(c, &ri, 1.0f, direct, dim), dim);
  double d = max_diff(f, direct, dim);
  printf("embed vs image_classifier_embed: max diff %.2e\n", d);
  ck_assert_msg(d < 1e-6, "max diff %g", d); /* 7 digits in the JSON */

  /* Same answer twice. */
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, png, NULL, &j), 200);
  float *again = features_of(j, dim);
  ck_assert(max_diff(f, again, dim) == 0);
  json_decref(j);

  /* ?model=default is the one model. */
  RouteParam m[] = { { "model", "default" } };
  ck_assert_uint_eq(post("/api/v1/embed", m, 1, png, "image/png", &j), 200);
  json_decref(j);

  rgb_image_clear(&ri);
  image_classifier_free(c);
  g_free(direct);
  g_free(again);
  g_free(f);
  g_bytes_unref(png);
  g_free(px);
}
END_TEST

/* ?roi= on the whole image equals the upload of exactly that region, and
 * differs from the whole image's. Edges land on whole pixels:
 * 0.25 x 160 = 40, 0.5 x 120 = 60. */
START_TEST(test_embed_roi)
{
  const int dim = engine_feature_len(fx.engine);
  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *whole = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  GBytes *part = png_of(px, IMG_W, 40, 60, 80, 60);
  json_t *j = NULL;
  RouteParam roi[] = { { "roi", "0.25,0.5,0.5,0.5" } };

  ck_assert_uint_eq(post("/api/v1/embed", roi, 1, whole, "image/png", &j),
                    200);
  float *f_roi = features_of(j, dim);
  ck_assert(json_object_get(j, "roi") != NULL);
  json_decref(j);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, part, "image/png", &j),
                    200);
  float *f_part = features_of(j, dim);
  json_decref(j);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, whole, "image/png", &j),
                    200);
  float *f_whole = features_of(j, dim);
  json_decref(j);
  printf("roi vs the cropped upload: %.2e; vs the whole image: %.2e\n",
         max_diff(f_roi, f_part, dim), max_diff(f_roi, f_whole, dim));
  ck_assert(max_diff(f_roi, f_part, dim) == 0);
  ck_assert(max_diff(f_roi, f_whole, dim) > 1e-4);

  /* classify: the ROI (resized whole) equals the cropped upload given the
   * whole-image ROI (also resized whole, no central crop). */
  RouteParam full[] = { { "roi", "0,0,1,1" }, { "top_k", "10" } };
  RouteParam roi10[] = { { "roi", "0.25,0.5,0.5,0.5" }, { "top_k", "10" } };
  json_t *a = NULL, *b = NULL;
  ck_assert_uint_eq(post("/api/v1/classify", roi10, 2, whole, "image/png", &a),
                    200);
  ck_assert_uint_eq(post("/api/v1/classify", full, 2, part, "image/png", &b),
                    200);
  ck_assert(json_equal(json_object_get(a, "classes"),
                       json_object_get(b, "classes")));
  json_decref(a);
  json_decref(b);

  g_free(f_roi);
  g_free(f_part);
  g_free(f_whole);
  g_bytes_unref(whole);
  g_bytes_unref(part);
  g_free(px);
}
END_TEST

static const struct {
  const char *roi;
  const char *want; /* a part of the message */
} bad_rois[] = {
  { "", "roi: expected x,y,w,h" },
  { "0.1,0.1,0.5", "roi: expected x,y,w,h" },
  { "0.1,0.1,0.5,0.5,", "roi: expected x,y,w,h" },
  { "a,0,1,1", "roi: expected x,y,w,h" },
  { " 0,0,1,1", "roi: expected x,y,w,h" },
  { "nan,0,1,1", "roi: expected x,y,w,h" },
  { "-0.1,0,0.5,0.5", "roi.x: must be >= 0" },
  { "0,1,0.5,0.5", "roi.y: must be >= 0 and < 1" },
  { "0.5,0,0.6,0.5", "roi.w: must be > 0 with x + w <= 1" },
  { "0,0,0,0.5", "roi.w: must be > 0" },
  { "0,0.5,0.5,0.51", "roi.h: must be > 0 with y + h <= 1" },
  { "0,0,1,1e309", "roi: expected x,y,w,h" },
};

START_TEST(test_bad_roi)
{
  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *png = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  RouteParam q[] = { { "roi", bad_rois[_i].roi } };
  const char *paths[] = { "/api/v1/embed", "/api/v1/classify" };
  for (int p = 0; p < 2; p++) {
    json_t *j = NULL;
    ck_assert_uint_eq(post(paths[p], q, 1, png, "image/png", &j), 400);
    const char *msg = json_string_value(
        json_object_get(json_object_get(j, "error"), "message"));
    ck_assert_msg(msg && strstr(msg, bad_rois[_i].want), "%s roi '%s': %s",
                  paths[p], bad_rois[_i].roi, msg ? msg : "(none)");
    json_decref(j);
  }
  g_bytes_unref(png);
  g_free(px);
}
END_TEST

START_TEST(test_embed_errors)
{
  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *png = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  json_t *j = NULL;
  RouteParam m[] = { { "model", "nope" } };
  ck_assert_uint_eq(post("/api/v1/embed", m, 1, png, "image/png", &j), 400);
  ck_assert(strstr(json_string_value(json_object_get(
                       json_object_get(j, "error"), "message")),
                   "model: unknown model"));
  json_decref(j);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, NULL, NULL, &j), 400);
  json_decref(j);
  GBytes *junk = g_bytes_new_static("{\"x\": 1}", 8);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, junk, "application/json",
                         &j), 415);
  json_decref(j);
  GBytes *notimg = g_bytes_new_static("\x89PNG\r\n\x1a\nxxxxxxxx", 16);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, notimg, "image/png", &j),
                    400);
  json_decref(j);
  /* GET is not a method of the route. */
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/embed", NULL, NULL,
                                    NULL, NULL, &j, NULL), 405);
  json_decref(j);
  g_bytes_unref(junk);
  g_bytes_unref(notimg);
  g_bytes_unref(png);
  g_free(px);
}
END_TEST

/* The real MobileNetV2 1.0/224: 1280 features of a photo; two photos of
 * cats closer to each other than to a hot dog. */
static void
setup_real(void)
{
  char path[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", path,
                    sizeof path))
    return;
  ServerFixtureOptions o = { .threads = 1, .max_streams = 4,
                             .max_body_bytes = BODY_LIMIT,
                             .real_model = TRUE };
  server_fixture_init_opts(&fx, &o);
}

static void
teardown_real(void)
{
  if (fx.routes)
    server_fixture_clear(&fx);
  memset(&fx, 0, sizeof fx);
}

static float *
embed_file(const char *rel, int dim)
{
  char path[1024];
  ck_assert(tu_data_path(rel, path, sizeof path));
  gchar *data;
  gsize len;
  ck_assert(g_file_get_contents(path, &data, &len, NULL));
  GBytes *b = g_bytes_new_take(data, len);
  json_t *j = NULL;
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, b, NULL, &j), 200);
  float *f = features_of(j, dim);
  json_decref(j);
  g_bytes_unref(b);
  return f;
}

static double
dot(const float *a, const float *b, int n)
{
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double)a[i] * b[i];
  return s;
}

START_TEST(test_embed_real)
{
  if (!fx.routes)
    return; /* SKIP printed by setup_real */
  float *cat1 = embed_file("images/photos/cat.bmp", 1280);
  float *cat2 = embed_file("images/photos/cat_720p.jpg", 1280);
  float *dog = embed_file("images/photos/hot_dog.jpg", 1280);
  double cc = dot(cat1, cat2, 1280), cd = dot(cat1, dog, 1280);
  printf("real V2 1.0: cos(cat, cat 720p) %.3f, cos(cat, hot dog) %.3f\n",
         cc, cd);
  ck_assert(cc > cd);
  g_free(cat1);
  g_free(cat2);
  g_free(dog);
}
END_TEST

/* ---- streamsight embed ---- */

/* Runs the built binary; returns its exit status, stdout in *out. */
static int
run_embed(const char *const *args, char **out)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  ck_assert_msg(exe && *exe, "SS_STREAMSIGHT_EXE is not set");
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)exe);
  g_ptr_array_add(argv, (gpointer) "embed");
  for (int i = 0; args[i]; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  int wait_status = 0;
  GError *e = NULL;
  ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                             G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, out, NULL,
                             &wait_status, &e),
                "spawn: %s", e ? e->message : "");
  g_ptr_array_free(argv, TRUE);
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

static char *
write_tmp(const char *name, GBytes *b)
{
  char *path = g_build_filename(tu_tmp_dir(), name, NULL);
  gsize len;
  const gchar *data = g_bytes_get_data(b, &len);
  ck_assert(g_file_set_contents(path, data, (gssize)len, NULL));
  return path;
}

/* The in-tree MobileNetV2 0.25/64 safetensors: an image's --roi equals the
 * upload of that region, equals image_classifier_embed; a missing file is
 * an error line and exit 1; a bad --roi is exit 2. */
START_TEST(test_cli_embed)
{
  char model[1024];
  tu_fixture_path("golden/mobilenet_v2_0.25_64.safetensors", model,
                  sizeof model);
  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *whole = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  GBytes *part = png_of(px, IMG_W, 40, 60, 80, 60);
  char *pw = write_tmp("whole.png", whole);
  char *pp = write_tmp("part.png", part);

  char *out = NULL;
  const char *a1[] = { "--model", model, "--roi", "0.25,0.5,0.5,0.5", pw,
                       "/nonexistent.png", NULL };
  ck_assert_int_eq(run_embed(a1, &out), 1);
  char **lines = g_strsplit(out, "\n", -1);
  ck_assert_uint_ge(g_strv_length(lines), 2);
  json_t *l1 = json_loads(lines[0], 0, NULL);
  json_t *l2 = json_loads(lines[1], 0, NULL);
  ck_assert_ptr_nonnull(l1);
  ck_assert_ptr_nonnull(l2);
  ck_assert_str_eq(json_string_value(json_object_get(l1, "path")), pw);
  ck_assert_ptr_nonnull(json_object_get(l2, "error"));
  float *f_roi = features_of(l1, 1280);
  g_strfreev(lines);
  g_free(out);
  json_decref(l2);
  json_decref(l1);

  const char *a2[] = { "--model", model, pp, NULL };
  ck_assert_int_eq(run_embed(a2, &out), 0);
  l1 = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
  ck_assert_ptr_nonnull(l1);
  float *f_part = features_of(l1, 1280);
  json_decref(l1);
  g_free(out);
  ck_assert(max_diff(f_roi, f_part, 1280) == 0);

  /* The same as the library call on the same file. */
  struct ss_model *m = NULL;
  struct ss_engine *e = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(model_load(model, &m, &err) == 0, "%s", err.message);
  ck_assert_int_eq(engine_new(m, KERN_ISA_AUTO, &e, &err), 0);
  ImageClassifier *c = image_classifier_new(e, NULL);
  RgbImage ri;
  gsize len;
  const guint8 *data = g_bytes_get_data(part, &len);
  ck_assert(image_decode_buffer(data, len, &ri, NULL));
  float direct[1280];
  ck_assert_int_eq(image_classifier_embed(c, &ri, 1.0f, direct, 1280), 1280);
  printf("cli vs image_classifier_embed: max diff %.2e\n",
         max_diff(f_part, direct, 1280));
  ck_assert(max_diff(f_part, direct, 1280) < 1e-6);
  rgb_image_clear(&ri);
  image_classifier_free(c);
  engine_free(e);
  model_unref(m);

  const char *a3[] = { "--model", model, "--roi", "0.5,0,0.6,1", pw, NULL };
  ck_assert_int_eq(run_embed(a3, &out), 2);
  g_free(out);
  const char *a4[] = { pw, NULL };
  ck_assert_int_eq(run_embed(a4, &out), 2);
  g_free(out);

  g_free(f_roi);
  g_free(f_part);
  g_free(pw);
  g_free(pp);
  g_bytes_unref(whole);
  g_bytes_unref(part);
  g_free(px);
}
END_TEST

static Suite *
routes_models_suite(void)
{
  Suite *s = suite_create("routes-models");
  TCase *tc = tcase_create("embed");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_embed);
  tcase_add_test(tc, test_embed_roi);
  tcase_add_loop_test(tc, test_bad_roi, 0,
                      (int)(sizeof bad_rois / sizeof bad_rois[0]));
  tcase_add_test(tc, test_embed_errors);
  suite_add_tcase(s, tc);
  suite_add_tcase(s, routes_models_stream_roi_tcase());
  suite_add_tcase(s, routes_models_models_tcase());
  suite_add_tcase(s, routes_models_one_model_tcase());
  suite_add_tcase(s, routes_models_config_tcase());
  tc = tcase_create("cli");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_cli_embed);
  suite_add_tcase(s, tc);
  tc = tcase_create("real");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup_real, teardown_real);
  tcase_add_test(tc, test_embed_real);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(routes_models_suite());
}
