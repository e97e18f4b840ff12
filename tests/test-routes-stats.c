/* Tests of server/routes*.c: what the server says about itself:
 * /api/v1/stats (with and without an event hub), /metrics (checked by a
 * Prometheus text validator), api/v1/model, /readyz and the OpenAPI document
 * against the route table. Pure functions on a real registry
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

static Suite *
routes_stats_suite(void)
{
  Suite *s = suite_create("routes-stats");
  TCase *tc;

  tc = tcase_create("stats");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_stats_shape);
  tcase_add_test(tc, test_model);
  tcase_add_test(tc, test_readyz);
  tcase_add_test(tc, test_stats_more);
  tcase_add_test(tc, test_metrics);
  tcase_add_test(tc, test_openapi);
  suite_add_tcase(s, tc);

  tc = tcase_create("metrics-validator");
  tcase_add_loop_test(tc, test_prom_validator, 0,
                      (int)G_N_ELEMENTS(prom_cases));
  suite_add_tcase(s, tc);

  tc = tcase_create("no-events");
  tcase_add_checked_fixture(tc, setup_no_events, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_stats_latency_without_events);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(routes_stats_suite());
}
