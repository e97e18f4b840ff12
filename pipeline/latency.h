/* streamsight — latency statistics of one stage: percentiles over the last
 * 60 s and since start, and Prometheus histogram buckets.
 *
 * Not locked: the owner (StreamResults) serialises access with its mutex.
 * Values are recorded into log-spaced buckets (about 4% wide) from 1 µs to
 * about 100 s, so percentiles carry at most that relative error; the window
 * is 12 slots of 5 s, so "last 60 s" means the last 55-60 s.
 */
#ifndef SS_LATENCY_H
#define SS_LATENCY_H

#include <glib.h>

G_BEGIN_DECLS

/* Upper bounds (seconds) of the Prometheus buckets, +Inf implied after. */
#define LATENCY_PROM_BUCKETS \
  { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0 }
#define LATENCY_PROM_NBUCKETS 13

typedef struct LatencyStats LatencyStats;

typedef struct {
  guint64 count;
  double mean_ms, p50_ms, p90_ms, p99_ms, max_ms; /* 0 when count == 0 */
} LatencySummary;

LatencyStats *latency_stats_new(void);
void latency_stats_free(LatencyStats *s); /* NULL is allowed */
/* Records one sample of ms milliseconds (negative values count as 0). */
void latency_stats_add(LatencyStats *s, gint64 now_mono_ns, double ms);
/* Summary over the last 60 s (window = TRUE) or since start. */
void latency_stats_summary(const LatencyStats *s, gint64 now_mono_ns,
                           gboolean window, LatencySummary *out);
/* Since start: cumulative counts per LATENCY_PROM_BUCKETS bound, the total
 * count and the sum in seconds. */
void latency_stats_prometheus(const LatencyStats *s,
                              guint64 cumulative[LATENCY_PROM_NBUCKETS],
                              guint64 *count, double *sum_s);

G_END_DECLS

#endif
