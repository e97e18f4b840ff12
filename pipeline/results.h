/* streamsight — what one stream has seen: the latest prediction, a bounded
 * history, counters and per-stage latency statistics.
 *
 * Shared by the stream (writers: the sink's target on the streaming thread,
 * pool workers) and HTTP threads (readers), so it is reference counted and
 * guarded by one mutex, held only to copy small structs in or out. JSON is
 * built by callers after the copy. Subscribers (SSE) are called after the
 * lock is released.
 */
#ifndef SS_RESULTS_H
#define SS_RESULTS_H

#include <glib.h>
#include <gst/gst.h>

#include "latency.h"
#include "pool.h"
#include "head.h"
#include "stream-config.h"

G_BEGIN_DECLS

/* One of a head's classes in a prediction: index is the class number. */
typedef struct {
  int index;
  float score;
  char label[HEAD_NAME_MAX + 1];
} HeadClass;

typedef struct {
  guint64 seq;             /* 1-based publish sequence in this stream */
  guint64 frame_no;        /* the sink's frame counter (restarts never) */
  GstClockTime pts;        /* GST_CLOCK_TIME_NONE if unknown */
  gint64 capture_wall_us;  /* g_get_real_time() when the frame arrived */
  gint64 capture_mono_ns;  /* monotonic ns when the frame arrived */
  gint64 published_mono_ns;
  int n_top;
  struct prediction top[POOL_MAX_TOP_K];
  double queue_ms, preprocess_ms, infer_ms, e2e_ms;
  /* The stream's head (StreamConfig.head), once trained: its id, its
   * classes best first (the top_k best), and the labels mode; n_head 0
   * without one. */
  char head_id[STREAM_HEAD_ID_MAX + 1];
  int n_head;
  HeadClass head_top[POOL_MAX_TOP_K];
  StreamLabels labels;
  /* The stream's model and its id (model-set.h; borrowed: the server's
   * models outlive every stream and prediction), NULL when unknown. */
  const struct ss_model *model;
  const char *model_id;
} Prediction;

typedef enum {
  RESULTS_RECEIVED = 0, /* frames that reached the sink's target */
  RESULTS_INFERRED,     /* predictions published */
  RESULTS_DROPPED_BUSY, /* a frame was in flight */
  RESULTS_DROPPED_FPS,  /* over the stream's max_fps */
  RESULTS_DROPPED_QUEUE,/* the pool's queue was full */
  RESULTS_ERRORS,       /* frames that failed decoding (live sources: the
                         * decoder took them in, nothing came out), conversion
                         * or inference */
  RESULTS_RECONNECTS,
  RESULTS_STALLS,
  RESULTS_N_COUNTERS
} ResultsCounter;

typedef enum {
  LATENCY_STAGE_QUEUE = 0, /* waiting for a worker */
  LATENCY_STAGE_PREPROCESS,/* fused resize/convert in the sink */
  LATENCY_STAGE_INFER,     /* engine + ranking */
  LATENCY_STAGE_E2E,       /* frame arrival in the sink -> published */
  LATENCY_N_STAGES
} LatencyStage;

typedef struct {
  guint64 counters[RESULTS_N_COUNTERS];
  double fps_in, fps_out; /* received / inferred per second, last 10 s */
  LatencySummary window[LATENCY_N_STAGES];      /* last 60 s */
  LatencySummary since_start[LATENCY_N_STAGES];
  gint64 last_prediction_wall_us; /* 0 if none */
} ResultsStats;

typedef struct StreamResults StreamResults;

StreamResults *stream_results_new(guint history_len); /* >= 1 */
StreamResults *stream_results_ref(StreamResults *r);
void stream_results_unref(StreamResults *r); /* NULL is allowed */

/* Publishes a prediction: assigns seq and published_mono_ns, keeps it as the
 * latest and in the history, records its latencies and counts it inferred;
 * then calls the subscribers. Any thread. */
void stream_results_publish(StreamResults *r, Prediction *p);
void stream_results_count(StreamResults *r, ResultsCounter c, guint64 n);

/* Copies the latest prediction; FALSE when there is none yet. */
gboolean stream_results_copy_latest(StreamResults *r, Prediction *out);
/* Copies up to cap predictions with seq > since_seq and captured at or
 * after since_mono_ns (0 = any), oldest first, the newest `cap` of them.
 * Returns the number copied. */
guint stream_results_copy_history(StreamResults *r, guint64 since_seq,
                                  gint64 since_mono_ns, Prediction *out,
                                  guint cap);
void stream_results_copy_stats(StreamResults *r, gint64 now_mono_ns,
                               ResultsStats *out);
/* ResultsStats.fps_in alone (the supervisor's connection quality, each
 * tick, without copying the latency summaries). */
double stream_results_fps_in(StreamResults *r, gint64 now_mono_ns);
/* Cumulative Prometheus buckets for one stage (see latency.h). */
void stream_results_copy_prometheus(StreamResults *r, LatencyStage stage,
                                    guint64 cumulative[LATENCY_PROM_NBUCKETS],
                                    guint64 *count, double *sum_s);

/* Subscribers are called after each publish, on the publishing thread,
 * without the lock held; they must be quick (copy and return). Returns an id
 * for unsubscribe; unsubscribe waits until no call to that subscriber is in
 * progress, so that user data can be freed right after. */
typedef void (*ResultsSubscriber)(const Prediction *p, gpointer user);
guint stream_results_subscribe(StreamResults *r, ResultsSubscriber cb,
                               gpointer user);
void stream_results_unsubscribe(StreamResults *r, guint id);

G_END_DECLS

#endif
