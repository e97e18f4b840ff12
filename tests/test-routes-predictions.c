/* Tests of server/routes*.c: a stream's predictions: latest (before the
 * first one too), history with limit, since and after_seq, and the cached
 * answers. Pure functions on a real registry (routes-fixture.h). */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gst/video/video.h>

#include "api-json.h"
#include "image-classify.h"
#include "image-decode.h"
#include "prom-check.h"
#include "routes-fixture.h"
#include "sse-parse.h"
#include "testutil.h"

START_TEST(test_latest_before_first_prediction)
{
  /* A disabled stream never infers: latest is 200 with null. */
  char *id = create("{\"name\": \"off\", \"uri\": \"test:\", \"enabled\": "
                    "false}");
  char *path = g_strdup_printf("/api/v1/streams/%s/predictions/latest", id);
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", path, NULL, &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "stream_id")), id);
  ck_assert(json_is_null(json_object_get(j, "prediction")));
  json_decref(j);
  char *hpath = g_strdup_printf("/api/v1/streams/%s/predictions", id);
  ck_assert_uint_eq(req("GET", hpath, NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "predictions")), 0);
  json_decref(j);
  char *gpath = g_strdup_printf("/api/v1/streams/%s", id);
  ck_assert_uint_eq(req("GET", gpath, NULL, &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "stopped");
  ck_assert(json_is_false(json_object_get(j, "enabled")));
  json_decref(j);
  g_free(gpath);
  g_free(hpath);
  g_free(path);
  g_free(id);
}
END_TEST

/* ---- history: since, after_seq ---- */

START_TEST(test_history_since)
{
  char *id = create("{\"name\": \"h\", \"uri\": \"test:\", \"max_fps\": 30}");
  wait_history(id, 6);
  char *path = g_strdup_printf("/api/v1/streams/%s/predictions", id);
  json_t *all = NULL;
  ck_assert_uint_eq(fixture_request(&fx, "GET", path, "limit", "6", NULL,
                                    NULL, &all, NULL), 200);
  json_t *preds = json_object_get(all, "predictions");
  ck_assert_uint_eq(json_array_size(preds), 6);
  json_t *mid = json_array_get(preds, 3);
  json_int_t mid_seq = json_integer_value(json_object_get(mid, "seq"));
  json_int_t mid_mono =
      json_integer_value(json_object_get(mid, "capture_mono_ns"));
  const char *mid_time = json_string_value(json_object_get(mid,
                                                           "capture_time"));

  /* Monotonic ns: inclusive. */
  char v[64];
  g_snprintf(v, sizeof v, "%lld", (long long)mid_mono);
  json_t *j = NULL;
  RouteParam q1[] = { { "since", v }, { "limit", "10000" } };
  ck_assert_uint_eq(req_full("GET", path, q1, 2, NULL, 0, NULL, NULL, &j,
                             NULL), 200);
  json_t *arr = json_object_get(j, "predictions");
  ck_assert_uint_ge(json_array_size(arr), 3);
  ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0),
                                                      "seq")), mid_seq);
  for (size_t i = 0; i < json_array_size(arr); i++)
    ck_assert_int_ge(json_integer_value(json_object_get(
                         json_array_get(arr, i), "capture_mono_ns")),
                     mid_mono);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")),
                   (json_int_t)json_array_size(arr));
  json_decref(j);

  /* ISO time (ms resolution, so the one captured in that ms is in). */
  RouteParam q2[] = { { "since", mid_time }, { "limit", "10000" } };
  ck_assert_uint_eq(req_full("GET", path, q2, 2, NULL, 0, NULL, NULL, &j,
                             NULL), 200);
  arr = json_object_get(j, "predictions");
  ck_assert_uint_ge(json_array_size(arr), 3);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const char *t = json_string_value(json_object_get(json_array_get(arr, i),
                                                      "capture_time"));
    ck_assert_msg(strcmp(t, mid_time) >= 0, "%s before %s", t, mid_time);
  }
  ck_assert_int_le(json_integer_value(json_object_get(json_array_get(arr, 0),
                                                      "seq")), mid_seq);
  json_decref(j);
  /* The same instant as +00:00 with the '+' decoded to a space, as an
   * unencoded query delivers it. */
  char *plus = g_strdup(mid_time);
  plus[strlen(plus) - 1] = '\0';
  char *spaced = g_strdup_printf("%s 00:00", plus);
  RouteParam q3[] = { { "since", spaced }, { "limit", "10000" } };
  json_t *j2 = NULL;
  ck_assert_uint_eq(req_full("GET", path, q3, 2, NULL, 0, NULL, NULL, &j2,
                             NULL), 200);
  ck_assert_int_ge(json_integer_value(json_object_get(j2, "count")), 3);
  json_decref(j2);
  g_free(spaced);
  g_free(plus);

  /* A time in the future: none; far past: the whole history. */
  RouteParam q4[] = { { "since", "2999-01-01T00:00:00Z" } };
  ck_assert_uint_eq(req_full("GET", path, q4, 1, NULL, 0, NULL, NULL, &j,
                             NULL), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
  json_decref(j);
  RouteParam q5[] = { { "since", "2000-01-01T00:00:00+02:00" },
                      { "limit", "3" } };
  ck_assert_uint_eq(req_full("GET", path, q5, 2, NULL, 0, NULL, NULL, &j,
                             NULL), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 3);
  json_decref(j);

  /* after_seq: strictly after. */
  g_snprintf(v, sizeof v, "%lld", (long long)mid_seq);
  RouteParam q6[] = { { "after_seq", v }, { "limit", "10000" } };
  ck_assert_uint_eq(req_full("GET", path, q6, 2, NULL, 0, NULL, NULL, &j,
                             NULL), 200);
  arr = json_object_get(j, "predictions");
  ck_assert_uint_ge(json_array_size(arr), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0),
                                                      "seq")), mid_seq + 1);
  json_decref(j);

  const char *bad_since[] = { "abc", "2026-01-01T00:00:00", "", "-5",
                              "0", "2026-13-01T00:00:00Z",
                              "99999999999999999999999" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad_since); i++) {
    RouteParam q[] = { { "since", bad_since[i] } };
    ck_assert_msg(req_full("GET", path, q, 1, NULL, 0, NULL, NULL, &j,
                           NULL) == 400, "since=%s", bad_since[i]);
    ck_assert(strstr(check_error(j, "invalid_argument"), "since:") != NULL);
    json_decref(j);
  }
  const char *bad_after[] = { "x", "-1", "" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad_after); i++) {
    RouteParam q[] = { { "after_seq", bad_after[i] } };
    ck_assert_uint_eq(req_full("GET", path, q, 1, NULL, 0, NULL, NULL, &j,
                               NULL), 400);
    ck_assert(strstr(check_error(j, "invalid_argument"), "after_seq:") !=
              NULL);
    json_decref(j);
  }
  json_decref(all);
  g_free(path);
  g_free(id);
}
END_TEST

/* The answers of latest/history are cached per stream while no new
 * prediction arrives: a new prediction, and a new stream under the same
 * id, must show at once. */
START_TEST(test_prediction_cache)
{
  char *id = create("{\"name\": \"c\", \"uri\": \"test:\", \"id\": \"same\", "
                    "\"max_fps\": 30}");
  wait_history(id, 2);
  json_t *a = NULL, *b = NULL;
  ck_assert_uint_eq(fixture_request(&fx, "GET",
                                    "/api/v1/streams/same/predictions",
                                    "limit", "3", NULL, NULL, &a, NULL), 200);
  json_t *l1 = NULL, *l2 = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/streams/same/predictions/latest",
                        NULL, &l1), 200);
  json_int_t seq1 = json_integer_value(json_object_get(
      json_object_get(l1, "prediction"), "seq"));
  /* Later answers move on with the stream. */
  json_int_t seq2 = seq1;
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (seq2 == seq1 && g_get_monotonic_time() < deadline) {
    g_usleep(20 * 1000);
    ck_assert_uint_eq(req("GET", "/api/v1/streams/same/predictions/latest",
                          NULL, &l2), 200);
    seq2 = json_integer_value(json_object_get(
        json_object_get(l2, "prediction"), "seq"));
    json_decref(l2);
  }
  ck_assert_int_gt(seq2, seq1);
  ck_assert_uint_eq(fixture_request(&fx, "GET",
                                    "/api/v1/streams/same/predictions",
                                    "limit", "3", NULL, NULL, &b, NULL), 200);
  json_t *pa = json_object_get(a, "predictions"), *pb =
      json_object_get(b, "predictions");
  ck_assert_int_gt(json_integer_value(json_object_get(
                       json_array_get(pb, json_array_size(pb) - 1), "seq")),
                   json_integer_value(json_object_get(
                       json_array_get(pa, json_array_size(pa) - 1), "seq")));
  json_decref(a);
  json_decref(b);
  json_decref(l1);
  /* Same id, new stream: nothing of the old one. */
  ck_assert_uint_eq(req("DELETE", "/api/v1/streams/same", NULL, NULL), 204);
  g_free(create("{\"name\": \"c\", \"uri\": \"test:\", \"id\": \"same\", "
                "\"enabled\": false}"));
  ck_assert_uint_eq(req("GET", "/api/v1/streams/same/predictions/latest",
                        NULL, &a), 200);
  ck_assert(json_is_null(json_object_get(a, "prediction")));
  json_decref(a);
  ck_assert_uint_eq(fixture_request(&fx, "GET",
                                    "/api/v1/streams/same/predictions",
                                    "limit", "3", NULL, NULL, &a, NULL), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(a, "count")), 0);
  json_decref(a);
  g_free(id);
}
END_TEST

static Suite *
routes_predictions_suite(void)
{
  Suite *s = suite_create("routes-predictions");
  TCase *tc;

  tc = tcase_create("predictions");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_latest_before_first_prediction);
  tcase_add_test(tc, test_history_since);
  tcase_add_test(tc, test_prediction_cache);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(routes_predictions_suite());
}
