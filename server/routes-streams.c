/* streamsight — the stream routes: CRUD of /api/v1/streams, the
 * predictions (latest and history, answered from the prediction cache
 * while nothing new arrived) and the event streams. */
#include "routes-internal.h"

#include <string.h>

#include "api-json.h"
#include "json-util.h"

/* ?limit= of the predictions history: the largest history_len a stream can
 * have, so that one request can read a whole ring. */
#define ROUTES_HISTORY_LIMIT_MAX STREAM_HISTORY_LEN_MAX
#define ROUTES_HISTORY_LIMIT_DEFAULT 10

void
routes_h_streams_list(Routes *r, const RouteRequest *req, const char *id,
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
  routes_resp_json(resp, 200, o);
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

void
routes_h_streams_create(Routes *r, const RouteRequest *req, const char *id,
                 RouteResponse *resp)
{
  GError *e = NULL;
  json_t *obj = routes_body_object(r, req, resp, "name and uri");
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
    routes_resp_json(resp, 201, api_stream_to_json(&info));
    stream_info_clear(&info);
  } else {
    /* Removed by another request in the meantime. */
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(new_id));
    routes_resp_json(resp, 201, o);
  }
  char *loc = g_strdup_printf("/api/v1/streams/%s", new_id);
  resp_header(resp, "Location", loc);
  g_free(loc);
  resp_persist_warning(r, resp);
  g_free(new_id);
}

void
routes_h_stream_get(Routes *r, const RouteRequest *req, const char *id,
             RouteResponse *resp)
{
  StreamInfo info;
  if (!registry_get(r->registry, id, &info, NULL)) {
    routes_resp_stream_not_found(r, resp, id);
    return;
  }
  routes_resp_json(resp, 200, api_stream_to_json(&info));
  stream_info_clear(&info);
}

void
routes_h_stream_patch(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  GError *e = NULL;
  /* An unknown id is 404 whatever the body says. */
  if (!routes_stream_exists(r, id)) {
    routes_resp_stream_not_found(r, resp, id);
    return;
  }
  json_t *obj = routes_body_object(r, req, resp,
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
      routes_resp_stream_not_found(r, resp, id);
    else
      resp_registry_error(r, resp, e, "updating the stream");
    g_error_free(e);
    return;
  }
  StreamInfo info;
  if (!registry_get(r->registry, id, &info, NULL)) {
    routes_resp_stream_not_found(r, resp, id); /* removed in the meantime */
    return;
  }
  routes_resp_json(resp, 200, api_stream_to_json(&info));
  stream_info_clear(&info);
  resp_persist_warning(r, resp);
}

void
routes_h_stream_delete(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  GError *e = NULL;
  if (!registry_remove(r->registry, id, &e)) {
    if (g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND))
      routes_resp_stream_not_found(r, resp, id);
    else
      resp_registry_error(r, resp, e, "removing the stream");
    g_error_free(e);
    return;
  }
  routes_resp_empty(resp, 204);
  resp_persist_warning(r, resp);
}

void
routes_h_predictions_latest(Routes *r, const RouteRequest *req, const char *id,
                     RouteResponse *resp)
{
  StreamResults *res = registry_results(r->registry, id);
  if (!res) {
    routes_resp_stream_not_found(r, resp, id);
    return;
  }
  Prediction p;
  gboolean have = stream_results_copy_latest(res, &p);
  guint64 seq = have ? p.seq : 0;
  gsize len = 0;
  char *cached = pred_cache_get(r->pred_cache, id, res, seq,
                                PRED_CACHE_LATEST, 0, &len);
  if (cached) {
    stream_results_unref(res);
    routes_resp_bytes(resp, 200, "application/json", (guint8 *)cached, len);
    resp_header(resp, "Cache-Control", "no-store");
    return;
  }
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(id));
  json_object_set_new(o, "prediction",
                      have ? api_prediction_to_json(engine_model(r->engine),
                                                    &p)
                           : json_null());
  routes_resp_json(resp, 200, o);
  if (resp->status == 200)
    pred_cache_put(r->pred_cache, id, res, seq, PRED_CACHE_LATEST, 0,
                   resp->body, resp->body_len);
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
  return routes_parse_iso8601_us(s, wall_us);
}

void
routes_h_predictions_history(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp)
{
  guint64 limit = ROUTES_HISTORY_LIMIT_DEFAULT, after_seq = 0;
  gint64 since_mono = 0, since_wall = 0;
  const char *s = routes_query_get(req, "limit");
  if (s && !g_ascii_string_to_unsigned(s, 10, 1, ROUTES_HISTORY_LIMIT_MAX,
                                       &limit, NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "limit: must be an integer 1..%d", ROUTES_HISTORY_LIMIT_MAX);
    return;
  }
  s = routes_query_get(req, "since");
  if (s && !parse_since(s, &since_mono, &since_wall)) {
    resp_error(resp, 400, "invalid_argument",
               "since: must be monotonic nanoseconds (capture_mono_ns, "
               "digits) or an ISO-8601 time with a zone, e.g. "
               "2026-11-28T10:00:00.000Z");
    return;
  }
  s = routes_query_get(req, "after_seq");
  if (s && !g_ascii_string_to_unsigned(s, 10, 0, G_MAXINT64, &after_seq,
                                       NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "after_seq: must be an integer >= 0 (a prediction's seq)");
    return;
  }
  StreamResults *res = registry_results(r->registry, id);
  if (!res) {
    routes_resp_stream_not_found(r, resp, id);
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
    char *cached = pred_cache_get(r->pred_cache, id, res, seq,
                                  PRED_CACHE_HISTORY, (guint)limit, &len);
    if (cached) {
      stream_results_unref(res);
      routes_resp_bytes(resp, 200, "application/json", (guint8 *)cached, len);
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
  routes_resp_json(resp, 200, o);
  if (cacheable && resp->status == 200 &&
      resp->body_len <= PRED_CACHE_MAX_BYTES)
    pred_cache_put(r->pred_cache, id, res, seq, PRED_CACHE_HISTORY,
                   (guint)limit, resp->body, resp->body_len);
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
    if (stream_id && !routes_stream_exists(r, stream_id)) {
      routes_resp_stream_not_found(r, resp, stream_id);
      return;
    }
    routes_resp_empty(resp, 200);
    resp->content_type = "text/event-stream";
    resp_header(resp, "Cache-Control", "no-store");
    return;
  }
  EventClient *c = event_hub_connect(r->events, stream_id, req->last_event_id,
                                     &e);
  if (!c) {
    if (g_error_matches(e, EVENTS_ERROR, EVENTS_ERROR_NOT_FOUND)) {
      routes_resp_stream_not_found(r, resp, stream_id);
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

void
routes_h_stream_events(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  if (!routes_stream_exists(r, id)) {
    routes_resp_stream_not_found(r, resp, id);
    return;
  }
  events_answer(r, req, id, resp);
}

void
routes_h_events(Routes *r, const RouteRequest *req, const char *id,
         RouteResponse *resp)
{
  events_answer(r, req, NULL, resp);
}
