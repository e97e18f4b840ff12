/* streamsight — what one stream has seen (see results.h).
 *
 * One GMutex guards the whole struct; it is held only to copy a Prediction or
 * a few counters in or out. Subscribers are called after it is released:
 * publish takes a reference on each live subscriber under the lock, calls it
 * unlocked, then drops the reference. unsubscribe unlinks the subscriber and
 * waits on a condition variable until no call to it is in progress (except a
 * call on the unsubscribing thread itself, so a subscriber may unsubscribe
 * from its own callback).
 */
#include "results.h"

#include <string.h>

#define FPS_SLOT_NS G_GINT64_CONSTANT(1000000000)
#define FPS_WINDOW_SLOTS 10 /* fps over the last 10 s */
/* Subscribers called without a heap allocation per publish; more spill to a
 * heap array. */
#define SUBS_ON_STACK 16

typedef struct {
  guint id;
  ResultsSubscriber cb;
  gpointer user;
  int refs;       /* the list's reference + calls in progress */
  int calls;      /* calls in progress */
  gint removed;   /* atomic; set once, under the lock, by unsubscribe */
} Subscriber;

/* Events per second, for fps_in/fps_out. */
typedef struct {
  gint64 sec[FPS_WINDOW_SLOTS]; /* the second each slot counts, -1 = none */
  guint64 n[FPS_WINDOW_SLOTS];
  gint64 first_ns; /* first event, 0 = none */
} RateWindow;

struct StreamResults {
  gint refcount; /* atomic */

  GMutex lock; /* guards every field below */
  GCond unsubscribed; /* signalled when a subscriber's calls drop */
  guint64 seq;
  gboolean have_latest;
  Prediction latest;
  Prediction *history; /* ring of history_len */
  guint history_len, history_head, history_count; /* head: next write */
  guint64 counters[RESULTS_N_COUNTERS];
  LatencyStats *latency[LATENCY_N_STAGES];
  RateWindow rate_in, rate_out;
  gint64 last_prediction_wall_us;
  GPtrArray *subs; /* Subscriber *, in subscription order */
  guint next_sub_id;
};

/* The thread that is running a subscriber callback, per thread: lets
 * unsubscribe detect that it was called from the subscriber being removed. */
static _Thread_local const Subscriber *calling_sub;

static gint64
mono_ns(void)
{
  return g_get_monotonic_time() * 1000;
}

static void
rate_init(RateWindow *w)
{
  for (int i = 0; i < FPS_WINDOW_SLOTS; i++)
    w->sec[i] = -1;
  memset(w->n, 0, sizeof w->n);
  w->first_ns = 0;
}

static void
rate_add(RateWindow *w, gint64 now_ns, guint64 n)
{
  gint64 sec = now_ns / FPS_SLOT_NS;
  int i = (int)(sec % FPS_WINDOW_SLOTS);
  if (w->sec[i] != sec) {
    if (w->sec[i] > sec)
      return; /* older than the window */
    w->sec[i] = sec;
    w->n[i] = 0;
  }
  w->n[i] += n;
  if (!w->first_ns)
    w->first_ns = now_ns;
}

/* Events in the current second and the 9 before it, divided by the time they
 * span (shorter at start-up, and never less than 1 s so that the first frame
 * does not read as a huge rate). */
static double
rate_fps(const RateWindow *w, gint64 now_ns)
{
  gint64 sec = now_ns / FPS_SLOT_NS;
  guint64 n = 0;
  for (int i = 0; i < FPS_WINDOW_SLOTS; i++)
    if (w->sec[i] >= 0 && w->sec[i] <= sec &&
        w->sec[i] > sec - FPS_WINDOW_SLOTS)
      n += w->n[i];
  if (!n)
    return 0.0;
  gint64 start = (sec - FPS_WINDOW_SLOTS + 1) * FPS_SLOT_NS;
  if (w->first_ns > start)
    start = w->first_ns;
  double span_s = (double)(now_ns - start) / 1e9;
  if (span_s < 1.0)
    span_s = 1.0;
  return (double)n / span_s;
}

StreamResults *
stream_results_new(guint history_len)
{
  g_return_val_if_fail(history_len >= 1, NULL);
  StreamResults *r = g_new0(StreamResults, 1);
  r->refcount = 1;
  g_mutex_init(&r->lock);
  g_cond_init(&r->unsubscribed);
  r->history = g_new0(Prediction, history_len);
  r->history_len = history_len;
  for (int i = 0; i < LATENCY_N_STAGES; i++)
    r->latency[i] = latency_stats_new();
  rate_init(&r->rate_in);
  rate_init(&r->rate_out);
  r->subs = g_ptr_array_new();
  r->next_sub_id = 1;
  return r;
}

StreamResults *
stream_results_ref(StreamResults *r)
{
  g_return_val_if_fail(r != NULL, NULL);
  g_atomic_int_inc(&r->refcount);
  return r;
}

void
stream_results_unref(StreamResults *r)
{
  if (!r || !g_atomic_int_dec_and_test(&r->refcount))
    return;
  /* No publisher can be running: it would hold a reference. */
  for (guint i = 0; i < r->subs->len; i++)
    g_free(g_ptr_array_index(r->subs, i));
  g_ptr_array_free(r->subs, TRUE);
  for (int i = 0; i < LATENCY_N_STAGES; i++)
    latency_stats_free(r->latency[i]);
  g_free(r->history);
  g_cond_clear(&r->unsubscribed);
  g_mutex_clear(&r->lock);
  g_free(r);
}

/* Drops a reference on s; r->lock held. */
static void
sub_unref_locked(StreamResults *r, Subscriber *s)
{
  if (--s->refs == 0)
    g_free(s);
}

void
stream_results_publish(StreamResults *r, Prediction *p)
{
  Subscriber *stack_subs[SUBS_ON_STACK];
  Subscriber **subs = stack_subs;
  guint n_subs = 0;
  gint64 now = mono_ns();
  gint64 now_wall = g_get_real_time();

  g_mutex_lock(&r->lock);
  p->seq = ++r->seq;
  p->published_mono_ns = now;
  r->latest = *p;
  r->have_latest = TRUE;
  r->history[r->history_head] = *p;
  r->history_head = (r->history_head + 1) % r->history_len;
  if (r->history_count < r->history_len)
    r->history_count++;
  r->counters[RESULTS_INFERRED]++;
  r->last_prediction_wall_us = now_wall;
  rate_add(&r->rate_out, now, 1);
  latency_stats_add(r->latency[LATENCY_STAGE_QUEUE], now, p->queue_ms);
  latency_stats_add(r->latency[LATENCY_STAGE_PREPROCESS], now,
                    p->preprocess_ms);
  latency_stats_add(r->latency[LATENCY_STAGE_INFER], now, p->infer_ms);
  latency_stats_add(r->latency[LATENCY_STAGE_E2E], now, p->e2e_ms);
  if (r->subs->len > SUBS_ON_STACK)
    subs = g_new(Subscriber *, r->subs->len);
  for (guint i = 0; i < r->subs->len; i++) {
    Subscriber *s = g_ptr_array_index(r->subs, i);
    s->refs++;
    s->calls++;
    subs[n_subs++] = s;
  }
  g_mutex_unlock(&r->lock);

  if (!n_subs)
    return;
  const Subscriber *outer = calling_sub;
  for (guint i = 0; i < n_subs; i++) {
    Subscriber *s = subs[i];
    /* A subscriber removed after the snapshot is skipped: once unsubscribe
     * has unlinked it, no new call may start. The flag is read without the
     * lock; a stale FALSE only means one last call that unsubscribe waits
     * for anyway. */
    if (!g_atomic_int_get(&s->removed)) {
      calling_sub = s;
      s->cb(p, s->user);
    }
  }
  calling_sub = outer;

  g_mutex_lock(&r->lock);
  for (guint i = 0; i < n_subs; i++) {
    subs[i]->calls--;
    sub_unref_locked(r, subs[i]);
  }
  g_cond_broadcast(&r->unsubscribed);
  g_mutex_unlock(&r->lock);
  if (subs != stack_subs)
    g_free(subs);
}

void
stream_results_count(StreamResults *r, ResultsCounter c, guint64 n)
{
  g_return_if_fail(c >= 0 && c < RESULTS_N_COUNTERS);
  gint64 now = c == RESULTS_RECEIVED ? mono_ns() : 0;
  g_mutex_lock(&r->lock);
  r->counters[c] += n;
  if (c == RESULTS_RECEIVED)
    rate_add(&r->rate_in, now, n);
  g_mutex_unlock(&r->lock);
}

gboolean
stream_results_copy_latest(StreamResults *r, Prediction *out)
{
  g_mutex_lock(&r->lock);
  gboolean have = r->have_latest;
  if (have)
    *out = r->latest;
  g_mutex_unlock(&r->lock);
  return have;
}

guint
stream_results_copy_history(StreamResults *r, guint64 since_seq,
                            gint64 since_mono_ns, Prediction *out, guint cap)
{
  if (!cap)
    return 0;
  g_mutex_lock(&r->lock);
  /* Walk from the newest back, counting the matches up to cap, then copy
   * those oldest first. */
  guint len = r->history_len, count = r->history_count;
  guint oldest = (r->history_head + len - count) % len;
  guint matched = 0;
  guint first = count; /* age index (0 = oldest) of the oldest match kept */
  for (guint a = count; a-- > 0 && matched < cap;) {
    const Prediction *p = &r->history[(oldest + a) % len];
    if (p->seq > since_seq && p->capture_mono_ns >= since_mono_ns) {
      matched++;
      first = a;
    }
  }
  guint n = 0;
  for (guint a = first; a < count && n < matched; a++) {
    const Prediction *p = &r->history[(oldest + a) % len];
    if (p->seq > since_seq && p->capture_mono_ns >= since_mono_ns)
      out[n++] = *p;
  }
  g_mutex_unlock(&r->lock);
  return n;
}

void
stream_results_copy_stats(StreamResults *r, gint64 now_mono_ns,
                          ResultsStats *out)
{
  memset(out, 0, sizeof *out);
  g_mutex_lock(&r->lock);
  memcpy(out->counters, r->counters, sizeof out->counters);
  out->fps_in = rate_fps(&r->rate_in, now_mono_ns);
  out->fps_out = rate_fps(&r->rate_out, now_mono_ns);
  for (int i = 0; i < LATENCY_N_STAGES; i++) {
    latency_stats_summary(r->latency[i], now_mono_ns, TRUE, &out->window[i]);
    latency_stats_summary(r->latency[i], now_mono_ns, FALSE,
                          &out->since_start[i]);
  }
  out->last_prediction_wall_us = r->last_prediction_wall_us;
  g_mutex_unlock(&r->lock);
}

double
stream_results_fps_in(StreamResults *r, gint64 now_mono_ns)
{
  g_mutex_lock(&r->lock);
  double fps = rate_fps(&r->rate_in, now_mono_ns);
  g_mutex_unlock(&r->lock);
  return fps;
}

void
stream_results_copy_prometheus(StreamResults *r, LatencyStage stage,
                               guint64 cumulative[LATENCY_PROM_NBUCKETS],
                               guint64 *count, double *sum_s)
{
  g_return_if_fail(stage >= 0 && stage < LATENCY_N_STAGES);
  g_mutex_lock(&r->lock);
  latency_stats_prometheus(r->latency[stage], cumulative, count, sum_s);
  g_mutex_unlock(&r->lock);
}

guint
stream_results_subscribe(StreamResults *r, ResultsSubscriber cb,
                         gpointer user)
{
  g_return_val_if_fail(cb != NULL, 0);
  Subscriber *s = g_new0(Subscriber, 1);
  s->cb = cb;
  s->user = user;
  s->refs = 1;
  g_mutex_lock(&r->lock);
  s->id = r->next_sub_id++;
  if (!r->next_sub_id) /* 0 is never a valid id */
    r->next_sub_id = 1;
  g_ptr_array_add(r->subs, s);
  g_mutex_unlock(&r->lock);
  return s->id;
}

void
stream_results_unsubscribe(StreamResults *r, guint id)
{
  g_mutex_lock(&r->lock);
  Subscriber *s = NULL;
  for (guint i = 0; i < r->subs->len; i++) {
    Subscriber *c = g_ptr_array_index(r->subs, i);
    if (c->id == id) {
      s = c;
      g_ptr_array_remove_index(r->subs, i);
      break;
    }
  }
  if (!s) {
    g_mutex_unlock(&r->lock);
    return;
  }
  g_atomic_int_set(&s->removed, TRUE);
  /* Our own call, when unsubscribing from inside the callback, cannot end
   * while we wait: do not count it. */
  int own = calling_sub == s ? 1 : 0;
  while (s->calls > own)
    g_cond_wait(&r->unsubscribed, &r->lock);
  sub_unref_locked(r, s);
  g_mutex_unlock(&r->lock);
}
