#include "api-json.h"

#include <string.h>

#include "alert-config.h"
#include "config.h"
#include "json-util.h"
#include "model-set.h"
#include "roi-json.h"
#include "pool.h"

static const char *const stage_names[LATENCY_N_STAGES] = {
  [LATENCY_STAGE_QUEUE] = "queue",
  [LATENCY_STAGE_PREPROCESS] = "preprocess",
  [LATENCY_STAGE_INFER] = "infer",
  [LATENCY_STAGE_E2E] = "e2e",
};

const char *
api_stage_name(LatencyStage stage)
{
  g_assert(stage >= 0 && stage < LATENCY_N_STAGES);
  return stage_names[stage];
}

json_t *
api_counters_to_json(const ResultsStats *s)
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

/* TRUE when text holds any of the words (NULL-terminated). */
static gboolean
has_any(const char *text, const char *const *words)
{
  for (const char *const *w = words; *w; w++)
    if (strstr(text, *w))
      return TRUE;
  return FALSE;
}

const char *
api_error_kind(const char *last_error)
{
  /* The texts are stream-supervisor.c's descriptions of GStreamer's errors (the
   * element, then its words), e.g. "rtspsrc: Unauthorized (Unauthorized
   * (401))", "souphttpsrc: Not Found (Not Found (404), ...)", "rtspsrc:
   * cannot connect to HOST:PORT (refused, unreachable or unknown host)". */
  static const char *const unauthorized[] = {
    "(401)", "Unauthorized", "Not Authorized", "not authorized",
    "Forbidden", "(403)", NULL };
  static const char *const not_found[] = {
    "(404)", "Not found", "Not Found", "Resource not found",
    "No such file", "Cannot identify device", NULL };
  static const char *const unreachable[] = {
    "cannot connect", "cannot fetch", "refused", "unreachable",
    "timed out", "stalled: no frame", NULL };
  if (!last_error || !*last_error)
    return NULL;
  if (has_any(last_error, unauthorized))
    return "unauthorized";
  if (has_any(last_error, not_found))
    return "not_found";
  if (has_any(last_error, unreachable))
    return "unreachable";
  if (g_str_has_prefix(last_error, "end of stream"))
    return "ended";
  return "other";
}

json_t *
api_stream_to_json(const StreamInfo *info)
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
  json_object_set_new(o, "error_kind", json_util_string_or_null(
                                           api_error_kind(info->last_error)));
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
  json_object_set_new(o, "counters", api_counters_to_json(&info->stats));
  return o;
}

json_t *
api_prediction_to_json(const struct ss_model *m, const Prediction *p)
{
  /* The stream's own model when the frame path stamped it (a model per
   * stream); m is the server's default. */
  if (p->model)
    m = p->model;
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
  json_object_set_new(o, "model_id",
                      json_string(p->model_id ? p->model_id
                                              : MODEL_SET_DEFAULT_ID));
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
  if (p->n_head > 0) {
    json_t *hc = json_array();
    for (int i = 0; i < p->n_head && i < POOL_MAX_TOP_K; i++) {
      json_t *c = json_object();
      json_object_set_new(c, "index", json_integer(p->head_top[i].index));
      json_object_set_new(c, "label", json_string(p->head_top[i].label));
      json_object_set_new(c, "score", json_real(p->head_top[i].score));
      json_array_append_new(hc, c);
    }
    json_t *h = json_object();
    json_object_set_new(h, "id", json_string(p->head_id));
    json_object_set_new(h, "classes", hc);
    /* labels "head": the head's classes stand in for ImageNet's. */
    if (p->labels == STREAM_LABELS_HEAD) {
      json_decref(classes);
      classes = json_deep_copy(hc);
    }
    json_object_set_new(o, "head", h);
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

/* {count, mean, p50, p90, p99, max} in ms. */
static json_t *
api_summary_to_json(const LatencySummary *s)
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

json_t *
api_latency_to_json(const LatencySummary window[LATENCY_N_STAGES],
                    const LatencySummary since[LATENCY_N_STAGES])
{
  json_t *o = json_object();
  for (int i = 0; i < LATENCY_N_STAGES; i++) {
    json_t *st = json_object();
    json_object_set_new(st, "last_60s", api_summary_to_json(&window[i]));
    json_object_set_new(st, "since_start", api_summary_to_json(&since[i]));
    json_object_set_new(o, stage_names[i], st);
  }
  return o;
}

json_t *
api_error_to_json(const char *code, const char *message)
{
  json_t *m = json_string(message ? message : "");
  if (!m)
    m = json_string("(message not valid UTF-8)");
  json_t *err = json_object();
  json_object_set_new(err, "code", json_string(code));
  json_object_set_new(err, "message", m);
  json_t *root = json_object();
  json_object_set_new(root, "error", err);
  return root;
}

/* The keys PATCH accepts; anything else is named in the error. */
static const char *const patch_keys[] = { "max_fps", "top_k", "enabled",
                                          "alerts", "roi", "head", "labels",
                                          NULL };
/* StreamLabels order (config.c has the same list for the file). */
static const char *const patch_labels[] = { "both", "head", "imagenet",
                                            NULL };

gboolean
api_stream_patch_from_json(json_t *obj, StreamPatch *out, GError **error)
{
  const char *key;
  json_t *value;
  json_object_foreach(obj, key, value) {
    if (!g_strv_contains(patch_keys, key)) {
      /* Keys are echoed only when they look like keys. */
      gboolean printable = strlen(key) <= 64;
      for (const char *p = key; *p && printable; p++)
        printable = g_ascii_isalnum(*p) || *p == '_' || *p == '-';
      if (printable && *key)
        g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                    "%s: cannot be changed with PATCH (only max_fps, top_k, "
                    "enabled, alerts, roi, head and labels; delete and "
                    "re-create the stream for the rest)", key);
      else
        g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                    "unknown key (PATCH accepts max_fps, top_k, enabled, "
                    "alerts, roi, head and labels)");
      return FALSE;
    }
  }
  StreamPatch p = { 0 };
  gint64 top_k = 0;
  if (!json_util_get_number(obj, "", "max_fps", &p.max_fps, &p.set_max_fps,
                            error) ||
      !json_util_get_int(obj, "", "top_k", 1, POOL_MAX_TOP_K, &top_k,
                         &p.set_top_k, error) ||
      !json_util_get_bool(obj, "", "enabled", &p.enabled, &p.set_enabled,
                          error))
    return FALSE;
  p.top_k = (int)top_k;
  json_t *alerts = json_object_get(obj, "alerts");
  if (alerts) {
    /* null, like [], removes every rule. */
    if (!alert_config_from_json(alerts, "", &p.alerts, &p.n_alerts, error))
      return FALSE;
    p.set_alerts = TRUE;
  }
  json_t *roi = json_object_get(obj, "roi");
  if (roi) {
    /* null, like {0, 0, 1, 1}, is the whole frame again. */
    if (!roi_json_parse(roi, "", &p.roi, error)) {
      stream_patch_clear(&p);
      return FALSE;
    }
    p.set_roi = TRUE;
  }
  json_t *head = json_object_get(obj, "head");
  if (head) {
    /* null removes the stream's head. */
    if (!json_is_null(head) &&
        (!json_is_string(head) ||
         json_string_length(head) > STREAM_HEAD_ID_MAX)) {
      g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                  "head: a head id, or null");
      stream_patch_clear(&p);
      return FALSE;
    }
    p.head = g_strdup(json_string_value(head));
    p.set_head = TRUE;
  }
  int labels = 0;
  if (!json_util_get_enum(obj, "", "labels", patch_labels, &labels,
                          &p.set_labels, error)) {
    stream_patch_clear(&p);
    return FALSE;
  }
  p.labels = (StreamLabels)labels;
  if (!p.set_max_fps && !p.set_top_k && !p.set_enabled && !p.set_alerts &&
      !p.set_roi && !p.set_head && !p.set_labels) {
    g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                "request body: nothing to change (expected max_fps, top_k, "
                "enabled, alerts and/or roi)");
    return FALSE;
  }
  *out = p;
  return TRUE;
}
