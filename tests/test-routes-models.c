/* Model routes: POST /api/v1/embed (features of an upload, its roi, the
 * errors) and the ?roi= of POST /api/v1/classify, on the server fixture's
 * tiny random model and, with STREAMSIGHT_TEST_DATA, the real
 * MobileNetV2 1.0/224. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "image-classify.h"
#include "image-decode.h"
#include "config.h"
#include "config-models.h"
#include "image-fixtures.h"
#include "model.h"
#include "server-fixture.h"
#include "testutil.h"

#define BODY_LIMIT (8u << 20)
#define IMG_W 160
#define IMG_H 120

static ServerFixture fx;

static void
setup(void)
{
  server_fixture_init(&fx, 1, 4, NULL, BODY_LIMIT);
}

static void
teardown(void)
{
  server_fixture_clear(&fx);
}

/* A gradient with some texture, w x h RGB, packed. */
static guint8 *
pattern(int w, int h)
{
  guint8 *px = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p = px + ((gsize)y * w + x) * 3;
      p[0] = (guint8)(x * 255 / (w - 1));
      p[1] = (guint8)(y * 255 / (h - 1));
      p[2] = (guint8)(((x / 7) ^ (y / 5)) * 37);
    }
  return px;
}

/* A lossless PNG of the sub-rectangle (x0, y0, w, h) of px (width pw). */
static GBytes *
png_of(const guint8 *px, int pw, int x0, int y0, int w, int h)
{
  guint8 *rows = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    memcpy(rows + (gsize)y * w * 3, px + ((gsize)(y0 + y) * pw + x0) * 3,
           (gsize)w * 3);
  GBytes *b = fix_png_encode(w, h, 8, 2, rows, (gsize)w * 3, NULL, 0, FALSE);
  g_free(rows);
  return b;
}

static guint
post(const char *path, const RouteParam *q, guint nq, GBytes *img,
     const char *ct, json_t **j)
{
  gsize len = 0;
  const void *data = img ? g_bytes_get_data(img, &len) : NULL;
  RouteRequest r = { .method = "POST", .path = path, .query = q,
                     .n_query = nq, .content_type = ct, .body = data,
                     .body_len = len };
  return fixture_request_full(&fx, &r, j, NULL);
}

/* The features of an answer, checked for shape and unit norm. */
static float *
features_of(json_t *j, int want_dim)
{
  ck_assert_int_eq(json_integer_value(json_object_get(j, "dim")), want_dim);
  json_t *arr = json_object_get(j, "features");
  ck_assert_uint_eq(json_array_size(arr), (size_t)want_dim);
  float *f = g_new(float, want_dim);
  double norm = 0;
  for (int i = 0; i < want_dim; i++) {
    f[i] = (float)json_number_value(json_array_get(arr, (size_t)i));
    norm += (double)f[i] * f[i];
  }
  ck_assert_msg(fabs(sqrt(norm) - 1.0) < 1e-5, "|f| = %.8f", sqrt(norm));
  return f;
}

static double
max_diff(const float *a, const float *b, int n)
{
  double d = 0;
  for (int i = 0; i < n; i++)
    d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

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


/* ---- a stream's roi: config, POST, PATCH, the sink, snapshots ---- */

static guint
req_json(const char *method, const char *path, const char *body, json_t **j)
{
  return fixture_request(&fx, method, path, NULL, NULL, body, NULL, j, NULL);
}

static const char *
error_message(json_t *j)
{
  return json_string_value(
      json_object_get(json_object_get(j, "error"), "message"));
}

static void
check_roi(json_t *stream, double x, double y, double w, double h)
{
  json_t *roi = json_object_get(stream, "roi");
  if (!roi) /* the options may be nested */
    roi = json_object_get(json_object_get(stream, "options"), "roi");
  ck_assert_msg(roi != NULL, "no roi in the stream");
  ck_assert(fabs(json_number_value(json_object_get(roi, "x")) - x) < 1e-9);
  ck_assert(fabs(json_number_value(json_object_get(roi, "y")) - y) < 1e-9);
  ck_assert(fabs(json_number_value(json_object_get(roi, "w")) - w) < 1e-9);
  ck_assert(fabs(json_number_value(json_object_get(roi, "h")) - h) < 1e-9);
}

static const struct {
  const char *roi;  /* JSON */
  const char *want; /* a part of the 400's message */
} bad_stream_rois[] = {
  { "[0, 0, 1, 1]", "roi: expected an object" },
  { "{\"x\": 0, \"y\": 0, \"w\": 1}", "roi.h: required" },
  { "{\"x\": 0, \"y\": 0, \"w\": 1, \"h\": 1, \"z\": 1}", "roi.z: unknown key" },
  { "{\"x\": \"0\", \"y\": 0, \"w\": 1, \"h\": 1}", "roi.x: must be" },
  { "{\"x\": 0.5, \"y\": 0, \"w\": 0.6, \"h\": 1}", "roi.w: must be > 0 with x + w <= 1" },
  { "{\"x\": 0, \"y\": -0.1, \"w\": 1, \"h\": 1}", "roi.y: must be >= 0" },
  { "{\"x\": 0, \"y\": 0, \"w\": 1, \"h\": 0}", "roi.h: must be > 0" },
};

START_TEST(test_stream_roi_bad)
{
  json_t *j = NULL;
  char *body = g_strdup_printf("{\"name\": \"r%d\", \"uri\": \"test:\", "
                               "\"roi\": %s}", _i, bad_stream_rois[_i].roi);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams", body, &j), 400);
  ck_assert_msg(strstr(error_message(j), bad_stream_rois[_i].want),
                "POST %s: %s", bad_stream_rois[_i].roi, error_message(j));
  json_decref(j);
  g_free(body);
  /* The same through PATCH, on a stream that exists. */
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"ok\", \"name\": \"ok\", \"uri\": "
                             "\"test:\", \"enabled\": false}", &j), 201);
  json_decref(j);
  body = g_strdup_printf("{\"roi\": %s}", bad_stream_rois[_i].roi);
  ck_assert_uint_eq(req_json("PATCH", "/api/v1/streams/ok", body, &j), 400);
  ck_assert_msg(strstr(error_message(j), bad_stream_rois[_i].want),
                "PATCH %s: %s", bad_stream_rois[_i].roi, error_message(j));
  json_decref(j);
  g_free(body);
  /* And in a config file, named by its place. */
  ServerConfig *c = server_config_new();
  char *text = g_strdup_printf("{\"streams\": [{\"name\": \"a\", \"uri\": "
                               "\"test:\", \"roi\": %s}]}",
                               bad_stream_rois[_i].roi);
  GError *e = NULL;
  ck_assert(!server_config_load_text(c, text, strlen(text), "test", &e));
  char *want = g_strdup_printf("streams[0].%s", bad_stream_rois[_i].want);
  ck_assert_msg(strstr(e->message, want), "config: %s", e->message);
  g_free(want);
  g_error_free(e);
  g_free(text);
  server_config_free(c);
}
END_TEST

/* POST with a roi, GET shows it, the config file keeps it; PATCH moves it
 * (null: the whole frame again, and the file drops the key). */
START_TEST(test_stream_roi_patch)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"gate\", \"name\": \"gate\", "
                             "\"uri\": \"test:\", \"enabled\": false, "
                             "\"roi\": {\"x\": 0.25, \"y\": 0.5, \"w\": "
                             "0.5, \"h\": 0.5}}", &j), 201);
  check_roi(j, 0.25, 0.5, 0.5, 0.5);
  json_decref(j);
  ck_assert_uint_eq(req_json("GET", "/api/v1/streams/gate", NULL, &j), 200);
  check_roi(j, 0.25, 0.5, 0.5, 0.5);
  json_decref(j);
  json_t *file = json_load_file(fx.config_path, 0, NULL);
  ck_assert_ptr_nonnull(file);
  check_roi(json_array_get(json_object_get(file, "streams"), 0), 0.25, 0.5,
            0.5, 0.5);
  json_decref(file);

  ck_assert_uint_eq(req_json("PATCH", "/api/v1/streams/gate",
                             "{\"roi\": {\"x\": 0, \"y\": 0.1, \"w\": 0.3, "
                             "\"h\": 0.9}}", &j), 200);
  check_roi(j, 0, 0.1, 0.3, 0.9);
  json_decref(j);
  file = json_load_file(fx.config_path, 0, NULL);
  check_roi(json_array_get(json_object_get(file, "streams"), 0), 0, 0.1, 0.3,
            0.9);
  json_decref(file);

  ck_assert_uint_eq(req_json("PATCH", "/api/v1/streams/gate",
                             "{\"roi\": null}", &j), 200);
  check_roi(j, 0, 0, 1, 1);
  json_decref(j);
  file = json_load_file(fx.config_path, 0, NULL);
  json_t *st = json_array_get(json_object_get(file, "streams"), 0);
  ck_assert(json_object_get(st, "roi") == NULL &&
            json_object_get(json_object_get(st, "options"), "roi") == NULL);
  json_decref(file);
}
END_TEST

static guint64
pred_seq(json_t *p)
{
  return (guint64)json_integer_value(json_object_get(p, "seq"));
}

/* The classes of a prediction newer than after_seq (new reference). */
static json_t *
next_classes(const char *id, guint64 after_seq, guint64 *seq)
{
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline) {
    json_t *p = fixture_wait_prediction(&fx, id, 60, NULL);
    ck_assert_ptr_nonnull(p);
    if (pred_seq(p) > after_seq) {
      *seq = pred_seq(p);
      json_t *c = json_incref(json_object_get(p, "classes"));
      json_decref(p);
      return c;
    }
    json_decref(p);
    g_usleep(50 * 1000);
  }
  ck_abort_msg("no new prediction of %s", id);
  return NULL;
}

static void
skip_predictions(const char *id, int n, guint64 *seq)
{
  for (int i = 0; i < n; i++)
    json_decref(next_classes(id, *seq, seq));
}

/* The sink follows the stream's roi: on the static SMPTE 75% bars, a PATCH to
 * one bar changes what the model sees (the top score moves) and back to
 * the whole frame gives the first answer again. Then the snapshot with
 * ?roi=1 shows the outline where the region is, and none without it. */
START_TEST(test_stream_roi_live)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"bars\", \"name\": \"bars\", "
                             "\"uri\": \"test:\", \"pattern\": \"smpte75\", "
                             "\"max_fps\": 10}", &j), 201);
  json_decref(j);
  guint64 seq = 0;
  json_t *whole = next_classes("bars", 0, &seq);
  ck_assert_uint_eq(req_json("PATCH", "/api/v1/streams/bars",
                             "{\"roi\": {\"x\": 0, \"y\": 0, \"w\": 0.1, "
                             "\"h\": 0.5}}", &j), 200);
  json_decref(j);
  /* The frame in flight at the PATCH may still be the whole one: skip two. */
  skip_predictions("bars", 2, &seq);
  json_t *bar = next_classes("bars", seq, &seq);
  ck_assert_uint_eq(req_json("PATCH", "/api/v1/streams/bars",
                             "{\"roi\": null}", &j), 200);
  json_decref(j);
  skip_predictions("bars", 2, &seq);
  json_t *again = next_classes("bars", seq, &seq);
  char *sw = json_dumps(whole, JSON_COMPACT | JSON_REAL_PRECISION(7));
  char *sb = json_dumps(bar, JSON_COMPACT | JSON_REAL_PRECISION(7));
  char *sa = json_dumps(again, JSON_COMPACT | JSON_REAL_PRECISION(9));
  printf("classes: whole frame %s\n         one bar     %s\n         again       %s\n", sw, sb, sa);
  fflush(stdout);
  free(sa);
  free(sw);
  free(sb);
  /* The bars are static: the same region gives the same bits. */
  ck_assert(!json_equal(whole, bar));
  ck_assert(json_equal(whole, again));
  json_decref(whole);
  json_decref(bar);
  json_decref(again);

  /* Snapshot outline: black frame, region 0.25,0.25,0.5,0.5. */
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"dark\", \"name\": \"dark\", "
                             "\"uri\": \"test:\", \"pattern\": \"black\", "
                             "\"roi\": {\"x\": 0.25, \"y\": 0.25, \"w\": "
                             "0.5, \"h\": 0.5}}", &j), 201);
  json_decref(j);
  json_decref(fixture_wait_prediction(&fx, "dark", 60, NULL));
  RouteResponse resp = { 0 };
  RouteParam q1[] = { { "roi", "1" } };
  RouteRequest r = { .method = "GET",
                     .path = "/api/v1/streams/dark/snapshot.jpg",
                     .query = q1, .n_query = 1 };
  ck_assert_uint_eq(fixture_request_full(&fx, &r, NULL, &resp), 200);
  fixture_check_roi_outline(&resp, "snapshot ?roi=1");
  route_response_clear(&resp);
  /* Without roi=1: no line where it was. */
  r.n_query = 0;
  ck_assert_uint_eq(fixture_request_full(&fx, &r, NULL, &resp), 200);
  RgbImage img;
  ck_assert(image_decode_buffer((const guint8 *)resp.body, resp.body_len,
                                &img, NULL));
  route_response_clear(&resp);
  const guint8 *edge = img.pixels + (gsize)(img.height / 2) * img.stride +
                       (gsize)(img.width / 4 + 1) * 3;
  ck_assert(edge[0] < 30 && edge[1] < 30);
  rgb_image_clear(&img);
  RouteParam q2[] = { { "roi", "yes" } };
  r.query = q2;
  r.n_query = 1;
  ck_assert_uint_eq(fixture_request_full(&fx, &r, &j, NULL), 400);
  json_decref(j);
}
END_TEST

/* ---- several models: GET /api/v1/models, a model per stream ---- */

static void
setup_two(void)
{
  ServerFixtureOptions o = { .threads = 1, .max_streams = 4,
                             .max_body_bytes = BODY_LIMIT,
                             .max_sse_clients = 4, .second_model = TRUE };
  server_fixture_init_opts(&fx, &o);
}

static json_t *
model_entry(json_t *list, const char *id)
{
  json_t *arr = json_object_get(list, "models");
  for (size_t i = 0; i < json_array_size(arr); i++)
    if (g_strcmp0(json_string_value(json_object_get(json_array_get(arr, i),
                                                    "id")), id) == 0)
      return json_array_get(arr, i);
  return NULL;
}

START_TEST(test_models_list)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("GET", "/api/v1/models", NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 2);
  const struct {
    const char *id, *arch;
    double alpha;
    int side, dim;
    const struct ss_engine *engine;
  } want[] = {
    { "default", "mobilenet_v2", 0.35, 96, 1280,
      model_set_get(fx.models, 0)->engine },
    { "small", "mobilenet_v1", 0.25, 64, 256,
      model_set_get(fx.models, 1)->engine },
  };
  for (int i = 0; i < 2; i++) {
    json_t *m = model_entry(j, want[i].id);
    ck_assert_msg(m != NULL, "no model %s", want[i].id);
    const struct ss_model *sm = engine_model(want[i].engine);
    ck_assert_str_eq(json_string_value(json_object_get(m, "arch")),
                     want[i].arch);
    ck_assert(fabs(json_number_value(json_object_get(m, "alpha")) -
                   want[i].alpha) < 1e-6);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(m, "input"), "width")), want[i].side);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "feature_dim")),
                     want[i].dim);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "macs")),
                     (json_int_t)model_macs(sm));
    ck_assert_int_eq(json_integer_value(json_object_get(m, "params")),
                     (json_int_t)model_params(sm));
    ck_assert_str_eq(json_string_value(json_object_get(m, "engine")), "float");
    ck_assert(json_number_value(json_object_get(m, "latency_ms")) > 0);
    ck_assert(json_is_true(json_object_get(m, "default")) == (i == 0));
    printf("model %s: %s %.2f/%d, %lld MACs, %lld params, %d features, "
           "%.2f ms at load\n", want[i].id, want[i].arch, want[i].alpha,
           want[i].side, (long long)model_macs(sm),
           (long long)model_params(sm), want[i].dim,
           json_number_value(json_object_get(m, "latency_ms")));
  }
  json_decref(j);
}
END_TEST

/* Two streams on two models: each prediction says which model made it,
 * with that model's input size; an unknown model is a 400; embed takes
 * ?model=. */
START_TEST(test_models_streams)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"big\", \"name\": \"big\", \"uri\": "
                             "\"test:\", \"pattern\": \"ball\"}", &j), 201);
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"cheap\", \"name\": \"cheap\", "
                             "\"uri\": \"test:\", \"pattern\": \"ball\", "
                             "\"model\": \"small\"}", &j), 201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "small");
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"name\": \"x\", \"uri\": \"test:\", "
                             "\"model\": \"nope\"}", &j), 400);
  ck_assert_msg(strstr(error_message(j), "model: unknown model (the models "
                                         "are: default, small)"),
                "%s", error_message(j));
  json_decref(j);

  const struct { const char *id, *model; int side; } st[] = {
    { "big", "default", 96 }, { "cheap", "small", 64 },
  };
  for (int i = 0; i < 2; i++) {
    json_t *p = fixture_wait_prediction(&fx, st[i].id, 60, NULL);
    ck_assert_msg(p != NULL, "no prediction of %s", st[i].id);
    ck_assert_str_eq(json_string_value(json_object_get(p, "model_id")),
                     st[i].model);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(p, "input"), "width")), st[i].side);
    json_decref(p);
  }
  /* So do the stats, per stream. */
  ck_assert_uint_eq(req_json("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *sts = json_object_get(j, "streams");
  for (size_t i = 0; i < json_array_size(sts); i++) {
    json_t *o = json_array_get(sts, i);
    const char *sid = json_string_value(json_object_get(o, "id"));
    ck_assert_str_eq(json_string_value(json_object_get(o, "model")),
                     strcmp(sid, "cheap") == 0 ? "small" : "default");
  }
  ck_assert_uint_eq(json_array_size(sts), 2);
  json_decref(j);
  /* The history says it too. */
  RouteParam lim[] = { { "limit", "2" } };
  RouteRequest r = { .method = "GET",
                     .path = "/api/v1/streams/cheap/predictions",
                     .query = lim, .n_query = 1 };
  ck_assert_uint_eq(fixture_request_full(&fx, &r, &j, NULL), 200);
  json_t *hist = json_object_get(j, "predictions");
  ck_assert_uint_ge(json_array_size(hist), 1);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_array_get(hist, 0), "model_id")), "small");
  json_decref(j);

  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *png = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  RouteParam ms[] = { { "model", "small" } };
  ck_assert_uint_eq(post("/api/v1/embed", ms, 1, png, "image/png", &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "small");
  g_free(features_of(j, 256));
  json_decref(j);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, png, "image/png", &j),
                    200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                   "default");
  g_free(features_of(j, 1280));
  json_decref(j);
  RouteParam bad[] = { { "model", "nope" } };
  ck_assert_uint_eq(post("/api/v1/embed", bad, 1, png, "image/png", &j), 400);
  ck_assert(strstr(error_message(j), "the models are: default, small"));
  json_decref(j);
  /* A head can be taught on either model; an unknown one is refused. */
  ck_assert_uint_eq(req_json("POST", "/api/v1/heads",
                             "{\"id\": \"gate\", \"model\": \"small\", "
                             "\"classes\": [\"open\", \"shut\"]}", &j), 201);
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/heads",
                             "{\"id\": \"door\", \"model\": \"nope\", "
                             "\"classes\": [\"open\", \"shut\"]}", &j), 400);
  json_decref(j);
  g_bytes_unref(png);
  g_free(px);
}
END_TEST

/* One model (no set): listed as "default", no latency measured. */
START_TEST(test_models_one)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("GET", "/api/v1/models", NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
  json_t *m = model_entry(j, "default");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(json_integer_value(json_object_get(m, "feature_dim")),
                   1280);
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"name\": \"x\", \"uri\": \"test:\", "
                             "\"model\": \"other\"}", &j), 400);
  ck_assert(strstr(error_message(j), "model: unknown model"));
  json_decref(j);
}
END_TEST

static const struct {
  const char *json;
  const char *want; /* NULL: valid */
} model_configs[] = {
  { "{\"models\": [{\"id\": \"a\", \"path\": \"a.tflite\"}, {\"id\": "
    "\"b\", \"path\": \"b.tflite\", \"labels\": \"l.txt\", \"engine\": "
    "\"float\"}], \"streams\": [{\"name\": \"s\", \"uri\": \"test:\", "
    "\"model\": \"b\"}]}", NULL },
  { "{\"streams\": [{\"name\": \"s\", \"uri\": \"test:\", \"model\": "
    "\"default\"}]}", NULL },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"a.tflite\"}], \"streams\": "
    "[{\"name\": \"s\", \"uri\": \"test:\", \"model\": \"b\"}]}",
    "streams[0].model: unknown model 'b' (the models are: a)" },
  { "{\"streams\": [{\"name\": \"s\", \"uri\": \"test:\", \"model\": "
    "\"b\"}]}", "streams[0].model: unknown model 'b' (the models are: "
    "default)" },
  { "{\"streams\": [{\"name\": \"s\", \"uri\": \"test:\", \"model\": "
    "\"B!\"}]}", "streams[0].model: expected a model id" },
  { "{\"models\": []}", "models: expected an array of 1..16" },
  { "{\"models\": [{\"path\": \"a.tflite\"}]}", "models[0].id: required" },
  { "{\"models\": [{\"id\": \"a\"}]}", "models[0].path: required" },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"x\"}, {\"id\": \"a\", "
    "\"path\": \"y\"}]}", "models[1].id: 'a' is already used by models[0]" },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"x\", \"size\": 1}]}",
    "models[0].size: unknown key" },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"x\", \"engine\": \"gpu\"}]}",
    "models[0].engine: must be one of" },
  { "{\"model\": \"m.tflite\", \"models\": [{\"id\": \"a\", \"path\": "
    "\"x\"}]}", "models: give either models or the one-model keys" },
};

START_TEST(test_models_config)
{
  ServerConfig *c = server_config_new();
  GError *e = NULL;
  gboolean ok = server_config_load_text(c, model_configs[_i].json,
                                        strlen(model_configs[_i].json),
                                        "test", &e);
  if (!model_configs[_i].want) {
    ck_assert_msg(ok, "%s: %s", model_configs[_i].json, e ? e->message : "");
  } else {
    ck_assert_msg(!ok, "%s: accepted", model_configs[_i].json);
    ck_assert_msg(strstr(e->message, model_configs[_i].want), "%s: %s",
                  model_configs[_i].json, e->message);
    g_error_free(e);
  }
  if (ok && _i == 0) {
    ck_assert_uint_eq(c->models->len, 2);
    const ConfigModel *b = g_ptr_array_index(c->models, 1);
    ck_assert_str_eq(b->id, "b");
    ck_assert_str_eq(b->labels, "l.txt");
    ck_assert_int_eq(b->engine, CONFIG_ENGINE_FLOAT);
    const ConfigStream *st = g_ptr_array_index(c->streams, 0);
    ck_assert_str_eq(st->config.model, "b");
  }
  server_config_free(c);
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
  tc = tcase_create("stream-roi");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_stream_roi_bad, 0,
                      (int)(sizeof bad_stream_rois / sizeof bad_stream_rois[0]));
  tcase_add_test(tc, test_stream_roi_patch);
  tcase_add_test(tc, test_stream_roi_live);
  suite_add_tcase(s, tc);
  tc = tcase_create("models");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup_two, teardown);
  tcase_add_test(tc, test_models_list);
  tcase_add_test(tc, test_models_streams);
  suite_add_tcase(s, tc);
  tc = tcase_create("one-model");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_models_one);
  suite_add_tcase(s, tc);
  tc = tcase_create("models-config");
  tcase_add_loop_test(tc, test_models_config, 0,
                      (int)(sizeof model_configs / sizeof model_configs[0]));
  suite_add_tcase(s, tc);
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
