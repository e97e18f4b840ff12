/* Tests of server/routes.c: the HTTP API as pure functions, on a real
 * registry (tiny random-weight MobileNetV2 0.35/96, test: streams). Success
 * shapes and every error path: bad JSON, missing fields, wrong types,
 * unknown ids, oversize bodies, bad or missing tokens, 405 with Allow, 404;
 * credentials never in a response; write-back and restore with the same
 * ids. */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server-fixture.h"
#include "testutil.h"

#define TOKEN "t0ken-For-tests_1"
#define AUTH "Bearer " TOKEN
#define MAX_STREAMS 4
#define BODY_LIMIT 4096
/* A frame of a test: stream reaches the model within a second; the margin
 * covers a loaded 2-core machine. */
#define PREDICTION_TIMEOUT_S 20.0

static ServerFixture fx;

static void
setup(void)
{
  server_fixture_init(&fx, 2, MAX_STREAMS, NULL, BODY_LIMIT);
}

static void
setup_auth(void)
{
  server_fixture_init(&fx, 1, MAX_STREAMS, TOKEN, BODY_LIMIT);
}

static void
teardown(void)
{
  server_fixture_clear(&fx);
}

static guint
req(const char *method, const char *path, const char *body, json_t **j)
{
  return fixture_request(&fx, method, path, NULL, NULL, body, NULL, j, NULL);
}

/* Checks the error shape {"error": {"code", "message"}} (exactly) and the
 * code; returns the message (borrowed from j). */
static const char *
check_error(json_t *j, const char *code)
{
  ck_assert_msg(json_is_object(j), "error body is not a JSON object");
  ck_assert_uint_eq(json_object_size(j), 1);
  json_t *e = json_object_get(j, "error");
  ck_assert(json_is_object(e));
  ck_assert_uint_eq(json_object_size(e), 2);
  ck_assert(json_is_string(json_object_get(e, "code")));
  ck_assert(json_is_string(json_object_get(e, "message")));
  ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
  const char *msg = json_string_value(json_object_get(e, "message"));
  ck_assert(strlen(msg) > 0);
  return msg;
}

/* POSTs a stream; returns its id (new string). */
static char *
create(const char *body)
{
  json_t *j = NULL;
  RouteResponse resp;
  guint st = fixture_request(&fx, "POST", "/api/v1/streams", NULL, NULL,
                             body, NULL, &j, &resp);
  ck_assert_msg(st == 201, "POST %s -> %u", body, st);
  const char *id = json_string_value(json_object_get(j, "id"));
  ck_assert_ptr_nonnull(id);
  char *loc = g_strdup_printf("/api/v1/streams/%s", id);
  ck_assert_str_eq(route_response_header(&resp, "Location"), loc);
  g_free(loc);
  char *ret = g_strdup(id);
  route_response_clear(&resp);
  json_decref(j);
  return ret;
}

/* ---- success shapes ---- */

START_TEST(test_healthz)
{
  json_t *j = NULL;
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/healthz", NULL, NULL, NULL,
                                    NULL, &j, &resp), 200);
  ck_assert_str_eq(resp.content_type, "application/json");
  ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
  route_response_clear(&resp);
  json_decref(j);
}
END_TEST

START_TEST(test_streams_lifecycle)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/streams", NULL, &j), 200);
  ck_assert(json_is_array(json_object_get(j, "streams")));
  ck_assert_uint_eq(json_array_size(json_object_get(j, "streams")), 0);
  json_decref(j);

  char *id = create("{\"name\": \"cam\", \"uri\": \"test:\", \"max_fps\": "
                    "10, \"top_k\": 3, \"pattern\": \"ball\"}");
  ck_assert_str_eq(id, "stream-1");

  ck_assert_uint_eq(req("GET", "/api/v1/streams", NULL, &j), 200);
  json_t *arr = json_object_get(j, "streams");
  ck_assert_uint_eq(json_array_size(arr), 1);
  json_t *s = json_array_get(arr, 0);
  ck_assert_str_eq(json_string_value(json_object_get(s, "id")), id);
  ck_assert_str_eq(json_string_value(json_object_get(s, "name")), "cam");
  ck_assert_str_eq(json_string_value(json_object_get(s, "uri")), "test:");
  ck_assert_str_eq(json_string_value(json_object_get(s, "pattern")), "ball");
  ck_assert_int_eq(json_integer_value(json_object_get(s, "top_k")), 3);
  ck_assert(json_real_value(json_object_get(s, "max_fps")) == 10.0);
  ck_assert(json_is_true(json_object_get(s, "enabled")));
  const char *state = json_string_value(json_object_get(s, "state"));
  ck_assert_msg(state && (strcmp(state, "starting") == 0 ||
                          strcmp(state, "running") == 0), "state %s", state);
  ck_assert(json_is_string(json_object_get(s, "created_time")));
  ck_assert(g_str_has_suffix(json_string_value(json_object_get(
                                 s, "created_time")), "Z"));
  json_t *counters = json_object_get(s, "counters");
  ck_assert(json_is_integer(json_object_get(counters, "frames_received")));
  ck_assert(json_is_integer(json_object_get(counters, "frames_inferred")));
  ck_assert(json_is_integer(json_object_get(counters, "frames_dropped")));
  json_decref(j);

  /* GET one. */
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  ck_assert_uint_eq(req("GET", path, NULL, &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
  json_decref(j);
  ck_assert_uint_eq(req("HEAD", path, NULL, NULL), 200);

  /* Predictions arrive with the documented shape. */
  json_t *p = fixture_wait_prediction(&fx, id, PREDICTION_TIMEOUT_S, NULL);
  ck_assert_msg(p != NULL, "no prediction within %g s",
                PREDICTION_TIMEOUT_S);
  ck_assert_int_ge(json_integer_value(json_object_get(p, "seq")), 1);
  ck_assert_int_ge(json_integer_value(json_object_get(p, "frame")), 1);
  ck_assert(json_is_string(json_object_get(p, "capture_time")));
  ck_assert(json_is_integer(json_object_get(p, "capture_mono_ns")));
  ck_assert(json_is_string(json_object_get(p, "model")));
  json_t *in = json_object_get(p, "input");
  ck_assert_int_eq(json_integer_value(json_object_get(in, "width")), 96);
  ck_assert_int_eq(json_integer_value(json_object_get(in, "height")), 96);
  json_t *classes = json_object_get(p, "classes");
  ck_assert_uint_eq(json_array_size(classes), 3);
  double prev = 2.0;
  for (size_t i = 0; i < json_array_size(classes); i++) {
    json_t *c = json_array_get(classes, i);
    json_int_t index = json_integer_value(json_object_get(c, "index"));
    double score = json_number_value(json_object_get(c, "score"));
    ck_assert_msg(index >= 0 && index < 1000, "class %zu index %lld", i,
                  (long long)index);
    ck_assert_msg(score >= 0.0 && score <= 1.0 && score <= prev,
                  "class %zu score %g after %g", i, score, prev);
    /* A built model has no labels. */
    ck_assert(json_is_null(json_object_get(c, "label")));
    prev = score;
  }
  json_t *lat = json_object_get(p, "latency_ms");
  const char *stages[] = { "queue", "preprocess", "infer", "e2e" };
  for (int i = 0; i < 4; i++) {
    json_t *v = json_object_get(lat, stages[i]);
    ck_assert_msg(json_is_number(v) && json_number_value(v) >= 0.0,
                  "latency_ms.%s", stages[i]);
  }
  ck_assert(json_number_value(json_object_get(lat, "e2e")) >=
            json_number_value(json_object_get(lat, "infer")));
  json_decref(p);

  /* History: oldest first, bounded by limit. */
  char *hpath = g_strdup_printf("/api/v1/streams/%s/predictions", id);
  /* Wait for at least two predictions. */
  for (int tries = 0; tries < 400; tries++) {
    ck_assert_uint_eq(fixture_request(&fx, "GET", hpath, "limit", "2", NULL,
                                      NULL, &j, NULL), 200);
    json_int_t n = json_integer_value(json_object_get(j, "count"));
    json_decref(j);
    if (n == 2)
      break;
    g_usleep(50 * 1000);
  }
  ck_assert_uint_eq(fixture_request(&fx, "GET", hpath, "limit", "2", NULL,
                                    NULL, &j, NULL), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "stream_id")), id);
  json_t *preds = json_object_get(j, "predictions");
  ck_assert_uint_eq(json_array_size(preds), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 2);
  ck_assert_int_lt(json_integer_value(json_object_get(json_array_get(preds, 0),
                                                      "seq")),
                   json_integer_value(json_object_get(json_array_get(preds, 1),
                                                      "seq")));
  json_decref(j);
  /* Default limit. */
  ck_assert_uint_eq(req("GET", hpath, NULL, &j), 200);
  ck_assert_int_le(json_array_size(json_object_get(j, "predictions")), 10);
  ck_assert_int_ge(json_array_size(json_object_get(j, "predictions")), 2);
  json_decref(j);

  /* DELETE: 204 without a body, then 404 everywhere. */
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "DELETE", path, NULL, NULL, NULL,
                                    NULL, NULL, &resp), 204);
  ck_assert_uint_eq(resp.body_len, 0);
  route_response_clear(&resp);
  ck_assert_uint_eq(req("GET", path, NULL, &j), 404);
  check_error(j, "not_found");
  json_decref(j);
  ck_assert_uint_eq(req("DELETE", path, NULL, &j), 404);
  check_error(j, "not_found");
  json_decref(j);
  ck_assert_uint_eq(req("GET", hpath, NULL, &j), 404);
  json_decref(j);
  ck_assert_uint_eq(req("GET", "/api/v1/streams", NULL, &j), 200);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "streams")), 0);
  json_decref(j);
  g_free(hpath);
  g_free(path);
  g_free(id);
}
END_TEST

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

START_TEST(test_stats_shape)
{
  char *id = create("{\"name\": \"a\", \"uri\": \"test:\", \"max_fps\": 20}");
  json_t *p = fixture_wait_prediction(&fx, id, PREDICTION_TIMEOUT_S, NULL);
  ck_assert_ptr_nonnull(p);
  json_decref(p);
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *pool = json_object_get(j, "pool");
  ck_assert_int_eq(json_integer_value(json_object_get(pool, "threads")), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(pool,
                                                      "queue_capacity")),
                   MAX_STREAMS + 2);
  ck_assert(json_is_integer(json_object_get(pool, "queue_depth")));
  ck_assert(json_is_integer(json_object_get(pool, "busy_workers")));
  ck_assert_int_ge(json_integer_value(json_object_get(pool, "jobs_done")), 1);
  ck_assert(json_number_value(json_object_get(j, "uptime_s")) >= 0.0);
  ck_assert_int_gt(json_integer_value(json_object_get(
                       json_object_get(j, "process"), "rss_bytes")), 0);
  json_t *cfg = json_object_get(j, "config");
  ck_assert_str_eq(json_string_value(json_object_get(cfg, "path")),
                   fx.config_path);
  ck_assert(json_is_true(json_object_get(cfg, "persisted")));
  json_t *streams = json_object_get(j, "streams");
  ck_assert_uint_eq(json_array_size(streams), 1);
  json_t *s = json_array_get(streams, 0);
  ck_assert_str_eq(json_string_value(json_object_get(s, "id")), id);
  ck_assert_int_ge(json_integer_value(json_object_get(
                       json_object_get(s, "counters"), "frames_inferred")),
                   1);
  const char *stages[] = { "queue", "preprocess", "infer", "e2e" };
  for (int i = 0; i < 4; i++) {
    json_t *st = json_object_get(json_object_get(s, "latency_ms"), stages[i]);
    for (int w = 0; w < 2; w++) {
      json_t *sum = json_object_get(st, w ? "since_start" : "last_60s");
      ck_assert_msg(json_is_object(sum), "%s window %d", stages[i], w);
      ck_assert_int_ge(json_integer_value(json_object_get(sum, "count")), 1);
      double p50 = json_number_value(json_object_get(sum, "p50"));
      double p99 = json_number_value(json_object_get(sum, "p99"));
      double mx = json_number_value(json_object_get(sum, "max"));
      ck_assert_msg(p50 >= 0 && p50 <= p99 * 1.0001 + 1e-9 &&
                    p99 <= mx * 1.05 + 1e-3,
                    "%s: p50 %g p99 %g max %g", stages[i], p50, p99, mx);
      ck_assert(json_is_number(json_object_get(sum, "p90")));
    }
  }
  json_decref(j);
  g_free(id);
}
END_TEST

/* ---- error paths ---- */

typedef struct {
  const char *body;
  guint status;
  const char *code;
  const char *msg; /* substring */
} BadPost;

static const BadPost bad_posts[] = {
  { "{\"name\": \"a\", \"uri\": ", 400, "invalid_json", "request body: line" },
  { "not json", 400, "invalid_json", "request body" },
  { "[]", 400, "invalid_json", "must be a JSON object" },
  { "\"a\"", 400, "invalid_json", "request body" },
  { "", 400, "invalid_json", "request body: empty" },
  { "{\"name\": \"a\", \"name\": \"b\", \"uri\": \"test:\"}", 400,
    "invalid_json", "duplicate" },
  { "{\"uri\": \"test:\"}", 400, "invalid_argument", "name: required" },
  { "{\"name\": \"a\"}", 400, "invalid_argument", "uri: required" },
  { "{\"name\": 1, \"uri\": \"test:\"}", 400, "invalid_argument",
    "name: must be a string" },
  { "{\"name\": \"a\", \"uri\": [\"test:\"]}", 400, "invalid_argument",
    "uri: must be a string" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"max_fps\": \"x\"}", 400,
    "invalid_argument", "max_fps: must be a number" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"max_fps\": -3}", 400,
    "invalid_argument", "max_fps:" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"top_k\": 2.5}", 400,
    "invalid_argument", "top_k: must be an integer 1..10" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"enabled\": \"yes\"}", 400,
    "invalid_argument", "enabled: must be true or false" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"transport\": 1}", 400,
    "invalid_argument", "transport: must be one of" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"fps\": 3}", 400,
    "invalid_argument", "fps: unknown key" },
  { "{\"name\": \"a\", \"uri\": \"gopher://x\"}", 400, "invalid_argument",
    "uri: unsupported scheme" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"id\": \"No Caps\"}", 400,
    "invalid_argument", "id: must be" },
  { "{\"name\": \"a\", \"uri\": \"rtsp://u:p@ss@h/x\"}", 400,
    "invalid_argument", "uri:" },
};

START_TEST(test_create_bad_bodies)
{
  const BadPost *b = &bad_posts[_i];
  json_t *j = NULL;
  guint st = req("POST", "/api/v1/streams", b->body, &j);
  ck_assert_msg(st == b->status, "case %d: %u", _i, st);
  const char *msg = check_error(j, b->code);
  ck_assert_msg(strstr(msg, b->msg) != NULL, "case %d: '%s' lacks '%s'", _i,
                msg, b->msg);
  /* Never echo a password, even from a rejected URI. */
  ck_assert_msg(strstr(msg, "p@ss") == NULL, "case %d echoes: %s", _i, msg);
  json_decref(j);
  /* Nothing was added. */
  ck_assert_uint_eq(registry_count(fx.registry), 0);
}
END_TEST

START_TEST(test_create_conflicts_and_limit)
{
  char *a = create("{\"name\": \"a\", \"uri\": \"test:\", \"id\": \"mine\", "
                   "\"enabled\": false}");
  ck_assert_str_eq(a, "mine");
  json_t *j = NULL;
  ck_assert_uint_eq(req("POST", "/api/v1/streams", "{\"name\": \"a\", "
                        "\"uri\": \"test:\"}", &j), 409);
  check_error(j, "conflict");
  json_decref(j);
  ck_assert_uint_eq(req("POST", "/api/v1/streams", "{\"name\": \"b\", "
                        "\"uri\": \"test:\", \"id\": \"mine\"}", &j), 409);
  ck_assert(strstr(check_error(j, "conflict"), "id") != NULL);
  json_decref(j);
  for (int i = 1; i < MAX_STREAMS; i++) {
    char *body = g_strdup_printf("{\"name\": \"s%d\", \"uri\": \"test:\", "
                                 "\"enabled\": false}", i);
    g_free(create(body));
    g_free(body);
  }
  ck_assert_uint_eq(req("POST", "/api/v1/streams", "{\"name\": \"x\", "
                        "\"uri\": \"test:\"}", &j), 409);
  check_error(j, "limit_reached");
  json_decref(j);
  ck_assert_uint_eq(registry_count(fx.registry), MAX_STREAMS);
  g_free(a);
}
END_TEST

START_TEST(test_oversize_body)
{
  RouteRequest r = {
    .method = "POST", .path = "/api/v1/streams", .body_too_large = TRUE,
  };
  RouteResponse resp = { 0 };
  routes_handle(fx.routes, &r, &resp);
  ck_assert_uint_eq(resp.status, 413);
  json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
  const char *msg = check_error(j, "payload_too_large");
  ck_assert_msg(strstr(msg, "4096") != NULL, "%s", msg);
  json_decref(j);
  route_response_clear(&resp);
}
END_TEST

START_TEST(test_unknown_ids)
{
  const char *paths[] = {
    "/api/v1/streams/nope", "/api/v1/streams/nope/predictions",
    "/api/v1/streams/nope/predictions/latest",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
    json_t *j = NULL;
    ck_assert_uint_eq(req("GET", paths[i], NULL, &j), 404);
    const char *msg = check_error(j, "not_found");
    ck_assert_msg(strstr(msg, "'nope'") != NULL, "%s: %s", paths[i], msg);
    json_decref(j);
  }
  json_t *j = NULL;
  ck_assert_uint_eq(req("DELETE", "/api/v1/streams/nope", NULL, &j), 404);
  check_error(j, "not_found");
  json_decref(j);
  /* Ids that cannot be ids are not echoed. */
  char longid[200];
  memset(longid, 'a', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  char *p = g_strdup_printf("/api/v1/streams/%s", longid);
  ck_assert_uint_eq(req("GET", p, NULL, &j), 404);
  ck_assert(strstr(check_error(j, "not_found"), "aaaa") == NULL);
  json_decref(j);
  g_free(p);
  ck_assert_uint_eq(req("GET", "/api/v1/streams/<script>", NULL, &j), 404);
  ck_assert(strstr(check_error(j, "not_found"), "<script>") == NULL);
  json_decref(j);
}
END_TEST

START_TEST(test_history_limit_param)
{
  char *id = create("{\"name\": \"a\", \"uri\": \"test:\", \"enabled\": "
                    "false}");
  char *path = g_strdup_printf("/api/v1/streams/%s/predictions", id);
  const char *bad[] = { "0", "-1", "abc", "10001", "", "1.5", "99999999999" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    json_t *j = NULL;
    ck_assert_msg(fixture_request(&fx, "GET", path, "limit", bad[i], NULL,
                                  NULL, &j, NULL) == 400, "limit=%s", bad[i]);
    const char *msg = check_error(j, "invalid_argument");
    ck_assert_msg(strstr(msg, "limit: must be an integer 1..10000") != NULL,
                  "%s", msg);
    json_decref(j);
  }
  const char *good[] = { "1", "10000" };
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
    ck_assert_uint_eq(fixture_request(&fx, "GET", path, "limit", good[i],
                                      NULL, NULL, NULL, NULL), 200);
  g_free(path);
  g_free(id);
}
END_TEST

typedef struct {
  const char *method;
  const char *path;
  guint status;
  const char *allow; /* for 405 and OPTIONS */
} MethodCase;

static const MethodCase method_cases[] = {
  { "PUT", "/api/v1/streams", 405, "GET, HEAD, POST, OPTIONS" },
  { "DELETE", "/api/v1/streams", 405, "GET, HEAD, POST, OPTIONS" },
  { "POST", "/healthz", 405, "GET, HEAD, OPTIONS" },
  { "POST", "/api/v1/streams/x", 405, "GET, HEAD, PATCH, DELETE, OPTIONS" },
  { "DELETE", "/api/v1/streams/x/predictions", 405, "GET, HEAD, OPTIONS" },
  { "POST", "/api/v1/streams/x/predictions/latest", 405,
    "GET, HEAD, OPTIONS" },
  { "PATCH", "/api/v1/stats", 405, "GET, HEAD, OPTIONS" },
  { "BREW", "/api/v1/stats", 405, "GET, HEAD, OPTIONS" },
  { "OPTIONS", "/api/v1/streams", 204, "GET, HEAD, POST, OPTIONS" },
  { "POST", "/", 405, "GET, HEAD, OPTIONS" }, /* the dashboard */
  { "GET", "/api/v2/streams", 404, NULL },
  { "GET", "/api/v1/streams/", 404, NULL },
  { "GET", "/api/v1/streams/x/y", 404, NULL },
  { "GET", "/api/v1/streams/x/predictions/", 404, NULL },
  { "GET", "/healthz/", 404, NULL },
  { "GET", "/api/v1/statsx", 404, NULL },
  { "GET", "", 404, NULL },
  { "DELETE", "/nothing", 404, NULL },
};

START_TEST(test_methods_and_unknown_routes)
{
  const MethodCase *mc = &method_cases[_i];
  json_t *j = NULL;
  RouteResponse resp;
  guint st = fixture_request(&fx, mc->method, mc->path, NULL, NULL, NULL,
                             NULL, &j, &resp);
  ck_assert_msg(st == mc->status, "case %d %s %s: %u", _i, mc->method,
                mc->path, st);
  if (mc->allow) {
    const char *allow = route_response_header(&resp, "Allow");
    ck_assert_msg(allow && strcmp(allow, mc->allow) == 0,
                  "case %d: Allow '%s', want '%s'", _i, allow ? allow : "",
                  mc->allow);
  }
  if (st == 405)
    check_error(j, "method_not_allowed");
  if (st == 404)
    check_error(j, "not_found");
  route_response_clear(&resp);
  json_decref(j);
}
END_TEST

/* ---- credentials ---- */

START_TEST(test_credentials_never_returned)
{
  /* An RTSP camera that does not exist, with a password: the stream fails,
   * retries, and shows last_error. Nothing the API returns may hold the
   * password. */
  char *id = create("{\"name\": \"door\", \"uri\": "
                    "\"rtsp://admin:Hunter2%40x@127.0.0.1:9/live\", "
                    "\"backoff_initial_s\": 0.2, \"backoff_max_s\": 0.5}");
  char *paths[] = {
    "/api/v1/streams", g_strdup_printf("/api/v1/streams/%s", id),
    "/api/v1/stats",
  };
  gboolean saw_error = FALSE;
  for (int round = 0; round < 60 && !saw_error; round++) {
    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
      RouteResponse resp;
      ck_assert_uint_eq(fixture_request(&fx, "GET", paths[i], NULL, NULL,
                                        NULL, NULL, NULL, &resp), 200);
      char *text = g_strndup(resp.body, resp.body_len);
      ck_assert_msg(strstr(text, "Hunter2") == NULL, "%s leaks: %s",
                    paths[i], text);
      if (i == 1 && strstr(text, "\"last_error\":\""))
        saw_error = TRUE;
      if (i == 1)
        ck_assert_msg(strstr(text, "\"uri\":\"rtsp://***@127.0.0.1:9/live\"")
                      != NULL, "uri not redacted as expected: %s", text);
      g_free(text);
      route_response_clear(&resp);
    }
    g_usleep(100 * 1000);
  }
  ck_assert_msg(saw_error, "the unreachable camera never reported an error");
  /* The file keeps the real URI (the server needs it to reconnect), and is
   * readable by its owner only. */
  char *text = NULL;
  ck_assert(g_file_get_contents(fx.config_path, &text, NULL, NULL));
  ck_assert(strstr(text, "Hunter2%40x") != NULL);
  g_free(text);
  struct stat sb;
  ck_assert_int_eq(stat(fx.config_path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 0777, 0600);
  g_free(paths[1]);
  g_free(id);
}
END_TEST

/* ---- auth ---- */

typedef struct {
  const char *path;
  const char *authorization;
  guint status;
} AuthCase;

static const AuthCase auth_cases[] = {
  { "/api/v1/streams", NULL, 401 },
  { "/api/v1/streams", AUTH, 200 },
  { "/api/v1/streams", "bearer " TOKEN, 200 },
  { "/api/v1/streams", "Bearer   " TOKEN "  ", 200 },
  { "/api/v1/streams", "Bearer wrong", 401 },
  { "/api/v1/streams", "Bearer " TOKEN "x", 401 },
  { "/api/v1/streams", "Bearer t0ken-For-tests_", 401 },
  { "/api/v1/streams", "Bearer ", 401 },
  { "/api/v1/streams", "Bearer", 401 },
  { "/api/v1/streams", "Basic dXNlcjpwYXNz", 401 },
  { "/api/v1/streams", TOKEN, 401 },
  { "/api/v1/stats", NULL, 401 },
  { "/api/v1/stats", AUTH, 200 },
  { "/api/v1/streams/x", NULL, 401 },
  { "/api/v1/streams/x", AUTH, 404 },
  { "/no/such/route", NULL, 401 },
  { "/no/such/route", AUTH, 404 },
  { "/healthz", NULL, 200 },
  { "/healthz", "Bearer wrong", 200 },
};

START_TEST(test_bearer_token)
{
  const AuthCase *ac = &auth_cases[_i];
  json_t *j = NULL;
  RouteResponse resp;
  guint st = fixture_request(&fx, "GET", ac->path, NULL, NULL, NULL,
                             ac->authorization, &j, &resp);
  ck_assert_msg(st == ac->status, "case %d (%s, %s): %u", _i, ac->path,
                ac->authorization ? ac->authorization : "none", st);
  if (st == 401) {
    check_error(j, "unauthorized");
    const char *www = route_response_header(&resp, "WWW-Authenticate");
    ck_assert_msg(www && g_str_has_prefix(www, "Bearer realm="), "case %d",
                  _i);
    /* The token is never echoed. */
    ck_assert(memmem(resp.body, resp.body_len, TOKEN, strlen(TOKEN)) ==
              NULL);
  }
  route_response_clear(&resp);
  json_decref(j);
}
END_TEST

START_TEST(test_bearer_token_on_writes)
{
  json_t *j = NULL;
  ck_assert_uint_eq(fixture_request(&fx, "POST", "/api/v1/streams", NULL,
                                    NULL, "{\"name\": \"a\", \"uri\": "
                                    "\"test:\"}", NULL, &j, NULL), 401);
  json_decref(j);
  ck_assert_uint_eq(registry_count(fx.registry), 0);
  ck_assert_uint_eq(fixture_request(&fx, "POST", "/api/v1/streams", NULL,
                                    NULL, "{\"name\": \"a\", \"uri\": "
                                    "\"test:\", \"enabled\": false}", AUTH,
                                    &j, NULL), 201);
  const char *id = json_string_value(json_object_get(j, "id"));
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  json_decref(j);
  ck_assert_uint_eq(fixture_request(&fx, "DELETE", path, NULL, NULL, NULL,
                                    "Bearer nope", NULL, NULL), 401);
  ck_assert_uint_eq(registry_count(fx.registry), 1);
  ck_assert_uint_eq(fixture_request(&fx, "DELETE", path, NULL, NULL, NULL,
                                    AUTH, NULL, NULL), 204);
  ck_assert_uint_eq(registry_count(fx.registry), 0);
  g_free(path);
}
END_TEST

/* ---- persistence ---- */

START_TEST(test_write_back_and_restore)
{
  char *a = create("{\"name\": \"one\", \"uri\": \"test:\", \"enabled\": "
                   "false, \"top_k\": 2}");
  char *b = create("{\"name\": \"two\", \"uri\": \"test:\", \"id\": "
                   "\"cam-b\", \"enabled\": false}");
  char *c = create("{\"name\": \"three\", \"uri\": \"test:\", \"enabled\": "
                   "false}");
  char *path = g_strdup_printf("/api/v1/streams/%s", a);
  ck_assert_uint_eq(req("DELETE", path, NULL, NULL), 204);

  /* The file has exactly the two streams left, with their ids. */
  ServerConfig *cfg = server_config_new();
  GError *e = NULL;
  ck_assert_msg(server_config_load_file(cfg, fx.config_path, &e), "%s",
                e ? e->message : "");
  ck_assert(!cfg->streams_defaulted);
  ck_assert_uint_eq(cfg->streams->len, 2);
  ConfigStream *s0 = g_ptr_array_index(cfg->streams, 0);
  ConfigStream *s1 = g_ptr_array_index(cfg->streams, 1);
  ck_assert_str_eq(s0->id, "cam-b");
  ck_assert_str_eq(s0->config.name, "two");
  ck_assert_str_eq(s1->id, c);
  ck_assert(!s1->config.enabled);

  /* A restart: a new stack restores them under the same ids, as serve
   * does, and new streams do not reuse those ids. */
  server_fixture_clear(&fx);
  server_fixture_init(&fx, 1, MAX_STREAMS, NULL, BODY_LIMIT);
  for (guint i = 0; i < cfg->streams->len; i++) {
    ConfigStream *s = g_ptr_array_index(cfg->streams, i);
    ck_assert(registry_add(fx.registry, s->id, &s->config, NULL, NULL));
  }
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/streams", NULL, &j), 200);
  json_t *arr = json_object_get(j, "streams");
  ck_assert_uint_eq(json_array_size(arr), 2);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0),
                                                     "id")), "cam-b");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 1),
                                                     "id")), c);
  json_decref(j);
  char *d = create("{\"name\": \"four\", \"uri\": \"test:\", \"enabled\": "
                   "false}");
  ck_assert_str_ne(d, c);
  ck_assert_str_ne(d, "cam-b");
  server_config_free(cfg);
  g_free(path);
  g_free(a);
  g_free(b);
  g_free(c);
  g_free(d);
}
END_TEST

START_TEST(test_write_failure_reported)
{
  config_store_set_fault(fx.store, CONFIG_FAULT_WRITE_ENOSPC);
  RouteResponse resp;
  json_t *j = NULL;
  ck_assert_uint_eq(fixture_request(&fx, "POST", "/api/v1/streams", NULL,
                                    NULL, "{\"name\": \"a\", \"uri\": "
                                    "\"test:\", \"enabled\": false}", NULL,
                                    &j, &resp), 201);
  const char *warn = route_response_header(&resp, "Warning");
  ck_assert_msg(warn && g_str_has_prefix(warn, "199 streamsight \"config "
                                               "file not saved"),
                "Warning: %s", warn ? warn : "(none)");
  route_response_clear(&resp);
  json_decref(j);
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *cfg = json_object_get(j, "config");
  ck_assert(json_is_false(json_object_get(cfg, "persisted")));
  ck_assert(json_is_string(json_object_get(cfg, "last_write_error")));
  ck_assert_int_ge(json_integer_value(json_object_get(cfg, "writes_failed")),
                   1);
  json_decref(j);
  ck_assert(!g_file_test(fx.config_path, G_FILE_TEST_EXISTS));
}
END_TEST

static Suite *
routes_suite(void)
{
  Suite *s = suite_create("routes");
  TCase *tc = tcase_create("shapes");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_healthz);
  tcase_add_test(tc, test_streams_lifecycle);
  tcase_add_test(tc, test_latest_before_first_prediction);
  tcase_add_test(tc, test_stats_shape);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_create_bad_bodies, 0,
                      (int)G_N_ELEMENTS(bad_posts));
  tcase_add_test(tc, test_create_conflicts_and_limit);
  tcase_add_test(tc, test_oversize_body);
  tcase_add_test(tc, test_unknown_ids);
  tcase_add_test(tc, test_history_limit_param);
  tcase_add_loop_test(tc, test_methods_and_unknown_routes, 0,
                      (int)G_N_ELEMENTS(method_cases));
  tcase_add_test(tc, test_credentials_never_returned);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_bearer_token, 0,
                      (int)G_N_ELEMENTS(auth_cases));
  tcase_add_test(tc, test_bearer_token_on_writes);
  suite_add_tcase(s, tc);

  tc = tcase_create("persistence");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_write_back_and_restore);
  tcase_add_test(tc, test_write_failure_reported);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(routes_suite());
}
