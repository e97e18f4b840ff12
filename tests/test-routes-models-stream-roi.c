/* A stream's region of interest through the model routes' server: the
 * "stream-roi" TCase of the routes-models suite
 * (routes-models-fixture.h). Bad regions refused by POST, PATCH and the
 * config file; a region kept through GET, PATCH and the config file; the
 * sink following it live, and the snapshot's outline. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "image-decode.h"
#include "routes-models-fixture.h"
#include "server-fixture.h"

/* ---- a stream's roi: config, POST, PATCH, the sink, snapshots ---- */

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

TCase *
routes_models_stream_roi_tcase(void)
{
  TCase *tc = tcase_create("stream-roi");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_stream_roi_bad, 0,
                      (int)(sizeof bad_stream_rois / sizeof bad_stream_rois[0]));
  tcase_add_test(tc, test_stream_roi_patch);
  tcase_add_test(tc, test_stream_roi_live);
  return tc;
}
