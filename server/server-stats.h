/* streamsight — every figure of GET /api/v1/stats and GET /metrics,
 * gathered once into one struct (server_stats_collect) so that the two
 * routes only render differently and cannot disagree about what they
 * count. routes-stats.c renders it.
 */
#ifndef SS_SERVER_STATS_H
#define SS_SERVER_STATS_H

#include "routes-internal.h"

G_BEGIN_DECLS

/* One stream's latency histogram of one stage (GET /metrics). */
typedef struct {
  guint64 cumulative[LATENCY_PROM_NBUCKETS];
  guint64 count;
  double sum;
} ServerStatsHistogram;

/* One stream's histograms; valid FALSE when it was removed meanwhile. */
typedef struct {
  gboolean valid;
  ServerStatsHistogram stage[LATENCY_N_STAGES];
} ServerStatsLatency;

typedef struct {
  /* Process. */
  double uptime_s;
  gint64 start_wall_us;
  double start_time_s;       /* start_wall_us in seconds */
  gboolean have_rusage;
  double cpu_user_s, cpu_system_s;
  double cpu_s;              /* user + system (0 without rusage) */
  ProcessSample proc;
  /* Model and inference pool. */
  const struct ss_model *model; /* borrowed from the engine */
  const char *isa, *arith;      /* static strings */
  int pool_threads, pool_queue_depth, pool_queue_capacity, pool_busy;
  guint64 pool_jobs_done;
  /* Sharding: have_shard FALSE when this is the only replica. */
  gboolean have_shard;
  guint shard_index, shard_count, shard_other_streams;
  /* Pipelines. */
  RunnerSetStats pipelines;
  /* HTTP. */
  guint64 responses_2xx, responses_4xx, responses_5xx;
  RouteHttpStats http;
  guint64 limit_hits[LIMIT_N_KINDS];
  /* Event streams: have_events FALSE when the hub is off. */
  gboolean have_events;
  EventHubStats sse;
  /* Every prediction of every stream (registry_latency). */
  LatencySummary latency_window[LATENCY_N_STAGES];
  LatencySummary latency_since[LATENCY_N_STAGES];
  /* Images. */
  SnapshotStats snapshots;
  ClassifyPoolStats classify;
  /* Config write-back: have_store FALSE without a config file. */
  gboolean have_store;
  const char *config_path;   /* borrowed from the store */
  guint64 config_writes_ok, config_writes_failed;
  char *config_write_error;  /* owned; NULL: the last write succeeded */
  /* Streams, and their counters summed. */
  GPtrArray *streams;          /* of StreamInfo* (registry_list) */
  guint n_streams;             /* streams->len */
  ServerStatsLatency *latency; /* streams->len of them, or NULL */
  guint64 totals[RESULTS_N_COUNTERS];
} ServerStats;

/* Gathers every figure. with_histograms: also each stream's latency
 * histograms (only /metrics shows them). Any thread; the registry, pool
 * and hub are asked through their copy functions. */
void server_stats_collect(Routes *r, gboolean with_histograms,
                          ServerStats *out);
void server_stats_clear(ServerStats *s);

G_END_DECLS

#endif
