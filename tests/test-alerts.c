/* The alerts hub (server/alerts.c) and its routes on a real server stack
 * (tiny random-weight MobileNetV2 0.35/96 given labels "class 0".."class
 * 999", test: streams): a rule on the class the model sees starts one
 * alert, with a JPEG of its best frame, an SSE "alert" event and a
 * streamsight_alerts_total sample; a stopped stream ends it after
 * clear_after_s; the history persists across a restart (an active alert
 * comes back ended, interrupted), is bounded (older JPEGs deleted), and a
 * damaged file is set aside. Route errors are 400/404 with reasons. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prom-check.h"
#include "server-fixture.h"
#include "sse-parse.h"
#include "testutil.h"

#define MAX_STREAMS 4
#define BODY_LIMIT 8192
/* Generous: a loaded 2-core machine, frames at 10 fps. */
#define WAIT_S 30.0

static ServerFixture fx;

static void
give_labels(void)
{
  GString *t = g_string_new(NULL);
  for (int i = 0; i < model_num_classes(fx.model); i++)
    g_string_append_printf(t, "class %d\n", i);
  struct ss_error err = { 0 };
  ck_assert_msg(model_set_labels_text(fx.model, t->str, t->len, &err) == 0,
                "labels: %s", err.message);
  g_string_free(t, TRUE);
}

static void
init(guint history)
{
  ServerFixtureOptions o = {
    .threads = 2,
    .max_streams = MAX_STREAMS,
    .max_body_bytes = BODY_LIMIT,
    .max_sse_clients = 4,
    .sse_poll_ms = 200,
    .alerts = TRUE,
    .alerts_history = history,
  };
  server_fixture_init_opts(&fx, &o);
  give_labels();
}

static void
setup(void)
{
  init(0);
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

static guint
req_q(const char *path, const char *name, const char *value, json_t **j)
{
  return fixture_request(&fx, "GET", path, name, value, NULL, NULL, j, NULL);
}

static char *
create(const char *body)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req("POST", "/api/v1/streams", body, &j), 201);
  char *id = g_strdup(json_string_value(json_object_get(j, "id")));
  json_decref(j);
  return id;
}

/* The top class of the stream's first prediction: a still picture on a
 * fixed model keeps it, with a steady score. */
static char *
top_class(const char *id, double *score)
{
  json_t *p = fixture_wait_prediction(&fx, id, WAIT_S, NULL);
  ck_assert_msg(p != NULL, "no prediction within %g s", WAIT_S);
  json_t *top = json_array_get(json_object_get(p, "classes"), 0);
  char *label = g_strdup(json_string_value(json_object_get(top, "label")));
  *score = json_number_value(json_object_get(top, "score"));
  ck_assert_ptr_nonnull(label);
  json_decref(p);
  return label;
}

/* PATCHes the stream with one rule on its top class at half that class's
 * score and no minimum duration: an alert starts on the next frame.
 * Returns the class (g_free). */
static char *
alert_on_top_class(const char *id)
{
  double score = 0;
  char *cls = top_class(id, &score);
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  char *body = g_strdup_printf("{\"alerts\": [{\"class\": \"%s\", "
                               "\"min_score\": %.6f, \"min_duration_s\": 0}]}",
                               cls, score * 0.5);
  json_t *j = NULL;
  ck_assert_uint_eq(req("PATCH", path, body, &j), 200);
  json_decref(j);
  g_free(body);
  g_free(path);
  return cls;
}

/* Polls GET /api/v1/alerts until the first alert's state is want. */
static json_t *
wait_alert(const char *want_state)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(WAIT_S * 1e6);
  while (g_get_monotonic_time() < deadline) {
    json_t *j = NULL;
    ck_assert_uint_eq(req("GET", "/api/v1/alerts", NULL, &j), 200);
    json_t *a = json_array_get(json_object_get(j, "alerts"), 0);
    if (a && strcmp(json_string_value(json_object_get(a, "state")),
                    want_state) == 0 &&
        json_is_string(json_object_get(a, "snapshot"))) {
      json_incref(a);
      json_decref(j);
      return a;
    }
    json_decref(j);
    g_usleep(100 * 1000);
  }
  ck_abort_msg("no %s alert within %g s", want_state, WAIT_S);
  return NULL;
}

static char *
alerts_dir(void)
{
  char *d = g_path_get_dirname(fx.config_path);
  char *a = g_build_filename(d, "alerts", NULL);
  g_free(d);
  return a;
}

static void
read_events(EventClient *c, SseParser *p, const char *until_type)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(WAIT_S * 1e6);
  char buf[4096];
  while (g_get_monotonic_time() < deadline) {
    gssize n = event_client_read(c, buf, sizeof buf);
    if (n > 0)
      sse_parser_feed(p, buf, (gsize)n);
    for (int i = sse_parser_find(p, "alert", 0); i >= 0;
         i = sse_parser_find(p, "alert", (guint)i + 1)) {
      SseEvent *e = g_ptr_array_index(p->events, i);
      if (strstr(e->data, until_type))
        return;
    }
    if (n <= 0)
      g_usleep(20 * 1000);
  }
}

/* Start -> snapshot -> SSE -> metrics -> end when the stream stops. */
START_TEST(test_alert_lifecycle)
{
  char *id = create("{\"name\": \"a\", \"uri\": \"test:\", \"pattern\": "
                    "\"smpte\", \"max_fps\": 10}");
  double score = 0;
  char *cls = top_class(id, &score);
  printf("stream %s top class '%s' at %.4f\n", id, cls, score);

  RouteResponse ev;
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/events", NULL, NULL,
                                    NULL, NULL, NULL, &ev), 200);
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  char *body = g_strdup_printf("{\"alerts\": [{\"class\": \"%s\", "
                               "\"min_score\": %.6f, \"min_duration_s\": 0.5, "
                               "\"clear_after_s\": 1}]}", cls, score * 0.5);
  json_t *j = NULL;
  ck_assert_uint_eq(req("PATCH", path, body, &j), 200);
  json_decref(j);

  json_t *a = wait_alert("active");
  ck_assert_str_eq(json_string_value(json_object_get(a, "stream_id")), id);
  ck_assert_str_eq(json_string_value(json_object_get(a, "class")), cls);
  ck_assert(json_number_value(json_object_get(a, "peak_score")) >=
            score * 0.5);
  ck_assert(json_is_null(json_object_get(a, "end_time")));
  json_int_t aid = json_integer_value(json_object_get(a, "id"));
  ck_assert_int_ge(aid, 1);
  char *snap = g_strdup_printf("/api/v1/alerts/%lld/snapshot.jpg",
                               (long long)aid);
  ck_assert_str_eq(json_string_value(json_object_get(a, "snapshot")), snap);
  json_decref(a);

  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", snap, NULL, NULL, NULL, NULL,
                                    NULL, &resp), 200);
  ck_assert_str_eq(resp.content_type, "image/jpeg");
  ck_assert_uint_gt(resp.body_len, 100);
  ck_assert_uint_eq((guint8)resp.body[0], 0xff);
  ck_assert_uint_eq((guint8)resp.body[1], 0xd8);
  route_response_clear(&resp);

  /* The metric counts the start. */
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/metrics", NULL, NULL, NULL,
                                    NULL, NULL, &resp), 200);
  char *text = g_strndup(resp.body, resp.body_len);
  char *sample = g_strdup_printf("streamsight_alerts_total{stream=\"%s\","
                                 "class=\"%s\"} 1\n", id, cls);
  ck_assert_msg(strstr(text, sample) != NULL, "no '%s' in /metrics", sample);
  char *why = prom_check(text, strlen(text));
  ck_assert_msg(why == NULL, "/metrics: %s", why);
  g_free(sample);
  g_free(text);
  route_response_clear(&resp);

  /* The stream stops: no frames, so the alert ends clear_after_s after the
   * class was last seen. */
  ck_assert_uint_eq(req("PATCH", path, "{\"enabled\": false}", &j), 200);
  json_decref(j);
  a = wait_alert("ended");
  ck_assert_int_eq(json_integer_value(json_object_get(a, "id")), aid);
  ck_assert_str_eq(json_string_value(json_object_get(a, "end_time")),
                   json_string_value(json_object_get(a, "last_seen_time")));
  ck_assert(json_number_value(json_object_get(a, "duration_s")) >= 0.5);
  json_decref(a);

  /* SSE: a start then an end of the same alert. */
  SseParser p;
  sse_parser_init(&p);
  read_events(ev.events, &p, "\"type\":\"end\"");
  int si = sse_parser_find(&p, "alert", 0);
  ck_assert_msg(si >= 0, "no alert event");
  int ei = sse_parser_find(&p, "alert", (guint)si + 1);
  ck_assert_msg(ei > si, "one alert event only");
  SseEvent *e = g_ptr_array_index(p.events, si);
  json_t *d = json_loads(e->data, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(d, "type")), "start");
  ck_assert_str_eq(json_string_value(json_object_get(d, "stream_id")), id);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(d, "alert"), "id")), aid);
  json_decref(d);
  e = g_ptr_array_index(p.events, ei);
  d = json_loads(e->data, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(d, "type")), "end");
  json_decref(d);
  sse_parser_clear(&p);
  route_response_clear(&ev);

  /* Filters. */
  ck_assert_uint_eq(req_q("/api/v1/alerts", "stream", id, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
  json_decref(j);
  ck_assert_uint_eq(req_q("/api/v1/alerts", "stream", "other", &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
  json_decref(j);
  ck_assert_uint_eq(req_q("/api/v1/alerts", "class", cls, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
  json_decref(j);
  ck_assert_uint_eq(req_q("/api/v1/alerts", "since", "2099-01-01T00:00:00Z",
                          &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
  json_decref(j);
  ck_assert_uint_eq(req_q("/api/v1/alerts", "until", "2000-01-01T00:00:00Z",
                          &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
  json_decref(j);

  /* Persisted: the index and the JPEG. */
  alert_hub_flush(fx.alerts);
  char *dir = alerts_dir();
  char *jpg = g_strdup_printf("%s/alert-%lld.jpg", dir, (long long)aid);
  char *idx = g_build_filename(dir, "alerts.json", NULL);
  ck_assert_msg(g_file_test(jpg, G_FILE_TEST_IS_REGULAR), "no %s", jpg);
  ck_assert_msg(g_file_test(idx, G_FILE_TEST_IS_REGULAR), "no %s", idx);
  g_free(jpg);
  g_free(idx);
  g_free(dir);
  g_free(snap);
  g_free(body);
  g_free(path);
  g_free(cls);
  g_free(id);
}
END_TEST

static guint
post_json(const char *path, const char *body, json_t **j)
{
  RouteRequest r = { .method = "POST", .path = path,
                     .content_type = "application/json",
                     .body = (const guint8 *)body,
                     .body_len = strlen(body) };
  return fixture_request_full(&fx, &r, j, NULL);
}

/* A rule on a class of the stream's head (a name no ImageNet label has):
 * the head's scores in the predictions start the alert. */
START_TEST(test_head_class)
{
  char *id = create("{\"name\": \"h\", \"uri\": \"test:\", \"pattern\": "
                    "\"smpte\", \"max_fps\": 10}");
  double score = 0;
  g_free(top_class(id, &score));
  json_t *j = NULL;
  ck_assert_uint_eq(post_json("/api/v1/heads", "{\"id\": \"door\", "
                              "\"classes\": [\"open\", \"shut\"]}", &j),
                    201);
  json_decref(j);
  char *ex = g_strdup_printf("{\"class\": \"open\", \"stream\": \"%s\"}",
                             id);
  char *ex2 = g_strdup_printf("{\"class\": \"shut\", \"stream\": \"%s\"}",
                              id);
  for (int i = 0; i < 2; i++) {
    ck_assert_uint_eq(post_json("/api/v1/heads/door/examples", ex, &j), 201);
    json_decref(j);
    ck_assert_uint_eq(post_json("/api/v1/heads/door/examples", ex2, &j), 201);
    json_decref(j);
  }
  ck_assert_uint_eq(post_json("/api/v1/heads/door/train", "", &j), 200);
  json_decref(j);
  /* Both classes are in every prediction (top_k >= 2): "open" scores
   * about half whatever the frame. */
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  ck_assert_uint_eq(req("PATCH", path, "{\"head\": \"door\", \"alerts\": "
                        "[{\"class\": \"open\", \"min_score\": 0.05, "
                        "\"min_duration_s\": 0}]}", &j), 200);
  json_decref(j);
  json_t *a = wait_alert("active");
  ck_assert_str_eq(json_string_value(json_object_get(a, "class")), "open");
  ck_assert_str_eq(json_string_value(json_object_get(a, "stream_id")), id);
  ck_assert(json_number_value(json_object_get(a, "peak_score")) >= 0.05);
  json_decref(a);
  g_free(path);
  g_free(ex);
  g_free(ex2);
  g_free(id);
}
END_TEST

/* The snapshot of a stream with a region outlines it, as snapshot.jpg?roi=1
 * does: on a black picture, amber on the region's left edge, black inside
 * and outside. */
START_TEST(test_snapshot_outlines_roi)
{
  char *id = create("{\"name\": \"r\", \"uri\": \"test:\", \"pattern\": "
                    "\"black\", \"max_fps\": 10, \"roi\": {\"x\": 0.25, "
                    "\"y\": 0.25, \"w\": 0.5, \"h\": 0.5}}");
  g_free(alert_on_top_class(id));
  json_t *a = wait_alert("active");
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", json_string_value(
                                        json_object_get(a, "snapshot")),
                                    NULL, NULL, NULL, NULL, NULL, &resp),
                    200);
  json_decref(a);
  fixture_check_roi_outline(&resp, "alert snapshot");
  route_response_clear(&resp);
  g_free(id);
}
END_TEST

/* A restart brings the history back; an alert active at exit comes back
 * ended and interrupted, with its snapshot. */
START_TEST(test_persisted_across_restart)
{
  char *id = create("{\"name\": \"a\", \"uri\": \"test:\", \"pattern\": "
                    "\"smpte\", \"max_fps\": 10}");
  char *cls = alert_on_top_class(id);
  json_t *a = wait_alert("active");
  json_int_t aid = json_integer_value(json_object_get(a, "id"));
  json_decref(a);

  /* A new hub on the same directory, as after a restart. */
  char *dir = alerts_dir();
  alert_hub_flush(fx.alerts);
  AlertHubOptions ao = { .registry = fx.registry, .model = fx.model,
                         .dir = dir };
  AlertHub *h2 = alert_hub_new(&ao);
  /* Rules on this registry's stream also run in h2: look at the history
   * it loaded, which is everything before its own first alert. */
  AlertQuery q = { .limit = 10 };
  json_t *list = alert_hub_list(h2, &q);
  json_t *back = NULL;
  for (gsize i = 0; i < json_array_size(json_object_get(list, "alerts"));
       i++) {
    json_t *x = json_array_get(json_object_get(list, "alerts"), i);
    if (json_integer_value(json_object_get(x, "id")) == aid)
      back = x;
  }
  ck_assert_msg(back != NULL, "alert %lld not loaded", (long long)aid);
  ck_assert_str_eq(json_string_value(json_object_get(back, "state")),
                   "ended");
  ck_assert(json_is_true(json_object_get(back, "interrupted")));
  ck_assert_str_eq(json_string_value(json_object_get(back, "class")), cls);
  guint8 *jpeg = NULL;
  gsize len = 0;
  gboolean found = FALSE;
  ck_assert(alert_hub_snapshot(h2, (guint64)aid, &jpeg, &len, &found));
  ck_assert(found && len > 100 && jpeg[0] == 0xff && jpeg[1] == 0xd8);
  free(jpeg);
  json_decref(list);
  /* New ids continue after the loaded ones. */
  ck_assert(!alert_hub_snapshot(h2, 999999, &jpeg, &len, &found));
  ck_assert(!found);
  alert_hub_free(h2);
  g_free(dir);
  g_free(cls);
  g_free(id);
}
END_TEST

/* The history keeps history_max alerts; the JPEGs of older ones go. Each
 * change of the rule ends the alert and, with min_duration 0, the next
 * frame starts a new one. */
START_TEST(test_history_bounded)
{
  server_fixture_clear(&fx);
  init(3);
  char *id = create("{\"name\": \"a\", \"uri\": \"test:\", \"pattern\": "
                    "\"smpte\", \"max_fps\": 10}");
  double score = 0;
  char *cls = top_class(id, &score);
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  json_int_t last = 0;
  for (int k = 0; k < 6; k++) {
    char *body = g_strdup_printf("{\"alerts\": [{\"class\": \"%s\", "
                                 "\"min_score\": %.6f, "
                                 "\"min_duration_s\": 0}]}", cls,
                                 score * (0.5 - 0.01 * k));
    json_t *j = NULL;
    ck_assert_uint_eq(req("PATCH", path, body, &j), 200);
    json_decref(j);
    g_free(body);
    gint64 deadline = g_get_monotonic_time() + (gint64)(WAIT_S * 1e6);
    for (;;) {
      json_t *a = wait_alert("active");
      json_int_t id_now = json_integer_value(json_object_get(a, "id"));
      json_decref(a);
      if (id_now > last) {
        last = id_now;
        break;
      }
      ck_assert_msg(g_get_monotonic_time() < deadline, "no new alert");
      g_usleep(50 * 1000);
    }
  }
  alert_hub_flush(fx.alerts);
  json_t *j = NULL;
  ck_assert_uint_eq(req("GET", "/api/v1/alerts", NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 3);
  /* Newest first. */
  json_t *arr = json_object_get(j, "alerts");
  for (gsize i = 0; i + 1 < json_array_size(arr); i++)
    ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(arr, i),
                                                        "id")),
                     json_integer_value(json_object_get(
                         json_array_get(arr, i + 1), "id")));
  json_decref(j);
  char *dir = alerts_dir();
  GDir *d = g_dir_open(dir, 0, NULL);
  ck_assert_ptr_nonnull(d);
  guint jpgs = 0;
  const char *name;
  while ((name = g_dir_read_name(d)))
    if (g_str_has_suffix(name, ".jpg"))
      jpgs++;
  g_dir_close(d);
  ck_assert_msg(jpgs <= 3, "%u JPEGs kept for a history of 3", jpgs);
  ck_assert_uint_ge(jpgs, 2);
  g_free(dir);
  g_free(path);
  g_free(cls);
  g_free(id);
}
END_TEST

/* A damaged index is set aside and the hub starts empty. */
START_TEST(test_damaged_file)
{
  char *dir = alerts_dir();
  char *idx = g_build_filename(dir, "alerts.json", NULL);
  const char *const bad[] = {
    "{not json",
    "{\"next_id\": 0, \"alerts\": []}",
    "[]",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert(g_file_set_contents(idx, bad[i], -1, NULL));
    AlertHubOptions ao = { .registry = fx.registry, .model = fx.model,
                           .dir = dir };
    AlertHub *h = alert_hub_new(&ao);
    AlertQuery q = { .limit = 10 };
    json_t *list = alert_hub_list(h, &q);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "count")), 0);
    json_decref(list);
    alert_hub_free(h);
    char *set_aside = g_strdup_printf("%s.bad", idx);
    ck_assert_msg(g_file_test(set_aside, G_FILE_TEST_EXISTS), "case %zu", i);
    unlink(set_aside);
    g_free(set_aside);
  }
  /* Entries with wrong fields are skipped, good ones kept. */
  const char *mixed =
      "{\"version\": 1, \"next_id\": 5, \"alerts\": ["
      "{\"id\": 4, \"stream_id\": \"cam\", \"class\": \"x\", \"start_time\": "
      "\"2026-12-07T10:00:00Z\", \"end_time\": \"2026-12-07T10:00:05Z\", "
      "\"peak_score\": 0.9, \"min_score\": 0.5},"
      "{\"id\": -1, \"stream_id\": \"cam\", \"class\": \"x\"},"
      "{\"id\": 3, \"stream_id\": \"Bad Id!\", \"class\": \"x\", "
      "\"start_time\": \"2026-12-07T10:00:00Z\", \"peak_score\": 1, "
      "\"min_score\": 0.5},"
      "{\"id\": 2, \"stream_id\": \"cam\", \"class\": \"x\", \"start_time\": "
      "\"yesterday\", \"peak_score\": 1, \"min_score\": 0.5},"
      "7]}";
  ck_assert(g_file_set_contents(idx, mixed, -1, NULL));
  AlertHubOptions ao = { .registry = fx.registry, .model = fx.model,
                         .dir = dir };
  AlertHub *h = alert_hub_new(&ao);
  AlertQuery q = { .limit = 10 };
  json_t *list = alert_hub_list(h, &q);
  ck_assert_int_eq(json_integer_value(json_object_get(list, "count")), 1);
  json_t *a = json_array_get(json_object_get(list, "alerts"), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(a, "id")), 4);
  ck_assert(json_number_value(json_object_get(a, "duration_s")) == 5.0);
  ck_assert(json_is_null(json_object_get(a, "snapshot")));
  json_decref(list);
  alert_hub_free(h);
  g_free(idx);
  g_free(dir);
}
END_TEST

static const struct {
  const char *path, *qname, *qvalue;
  guint status;
  const char *msg;
} bad_requests[] = {
  { "/api/v1/alerts", "limit", "0", 400, "limit: must be an integer 1..1000" },
  { "/api/v1/alerts", "limit", "1001", 400, "limit:" },
  { "/api/v1/alerts", "since", "yesterday", 400, "since: must be an ISO-8601" },
  { "/api/v1/alerts", "until", "2026-13-01T00:00:00Z", 400, "until:" },
  { "/api/v1/alerts", "stream", "", 400, "stream: must be a stream id" },
  { "/api/v1/alerts", "class", "", 400, "class: must be 1..128 bytes" },
  { "/api/v1/alerts/0/snapshot.jpg", NULL, NULL, 404, "positive integers" },
  { "/api/v1/alerts/x/snapshot.jpg", NULL, NULL, 404, "positive integers" },
  { "/api/v1/alerts/123/snapshot.jpg", NULL, NULL, 404, "no alert with id 123" },
};

START_TEST(test_bad_requests)
{
  json_t *j = NULL;
  guint st = req_q(bad_requests[_i].path, bad_requests[_i].qname,
                   bad_requests[_i].qvalue, &j);
  ck_assert_msg(st == bad_requests[_i].status, "case %d: %u", _i, st);
  const char *msg = json_string_value(json_object_get(
      json_object_get(j, "error"), "message"));
  ck_assert_msg(msg && strstr(msg, bad_requests[_i].msg), "case %d: '%s'", _i,
                msg ? msg : "(none)");
  json_decref(j);
  /* since after until */
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/api/v1/alerts", "since",
                                    "2026-12-07T10:00:00Z", NULL, NULL, &j,
                                    NULL), 200);
  json_decref(j);
}
END_TEST

static Suite *
alerts_suite(void)
{
  Suite *s = suite_create("alerts");
  TCase *tc = tcase_create("hub");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_alert_lifecycle);
  tcase_add_test(tc, test_persisted_across_restart);
  tcase_add_test(tc, test_head_class);
  tcase_add_test(tc, test_snapshot_outlines_roi);
  tcase_add_test(tc, test_history_bounded);
  tcase_add_test(tc, test_damaged_file);
  tcase_add_loop_test(tc, test_bad_requests, 0, G_N_ELEMENTS(bad_requests));
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(alerts_suite());
}
