/* streamsight — the fixture the test-routes*.c suites share
 * (routes-fixture.h). */
#include "routes-fixture.h"

#include <check.h>
#include <string.h>

ServerFixture fx;

void
setup(void)
{
  server_fixture_init(&fx, 2, MAX_STREAMS, NULL, BODY_LIMIT);
}

void
setup_auth(void)
{
  server_fixture_init(&fx, 1, MAX_STREAMS, TOKEN, BODY_LIMIT);
}

void
teardown(void)
{
  server_fixture_clear(&fx);
}

guint
req(const char *method, const char *path, const char *body, json_t **j)
{
  return fixture_request(&fx, method, path, NULL, NULL, body, NULL, j, NULL);
}

/* Checks the error shape {"error": {"code", "message"}} (exactly) and the
 * code; returns the message (borrowed from j). */
const char *
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
char *
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


/* A request with everything settable. */
guint
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
void
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

json_t *
wait_prediction(const char *id)
{
  json_t *p = fixture_wait_prediction(&fx, id, PREDICTION_TIMEOUT_S, NULL);
  ck_assert_msg(p != NULL, "no prediction from %s within %g s", id,
                PREDICTION_TIMEOUT_S);
  return p;
}

/* Polls the history until it holds at least n predictions. */
void
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
