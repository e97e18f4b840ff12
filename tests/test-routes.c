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

#include <gst/video/video.h>
#include <math.h>

#include "api-json.h"
#include "image-classify.h"
#include "image-decode.h"
#include "prom-check.h"
#include "server-fixture.h"
#include "sse-parse.h"
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

/* Events tests: a short heartbeat and poll, a small queue. */
#define EVENTS_QUEUE_TEST 16

static void
setup_events(void)
{
  ServerFixtureOptions o = {
    .threads = 2,
    .max_streams = MAX_STREAMS,
    .max_body_bytes = BODY_LIMIT,
    .max_sse_clients = 8,
    .sse_queue_len = EVENTS_QUEUE_TEST,
    .sse_heartbeat_ms = 300,
    .sse_poll_ms = 200,
  };
  server_fixture_init_opts(&fx, &o);
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
  { "{\"name\": \"a\", \"uri\": \"test:\", \"options\": 3}", 400,
    "invalid_argument", "options: must be an object" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"options\": "
    "{\"uri\": \"test:\"}}", 400, "invalid_argument",
    "options.uri: unknown key" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"options\": "
    "{\"fps\": 3}}", 400, "invalid_argument", "options.fps: unknown key" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"max_fps\": 2, "
    "\"options\": {\"max_fps\": 3}}", 400, "invalid_argument",
    "options.max_fps: also given outside options" },
  { "{\"name\": \"a\", \"uri\": \"test:\", \"options\": "
    "{\"top_k\": 0}}", 400, "invalid_argument", "top_k: must be an integer" },
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

/* The documented {name, uri, options} shape: the options land on the
 * stream and in the config file exactly as when given beside name and uri. */
START_TEST(test_create_with_options_object)
{
  char *id = create("{\"name\": \"o\", \"uri\": \"test:\", "
                    "\"options\": {\"enabled\": false, \"max_fps\": 2.5, "
                    "\"top_k\": 3, \"decode\": \"keyframes\"}}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", path, NULL, &j), 200);
  ck_assert(json_real_value(json_object_get(j, "max_fps")) == 2.5);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), 3);
  ck_assert(json_is_false(json_object_get(j, "enabled")));
  ck_assert_str_eq(json_string_value(json_object_get(j, "decode")),
                   "keyframes");
  ck_assert_ptr_null(json_object_get(j, "options"));
  json_decref(j);

  ServerConfig *cfg = server_config_new();
  ck_assert(server_config_load_file(cfg, fx.config_path, NULL));
  ck_assert_uint_eq(cfg->streams->len, 1);
  ConfigStream *cs = g_ptr_array_index(cfg->streams, 0);
  ck_assert(cs->config.max_fps == 2.5);
  ck_assert_int_eq(cs->config.top_k, 3);
  ck_assert(!cs->config.enabled);
  server_config_free(cfg);
  /* "options": null means the defaults, like any null. */
  char *id2 = create("{\"name\": \"o2\", \"uri\": \"test:\", \"enabled\": "
                     "false, \"options\": null}");
  g_free(id2);
  g_free(path);
  g_free(id);
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

/* http.cors_origins: a configured origin's page may read the answers and
 * send its preflight without the token; any other origin gets no CORS
 * header, and without the option there are none at all. */
static RouteResponse
cors_request(Routes *r, const char *method, const char *origin,
             const char *authorization)
{
  RouteRequest rq = { .method = method, .path = "/api/v1/streams",
                      .origin = origin, .authorization = authorization };
  RouteResponse resp = { 0 };
  routes_handle(r, &rq, &resp);
  ck_assert_ptr_null(resp.work);
  return resp;
}

START_TEST(test_cors)
{
  static const char *const origins[] = { "https://dash.example:8443",
                                         "http://10.0.0.5", NULL };
  RoutesConfig rc = { .registry = fx.registry, .engine = fx.engine,
                      .pool = fx.pool, .auth_token = "cors-token-1",
                      .cors_origins = origins };
  Routes *r = routes_new(&rc);
  const char *dash = "https://dash.example:8443";

  RouteResponse resp = cors_request(r, "GET", dash, "Bearer cors-token-1");
  ck_assert_uint_eq(resp.status, 200);
  ck_assert_str_eq(route_response_header(&resp, "Access-Control-Allow-Origin"),
                   dash);
  ck_assert_str_eq(route_response_header(&resp, "Vary"), "Origin");
  ck_assert(strstr(route_response_header(&resp,
                                         "Access-Control-Expose-Headers"),
                   "Location") != NULL);
  route_response_clear(&resp);

  /* An error answer is readable too (the page shows the message). */
  resp = cors_request(r, "GET", dash, NULL);
  ck_assert_uint_eq(resp.status, 401);
  ck_assert_str_eq(route_response_header(&resp, "Access-Control-Allow-Origin"),
                   dash);
  route_response_clear(&resp);

  /* The preflight: no token needed, the path's methods and the headers a
   * page may send. */
  resp = cors_request(r, "OPTIONS", dash, NULL);
  ck_assert_uint_eq(resp.status, 204);
  ck_assert_str_eq(route_response_header(&resp, "Access-Control-Allow-Origin"),
                   dash);
  ck_assert(strstr(route_response_header(&resp,
                                         "Access-Control-Allow-Methods"),
                   "POST") != NULL);
  ck_assert(strstr(route_response_header(&resp,
                                         "Access-Control-Allow-Headers"),
                   "Authorization") != NULL);
  route_response_clear(&resp);

  /* Another origin, or none: no CORS header, and OPTIONS needs the token. */
  const char *others[] = { "https://evil.example", "https://dash.example",
                           "https://dash.example:8443/", NULL };
  for (gsize i = 0; i < G_N_ELEMENTS(others); i++) {
    resp = cors_request(r, "OPTIONS", others[i], NULL);
    ck_assert_uint_eq(resp.status, 401);
    ck_assert_ptr_null(route_response_header(&resp,
                                             "Access-Control-Allow-Origin"));
    route_response_clear(&resp);
    resp = cors_request(r, "GET", others[i], "Bearer cors-token-1");
    ck_assert_uint_eq(resp.status, 200);
    ck_assert_ptr_null(route_response_header(&resp,
                                             "Access-Control-Allow-Origin"));
    route_response_clear(&resp);
  }
  routes_free(r);

  /* Without the option: nothing, whatever the Origin. */
  resp = cors_request(fx.routes, "GET", dash, NULL);
  ck_assert_uint_eq(resp.status, 200);
  ck_assert_ptr_null(route_response_header(&resp,
                                           "Access-Control-Allow-Origin"));
  route_response_clear(&resp);
}
END_TEST

/* error_kind from the texts streams really report (test-streams,
 * test-secrets print them). */
START_TEST(test_error_kind)
{
  static const struct { const char *text, *kind; } cases[] = {
    { "rtspsrc: Unauthorized (Unauthorized (401))", "unauthorized" },
    { "souphttpsrc: Forbidden (Forbidden (403), URL: http://x/)",
      "unauthorized" },
    { "rtspsrc: Not found (Not Found (404))", "not_found" },
    { "souphttpsrc: Not Found (Not Found (404), URL: http://127.0.0.1:1/c "
      "Redirect to: (NULL))", "not_found" },
    { "filesrc: Resource not found. (No such file \"/x.mp4\")",
      "not_found" },
    { "v4l2src: Cannot identify device '/dev/video99'. (system error: No "
      "such file or directory)", "not_found" },
    { "rtspsrc: cannot connect to 192.0.2.1:554 (refused, unreachable or "
      "unknown host): Could not open resource for reading and writing.",
      "unreachable" },
    { "souphttpsrc: cannot fetch from 127.0.0.1:1 (refused, unreachable, "
      "or an HTTP error): Internal data stream error.", "unreachable" },
    { "stalled: no frame for 10.0 s (stall_timeout_s)", "unreachable" },
    { "end of stream", "ended" },
    { "qtdemux: This file is corrupt and cannot be played.", "other" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    ck_assert_msg(g_strcmp0(api_error_kind(cases[i].text), cases[i].kind)
                  == 0, "'%s' -> %s, not %s", cases[i].text,
                  api_error_kind(cases[i].text), cases[i].kind);
  ck_assert_ptr_null(api_error_kind(NULL));
  ck_assert_ptr_null(api_error_kind(""));
}
END_TEST

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
      if (i == 1 && strstr(text, "\"last_error\":\"")) {
        saw_error = TRUE;
        /* Nothing listens on port 9: refused. */
        ck_assert_msg(strstr(text, "\"error_kind\":\"unreachable\""),
                      "%s", text);
      }
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
  /* Readiness is public too: kubelet probes carry no token. */
  { "/readyz", NULL, 200 },
  { "/readyz", "Bearer wrong", 200 },
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

/* Every route of the table, present and future: without the token the
 * non-public ones answer 401 both from routes_admit() (what http.c asks
 * before reading a body) and from routes_handle(); with it, admit lets
 * each through to its handler. */
START_TEST(test_route_table_needs_token)
{
  guint refused = 0;
  for (guint i = 0; i < routes_table_size(); i++) {
    const char *method, *pattern;
    gboolean pub;
    routes_table_entry(i, &method, &pattern, &pub);
    char **parts = g_strsplit(pattern, "*", -1);
    char *path = g_strjoinv("x", parts);
    g_strfreev(parts);
    RouteRequest req = { .method = method, .path = path };
    RouteResponse resp = { 0 };
    gboolean admitted = routes_admit(fx.routes, &req, &resp);
    ck_assert_msg(admitted == pub, "%s %s: admitted %d without a token",
                  method, path, admitted);
    if (!pub) {
      ck_assert_uint_eq(resp.status, 401);
      refused++;
    }
    route_response_clear(&resp);
    if (!pub) {
      json_t *j = NULL;
      ck_assert_uint_eq(fixture_request_full(&fx, &req, &j, NULL), 401);
      check_error(j, "unauthorized");
      json_decref(j);
    }
    req.authorization = AUTH;
    ck_assert_msg(routes_admit(fx.routes, &req, &resp), "%s %s with the "
                  "token: %u", method, path, resp.status);
    route_response_clear(&resp);
    g_free(path);
  }
  ck_assert_uint_ge(refused, 10);
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

/* load -> PATCH -> write -> load: the file read back gives every option of
 * the stream the API shows, with the patched values. */
START_TEST(test_patch_write_back_same_values)
{
  char *id = create("{\"name\": \"yard\", \"uri\": \"test:\", \"pattern\": "
                    "\"ball\", \"enabled\": false, \"transport\": \"tcp\", "
                    "\"decode\": \"keyframes\", \"resize_mode\": \"crop\", "
                    "\"history_len\": 9, \"stall_timeout_s\": 4.5, "
                    "\"backoff_initial_s\": 2, \"backoff_max_s\": 45, "
                    "\"rtsp_latency_ms\": 1200, \"realtime\": false}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  json_t *j = NULL;
  ck_assert_uint_eq(req("PATCH", path, "{\"max_fps\": 0.5, \"top_k\": 2, "
                        "\"roi\": {\"x\": 0.25, \"y\": 0.5, \"w\": 0.5, "
                        "\"h\": 0.25}, \"labels\": \"imagenet\", "
                        "\"alerts\": [{\"class\": \"person\", "
                        "\"min_score\": 0.6}]}", &j), 200);
  json_decref(j);
  ck_assert_uint_eq(req("GET", path, NULL, &j), 200);
  ck_assert(json_real_value(json_object_get(j, "max_fps")) == 0.5);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), 2);
  ck_assert(json_number_value(json_object_get(json_object_get(j, "roi"),
                                              "w")) == 0.5);

  ServerConfig *cfg = server_config_new();
  GError *e = NULL;
  ck_assert_msg(server_config_load_file(cfg, fx.config_path, &e), "%s",
                e ? e->message : "");
  ck_assert_uint_eq(cfg->streams->len, 1);
  ConfigStream *s = g_ptr_array_index(cfg->streams, 0);
  ck_assert_str_eq(s->id, id);
  json_t *loaded = json_object();
  config_stream_options_to_json(loaded, &s->config, FALSE);
  ck_assert_uint_ge(json_object_size(loaded), 19);
  const char *key;
  json_t *v;
  json_object_foreach(loaded, key, v)
    ck_assert_msg(json_equal(v, json_object_get(j, key)),
                  "%s differs between the file and the API", key);
  json_decref(loaded);
  json_decref(j);
  server_config_free(cfg);
  g_free(path);
  g_free(id);
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

/* ==== issue 5: the rest of the API ==== */

/* A request with everything settable. */
static guint
req_full(const char *method, const char *path, const RouteParam *query,
         guint n_query, const void *body, gsize body_len,
         const char *content_type, const char *authorization, json_t **j,
         RouteResponse *resp)
{
  RouteRequest r = {
    .method = method,
    .path = path,
    .query = query,
    .n_query = n_query,
    .authorization = authorization,
    .content_type = content_type,
    .body = body,
    .body_len = body_len,
  };
  return fixture_request_full(&fx, &r, j, resp);
}

/* Waits until the stream shows state running (the supervisor notices the
 * first frame on its next tick, shortly after the first prediction can be
 * published). */
static void
wait_running(const char *id)
{
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)(PREDICTION_TIMEOUT_S * 1e6);
  gboolean running = FALSE;
  while (!running && g_get_monotonic_time() < deadline) {
    StreamInfo info;
    ck_assert(registry_get(fx.registry, id, &info, NULL));
    running = info.state == STREAM_STATE_RUNNING && info.width > 0;
    stream_info_clear(&info);
    if (!running)
      g_usleep(20 * 1000);
  }
  ck_assert_msg(running, "%s never reached running", id);
}

static json_t *
wait_prediction(const char *id)
{
  json_t *p = fixture_wait_prediction(&fx, id, PREDICTION_TIMEOUT_S, NULL);
  ck_assert_msg(p != NULL, "no prediction from %s within %g s", id,
                PREDICTION_TIMEOUT_S);
  return p;
}

/* Polls the history until it holds at least n predictions. */
static void
wait_history(const char *id, int n)
{
  char *path = g_strdup_printf("/api/v1/streams/%s/predictions", id);
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)(PREDICTION_TIMEOUT_S * 1e6);
  json_int_t have = 0;
  while (have < n && g_get_monotonic_time() < deadline) {
    json_t *j = NULL;
    char lim[16];
    g_snprintf(lim, sizeof lim, "%d", n);
    ck_assert_uint_eq(fixture_request(&fx, "GET", path, "limit", lim, NULL,
                                      NULL, &j, NULL), 200);
    have = json_integer_value(json_object_get(j, "count"));
    json_decref(j);
    if (have < n)
      g_usleep(50 * 1000);
  }
  ck_assert_msg(have >= n, "%s: %lld predictions, want %d", id,
                (long long)have, n);
  g_free(path);
}

/* An encoded test image (caps e.g. "image/png"): a colour gradient of
 * w x h made with GStreamer's encoders. Returns a new buffer. */
static guint8 *
make_image(const char *caps_str, int w, int h, gsize *len)
{
  gsize stride = (gsize)w * 3;
  GstBuffer *buf = gst_buffer_new_allocate(NULL, stride * (gsize)h, NULL);
  GstMapInfo map;
  ck_assert(gst_buffer_map(buf, &map, GST_MAP_WRITE));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *px = map.data + (gsize)y * stride + (gsize)x * 3;
      px[0] = (guint8)(x * 255 / MAX(w - 1, 1));
      px[1] = (guint8)(y * 255 / MAX(h - 1, 1));
      px[2] = (guint8)((x + y) & 0xff);
    }
  gst_buffer_unmap(buf, &map);
  GstCaps *caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING,
                                      "RGB", "width", G_TYPE_INT, w, "height",
                                      G_TYPE_INT, h, "framerate",
                                      GST_TYPE_FRACTION, 0, 1, NULL);
  GstSample *s = gst_sample_new(buf, caps, NULL, NULL);
  GstCaps *to = gst_caps_from_string(caps_str);
  GError *e = NULL;
  GstSample *out = gst_video_convert_sample(s, to, 5 * GST_SECOND, &e);
  ck_assert_msg(out != NULL, "encode %s: %s", caps_str, e ? e->message : "");
  GstBuffer *ob = gst_sample_get_buffer(out);
  ck_assert(gst_buffer_map(ob, &map, GST_MAP_READ));
  guint8 *data = g_memdup2(map.data, map.size);
  *len = map.size;
  gst_buffer_unmap(ob, &map);
  gst_sample_unref(out);
  gst_sample_unref(s);
  gst_caps_unref(to);
  gst_caps_unref(caps);
  gst_buffer_unref(buf);
  return data;
}

/* ---- PATCH ---- */

START_TEST(test_patch)
{
  char *id = create("{\"name\": \"p\", \"uri\": \"test:\", \"enabled\": "
                    "false, \"max_fps\": 3}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  json_t *j = NULL;
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "PATCH", path, NULL, NULL,
                                    "{\"max_fps\": 7.5, \"top_k\": 2}", NULL,
                                    &j, &resp), 200);
  ck_assert_str_eq(resp.content_type, "application/json");
  ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
  ck_assert(json_real_value(json_object_get(j, "max_fps")) == 7.5);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), 2);
  ck_assert(json_is_false(json_object_get(j, "enabled")));
  ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "stopped");
  route_response_clear(&resp);
  json_decref(j);

  /* Written back like add/remove. */
  ServerConfig *cfg = server_config_new();
  ck_assert(server_config_load_file(cfg, fx.config_path, NULL));
  ck_assert_uint_eq(cfg->streams->len, 1);
  ConfigStream *cs = g_ptr_array_index(cfg->streams, 0);
  ck_assert(cs->config.max_fps == 7.5);
  ck_assert_int_eq(cs->config.top_k, 2);
  server_config_free(cfg);

  /* Enabling starts it: predictions with two classes arrive. */
  ck_assert_uint_eq(req("PATCH", path, "{\"enabled\": true}", &j), 200);
  ck_assert(json_is_true(json_object_get(j, "enabled")));
  json_decref(j);
  json_t *p = wait_prediction(id);
  ck_assert_uint_eq(json_array_size(json_object_get(p, "classes")), 2);
  json_decref(p);
  ck_assert_uint_eq(req("PATCH", path, "{\"enabled\": false}", &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "stopped");
  json_decref(j);
  cfg = server_config_new();
  ck_assert(server_config_load_file(cfg, fx.config_path, NULL));
  ck_assert(!((ConfigStream *)g_ptr_array_index(cfg->streams, 0))
                 ->config.enabled);
  server_config_free(cfg);

  /* Alert rules: set (defaults filled in), shown, written back, removed. */
  ck_assert_uint_eq(req("PATCH", path, "{\"alerts\": [{\"class\": "
                        "\"person\", \"min_score\": 0.7}]}", &j), 200);
  json_t *rules = json_object_get(j, "alerts");
  ck_assert_uint_eq(json_array_size(rules), 1);
  json_t *rule = json_array_get(rules, 0);
  ck_assert_str_eq(json_string_value(json_object_get(rule, "class")),
                   "person");
  ck_assert(json_real_value(json_object_get(rule, "min_score")) == 0.7);
  ck_assert(json_real_value(json_object_get(rule, "min_duration_s")) == 1.0);
  ck_assert(json_real_value(json_object_get(rule, "clear_after_s")) == 3.0);
  json_decref(j);
  cfg = server_config_new();
  ck_assert(server_config_load_file(cfg, fx.config_path, NULL));
  cs = g_ptr_array_index(cfg->streams, 0);
  ck_assert_uint_eq(cs->config.n_alerts, 1);
  ck_assert_str_eq(cs->config.alerts[0].class_name, "person");
  ck_assert(cs->config.alerts[0].min_score == 0.7);
  server_config_free(cfg);
  ck_assert_uint_eq(req("PATCH", path, "{\"alerts\": []}", &j), 200);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "alerts")), 0);
  json_decref(j);
  g_free(path);
  g_free(id);
}
END_TEST

static const BadPost bad_patches[] = {
  { "{\"alerts\": {}}", 400, "invalid_argument",
    "alerts: must be an array" },
  { "{\"alerts\": [{\"min_score\": 0.5}]}", 400, "invalid_argument",
    "alerts[0].class: required" },
  { "{\"alerts\": [{\"class\": \"cat\", \"min_score\": 2}]}", 400,
    "invalid_argument", "alerts[0].min_score: must be a number in (0, 1]" },
  { "{\"alerts\": [{\"class\": \"cat\", \"clear_after_s\": -1}]}", 400,
    "invalid_argument", "alerts[0].clear_after_s:" },
  { "{\"alerts\": [{\"class\": \"cat\", \"x\": 1}]}", 400,
    "invalid_argument", "alerts[0].x: unknown key" },
  { "{}", 400, "invalid_argument", "nothing to change" },
  { "{\"max_fps\": null}", 400, "invalid_argument", "nothing to change" },
  { "{\"name\": \"x\"}", 400, "invalid_argument",
    "name: cannot be changed with PATCH" },
  { "{\"uri\": \"test:\", \"max_fps\": 1}", 400, "invalid_argument",
    "uri: cannot be changed" },
  { "{\"history_len\": 5}", 400, "invalid_argument", "history_len: cannot" },
  { "{\"a b\": 1}", 400, "invalid_argument", "unknown key" },
  { "{\"max_fps\": \"x\"}", 400, "invalid_argument",
    "max_fps: must be a number" },
  { "{\"max_fps\": -1}", 400, "invalid_argument", "max_fps:" },
  { "{\"max_fps\": 5000}", 400, "invalid_argument", "max_fps:" },
  { "{\"top_k\": 0}", 400, "invalid_argument",
    "top_k: must be an integer 1..10" },
  { "{\"top_k\": 1.5}", 400, "invalid_argument", "top_k:" },
  { "{\"enabled\": 1}", 400, "invalid_argument",
    "enabled: must be true or false" },
  { "{\"top_k\": 2, \"top_k\": 3}", 400, "invalid_json", "duplicate" },
  { "not json", 400, "invalid_json", "request body" },
  { "[1]", 400, "invalid_json", "must be a JSON object" },
  { "", 400, "invalid_json", "request body: empty" },
};

START_TEST(test_patch_errors)
{
  const BadPost *b = &bad_patches[_i];
  char *id = create("{\"name\": \"p\", \"uri\": \"test:\", \"enabled\": "
                    "false, \"top_k\": 4}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  json_t *j = NULL;
  guint st = req("PATCH", path, b->body, &j);
  ck_assert_msg(st == b->status, "case %d: %u", _i, st);
  const char *msg = check_error(j, b->code);
  ck_assert_msg(strstr(msg, b->msg) != NULL, "case %d: '%s' lacks '%s'", _i,
                msg, b->msg);
  json_decref(j);
  /* Nothing changed. */
  ck_assert_uint_eq(req("GET", path, NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), 4);
  json_decref(j);
  g_free(path);
  g_free(id);
}
END_TEST

START_TEST(test_patch_not_found_and_too_large)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req("PATCH", "/api/v1/streams/nope", "{\"top_k\": 2}",
                        &j), 404);
  ck_assert(strstr(check_error(j, "not_found"), "'nope'") != NULL);
  json_decref(j);
  char *id = create("{\"name\": \"p\", \"uri\": \"test:\", \"enabled\": "
                    "false}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  RouteRequest r = { .method = "PATCH", .path = path,
                     .body_too_large = TRUE };
  ck_assert_uint_eq(fixture_request_full(&fx, &r, &j, NULL), 413);
  check_error(j, "payload_too_large");
  json_decref(j);
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

/* ---- model, readyz ---- */

START_TEST(test_model)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/model", NULL, &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "arch")),
                   "mobilenet_v2");
  ck_assert_str_eq(json_string_value(json_object_get(j, "version")), "V2");
  ck_assert(fabs(json_number_value(json_object_get(j, "alpha")) - 0.35) <
            1e-6);
  json_t *in = json_object_get(j, "input");
  ck_assert_int_eq(json_integer_value(json_object_get(in, "width")), 96);
  ck_assert_int_eq(json_integer_value(json_object_get(in, "height")), 96);
  ck_assert_uint_eq(json_array_size(json_object_get(in, "mean")), 3);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "macs")),
                   (json_int_t)model_macs(fx.model));
  ck_assert_int_gt(json_integer_value(json_object_get(j, "macs")), 1000000);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "parameters")),
                   (json_int_t)model_params(fx.model));
  ck_assert_int_eq(json_integer_value(json_object_get(j, "num_outputs")),
                   1001);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "class_offset")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "labels")), 0);
  ck_assert_str_eq(json_string_value(json_object_get(j, "format")), "built");
  ck_assert(json_is_false(json_object_get(j, "quantized")));
  ck_assert_str_eq(json_string_value(json_object_get(j, "kernels")),
                   engine_isa_name(fx.engine));
  /* a built network runs float (the integer engine takes quantised
   * files) */
  ck_assert_str_eq(json_string_value(json_object_get(j, "engine")), "float");
  json_decref(j);
}
END_TEST

START_TEST(test_readyz)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/readyz", NULL, &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ready");
  ck_assert(json_is_array(json_object_get(j, "streams")));
  json_decref(j);
  /* A camera that cannot be reached does not make the server unready (an
   * orchestrator would take the replica out of service for it): it is
   * listed with its state, without its URI or credentials. */
  char *bad = create("{\"name\": \"cam\", \"uri\": \"rtsp://u:Secret9@"
                     "127.0.0.1:9/x\", \"backoff_initial_s\": 0.2}");
  char *off = create("{\"name\": \"off\", \"uri\": \"test:\", \"enabled\": "
                     "false}");
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/readyz", NULL, NULL, NULL,
                                    NULL, &j, &resp), 200);
  char *text = json_dumps(j, 0);
  ck_assert_msg(strstr(text, "Secret9") == NULL, "%s", text);
  ck_assert_msg(strstr(text, "rtsp") == NULL, "%s", text);
  free(text);
  route_response_clear(&resp);
  json_t *streams = json_object_get(j, "streams");
  gboolean seen_bad = FALSE, seen_off = FALSE;
  size_t i;
  json_t *e;
  json_array_foreach(streams, i, e) {
    const char *sid = json_string_value(json_object_get(e, "id"));
    const char *st = json_string_value(json_object_get(e, "state"));
    ck_assert_ptr_nonnull(st);
    if (g_strcmp0(sid, bad) == 0) {
      seen_bad = TRUE;
      ck_assert_msg(strcmp(st, "running") != 0, "%s", st);
    }
    if (g_strcmp0(sid, off) == 0) {
      seen_off = TRUE;
      ck_assert_str_eq(st, "stopped");
      ck_assert(json_is_false(json_object_get(e, "enabled")));
    }
  }
  ck_assert(seen_bad && seen_off);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "streams_total")),
                   (json_int_t)json_array_size(streams));
  json_decref(j);
  /* A test stream shows up as running once it is. */
  char *good = create("{\"name\": \"ok\", \"uri\": \"test:\"}");
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  gboolean running = FALSE;
  while (!running && g_get_monotonic_time() < deadline) {
    ck_assert_uint_eq(req("GET", "/readyz", NULL, &j), 200);
    json_array_foreach(json_object_get(j, "streams"), i, e)
      if (g_strcmp0(json_string_value(json_object_get(e, "id")), good) == 0)
        running = g_strcmp0(json_string_value(json_object_get(e, "state")),
                            "running") == 0;
    if (running)
      ck_assert_int_ge(json_integer_value(json_object_get(
                           j, "streams_running")), 1);
    json_decref(j);
    if (!running)
      g_usleep(50 * 1000);
  }
  ck_assert(running);
  char *path = g_strdup_printf("/api/v1/streams/%s", bad);
  ck_assert_uint_eq(req("DELETE", path, NULL, NULL), 204);
  g_free(path);
  g_free(good);
  g_free(off);
  g_free(bad);
}
END_TEST

/* ---- stats (issue 5 keys) ---- */

START_TEST(test_stats_more)
{
  char *id = create("{\"name\": \"s\", \"uri\": \"test:\", \"max_fps\": 20}");
  json_decref(wait_prediction(id));
  /* The hub subscribes right after the stream is added; a first frame may
   * beat it: wait for one it saw. */
  json_t *j = NULL;
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  for (;;) {
    ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
    json_int_t n = json_integer_value(json_object_get(json_object_get(
        json_object_get(json_object_get(j, "latency_ms"), "e2e"),
        "since_start"), "count"));
    if (n >= 1 || g_get_monotonic_time() > deadline)
      break;
    json_decref(j);
    g_usleep(20 * 1000);
  }
  json_t *proc = json_object_get(j, "process");
  ck_assert_int_gt(json_integer_value(json_object_get(proc, "open_fds")), 2);
  ck_assert_int_gt(json_integer_value(json_object_get(proc, "threads")), 2);
  ck_assert(json_number_value(json_object_get(proc, "cpu_percent_since_start"))
            >= 0.0);
  ck_assert(json_is_number(json_object_get(proc, "cpu_user_s")));
  json_t *sse = json_object_get(j, "sse");
  ck_assert_int_eq(json_integer_value(json_object_get(sse, "clients")), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(sse, "max_clients")),
                   8);
  ck_assert(json_is_integer(json_object_get(sse, "events_dropped")));
  json_t *lim = json_object_get(j, "limit_hits");
  ck_assert(json_is_integer(json_object_get(lim, "limits.max_body_bytes")));
  ck_assert(json_is_integer(json_object_get(lim, "limits.max_sse_clients")));
  /* Global latency: every prediction of every stream. */
  json_t *lat = json_object_get(j, "latency_ms");
  const char *stages[] = { "queue", "preprocess", "infer", "e2e" };
  for (int i = 0; i < 4; i++) {
    json_t *st = json_object_get(lat, stages[i]);
    ck_assert_int_ge(json_integer_value(json_object_get(
                         json_object_get(st, "since_start"), "count")), 1);
    ck_assert(json_is_number(json_object_get(json_object_get(st, "last_60s"),
                                             "p99")));
  }
  json_t *counters = json_object_get(j, "counters");
  ck_assert_int_ge(json_integer_value(json_object_get(counters,
                                                      "frames_inferred")), 1);
  ck_assert(json_is_object(json_object_get(json_object_get(j, "http"),
                                           "image_jobs")));
  ck_assert(json_is_object(json_object_get(j, "snapshots")));
  ck_assert(json_is_object(json_object_get(j, "classify")));
  json_decref(j);

  /* A limit hit shows in limit_hits. */
  RouteRequest r = { .method = "POST", .path = "/api/v1/streams",
                     .body_too_large = TRUE };
  ck_assert_uint_eq(fixture_request_full(&fx, &r, NULL, NULL), 413);
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "limit_hits"),
                       "limits.max_body_bytes")), 1);
  json_decref(j);
  g_free(id);
}
END_TEST

/* ---- /metrics ---- */

/* The validator itself: each rule must reject what breaks it. */
typedef struct {
  const char *text;
  const char *why; /* substring of the error; NULL: valid */
} PromCase;

static const PromCase prom_cases[] = {
  { "# HELP a_total x\n# TYPE a_total counter\na_total 1\n", NULL },
  { "# HELP a x\n# TYPE a gauge\na{b=\"q\\\"\\\\\\n\"} -1.5e3\n", NULL },
  { "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\n"
    "h_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n", NULL },
  { "# HELP a_total x\n# TYPE a_total counter\na_total 1", "newline" },
  { "# HELP a x\n# TYPE a counter\na 1\n", "must end in _total" },
  { "# TYPE a gauge\na 1\n", "no HELP" },
  { "# HELP a x\na 1\n", "no TYPE" },
  { "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n", "second TYPE" },
  { "# HELP aB x\n# TYPE aB gauge\naB 1\n", "bad metric name" },
  { "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n", "bad metric name" },
  { "# HELP a x\n# TYPE a gauge\na{__x=\"1\"} 1\n", "bad label name" },
  { "# HELP a x\n# TYPE a gauge\na{x-y=\"1\"} 1\n", "bad label name" },
  { "# HELP a x\n# TYPE a gauge\na{x=\"\\t\"} 1\n", "bad escape" },
  { "# HELP a x\n# TYPE a gauge\na{x=\"1} 1\n", "unterminated" },
  { "# HELP a x\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "twice" },
  { "# HELP a x\n# TYPE a gauge\na one\n", "bad value" },
  { "# HELP a x\n# TYPE a gauge\na inf\n", "bad value" },
  { "# HELP a x\n# TYPE a gauge\na 1\na 2\n", "appears twice" },
  { "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\nb 1\n"
    "a{c=\"d\"} 1\n", "not together" },
  { "# HELP a_total x\n# TYPE a_total counter\na_total -1\n", "negative" },
  { "# HELP a x\n# TYPE a gauge\na{le=\"1\"} 1\n", "label le" },
  { "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_sum 1\n"
    "h_count 1\n", "no +Inf" },
  { "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n"
    "h_count 3\n", "_count 3 != +Inf bucket 2" },
  { "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
    "h_bucket{le=\"0.5\"} 2\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
    "not increasing" },
  { "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
    "h_bucket{le=\"2\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
    "decrease" },
  { "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
    "lacks _sum" },
  { "# HELP h x\n# TYPE h histogram\nh 2\n", "lacks _bucket" },
  { "b 1\n", "no TYPE before" },
};

START_TEST(test_prom_validator)
{
  const PromCase *pc = &prom_cases[_i];
  char *err = prom_check(pc->text, strlen(pc->text));
  if (!pc->why)
    ck_assert_msg(err == NULL, "case %d: %s", _i, err);
  else
    ck_assert_msg(err && strstr(err, pc->why), "case %d: got '%s', want '%s'",
                  _i, err ? err : "(valid)", pc->why);
  g_free(err);
}
END_TEST

START_TEST(test_metrics)
{
  /* A name that needs escaping in a label value. */
  char *a = create("{\"name\": \"cam \\\"A\\\" \\\\ 1\", \"uri\": \"test:\", "
                   "\"max_fps\": 20}");
  char *b = create("{\"name\": \"off\", \"uri\": \"test:\", \"enabled\": "
                   "false}");
  json_decref(wait_prediction(a));
  wait_running(a);
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/metrics", NULL, NULL, NULL,
                                    NULL, NULL, &resp), 200);
  ck_assert_str_eq(resp.content_type,
                   "text/plain; version=0.0.4; charset=utf-8");
  char *text = g_strndup(resp.body, resp.body_len);
  char *err = prom_check(text, resp.body_len);
  ck_assert_msg(err == NULL, "invalid exposition: %.1500s\n%.2000s", err, text);
  double v = 0;
  char *lab = g_strdup_printf("stream=\"%s\",name=\"cam \\\"A\\\" \\\\ 1\"",
                              a);
  ck_assert_msg(prom_find(text, "streamsight_stream_info", lab, &v) &&
                v == 1, "escaped name not found:\n%s", text);
  g_free(lab);
  lab = g_strdup_printf("stream=\"%s\"", a);
  ck_assert(prom_find(text, "streamsight_stream_frames_inferred_total", lab,
                      &v));
  ck_assert(v >= 1);
  g_free(lab);
  lab = g_strdup_printf("stream=\"%s\",state=\"running\"", a);
  ck_assert(prom_find(text, "streamsight_stream_state", lab, &v) && v == 1);
  g_free(lab);
  lab = g_strdup_printf("stream=\"%s\",state=\"stopped\"", b);
  ck_assert(prom_find(text, "streamsight_stream_state", lab, &v) && v == 1);
  g_free(lab);
  const char *stages[] = { "queue", "preprocess", "infer", "e2e" };
  for (int i = 0; i < 4; i++) {
    lab = g_strdup_printf("stream=\"%s\",stage=\"%s\",le=\"+Inf\"", a,
                          stages[i]);
    ck_assert_msg(prom_find(text, "streamsight_stream_latency_seconds_bucket",
                            lab, &v) && v >= 1, "%s", lab);
    g_free(lab);
    lab = g_strdup_printf("stream=\"%s\",stage=\"%s\"", a, stages[i]);
    double count = 0, sum = -1;
    ck_assert(prom_find(text, "streamsight_stream_latency_seconds_count",
                        lab, &count) && count >= 1);
    ck_assert(prom_find(text, "streamsight_stream_latency_seconds_sum", lab,
                        &sum) && sum >= 0);
    g_free(lab);
  }
  ck_assert(prom_find(text, "process_resident_memory_bytes", "", &v) &&
            v > 0);
  ck_assert(prom_find(text, "streamsight_pool_threads", "", &v) && v == 2);
  ck_assert(prom_find(text, "streamsight_sse_clients", "", &v) && v == 0);
  ck_assert(prom_find(text, "streamsight_limit_hits_total",
                      "limit=\"limits.max_body_bytes\"", &v));
  ck_assert(prom_find(text, "streamsight_http_responses_total",
                      "class=\"2xx\"", &v) && v >= 1);
  g_free(text);
  route_response_clear(&resp);
  g_free(a);
  g_free(b);
}
END_TEST

/* ---- OpenAPI ---- */

/* The document path of a table pattern ("/api/v1/streams/ *" ->
 * "/api/v1/streams/{...}") matches when every '*' meets a {param}. */
static gboolean
doc_path_matches(const char *pattern, const char *doc)
{
  char **ps = g_strsplit(pattern, "/", -1), **ds = g_strsplit(doc, "/", -1);
  gboolean ok = g_strv_length(ps) == g_strv_length(ds);
  for (guint i = 0; ok && ps[i]; i++) {
    if (strcmp(ps[i], "*") == 0)
      /* A parameter, or a parameter with a suffix ("{eid}.jpg"): one
       * segment either way. */
      ok = ds[i][0] == '{' && strchr(ds[i], '}') &&
           (g_str_has_suffix(ds[i], "}") ||
            strchr(ds[i], '}')[1] == '.');
    else
      ok = strcmp(ps[i], ds[i]) == 0;
  }
  g_strfreev(ps);
  g_strfreev(ds);
  return ok;
}

START_TEST(test_openapi)
{
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/openapi.json", NULL,
                                    NULL, NULL, NULL, NULL, &resp), 200);
  ck_assert_str_eq(resp.content_type, "application/json");
  json_error_t je;
  json_t *doc = json_loadb(resp.body, resp.body_len, 0, &je);
  ck_assert_msg(doc != NULL, "openapi.json: %s", je.text);
  route_response_clear(&resp);
  ck_assert(g_str_has_prefix(json_string_value(json_object_get(doc,
                                                               "openapi")),
                             "3."));
  json_t *paths = json_object_get(doc, "paths");
  json_t *schemas = json_object_get(json_object_get(doc, "components"),
                                    "schemas");
  ck_assert(json_is_object(json_object_get(schemas, "Error")));
  ck_assert(json_is_object(json_object_get(schemas, "Prediction")));

  /* Every route is documented... */
  for (guint i = 0; i < routes_table_size(); i++) {
    const char *method, *pattern;
    gboolean pub;
    routes_table_entry(i, &method, &pattern, &pub);
    char *lower = g_ascii_strdown(method, -1);
    gboolean found = FALSE;
    const char *dpath;
    json_t *item;
    json_object_foreach(paths, dpath, item) {
      if (doc_path_matches(pattern, dpath) &&
          json_is_object(json_object_get(item, lower))) {
        found = TRUE;
        json_t *op = json_object_get(item, lower);
        json_t *responses = json_object_get(op, "responses");
        ck_assert_msg(json_object_size(responses) > 0, "%s %s: no responses",
                      method, dpath);
        /* Public routes say so (security: []), the others declare 401. */
        json_t *sec = json_object_get(op, "security");
        if (pub)
          ck_assert_msg(json_is_array(sec) && json_array_size(sec) == 0,
                        "%s %s is public: security must be []", method,
                        dpath);
        else
          ck_assert_msg(json_object_get(responses, "401") != NULL,
                        "%s %s needs the token: document 401", method,
                        dpath);
      }
    }
    ck_assert_msg(found, "route %s %s is not in server/openapi.json", method,
                  pattern);
    g_free(lower);
  }
  /* ...and everything documented is a route. */
  const char *dpath;
  json_t *item;
  json_object_foreach(paths, dpath, item) {
    const char *key;
    json_t *op;
    json_object_foreach(item, key, op) {
      if (strcmp(key, "parameters") == 0)
        continue;
      char *upper = g_ascii_strup(key, -1);
      gboolean found = FALSE;
      for (guint i = 0; i < routes_table_size() && !found; i++) {
        const char *method, *pattern;
        gboolean pub;
        routes_table_entry(i, &method, &pattern, &pub);
        found = strcmp(method, upper) == 0 &&
                doc_path_matches(pattern, dpath);
      }
      ck_assert_msg(found, "openapi.json documents %s %s, which is not a "
                    "route", upper, dpath);
      g_free(upper);
    }
  }
  /* The SSE format is described where the event routes are. */
  const char *d = json_string_value(json_object_get(
      json_object_get(json_object_get(paths, "/api/v1/events"), "get"),
      "description"));
  ck_assert(d && strstr(d, "event: prediction") && strstr(d, "heartbeat") &&
            strstr(d, "id: <stream_id>:<seq>"));
  json_decref(doc);
}
END_TEST

/* ---- events through the routes (no sockets) ---- */

/* Reads what the client has until stop() or timeout_s. */
static void
read_client(EventClient *c, SseParser *p, double timeout_s,
            gboolean (*stop)(SseParser *p, gpointer user), gpointer user)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  char buf[4096];
  while (g_get_monotonic_time() < deadline) {
    gssize n = event_client_read(c, buf, sizeof buf);
    if (n > 0)
      sse_parser_feed(p, buf, (gsize)n);
    else if (n < 0)
      return;
    if (stop && stop(p, user))
      return;
    if (n == 0)
      g_usleep(10 * 1000);
  }
}

static gboolean
has_event(SseParser *p, gpointer name)
{
  return sse_parser_find(p, name, 0) >= 0;
}

START_TEST(test_events_routes)
{
  char *id = create("{\"name\": \"e\", \"uri\": \"test:\", \"max_fps\": 20}");
  char *path = g_strdup_printf("/api/v1/streams/%s/events", id);
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", path, NULL, NULL, NULL, NULL,
                                    NULL, &resp), 200);
  ck_assert_str_eq(resp.content_type, "text/event-stream");
  ck_assert_str_eq(route_response_header(&resp, "Cache-Control"), "no-store");
  ck_assert_ptr_nonnull(resp.events);
  SseParser p;
  sse_parser_init(&p);
  read_client(resp.events, &p, PREDICTION_TIMEOUT_S, has_event, "prediction");
  ck_assert_int_eq(p.retry_ms, 3000);
  /* The stream's state comes first, then predictions. */
  int si = sse_parser_find(&p, "stream", 0);
  int pi = sse_parser_find(&p, "prediction", 0);
  ck_assert_int_eq(si, 0);
  ck_assert_int_gt(pi, si);
  SseEvent *e = g_ptr_array_index(p.events, si);
  json_t *j = json_loads(e->data, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(j, "stream_id")), id);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "stream"), "id")), id);
  json_decref(j);
  e = g_ptr_array_index(p.events, pi);
  j = json_loads(e->data, 0, NULL);
  ck_assert_msg(j != NULL, "data is not JSON: %s", e->data);
  json_t *pred = json_object_get(j, "prediction");
  char *want_id = g_strdup_printf("%s:%lld", id, (long long)json_integer_value(
                                                     json_object_get(pred,
                                                                     "seq")));
  ck_assert_str_eq(e->id, want_id);
  g_free(want_id);
  /* The same object as the REST API's. */
  const char *keys[] = { "seq", "frame", "pts_ns", "capture_time",
                         "capture_mono_ns", "model", "input", "classes",
                         "latency_ms" };
  for (gsize k = 0; k < G_N_ELEMENTS(keys); k++)
    ck_assert_msg(json_object_get(pred, keys[k]) != NULL, "no %s", keys[k]);
  json_decref(j);
  json_t *st = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &st), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(st, "sse"), "clients")), 1);
  json_decref(st);
  sse_parser_clear(&p);
  route_response_clear(&resp); /* closes the client */
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &st), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(st, "sse"), "clients")), 0);
  json_decref(st);

  /* HEAD: the headers, no client. */
  ck_assert_uint_eq(fixture_request(&fx, "HEAD", path, NULL, NULL, NULL,
                                    NULL, NULL, &resp), 200);
  ck_assert_ptr_null(resp.events);
  route_response_clear(&resp);
  /* Unknown stream. */
  ck_assert_uint_eq(req("GET", "/api/v1/streams/nope/events", NULL, &j),
                    404);
  check_error(j, "not_found");
  json_decref(j);
  ck_assert_uint_eq(req("POST", path, NULL, &j), 405);
  json_decref(j);
  g_free(path);
  g_free(id);
}
END_TEST

START_TEST(test_events_limit)
{
  /* The fixture allows 8 clients. */
  RouteResponse held[8];
  for (int i = 0; i < 8; i++) {
    ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL,
                                      NULL, NULL, NULL, NULL, &held[i]),
                      200);
    ck_assert_ptr_nonnull(held[i].events);
  }
  json_t *j = NULL;
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL, NULL,
                                    NULL, NULL, &j, &resp), 503);
  ck_assert(strstr(check_error(j, "limit_reached"),
                   "limits.max_sse_clients") != NULL);
  ck_assert_str_eq(route_response_header(&resp, "Retry-After"), "5");
  route_response_clear(&resp);
  json_decref(j);
  /* One leaves: one more fits. */
  route_response_clear(&held[0]);
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL, NULL,
                                    NULL, NULL, NULL, &held[0]), 200);
  for (int i = 0; i < 8; i++)
    route_response_clear(&held[i]);
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *sse = json_object_get(j, "sse");
  ck_assert_int_eq(json_integer_value(json_object_get(sse,
                                                      "clients_rejected")),
                   1);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "limit_hits"),
                       "limits.max_sse_clients")), 1);
  json_decref(j);
}
END_TEST

typedef struct {
  const char *id;
  gboolean want_removed;
} AddedWait;

static gboolean
added_done(SseParser *p, gpointer user)
{
  AddedWait *w = user;
  gboolean stream = FALSE, pred = FALSE, removed = FALSE;
  for (guint i = 0; i < p->events->len; i++) {
    SseEvent *e = g_ptr_array_index(p->events, i);
    if (!strstr(e->data, w->id))
      continue;
    stream |= strcmp(e->event, "stream") == 0;
    pred |= strcmp(e->event, "prediction") == 0;
    removed |= strcmp(e->event, "stream_removed") == 0;
  }
  return w->want_removed ? removed : stream && pred;
}

START_TEST(test_events_streams_added_later)
{
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL, NULL,
                                    NULL, NULL, NULL, &resp), 200);
  SseParser p;
  sse_parser_init(&p);
  /* No streams yet: nothing but retry. */
  read_client(resp.events, &p, 0.2, NULL, NULL);
  ck_assert_uint_eq(p.events->len, 0);
  char *id = create("{\"name\": \"late\", \"uri\": \"test:\", \"max_fps\": "
                    "20}");
  AddedWait w = { id, FALSE };
  read_client(resp.events, &p, PREDICTION_TIMEOUT_S, added_done, &w);
  ck_assert_msg(added_done(&p, &w), "no stream and prediction events of the "
                "stream added after connecting");
  /* A PATCH is announced as a stream event with the new value. */
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  guint before = p.events->len;
  ck_assert_uint_eq(req("PATCH", path, "{\"top_k\": 1}", NULL), 200);
  gboolean seen = FALSE;
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (!seen && g_get_monotonic_time() < deadline) {
    read_client(resp.events, &p, 0.1, NULL, NULL);
    for (int i = sse_parser_find(&p, "stream", before); i >= 0 && !seen;
         i = sse_parser_find(&p, "stream", (guint)i + 1)) {
      SseEvent *e = g_ptr_array_index(p.events, i);
      seen = strstr(e->data, "\"top_k\":1,") != NULL;
    }
  }
  ck_assert_msg(seen, "no stream event after PATCH");
  /* Removal is announced. */
  ck_assert_uint_eq(req("DELETE", path, NULL, NULL), 204);
  w.want_removed = TRUE;
  read_client(resp.events, &p, 5.0, added_done, &w);
  ck_assert(added_done(&p, &w));
  sse_parser_clear(&p);
  route_response_clear(&resp);
  g_free(path);
  g_free(id);
}
END_TEST

/* Events tests where the hub's ticker cannot be what sends a stream's
 * changes: its hang-up checks and heartbeats come once a minute. */
static void
setup_events_rare_ticks(void)
{
  ServerFixtureOptions o = {
    .threads = 2,
    .max_streams = MAX_STREAMS,
    .max_body_bytes = BODY_LIMIT,
    .max_sse_clients = 8,
    .sse_heartbeat_ms = 60000,
    .sse_poll_ms = 60000,
  };
  server_fixture_init_opts(&fx, &o);
}

/* What a stream event looks for: the stream's key equal to want (numbers
 * by value), or the event stream_removed when key is NULL. */
typedef struct {
  const char *id;
  const char *key;
  json_t *want;
  guint from;  /* events before it are not looked at */
  int found;   /* its index, -1 while not found */
} StreamEventWait;

static gboolean
stream_event_found(SseParser *p, gpointer user)
{
  StreamEventWait *w = user;
  for (guint i = w->from; i < p->events->len && w->found < 0; i++) {
    SseEvent *e = g_ptr_array_index(p->events, i);
    const char *name = w->key ? "stream" : "stream_removed";
    if (strcmp(e->event, name) != 0)
      continue;
    json_t *d = json_loads(e->data, 0, NULL);
    ck_assert_msg(d != NULL, "event data is not JSON: %s", e->data);
    gboolean match = g_strcmp0(json_string_value(json_object_get(
                                   d, "stream_id")), w->id) == 0;
    if (match && w->key) {
      json_t *v = json_object_get(json_object_get(d, "stream"), w->key);
      match = json_is_number(w->want)
                  ? json_is_number(v) &&
                        json_number_value(v) == json_number_value(w->want)
                  : json_equal(v, w->want);
    }
    json_decref(d);
    if (match)
      w->found = (int)i;
  }
  return w->found >= 0;
}

/* Reads until a stream event of w->id with key == want (key NULL: its
 * stream_removed) arrives after event index from; returns its index. */
static int
wait_stream_event(EventClient *c, SseParser *p, const char *id,
                  const char *key, json_t *want, guint from)
{
  StreamEventWait w = { id, key, want, from, -1 };
  read_client(c, p, PREDICTION_TIMEOUT_S, stream_event_found, &w);
  json_decref(want);
  return w.found;
}

/* The hub is told of a stream's changes (registry_set_stream_watch), not
 * left to poll: with the ticker asleep for a minute, a stream added over
 * the API shows as an event, then its own state changes (running, with
 * its size and connection quality), PATCHes and its removal, in that
 * order. Before, only the add, PATCH and removal came at once; "running"
 * waited for the next poll. */
START_TEST(test_events_told_not_polled)
{
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL, NULL,
                                    NULL, NULL, NULL, &resp), 200);
  SseParser p;
  sse_parser_init(&p);
  char *id = create("{\"name\": \"told\", \"uri\": \"test:\", "
                    "\"max_fps\": 20}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  int added = wait_stream_event(resp.events, &p, id, "name",
                                json_string("told"), 0);
  ck_assert_msg(added >= 0, "no stream event for the added stream");
  int running = wait_stream_event(resp.events, &p, id, "state",
                                  json_string("running"), 0);
  ck_assert_msg(running >= 0, "no stream event with state running");
  /* The test source's size and the quality, judged as it started. */
  ck_assert_int_ge(wait_stream_event(resp.events, &p, id, "width",
                                     json_integer(640), (guint)running), 0);
  ck_assert_int_ge(wait_stream_event(resp.events, &p, id,
                                     "connection_quality",
                                     json_string("good"), (guint)running),
                   0);
  guint before = p.events->len;
  ck_assert_uint_eq(req("PATCH", path, "{\"max_fps\": 5}", NULL), 200);
  int patched = wait_stream_event(resp.events, &p, id, "max_fps",
                                  json_real(5.0), before);
  ck_assert_msg(patched >= 0, "no stream event with max_fps 5 after PATCH");
  before = p.events->len;
  ck_assert_uint_eq(req("PATCH", path, "{\"enabled\": false}", NULL), 200);
  int stopped = wait_stream_event(resp.events, &p, id, "state",
                                  json_string("stopped"), before);
  ck_assert_msg(stopped >= 0, "no stream event with state stopped");
  ck_assert_int_ge(wait_stream_event(resp.events, &p, id,
                                     "connection_quality",
                                     json_string("down"), before), 0);
  ck_assert_uint_eq(req("DELETE", path, NULL, NULL), 204);
  int removed = wait_stream_event(resp.events, &p, id, NULL, NULL,
                                  (guint)stopped);
  ck_assert_msg(removed >= 0, "no stream_removed event");
  ck_assert(added <= running && running < patched && patched < stopped &&
            stopped < removed);
  /* Nothing of the stream after its removal. */
  read_client(resp.events, &p, 0.3, NULL, NULL);
  for (guint i = (guint)removed + 1; i < p.events->len; i++) {
    SseEvent *e = g_ptr_array_index(p.events, i);
    ck_assert_msg(!strstr(e->data, id), "event %s after stream_removed",
                  e->event);
  }
  sse_parser_clear(&p);
  route_response_clear(&resp);
  g_free(path);
  g_free(id);
}
END_TEST

START_TEST(test_events_stream_removed_ends)
{
  char *id = create("{\"name\": \"r\", \"uri\": \"test:\", \"enabled\": "
                    "false}");
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  char *epath = g_strdup_printf("%s/events", path);
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", epath, NULL, NULL, NULL, NULL,
                                    NULL, &resp), 200);
  ck_assert_uint_eq(req("DELETE", path, NULL, NULL), 204);
  SseParser p;
  sse_parser_init(&p);
  char buf[4096];
  gssize n;
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while ((n = event_client_read(resp.events, buf, sizeof buf)) >= 0 &&
         g_get_monotonic_time() < deadline) {
    sse_parser_feed(&p, buf, (gsize)MAX(n, 0));
    if (n == 0)
      g_usleep(10 * 1000);
  }
  ck_assert_msg(n < 0, "the client of a removed stream did not end");
  int i = sse_parser_find(&p, "stream_removed", 0);
  ck_assert_int_ge(i, 0);
  ck_assert_int_eq(i, (int)p.events->len - 1);
  sse_parser_clear(&p);
  route_response_clear(&resp);
  g_free(epath);
  g_free(path);
  g_free(id);
}
END_TEST

START_TEST(test_events_last_event_id)
{
  char *id = create("{\"name\": \"l\", \"uri\": \"test:\", \"max_fps\": 30}");
  wait_history(id, 8);
  /* Stopped, so that the replay is all there is. */
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  ck_assert_uint_eq(req("PATCH", path, "{\"enabled\": false}", NULL), 200);
  char *hpath = g_strdup_printf("/api/v1/streams/%s/predictions", id);
  json_t *j = NULL;
  ck_assert_uint_eq(fixture_request(&fx, "GET", hpath, "limit", "1", NULL,
                                    NULL, &j, NULL), 200);
  json_int_t seq0 = json_integer_value(json_object_get(
      json_array_get(json_object_get(j, "predictions"), 0), "seq")) - 5;
  json_decref(j);
  char *epath = g_strdup_printf("%s/events", path);
  char *last = g_strdup_printf("%s:%lld", id, (long long)seq0);
  RouteRequest r = { .method = "GET", .path = epath, .last_event_id = last };
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request_full(&fx, &r, NULL, &resp), 200);
  SseParser p;
  sse_parser_init(&p);
  read_client(resp.events, &p, 0.5, NULL, NULL);
  /* Predictions seq0+1 ... in order, none at or before seq0. */
  json_int_t expect = seq0 + 1;
  int n_pred = 0;
  for (guint i = 0; i < p.events->len; i++) {
    SseEvent *e = g_ptr_array_index(p.events, i);
    if (strcmp(e->event, "prediction") != 0)
      continue;
    char *want = g_strdup_printf("%s:%lld", id, (long long)expect);
    ck_assert_str_eq(e->id, want);
    g_free(want);
    expect++;
    n_pred++;
  }
  ck_assert_int_eq(n_pred, 5);
  sse_parser_clear(&p);
  route_response_clear(&resp);
  g_free(last);
  g_free(epath);
  g_free(path);
  g_free(hpath);
  g_free(id);
}
END_TEST

/* A client that never reads loses its oldest events, counted, while the
 * stream keeps inferring. */
START_TEST(test_events_slow_client_drops)
{
  char *id = create("{\"name\": \"fast\", \"uri\": \"test:\", \"max_fps\": "
                    "0}");
  json_decref(wait_prediction(id));
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL, NULL,
                                    NULL, NULL, NULL, &resp), 200);
  StreamInfo a, b;
  ck_assert(registry_get(fx.registry, id, &a, NULL));
  /* The queue holds EVENTS_QUEUE_TEST events: wait until well past. */
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (event_client_dropped(resp.events) < 20 &&
         g_get_monotonic_time() < deadline)
    g_usleep(50 * 1000);
  ck_assert(registry_get(fx.registry, id, &b, NULL));
  guint64 dropped = event_client_dropped(resp.events);
  guint64 inferred = b.stats.counters[RESULTS_INFERRED] -
                     a.stats.counters[RESULTS_INFERRED];
  printf("slow client: %" G_GUINT64_FORMAT " events dropped while %"
         G_GUINT64_FORMAT " frames were inferred\n", dropped, inferred);
  ck_assert_uint_ge(dropped, 20);
  /* Inference went on: the drops are predictions that happened. */
  ck_assert_uint_ge(inferred + EVENTS_QUEUE_TEST, dropped);
  stream_info_clear(&a);
  stream_info_clear(&b);
  /* What it reads now: the newest 64, then a heartbeat counting drops
   * (after the hub's next heartbeat). */
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  ck_assert_int_ge(json_integer_value(json_object_get(
                       json_object_get(j, "sse"), "events_dropped")), 20);
  json_decref(j);
  /* What it reads now: at most the queue's worth of events, and
   * heartbeats that count the drops. */
  SseParser p;
  sse_parser_init(&p);
  gint64 until = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  int hb = -1;
  while (hb < 0 && g_get_monotonic_time() < until) {
    read_client(resp.events, &p, 0.1, NULL, NULL);
    hb = sse_parser_find(&p, "heartbeat", 0);
  }
  ck_assert_msg(hb >= 0, "no heartbeat");
  SseEvent *e = g_ptr_array_index(p.events, hb);
  json_t *h = json_loads(e->data, 0, NULL);
  ck_assert_int_ge(json_integer_value(json_object_get(h, "dropped")),
                   (json_int_t)dropped);
  ck_assert(json_is_string(json_object_get(h, "time")));
  json_decref(h);
  /* Only the newest fit in the queue: the first prediction read is not the
   * first published after connecting. */
  ck_assert_int_le(hb, EVENTS_QUEUE_TEST + 1);
  sse_parser_clear(&p);
  route_response_clear(&resp);
  g_free(id);
}
END_TEST

/* ---- snapshot ---- */

static gboolean
jpeg_markers_ok(const guint8 *d, gsize n)
{
  return n > 4 && d[0] == 0xff && d[1] == 0xd8 && d[n - 2] == 0xff &&
         d[n - 1] == 0xd9;
}

START_TEST(test_snapshot)
{
  char *id = create("{\"name\": \"snap\", \"uri\": \"test:\", \"max_fps\": "
                    "5}");
  json_decref(wait_prediction(id));
  wait_running(id);
  StreamInfo info;
  ck_assert(registry_get(fx.registry, id, &info, NULL));
  ck_assert_int_gt(info.width, 0);
  char *path = g_strdup_printf("/api/v1/streams/%s/snapshot.jpg", id);
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", path, NULL, NULL, NULL, NULL,
                                    NULL, &resp), 200);
  ck_assert_str_eq(resp.content_type, "image/jpeg");
  ck_assert(jpeg_markers_ok((guint8 *)resp.body, resp.body_len));
  RgbImage img;
  GError *e = NULL;
  ck_assert_msg(image_decode_buffer((guint8 *)resp.body, resp.body_len, &img,
                                    &e), "decode: %s", e ? e->message : "");
  ck_assert_int_eq(img.width, info.width);
  ck_assert_int_eq(img.height, info.height);
  rgb_image_clear(&img);
  route_response_clear(&resp);

  /* Scaled down. */
  ck_assert_uint_eq(fixture_request(&fx, "GET", path, "width", "64", NULL,
                                    NULL, NULL, &resp), 200);
  ck_assert(image_decode_buffer((guint8 *)resp.body, resp.body_len, &img,
                                NULL));
  ck_assert_int_eq(img.width, 64);
  ck_assert_int_eq(img.height, (info.height * 64 / info.width) & ~1);
  ck_assert_str_eq(route_response_header(&resp, "X-Image-Width"), "64");
  rgb_image_clear(&img);
  route_response_clear(&resp);
  stream_info_clear(&info);

  /* ETag: the same frame again is 304 without a body; another ETag, or a
   * new frame, is 200 with the image. Frames change at 5 fps, so a few
   * tries see the same frame twice. */
  gboolean saw_304 = FALSE;
  for (int tries = 0; tries < 20 && !saw_304; tries++) {
    ck_assert_uint_eq(fixture_request(&fx, "GET", path, NULL, NULL, NULL,
                                      NULL, NULL, &resp), 200);
    char *etag = g_strdup(route_response_header(&resp, "ETag"));
    ck_assert_msg(etag && etag[0] == '"' && strlen(etag) == 18, "ETag %s",
                  etag ? etag : "(none)");
    ck_assert_str_eq(route_response_header(&resp, "Cache-Control"),
                     "private, no-cache");
    route_response_clear(&resp);
    RouteRequest rq = { .method = "GET", .path = path,
                        .if_none_match = etag };
    guint st = fixture_request_full(&fx, &rq, NULL, &resp);
    const char *again = route_response_header(&resp, "ETag");
    ck_assert_ptr_nonnull(again);
    if (st == 304) {
      ck_assert_str_eq(again, etag);
      ck_assert_uint_eq(resp.body_len, 0);
      saw_304 = TRUE;
    } else {
      ck_assert_uint_eq(st, 200);
      ck_assert_str_ne(again, etag); /* a new frame */
      ck_assert(jpeg_markers_ok((guint8 *)resp.body, resp.body_len));
    }
    route_response_clear(&resp);
    /* Another ETag never matches. */
    RouteRequest other = { .method = "GET", .path = path,
                           .if_none_match = "\"0000000000000000\", W/\"x\"" };
    ck_assert_uint_eq(fixture_request_full(&fx, &other, NULL, &resp), 200);
    ck_assert(jpeg_markers_ok((guint8 *)resp.body, resp.body_len));
    route_response_clear(&resp);
    g_free(etag);
  }
  ck_assert_msg(saw_304, "no 304 in 20 tries");

  json_t *j = NULL;
  const char *bad[] = { "0", "15", "7681", "abc", "" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert_msg(fixture_request(&fx, "GET", path, "width", bad[i], NULL,
                                  NULL, &j, NULL) == 400, "width=%s", bad[i]);
    ck_assert(strstr(check_error(j, "invalid_argument"), "width:") != NULL);
    json_decref(j);
  }
  ck_assert_uint_eq(req("GET", "/api/v1/streams/nope/snapshot.jpg", NULL,
                        &j), 404);
  check_error(j, "not_found");
  json_decref(j);
  /* No frame yet: 503 with Retry-After. */
  char *off = create("{\"name\": \"off\", \"uri\": \"test:\", \"enabled\": "
                     "false}");
  char *opath = g_strdup_printf("/api/v1/streams/%s/snapshot.jpg", off);
  ck_assert_uint_eq(fixture_request(&fx, "GET", opath, NULL, NULL, NULL,
                                    NULL, &j, &resp), 503);
  ck_assert(strstr(check_error(j, "unavailable"), "no frame") != NULL);
  ck_assert_str_eq(route_response_header(&resp, "Retry-After"), "1");
  route_response_clear(&resp);
  json_decref(j);
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  ck_assert_int_ge(json_integer_value(json_object_get(
                       json_object_get(j, "snapshots"), "encodes")), 1);
  json_decref(j);
  g_free(opath);
  g_free(off);
  g_free(path);
  g_free(id);
}
END_TEST

/* ---- classify ---- */

static void
check_classes(json_t *j, int k, int n_classes)
{
  json_t *classes = json_object_get(j, "classes");
  ck_assert_uint_eq(json_array_size(classes), (size_t)k);
  double prev = 2;
  for (int i = 0; i < k; i++) {
    json_t *c = json_array_get(classes, i);
    json_int_t idx = json_integer_value(json_object_get(c, "index"));
    double s = json_number_value(json_object_get(c, "score"));
    ck_assert_msg(idx >= 0 && idx < n_classes && s >= 0 && s <= prev,
                  "class %d: index %lld score %g", i, (long long)idx, s);
    prev = s;
  }
}

START_TEST(test_classify)
{
  gsize png_len = 0, jpg_len = 0;
  guint8 *png = make_image("image/png", 160, 120, &png_len);
  guint8 *jpg = make_image("image/jpeg", 80, 60, &jpg_len);
  json_t *j = NULL;

  /* Raw PNG, default top 5. */
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, png,
                             png_len, "image/png", NULL, &j, NULL), 200);
  check_classes(j, 5, 1000);
  json_t *img = json_object_get(j, "image");
  ck_assert_int_eq(json_integer_value(json_object_get(img, "width")), 160);
  ck_assert_int_eq(json_integer_value(json_object_get(img, "height")), 120);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "input"), "width")), 96);
  ck_assert(json_number_value(json_object_get(json_object_get(j, "latency_ms"),
                                              "infer")) > 0);
  /* The same as classifying it directly. */
  {
    ImageClassifier *c = image_classifier_new(fx.engine, NULL);
    RgbImage ri;
    ck_assert(image_decode_buffer(png, png_len, &ri, NULL));
    struct prediction top[5];
    ck_assert_int_eq(image_classifier_run(c, &ri, IMAGE_CLASSIFY_DEFAULT_CROP,
                                          5, top), 5);
    for (int i = 0; i < 5; i++)
      ck_assert_int_eq(json_integer_value(json_object_get(
                           json_array_get(json_object_get(j, "classes"), i),
                           "index")), top[i].index);
    rgb_image_clear(&ri);
    image_classifier_free(c);
  }
  json_decref(j);

  /* JPEG, no content type, top_k=2. */
  RouteParam k2[] = { { "top_k", "2" } };
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", k2, 1, jpg, jpg_len,
                             NULL, NULL, &j, NULL), 200);
  check_classes(j, 2, 1000);
  json_decref(j);

  /* What `curl --data-binary @photo.jpg` sends: the form type, and the image
   * (recognised by its first bytes). */
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, jpg, jpg_len,
                             "application/x-www-form-urlencoded", NULL, &j,
                             NULL), 200);
  check_classes(j, 5, 1000);
  json_decref(j);

  /* multipart/form-data: a text field first, then the file. */
  GString *mp = g_string_new(NULL);
  g_string_append(mp, "--XyZ\r\nContent-Disposition: form-data; "
                  "name=\"note\"\r\n\r\nhello\r\n--XyZ\r\n"
                  "Content-Disposition: form-data; name=\"image\"; "
                  "filename=\"g.png\"\r\nContent-Type: image/png\r\n\r\n");
  g_string_append_len(mp, (const char *)png, (gssize)png_len);
  g_string_append(mp, "\r\n--XyZ--\r\n");
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, mp->str,
                             mp->len, "multipart/form-data; boundary=XyZ",
                             NULL, &j, NULL), 200);
  check_classes(j, 5, 1000);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "image"), "width")), 160);
  json_decref(j);
  /* Quoted boundary, LF line ends, no filename but an image part. */
  GString *mp2 = g_string_new("preamble\n--b 1\nContent-Type: "
                              "image/png\n\n");
  g_string_append_len(mp2, (const char *)png, (gssize)png_len);
  g_string_append(mp2, "\n--b 1--\n");
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, mp2->str,
                             mp2->len, "multipart/form-data; boundary=\"b 1\"",
                             NULL, &j, NULL), 200);
  json_decref(j);

  /* Errors. */
  typedef struct {
    const char *body;
    gsize len;
    const char *ctype;
    const char *top_k;
    guint status;
    const char *code;
    const char *msg;
  } BadClassify;
  const BadClassify bad[] = {
    { "", 0, "image/png", NULL, 400, "invalid_image", "empty" },
    { "hello, not an image at all", G_MAXSIZE, "image/jpeg", NULL, 400,
      "invalid_image", "" },
    { (const char *)png, png_len / 2, "image/png", NULL, 400,
      "invalid_image", "" },
    { "{}", G_MAXSIZE, "application/json", NULL, 415, "unsupported_media_type",
      "multipart/form-data" },
    { "x", G_MAXSIZE, "text/plain", NULL, 415, "unsupported_media_type", "" },
    { "image=x.jpg", G_MAXSIZE, "application/x-www-form-urlencoded", NULL, 415,
      "unsupported_media_type", "multipart/form-data" },
    { (const char *)png, png_len, "image/png", "0", 400, "invalid_argument",
      "top_k: must be an integer 1..10" },
    { (const char *)png, png_len, "image/png", "11", 400, "invalid_argument",
      "top_k:" },
    { "--a\r\n\r\nx\r\n--a--\r\n", G_MAXSIZE, "multipart/form-data", NULL, 400,
      "invalid_argument", "boundary" },
    { "--a\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nx\r\n"
      "--a--\r\n", G_MAXSIZE, "multipart/form-data; boundary=a", NULL, 400,
      "invalid_argument", "no file part" },
    { "--a\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nxx",
      G_MAXSIZE, "multipart/form-data; boundary=a", NULL, 400, "invalid_argument",
      "truncated" },
    { "nothing", G_MAXSIZE, "multipart/form-data; boundary=a", NULL, 400,
      "invalid_argument", "no boundary delimiter" },
    { "--a\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\n"
      "garbage\r\n--a--\r\n", G_MAXSIZE, "multipart/form-data; boundary=a", NULL,
      400, "invalid_image", "" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    RouteParam q[] = { { "top_k", bad[i].top_k } };
    RouteResponse resp;
    gsize len = bad[i].len == G_MAXSIZE ? strlen(bad[i].body) : bad[i].len;
    guint st = req_full("POST", "/api/v1/classify", q, bad[i].top_k ? 1 : 0,
                        bad[i].body, len, bad[i].ctype, NULL, &j, &resp);
    ck_assert_msg(st == bad[i].status, "case %zu: %u", i, st);
    const char *msg = check_error(j, bad[i].code);
    ck_assert_msg(strstr(msg, bad[i].msg) != NULL, "case %zu: '%s' lacks "
                  "'%s'", i, msg, bad[i].msg);
    json_decref(j);
    route_response_clear(&resp);
  }
  RouteRequest big = { .method = "POST", .path = "/api/v1/classify",
                       .content_type = "image/png", .body_too_large = TRUE };
  ck_assert_uint_eq(fixture_request_full(&fx, &big, &j, NULL), 413);
  check_error(j, "payload_too_large");
  json_decref(j);
  ck_assert_uint_eq(req("GET", "/api/v1/classify", NULL, &j), 405);
  json_decref(j);

  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *cl = json_object_get(j, "classify");
  ck_assert_int_eq(json_integer_value(json_object_get(cl, "requests")), 5);
  ck_assert_int_ge(json_integer_value(json_object_get(cl, "bad_images")), 3);
  ck_assert_int_le(json_integer_value(json_object_get(cl, "classifiers")), 2);
  json_decref(j);
  g_string_free(mp, TRUE);
  g_string_free(mp2, TRUE);
  g_free(png);
  g_free(jpg);
}
END_TEST

/* media_dirs: POST of a file:// or v4l2 path outside is 403 with one
 * message for a missing file, a directory, a readable file, a ".." or a
 * symlink escape; inside (and /dev/videoN) is 201. */
START_TEST(test_media_dirs_forbidden)
{
  g_autofree char *root = g_strdup_printf("%s/md-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(root));
  g_autofree char *media = g_build_filename(root, "media", NULL);
  g_autofree char *out = g_build_filename(root, "out", NULL);
  g_autofree char *out_dir = g_build_filename(out, "dir", NULL);
  g_autofree char *text = g_build_filename(out, "secret.txt", NULL);
  g_autofree char *clip = g_build_filename(media, "clip.mp4", NULL);
  g_autofree char *link = g_build_filename(media, "link.mp4", NULL);
  ck_assert_int_eq(g_mkdir_with_parents(media, 0700), 0);
  ck_assert_int_eq(g_mkdir_with_parents(out_dir, 0700), 0);
  ck_assert(g_file_set_contents(text, "hello", -1, NULL));
  ck_assert(g_file_set_contents(clip, "not a clip", -1, NULL));
  ck_assert_int_eq(symlink(text, link), 0);
  const char *const dirs[] = { media, NULL };
  ServerFixtureOptions o = {
    .threads = 1, .max_streams = 8, .max_body_bytes = BODY_LIMIT,
    .media_dirs = dirs,
  };
  server_fixture_init_opts(&fx, &o);

  g_autofree char *u_missing = g_strdup_printf("file://%s/missing.mp4", out);
  g_autofree char *u_dir = g_strdup_printf("file://%s", out_dir);
  g_autofree char *u_text = g_strdup_printf("file://%s", text);
  g_autofree char *u_dotdot =
      g_strdup_printf("file://%s/../out/secret.txt", media);
  g_autofree char *u_link = g_strdup_printf("file://%s", link);
  const char *refused[] = { u_missing, u_dir, u_text, u_dotdot, u_link,
                            "file:///etc/passwd", "v4l2:///dev/null" };
  g_autofree char *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
    json_t *j = NULL;
    g_autofree char *body = g_strdup_printf(
        "{\"name\": \"n%u\", \"uri\": \"%s\"}", i, refused[i]);
    ck_assert_uint_eq(req("POST", "/api/v1/streams", body, &j), 403);
    const char *msg = check_error(j, "forbidden");
    ck_assert_msg(strstr(msg, "media_dirs") && !strstr(msg, root), "%s",
                  msg);
    if (i < 6) { /* the file:// ones: one message */
      if (!first)
        first = g_strdup(msg);
      ck_assert_msg(strcmp(msg, first) == 0, "%s: '%s' vs '%s'", refused[i],
                    msg, first);
    }
    json_decref(j);
  }
  ck_assert_uint_eq(registry_count(fx.registry), 0);

  g_autofree char *inside = g_strdup_printf(
      "{\"name\": \"clip\", \"uri\": \"file://%s\", \"enabled\": false}",
      clip);
  g_free(create(inside));
  g_free(create("{\"name\": \"cam\", \"uri\": \"v4l2:///dev/video0\", "
                "\"enabled\": false}"));
  ck_assert_uint_eq(registry_count(fx.registry), 2);
  server_fixture_clear(&fx);
}
END_TEST

/* With the real MobileNetV2 1.0/224 and labels (STREAMSIGHT_TEST_DATA):
 * real photos get the label a person would give them. */
START_TEST(test_classify_real_photos)
{
  char model[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model))
    return;
  ServerFixtureOptions o = {
    .threads = 1, .max_streams = 2, .max_body_bytes = 16u << 20,
    .real_model = TRUE,
  };
  server_fixture_init_opts(&fx, &o);
  static const struct {
    const char *file;
    int index;
    const char *label;
  } photos[] = {
    { "images/photos/hot_dog.jpg", 934, "hotdog" },
    { "images/photos/grace_hopper.jpg", 652, "military uniform" },
    { "images/photos/parrot.jpg", 88, "macaw" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(photos); i++) {
    char path[1024];
    if (!tu_data_path(photos[i].file, path, sizeof path))
      continue;
    char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &data, &len, NULL));
    json_t *j = NULL;
    RouteParam q[] = { { "top_k", "3" } };
    ck_assert_uint_eq(req_full("POST", "/api/v1/classify", q, 1, data, len,
                               "image/jpeg", NULL, &j, NULL), 200);
    json_t *top = json_array_get(json_object_get(j, "classes"), 0);
    printf("classify %s: %s (%.3f)\n", photos[i].file,
           json_string_value(json_object_get(top, "label")),
           json_number_value(json_object_get(top, "score")));
    ck_assert_int_eq(json_integer_value(json_object_get(top, "index")),
                     photos[i].index);
    /* Label files differ in synonyms ("hotdog, hot dog, red hot"). */
    ck_assert(g_str_has_prefix(json_string_value(json_object_get(top,
                                                                 "label")),
                               photos[i].label));
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                     "mobilenet_v2_1.0_224_quant");
    json_decref(j);
    g_free(data);
  }
  server_fixture_clear(&fx);
}
END_TEST

/* ---- query tokens, size limits ---- */

typedef struct {
  const char *path;
  const char *access_token;
  const char *authorization;
  guint status;
} QueryTokenCase;

static const QueryTokenCase query_token_cases[] = {
  { "/api/v1/events", NULL, NULL, 401 },
  { "/api/v1/events", TOKEN, NULL, 200 },
  { "/api/v1/events", "wrong", NULL, 401 },
  { "/api/v1/events", "", NULL, 401 },
  { "/api/v1/events", TOKEN, "Bearer wrong", 401 }, /* the header wins */
  { "/api/v1/events", "wrong", AUTH, 200 },
  { "/api/v1/streams/x/events", TOKEN, NULL, 404 },
  { "/api/v1/streams/x/snapshot.jpg", TOKEN, NULL, 404 },
  { "/api/v1/streams/x/snapshot.jpg", NULL, NULL, 401 },
  /* Only those routes take it. */
  { "/api/v1/streams", TOKEN, NULL, 401 },
  { "/api/v1/stats", TOKEN, NULL, 401 },
  { "/metrics", TOKEN, NULL, 401 },
  { "/metrics", NULL, AUTH, 200 },
  { "/readyz", NULL, NULL, 200 }, /* public, like /healthz */
  { "/api/v1/openapi.json", NULL, NULL, 401 },
  { "/api/v1/model", NULL, AUTH, 200 },
  { "/api/v1/classify", NULL, NULL, 401 },
};

START_TEST(test_query_token)
{
  const QueryTokenCase *c = &query_token_cases[_i];
  RouteParam q[] = { { "access_token", c->access_token } };
  const char *method = strcmp(c->path, "/api/v1/classify") == 0 ? "POST"
                                                                 : "GET";
  RouteResponse resp;
  json_t *j = NULL;
  guint st = req_full(method, c->path, q, c->access_token ? 1 : 0, NULL, 0,
                      NULL, c->authorization, &j, &resp);
  ck_assert_msg(st == c->status, "case %d (%s): %u", _i, c->path, st);
  if (st == 401) {
    check_error(j, "unauthorized");
    ck_assert(memmem(resp.body, resp.body_len, TOKEN, strlen(TOKEN)) ==
              NULL);
  }
  json_decref(j);
  route_response_clear(&resp);
}
END_TEST

/* Without an event hub (max_sse_clients 0, no MQTT): the server-wide
 * latency figures are recorded where predictions are produced, so they are
 * there all the same (they were null when the hub kept them). */
static void
setup_no_events(void)
{
  ServerFixtureOptions o = {
    .threads = 1,
    .max_streams = MAX_STREAMS,
    .max_body_bytes = BODY_LIMIT,
    .max_sse_clients = 0,
  };
  server_fixture_init_opts(&fx, &o);
}

START_TEST(test_stats_latency_without_events)
{
  ck_assert_ptr_null(fx.events);
  char *id = create("{\"name\": \"s\", \"uri\": \"test:\", \"max_fps\": 20}");
  json_decref(wait_prediction(id));
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *lat = json_object_get(j, "latency_ms");
  ck_assert_msg(json_is_object(lat), "latency_ms is not an object");
  const char *stages[] = { "queue", "preprocess", "infer", "e2e" };
  for (int i = 0; i < 4; i++) {
    json_t *st = json_object_get(lat, stages[i]);
    json_t *since = json_object_get(st, "since_start");
    ck_assert_msg(json_integer_value(json_object_get(since, "count")) >= 1,
                  "latency_ms.%s.since_start.count", stages[i]);
    ck_assert_msg(json_is_number(json_object_get(since, "max")),
                  "latency_ms.%s.since_start.max", stages[i]);
    ck_assert_msg(json_is_number(json_object_get(
                      json_object_get(st, "last_60s"), "p99")),
                  "latency_ms.%s.last_60s.p99", stages[i]);
  }
  /* e2e covers every other stage: a real duration. */
  ck_assert(json_number_value(json_object_get(json_object_get(
                json_object_get(lat, "e2e"), "since_start"), "max")) > 0.0);
  /* The SSE figures stay empty: there is no hub. */
  ck_assert_int_eq(json_object_size(json_object_get(j, "sse")), 0);
  json_decref(j);
  g_free(id);
}
END_TEST

static void
setup_limits(void)
{
  ServerFixtureOptions o = {
    .threads = 1,
    .max_streams = MAX_STREAMS,
    .token = TOKEN,
    .max_body_bytes = BODY_LIMIT,
    .max_uri_bytes = 300,
    .max_header_bytes = 2048,
    .max_sse_clients = 2,
  };
  server_fixture_init_opts(&fx, &o);
}

START_TEST(test_size_limits)
{
  /* Checked before the token: the client learns which limit. */
  RouteRequest r = { .method = "GET", .path = "/api/v1/streams",
                     .uri_bytes = 301, .header_bytes = 100 };
  json_t *j = NULL;
  ck_assert_uint_eq(fixture_request_full(&fx, &r, &j, NULL), 414);
  ck_assert(strstr(check_error(j, "uri_too_long"), "limits.max_uri_bytes") !=
            NULL);
  json_decref(j);
  r.uri_bytes = 300;
  r.header_bytes = 2049;
  ck_assert_uint_eq(fixture_request_full(&fx, &r, &j, NULL), 431);
  ck_assert(strstr(check_error(j, "header_too_large"),
                   "limits.max_header_bytes") != NULL);
  json_decref(j);
  r.header_bytes = 2048;
  r.authorization = AUTH;
  ck_assert_uint_eq(fixture_request_full(&fx, &r, NULL, NULL), 200);
  /* Counted once each; logged once however often hit. */
  r.uri_bytes = 1000;
  for (int i = 0; i < 5; i++)
    ck_assert_uint_eq(fixture_request_full(&fx, &r, NULL, NULL), 414);
  LimitLog *l = routes_limit_log(fx.routes);
  ck_assert_uint_eq(limit_log_count(l, LIMIT_MAX_URI), 6);
  ck_assert_uint_eq(limit_log_count(l, LIMIT_MAX_HEADER), 1);
  ck_assert(!limit_log_hit(l, LIMIT_MAX_URI, "test"));
  ck_assert(limit_log_hit(l, LIMIT_WORK_QUEUE, "test"));
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
  tcase_add_test(tc, test_create_with_options_object);
  tcase_add_test(tc, test_create_conflicts_and_limit);
  tcase_add_test(tc, test_oversize_body);
  tcase_add_test(tc, test_unknown_ids);
  tcase_add_test(tc, test_history_limit_param);
  tcase_add_loop_test(tc, test_methods_and_unknown_routes, 0,
                      (int)G_N_ELEMENTS(method_cases));
  tcase_add_test(tc, test_error_kind);
  tcase_add_test(tc, test_cors);
  tcase_add_test(tc, test_credentials_never_returned);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_add_test(tc, test_route_table_needs_token);
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_bearer_token, 0,
                      (int)G_N_ELEMENTS(auth_cases));
  tcase_add_test(tc, test_bearer_token_on_writes);
  suite_add_tcase(s, tc);

  tc = tcase_create("api");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_patch);
  tcase_add_loop_test(tc, test_patch_errors, 0,
                      (int)G_N_ELEMENTS(bad_patches));
  tcase_add_test(tc, test_patch_not_found_and_too_large);
  tcase_add_test(tc, test_history_since);
  tcase_add_test(tc, test_prediction_cache);
  tcase_add_test(tc, test_model);
  tcase_add_test(tc, test_readyz);
  tcase_add_test(tc, test_stats_more);
  tcase_add_test(tc, test_metrics);
  tcase_add_test(tc, test_openapi);
  tcase_add_test(tc, test_snapshot);
  tcase_add_test(tc, test_classify);
  suite_add_tcase(s, tc);

  tc = tcase_create("media-dirs");
  tcase_add_test(tc, test_media_dirs_forbidden);
  suite_add_tcase(s, tc);

  tc = tcase_create("real-model");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_classify_real_photos);
  suite_add_tcase(s, tc);

  tc = tcase_create("metrics-validator");
  tcase_add_loop_test(tc, test_prom_validator, 0,
                      (int)G_N_ELEMENTS(prom_cases));
  suite_add_tcase(s, tc);

  tc = tcase_create("events");
  tcase_add_checked_fixture(tc, setup_events, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_events_routes);
  tcase_add_test(tc, test_events_limit);
  tcase_add_test(tc, test_events_streams_added_later);
  tcase_add_test(tc, test_events_stream_removed_ends);
  tcase_add_test(tc, test_events_last_event_id);
  tcase_add_test(tc, test_events_slow_client_drops);
  suite_add_tcase(s, tc);

  tc = tcase_create("events-told");
  tcase_add_checked_fixture(tc, setup_events_rare_ticks, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_events_told_not_polled);
  suite_add_tcase(s, tc);

  tc = tcase_create("query-token");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_query_token, 0,
                      (int)G_N_ELEMENTS(query_token_cases));
  suite_add_tcase(s, tc);

  tc = tcase_create("no-events");
  tcase_add_checked_fixture(tc, setup_no_events, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_stats_latency_without_events);
  suite_add_tcase(s, tc);

  tc = tcase_create("limits");
  tcase_add_checked_fixture(tc, setup_limits, teardown);
  tcase_add_test(tc, test_size_limits);
  suite_add_tcase(s, tc);

  tc = tcase_create("persistence");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_write_back_and_restore);
  tcase_add_test(tc, test_patch_write_back_same_values);
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
