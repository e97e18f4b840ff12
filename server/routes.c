#include "routes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "json-util.h"
#include "model.h"
#include "static-files.h"

/* ?limit= of the predictions history: the largest history_len a stream can
 * have, so that one request can read a whole ring. */
#define ROUTES_HISTORY_LIMIT_MAX 10000
#define ROUTES_HISTORY_LIMIT_DEFAULT 10
/* Longest path segment taken as a stream id (ids are at most 64 bytes; a
 * longer segment cannot name a stream). */
#define ROUTES_ID_MAX 64
#define SHA256_LEN 32

struct Routes {
  /* Immutable after routes_new(). */
  Registry *registry;
  const struct ss_engine *engine;
  struct ss_pool *pool;
  ConfigStore *store;
  gboolean auth;
  guint8 token_sha256[SHA256_LEN];
  guint64 max_body_bytes;
  gint64 start_mono_us;
  gint64 start_wall_us;
  /* Atomic counters. */
  guint64 n_ok, n_client_errors, n_server_errors;
};

/* ---- responses ---- */

void
route_response_clear(RouteResponse *resp)
{
  free(resp->body);
  for (guint i = 0; i < resp->n_headers; i++)
    g_free(resp->headers[i].value);
  memset(resp, 0, sizeof *resp);
}

const char *
route_response_header(const RouteResponse *resp, const char *name)
{
  for (guint i = 0; i < resp->n_headers; i++)
    if (g_ascii_strcasecmp(resp->headers[i].name, name) == 0)
      return resp->headers[i].value;
  return NULL;
}

static void
resp_header(RouteResponse *resp, const char *name, const char *value)
{
  /* The handlers set at most 4 headers; more would be a bug here. */
  g_assert(resp->n_headers < ROUTE_MAX_HEADERS);
  resp->headers[resp->n_headers].name = name;
  resp->headers[resp->n_headers].value = g_strdup(value);
  resp->n_headers++;
}

/* Sets a JSON body (v is stolen). */
static void
resp_json(RouteResponse *resp, guint status, json_t *v)
{
  size_t len = 0;
  char *body = v ? json_util_dump(v, &len) : NULL;
  json_decref(v);
  if (!body) {
    /* Out of memory while serialising: a fixed body needs no allocation
     * by jansson. */
    static const char oom[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    body = malloc(sizeof oom);
    if (body)
      memcpy(body, oom, sizeof oom);
    len = body ? sizeof oom - 1 : 0;
    status = 500;
  }
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = body;
  resp->body_len = len;
  resp_header(resp, "Cache-Control", "no-store");
}

static void resp_error(RouteResponse *resp, guint status, const char *code,
                       const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void
resp_error(RouteResponse *resp, guint status, const char *code,
           const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  json_t *m = json_string(msg);
  if (!m)
    m = json_string("(message not valid UTF-8)");
  g_free(msg);
  json_t *err = json_object();
  json_object_set_new(err, "code", json_string(code));
  json_object_set_new(err, "message", m);
  json_t *root = json_object();
  json_object_set_new(root, "error", err);
  resp_json(resp, status, root);
}

static void
resp_empty(RouteResponse *resp, guint status)
{
  resp->status = status;
  resp->content_type = NULL;
  resp->body = NULL;
  resp->body_len = 0;
}

/* ---- helpers ---- */

static const char *
query_get(const RouteRequest *req, const char *name)
{
  for (guint i = 0; i < req->n_query; i++)
    if (req->query[i].name && strcmp(req->query[i].name, name) == 0)
      return req->query[i].value ? req->query[i].value : "";
  return NULL;
}

static void
sha256(const void *data, gsize len, guint8 out[SHA256_LEN])
{
  GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(c, data, (gssize)len);
  gsize n = SHA256_LEN;
  g_checksum_get_digest(c, out, &n);
  g_checksum_free(c);
}

/* TRUE when the header carries the configured bearer token. The presented
 * token is hashed and the digests are compared without an early exit, so
 * the time taken says nothing about how much of the token was right (nor,
 * through the fixed-size digest, about its length). */
static gboolean
auth_ok(Routes *r, const char *header, const char **why)
{
  if (!header) {
    *why = "missing Authorization header (expected: Bearer <token>)";
    return FALSE;
  }
  while (*header == ' ' || *header == '\t')
    header++;
  if (g_ascii_strncasecmp(header, "Bearer", 6) != 0 ||
      (header[6] != ' ' && header[6] != '\t')) {
    *why = "Authorization must use the Bearer scheme";
    return FALSE;
  }
  const char *tok = header + 6;
  while (*tok == ' ' || *tok == '\t')
    tok++;
  gsize len = strlen(tok);
  while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
    len--;
  guint8 digest[SHA256_LEN];
  sha256(tok, len, digest);
  volatile guint8 diff = 0;
  for (int i = 0; i < SHA256_LEN; i++)
    diff |= digest[i] ^ r->token_sha256[i];
  if (diff != 0 || len == 0) {
    *why = "invalid bearer token";
    return FALSE;
  }
  return TRUE;
}

/* A stream id from the path is echoed only when it has the id syntax. */
static gboolean
id_is_printable(const char *id)
{
  gsize n = strlen(id);
  if (n == 0 || n > ROUTES_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum(id[i]) && id[i] != '_' && id[i] != '-')
      return FALSE;
  return TRUE;
}

static void
resp_stream_not_found(RouteResponse *resp, const char *id)
{
  if (id_is_printable(id))
    resp_error(resp, 404, "not_found", "no stream with id '%s'", id);
  else
    resp_error(resp, 404, "not_found", "no stream with that id");
}

/* ---- JSON shapes ---- */

static json_t *
counters_to_json(const ResultsStats *s)
{
  const guint64 *c = s->counters;
  json_t *o = json_object();
  json_object_set_new(o, "frames_received",
                      json_integer((json_int_t)c[RESULTS_RECEIVED]));
  json_object_set_new(o, "frames_inferred",
                      json_integer((json_int_t)c[RESULTS_INFERRED]));
  json_object_set_new(o, "frames_dropped",
                      json_integer((json_int_t)(c[RESULTS_DROPPED_BUSY] +
                                                c[RESULTS_DROPPED_FPS] +
                                                c[RESULTS_DROPPED_QUEUE])));
  json_object_set_new(o, "frames_dropped_busy",
                      json_integer((json_int_t)c[RESULTS_DROPPED_BUSY]));
  json_object_set_new(o, "frames_dropped_fps",
                      json_integer((json_int_t)c[RESULTS_DROPPED_FPS]));
  json_object_set_new(o, "frames_dropped_queue",
                      json_integer((json_int_t)c[RESULTS_DROPPED_QUEUE]));
  json_object_set_new(o, "errors",
                      json_integer((json_int_t)c[RESULTS_ERRORS]));
  json_object_set_new(o, "reconnects",
                      json_integer((json_int_t)c[RESULTS_RECONNECTS]));
  json_object_set_new(o, "stalls",
                      json_integer((json_int_t)c[RESULTS_STALLS]));
  return o;
}

static json_t *
stream_to_json(const StreamInfo *info)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_util_string_or_null(info->id));
  json_object_set_new(o, "name", json_util_string_or_null(info->name));
  /* Never info->config.uri: it may hold credentials. */
  json_object_set_new(o, "uri", json_util_string_or_null(info->uri_redacted));
  json_object_set_new(o, "state",
                      json_string(stream_state_name(info->state)));
  config_stream_options_to_json(o, &info->config, FALSE);
  json_object_set_new(o, "last_error",
                      json_util_string_or_null(info->last_error));
  json_object_set_new(o, "last_error_time",
                      json_util_time_or_null(info->last_error_wall_us));
  json_object_set_new(o, "reconnects",
                      json_integer((json_int_t)info->reconnects));
  json_object_set_new(o, "reconnects_last_hour",
                      json_integer(info->reconnects_last_hour));
  json_object_set_new(o, "stalls_last_hour",
                      json_integer(info->stalls_last_hour));
  json_object_set_new(o, "connection_quality",
                      json_util_string_or_null(info->connection_quality));
  json_object_set_new(o, "created_time",
                      json_util_time_or_null(info->created_wall_us));
  json_object_set_new(o, "started_time",
                      json_util_time_or_null(info->started_wall_us));
  json_object_set_new(o, "width",
                      info->width > 0 ? json_integer(info->width)
                                      : json_null());
  json_object_set_new(o, "height",
                      info->height > 0 ? json_integer(info->height)
                                       : json_null());
  json_object_set_new(o, "source_fps",
                      info->source_fps > 0 ? json_real(info->source_fps)
                                           : json_null());
  json_object_set_new(o, "fps_in", json_real(info->stats.fps_in));
  json_object_set_new(o, "fps_out", json_real(info->stats.fps_out));
  json_object_set_new(o, "last_prediction_time",
                      json_util_time_or_null(
                          info->stats.last_prediction_wall_us));
  json_object_set_new(o, "counters", counters_to_json(&info->stats));
  return o;
}

static json_t *
prediction_to_json(Routes *r, const Prediction *p)
{
  const struct ss_model *m = engine_model(r->engine);
  json_t *o = json_object();
  json_object_set_new(o, "seq", json_integer((json_int_t)p->seq));
  json_object_set_new(o, "frame", json_integer((json_int_t)p->frame_no));
  json_object_set_new(o, "pts_ns",
                      GST_CLOCK_TIME_IS_VALID(p->pts)
                          ? json_integer((json_int_t)p->pts)
                          : json_null());
  json_object_set_new(o, "capture_time",
                      json_util_time_or_null(p->capture_wall_us));
  json_object_set_new(o, "capture_mono_ns",
                      json_integer((json_int_t)p->capture_mono_ns));
  json_object_set_new(o, "published_mono_ns",
                      json_integer((json_int_t)p->published_mono_ns));
  json_object_set_new(o, "model", json_util_string_or_null(model_name(m)));
  json_t *in = json_object();
  json_object_set_new(in, "width", json_integer(model_input_width(m)));
  json_object_set_new(in, "height", json_integer(model_input_height(m)));
  json_object_set_new(o, "input", in);
  json_t *classes = json_array();
  for (int i = 0; i < p->n_top && i < POOL_MAX_TOP_K; i++) {
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(p->top[i].index));
    json_object_set_new(c, "label", json_util_string_or_null(
                                        model_label(m, p->top[i].index)));
    json_object_set_new(c, "score", json_real(p->top[i].score));
    json_array_append_new(classes, c);
  }
  json_object_set_new(o, "classes", classes);
  json_t *lat = json_object();
  json_object_set_new(lat, "queue", json_util_ms(p->queue_ms));
  json_object_set_new(lat, "preprocess", json_util_ms(p->preprocess_ms));
  json_object_set_new(lat, "infer", json_util_ms(p->infer_ms));
  json_object_set_new(lat, "e2e", json_util_ms(p->e2e_ms));
  json_object_set_new(o, "latency_ms", lat);
  return o;
}

static json_t *
summary_to_json(const LatencySummary *s)
{
  json_t *o = json_object();
  json_object_set_new(o, "count", json_integer((json_int_t)s->count));
  json_object_set_new(o, "mean", json_util_ms(s->mean_ms));
  json_object_set_new(o, "p50", json_util_ms(s->p50_ms));
  json_object_set_new(o, "p90", json_util_ms(s->p90_ms));
  json_object_set_new(o, "p99", json_util_ms(s->p99_ms));
  json_object_set_new(o, "max", json_util_ms(s->max_ms));
  return o;
}

static const char *const stage_names[LATENCY_N_STAGES] = {
  [LATENCY_STAGE_QUEUE] = "queue",
  [LATENCY_STAGE_PREPROCESS] = "preprocess",
  [LATENCY_STAGE_INFER] = "infer",
  [LATENCY_STAGE_E2E] = "e2e",
};

static json_t *
latency_to_json(const ResultsStats *s)
{
  json_t *o = json_object();
  for (int i = 0; i < LATENCY_N_STAGES; i++) {
    json_t *st = json_object();
    json_object_set_new(st, "last_60s", summary_to_json(&s->window[i]));
    json_object_set_new(st, "since_start",
                        summary_to_json(&s->since_start[i]));
    json_object_set_new(o, stage_names[i], st);
  }
  return o;
}

/* Resident set size in bytes from /proc/self/statm, 0 if unavailable. */
static guint64
process_rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "re");
  if (!f)
    return 0;
  unsigned long size = 0, resident = 0;
  int n = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  return n == 2 && page > 0 ? (guint64)resident * (guint64)page : 0;
}

/* ---- handlers ---- */

typedef void (*RouteHandler)(Routes *r, const RouteRequest *req,
                             const char *id, RouteResponse *resp);

static void
h_healthz(Routes *r, const RouteRequest *req, const char *id,
          RouteResponse *resp)
{
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string("ok"));
  resp_json(resp, 200, o);
}

static void
h_streams_list(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  GPtrArray *list = registry_list(r->registry);
  json_t *arr = json_array();
  for (guint i = 0; i < list->len; i++)
    json_array_append_new(arr, stream_to_json(g_ptr_array_index(list, i)));
  g_ptr_array_unref(list);
  json_t *o = json_object();
  json_object_set_new(o, "streams", arr);
  resp_json(resp, 200, o);
}

/* Adds "Warning" when the config file could not be written. */
static void
resp_persist_warning(Routes *r, RouteResponse *resp)
{
  if (!r->store)
    return;
  char *err = NULL;
  config_store_status(r->store, NULL, NULL, &err);
  if (err) {
    /* RFC 7234 warn-code 199 "miscellaneous"; the text is quoted and must
     * not hold quotes or control characters. */
    for (char *p = err; *p; p++)
      if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
        *p = '\'';
    char *v = g_strdup_printf("199 streamsight \"config file not saved: %s\"",
                              err);
    resp_header(resp, "Warning", v);
    g_free(v);
    g_free(err);
  }
}

static void
resp_registry_error(RouteResponse *resp, GError *e, const char *what)
{
  if (e->domain == REGISTRY_ERROR) {
    switch ((RegistryError)e->code) {
    case REGISTRY_ERROR_INVALID:
      resp_error(resp, 400, "invalid_argument", "%s", e->message);
      return;
    case REGISTRY_ERROR_NOT_FOUND:
      resp_error(resp, 404, "not_found", "%s", e->message);
      return;
    case REGISTRY_ERROR_EXISTS:
      resp_error(resp, 409, "conflict", "%s", e->message);
      return;
    case REGISTRY_ERROR_LIMIT:
      resp_error(resp, 409, "limit_reached", "%s", e->message);
      return;
    }
  }
  g_warning("http: %s failed: %s", what, e->message);
  resp_error(resp, 500, "internal", "%s failed: %s", what, e->message);
}

static void
h_streams_create(Routes *r, const RouteRequest *req, const char *id,
                 RouteResponse *resp)
{
  GError *e = NULL;
  if (req->body_too_large) {
    resp_error(resp, 413, "payload_too_large",
               "request body: larger than the limit of %" G_GUINT64_FORMAT
               " bytes", r->max_body_bytes);
    return;
  }
  if (!req->body || req->body_len == 0) {
    resp_error(resp, 400, "invalid_json",
               "request body: empty (expected a JSON object with name and "
               "uri)");
    return;
  }
  json_t *obj = json_util_parse_object((const char *)req->body, req->body_len,
                                       "request body", &e);
  if (!obj) {
    resp_error(resp, 400, "invalid_json", "%s", e->message);
    g_error_free(e);
    return;
  }
  StreamConfig cfg;
  char *want_id = NULL;
  gboolean ok = config_stream_from_json(obj, "", TRUE, &want_id, &cfg, &e);
  json_decref(obj);
  if (!ok) {
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    g_error_free(e);
    return;
  }
  char *new_id = NULL;
  ok = registry_add(r->registry, want_id, &cfg, &new_id, &e);
  g_free(want_id);
  stream_config_clear(&cfg);
  if (!ok) {
    resp_registry_error(resp, e, "adding the stream");
    g_error_free(e);
    return;
  }
  StreamInfo info;
  if (registry_get(r->registry, new_id, &info, NULL)) {
    resp_json(resp, 201, stream_to_json(&info));
    stream_info_clear(&info);
  } else {
    /* Removed by another request in the meantime. */
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(new_id));
    resp_json(resp, 201, o);
  }
  char *loc = g_strdup_printf("/api/v1/streams/%s", new_id);
  resp_header(resp, "Location", loc);
  g_free(loc);
  resp_persist_warning(r, resp);
  g_free(new_id);
}

static void
h_stream_get(Routes *r, const RouteRequest *req, const char *id,
             RouteResponse *resp)
{
  StreamInfo info;
  if (!registry_get(r->registry, id, &info, NULL)) {
    resp_stream_not_found(resp, id);
    return;
  }
  resp_json(resp, 200, stream_to_json(&info));
  stream_info_clear(&info);
}

static void
h_stream_delete(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  GError *e = NULL;
  if (!registry_remove(r->registry, id, &e)) {
    if (g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND))
      resp_stream_not_found(resp, id);
    else
      resp_registry_error(resp, e, "removing the stream");
    g_error_free(e);
    return;
  }
  resp_empty(resp, 204);
  resp_persist_warning(r, resp);
}

static void
h_predictions_latest(Routes *r, const RouteRequest *req, const char *id,
                     RouteResponse *resp)
{
  StreamResults *res = registry_results(r->registry, id);
  if (!res) {
    resp_stream_not_found(resp, id);
    return;
  }
  Prediction p;
  gboolean have = stream_results_copy_latest(res, &p);
  stream_results_unref(res);
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(id));
  json_object_set_new(o, "prediction",
                      have ? prediction_to_json(r, &p) : json_null());
  resp_json(resp, 200, o);
}

static void
h_predictions_history(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp)
{
  guint64 limit = ROUTES_HISTORY_LIMIT_DEFAULT;
  const char *s = query_get(req, "limit");
  if (s && !g_ascii_string_to_unsigned(s, 10, 1, ROUTES_HISTORY_LIMIT_MAX,
                                       &limit, NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "limit: must be an integer 1..%d", ROUTES_HISTORY_LIMIT_MAX);
    return;
  }
  StreamResults *res = registry_results(r->registry, id);
  if (!res) {
    resp_stream_not_found(resp, id);
    return;
  }
  Prediction *buf = g_new(Prediction, limit);
  guint n = stream_results_copy_history(res, 0, 0, buf, (guint)limit);
  stream_results_unref(res);
  json_t *arr = json_array();
  for (guint i = 0; i < n; i++)
    json_array_append_new(arr, prediction_to_json(r, &buf[i]));
  g_free(buf);
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(id));
  json_object_set_new(o, "count", json_integer(n));
  json_object_set_new(o, "predictions", arr);
  resp_json(resp, 200, o);
}

static void
h_stats(Routes *r, const RouteRequest *req, const char *id,
        RouteResponse *resp)
{
  json_t *o = json_object();
  gint64 now_us = g_get_monotonic_time();
  json_object_set_new(o, "uptime_s",
                      json_real((double)(now_us - r->start_mono_us) / 1e6));
  json_object_set_new(o, "start_time",
                      json_util_time_or_null(r->start_wall_us));

  json_t *pool = json_object();
  json_object_set_new(pool, "threads",
                      json_integer(pool_num_threads(r->pool)));
  json_object_set_new(pool, "queue_depth",
                      json_integer(pool_queue_depth(r->pool)));
  json_object_set_new(pool, "queue_capacity",
                      json_integer(pool_queue_capacity(r->pool)));
  json_object_set_new(pool, "busy_workers",
                      json_integer(pool_busy_workers(r->pool)));
  json_object_set_new(pool, "jobs_done",
                      json_integer((json_int_t)pool_jobs_done(r->pool)));
  json_object_set_new(pool, "isa",
                      json_string(engine_isa_name(r->engine)));
  json_object_set_new(o, "pool", pool);

  json_t *proc = json_object();
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    json_object_set_new(proc, "cpu_user_s",
                        json_real((double)ru.ru_utime.tv_sec +
                                  (double)ru.ru_utime.tv_usec / 1e6));
    json_object_set_new(proc, "cpu_system_s",
                        json_real((double)ru.ru_stime.tv_sec +
                                  (double)ru.ru_stime.tv_usec / 1e6));
  }
  json_object_set_new(proc, "rss_bytes",
                      json_integer((json_int_t)process_rss_bytes()));
  json_object_set_new(o, "process", proc);

  guint64 ok, cerr, serr;
  routes_counts(r, &ok, &cerr, &serr);
  json_t *http = json_object();
  json_object_set_new(http, "responses_2xx", json_integer((json_int_t)ok));
  json_object_set_new(http, "responses_4xx", json_integer((json_int_t)cerr));
  json_object_set_new(http, "responses_5xx", json_integer((json_int_t)serr));
  json_object_set_new(o, "http", http);

  json_t *cfg = json_object();
  if (r->store) {
    guint64 wok = 0, wfail = 0;
    char *err = NULL;
    config_store_status(r->store, &wok, &wfail, &err);
    json_object_set_new(cfg, "path",
                        json_util_string_or_null(config_store_path(r->store)));
    json_object_set_new(cfg, "persisted", json_boolean(err == NULL));
    json_object_set_new(cfg, "writes_ok", json_integer((json_int_t)wok));
    json_object_set_new(cfg, "writes_failed", json_integer((json_int_t)wfail));
    json_object_set_new(cfg, "last_write_error",
                        json_util_string_or_null(err));
    g_free(err);
  } else {
    json_object_set_new(cfg, "path", json_null());
    json_object_set_new(cfg, "persisted", json_false());
  }
  json_object_set_new(o, "config", cfg);

  GPtrArray *list = registry_list(r->registry);
  json_t *arr = json_array();
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    json_t *s = json_object();
    json_object_set_new(s, "id", json_util_string_or_null(info->id));
    json_object_set_new(s, "name", json_util_string_or_null(info->name));
    json_object_set_new(s, "state",
                        json_string(stream_state_name(info->state)));
    json_object_set_new(s, "fps_in", json_real(info->stats.fps_in));
    json_object_set_new(s, "fps_out", json_real(info->stats.fps_out));
    json_object_set_new(s, "counters", counters_to_json(&info->stats));
    json_object_set_new(s, "latency_ms", latency_to_json(&info->stats));
    json_array_append_new(arr, s);
  }
  g_ptr_array_unref(list);
  json_object_set_new(o, "streams", arr);
  resp_json(resp, 200, o);
}

/* ---- the route table ---- */

typedef struct {
  const char *method;
  const char *pattern; /* '*' is one path segment: the stream id */
  RouteHandler fn;
  gboolean public;     /* answered without a token */
} Route;

static const Route route_table[] = {
  { "GET", "/healthz", h_healthz, TRUE },
  { "GET", "/api/v1/streams", h_streams_list, FALSE },
  { "POST", "/api/v1/streams", h_streams_create, FALSE },
  { "GET", "/api/v1/streams/*", h_stream_get, FALSE },
  { "DELETE", "/api/v1/streams/*", h_stream_delete, FALSE },
  { "GET", "/api/v1/streams/*/predictions/latest", h_predictions_latest,
    FALSE },
  { "GET", "/api/v1/streams/*/predictions", h_predictions_history, FALSE },
  { "GET", "/api/v1/stats", h_stats, FALSE },
  /* The dashboard: public, so that the page can ask for the token. */
  { "GET", "/", static_files_route, TRUE },
  { "GET", "/static/*", static_files_route, TRUE },
};

/* Matches path against pattern; a '*' segment is copied to id (which is
 * left empty when the segment is too long to be an id: no stream has it). */
static gboolean
route_match(const char *pattern, const char *path, char id[ROUTES_ID_MAX + 1])
{
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p == '*') {
      const char *end = strchr(s, '/');
      gsize n = end ? (gsize)(end - s) : strlen(s);
      if (n == 0)
        return FALSE;
      if (n <= ROUTES_ID_MAX) {
        memcpy(id, s, n);
        id[n] = '\0';
      } else {
        id[0] = '\0';
      }
      p++;
      s += n;
      continue;
    }
    if (*p != *s)
      return FALSE;
    p++;
    s++;
  }
  return *p == '\0' && *s == '\0';
}

Routes *
routes_new(const RoutesConfig *cfg)
{
  Routes *r = g_new0(Routes, 1);
  r->registry = cfg->registry;
  r->engine = cfg->engine;
  r->pool = cfg->pool;
  r->store = cfg->store;
  r->max_body_bytes = cfg->max_body_bytes;
  if (cfg->auth_token && *cfg->auth_token) {
    r->auth = TRUE;
    sha256(cfg->auth_token, strlen(cfg->auth_token), r->token_sha256);
  }
  r->start_mono_us = g_get_monotonic_time();
  r->start_wall_us = g_get_real_time();
  return r;
}

void
routes_free(Routes *r)
{
  if (!r)
    return;
  memset(r->token_sha256, 0, sizeof r->token_sha256);
  g_free(r);
}

void
routes_counts(Routes *r, guint64 *ok, guint64 *client_errors,
              guint64 *server_errors)
{
  *ok = __atomic_load_n(&r->n_ok, __ATOMIC_RELAXED);
  *client_errors = __atomic_load_n(&r->n_client_errors, __ATOMIC_RELAXED);
  *server_errors = __atomic_load_n(&r->n_server_errors, __ATOMIC_RELAXED);
}

static void
dispatch(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  const char *path = req->path ? req->path : "";
  const char *method = req->method ? req->method : "";
  gboolean head = strcmp(method, "HEAD") == 0;
  char id[ROUTES_ID_MAX + 1];

  /* Authentication first, so that without a token nothing, not even
   * which paths exist, is revealed. */
  gboolean public = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS(route_table); i++)
    if (route_table[i].public && route_match(route_table[i].pattern, path, id))
      public = TRUE;
  const char *why = NULL;
  if (r->auth && !public && !auth_ok(r, req->authorization, &why)) {
    resp_error(resp, 401, "unauthorized", "%s", why);
    resp_header(resp, "WWW-Authenticate",
                req->authorization
                    ? "Bearer realm=\"streamsight\", error=\"invalid_token\""
                    : "Bearer realm=\"streamsight\"");
    return;
  }

  gboolean path_known = FALSE;
  GString *allow = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(route_table); i++) {
    const Route *rt = &route_table[i];
    if (!route_match(rt->pattern, path, id))
      continue;
    path_known = TRUE;
    if (strcmp(rt->method, method) == 0 ||
        (head && strcmp(rt->method, "GET") == 0)) {
      rt->fn(r, req, id, resp);
      return;
    }
  }
  if (!path_known) {
    resp_error(resp, 404, "not_found", "no such route");
    return;
  }
  allow = g_string_new(NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(route_table); i++) {
    const Route *rt = &route_table[i];
    if (!route_match(rt->pattern, path, id))
      continue;
    g_string_append_printf(allow, "%s%s", allow->len ? ", " : "", rt->method);
    if (strcmp(rt->method, "GET") == 0)
      g_string_append(allow, ", HEAD");
  }
  if (strcmp(method, "OPTIONS") == 0) {
    resp_empty(resp, 204);
  } else {
    /* The method comes from the client: not echoed. */
    resp_error(resp, 405, "method_not_allowed",
               "method not allowed here (allowed: %s)", allow->str);
  }
  g_string_append(allow, ", OPTIONS");
  resp_header(resp, "Allow", allow->str);
  g_string_free(allow, TRUE);
}

void
routes_handle(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  dispatch(r, req, resp);
  guint64 *counter = resp->status >= 500   ? &r->n_server_errors
                     : resp->status >= 400 ? &r->n_client_errors
                                           : &r->n_ok;
  __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}
