#include "server-stats.h"

#include <string.h>
#include <sys/resource.h>

static void
collect_http(Routes *r, ServerStats *s)
{
  routes_counts(r, &s->responses_2xx, &s->responses_4xx,
                &s->responses_5xx);
  g_mutex_lock(&r->http_lock);
  RouteHttpStatsFunc fn = r->http_stats;
  gpointer user = r->http_stats_user;
  g_mutex_unlock(&r->http_lock);
  /* Registered by http.c for the life of the daemon; it unregisters
   * before stopping, after which no request runs. */
  if (fn)
    fn(user, &s->http);
  for (int k = 0; k < LIMIT_N_KINDS; k++)
    s->limit_hits[k] = limit_log_count(r->limits, k);
}

static void
collect_streams(Routes *r, gboolean with_histograms, ServerStats *s)
{
  s->streams = registry_list(r->registry);
  s->n_streams = s->streams->len;
  if (with_histograms)
    s->latency = g_new0(ServerStatsLatency, MAX(s->streams->len, 1));
  for (guint i = 0; i < s->streams->len; i++) {
    const StreamInfo *info = g_ptr_array_index(s->streams, i);
    for (int c = 0; c < RESULTS_N_COUNTERS; c++)
      s->totals[c] += info->stats.counters[c];
    if (!with_histograms)
      continue;
    StreamResults *res = registry_results(r->registry, info->id);
    if (!res)
      continue; /* removed in the meantime */
    ServerStatsLatency *l = &s->latency[i];
    l->valid = TRUE;
    for (int g = 0; g < LATENCY_N_STAGES; g++)
      stream_results_copy_prometheus(res, g, l->stage[g].cumulative,
                                     &l->stage[g].count, &l->stage[g].sum);
    stream_results_unref(res);
  }
}

void
server_stats_collect(Routes *r, gboolean with_histograms, ServerStats *s)
{
  memset(s, 0, sizeof *s);
  s->uptime_s = (double)(g_get_monotonic_time() - r->start_mono_us) / 1e6;
  s->start_wall_us = r->start_wall_us;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s->have_rusage = TRUE;
    s->cpu_user_s = (double)ru.ru_utime.tv_sec +
                    (double)ru.ru_utime.tv_usec / 1e6;
    s->cpu_system_s = (double)ru.ru_stime.tv_sec +
                      (double)ru.ru_stime.tv_usec / 1e6;
    s->cpu_s = s->cpu_user_s + s->cpu_system_s;
  }
  s->start_time_s = (double)r->start_wall_us / 1e6;
  process_sampler_get(r->proc, &s->proc);

  s->model = engine_model(r->engine);
  s->isa = engine_isa_name(r->engine);
  s->arith = engine_arith_name(r->engine);
  s->pool_threads = pool_num_threads(r->pool);
  s->pool_queue_depth = pool_queue_depth(r->pool);
  s->pool_queue_capacity = pool_queue_capacity(r->pool);
  s->pool_busy = pool_busy_workers(r->pool);
  s->pool_jobs_done = pool_jobs_done(r->pool);
  if (r->shard) {
    s->have_shard = TRUE;
    s->shard_index = shard_index(r->shard);
    s->shard_count = shard_count(r->shard);
    s->shard_other_streams = shard_n_other(r->shard);
  }
  registry_pipeline_stats(r->registry, &s->pipelines);

  collect_http(r, s);
  if (r->events) {
    s->have_events = TRUE;
    event_hub_stats(r->events, &s->sse);
  }
  /* Every prediction of every stream, recorded where it was produced. */
  registry_latency(r->registry, s->latency_window, s->latency_since);
  snapshots_stats(r->snapshots, &s->snapshots);
  classify_pool_stats(r->classify, &s->classify);
  if (r->store) {
    s->have_store = TRUE;
    s->config_path = config_store_path(r->store);
    config_store_status(r->store, &s->config_writes_ok,
                        &s->config_writes_failed, &s->config_write_error);
  }
  collect_streams(r, with_histograms, s);
}

void
server_stats_clear(ServerStats *s)
{
  if (s->streams)
    g_ptr_array_unref(s->streams);
  g_free(s->latency);
  g_free(s->config_write_error);
  memset(s, 0, sizeof *s);
}
