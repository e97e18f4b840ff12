/* streamsight — the latency of every prediction of every stream, per stage
 * (queue, preprocess, infer, e2e): the server-wide figures of GET
 * /api/v1/stats ("latency_ms"), over the last 60 s and since start.
 *
 * Fed where predictions are produced (frame-infer.c, on the pool worker
 * that publishes each one), so the figures exist whether or not anything
 * (SSE, MQTT) listens to the predictions. The registry owns one and hands
 * it to each stream's FrameInfer; reference counted because a stream (and
 * its FrameInfer) may outlive the registry when one of its pipelines is
 * stuck. One mutex, held only to record or copy.
 */
#ifndef SS_LATENCY_TOTALS_H
#define SS_LATENCY_TOTALS_H

#include <glib.h>

#include "latency.h"
#include "results.h"

G_BEGIN_DECLS

typedef struct LatencyTotals LatencyTotals;

LatencyTotals *latency_totals_new(void);
LatencyTotals *latency_totals_ref(LatencyTotals *t);
void latency_totals_unref(LatencyTotals *t); /* NULL is allowed */

/* Records the stage latencies of one published prediction. Any thread. */
void latency_totals_add(LatencyTotals *t, gint64 now_mono_ns,
                        const Prediction *p);
/* Summaries per LatencyStage: last 60 s (window) and since start. Any
 * thread. */
void latency_totals_copy(LatencyTotals *t, gint64 now_mono_ns,
                         LatencySummary window[LATENCY_N_STAGES],
                         LatencySummary since[LATENCY_N_STAGES]);

G_END_DECLS

#endif
