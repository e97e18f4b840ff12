/* streamsight — tests for server/watchdog.c: it fires when the main loop
 * stops iterating or a task runs too long, not before, and bounds the
 * shutdown. The fire function is the test's (the real one exits). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "testutil.h"
#include "watchdog.h"

typedef struct {
  GMutex lock;
  int fired;
  int status;
  char *why;
  gint64 at_us;
} Fired;

static void
on_fire(const char *why, int status, gpointer user)
{
  Fired *f = user;
  g_mutex_lock(&f->lock);
  f->fired++;
  f->status = status;
  g_free(f->why);
  f->why = g_strdup(why);
  f->at_us = g_get_monotonic_time();
  g_mutex_unlock(&f->lock);
}

static int
fired(Fired *f)
{
  int n;
  g_mutex_lock(&f->lock);
  n = f->fired;
  g_mutex_unlock(&f->lock);
  return n;
}

/* Runs ctx for secs (as a healthy main loop would), looking every
 * period_us. */
static void
iterate_every(GMainContext *ctx, double secs, gulong period_us)
{
  gint64 end = g_get_monotonic_time() + (gint64)(secs * G_USEC_PER_SEC);
  while (g_get_monotonic_time() < end) {
    while (g_main_context_iteration(ctx, FALSE))
      ;
    g_usleep(period_us);
  }
}

static void
iterate_for(GMainContext *ctx, double secs)
{
  iterate_every(ctx, secs, 10000);
}

static gboolean
wait_fired(Fired *f, double secs)
{
  gint64 end = g_get_monotonic_time() + (gint64)(secs * G_USEC_PER_SEC);
  while (!fired(f) && g_get_monotonic_time() < end)
    g_usleep(10000);
  return fired(f) > 0;
}

START_TEST(test_loop_stall)
{
  GMainContext *ctx = g_main_context_new();
  Fired f = { 0 };
  WatchdogOptions o = {
    .loop_stall_s = 2.0, .check_s = 0.1, .fire = on_fire, .fire_user = &f,
  };
  Watchdog *w = watchdog_new(ctx, &o);
  gint64 stalled_at;
  /* A loop that runs is left alone, however long. */
  iterate_for(ctx, 4.0);
  ck_assert_int_eq(fired(&f), 0);
  /* One that stops is not. */
  stalled_at = g_get_monotonic_time();
  ck_assert(wait_fired(&f, 30));
  ck_assert_int_eq(f.status, WATCHDOG_EXIT_CODE);
  ck_assert_msg(strstr(f.why, "main loop") != NULL, "why: %s", f.why);
  ck_assert_msg(f.at_us - stalled_at >= 900000, "fired %.2f s after the "
                "last iteration", (f.at_us - stalled_at) / 1e6);
  printf("loop: %s\n", f.why);
  /* Once only. */
  g_usleep(500000);
  ck_assert_int_eq(fired(&f), 1);
  watchdog_free(w);
  g_main_context_unref(ctx);
  g_free(f.why);
}
END_TEST

START_TEST(test_task_stall)
{
  GMainContext *ctx = g_main_context_new();
  Fired f = { 0 };
  WatchdogOptions o = {
    .task_stall_s = 1.0, .check_s = 0.1, .fire = on_fire, .fire_user = &f,
  };
  Watchdog *w = watchdog_new(ctx, &o);
  guint t;
  /* Short tasks, many at once, and the loop not watched (0). */
  for (int i = 0; i < 100; i++) {
    guint a = watchdog_task_begin(w, "GET /healthz");
    guint b = watchdog_task_begin(w, "GET /metrics");
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(b, a);
    g_usleep(5000);
    watchdog_task_end(w, b);
    watchdog_task_end(w, a);
  }
  ck_assert_int_eq(fired(&f), 0);
  t = watchdog_task_begin(w, "DELETE /api/v1/streams/cam\n\x1b[31mx");
  ck_assert(wait_fired(&f, 30));
  ck_assert_int_eq(f.status, WATCHDOG_EXIT_CODE);
  ck_assert_msg(strstr(f.why, "DELETE /api/v1/streams/cam??[31mx") != NULL,
                "why: %s", f.why);
  printf("task: %s\n", f.why);
  watchdog_task_end(w, t);
  watchdog_task_end(w, 0);        /* untracked: nothing */
  watchdog_task_end(NULL, 1);
  ck_assert_uint_eq(watchdog_task_begin(NULL, "x"), 0);
  watchdog_free(w);
  g_main_context_unref(ctx);
  g_free(f.why);
}
END_TEST

/* After the loop has quit on purpose it is no longer watched; the shutdown
 * deadline fires with status 0. */
START_TEST(test_shutdown_deadline)
{
  GMainContext *ctx = g_main_context_new();
  Fired f = { 0 };
  WatchdogOptions o = {
    .loop_stall_s = 0.5, .check_s = 0.1, .fire = on_fire, .fire_user = &f,
  };
  Watchdog *w = watchdog_new(ctx, &o);
  gint64 t0;
  iterate_for(ctx, 0.3);
  t0 = g_get_monotonic_time();
  watchdog_shutdown(w, 2.0);
  ck_assert(wait_fired(&f, 30));
  ck_assert_int_eq(f.status, 0);
  ck_assert_msg(strstr(f.why, "shutdown") != NULL, "why: %s", f.why);
  ck_assert_msg(f.at_us - t0 >= 1900000, "fired %.2f s into the shutdown",
                (f.at_us - t0) / 1e6);
  watchdog_free(w);
  g_main_context_unref(ctx);
  g_free(f.why);
}
END_TEST

/* SIGTERM while the main loop is wedged (nobody iterates the context, so
 * its own handler would never run): the watchdog hears the signal itself
 * and exits 0 at the shutdown deadline. */
START_TEST(test_signal_with_wedged_loop)
{
  GMainContext *ctx = g_main_context_new();
  Fired f = { 0 };
  WatchdogOptions o = {
    .check_s = 0.1, .shutdown_on_signal_s = 1.0, .fire = on_fire,
    .fire_user = &f,
  };
  Watchdog *w = watchdog_new(ctx, &o);
  gint64 t0;
  g_usleep(300000);
  ck_assert_int_eq(fired(&f), 0);
  t0 = g_get_monotonic_time();
  ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
  ck_assert(wait_fired(&f, 30));
  ck_assert_int_eq(f.status, 0);
  ck_assert_msg(strstr(f.why, "shutdown") != NULL, "why: %s", f.why);
  ck_assert_msg(f.at_us - t0 >= 900000, "fired %.2f s after SIGTERM",
                (f.at_us - t0) / 1e6);
  printf("signal: %s, %.2f s after SIGTERM\n", f.why, (f.at_us - t0) / 1e6);
  watchdog_free(w);
  g_main_context_unref(ctx);
  g_free(f.why);
}
END_TEST

/* The whole process stopped (as `docker pause` or SIGSTOP do) for longer
 * than the loop threshold: nothing was stuck, so nothing fires on resume.
 * In a child process, which the test stops and continues; the child's loop
 * waits on a pipe across the pause, so that the watchdog certainly looks
 * before the loop runs again. */
START_TEST(test_pause_not_counted)
{
  int status = 0, ready[2], go[2];
  char byte = 0;
  pid_t pid;
  ck_assert_int_eq(pipe(ready), 0);
  ck_assert_int_eq(pipe(go), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    GMainContext *ctx = g_main_context_new();
    Fired f = { 0 };
    WatchdogOptions o = {
      .loop_stall_s = 2.0, .check_s = 0.1, .fire = on_fire, .fire_user = &f,
    };
    Watchdog *w = watchdog_new(ctx, &o);
    iterate_for(ctx, 1.0);
    if (write(ready[1], "r", 1) != 1 || read(go[0], &byte, 1) != 1)
      _exit(5);
    /* Stopped for 7 s, then 0.5 s more here: the loop was silent for 0.5 s
     * of the process's running time. */
    iterate_for(ctx, 1.0);
    if (fired(&f))
      _exit(3);
    /* And it does watch: a real stall fires. */
    if (!wait_fired(&f, 20))
      _exit(4);
    watchdog_free(w);
    _exit(0);
  }
  ck_assert_int_eq(read(ready[0], &byte, 1), 1);
  ck_assert_int_eq(kill(pid, SIGSTOP), 0);
  g_usleep(7 * G_USEC_PER_SEC);
  ck_assert_int_eq(kill(pid, SIGCONT), 0);
  g_usleep(500000);
  ck_assert_int_eq(write(go[1], "g", 1), 1);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "status 0x%x", status);
  ck_assert_msg(WEXITSTATUS(status) != 3, "the watchdog fired after a pause");
  ck_assert_msg(WEXITSTATUS(status) != 4, "the watchdog did not fire on a "
                "real stall after the pause");
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  for (int k = 0; k < 2; k++) {
    close(ready[k]);
    close(go[k]);
  }
}
END_TEST

static Suite *
watchdog_suite(void)
{
  Suite *s = suite_create("watchdog");
  TCase *tc = tcase_create("watchdog");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_loop_stall);
  tcase_add_test(tc, test_task_stall);
  tcase_add_test(tc, test_shutdown_deadline);
  tcase_add_test(tc, test_pause_not_counted);
  tcase_add_test(tc, test_signal_with_wedged_loop);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(watchdog_suite());
}
