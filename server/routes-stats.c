/* streamsight — GET /api/v1/stats (JSON) and GET /metrics (Prometheus
 * text): two renderings of one ServerStats (server-stats.h). /metrics is a
 * table of families; a family is a few values of the struct, or a function
 * for the per-stream ones. */
#include "routes-internal.h"

#include <stddef.h>
#include <string.h>

#include "api-json.h"
#include "json-util.h"
#include "metrics.h"
#include "server-stats.h"

/* ---- /api/v1/stats ---- */

static json_t *
stats_http_json(const ServerStats *s)
{
  json_t *http = json_object();
  json_object_set_new(http, "responses_2xx",
                      json_integer((json_int_t)s->responses_2xx));
  json_object_set_new(http, "responses_4xx",
                      json_integer((json_int_t)s->responses_4xx));
  json_object_set_new(http, "responses_5xx",
                      json_integer((json_int_t)s->responses_5xx));
  json_object_set_new(http, "protocol_errors",
                      json_integer((json_int_t)s->http.protocol_errors));
  json_t *jobs = json_object();
  json_object_set_new(jobs, "threads", json_integer(s->http.work_threads));
  json_object_set_new(jobs, "queued", json_integer(s->http.work_queued));
  json_object_set_new(jobs, "queue_max",
                      json_integer(s->http.work_queue_max));
  json_object_set_new(jobs, "done",
                      json_integer((json_int_t)s->http.work_done));
  json_object_set_new(http, "image_jobs", jobs);
  return http;
}

static json_t *
stats_process_json(const ServerStats *s)
{
  json_t *proc = json_object();
  if (s->have_rusage) {
    json_object_set_new(proc, "cpu_user_s", json_real(s->cpu_user_s));
    json_object_set_new(proc, "cpu_system_s", json_real(s->cpu_system_s));
  }
  /* Since the server started: 100 = one core busy all the time. */
  json_object_set_new(proc, "cpu_percent_since_start",
                      json_real(s->uptime_s > 0
                                    ? 100.0 * s->cpu_s / s->uptime_s
                                    : 0.0));
  json_object_set_new(proc, "rss_bytes",
                      json_integer((json_int_t)s->proc.rss_bytes));
  json_object_set_new(proc, "open_fds", json_integer(s->proc.open_fds));
  json_object_set_new(proc, "threads", json_integer(s->proc.threads));
  return proc;
}

static json_t *
stats_pool_json(const ServerStats *s)
{
  json_t *pool = json_object();
  json_object_set_new(pool, "threads", json_integer(s->pool_threads));
  json_object_set_new(pool, "queue_depth", json_integer(s->pool_queue_depth));
  json_object_set_new(pool, "queue_capacity",
                      json_integer(s->pool_queue_capacity));
  json_object_set_new(pool, "busy_workers", json_integer(s->pool_busy));
  json_object_set_new(pool, "jobs_done",
                      json_integer((json_int_t)s->pool_jobs_done));
  json_object_set_new(pool, "isa", json_string(s->isa));
  json_object_set_new(pool, "engine", json_string(s->arith));
  return pool;
}

static json_t *
stats_sse_json(const ServerStats *s)
{
  json_t *ev = json_object();
  if (!s->have_events)
    return ev;
  json_object_set_new(ev, "clients", json_integer(s->sse.clients));
  json_object_set_new(ev, "max_clients", json_integer(s->sse.max_clients));
  json_object_set_new(ev, "clients_total",
                      json_integer((json_int_t)s->sse.clients_total));
  json_object_set_new(ev, "clients_rejected",
                      json_integer((json_int_t)s->sse.clients_rejected));
  json_object_set_new(ev, "events_sent",
                      json_integer((json_int_t)s->sse.events_sent));
  json_object_set_new(ev, "events_dropped",
                      json_integer((json_int_t)s->sse.events_dropped));
  return ev;
}

static json_t *
stats_images_json(const ServerStats *s, json_t *o)
{
  json_t *snap = json_object();
  json_object_set_new(snap, "encodes",
                      json_integer((json_int_t)s->snapshots.encodes));
  json_object_set_new(snap, "cache_hits",
                      json_integer((json_int_t)s->snapshots.cache_hits));
  json_object_set_new(snap, "failures",
                      json_integer((json_int_t)s->snapshots.failures));
  json_object_set_new(snap, "last_encode_ms",
                      json_util_ms(s->snapshots.last_encode_ms));
  json_object_set_new(o, "snapshots", snap);
  const ClassifyPoolStats *cs = &s->classify;
  json_t *cl = json_object();
  json_object_set_new(cl, "requests", json_integer((json_int_t)cs->requests));
  json_object_set_new(cl, "embeds", json_integer((json_int_t)cs->embeds));
  json_object_set_new(cl, "bad_images",
                      json_integer((json_int_t)cs->bad_images));
  json_object_set_new(cl, "classifiers", json_integer(cs->classifiers));
  json_object_set_new(cl, "decode_memory_bytes",
                      json_integer((json_int_t)cs->decode_bytes_in_use));
  json_object_set_new(cl, "decode_memory_max_bytes",
                      json_integer((json_int_t)cs->decode_budget_bytes));
  json_object_set_new(o, "classify", cl);
  return o;
}

static json_t *
stats_config_json(const ServerStats *s)
{
  json_t *cfg = json_object();
  if (!s->have_store) {
    json_object_set_new(cfg, "path", json_null());
    json_object_set_new(cfg, "persisted", json_false());
    return cfg;
  }
  json_object_set_new(cfg, "path", json_util_string_or_null(s->config_path));
  json_object_set_new(cfg, "persisted",
                      json_boolean(s->config_write_error == NULL));
  json_object_set_new(cfg, "writes_ok",
                      json_integer((json_int_t)s->config_writes_ok));
  json_object_set_new(cfg, "writes_failed",
                      json_integer((json_int_t)s->config_writes_failed));
  json_object_set_new(cfg, "last_write_error",
                      json_util_string_or_null(s->config_write_error));
  return cfg;
}

static json_t *
stats_pipelines_json(const ServerStats *s)
{
  /* Pipelines stopping in the background, and those a camera kept from
   * stopping (stream.h). */
  const RunnerSetStats *p = &s->pipelines;
  json_t *pipes = json_object();
  json_object_set_new(pipes, "running", json_integer(p->running));
  json_object_set_new(pipes, "stopping", json_integer(p->stopping));
  json_object_set_new(pipes, "abandoned", json_integer(p->abandoned));
  json_object_set_new(pipes, "abandoned_total",
                      json_integer((json_int_t)p->abandoned_total));
  json_object_set_new(pipes, "connections_cut_total",
                      json_integer((json_int_t)p->cut_total));
  return pipes;
}

/* default_model: the id of the model of streams that name none. */
static json_t *
stats_streams_json(const ServerStats *s, const char *default_model)
{
  json_t *arr = json_array();
  for (guint i = 0; i < s->n_streams; i++) {
    const StreamInfo *info = g_ptr_array_index(s->streams, i);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_util_string_or_null(info->id));
    json_object_set_new(o, "name", json_util_string_or_null(info->name));
    json_object_set_new(o, "state",
                        json_string(stream_state_name(info->state)));
    json_object_set_new(o, "model",
                        json_string(info->config.model ? info->config.model
                                                       : default_model));
    json_object_set_new(o, "fps_in", json_real(info->stats.fps_in));
    json_object_set_new(o, "fps_out", json_real(info->stats.fps_out));
    json_object_set_new(o, "counters", api_counters_to_json(&info->stats));
    json_object_set_new(o, "latency_ms",
                        api_latency_to_json(info->stats.window,
                                            info->stats.since_start));
    json_array_append_new(arr, o);
  }
  return arr;
}

void
routes_h_stats(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  ServerStats s;
  server_stats_collect(r, FALSE, &s);
  json_t *o = json_object();
  json_object_set_new(o, "uptime_s", json_real(s.uptime_s));
  json_object_set_new(o, "start_time",
                      json_util_time_or_null(s.start_wall_us));
  json_object_set_new(o, "pool", stats_pool_json(&s));
  json_object_set_new(o, "process", stats_process_json(&s));
  json_object_set_new(o, "http", stats_http_json(&s));
  json_object_set_new(o, "sse", stats_sse_json(&s));
  /* The publisher renders its own figures (mqtt-stats.c). */
  json_object_set_new(o, "mqtt", r->mqtt ? mqtt_publisher_stats_json(r->mqtt)
                                         : json_null());
  json_object_set_new(o, "shard",
                      r->shard ? shard_to_json(r->shard) : json_null());
  json_t *lim = json_object();
  for (int k = 0; k < LIMIT_N_KINDS; k++)
    json_object_set_new(lim, limit_name(k),
                        json_integer((json_int_t)s.limit_hits[k]));
  json_object_set_new(o, "limit_hits", lim);
  stats_images_json(&s, o);
  json_object_set_new(o, "config", stats_config_json(&s));
  json_object_set_new(o, "pipelines", stats_pipelines_json(&s));
  json_object_set_new(o, "latency_ms",
                      api_latency_to_json(s.latency_window,
                                          s.latency_since));
  ResultsStats total = { 0 };
  memcpy(total.counters, s.totals, sizeof s.totals);
  json_object_set_new(o, "counters", api_counters_to_json(&total));
  json_object_set_new(o, "streams",
                      stats_streams_json(&s, r->models
                                                 ? model_set_get(r->models, 0)->id
                                                 : MODEL_SET_DEFAULT_ID));
  server_stats_clear(&s);
  routes_resp_json(resp, 200, o);
}

/* ---- /metrics ---- */

typedef enum { VAL_NONE, VAL_U64, VAL_UINT, VAL_INT, VAL_DOUBLE } ValKind;

/* One sample of a family: a value of ServerStats, with the family's label
 * set to label_value (NULL: no label). */
typedef struct {
  const char *label_value;
  ValKind kind;
  gsize offset;
} MetricValue;

typedef struct MetricFamily MetricFamily;
/* Writes the family's samples (its HELP and TYPE are written already;
 * with no name, it writes whole families of its own). */
typedef void (*MetricSamplesFn)(GString *out, const MetricFamily *f,
                                const ServerStats *s, Routes *r);

struct MetricFamily {
  const char *name;       /* NULL: fn writes its own families */
  MetricsType type;
  const char *help;
  gssize when;            /* offset of a gboolean that must be TRUE, or -1 */
  const char *label;      /* the label of values[] */
  MetricValue values[3];  /* up to the first VAL_NONE */
  MetricSamplesFn fn;     /* instead of values: per-stream samples */
  int counter;            /* ResultsCounter, for stream_counter */
};

#define ALWAYS (-1)
#define WHEN(field) ((gssize)offsetof(ServerStats, field))
#define V(kind, field) { NULL, kind, offsetof(ServerStats, field) }
#define LV(label, kind, field) { label, kind, offsetof(ServerStats, field) }

static void
value_sample(GString *out, const char *name, const char *label,
             const MetricValue *v, const ServerStats *s)
{
  const char *labels[] = { label, v->label_value, NULL };
  const char *const *l = label ? labels : NULL;
  const char *p = (const char *)s + v->offset;
  switch (v->kind) {
  case VAL_U64: metrics_sample_u64(out, name, l, *(const guint64 *)p); break;
  case VAL_UINT: metrics_sample(out, name, l, *(const guint *)p); break;
  case VAL_INT: metrics_sample(out, name, l, *(const int *)p); break;
  case VAL_DOUBLE: metrics_sample(out, name, l, *(const double *)p); break;
  case VAL_NONE: break;
  }
}

static const char *
stream_id(const ServerStats *s, guint i)
{
  return ((const StreamInfo *)g_ptr_array_index(s->streams, i))->id;
}

static const StreamInfo *
stream_at(const ServerStats *s, guint i)
{
  return g_ptr_array_index(s->streams, i);
}

static void
fam_model_info(GString *out, const MetricFamily *f, const ServerStats *s,
               Routes *r)
{
  const char *labels[] = { "model", model_name(s->model),
                           "arch", model_arch_name(model_arch(s->model)),
                           "format",
                           routes_model_format_name(model_format(s->model)),
                           "kernels", s->isa,
                           "engine", s->arith, NULL };
  metrics_sample(out, f->name, labels, 1);
}

static void
fam_stream_info(GString *out, const MetricFamily *f, const ServerStats *s,
                Routes *r)
{
  for (guint i = 0; i < s->n_streams; i++) {
    const char *labels[] = { "stream", stream_id(s, i),
                             "name", stream_at(s, i)->name, NULL };
    metrics_sample(out, f->name, labels, 1);
  }
}

static void
fam_stream_state(GString *out, const MetricFamily *f, const ServerStats *s,
                 Routes *r)
{
  for (guint i = 0; i < s->n_streams; i++)
    for (int st = STREAM_STATE_STARTING; st <= STREAM_STATE_FAILED; st++) {
      const char *labels[] = { "stream", stream_id(s, i),
                               "state", stream_state_name(st), NULL };
      metrics_sample(out, f->name, labels,
                     stream_at(s, i)->state == (StreamState)st);
    }
}

static void
fam_stream_fps(GString *out, const MetricFamily *f, const ServerStats *s,
               Routes *r)
{
  for (guint i = 0; i < s->n_streams; i++) {
    const char *in[] = { "stream", stream_id(s, i), "kind", "received",
                         NULL };
    const char *outl[] = { "stream", stream_id(s, i), "kind", "inferred",
                           NULL };
    metrics_sample(out, f->name, in, stream_at(s, i)->stats.fps_in);
    metrics_sample(out, f->name, outl, stream_at(s, i)->stats.fps_out);
  }
}

static void
fam_stream_counter(GString *out, const MetricFamily *f, const ServerStats *s,
                   Routes *r)
{
  for (guint i = 0; i < s->n_streams; i++) {
    const char *labels[] = { "stream", stream_id(s, i), NULL };
    metrics_sample_u64(out, f->name, labels,
                       stream_at(s, i)->stats.counters[f->counter]);
  }
}

static void
fam_stream_dropped(GString *out, const MetricFamily *f, const ServerStats *s,
                   Routes *r)
{
  static const struct { const char *reason; ResultsCounter c; } drops[] = {
    { "busy", RESULTS_DROPPED_BUSY },
    { "fps", RESULTS_DROPPED_FPS },
    { "queue", RESULTS_DROPPED_QUEUE },
  };
  for (guint i = 0; i < s->n_streams; i++)
    for (gsize d = 0; d < G_N_ELEMENTS(drops); d++) {
      const char *labels[] = { "stream", stream_id(s, i),
                               "reason", drops[d].reason, NULL };
      metrics_sample_u64(out, f->name, labels,
                         stream_at(s, i)->stats.counters[drops[d].c]);
    }
}

static void
fam_stream_latency(GString *out, const MetricFamily *f, const ServerStats *s,
                   Routes *r)
{
  static const double bounds[LATENCY_PROM_NBUCKETS] = LATENCY_PROM_BUCKETS;
  for (guint i = 0; i < s->n_streams; i++) {
    const ServerStatsLatency *l = &s->latency[i];
    if (!l->valid)
      continue; /* removed in the meantime */
    for (int st = 0; st < LATENCY_N_STAGES; st++) {
      const char *labels[] = { "stream", stream_id(s, i), "stage",
                               api_stage_name(st), NULL };
      metrics_histogram(out, f->name, labels, bounds, l->stage[st].cumulative,
                        LATENCY_PROM_NBUCKETS, l->stage[st].count,
                        l->stage[st].sum);
    }
  }
}

/* The modules that render their own families. */
static void
fam_mqtt(GString *out, const MetricFamily *f, const ServerStats *s,
         Routes *r)
{
  if (r->mqtt)
    mqtt_publisher_metrics(r->mqtt, out);
}

/* The latest prediction's head scores of each stream with a trained head
 * (its top_k classes). */
static void
fam_stream_head_score(GString *out, const MetricFamily *f,
                      const ServerStats *s, Routes *r)
{
  for (guint i = 0; i < s->n_streams; i++) {
    StreamResults *res = registry_results(r->registry, stream_id(s, i));
    if (!res)
      continue;
    Prediction p;
    gboolean have = stream_results_copy_latest(res, &p);
    stream_results_unref(res);
    for (int c = 0; have && c < p.n_head && c < POOL_MAX_TOP_K; c++) {
      const char *labels[] = { "stream", stream_id(s, i), "head", p.head_id,
                               "class", p.head_top[c].label, NULL };
      metrics_sample(out, f->name, labels, p.head_top[c].score);
    }
  }
}

static void
fam_alerts(GString *out, const MetricFamily *f, const ServerStats *s,
           Routes *r)
{
  if (r->alerts)
    routes_alerts_metrics(r, out);
}

static void
fam_limit_hits(GString *out, const MetricFamily *f, const ServerStats *s,
               Routes *r)
{
  for (int k = 0; k < LIMIT_N_KINDS; k++) {
    const char *labels[] = { "limit", limit_name(k), NULL };
    metrics_sample_u64(out, f->name, labels, s->limit_hits[k]);
  }
}

/* Every family of /metrics but the MQTT publisher's, in output order. To
 * add a figure: a field in ServerStats (server_stats_collect fills it) and
 * a row here. */
static const MetricFamily metric_families[] = {
  { "process_cpu_seconds_total", METRICS_COUNTER,
    "User and system CPU time of the process, in seconds.", ALWAYS, NULL,
    { V(VAL_DOUBLE, cpu_s) }, NULL, 0 },
  { "process_resident_memory_bytes", METRICS_GAUGE,
    "Resident memory size in bytes.", ALWAYS, NULL,
    { V(VAL_U64, proc.rss_bytes) }, NULL, 0 },
  { "process_open_fds", METRICS_GAUGE, "Open file descriptors.", ALWAYS,
    NULL, { V(VAL_INT, proc.open_fds) }, NULL, 0 },
  { "process_start_time_seconds", METRICS_GAUGE,
    "Start time of the server since the Unix epoch, in seconds.", ALWAYS,
    NULL, { V(VAL_DOUBLE, start_time_s) }, NULL, 0 },
  { "streamsight_uptime_seconds", METRICS_GAUGE,
    "Seconds since the server started.", ALWAYS, NULL,
    { V(VAL_DOUBLE, uptime_s) }, NULL, 0 },
  { "streamsight_model_info", METRICS_GAUGE, "The loaded model (always 1).",
    ALWAYS, NULL, { { 0 } }, fam_model_info, 0 },
  /* Which replica this is: sharded deployments only. */
  { "streamsight_shard_index", METRICS_GAUGE,
    "This replica's shard K (STREAMSIGHT_SHARD / STREAMSIGHT_SHARDS).",
    WHEN(have_shard), NULL, { V(VAL_UINT, shard_index) }, NULL, 0 },
  { "streamsight_shard_count", METRICS_GAUGE,
    "N: the number of replicas the cameras are split over.",
    WHEN(have_shard), NULL, { V(VAL_UINT, shard_count) }, NULL, 0 },
  { "streamsight_shard_other_streams", METRICS_GAUGE,
    "Streams of the config that other replicas serve.", WHEN(have_shard),
    NULL, { V(VAL_UINT, shard_other_streams) }, NULL, 0 },
  /* Inference pool. */
  { "streamsight_pool_threads", METRICS_GAUGE, "Inference worker threads.",
    ALWAYS, NULL, { V(VAL_INT, pool_threads) }, NULL, 0 },
  { "streamsight_pool_busy_workers", METRICS_GAUGE,
    "Workers running a frame now.", ALWAYS, NULL, { V(VAL_INT, pool_busy) },
    NULL, 0 },
  { "streamsight_pool_queue_depth", METRICS_GAUGE,
    "Frames waiting for a worker.", ALWAYS, NULL,
    { V(VAL_INT, pool_queue_depth) }, NULL, 0 },
  { "streamsight_pool_queue_capacity", METRICS_GAUGE,
    "Frames the queue can hold.", ALWAYS, NULL,
    { V(VAL_INT, pool_queue_capacity) }, NULL, 0 },
  { "streamsight_pool_jobs_total", METRICS_COUNTER,
    "Frames inferred by the pool.", ALWAYS, NULL,
    { V(VAL_U64, pool_jobs_done) }, NULL, 0 },
  /* Pipelines (stream.h: stopped in the background, abandoned at 5 s). */
  { "streamsight_pipelines", METRICS_GAUGE,
    "Pipelines alive, by phase: running (includes the two others), "
    "stopping, abandoned (did not stop within the deadline and still not "
    "stopped).", ALWAYS, "phase",
    { LV("running", VAL_UINT, pipelines.running),
      LV("stopping", VAL_UINT, pipelines.stopping),
      LV("abandoned", VAL_UINT, pipelines.abandoned) }, NULL, 0 },
  { "streamsight_pipelines_abandoned_total", METRICS_COUNTER,
    "Pipelines that did not stop within the deadline.", ALWAYS, NULL,
    { V(VAL_U64, pipelines.abandoned_total) }, NULL, 0 },
  { "streamsight_pipeline_connections_cut_total", METRICS_COUNTER,
    "Pipeline stops that needed their camera connections shut down.",
    ALWAYS, NULL, { V(VAL_U64, pipelines.cut_total) }, NULL, 0 },
  /* Streams. */
  { "streamsight_streams", METRICS_GAUGE, "Streams configured.", ALWAYS,
    NULL, { V(VAL_UINT, n_streams) }, NULL, 0 },
  { "streamsight_stream_info", METRICS_GAUGE, "A stream's name (always 1).",
    ALWAYS, NULL, { { 0 } }, fam_stream_info, 0 },
  { "streamsight_stream_state", METRICS_GAUGE,
    "1 for the state a stream is in, 0 for the others.", ALWAYS, NULL,
    { { 0 } }, fam_stream_state, 0 },
  { "streamsight_stream_frames_per_second", METRICS_GAUGE,
    "Frames received and inferred per second, last 10 s.", ALWAYS, NULL,
    { { 0 } }, fam_stream_fps, 0 },
  { "streamsight_stream_frames_received_total", METRICS_COUNTER,
    "Frames that reached the stream's sink.", ALWAYS, NULL, { { 0 } },
    fam_stream_counter, RESULTS_RECEIVED },
  { "streamsight_stream_frames_inferred_total", METRICS_COUNTER,
    "Predictions published.", ALWAYS, NULL, { { 0 } }, fam_stream_counter,
    RESULTS_INFERRED },
  { "streamsight_stream_frames_dropped_total", METRICS_COUNTER,
    "Frames not inferred: a frame was in flight (busy), over max_fps (fps), "
    "or the pool's queue was full (queue).", ALWAYS, NULL, { { 0 } },
    fam_stream_dropped, 0 },
  { "streamsight_stream_errors_total", METRICS_COUNTER,
    "Frames that failed decoding, conversion or inference.", ALWAYS, NULL,
    { { 0 } }, fam_stream_counter, RESULTS_ERRORS },
  { "streamsight_stream_reconnects_total", METRICS_COUNTER,
    "Pipeline rebuilds after an error, EOS or stall.", ALWAYS, NULL,
    { { 0 } }, fam_stream_counter, RESULTS_RECONNECTS },
  { "streamsight_stream_stalls_total", METRICS_COUNTER,
    "Times no frame arrived for stall_timeout_s.", ALWAYS, NULL, { { 0 } },
    fam_stream_counter, RESULTS_STALLS },
  { "streamsight_stream_latency_seconds", METRICS_HISTOGRAM,
    "Per-stage latency of each prediction since start: queue (waiting for a "
    "worker), preprocess (resize/convert in the sink), infer (engine and "
    "ranking), e2e (frame arrival to published).", ALWAYS, NULL, { { 0 } },
    fam_stream_latency, 0 },
  { "streamsight_stream_head_score", METRICS_GAUGE,
    "The latest prediction's score of each of a stream's head classes "
    "(its top_k best), 0..1.", ALWAYS, NULL, { { 0 } },
    fam_stream_head_score, 0 },
  /* HTTP. */
  { "streamsight_http_responses_total", METRICS_COUNTER,
    "HTTP answers by status class.", ALWAYS, "class",
    { LV("2xx", VAL_U64, responses_2xx), LV("4xx", VAL_U64, responses_4xx),
      LV("5xx", VAL_U64, responses_5xx) }, NULL, 0 },
  { "streamsight_http_protocol_errors_total", METRICS_COUNTER,
    "Requests libmicrohttpd refused itself (malformed, headers over the "
    "connection memory).", ALWAYS, NULL,
    { V(VAL_U64, http.protocol_errors) }, NULL, 0 },
  { "streamsight_image_jobs_queued", METRICS_GAUGE,
    "Snapshot and classify jobs waiting for a thread.", ALWAYS, NULL,
    { V(VAL_UINT, http.work_queued) }, NULL, 0 },
  { "streamsight_image_jobs_total", METRICS_COUNTER,
    "Snapshot and classify jobs run.", ALWAYS, NULL,
    { V(VAL_U64, http.work_done) }, NULL, 0 },
  { "streamsight_limit_hits_total", METRICS_COUNTER,
    "Requests refused by a configured limit.", ALWAYS, NULL, { { 0 } },
    fam_limit_hits, 0 },
  /* Event streams. */
  { "streamsight_sse_clients", METRICS_GAUGE,
    "Event-stream clients connected.", WHEN(have_events), NULL,
    { V(VAL_UINT, sse.clients) }, NULL, 0 },
  { "streamsight_sse_clients_max", METRICS_GAUGE, "limits.max_sse_clients.",
    WHEN(have_events), NULL, { V(VAL_UINT, sse.max_clients) }, NULL, 0 },
  { "streamsight_sse_connections_total", METRICS_COUNTER,
    "Event-stream clients accepted since start.", WHEN(have_events), NULL,
    { V(VAL_U64, sse.clients_total) }, NULL, 0 },
  { "streamsight_sse_rejected_total", METRICS_COUNTER,
    "Event-stream clients refused at the limit.", WHEN(have_events), NULL,
    { V(VAL_U64, sse.clients_rejected) }, NULL, 0 },
  { "streamsight_sse_events_sent_total", METRICS_COUNTER,
    "Events written to clients.", WHEN(have_events), NULL,
    { V(VAL_U64, sse.events_sent) }, NULL, 0 },
  { "streamsight_sse_events_dropped_total", METRICS_COUNTER,
    "Events dropped from slow clients' full queues.", WHEN(have_events),
    NULL, { V(VAL_U64, sse.events_dropped) }, NULL, 0 },
  /* The MQTT publisher's families (mqtt-stats.c). */
  { NULL, 0, NULL, ALWAYS, NULL, { { 0 } }, fam_mqtt, 0 },
  /* Snapshots, classify, config. */
  { "streamsight_snapshots_total", METRICS_COUNTER,
    "Snapshot answers: encoded, from the cache, failed.", ALWAYS, "result",
    { LV("encoded", VAL_U64, snapshots.encodes),
      LV("cached", VAL_U64, snapshots.cache_hits),
      LV("failed", VAL_U64, snapshots.failures) }, NULL, 0 },
  { "streamsight_classify_total", METRICS_COUNTER,
    "Uploaded images: classified, or refused by the decoder.", ALWAYS,
    "result",
    { LV("classified", VAL_U64, classify.requests),
      LV("bad_image", VAL_U64, classify.bad_images) }, NULL, 0 },
  /* The alerts' families (routes-alerts.c). */
  { NULL, 0, NULL, ALWAYS, NULL, { { 0 } }, fam_alerts, 0 },
  { "streamsight_config_writes_total", METRICS_COUNTER,
    "Config file write-backs.", WHEN(have_store), "result",
    { LV("ok", VAL_U64, config_writes_ok),
      LV("failed", VAL_U64, config_writes_failed) }, NULL, 0 },
};

void
routes_h_metrics(Routes *r, const RouteRequest *req, const char *id,
                 RouteResponse *resp)
{
  ServerStats s;
  server_stats_collect(r, TRUE, &s);
  GString *out = g_string_sized_new(16384);
  for (gsize i = 0; i < G_N_ELEMENTS(metric_families); i++) {
    const MetricFamily *f = &metric_families[i];
    if (!f->name) {
      f->fn(out, f, &s, r);
      continue;
    }
    if (f->when != ALWAYS && !*(const gboolean *)((const char *)&s + f->when))
      continue;
    metrics_family(out, f->name, f->type, f->help);
    if (f->fn) {
      f->fn(out, f, &s, r);
      continue;
    }
    for (gsize v = 0; v < G_N_ELEMENTS(f->values) &&
                      f->values[v].kind != VAL_NONE; v++)
      value_sample(out, f->name, f->label, &f->values[v], &s);
  }
  server_stats_clear(&s);
  gsize len = out->len;
  routes_resp_bytes(resp, 200, METRICS_CONTENT_TYPE,
                    (guint8 *)g_string_free(out, FALSE), len);
  /* g_string_free's buffer comes from g_malloc, which is malloc (GLib
   * >= 2.46 always uses the system allocator), so free() can release it. */
  resp_header(resp, "Cache-Control", "no-store");
}
