#include "routes.h"
#include "routes-internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api-json.h"
#include "json-util.h"
#include "static-files.h"

/* server/openapi.json, compiled in by server/embed-openapi.py
 * (openapi-data.c): NUL-terminated, size without the NUL. */
extern const char routes_openapi_data[];
extern const size_t routes_openapi_size;

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

/* Sets a JSON body (v is stolen). */
void
routes_resp_json(RouteResponse *resp, guint status, json_t *v)
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
  routes_resp_json(resp, status, api_error_to_json(code, msg));
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

void
routes_resp_empty(RouteResponse *resp, guint status)
{
  resp->status = status;
  resp->content_type = NULL;
  resp->body = NULL;
  resp->body_len = 0;
}

/* Hands a malloc'd buffer over as the body. */
void
routes_resp_bytes(RouteResponse *resp, guint status, const char *content_type,
           guint8 *data, gsize len)
{
  resp->status = status;
  resp->content_type = content_type;
  resp->body = (char *)data;
  resp->body_len = len;
}

/* ---- helpers ---- */

const char *
routes_query_get(const RouteRequest *req, const char *name)
{
  for (guint i = 0; i < req->n_query; i++)
    if (req->query[i].name && strcmp(req->query[i].name, name) == 0)
      return req->query[i].value ? req->query[i].value : "";
  return NULL;
}

gboolean
routes_parse_iso8601_us(const char *s, gint64 *us)
{
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
  *us = g_date_time_to_unix(dt) * G_USEC_PER_SEC +
        g_date_time_get_microsecond(dt);
  g_date_time_unref(dt);
  return *us > 0;
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
void
routes_resp_stream_not_found(Routes *r, RouteResponse *resp, const char *id)
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

gboolean
routes_stream_exists(Routes *r, const char *id)
{
  StreamResults *res = registry_results(r->registry, id);
  stream_results_unref(res);
  return res != NULL;
}

/* 413 for a discarded body, counted once per request. */
void
routes_resp_too_large(Routes *r, RouteResponse *resp)
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
json_t *
routes_body_object(Routes *r, const RouteRequest *req, RouteResponse *resp,
            const char *expected)
{
  GError *e = NULL;
  if (req->body_too_large) {
    routes_resp_too_large(r, resp);
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

/* ---- deferred work ---- */

RouteWork *
routes_work_new(Routes *r, RouteWorkFunc run)
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

/* ---- cross-origin requests (http.cors_origins) ---- */

/* The request's Origin when it is one of the configured ones, else NULL. */
static const char *
cors_origin(Routes *r, const RouteRequest *req)
{
  if (!r->cors_origins || !req->origin)
    return NULL;
  for (char **o = r->cors_origins; *o; o++)
    if (strcmp(*o, req->origin) == 0)
      return *o;
  return NULL;
}

/* What lets the page of origin read this answer; for a preflight (an
 * OPTIONS answered 204 with Allow) also what it may send. */
static void
cors_headers(RouteResponse *resp, const char *origin, gboolean preflight)
{
  resp_header(resp, "Access-Control-Allow-Origin", origin);
  resp_header(resp, "Vary", "Origin");
  if (preflight) {
    const char *allow = route_response_header(resp, "Allow");
    resp_header(resp, "Access-Control-Allow-Methods", allow ? allow : "GET");
    resp_header(resp, "Access-Control-Allow-Headers",
                "Authorization, Content-Type, If-None-Match, Last-Event-ID");
    resp_header(resp, "Access-Control-Max-Age", "600");
  } else {
    resp_header(resp, "Access-Control-Expose-Headers",
                "ETag, Location, Retry-After, Warning, X-Image-Width, "
                "X-Image-Height");
  }
}

static void
cors_answer(Routes *r, const RouteRequest *req, RouteResponse *resp)
{
  const char *origin = cors_origin(r, req);
  if (!origin)
    return;
  if (resp->work) {
    g_strlcpy(resp->work->cors_origin, origin,
              sizeof resp->work->cors_origin);
    return;
  }
  cors_headers(resp, origin,
               g_strcmp0(req->method, "OPTIONS") == 0 && resp->status == 204);
}

void
route_work_run(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  w->run(w, resp);
  if (w->cors_origin[0])
    cors_headers(resp, w->cors_origin, FALSE);
  route_work_free(w);
  routes_count_answer(r, resp->status);
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
  { "GET", "/healthz", routes_h_healthz, ROUTE_PUBLIC },
  { "GET", "/readyz", routes_h_readyz, ROUTE_PUBLIC },
  { "GET", "/metrics", routes_h_metrics, 0 },
  { "GET", "/api/v1/openapi.json", routes_h_openapi, 0 },
  { "GET", "/api/v1/model", routes_h_model, 0 },
  { "GET", "/api/v1/stats", routes_h_stats, 0 },
  { "GET", "/api/v1/streams", routes_h_streams_list, 0 },
  { "POST", "/api/v1/streams", routes_h_streams_create, 0 },
  { "GET", "/api/v1/streams/*", routes_h_stream_get, 0 },
  { "PATCH", "/api/v1/streams/*", routes_h_stream_patch, 0 },
  { "DELETE", "/api/v1/streams/*", routes_h_stream_delete, 0 },
  { "GET", "/api/v1/streams/*/predictions/latest",
    routes_h_predictions_latest, 0 },
  { "GET", "/api/v1/streams/*/predictions", routes_h_predictions_history,
    0 },
  { "GET", "/api/v1/streams/*/events", routes_h_stream_events,
    ROUTE_QUERY_TOKEN },
  { "GET", "/api/v1/streams/*/snapshot.jpg", routes_h_snapshot,
    ROUTE_QUERY_TOKEN },
  { "GET", "/api/v1/events", routes_h_events, ROUTE_QUERY_TOKEN },
  { "POST", "/api/v1/classify", routes_h_classify, 0 },
  { "POST", "/api/v1/embed", routes_h_embed, 0 },
  { "GET", "/api/v1/models", routes_h_models, 0 },
  { "GET", "/api/v1/alerts", routes_h_alerts_list, 0 },
  { "GET", "/api/v1/alerts/*/snapshot.jpg", routes_h_alert_snapshot,
    ROUTE_QUERY_TOKEN },
  { "GET", "/api/v1/heads", routes_h_heads_list, 0 },
  { "POST", "/api/v1/heads", routes_h_heads_create, 0 },
  { "GET", "/api/v1/heads/*", routes_h_head_get, 0 },
  { "DELETE", "/api/v1/heads/*", routes_h_head_delete, 0 },
  { "GET", "/api/v1/heads/*/examples", routes_h_head_examples_list, 0 },
  { "POST", "/api/v1/heads/*/examples", routes_h_head_examples_add, 0 },
  /* The head's id is parsed from the path by the handlers. */
  { "GET", "/api/v1/heads/*/examples/*", routes_h_head_example_get, 0 },
  { "DELETE", "/api/v1/heads/*/examples/*", routes_h_head_example_delete, 0 },
  { "POST", "/api/v1/heads/*/train", routes_h_head_train, 0 },
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
  r->alerts = cfg->alerts;
  r->shard = cfg->shard;
  r->max_body_bytes = cfg->max_body_bytes;
  r->cors_origins = g_strdupv((char **)cfg->cors_origins);
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
  r->models = cfg->models;
  if (r->models) {
    guint n = model_set_count(r->models);
    r->model_classify = g_new0(ClassifyPool *, n);
    r->model_classify[0] = r->classify;
    for (guint i = 1; i < n; i++)
      r->model_classify[i] = classify_pool_new_sharing(
          model_set_get(r->models, i)->engine, MAX(cfg->classifiers, 1u),
          r->classify);
  }
  g_mutex_init(&r->http_lock);
  r->proc = process_sampler_new();
  r->pred_cache = pred_cache_new(cfg->registry);
  r->heads = cfg->heads;
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
  for (guint i = 1; r->models && i < model_set_count(r->models); i++)
    classify_pool_free(r->model_classify[i]);
  g_free(r->model_classify);
  classify_pool_free(r->classify);
  g_mutex_clear(&r->http_lock);
  pred_cache_free(r->pred_cache);
  process_sampler_free(r->proc);
  g_strfreev(r->cors_origins);
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
  /* A browser's preflight (OPTIONS from a configured origin) carries no
   * token by design: it is answered with what the path allows. */
  gboolean preflight = strcmp(method, "OPTIONS") == 0 &&
                       cors_origin(r, req) != NULL;
  if (r->auth && !(flags & ROUTE_PUBLIC) && !preflight) {
    gboolean ok;
    const char *qt = (flags & ROUTE_QUERY_TOKEN) && !req->authorization
                         ? routes_query_get(req, "access_token")
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
    routes_resp_empty(resp, 204);
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
  cors_answer(r, req, resp);
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
  cors_answer(r, req, resp);
  if (resp->work)
    return; /* counted when it has run (or http.c refused it) */
  routes_count_answer(r, resp->status);
}
