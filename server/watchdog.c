/* streamsight — the process watchdog (see watchdog.h). */
#define G_LOG_DOMAIN "streamsight"

#include "watchdog.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Tasks watched at once: HTTP handler threads plus image-job threads, with
 * room to spare; more are simply not watched. */
#define WATCHDOG_SLOTS 64
#define WATCHDOG_WHAT_MAX 80
/* The heartbeat's period on the main loop. */
#define HEARTBEAT_MS 1000
/* The watchdog thread itself not scheduled for this long (and at least 5
 * check periods) means the whole process was stopped: `docker pause`,
 * SIGSTOP, a debugger, a suspended VM. Nothing is stuck then; the clocks
 * restart instead of the watchdog firing on resume. */
#define PAUSE_MIN_US (5 * G_USEC_PER_SEC)

typedef struct {
  gint64 start_us; /* 0: free */
  char what[WATCHDOG_WHAT_MAX];
} Slot;

struct Watchdog {
  GMainContext *ctx;
  GSource *heartbeat;
  GThread *thread;
  GMainContext *signal_ctx; /* shutdown_on_signal_s: its own loop */
  GMainLoop *signal_loop;
  GThread *signal_thread;
  WatchdogOptions opt;
  gint64 beat_us;      /* atomic: last heartbeat, monotonic */

  GMutex lock;         /* protects everything below */
  GCond cond;
  gboolean quit;
  gboolean shutting_down;
  gint64 shutdown_deadline_us;
  gint64 last_check_us;
  Slot slots[WATCHDOG_SLOTS];
};

static gboolean
heartbeat_cb(gpointer user)
{
  Watchdog *w = user;
  __atomic_store_n(&w->beat_us, g_get_monotonic_time(), __ATOMIC_RELAXED);
  return G_SOURCE_CONTINUE;
}

static void
fire_default(const char *why, int status, gpointer user)
{
  /* g_critical goes to stderr (the journal, docker logs); flush what the
   * process printed before leaving without running exit handlers (a
   * wedged thread may hold locks they need). */
  g_critical("watchdog: %s; exiting with status %d", why, status);
  fflush(stdout);
  fflush(stderr);
  _exit(status);
}

/* Under w->lock: why to fire now (newly allocated), or NULL. */
static char *
check_locked(Watchdog *w, gint64 now, int *status)
{
  if (w->shutting_down) {
    if (now < w->shutdown_deadline_us)
      return NULL;
    *status = 0;
    for (int i = 0; i < WATCHDOG_SLOTS; i++)
      if (w->slots[i].start_us)
        return g_strdup_printf("shutdown still not finished at its deadline "
                               "(an HTTP task has run %.0f s: %s)",
                               (double)(now - w->slots[i].start_us) / 1e6,
                               w->slots[i].what);
    return g_strdup("shutdown still not finished at its deadline");
  }
  *status = WATCHDOG_EXIT_CODE;
  {
    gint64 gap = now - w->last_check_us;
    gint64 pause_min =
        MAX(PAUSE_MIN_US, (gint64)(5 * w->opt.check_s * G_USEC_PER_SEC));
    w->last_check_us = now;
    if (gap >= pause_min) {
      /* Everything stood still together: restart the clocks. */
      g_message("watchdog: the process was stopped for %.0f s (paused?); "
                "not counted", (double)gap / 1e6);
      __atomic_store_n(&w->beat_us, now, __ATOMIC_RELAXED);
      for (int i = 0; i < WATCHDOG_SLOTS; i++)
        if (w->slots[i].start_us)
          w->slots[i].start_us += gap;
      return NULL;
    }
  }
  if (w->opt.loop_stall_s > 0) {
    gint64 beat = __atomic_load_n(&w->beat_us, __ATOMIC_RELAXED);
    double silent_s = (double)(now - beat) / 1e6;
    if (silent_s >= w->opt.loop_stall_s)
      return g_strdup_printf("the main loop has not run for %.0f s (limit "
                             "%.0f s): streams are no longer supervised",
                             silent_s, w->opt.loop_stall_s);
  }
  if (w->opt.task_stall_s > 0) {
    for (int i = 0; i < WATCHDOG_SLOTS; i++) {
      double run_s;
      if (!w->slots[i].start_us)
        continue;
      run_s = (double)(now - w->slots[i].start_us) / 1e6;
      if (run_s >= w->opt.task_stall_s)
        return g_strdup_printf("an HTTP task has run for %.0f s (limit %.0f "
                               "s): %s", run_s, w->opt.task_stall_s,
                               w->slots[i].what);
    }
  }
  return NULL;
}

static gpointer
watchdog_thread(gpointer p)
{
  Watchdog *w = p;
  g_mutex_lock(&w->lock);
  while (!w->quit) {
    gint64 now = g_get_monotonic_time();
    int status = 0;
    char *why = check_locked(w, now, &status);
    if (why) {
      g_mutex_unlock(&w->lock);
      (w->opt.fire ? w->opt.fire : fire_default)(why, status,
                                                 w->opt.fire_user);
      g_free(why);
      return NULL; /* fired once: watch no more */
    }
    g_cond_wait_until(&w->cond, &w->lock,
                      now + (gint64)(w->opt.check_s * G_USEC_PER_SEC));
  }
  g_mutex_unlock(&w->lock);
  return NULL;
}

/* The signal thread: SIGTERM or SIGINT, whatever the main loop does. */
static gboolean
on_signal(gpointer user)
{
  Watchdog *w = user;
  watchdog_shutdown(w, w->opt.shutdown_on_signal_s);
  return G_SOURCE_CONTINUE;
}

static gpointer
signal_thread(gpointer p)
{
  Watchdog *w = p;
  g_main_context_push_thread_default(w->signal_ctx);
  g_main_loop_run(w->signal_loop);
  g_main_context_pop_thread_default(w->signal_ctx);
  return NULL;
}

Watchdog *
watchdog_new(GMainContext *ctx, const WatchdogOptions *o)
{
  Watchdog *w = g_new0(Watchdog, 1);
  w->ctx = g_main_context_ref(ctx);
  w->opt = *o;
  if (!(w->opt.check_s > 0))
    w->opt.check_s = 1.0;
  g_mutex_init(&w->lock);
  g_cond_init(&w->cond);
  w->beat_us = g_get_monotonic_time();
  w->last_check_us = w->beat_us;
  w->heartbeat = g_timeout_source_new(HEARTBEAT_MS);
  /* Above the default priority: a busy but healthy loop still beats. */
  g_source_set_priority(w->heartbeat, G_PRIORITY_HIGH);
  g_source_set_callback(w->heartbeat, heartbeat_cb, w, NULL);
  g_source_attach(w->heartbeat, ctx);
  w->thread = g_thread_new("ss-watchdog", watchdog_thread, w);
  if (w->opt.shutdown_on_signal_s > 0) {
    const int sigs[] = { SIGTERM, SIGINT };
    w->signal_ctx = g_main_context_new();
    w->signal_loop = g_main_loop_new(w->signal_ctx, FALSE);
    for (gsize i = 0; i < G_N_ELEMENTS(sigs); i++) {
      GSource *src = g_unix_signal_source_new(sigs[i]);
      g_source_set_callback(src, on_signal, w, NULL);
      g_source_attach(src, w->signal_ctx);
      g_source_unref(src);
    }
    w->signal_thread = g_thread_new("ss-signals", signal_thread, w);
  }
  return w;
}

void
watchdog_free(Watchdog *w)
{
  if (!w)
    return;
  g_mutex_lock(&w->lock);
  w->quit = TRUE;
  g_cond_broadcast(&w->cond);
  g_mutex_unlock(&w->lock);
  g_thread_join(w->thread);
  if (w->signal_thread) {
    g_main_loop_quit(w->signal_loop);
    g_thread_join(w->signal_thread);
    g_main_loop_unref(w->signal_loop);
    g_main_context_unref(w->signal_ctx);
  }
  g_source_destroy(w->heartbeat);
  g_source_unref(w->heartbeat);
  g_main_context_unref(w->ctx);
  g_cond_clear(&w->cond);
  g_mutex_clear(&w->lock);
  g_free(w);
}

guint
watchdog_task_begin(Watchdog *w, const char *what)
{
  guint token = 0;
  if (!w)
    return 0;
  g_mutex_lock(&w->lock);
  for (int i = 0; i < WATCHDOG_SLOTS; i++) {
    if (w->slots[i].start_us)
      continue;
    w->slots[i].start_us = g_get_monotonic_time();
    g_strlcpy(w->slots[i].what, what ? what : "?", WATCHDOG_WHAT_MAX);
    /* A request path is the client's: keep the log line one line. */
    for (char *c = w->slots[i].what; *c; c++)
      if ((guchar)*c < 0x20 || (guchar)*c == 0x7f)
        *c = '?';
    token = (guint)i + 1;
    break;
  }
  g_mutex_unlock(&w->lock);
  return token;
}

void
watchdog_task_end(Watchdog *w, guint token)
{
  if (!w || token == 0 || token > WATCHDOG_SLOTS)
    return;
  g_mutex_lock(&w->lock);
  w->slots[token - 1].start_us = 0;
  g_mutex_unlock(&w->lock);
}

void
watchdog_shutdown(Watchdog *w, double timeout_s)
{
  if (!w)
    return;
  gint64 deadline =
      g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);
  g_mutex_lock(&w->lock);
  if (!w->shutting_down || deadline < w->shutdown_deadline_us)
    w->shutdown_deadline_us = deadline;
  w->shutting_down = TRUE;
  g_cond_broadcast(&w->cond);
  g_mutex_unlock(&w->lock);
}
