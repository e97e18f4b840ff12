/* Tests of server/routes*.c: who may ask: bearer tokens on every route that
 * needs one, ?access_token= where a header cannot be sent, CORS for the
 * configured origins, size limits checked before the token, and credentials
 * never in an answer. Pure functions on a real registry (routes-fixture.h). */
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
    char *path = fixture_route_path(pattern);
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
routes_auth_suite(void)
{
  Suite *s = suite_create("routes-auth");
  TCase *tc;

  tc = tcase_create("credentials");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_cors);
  tcase_add_test(tc, test_credentials_never_returned);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_route_table_needs_token);
  tcase_add_loop_test(tc, test_bearer_token, 0,
                      (int)G_N_ELEMENTS(auth_cases));
  tcase_add_test(tc, test_bearer_token_on_writes);
  suite_add_tcase(s, tc);

  tc = tcase_create("query-token");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_query_token, 0,
                      (int)G_N_ELEMENTS(query_token_cases));
  suite_add_tcase(s, tc);

  tc = tcase_create("limits");
  tcase_add_checked_fixture(tc, setup_limits, teardown);
  tcase_add_test(tc, test_size_limits);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(routes_auth_suite());
}
