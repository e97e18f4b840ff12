/* streamsight — a pipeline's state changes on a thread of its own, with a
 * deadline on stopping (see pipeline-runner.h).
 *
 * Locks: the set's lock protects the set's counters and list and every
 * runner's request and phase fields; the hooks and GStreamer are called
 * without it. A runner's memory is kept by a reference count: its thread
 * holds one, the owner one until stop, and the deadline thread one while it
 * calls a hook. The set lives while it has references or runners: a runner
 * counts as running until it is freed (hooks' user data released), so
 * that once runner_set_wait() says 0 no runner thread touches anything of
 * the caller's again, and whoever drops the last of both frees the set.
 */
#define G_LOG_DOMAIN "streamsight"

#include "pipeline-runner.h"

struct RunnerSet {
  GMutex lock;
  guint refs;             /* under lock, like everything below */
  GCond cond;             /* runner finished / abandoned / new stop */
  GList *stopping;        /* PipelineRunner*, stop asked, not finished */
  GThread *deadline_thread;
  gboolean quit;          /* the set is being freed */
  guint running;
  guint abandoned;
  guint64 abandoned_total;
  guint64 cut_total;
};

typedef enum {
  PHASE_IDLE,      /* created, nothing asked */
  PHASE_STOPPING,  /* stop asked, within the deadline */
  PHASE_ABANDONED, /* past the deadline */
} RunnerPhase;

struct PipelineRunner {
  gatomicrefcount ref;
  RunnerSet *set;         /* kept alive by this runner's `running` count */
  GstElement *pipeline;   /* a reference, dropped by the thread */

  /* Under set->lock. */
  gboolean play_asked, stop_asked;
  gboolean played;               /* set_state(PLAYING) returned */
  GstStateChangeReturn play_ret;
  RunnerPhase phase;
  gboolean cut_done;
  gint64 cut_at_us, deadline_us; /* monotonic */
  PipelineRunnerHooks hooks;
  gpointer hooks_user;
  GDestroyNotify hooks_destroy;
};

/* ---- the set ---- */

RunnerSet *
runner_set_new(void)
{
  RunnerSet *set = g_new0(RunnerSet, 1);
  set->refs = 1;
  g_mutex_init(&set->lock);
  g_cond_init(&set->cond);
  return set;
}

RunnerSet *
runner_set_ref(RunnerSet *set)
{
  g_mutex_lock(&set->lock);
  set->refs++;
  g_mutex_unlock(&set->lock);
  return set;
}

/* No reference and no runner is left, so the deadline thread has nothing
 * to watch. Called by whoever dropped the last of them; when that is the
 * deadline thread itself, it ends right after. */
static void
set_free(RunnerSet *set)
{
  GThread *t;
  g_mutex_lock(&set->lock);
  set->quit = TRUE;
  t = g_steal_pointer(&set->deadline_thread);
  g_cond_broadcast(&set->cond);
  g_mutex_unlock(&set->lock);
  if (t && t == g_thread_self())
    g_thread_unref(t);
  else if (t)
    g_thread_join(t);
  g_assert(set->stopping == NULL);
  g_cond_clear(&set->cond);
  g_mutex_clear(&set->lock);
  g_free(set);
}

void
runner_set_unref(RunnerSet *set)
{
  gboolean last;
  if (!set)
    return;
  g_mutex_lock(&set->lock);
  last = --set->refs == 0 && set->running == 0;
  g_mutex_unlock(&set->lock);
  if (last)
    set_free(set);
}

void
runner_set_stats(RunnerSet *set, RunnerSetStats *out)
{
  g_mutex_lock(&set->lock);
  out->running = set->running;
  out->abandoned = set->abandoned;
  out->stopping = g_list_length(set->stopping) - set->abandoned;
  out->abandoned_total = set->abandoned_total;
  out->cut_total = set->cut_total;
  g_mutex_unlock(&set->lock);
}

guint
runner_set_wait(RunnerSet *set, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time() + timeout_us;
  guint n;
  g_mutex_lock(&set->lock);
  while (set->running > set->abandoned)
    if (!g_cond_wait_until(&set->cond, &set->lock, end))
      break;
  n = set->running;
  g_mutex_unlock(&set->lock);
  return n;
}

/* ---- a runner ---- */

static PipelineRunner *
runner_ref(PipelineRunner *r)
{
  g_atomic_ref_count_inc(&r->ref);
  return r;
}

/* Returns TRUE when this freed the set (the caller must not touch it). */
static gboolean
runner_unref(PipelineRunner *r)
{
  RunnerSet *set = r->set;
  gboolean last;
  if (!g_atomic_ref_count_dec(&r->ref))
    return FALSE;
  g_assert(r->pipeline == NULL);
  if (r->hooks_destroy && r->hooks_user)
    r->hooks_destroy(r->hooks_user);
  g_free(r);
  g_mutex_lock(&set->lock);
  set->running--;
  last = set->refs == 0 && set->running == 0;
  g_cond_broadcast(&set->cond);
  g_mutex_unlock(&set->lock);
  if (last)
    set_free(set);
  return last;
}

static gpointer
runner_thread(gpointer p)
{
  PipelineRunner *r = p;
  RunnerSet *set = r->set;
  gboolean abandoned;

  g_mutex_lock(&set->lock);
  while (!r->play_asked && !r->stop_asked)
    g_cond_wait(&set->cond, &set->lock);
  if (r->play_asked && !r->stop_asked) {
    GstStateChangeReturn ret;
    g_mutex_unlock(&set->lock);
    ret = gst_element_set_state(r->pipeline, GST_STATE_PLAYING);
    g_mutex_lock(&set->lock);
    r->play_ret = ret;
    r->played = TRUE;
  }
  while (!r->stop_asked)
    g_cond_wait(&set->cond, &set->lock);
  g_mutex_unlock(&set->lock);

  /* This is the call that may never return. */
  gst_element_set_state(r->pipeline, GST_STATE_NULL);

  g_mutex_lock(&set->lock);
  abandoned = r->phase == PHASE_ABANDONED;
  if (abandoned)
    set->abandoned--;
  set->stopping = g_list_remove(set->stopping, r);
  g_mutex_unlock(&set->lock);
  if (r->hooks.finished)
    r->hooks.finished(r->hooks_user, abandoned);
  gst_clear_object(&r->pipeline);
  runner_unref(r);
  return NULL;
}

PipelineRunner *
pipeline_runner_new(RunnerSet *set, GstElement *pipeline, GError **error)
{
  PipelineRunner *r = g_new0(PipelineRunner, 1);
  GThread *t;
  g_atomic_ref_count_init(&r->ref);
  r->set = set;
  r->pipeline = gst_object_ref(pipeline);
  g_mutex_lock(&set->lock);
  set->running++;
  g_mutex_unlock(&set->lock);
  runner_ref(r); /* the thread's */
  t = g_thread_try_new("ss-pipeline", runner_thread, r, error);
  if (!t) {
    gst_clear_object(&r->pipeline);
    g_atomic_ref_count_dec(&r->ref);
    runner_unref(r); /* frees it; the caller's reference keeps the set */
    return NULL;
  }
  g_thread_unref(t); /* detached: a stuck one is never joined */
  return r;
}

void
pipeline_runner_play(PipelineRunner *r)
{
  RunnerSet *set = r->set;
  g_mutex_lock(&set->lock);
  g_assert(!r->play_asked && !r->stop_asked);
  r->play_asked = TRUE;
  g_cond_broadcast(&set->cond);
  g_mutex_unlock(&set->lock);
}

gboolean
pipeline_runner_play_result(PipelineRunner *r, GstStateChangeReturn *ret)
{
  gboolean done;
  g_mutex_lock(&r->set->lock);
  done = r->played;
  if (done)
    *ret = r->play_ret;
  g_mutex_unlock(&r->set->lock);
  return done;
}

/* ---- the deadline thread ---- */

static void
cut_and_count(PipelineRunner *r)
{
  RunnerSet *set = r->set;
  if (r->hooks.cut && r->hooks.cut(r->hooks_user)) {
    g_mutex_lock(&set->lock);
    set->cut_total++;
    g_mutex_unlock(&set->lock);
  }
}

/* The cut hook may wait on a name lookup (a camera's DNS name, with the
 * resolver's timeouts): on a thread of its own, so that the deadlines of
 * every other pipeline are kept meanwhile. Drops the reference taken for
 * it. */
static gpointer
cut_thread(gpointer p)
{
  cut_and_count(p);
  runner_unref(p);
  return NULL;
}

static gpointer
deadline_thread(gpointer p)
{
  RunnerSet *set = p;
  g_mutex_lock(&set->lock);
  while (!set->quit) {
    gint64 now = g_get_monotonic_time();
    gint64 next = now + G_USEC_PER_SEC;
    PipelineRunner *due = NULL;
    gboolean cut = FALSE;
    for (GList *l = set->stopping; l && !due; l = l->next) {
      PipelineRunner *r = l->data;
      if (r->phase != PHASE_STOPPING)
        continue;
      if (!r->cut_done && now >= r->cut_at_us) {
        r->cut_done = TRUE;
        due = runner_ref(r);
        cut = TRUE;
      } else if (now >= r->deadline_us) {
        r->phase = PHASE_ABANDONED;
        set->abandoned++;
        set->abandoned_total++;
        due = runner_ref(r);
        g_cond_broadcast(&set->cond);
      } else {
        next = MIN(next, r->cut_done ? r->deadline_us : r->cut_at_us);
      }
    }
    if (!due) {
      g_cond_wait_until(&set->cond, &set->lock, next);
      continue;
    }
    /* Hooks run outside the lock; then look again. */
    g_mutex_unlock(&set->lock);
    if (cut) {
      GThread *t = g_thread_try_new("ss-cut", cut_thread, due, NULL);
      if (t) {
        g_thread_unref(t);
        g_mutex_lock(&set->lock);
        continue;
      }
      /* No thread to spare: cut here, late deadlines rather than none. */
      cut_and_count(due);
    } else if (due->hooks.abandoned) {
      due->hooks.abandoned(due->hooks_user);
    }
    /* Dropping the runner may free the set (set_free then leaves this
     * thread to end). */
    if (runner_unref(due))
      return NULL;
    g_mutex_lock(&set->lock);
  }
  g_mutex_unlock(&set->lock);
  return NULL;
}

void
pipeline_runner_stop(PipelineRunner *r, gint64 cut_after_us,
                     gint64 deadline_us, const PipelineRunnerHooks *hooks,
                     gpointer user, GDestroyNotify destroy)
{
  RunnerSet *set = r->set;
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&set->lock);
  g_assert(!r->stop_asked);
  r->stop_asked = TRUE;
  r->phase = PHASE_STOPPING;
  r->cut_at_us = now + cut_after_us;
  r->deadline_us = now + deadline_us;
  r->cut_done = hooks->cut == NULL;
  r->hooks = *hooks;
  r->hooks_user = user;
  r->hooks_destroy = destroy;
  set->stopping = g_list_prepend(set->stopping, r);
  if (!set->deadline_thread)
    set->deadline_thread =
        g_thread_new("ss-deadlines", deadline_thread, set);
  g_cond_broadcast(&set->cond);
  g_mutex_unlock(&set->lock);
  runner_unref(r); /* the owner's */
}
