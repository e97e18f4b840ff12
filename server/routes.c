#include "routes.h"
#include "routes-internal.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api-json.h"
#include "classify-pool.h"
#include "image-classify.h"
#include "image-decode.h"
#include "json-util.h"
#include "metrics.h"
#include "model.h"
#include "multipart.h"
#include "snapshot.h"
#include "static-files.h"

/* ?limit= of the predictions history: the largest history_len a stream can
 * have, so that one request can read a whole ring. */
#define ROUTES_HISTORY_LIMIT_MAX 10000
#define ROUTES_HISTORY_LIMIT_DEFAULT 10
#define SHA256_LEN 32
/* POST /api/v1/classify: ?top_k= default. */
#define ROUTES_CLASSIFY_TOP_K_DEFAULT 5
/* Retry-After (s) on 503 answers: a frame arrives, a client leaves, a job
 * finishes within seconds. */
#define ROUTES_RETRY_FRAME_S "1"
#define ROUTES_RETRY_SSE_S "5"
/* Retry-After of a classify refused because the decode budget is full. */
#define ROUTES_RETRY_DECODE_S "2"
/* Encode failures are logged at most this often (they are not a limit a
 * client hits, but a missing plugin would fail every request). */
#define ROUTES_ENCODE_WARN_INTERVAL_US (60 * G_USEC_PER_SEC)
/* Largest history answer kept in the per-stream cache (about 100
 * predictions): bigger ones are rare and would hold megabytes. */
#define ROUTES_PRED_CACHE_MAX_BYTES (64u << 10)

/* server/openapi.json, compiled in by server/embed-openapi.py
 * (openapi-data.c): NUL-terminated, size without the NUL. */
extern const char routes_openapi_data[];
extern const size_t routes_openapi_size;

/* Process figures read from /proc (a few syscalls each): sampled at most
 * every PROCESS_SAMPLE_US, so that a stats or metrics poller at thousands
 * of requests per second does not spend its time in /proc. */
#define PROCESS_SAMPLE_US (G_USEC_PER_SEC / 2)
typedef struct {
  gint64 taken_us; /* monotonic; 0 = never */
  guint64 rss_bytes;
  int open_fds, threads;
} ProcessSample;

/* The last answers of GET .../predictions/latest and .../predictions?limit=
 * of one stream (without since/after_seq), valid while the stream's latest
 * seq is unchanged: a new prediction is the only thing that changes them.
 * Pollers (dashboards, the load benchmark) ask far more often than
 * predictions arrive. */
typedef struct {
  StreamResults *res;   /* reference: identifies the stream's incarnation */
  guint64 latest_seq;
  char *latest_body;    /* g_malloc'd, NULL = none */
  gsize latest_len;
  guint64 hist_seq;
  guint hist_limit;
  char *hist_body;
  gsize hist_len;
} PredCache;

struct Routes {
  /* Immutable after routes_new(). */
  Registry *registry;
  const struct ss_engine *engine;
  struct ss_pool *pool;
  ConfigStore *store;
  EventHub *events;
  MqttPublisher *mqtt;
  const Shard *shard; /* NULL: not sharded */
  gboolean auth;
  guint8 token_sha256[SHA256_LEN];
  guint64 max_body_bytes, max_uri_bytes, max_header_bytes;
  gint64 start_mono_us;
  gint64 start_wall_us;
  /* Owned, each thread-safe. */
  LimitLog *limits;
  Snapshots *snapshots;
  ClassifyPool *classify;
  /* Protected by cache_lock. */
  GMutex cache_lock;
  ProcessSample proc;
  GHashTable *pred_cache; /* stream id -> PredCache* */
  /* Protected by http_lock. */
  GMutex http_lock;
  RouteHttpStatsFunc http_stats;
  gpointer http_stats_user;
  /* Atomic. */
  guint64 n_ok, n_client_errors, n_server_errors;
  gint64 last_encode_warn_us;
};

/* ---- responses ---- */

void
route_response_clear(RouteResponse *resp)
{
  free(resp->body);
  for (guint i = 0; i < resp->n_headers; i++)
    g_free(resp->headers[i].value);
  if (resp->events)
    event_client_close(resp->events);
  if (resp->work)
    route_work_free(resp->work);
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

void
route_response_add_header(RouteResponse *resp, const char *name,
                          const char *value)
{
  /* The handlers set at most ROUTE_MAX_HEADERS; more would be a bug. */
  g_assert(resp->n_headers < ROUTE_MAX_HEADERS);
  resp->headers[resp->n_headers].name = name;
  resp->headers[resp->n_headers].value = g_strdup(value);
  resp->n_headers++;
}

#define resp_header route_response_add_header

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

static void
resp_error_v(RouteResponse *resp, guint status, const char *code,
             const char *fmt, va_list ap) G_GNUC_PRINTF(4, 0);

static void
resp_error_v(RouteResponse *resp, guint status, const char *code,
             const char *fmt, va_list ap)
{
  char *msg = g_strdup_vprintf(fmt, ap);
  resp_json(resp, status, api_error_to_json(code, msg));
  g_free(msg);
}

void
route_response_error(RouteResponse *resp, guint status, const char *code,
                     const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  resp_error_v(resp, status, code, fmt, ap);
  va_end(ap);
}

#define resp_error route_response_error

static void
resp_empty(RouteResponse *resp, guint status)
{
  resp->status = status;
  resp->content_type = NULL;
  resp->body = NULL;
  resp->body_len = 0;
}

/* Hands a malloc'd buffer over as the body. */
static void
resp_bytes(RouteResponse *resp, guint status, const char *content_type,
           guint8 *data, gsize len)
{
  resp->status = status;
  resp->content_type = content_type;
  resp->body = (char *)data;
  resp->body_len = len;
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

/* TRUE when tok (len bytes) is the configured token. The presented token is
 * hashed and the digests compared without an early exit, so the time taken
 * says nothing about how much of the token was right (nor, through the
 * fixed-size digest, about its length). */
static gboolean
token_ok(Routes *r, const char *tok, gsize len)
{
  guint8 digest[SHA256_LEN];
  sha256(tok, len, digest);
  volatile guint8 diff = 0;
  for (int i = 0; i < SHA256_LEN; i++)
    diff |= digest[i] ^ r->token_sha256[i];
  return diff == 0 && len > 0;
}

/* TRUE when the header carries the configured bearer token. */
static gboolean
auth_header_ok(Routes *r, const char *header, const char **why)
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
  if (!token_ok(r, tok, len)) {
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

/* On a sharded replica the message says which shard an unknown id
 * belongs to, so a client asking the wrong replica learns the right one. */
static void
resp_stream_not_found(Routes *r, RouteResponse *resp, const char *id)
{
  if (!id_is_printable(id))
    resp_error(resp, 404, "not_found", "no stream with that id");
  else if (r->shard && !shard_owns(r->shard, id))
    resp_error(resp, 404, "not_found", "no stream with id '%s' here: that "
               "id belongs to shard %u of %u, this is shard %u", id,
               shard_owner(id, shard_count(r->shard)),
               shard_count(r->shard), shard_index(r->shard));
  else
    resp_error(resp, 404, "not_found", "no stream with id '%s'", id);
}

static gboolean
stream_exists(Routes *r, const char *id)
{
  StreamResults *res = registry_results(r->registry, id);
  stream_results_unref(res);
  return res != NULL;
}

/* 413 for a discarded body, counted once per request. */
static void
resp_too_large(Routes *r, RouteResponse *resp)
{
  char detail[96];
  g_snprintf(detail, sizeof detail, "a request body over %" G_GUINT64_FORMAT
             " bytes was refused (413)", r->max_body_bytes);
  limit_log_hit(r->limits, LIMIT_MAX_BODY, detail);
  resp_error(resp, 413, "payload_too_large",
             "request body: larger than the limit of %" G_GUINT64_FORMAT
             " bytes (limits.max_body_bytes)", r->max_body_bytes);
}

/* Parses a JSON object body, answering 413/400 itself when it cannot. */
static json_t *
body_object(Routes *r, const RouteRequest *req, RouteResponse *resp,
            const char *expected)
{
  GError *e = NULL;
  if (req->body_too_large) {
    resp_too_large(r, resp);
    return NULL;
  }
  if (!req->body || req->body_len == 0) {
    resp_error(resp, 400, "invalid_json",
               "request body: empty (expected a JSON object with %s)",
               expected);
    return NULL;
  }
  json_t *obj = json_util_parse_object((const char *)req->body, req->body_len,
                                       "request body", &e);
  if (!obj) {
    resp_error(resp, 400, "invalid_json", "%s", e->message);
    g_error_free(e);
  }
  return obj;
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

/* Open file descriptors (entries of /proc/self/fd, minus the one reading
 * it), -1 if unavailable. */
static int
process_open_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

/* Threads of the process from /proc/self/status, -1 if unavailable. */
static int
process_threads(void)
{
  FILE *f = fopen("/proc/self/status", "re");
  if (!f)
    return -1;
  char line[256];
  int n = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1)
      break;
  fclose(f);
  return n;
}

static double
process_cpu_s(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0.0;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
process_sample(Routes *r, ProcessSample *out)
{
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&r->cache_lock);
  gboolean fresh = r->proc.taken_us && now - r->proc.taken_us <
                                           PROCESS_SAMPLE_US;
  *out = r->proc;
  g_mutex_unlock(&r->cache_lock);
  if (fresh)
    return;
  ProcessSample s = {
    .taken_us = now,
    .rss_bytes = process_rss_bytes(),
    .open_fds = process_open_fds(),
    .threads = process_threads(),
  };
  g_mutex_lock(&r->cache_lock);
  r->proc = s;
  g_mutex_unlock(&r->cache_lock);
  *out = s;
}

static void
pred_cache_free(gpointer p)
{
  PredCache *c = p;
  stream_results_unref(c->res);
  g_free(c->latest_body);
  g_free(c->hist_body);
  g_free(c);
}

/* A malloc'd copy of the cached answer (kind 0: latest, 1: history with
 * limit) when it is still valid for res at seq. cache_lock taken here. */
static char *
pred_cache_get(Routes *r, const char *id, StreamResults *res, guint64 seq,
               int kind, guint limit, gsize *len)
{
  char *copy = NULL;
  g_mutex_lock(&r->cache_lock);
  PredCache *c = g_hash_table_lookup(r->pred_cache, id);
  if (c && c->res == res) {
    const char *body = NULL;
    if (kind == 0 && c->latest_body && c->latest_seq == seq) {
      body = c->latest_body;
      *len = c->latest_len;
    } else if (kind == 1 && c->hist_body && c->hist_seq == seq &&
               c->hist_limit == limit) {
      body = c->hist_body;
      *len = c->hist_len;
    }
    if (body && (copy = malloc(*len ? *len : 1)))
      memcpy(copy, body, *len);
  }
  g_mutex_unlock(&r->cache_lock);
  return copy;
}

/* Keeps a copy of an answer just built for res at seq. */
static void
pred_cache_put(Routes *r, const char *id, StreamResults *res, guint64 seq,
               int kind, guint limit, const char *body, gsize len)
{
  gboolean prune = FALSE;
  g_mutex_lock(&r->cache_lock);
  PredCache *c = g_hash_table_lookup(r->pred_cache, id);
  if (!c || c->res != res) {
    c = g_new0(PredCache, 1);
    c->res = stream_results_ref(res);
    g_hash_table_replace(r->pred_cache, g_strdup(id), c);
    prune = TRUE;
  }
  if (kind == 0) {
    g_free(c->latest_body);
    c->latest_body = g_memdup2(body, len);
    c->latest_len = len;
    c->latest_seq = seq;
  } else {
    g_free(c->hist_body);
    c->hist_body = g_memdup2(body, len);
    c->hist_len = len;
    c->hist_seq = seq;
    c->hist_limit = limit;
  }
  guint n = g_hash_table_size(r->pred_cache);
  g_mutex_unlock(&r->cache_lock);
  /* Entries of removed streams hold their results: drop them when there
   * are more entries than streams. */
  if (!prune || n <= registry_count(r->registry))
    return;
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  g_mutex_lock(&r->cache_lock);
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, r->pred_cache);
  while (g_hash_table_iter_next(&it, &key, NULL))
    g_ptr_array_add(ids, g_strdup(key));
  g_mutex_unlock(&r->cache_lock);
  for (guint i = 0; i < ids->len; i++) {
    const char *k = g_ptr_array_index(ids, i);
    StreamResults *cur = registry_results(r->registry, k);
    g_mutex_lock(&r->cache_lock);
    PredCache *e = g_hash_table_lookup(r->pred_cache, k);
    if (e && e->res != cur)
      g_hash_table_remove(r->pred_cache, k);
    g_mutex_unlock(&r->cache_lock);
    stream_results_unref(cur);
  }
  g_ptr_array_unref(ids);
}

static void
http_stats(Routes *r, RouteHttpStats *out)
{
  memset(out, 0, sizeof *out);
  g_mutex_lock(&r->http_lock);
  RouteHttpStatsFunc fn = r->http_stats;
  gpointer user = r->http_stats_user;
  g_mutex_unlock(&r->http_lock);
  /* Registered by http.c for the life of the daemon; it unregisters
   * before stopping, after which no request runs. */
  if (fn)
    fn(user, out);
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

/* Readiness for an orchestrator: the model is loaded and the API answers.
 * Cameras are not part of it: one that is down would take the replica out
 * of its Service and stall a rollout, and it would not come back sooner.
 * The body shows each stream's state (ids and states only: the route is
 * public, like /healthz). */
static void
h_readyz(Routes *r, const RouteRequest *req, const char *id,
         RouteResponse *resp)
{
  if (!r->engine) {
    resp_error(resp, 503, "not_ready", "not ready: the model is not loaded");
    resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
    return;
  }
  json_t *o = json_object();
  json_t *streams = json_array();
  guint running = 0;
  GPtrArray *list = registry_list(r->registry);
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *s = g_ptr_array_index(list, i);
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(s->id));
    json_object_set_new(e, "state", json_string(stream_state_name(s->state)));
    json_object_set_new(e, "enabled", json_boolean(s->config.enabled));
    json_array_append_new(streams, e);
    running += s->state == STREAM_STATE_RUNNING;
  }
  json_object_set_new(o, "status", json_string("ready"));
  json_object_set_new(o, "model", json_util_string_or_null(
                                      model_name(engine_model(r->engine))));
  json_object_set_new(o, "streams_running", json_integer(running));
  json_object_set_new(o, "streams_total", json_integer(list->len));
  json_object_set_new(o, "streams", streams);
  g_ptr_array_unref(list);
  resp_json(resp, 200, o);
}

static const char *
format_name(enum model_format f)
{
  switch (f) {
  case MODEL_FORMAT_TFLITE: return "tflite";
  case MODEL_FORMAT_SAFETENSORS: return "safetensors";
  case MODEL_FORMAT_BUILT:
  default: return "built";
  }
}

static void
h_model(Routes *r, const RouteRequest *req, const char *id,
        RouteResponse *resp)
{
  const struct ss_model *m = engine_model(r->engine);
  enum model_arch arch = model_arch(m);
  json_t *o = json_object();
  json_object_set_new(o, "name", json_util_string_or_null(model_name(m)));
  json_object_set_new(o, "arch", json_string(model_arch_name(arch)));
  json_object_set_new(o, "version",
                      json_string(arch == MODEL_ARCH_MOBILENET_V1   ? "V1"
                                  : arch == MODEL_ARCH_MOBILENET_V2 ? "V2"
                                                                    : "unknown"));
  float alpha = model_alpha(m);
  json_object_set_new(o, "alpha", alpha > 0 ? json_real(alpha) : json_null());
  json_t *in = json_object();
  json_object_set_new(in, "width", json_integer(model_input_width(m)));
  json_object_set_new(in, "height", json_integer(model_input_height(m)));
  json_object_set_new(in, "channels", json_integer(3));
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  json_t *jm = json_array(), *js = json_array();
  for (int i = 0; i < 3; i++) {
    json_array_append_new(jm, json_real(mean[i]));
    json_array_append_new(js, json_real(std[i]));
  }
  json_object_set_new(in, "mean", jm);
  json_object_set_new(in, "std", js);
  json_object_set_new(o, "input", in);
  json_object_set_new(o, "macs", json_integer((json_int_t)model_macs(m)));
  json_object_set_new(o, "parameters",
                      json_integer((json_int_t)model_params(m)));
  json_object_set_new(o, "num_outputs", json_integer(model_num_outputs(m)));
  json_object_set_new(o, "num_classes", json_integer(model_num_classes(m)));
  json_object_set_new(o, "class_offset", json_integer(model_class_offset(m)));
  json_object_set_new(o, "labels",
                      json_integer(model_has_labels(m) ? model_num_classes(m)
                                                       : 0));
  json_object_set_new(o, "format", json_string(format_name(model_format(m))));
  json_object_set_new(o, "quantized", json_boolean(model_is_quantized(m)));
  json_object_set_new(o, "kernels", json_string(engine_isa_name(r->engine)));
  json_object_set_new(o, "engine", json_string(engine_arith_name(r->engine)));
  json_object_set_new(o, "scratch_bytes",
                      json_integer((json_int_t)engine_scratch_bytes(
                          r->engine)));
  resp_json(resp, 200, o);
}

static void
h_openapi(Routes *r, const RouteRequest *req, const char *id,
          RouteResponse *resp)
{
  gsize len = 0;
  const char *doc = routes_openapi_json(&len);
  guint8 *copy = malloc(len ? len : 1);
  if (!copy) {
    resp_error(resp, 500, "internal", "out of memory");
    return;
  }
  memcpy(copy, doc, len);
  resp_bytes(resp, 200, "application/json", copy, len);
  resp_header(resp, "Cache-Control", "no-cache");
}

static void
h_streams_list(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  GPtrArray *list = registry_list(r->registry);
  json_t *arr = json_array();
  for (guint i = 0; i < list->len; i++)
    json_array_append_new(arr, api_stream_to_json(g_ptr_array_index(list, i)));
  g_ptr_array_unref(list);
  json_t *o = json_object();
  json_object_set_new(o, "streams", arr);
  /* Sharded: this replica's place, and the config's streams that other
   * replicas serve (kept apart from "streams", whose every entry can be
   * asked for here). */
  json_object_set_new(o, "shard",
                      r->shard ? shard_to_json(r->shard) : json_null());
  json_object_set_new(o, "other_shard_streams",
                      r->shard ? shard_others_to_json(r->shard)
                               : json_array());
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
resp_registry_error(Routes *r, RouteResponse *resp, GError *e,
                    const char *what)
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
    case REGISTRY_ERROR_FORBIDDEN:
      resp_error(resp, 403, "forbidden", "%s", e->message);
      return;
    case REGISTRY_ERROR_LIMIT:
      limit_log_hit(r->limits, LIMIT_MAX_STREAMS,
                    "POST /api/v1/streams refused (409)");
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
  json_t *obj = body_object(r, req, resp, "name and uri");
  if (!obj)
    return;
  StreamConfig cfg;
  char *want_id = NULL;
  gboolean ok = config_stream_from_json(obj, "", TRUE, &want_id, &cfg, &e);
  json_decref(obj);
  if (!ok) {
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    g_error_free(e);
    return;
  }
  /* Sharded: the id decides the replica, so it must be given, and a
   * stream is taken only by the replica its id hashes to. */
  if (r->shard && !want_id) {
    resp_error(resp, 400, "invalid_argument", "id: required on a sharded "
               "server (shard %u of %u): the id decides which replica "
               "serves the stream", shard_index(r->shard),
               shard_count(r->shard));
    stream_config_clear(&cfg);
    return;
  }
  if (r->shard && !shard_owns(r->shard, want_id)) {
    resp_error(resp, 409, "wrong_shard", "stream '%s' belongs to shard %u "
               "of %u, this is shard %u: add it there", want_id,
               shard_owner(want_id, shard_count(r->shard)),
               shard_count(r->shard), shard_index(r->shard));
    g_free(want_id);
    stream_config_clear(&cfg);
    return;
  }
  char *new_id = NULL;
  ok = registry_add(r->registry, want_id, &cfg, &new_id, &e);
  g_free(want_id);
  stream_config_clear(&cfg);
  if (!ok) {
    resp_registry_error(r, resp, e, "adding the stream");
    g_error_free(e);
    return;
  }
  StreamInfo info;
  if (registry_get(r->registry, new_id, &info, NULL)) {
    resp_json(resp, 201, api_stream_to_json(&info));
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
    resp_stream_not_found(r, resp, id);
    return;
  }
  resp_json(resp, 200, api_stream_to_json(&info));
  stream_info_clear(&info);
}

static void
h_stream_patch(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  GError *e = NULL;
  /* An unknown id is 404 whatever the body says. */
  if (!stream_exists(r, id)) {
    resp_stream_not_found(r, resp, id);
    return;
  }
  json_t *obj = body_object(r, req, resp,
                            "max_fps, top_k, enabled and/or alerts");
  if (!obj)
    return;
  StreamPatch p = { 0 };
  gboolean ok = api_stream_patch_from_json(obj, &p, &e);
  json_decref(obj);
  if (!ok) {
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    g_error_free(e);
    return;
  }
  ok = registry_update(r->registry, id, &p, &e);
  stream_patch_clear(&p);
  if (!ok) {
    if (g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND))
      resp_stream_not_found(r, resp, id);
    else
      resp_registry_error(r, resp, e, "updating the stream");
    g_error_free(e);
    return;
  }
  StreamInfo info;
  if (!registry_get(r->registry, id, &info, NULL)) {
    resp_stream_not_found(r, resp, id); /* removed in the meantime */
    return;
  }
  resp_json(resp, 200, api_stream_to_json(&info));
  stream_info_clear(&info);
  resp_persist_warning(r, resp);
}

static void
h_stream_delete(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  GError *e = NULL;
  if (!registry_remove(r->registry, id, &e)) {
    if (g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND))
      resp_stream_not_found(r, resp, id);
    else
      resp_registry_error(r, resp, e, "removing the stream");
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
    resp_stream_not_found(r, resp, id);
    return;
  }
  Prediction p;
  gboolean have = stream_results_copy_latest(res, &p);
  guint64 seq = have ? p.seq : 0;
  gsize len = 0;
  char *cached = pred_cache_get(r, id, res, seq, 0, 0, &len);
  if (cached) {
    stream_results_unref(res);
    resp_bytes(resp, 200, "application/json", (guint8 *)cached, len);
    resp_header(resp, "Cache-Control", "no-store");
    return;
  }
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(id));
  json_object_set_new(o, "prediction",
                      have ? api_prediction_to_json(engine_model(r->engine),
                                                    &p)
                           : json_null());
  resp_json(resp, 200, o);
  if (resp->status == 200)
    pred_cache_put(r, id, res, seq, 0, 0, resp->body, resp->body_len);
  stream_results_unref(res);
}

/* ?since=: digits are monotonic nanoseconds (capture_mono_ns); anything
 * else must be an ISO-8601 time with a zone. Sets exactly one of *mono_ns
 * and *wall_us. */
static gboolean
parse_since(const char *s, gint64 *mono_ns, gint64 *wall_us)
{
  guint64 v;
  *mono_ns = 0;
  *wall_us = 0;
  if (*s && strspn(s, "0123456789") == strlen(s))
    return g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &v, NULL) &&
           (*mono_ns = (gint64)v, TRUE);
  if (strlen(s) > 64)
    return FALSE;
  /* A '+' of a zone offset arrives as a space when the client did not
   * percent-encode it (form encoding): put it back. */
  char *t = g_strdup(s);
  g_strdelimit(t, " ", '+');
  GDateTime *dt = g_date_time_new_from_iso8601(t, NULL);
  g_free(t);
  if (!dt)
    return FALSE;
  *wall_us = g_date_time_to_unix(dt) * G_USEC_PER_SEC +
             g_date_time_get_microsecond(dt);
  g_date_time_unref(dt);
  return *wall_us > 0;
}

static void
h_predictions_history(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp)
{
  guint64 limit = ROUTES_HISTORY_LIMIT_DEFAULT, after_seq = 0;
  gint64 since_mono = 0, since_wall = 0;
  const char *s = query_get(req, "limit");
  if (s && !g_ascii_string_to_unsigned(s, 10, 1, ROUTES_HISTORY_LIMIT_MAX,
                                       &limit, NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "limit: must be an integer 1..%d", ROUTES_HISTORY_LIMIT_MAX);
    return;
  }
  s = query_get(req, "since");
  if (s && !parse_since(s, &since_mono, &since_wall)) {
    resp_error(resp, 400, "invalid_argument",
               "since: must be monotonic nanoseconds (capture_mono_ns, "
               "digits) or an ISO-8601 time with a zone, e.g. "
               "2026-11-28T10:00:00.000Z");
    return;
  }
  s = query_get(req, "after_seq");
  if (s && !g_ascii_string_to_unsigned(s, 10, 0, G_MAXINT64, &after_seq,
                                       NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "after_seq: must be an integer >= 0 (a prediction's seq)");
    return;
  }
  StreamResults *res = registry_results(r->registry, id);
  if (!res) {
    resp_stream_not_found(r, resp, id);
    return;
  }
  if (since_wall) {
    /* The history is indexed by monotonic capture time: translate, with a
     * margin for a wall clock stepped since, then filter on wall time.
     * The distance is clamped to +-30 years so that nothing overflows. */
    const gint64 far_us = (gint64)30 * 366 * 24 * 3600 * G_USEC_PER_SEC;
    gint64 delta_us = CLAMP(since_wall - g_get_real_time(), -far_us, far_us);
    since_mono = MAX((g_get_monotonic_time() + delta_us) * 1000 -
                         2 * (gint64)1000000000, 1);
  }
  /* The plain form (limit only) is served from the cache while no
   * prediction arrived; the history's newest seq is the latest's. */
  gboolean plain = !since_mono && !since_wall && after_seq == 0;
  guint64 seq = 0;
  if (plain) {
    Prediction latest;
    seq = stream_results_copy_latest(res, &latest) ? latest.seq : 0;
    gsize len = 0;
    char *cached = pred_cache_get(r, id, res, seq, 1, (guint)limit, &len);
    if (cached) {
      stream_results_unref(res);
      resp_bytes(resp, 200, "application/json", (guint8 *)cached, len);
      resp_header(resp, "Cache-Control", "no-store");
      return;
    }
  }
  Prediction *buf = g_new(Prediction, limit);
  guint n = stream_results_copy_history(res, after_seq, since_mono, buf,
                                        (guint)limit);
  /* Cached only if nothing was published between the two copies. */
  gboolean cacheable = plain && (n == 0 ? seq == 0 : buf[n - 1].seq == seq);
  json_t *arr = json_array();
  guint count = 0;
  for (guint i = 0; i < n; i++) {
    if (since_wall && buf[i].capture_wall_us < since_wall)
      continue;
    json_array_append_new(arr, api_prediction_to_json(engine_model(r->engine),
                                                      &buf[i]));
    count++;
  }
  g_free(buf);
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(id));
  json_object_set_new(o, "count", json_integer(count));
  json_object_set_new(o, "predictions", arr);
  resp_json(resp, 200, o);
  if (cacheable && resp->status == 200 &&
      resp->body_len <= ROUTES_PRED_CACHE_MAX_BYTES)
    pred_cache_put(r, id, res, seq, 1, (guint)limit, resp->body,
                   resp->body_len);
  stream_results_unref(res);
}

static void
events_answer(Routes *r, const RouteRequest *req, const char *stream_id,
              RouteResponse *resp)
{
  GError *e = NULL;
  if (!r->events) {
    resp_error(resp, 503, "unavailable", "event streams are not available");
    return;
  }
  if (strcmp(req->method, "HEAD") == 0) {
    if (stream_id && !stream_exists(r, stream_id)) {
      resp_stream_not_found(r, resp, stream_id);
      return;
    }
    resp_empty(resp, 200);
    resp->content_type = "text/event-stream";
    resp_header(resp, "Cache-Control", "no-store");
    return;
  }
  EventClient *c = event_hub_connect(r->events, stream_id, req->last_event_id,
                                     &e);
  if (!c) {
    if (g_error_matches(e, EVENTS_ERROR, EVENTS_ERROR_NOT_FOUND)) {
      resp_stream_not_found(r, resp, stream_id);
    } else if (g_error_matches(e, EVENTS_ERROR, EVENTS_ERROR_LIMIT)) {
      limit_log_hit(r->limits, LIMIT_MAX_SSE_CLIENTS,
                    "an event-stream client was refused (503)");
      resp_error(resp, 503, "limit_reached", "%s", e->message);
      resp_header(resp, "Retry-After", ROUTES_RETRY_SSE_S);
    } else {
      resp_error(resp, 503, "unavailable", "%s", e->message);
    }
    g_error_free(e);
    return;
  }
  resp->status = 200;
  resp->content_type = "text/event-stream";
  resp_header(resp, "Cache-Control", "no-store");
  /* Reverse proxies (nginx) must not buffer the stream. */
  resp_header(resp, "X-Accel-Buffering", "no");
  resp->events = c;
}

static void
h_stream_events(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  if (!stream_exists(r, id)) {
    resp_stream_not_found(r, resp, id);
    return;
  }
  events_answer(r, req, id, resp);
}

static void
h_events(Routes *r, const RouteRequest *req, const char *id,
         RouteResponse *resp)
{
  events_answer(r, req, NULL, resp);
}

static RouteWork *
work_new(Routes *r, RouteWorkFunc run)
{
  RouteWork *w = g_new0(RouteWork, 1);
  w->run = run;
  w->r = r;
  w->created_us = g_get_monotonic_time();
  return w;
}

void
route_work_free(RouteWork *w)
{
  g_free(w);
}

/* ---- for the handler files beside this one (routes-internal.h) ---- */

RouteWork *
routes_work_new(Routes *r, RouteWorkFunc run)
{
  return work_new(r, run);
}

const char *
routes_query_get(const RouteRequest *req, const char *name)
{
  return query_get(req, name);
}

void
routes_resp_json(RouteResponse *resp, guint status, json_t *v)
{
  resp_json(resp, status, v);
}

ClassifyPool *
routes_classify_pool(Routes *r)
{
  return r->classify;
}

const struct ss_engine *
routes_engine(Routes *r)
{
  return r->engine;
}

void
route_work_run(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  w->run(w, resp);
  route_work_free(w);
  routes_count_answer(r, resp->status);
}

static void
work_snapshot(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  guint8 *jpeg = NULL;
  gsize len = 0;
  int width = 0, height = 0;
  if (!snapshots_encode(r->snapshots, w->id, w->max_width, &jpeg, &len,
                        &width, &height, &e)) {
    if (g_error_matches(e, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NOT_FOUND)) {
      resp_stream_not_found(w->r, resp, w->id);
    } else if (g_error_matches(e, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NO_FRAME)) {
      resp_error(resp, 503, "unavailable", "%s", e->message);
      resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
    } else {
      gint64 now = g_get_monotonic_time();
      gint64 last = __atomic_load_n(&r->last_encode_warn_us,
                                    __ATOMIC_RELAXED);
      if (last == 0 || now - last >= ROUTES_ENCODE_WARN_INTERVAL_US) {
        __atomic_store_n(&r->last_encode_warn_us, now, __ATOMIC_RELAXED);
        g_warning("http: snapshot: %s", e->message);
      }
      resp_error(resp, 503, "unavailable", "%s", e->message);
      resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
    }
    g_error_free(e);
    return;
  }
  resp_bytes(resp, 200, "image/jpeg", jpeg, len);
  resp_header(resp, "Cache-Control", "no-store");
  char v[32];
  g_snprintf(v, sizeof v, "%d", width);
  resp_header(resp, "X-Image-Width", v);
  g_snprintf(v, sizeof v, "%d", height);
  resp_header(resp, "X-Image-Height", v);
}

static void
h_snapshot(Routes *r, const RouteRequest *req, const char *id,
           RouteResponse *resp)
{
  guint64 width = 0;
  const char *s = query_get(req, "width");
  if (s && !g_ascii_string_to_unsigned(s, 10, SNAPSHOT_MIN_WIDTH,
                                       SNAPSHOT_MAX_WIDTH, &width, NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "width: must be an integer %d..%d (pixels; the frame is "
               "scaled down to it)", SNAPSHOT_MIN_WIDTH, SNAPSHOT_MAX_WIDTH);
    return;
  }
  if (!stream_exists(r, id)) {
    resp_stream_not_found(r, resp, id);
    return;
  }
  RouteWork *w = work_new(r, work_snapshot);
  g_strlcpy(w->id, id, sizeof w->id);
  w->max_width = (guint)width;
  resp->work = w;
}

void
routes_resp_upload_error(Routes *r, RouteResponse *resp, const GError *e,
                         const char *what)
{
  if (g_error_matches(e, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE)) {
    resp_error(resp, 413, "payload_too_large", "%s", e->message);
  } else if (g_error_matches(e, IMAGE_DECODE_ERROR,
                             IMAGE_DECODE_ERROR_UNSUPPORTED)) {
    resp_error(resp, 415, "unsupported_image", "%s", e->message);
  } else if (e->domain == IMAGE_DECODE_ERROR) {
    resp_error(resp, 400, "invalid_image", "%s", e->message);
  } else if (g_error_matches(e, CLASSIFY_POOL_ERROR,
                             CLASSIFY_POOL_ERROR_BUSY)) {
    limit_log_hit(r->limits, LIMIT_DECODE_MEMORY, e->message);
    resp_error(resp, 503, "unavailable", "%s", e->message);
    resp_header(resp, "Retry-After", ROUTES_RETRY_DECODE_S);
  } else {
    g_warning("http: %s: %s", what, e->message);
    resp_error(resp, 500, "internal", "%s", e->message);
  }
}

static void
work_classify(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  struct prediction top[POOL_MAX_TOP_K];
  ClassifyInfo info;
  gint64 start = g_get_monotonic_time();
  int n = classify_pool_run_roi(r->classify, w->data, w->data_len,
                                w->has_roi ? &w->roi : NULL, w->top_k, top,
                                &info, &e);
  if (n < 0) {
    routes_resp_upload_error(r, resp, e, "classify");
    g_error_free(e);
    return;
  }
  const struct ss_model *m = engine_model(r->engine);
  json_t *o = json_object();
  json_object_set_new(o, "model", json_util_string_or_null(model_name(m)));
  json_t *in = json_object();
  json_object_set_new(in, "width", json_integer(model_input_width(m)));
  json_object_set_new(in, "height", json_integer(model_input_height(m)));
  json_object_set_new(o, "input", in);
  json_t *img = json_object();
  json_object_set_new(img, "width", json_integer(info.image_width));
  json_object_set_new(img, "height", json_integer(info.image_height));
  json_object_set_new(o, "image", img);
  json_t *classes = json_array();
  for (int i = 0; i < n; i++) {
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(top[i].index));
    json_object_set_new(c, "label",
                        json_util_string_or_null(model_label(m, top[i].index)));
    json_object_set_new(c, "score", json_real(top[i].score));
    json_array_append_new(classes, c);
  }
  json_object_set_new(o, "classes", classes);
  json_t *lat = json_object();
  json_object_set_new(lat, "queue",
                      json_util_ms((double)(start - w->created_us) / 1000.0));
  json_object_set_new(lat, "decode", json_util_ms(info.decode_ms));
  json_object_set_new(lat, "infer", json_util_ms(info.infer_ms));
  json_object_set_new(o, "latency_ms", lat);
  resp_json(resp, 200, o);
}

/* Does the body start like a JPEG, PNG or BMP file? */
static gboolean
looks_like_image(const guint8 *d, gsize n)
{
  return (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) ||
         (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) ||
         (n >= 2 && d[0] == 'B' && d[1] == 'M');
}

/* Raw bodies of these types (or none) are taken as the image itself. So is
 * an application/x-www-form-urlencoded body that starts like an image file:
 * `curl --data-binary @photo.jpg` sends that type unless told otherwise. */
static gboolean
raw_image_body(const char *ct, const guint8 *body, gsize len)
{
  if (!ct || !*ct)
    return TRUE;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (g_ascii_strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
    return body && looks_like_image(body, len);
  return g_ascii_strncasecmp(ct, "image/", 6) == 0 ||
         g_ascii_strncasecmp(ct, "application/octet-stream", 24) == 0;
}

gboolean
routes_upload_image(Routes *r, const RouteRequest *req, RouteResponse *resp,
                    const guint8 **out_data, gsize *out_len)
{
  if (req->body_too_large) {
    resp_too_large(r, resp);
    return FALSE;
  }
  const guint8 *data = req->body;
  gsize len = req->body_len;
  if (multipart_is_form_data(req->content_type)) {
    GError *e = NULL;
    if (!multipart_first_file(req->content_type, req->body, req->body_len,
                              &data, &len, NULL, &e)) {
      resp_error(resp, 400, "invalid_argument", "%s", e->message);
      g_error_free(e);
      return FALSE;
    }
  } else if (!raw_image_body(req->content_type, req->body, req->body_len)) {
    resp_error(resp, 415, "unsupported_media_type",
               "Content-Type: send the image itself (image/jpeg, image/png, "
               "application/octet-stream) or multipart/form-data with a file "
               "part");
    return FALSE;
  }
  if (!data || len == 0) {
    resp_error(resp, 400, "invalid_image",
               "request body: empty (expected a JPEG or PNG image)");
    return FALSE;
  }
  *out_data = data;
  *out_len = len;
  return TRUE;
}

gboolean
routes_query_roi(const RouteRequest *req, RouteResponse *resp, gboolean *has,
                 StreamRoi *roi)
{
  const char *s = query_get(req, "roi");
  *has = FALSE;
  if (!s)
    return TRUE;
  GError *e = NULL;
  if (!stream_roi_parse(s, "roi", roi, &e)) {
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    g_error_free(e);
    return FALSE;
  }
  *has = TRUE;
  return TRUE;
}

static void
h_classify(Routes *r, const RouteRequest *req, const char *id,
           RouteResponse *resp)
{
  guint64 k = ROUTES_CLASSIFY_TOP_K_DEFAULT;
  const char *s = query_get(req, "top_k");
  if (s && !g_ascii_string_to_unsigned(s, 10, 1, POOL_MAX_TOP_K, &k, NULL)) {
    resp_error(resp, 400, "invalid_argument", "top_k: must be an integer "
               "1..%d", POOL_MAX_TOP_K);
    return;
  }
  gboolean has_roi;
  StreamRoi roi;
  if (!routes_query_roi(req, resp, &has_roi, &roi))
    return;
  const guint8 *data;
  gsize len;
  if (!routes_upload_image(r, req, resp, &data, &len))
    return;
  RouteWork *w = work_new(r, work_classify);
  w->top_k = (int)k;
  w->data = data;
  w->data_len = len;
  w->has_roi = has_roi;
  w->roi = roi;
  resp->work = w;
}

static json_t *
http_to_json(Routes *r)
{
  guint64 ok, cerr, serr;
  routes_counts(r, &ok, &cerr, &serr);
  RouteHttpStats hs;
  http_stats(r, &hs);
  json_t *http = json_object();
  json_object_set_new(http, "responses_2xx", json_integer((json_int_t)ok));
  json_object_set_new(http, "responses_4xx", json_integer((json_int_t)cerr));
  json_object_set_new(http, "responses_5xx", json_integer((json_int_t)serr));
  json_object_set_new(http, "protocol_errors",
                      json_integer((json_int_t)hs.protocol_errors));
  json_t *jobs = json_object();
  json_object_set_new(jobs, "threads", json_integer(hs.work_threads));
  json_object_set_new(jobs, "queued", json_integer(hs.work_queued));
  json_object_set_new(jobs, "queue_max", json_integer(hs.work_queue_max));
  json_object_set_new(jobs, "done", json_integer((json_int_t)hs.work_done));
  json_object_set_new(http, "image_jobs", jobs);
  return http;
}

static void
h_stats(Routes *r, const RouteRequest *req, const char *id,
        RouteResponse *resp)
{
  json_t *o = json_object();
  gint64 now_us = g_get_monotonic_time();
  double uptime = (double)(now_us - r->start_mono_us) / 1e6;
  json_object_set_new(o, "uptime_s", json_real(uptime));
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
  json_object_set_new(pool, "engine",
                      json_string(engine_arith_name(r->engine)));
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
  /* Since the server started: 100 = one core busy all the time. */
  json_object_set_new(proc, "cpu_percent_since_start",
                      json_real(uptime > 0 ? 100.0 * process_cpu_s() / uptime
                                           : 0.0));
  ProcessSample ps;
  process_sample(r, &ps);
  json_object_set_new(proc, "rss_bytes", json_integer((json_int_t)ps.rss_bytes));
  json_object_set_new(proc, "open_fds", json_integer(ps.open_fds));
  json_object_set_new(proc, "threads", json_integer(ps.threads));
  json_object_set_new(o, "process", proc);

  json_object_set_new(o, "http", http_to_json(r));

  json_t *ev = json_object();
  if (r->events) {
    EventHubStats es;
    event_hub_stats(r->events, &es);
    json_object_set_new(ev, "clients", json_integer(es.clients));
    json_object_set_new(ev, "max_clients", json_integer(es.max_clients));
    json_object_set_new(ev, "clients_total",
                        json_integer((json_int_t)es.clients_total));
    json_object_set_new(ev, "clients_rejected",
                        json_integer((json_int_t)es.clients_rejected));
    json_object_set_new(ev, "events_sent",
                        json_integer((json_int_t)es.events_sent));
    json_object_set_new(ev, "events_dropped",
                        json_integer((json_int_t)es.events_dropped));
  }
  json_object_set_new(o, "sse", ev);
  json_object_set_new(o, "mqtt", r->mqtt ? mqtt_publisher_stats_json(r->mqtt)
                                         : json_null());
  json_object_set_new(o, "shard",
                      r->shard ? shard_to_json(r->shard) : json_null());

  json_t *lim = json_object();
  for (int k = 0; k < LIMIT_N_KINDS; k++)
    json_object_set_new(lim, limit_name(k),
                        json_integer((json_int_t)limit_log_count(r->limits,
                                                                 k)));
  json_object_set_new(o, "limit_hits", lim);

  SnapshotStats ss;
  snapshots_stats(r->snapshots, &ss);
  json_t *snap = json_object();
  json_object_set_new(snap, "encodes", json_integer((json_int_t)ss.encodes));
  json_object_set_new(snap, "cache_hits",
                      json_integer((json_int_t)ss.cache_hits));
  json_object_set_new(snap, "failures",
                      json_integer((json_int_t)ss.failures));
  json_object_set_new(snap, "last_encode_ms", json_util_ms(ss.last_encode_ms));
  json_object_set_new(o, "snapshots", snap);
  ClassifyPoolStats cs;
  classify_pool_stats(r->classify, &cs);
  json_t *cl = json_object();
  json_object_set_new(cl, "requests", json_integer((json_int_t)cs.requests));
  json_object_set_new(cl, "embeds", json_integer((json_int_t)cs.embeds));
  json_object_set_new(cl, "bad_images",
                      json_integer((json_int_t)cs.bad_images));
  json_object_set_new(cl, "classifiers", json_integer(cs.classifiers));
  json_object_set_new(cl, "decode_memory_bytes",
                      json_integer((json_int_t)cs.decode_bytes_in_use));
  json_object_set_new(cl, "decode_memory_max_bytes",
                      json_integer((json_int_t)cs.decode_budget_bytes));
  json_object_set_new(o, "classify", cl);

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

  /* Pipelines stopping in the background, and those a camera kept from
   * stopping (stream.h). */
  RunnerSetStats ps_run;
  registry_pipeline_stats(r->registry, &ps_run);
  json_t *pipes = json_object();
  json_object_set_new(pipes, "running", json_integer(ps_run.running));
  json_object_set_new(pipes, "stopping", json_integer(ps_run.stopping));
  json_object_set_new(pipes, "abandoned", json_integer(ps_run.abandoned));
  json_object_set_new(pipes, "abandoned_total",
                      json_integer((json_int_t)ps_run.abandoned_total));
  json_object_set_new(pipes, "connections_cut_total",
                      json_integer((json_int_t)ps_run.cut_total));
  json_object_set_new(o, "pipelines", pipes);

  /* Every prediction of every stream, as the hub saw them. */
  if (r->events) {
    LatencySummary win[LATENCY_N_STAGES], since[LATENCY_N_STAGES];
    event_hub_latency(r->events, win, since);
    json_object_set_new(o, "latency_ms", api_latency_to_json(win, since));
  } else {
    json_object_set_new(o, "latency_ms", json_null());
  }

  GPtrArray *list = registry_list(r->registry);
  json_t *arr = json_array();
  guint64 tot[RESULTS_N_COUNTERS] = { 0 };
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    for (int c = 0; c < RESULTS_N_COUNTERS; c++)
      tot[c] += info->stats.counters[c];
    json_t *s = json_object();
    json_object_set_new(s, "id", json_util_string_or_null(info->id));
    json_object_set_new(s, "name", json_util_string_or_null(info->name));
    json_object_set_new(s, "state",
                        json_string(stream_state_name(info->state)));
    json_object_set_new(s, "fps_in", json_real(info->stats.fps_in));
    json_object_set_new(s, "fps_out", json_real(info->stats.fps_out));
    json_object_set_new(s, "counters", api_counters_to_json(&info->stats));
    json_object_set_new(s, "latency_ms",
                        api_latency_to_json(info->stats.window,
                                            info->stats.since_start));
    json_array_append_new(arr, s);
  }
  g_ptr_array_unref(list);
  ResultsStats total = { 0 };
  memcpy(total.counters, tot, sizeof tot);
  json_object_set_new(o, "counters", api_counters_to_json(&total));
  json_object_set_new(o, "streams", arr);
  resp_json(resp, 200, o);
}

/* ---- /metrics ---- */

static void
metrics_stream_counter(GString *out, GPtrArray *list, const char *name,
                       const char *help, ResultsCounter c)
{
  metrics_family(out, name, METRICS_COUNTER, help);
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    const char *labels[] = { "stream", info->id, NULL };
    metrics_sample_u64(out, name, labels, info->stats.counters[c]);
  }
}

static void
h_metrics(Routes *r, const RouteRequest *req, const char *id,
          RouteResponse *resp)
{
  GString *out = g_string_sized_new(16384);
  double uptime = (double)(g_get_monotonic_time() - r->start_mono_us) / 1e6;
  const struct ss_model *m = engine_model(r->engine);

  metrics_family(out, "process_cpu_seconds_total", METRICS_COUNTER,
                 "User and system CPU time of the process, in seconds.");
  metrics_sample(out, "process_cpu_seconds_total", NULL, process_cpu_s());
  metrics_family(out, "process_resident_memory_bytes", METRICS_GAUGE,
                 "Resident memory size in bytes.");
  ProcessSample ps;
  process_sample(r, &ps);
  metrics_sample_u64(out, "process_resident_memory_bytes", NULL,
                     ps.rss_bytes);
  metrics_family(out, "process_open_fds", METRICS_GAUGE,
                 "Open file descriptors.");
  metrics_sample(out, "process_open_fds", NULL, ps.open_fds);
  metrics_family(out, "process_start_time_seconds", METRICS_GAUGE,
                 "Start time of the server since the Unix epoch, in "
                 "seconds.");
  metrics_sample(out, "process_start_time_seconds", NULL,
                 (double)r->start_wall_us / 1e6);
  metrics_family(out, "streamsight_uptime_seconds", METRICS_GAUGE,
                 "Seconds since the server started.");
  metrics_sample(out, "streamsight_uptime_seconds", NULL, uptime);
  {
    const char *labels[] = { "model", model_name(m),
                             "arch", model_arch_name(model_arch(m)),
                             "format", format_name(model_format(m)),
                             "kernels", engine_isa_name(r->engine),
                             "engine", engine_arith_name(r->engine), NULL };
    metrics_family(out, "streamsight_model_info", METRICS_GAUGE,
                   "The loaded model (always 1).");
    metrics_sample(out, "streamsight_model_info", labels, 1);
  }
  if (r->shard) {
    /* Which replica this is: sharded deployments only. */
    metrics_family(out, "streamsight_shard_index", METRICS_GAUGE,
                   "This replica's shard K (STREAMSIGHT_SHARD / "
                   "STREAMSIGHT_SHARDS).");
    metrics_sample(out, "streamsight_shard_index", NULL,
                   shard_index(r->shard));
    metrics_family(out, "streamsight_shard_count", METRICS_GAUGE,
                   "N: the number of replicas the cameras are split over.");
    metrics_sample(out, "streamsight_shard_count", NULL,
                   shard_count(r->shard));
    metrics_family(out, "streamsight_shard_other_streams", METRICS_GAUGE,
                   "Streams of the config that other replicas serve.");
    metrics_sample(out, "streamsight_shard_other_streams", NULL,
                   shard_n_other(r->shard));
  }

  /* Inference pool. */
  metrics_family(out, "streamsight_pool_threads", METRICS_GAUGE,
                 "Inference worker threads.");
  metrics_sample(out, "streamsight_pool_threads", NULL,
                 pool_num_threads(r->pool));
  metrics_family(out, "streamsight_pool_busy_workers", METRICS_GAUGE,
                 "Workers running a frame now.");
  metrics_sample(out, "streamsight_pool_busy_workers", NULL,
                 pool_busy_workers(r->pool));
  metrics_family(out, "streamsight_pool_queue_depth", METRICS_GAUGE,
                 "Frames waiting for a worker.");
  metrics_sample(out, "streamsight_pool_queue_depth", NULL,
                 pool_queue_depth(r->pool));
  metrics_family(out, "streamsight_pool_queue_capacity", METRICS_GAUGE,
                 "Frames the queue can hold.");
  metrics_sample(out, "streamsight_pool_queue_capacity", NULL,
                 pool_queue_capacity(r->pool));
  metrics_family(out, "streamsight_pool_jobs_total", METRICS_COUNTER,
                 "Frames inferred by the pool.");
  metrics_sample_u64(out, "streamsight_pool_jobs_total", NULL,
                     pool_jobs_done(r->pool));

  /* Pipelines (stream.h: stopped in the background, abandoned at 5 s). */
  RunnerSetStats rs;
  registry_pipeline_stats(r->registry, &rs);
  metrics_family(out, "streamsight_pipelines", METRICS_GAUGE,
                 "Pipelines alive, by phase: running (includes the two "
                 "others), stopping, abandoned (did not stop within the "
                 "deadline and still not stopped).");
  {
    const char *run[] = { "phase", "running", NULL };
    const char *stop[] = { "phase", "stopping", NULL };
    const char *aband[] = { "phase", "abandoned", NULL };
    metrics_sample(out, "streamsight_pipelines", run, rs.running);
    metrics_sample(out, "streamsight_pipelines", stop, rs.stopping);
    metrics_sample(out, "streamsight_pipelines", aband, rs.abandoned);
  }
  metrics_family(out, "streamsight_pipelines_abandoned_total",
                 METRICS_COUNTER,
                 "Pipelines that did not stop within the deadline.");
  metrics_sample_u64(out, "streamsight_pipelines_abandoned_total", NULL,
                     rs.abandoned_total);
  metrics_family(out, "streamsight_pipeline_connections_cut_total",
                 METRICS_COUNTER,
                 "Pipeline stops that needed their camera connections "
                 "shut down.");
  metrics_sample_u64(out, "streamsight_pipeline_connections_cut_total", NULL,
                     rs.cut_total);

  /* Streams. */
  GPtrArray *list = registry_list(r->registry);
  metrics_family(out, "streamsight_streams", METRICS_GAUGE,
                 "Streams configured.");
  metrics_sample(out, "streamsight_streams", NULL, list->len);
  metrics_family(out, "streamsight_stream_info", METRICS_GAUGE,
                 "A stream's name (always 1).");
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    const char *labels[] = { "stream", info->id, "name", info->name, NULL };
    metrics_sample(out, "streamsight_stream_info", labels, 1);
  }
  metrics_family(out, "streamsight_stream_state", METRICS_GAUGE,
                 "1 for the state a stream is in, 0 for the others.");
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    for (int st = STREAM_STATE_STARTING; st <= STREAM_STATE_FAILED; st++) {
      const char *labels[] = { "stream", info->id,
                               "state", stream_state_name(st), NULL };
      metrics_sample(out, "streamsight_stream_state", labels,
                     info->state == (StreamState)st);
    }
  }
  metrics_family(out, "streamsight_stream_frames_per_second", METRICS_GAUGE,
                 "Frames received and inferred per second, last 10 s.");
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    const char *in[] = { "stream", info->id, "kind", "received", NULL };
    const char *outl[] = { "stream", info->id, "kind", "inferred", NULL };
    metrics_sample(out, "streamsight_stream_frames_per_second", in,
                   info->stats.fps_in);
    metrics_sample(out, "streamsight_stream_frames_per_second", outl,
                   info->stats.fps_out);
  }
  metrics_stream_counter(out, list, "streamsight_stream_frames_received_total",
                         "Frames that reached the stream's sink.",
                         RESULTS_RECEIVED);
  metrics_stream_counter(out, list, "streamsight_stream_frames_inferred_total",
                         "Predictions published.", RESULTS_INFERRED);
  metrics_family(out, "streamsight_stream_frames_dropped_total",
                 METRICS_COUNTER,
                 "Frames not inferred: a frame was in flight (busy), over "
                 "max_fps (fps), or the pool's queue was full (queue).");
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    static const struct { const char *reason; ResultsCounter c; } drops[] = {
      { "busy", RESULTS_DROPPED_BUSY },
      { "fps", RESULTS_DROPPED_FPS },
      { "queue", RESULTS_DROPPED_QUEUE },
    };
    for (gsize d = 0; d < G_N_ELEMENTS(drops); d++) {
      const char *labels[] = { "stream", info->id, "reason", drops[d].reason,
                               NULL };
      metrics_sample_u64(out, "streamsight_stream_frames_dropped_total",
                         labels, info->stats.counters[drops[d].c]);
    }
  }
  metrics_stream_counter(out, list, "streamsight_stream_errors_total",
                         "Frames that failed decoding, conversion or "
                         "inference.",
                         RESULTS_ERRORS);
  metrics_stream_counter(out, list, "streamsight_stream_reconnects_total",
                         "Pipeline rebuilds after an error, EOS or stall.",
                         RESULTS_RECONNECTS);
  metrics_stream_counter(out, list, "streamsight_stream_stalls_total",
                         "Times no frame arrived for stall_timeout_s.",
                         RESULTS_STALLS);
  metrics_family(out, "streamsight_stream_latency_seconds",
                 METRICS_HISTOGRAM,
                 "Per-stage latency of each prediction since start: queue "
                 "(waiting for a worker), preprocess (resize/convert in the "
                 "sink), infer (engine and ranking), e2e (frame arrival to "
                 "published).");
  static const double bounds[LATENCY_PROM_NBUCKETS] = LATENCY_PROM_BUCKETS;
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    StreamResults *res = registry_results(r->registry, info->id);
    if (!res)
      continue; /* removed in the meantime */
    for (int st = 0; st < LATENCY_N_STAGES; st++) {
      guint64 cum[LATENCY_PROM_NBUCKETS], count = 0;
      double sum = 0;
      stream_results_copy_prometheus(res, st, cum, &count, &sum);
      const char *labels[] = { "stream", info->id, "stage",
                               api_stage_name(st), NULL };
      metrics_histogram(out, "streamsight_stream_latency_seconds", labels,
                        bounds, cum, LATENCY_PROM_NBUCKETS, count, sum);
    }
    stream_results_unref(res);
  }
  g_ptr_array_unref(list);

  /* HTTP. */
  guint64 ok, cerr, serr;
  routes_counts(r, &ok, &cerr, &serr);
  metrics_family(out, "streamsight_http_responses_total", METRICS_COUNTER,
                 "HTTP answers by status class.");
  const char *c2[] = { "class", "2xx", NULL };
  const char *c4[] = { "class", "4xx", NULL };
  const char *c5[] = { "class", "5xx", NULL };
  metrics_sample_u64(out, "streamsight_http_responses_total", c2, ok);
  metrics_sample_u64(out, "streamsight_http_responses_total", c4, cerr);
  metrics_sample_u64(out, "streamsight_http_responses_total", c5, serr);
  RouteHttpStats hs;
  http_stats(r, &hs);
  metrics_family(out, "streamsight_http_protocol_errors_total",
                 METRICS_COUNTER,
                 "Requests libmicrohttpd refused itself (malformed, headers "
                 "over the connection memory).");
  metrics_sample_u64(out, "streamsight_http_protocol_errors_total", NULL,
                     hs.protocol_errors);
  metrics_family(out, "streamsight_image_jobs_queued", METRICS_GAUGE,
                 "Snapshot and classify jobs waiting for a thread.");
  metrics_sample(out, "streamsight_image_jobs_queued", NULL, hs.work_queued);
  metrics_family(out, "streamsight_image_jobs_total", METRICS_COUNTER,
                 "Snapshot and classify jobs run.");
  metrics_sample_u64(out, "streamsight_image_jobs_total", NULL, hs.work_done);
  metrics_family(out, "streamsight_limit_hits_total", METRICS_COUNTER,
                 "Requests refused by a configured limit.");
  for (int k = 0; k < LIMIT_N_KINDS; k++) {
    const char *labels[] = { "limit", limit_name(k), NULL };
    metrics_sample_u64(out, "streamsight_limit_hits_total", labels,
                       limit_log_count(r->limits, k));
  }

  /* Event streams. */
  if (r->events) {
    EventHubStats es;
    event_hub_stats(r->events, &es);
    metrics_family(out, "streamsight_sse_clients", METRICS_GAUGE,
                   "Event-stream clients connected.");
    metrics_sample(out, "streamsight_sse_clients", NULL, es.clients);
    metrics_family(out, "streamsight_sse_clients_max", METRICS_GAUGE,
                   "limits.max_sse_clients.");
    metrics_sample(out, "streamsight_sse_clients_max", NULL, es.max_clients);
    metrics_family(out, "streamsight_sse_connections_total", METRICS_COUNTER,
                   "Event-stream clients accepted since start.");
    metrics_sample_u64(out, "streamsight_sse_connections_total", NULL,
                       es.clients_total);
    metrics_family(out, "streamsight_sse_rejected_total", METRICS_COUNTER,
                   "Event-stream clients refused at the limit.");
    metrics_sample_u64(out, "streamsight_sse_rejected_total", NULL,
                       es.clients_rejected);
    metrics_family(out, "streamsight_sse_events_sent_total", METRICS_COUNTER,
                   "Events written to clients.");
    metrics_sample_u64(out, "streamsight_sse_events_sent_total", NULL,
                       es.events_sent);
    metrics_family(out, "streamsight_sse_events_dropped_total",
                   METRICS_COUNTER,
                   "Events dropped from slow clients' full queues.");
    metrics_sample_u64(out, "streamsight_sse_events_dropped_total", NULL,
                       es.events_dropped);
  }
  if (r->mqtt)
    mqtt_publisher_metrics(r->mqtt, out);

  /* Snapshots, classify, config. */
  SnapshotStats ss;
  snapshots_stats(r->snapshots, &ss);
  metrics_family(out, "streamsight_snapshots_total", METRICS_COUNTER,
                 "Snapshot answers: encoded, from the cache, failed.");
  const char *enc[] = { "result", "encoded", NULL };
  const char *hit[] = { "result", "cached", NULL };
  const char *fail[] = { "result", "failed", NULL };
  metrics_sample_u64(out, "streamsight_snapshots_total", enc, ss.encodes);
  metrics_sample_u64(out, "streamsight_snapshots_total", hit, ss.cache_hits);
  metrics_sample_u64(out, "streamsight_snapshots_total", fail, ss.failures);
  ClassifyPoolStats cs;
  classify_pool_stats(r->classify, &cs);
  metrics_family(out, "streamsight_classify_total", METRICS_COUNTER,
                 "Uploaded images: classified, or refused by the decoder.");
  const char *done[] = { "result", "classified", NULL };
  const char *bad[] = { "result", "bad_image", NULL };
  metrics_sample_u64(out, "streamsight_classify_total", done, cs.requests);
  metrics_sample_u64(out, "streamsight_classify_total", bad, cs.bad_images);
  if (r->store) {
    guint64 wok = 0, wfail = 0;
    config_store_status(r->store, &wok, &wfail, NULL);
    metrics_family(out, "streamsight_config_writes_total", METRICS_COUNTER,
                   "Config file write-backs.");
    const char *wo[] = { "result", "ok", NULL };
    const char *wf[] = { "result", "failed", NULL };
    metrics_sample_u64(out, "streamsight_config_writes_total", wo, wok);
    metrics_sample_u64(out, "streamsight_config_writes_total", wf, wfail);
  }

  gsize len = out->len;
  resp_bytes(resp, 200, METRICS_CONTENT_TYPE,
             (guint8 *)g_string_free(out, FALSE), len);
  /* g_string_free's buffer comes from g_malloc, which is malloc (GLib
   * >= 2.46 always uses the system allocator), so free() can release it. */
  resp_header(resp, "Cache-Control", "no-store");
}

/* ---- the route table ---- */

enum {
  ROUTE_PUBLIC = 1 << 0,      /* answered without a token */
  ROUTE_QUERY_TOKEN = 1 << 1, /* also takes ?access_token= */
};

typedef struct {
  const char *method;
  const char *pattern; /* '*' is one path segment: the stream id */
  RouteHandler fn;
  guint flags;
} Route;

/* To add a route: one line here (a '*' segment is passed to the handler as
 * id) and its path in server/openapi.json (test-routes checks both ways). */
static const Route route_table[] = {
  { "GET", "/healthz", h_healthz, ROUTE_PUBLIC },
  { "GET", "/readyz", h_readyz, ROUTE_PUBLIC },
  { "GET", "/metrics", h_metrics, 0 },
  { "GET", "/api/v1/openapi.json", h_openapi, 0 },
  { "GET", "/api/v1/model", h_model, 0 },
  { "GET", "/api/v1/stats", h_stats, 0 },
  { "GET", "/api/v1/streams", h_streams_list, 0 },
  { "POST", "/api/v1/streams", h_streams_create, 0 },
  { "GET", "/api/v1/streams/*", h_stream_get, 0 },
  { "PATCH", "/api/v1/streams/*", h_stream_patch, 0 },
  { "DELETE", "/api/v1/streams/*", h_stream_delete, 0 },
  { "GET", "/api/v1/streams/*/predictions/latest", h_predictions_latest, 0 },
  { "GET", "/api/v1/streams/*/predictions", h_predictions_history, 0 },
  { "GET", "/api/v1/streams/*/events", h_stream_events, ROUTE_QUERY_TOKEN },
  { "GET", "/api/v1/streams/*/snapshot.jpg", h_snapshot, ROUTE_QUERY_TOKEN },
  { "GET", "/api/v1/events", h_events, ROUTE_QUERY_TOKEN },
  { "POST", "/api/v1/classify", h_classify, 0 },
  { "POST", "/api/v1/embed", routes_h_embed, 0 },
  /* The dashboard: public, so that the page can ask for the token. */
  { "GET", "/", static_files_route, ROUTE_PUBLIC },
  { "GET", "/static/*", static_files_route, ROUTE_PUBLIC },
};

guint
routes_table_size(void)
{
  return G_N_ELEMENTS(route_table);
}

void
routes_table_entry(guint i, const char **method, const char **pattern,
                   gboolean *public)
{
  g_assert(i < G_N_ELEMENTS(route_table));
  *method = route_table[i].method;
  *pattern = route_table[i].pattern;
  *public = (route_table[i].flags & ROUTE_PUBLIC) != 0;
}

const char *
routes_openapi_json(gsize *len)
{
  *len = routes_openapi_size;
  return routes_openapi_data;
}

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
  r->events = cfg->events;
  r->mqtt = cfg->mqtt;
  r->shard = cfg->shard;
  r->max_body_bytes = cfg->max_body_bytes;
  r->max_uri_bytes = cfg->max_uri_bytes;
  r->max_header_bytes = cfg->max_header_bytes;
  if (cfg->auth_token && *cfg->auth_token) {
    r->auth = TRUE;
    sha256(cfg->auth_token, strlen(cfg->auth_token), r->token_sha256);
  }
  r->start_mono_us = g_get_monotonic_time();
  r->start_wall_us = g_get_real_time();
  r->limits = limit_log_new();
  r->snapshots = snapshots_new(cfg->registry);
  r->classify = classify_pool_new(cfg->engine, MAX(cfg->classifiers, 1u),
                                  cfg->decode_memory_bytes);
  g_mutex_init(&r->http_lock);
  g_mutex_init(&r->cache_lock);
  r->pred_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        pred_cache_free);
  return r;
}

void
routes_free(Routes *r)
{
  if (!r)
    return;
  memset(r->token_sha256, 0, sizeof r->token_sha256);
  limit_log_free(r->limits);
  snapshots_free(r->snapshots);
  classify_pool_free(r->classify);
  g_mutex_clear(&r->http_lock);
  g_hash_table_unref(r->pred_cache);
  g_mutex_clear(&r->cache_lock);
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

void
routes_count_answer(Routes *r, guint status)
{
  guint64 *counter = status >= 500   ? &r->n_server_errors
                     : status >= 400 ? &r->n_client_errors
                                     : &r->n_ok;
  __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

LimitLog *
routes_limit_log(Routes *r)
{
  return r->limits;
}

void
routes_set_http_stats(Routes *r, RouteHttpStatsFunc fn, gpointer user)
{
  g_mutex_lock(&r->http_lock);
  if (fn) {
    r->http_stats = fn;
    r->http_stats_user = user;
  } else if (r->http_stats_user == user) {
    r->http_stats = NULL;
    r->http_stats_user = NULL;
  }
  g_mutex_unlock(&r->http_lock);
}

/* The request's own size limits: answered before anything else (they hold
 * nothing secret, and a client over them should learn which limit). */
static gboolean
check_sizes(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  char detail[128];
  if (r->max_uri_bytes && req->uri_bytes > r->max_uri_bytes) {
    g_snprintf(detail, sizeof detail, "a request target of %zu bytes > %"
               G_GUINT64_FORMAT " (414)", req->uri_bytes, r->max_uri_bytes);
    limit_log_hit(r->limits, LIMIT_MAX_URI, detail);
    resp_error(resp, 414, "uri_too_long",
               "request target: %zu bytes, more than the limit of %"
               G_GUINT64_FORMAT " (limits.max_uri_bytes)", req->uri_bytes,
               r->max_uri_bytes);
    return FALSE;
  }
  if (r->max_header_bytes && req->header_bytes > r->max_header_bytes) {
    g_snprintf(detail, sizeof detail, "request headers of %zu bytes > %"
               G_GUINT64_FORMAT " (431)", req->header_bytes,
               r->max_header_bytes);
    limit_log_hit(r->limits, LIMIT_MAX_HEADER, detail);
    resp_error(resp, 431, "header_too_large",
               "request headers: %zu bytes, more than the limit of %"
               G_GUINT64_FORMAT " (limits.max_header_bytes)",
               req->header_bytes, r->max_header_bytes);
    return FALSE;
  }
  return TRUE;
}

/* Everything decided before a handler runs: the size limits, the token,
 * the route and the method. Returns the route to run (id filled), or NULL
 * with resp holding the answer. Reads neither the body nor any handler
 * state, so http.c can run it before the body arrives (routes_admit). */
static const Route *
dispatch_find(Routes *r, const RouteRequest *req, char id[ROUTES_ID_MAX + 1],
              RouteResponse *resp)
{
  const char *path = req->path ? req->path : "";
  const char *method = req->method ? req->method : "";
  gboolean head = strcmp(method, "HEAD") == 0;

  if (!check_sizes(r, req, resp))
    return NULL;

  /* Authentication first, so that without a token nothing, not even
   * which paths exist, is revealed. */
  guint flags = 0;
  for (gsize i = 0; i < G_N_ELEMENTS(route_table); i++)
    if (route_match(route_table[i].pattern, path, id))
      flags |= route_table[i].flags;
  const char *why = NULL;
  if (r->auth && !(flags & ROUTE_PUBLIC)) {
    gboolean ok;
    const char *qt = (flags & ROUTE_QUERY_TOKEN) && !req->authorization
                         ? query_get(req, "access_token")
                         : NULL;
    if (qt) {
      ok = token_ok(r, qt, strlen(qt));
      why = "invalid access_token";
    } else {
      ok = auth_header_ok(r, req->authorization, &why);
    }
    if (!ok) {
      resp_error(resp, 401, "unauthorized", "%s", why);
      resp_header(resp, "WWW-Authenticate",
                  req->authorization || qt
                      ? "Bearer realm=\"streamsight\", error=\"invalid_token\""
                      : "Bearer realm=\"streamsight\"");
      return NULL;
    }
  }

  gboolean path_known = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS(route_table); i++) {
    const Route *rt = &route_table[i];
    if (!route_match(rt->pattern, path, id))
      continue;
    path_known = TRUE;
    if (strcmp(rt->method, method) == 0 ||
        (head && strcmp(rt->method, "GET") == 0))
      return rt;
  }
  if (!path_known) {
    resp_error(resp, 404, "not_found", "no such route");
    return NULL;
  }
  GString *allow = g_string_new(NULL);
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
  return NULL;
}

gboolean
routes_admit(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  char id[ROUTES_ID_MAX + 1];
  if (dispatch_find(r, req, id, resp))
    return TRUE;
  routes_count_answer(r, resp->status);
  return FALSE;
}

static void
dispatch(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  char id[ROUTES_ID_MAX + 1];
  const Route *rt = dispatch_find(r, req, id, resp);
  if (rt)
    rt->fn(r, req, id, resp);
}

void
routes_handle(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  dispatch(r, req, resp);
  if (resp->work)
    return; /* counted when it has run (or http.c refused it) */
  routes_count_answer(r, resp->status);
}
