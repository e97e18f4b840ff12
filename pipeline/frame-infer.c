/* streamsight — sink -> pool -> results glue (see frame-infer.h).
 *
 * One input tensor per stream and an atomic `busy` flag that owns it: the
 * streaming thread sets it in acquire() (or drops the frame when it is
 * already set), and whoever finishes with the tensor clears it: the worker
 * after publishing, or submit()/release() when the frame never reached the
 * pool. The in-flight frame's description (info, job) is written by the
 * streaming thread before pool_submit() and read by the worker after it, so
 * the pool's queue mutex orders those accesses.
 *
 * Every frame that reaches acquire() is counted exactly once more: inferred
 * (published), dropped_fps, dropped_busy, dropped_queue or errors, so that
 * received == inferred + dropped_* + errors once nothing is in flight.
 */
#include "frame-infer.h"

#include <string.h>

#include "engine.h"
#include "fps-gate.h"
#include "head.h"
#include "latency-totals.h"

struct FrameInfer {
  gint refcount; /* atomic */
  struct ss_pool *pool;           /* borrowed */
  const struct ss_model *model;   /* borrowed */
  const char *model_id;           /* borrowed; set before frames flow */
  StreamResults *results;         /* referenced */
  LatencyTotals *totals;          /* referenced; NULL: none. Set before
                                   * frames flow */
  int width, height;
  float mean[3], std[3];
  float *tensor; /* width x height x 3, owned; belongs to whoever set busy */

  gint busy;  /* atomic: a frame holds the tensor */
  gint top_k; /* atomic */

  GMutex lock; /* guards gate */
  FpsGate gate; /* the stream's max_fps */

  /* The frame in flight: valid while busy. */
  struct pool_job job;
  SinkFrameInfo info;

  /* The stream's head. head_lock guards head_id, labels and head_reset;
   * head, head_gen and job_labels are touched only by target_submit and
   * the worker of the frame in flight (busy orders them). */
  GMutex head_lock;
  char head_id[STREAM_HEAD_ID_MAX + 1];
  StreamLabels labels;
  gboolean head_reset;
  FrameHeadFetch fetch;
  gpointer fetch_user;
  struct ss_head *head; /* owned, a trained copy that fits the model */
  guint64 head_gen;
  StreamLabels job_labels;
};

static gint64
mono_ns(void)
{
  return g_get_monotonic_time() * 1000;
}

FrameInfer *
frame_infer_new(struct ss_pool *pool, const struct ss_model *model,
                StreamResults *results, double max_fps, int top_k)
{
  g_return_val_if_fail(pool && model && results, NULL);
  FrameInfer *fi = g_new0(FrameInfer, 1);
  fi->refcount = 1;
  fi->pool = pool;
  fi->model = model;
  fi->results = stream_results_ref(results);
  fi->width = model_input_width(model);
  fi->height = model_input_height(model);
  model_input_norm(model, fi->mean, fi->std);
  fi->tensor = g_aligned_alloc0((gsize)fi->width * fi->height * 3,
                                sizeof(float), 64);
  g_mutex_init(&fi->lock);
  g_mutex_init(&fi->head_lock);
  fps_gate_set_max_fps(&fi->gate, max_fps);
  fi->top_k = CLAMP(top_k, 1, POOL_MAX_TOP_K);
  return fi;
}

void
frame_infer_set_model_id(FrameInfer *fi, const char *model_id)
{
  fi->model_id = model_id;
}

void
frame_infer_set_latency_totals(FrameInfer *fi, LatencyTotals *totals)
{
  LatencyTotals *old = fi->totals;
  fi->totals = totals ? latency_totals_ref(totals) : NULL;
  latency_totals_unref(old);
}

FrameInfer *
frame_infer_ref(FrameInfer *fi)
{
  g_return_val_if_fail(fi != NULL, NULL);
  g_atomic_int_inc(&fi->refcount);
  return fi;
}

void
frame_infer_unref(FrameInfer *fi)
{
  if (!fi || !g_atomic_int_dec_and_test(&fi->refcount))
    return;
  g_assert(!g_atomic_int_get(&fi->busy)); /* an in-flight job holds a ref */
  stream_results_unref(fi->results);
  latency_totals_unref(fi->totals);
  g_aligned_free(fi->tensor);
  g_mutex_clear(&fi->lock);
  g_mutex_clear(&fi->head_lock);
  head_free(fi->head);
  g_free(fi);
}

void
frame_infer_set_max_fps(FrameInfer *fi, double max_fps)
{
  g_mutex_lock(&fi->lock);
  fps_gate_set_max_fps(&fi->gate, max_fps); /* restarts the schedule */
  g_mutex_unlock(&fi->lock);
}

void
frame_infer_set_head_source(FrameInfer *fi, FrameHeadFetch fetch,
                            gpointer user)
{
  fi->fetch = fetch;
  fi->fetch_user = user;
}

void
frame_infer_set_head(FrameInfer *fi, const char *head_id, StreamLabels labels)
{
  g_mutex_lock(&fi->head_lock);
  g_strlcpy(fi->head_id, head_id ? head_id : "", sizeof fi->head_id);
  fi->labels = labels;
  fi->head_reset = TRUE;
  g_mutex_unlock(&fi->head_lock);
}

/* Picks up a changed head before a frame is submitted (streaming thread,
 * busy held: no job of this stream is in flight). */
static void
refresh_head(FrameInfer *fi)
{
  char id[STREAM_HEAD_ID_MAX + 1];
  g_mutex_lock(&fi->head_lock);
  g_strlcpy(id, fi->head_id, sizeof id);
  gboolean reset = fi->head_reset;
  fi->head_reset = FALSE;
  fi->job_labels = fi->labels;
  g_mutex_unlock(&fi->head_lock);
  if (reset || !id[0] || fi->job_labels == STREAM_LABELS_IMAGENET ||
      !fi->fetch) {
    head_free(fi->head);
    fi->head = NULL;
    fi->head_gen = 0;
    if (!id[0] || fi->job_labels == STREAM_LABELS_IMAGENET || !fi->fetch)
      return;
  }
  guint64 gen = fi->head_gen;
  struct ss_head *h = fi->fetch(fi->fetch_user, id, &gen);
  if (h || gen == 0) {
    head_free(fi->head);
    fi->head = NULL;
  }
  fi->head_gen = gen;
  if (!h)
    return;
  const struct ss_engine *e = pool_engine(fi->pool);
  if (head_check_model(h, model_name(fi->model), engine_feature_len(e),
                       NULL) != 0) {
    head_free(h); /* taught on another model: ignored until it changes */
    return;
  }
  fi->head = h;
}

void
frame_infer_set_top_k(FrameInfer *fi, int top_k)
{
  g_atomic_int_set(&fi->top_k, CLAMP(top_k, 1, POOL_MAX_TOP_K));
}

gboolean
frame_infer_busy(FrameInfer *fi)
{
  return g_atomic_int_get(&fi->busy) != 0;
}

/* ---- worker side ---- */

static void
on_job_done(struct pool_job *job, const struct pool_result *res)
{
  FrameInfer *fi = job->user;
  const SinkFrameInfo *info = &fi->info;
  Prediction p;
  memset(&p, 0, sizeof p);
  p.frame_no = info->frame_no;
  p.pts = info->pts;
  p.capture_wall_us = info->arrival_wall_us;
  p.capture_mono_ns = info->arrival_mono_ns;
  p.n_top = res->n_top;
  memcpy(p.top, res->top, sizeof(p.top[0]) * (size_t)res->n_top);
  p.labels = fi->job_labels;
  if (res->n_head > 0 && fi->head) {
    struct prediction ranked[POOL_MAX_TOP_K];
    int k = head_rank(fi->head, res->head_probs, fi->job.top_k, ranked);
    for (int i = 0; i < k; i++) {
      p.head_top[i].index = ranked[i].index;
      p.head_top[i].score = ranked[i].score;
      g_strlcpy(p.head_top[i].label,
                head_class_name(fi->head, ranked[i].index),
                sizeof p.head_top[i].label);
    }
    p.n_head = k;
    g_mutex_lock(&fi->head_lock);
    g_strlcpy(p.head_id, fi->head_id, sizeof p.head_id);
    g_mutex_unlock(&fi->head_lock);
  }
  p.queue_ms = (double)res->queue_ns / 1e6;
  p.preprocess_ms = (double)info->preprocess_ns / 1e6;
  p.infer_ms = (double)res->infer_ns / 1e6;
  p.e2e_ms = (double)(mono_ns() - info->arrival_mono_ns) / 1e6;
  p.model = fi->model;
  p.model_id = fi->model_id;
  stream_results_publish(fi->results, &p);
  if (fi->totals)
    latency_totals_add(fi->totals, p.published_mono_ns, &p);
  /* The tensor and the frame description are free again. */
  g_atomic_int_set(&fi->busy, 0);
  frame_infer_unref(fi);
}

/* ---- streaming-thread side (SinkTarget) ---- */

static float *
target_acquire(gpointer user, const SinkFrameInfo *info)
{
  FrameInfer *fi = user;
  ResultsCounter dropped;
  stream_results_count(fi->results, RESULTS_RECEIVED, 1);

  g_mutex_lock(&fi->lock);
  if (!fps_gate_due(&fi->gate, info->arrival_mono_ns)) {
    dropped = RESULTS_DROPPED_FPS;
  } else if (!g_atomic_int_compare_and_exchange(&fi->busy, 0, 1)) {
    /* Not taken: the schedule is not advanced, the next frame may go. */
    dropped = RESULTS_DROPPED_BUSY;
  } else {
    fps_gate_commit(&fi->gate, info->arrival_mono_ns);
    g_mutex_unlock(&fi->lock);
    return fi->tensor;
  }
  g_mutex_unlock(&fi->lock);
  stream_results_count(fi->results, dropped, 1);
  return NULL;
}

static void
target_submit(gpointer user, float *tensor, const SinkFrameInfo *info)
{
  FrameInfer *fi = user;
  g_assert(tensor == fi->tensor && g_atomic_int_get(&fi->busy));
  fi->info = *info;
  memset(&fi->job, 0, sizeof fi->job);
  fi->job.input = tensor;
  fi->job.top_k = g_atomic_int_get(&fi->top_k);
  refresh_head(fi);
  fi->job.head = fi->head;
  fi->job.done = on_job_done;
  fi->job.user = frame_infer_ref(fi); /* the job's reference */
  int rc = pool_submit(fi->pool, &fi->job);
  if (rc == 0)
    return;
  /* Full queue (or a pool shutting down): the frame is dropped. */
  stream_results_count(fi->results,
                       rc == SS_ERANGE ? RESULTS_DROPPED_QUEUE
                                       : RESULTS_ERRORS,
                       1);
  g_atomic_int_set(&fi->busy, 0);
  frame_infer_unref(fi);
}

static void
target_release(gpointer user, float *tensor)
{
  FrameInfer *fi = user;
  g_assert(tensor == fi->tensor);
  stream_results_count(fi->results, RESULTS_ERRORS, 1);
  g_atomic_int_set(&fi->busy, 0);
}

static void
target_destroy(gpointer user)
{
  frame_infer_unref(user);
}

void
frame_infer_attach(FrameInfer *fi, StreamsightSink *sink)
{
  static const SinkTarget target = {
    .acquire = target_acquire,
    .submit = target_submit,
    .release = target_release,
  };
  streamsight_sink_set_target(sink, fi->width, fi->height, fi->mean, fi->std,
                              &target, frame_infer_ref(fi), target_destroy);
}
