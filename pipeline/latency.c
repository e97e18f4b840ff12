/* streamsight — latency statistics of one stage (see latency.h).
 *
 * Samples go into log-spaced buckets: bucket 0 holds everything below 1 µs,
 * bucket k >= 1 holds [G^(k-1), G^k) µs with G = 1.04, and the last bucket
 * also holds everything above. A percentile is reported as the geometric
 * centre of its bucket (so within ±2% of the true sample), clamped to the
 * exact maximum. Mean and maximum are exact.
 *
 * The 60 s window is a ring of 12 slots of 5 s, each a histogram of its own;
 * a slot is cleared when it is reused for a newer 5 s epoch. Prometheus
 * buckets are counted exactly at record time, not derived from the log
 * buckets.
 */
#include "latency.h"

#include <math.h>
#include <string.h>

#define LAT_GROWTH 1.04
/* ln(1e8 µs = 100 s) / ln(1.04) = 469.7: buckets up to about 100 s. */
#define LAT_NBUCKETS 472
#define LAT_SLOT_NS (5 * G_GINT64_CONSTANT(1000000000))
#define LAT_NSLOTS 12

typedef struct {
  guint64 count;
  double sum_ms;
  double max_ms;
} LatTotals;

typedef struct {
  gint64 epoch; /* now / LAT_SLOT_NS when the slot was filled; -1 if empty */
  LatTotals t;
  guint32 buckets[LAT_NBUCKETS];
} LatSlot;

struct LatencyStats {
  LatTotals all;
  guint64 buckets[LAT_NBUCKETS];
  LatSlot slots[LAT_NSLOTS];
  guint64 prom[LATENCY_PROM_NBUCKETS]; /* per bound, not cumulative */
};

static const double prom_bounds_s[LATENCY_PROM_NBUCKETS] = LATENCY_PROM_BUCKETS;

static int
bucket_of(double ms)
{
  double us = ms * 1000.0;
  if (!(us >= 1.0))
    return 0;
  int k = 1 + (int)floor(log(us) / log(LAT_GROWTH));
  return k < LAT_NBUCKETS ? k : LAT_NBUCKETS - 1;
}

/* Geometric centre of bucket k, in ms. */
static double
bucket_value_ms(int k)
{
  if (k == 0)
    return 0.0005;
  return pow(LAT_GROWTH, k - 0.5) / 1000.0;
}

static void
totals_add(LatTotals *t, double ms)
{
  t->count++;
  t->sum_ms += ms;
  if (ms > t->max_ms)
    t->max_ms = ms;
}

LatencyStats *
latency_stats_new(void)
{
  LatencyStats *s = g_new0(LatencyStats, 1);
  for (int i = 0; i < LAT_NSLOTS; i++)
    s->slots[i].epoch = -1;
  return s;
}

void
latency_stats_free(LatencyStats *s)
{
  g_free(s);
}

void
latency_stats_add(LatencyStats *s, gint64 now_mono_ns, double ms)
{
  if (!(ms > 0.0)) /* negative, zero or NaN */
    ms = 0.0;
  int k = bucket_of(ms);
  totals_add(&s->all, ms);
  s->buckets[k]++;

  double sec = ms / 1000.0;
  for (int i = 0; i < LATENCY_PROM_NBUCKETS; i++) {
    if (sec <= prom_bounds_s[i]) {
      s->prom[i]++;
      break;
    }
  }

  gint64 epoch = now_mono_ns / LAT_SLOT_NS;
  LatSlot *slot = &s->slots[epoch % LAT_NSLOTS];
  if (slot->epoch != epoch) {
    if (slot->epoch > epoch)
      return; /* a sample older than the slot's data: only in since-start */
    memset(slot, 0, sizeof *slot);
    slot->epoch = epoch;
  }
  totals_add(&slot->t, ms);
  slot->buckets[k]++;
}

/* Nearest-rank percentile: the smallest bucket whose cumulative count
 * reaches ceil(q * count). */
static double
percentile_ms(const guint64 *buckets, guint64 count, double max_ms, double q)
{
  guint64 rank = (guint64)ceil(q * (double)count);
  if (rank < 1)
    rank = 1;
  guint64 cum = 0;
  for (int k = 0; k < LAT_NBUCKETS; k++) {
    cum += buckets[k];
    if (cum >= rank) {
      double v = bucket_value_ms(k);
      return v < max_ms ? v : max_ms;
    }
  }
  return max_ms;
}

static void
summarise(const guint64 *buckets, const LatTotals *t, LatencySummary *out)
{
  memset(out, 0, sizeof *out);
  out->count = t->count;
  if (!t->count)
    return;
  out->mean_ms = t->sum_ms / (double)t->count;
  out->max_ms = t->max_ms;
  out->p50_ms = percentile_ms(buckets, t->count, t->max_ms, 0.50);
  out->p90_ms = percentile_ms(buckets, t->count, t->max_ms, 0.90);
  out->p99_ms = percentile_ms(buckets, t->count, t->max_ms, 0.99);
}

void
latency_stats_summary(const LatencyStats *s, gint64 now_mono_ns,
                      gboolean window, LatencySummary *out)
{
  if (!window) {
    summarise(s->buckets, &s->all, out);
    return;
  }
  /* Merge the slots of the current epoch and the 11 before it. The merged
   * histogram lives on the stack: 472 counters, under 4 KiB. */
  guint64 merged[LAT_NBUCKETS];
  LatTotals t = { 0, 0.0, 0.0 };
  memset(merged, 0, sizeof merged);
  gint64 epoch = now_mono_ns / LAT_SLOT_NS;
  for (int i = 0; i < LAT_NSLOTS; i++) {
    const LatSlot *slot = &s->slots[i];
    if (slot->epoch < 0 || slot->epoch > epoch ||
        slot->epoch <= epoch - LAT_NSLOTS)
      continue;
    t.count += slot->t.count;
    t.sum_ms += slot->t.sum_ms;
    if (slot->t.max_ms > t.max_ms)
      t.max_ms = slot->t.max_ms;
    for (int k = 0; k < LAT_NBUCKETS; k++)
      merged[k] += slot->buckets[k];
  }
  summarise(merged, &t, out);
}

void
latency_stats_prometheus(const LatencyStats *s,
                         guint64 cumulative[LATENCY_PROM_NBUCKETS],
                         guint64 *count, double *sum_s)
{
  guint64 cum = 0;
  for (int i = 0; i < LATENCY_PROM_NBUCKETS; i++) {
    cum += s->prom[i];
    cumulative[i] = cum;
  }
  *count = s->all.count;
  *sum_s = s->all.sum_ms / 1000.0;
}
