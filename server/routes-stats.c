/* streamsight — GET /api/v1/stats (JSON) and GET /metrics (Prometheus
 * text). */
#include "routes-internal.h"

#include <string.h>
#include <sys/resource.h>

#include "api-json.h"
#include "json-util.h"
#include "metrics.h"

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

void
routes_h_stats(Routes *r, const RouteRequest *req, const char *id,
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
  process_sampler_get(r->proc, &ps);
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
  routes_resp_json(resp, 200, o);
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

void
routes_h_metrics(Routes *r, const RouteRequest *req, const char *id,
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
  process_sampler_get(r->proc, &ps);
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
                             "format",
                             routes_model_format_name(model_format(m)),
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
  if (r->alerts)
    routes_alerts_metrics(r, out);
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
  routes_resp_bytes(resp, 200, METRICS_CONTENT_TYPE,
             (guint8 *)g_string_free(out, FALSE), len);
  /* g_string_free's buffer comes from g_malloc, which is malloc (GLib
   * >= 2.46 always uses the system allocator), so free() can release it. */
  resp_header(resp, "Cache-Control", "no-store");
}
