/* Tests of server/routes*.c: server-sent events through the routes (no
 * sockets): the event stream of all streams and of one, Last-Event-ID, the
 * client limit, streams added and removed while connected, slow clients
 * dropping events. Pure functions on a real registry (routes-fixture.h). */
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

static Suite *
routes_events_suite(void)
{
  Suite *s = suite_create("routes-events");
  TCase *tc;

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
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(routes_events_suite());
}
