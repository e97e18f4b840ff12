/* Tests of server/routes*.c: the streams API: create, list, get, delete,
 * PATCH, the error paths of each (bad JSON, missing fields, wrong types,
 * unknown ids, oversize bodies, 405 with Allow, 404) and the config
 * write-back with the same ids. Pure functions on a real registry
 * (routes-fixture.h). */
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

static Suite *
routes_suite(void)
{
  Suite *s = suite_create("routes");
  TCase *tc;

  tc = tcase_create("shapes");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_healthz);
  tcase_add_test(tc, test_streams_lifecycle);
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
  suite_add_tcase(s, tc);

  tc = tcase_create("patch");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_patch);
  tcase_add_loop_test(tc, test_patch_errors, 0,
                      (int)G_N_ELEMENTS(bad_patches));
  tcase_add_test(tc, test_patch_not_found_and_too_large);
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
