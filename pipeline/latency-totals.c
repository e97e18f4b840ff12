/* streamsight — the latency of every prediction of every stream (see
 * latency-totals.h). */
#include "latency-totals.h"

struct LatencyTotals {
  gint refcount; /* atomic */
  GMutex lock;   /* protects stage */
  LatencyStats *stage[LATENCY_N_STAGES];
};

LatencyTotals *
latency_totals_new(void)
{
  LatencyTotals *t = g_new0(LatencyTotals, 1);
  t->refcount = 1;
  g_mutex_init(&t->lock);
  for (int i = 0; i < LATENCY_N_STAGES; i++)
    t->stage[i] = latency_stats_new();
  return t;
}

LatencyTotals *
latency_totals_ref(LatencyTotals *t)
{
  g_atomic_int_inc(&t->refcount);
  return t;
}

void
latency_totals_unref(LatencyTotals *t)
{
  if (!t || !g_atomic_int_dec_and_test(&t->refcount))
    return;
  for (int i = 0; i < LATENCY_N_STAGES; i++)
    latency_stats_free(t->stage[i]);
  g_mutex_clear(&t->lock);
  g_free(t);
}

void
latency_totals_add(LatencyTotals *t, gint64 now_mono_ns, const Prediction *p)
{
  const double ms[LATENCY_N_STAGES] = {
    [LATENCY_STAGE_QUEUE] = p->queue_ms,
    [LATENCY_STAGE_PREPROCESS] = p->preprocess_ms,
    [LATENCY_STAGE_INFER] = p->infer_ms,
    [LATENCY_STAGE_E2E] = p->e2e_ms,
  };
  g_mutex_lock(&t->lock);
  for (int i = 0; i < LATENCY_N_STAGES; i++)
    latency_stats_add(t->stage[i], now_mono_ns, ms[i]);
  g_mutex_unlock(&t->lock);
}

void
latency_totals_copy(LatencyTotals *t, gint64 now_mono_ns,
                    LatencySummary window[LATENCY_N_STAGES],
                    LatencySummary since[LATENCY_N_STAGES])
{
  g_mutex_lock(&t->lock);
  for (int i = 0; i < LATENCY_N_STAGES; i++) {
    latency_stats_summary(t->stage[i], now_mono_ns, TRUE, &window[i]);
    latency_stats_summary(t->stage[i], now_mono_ns, FALSE, &since[i]);
  }
  g_mutex_unlock(&t->lock);
}
