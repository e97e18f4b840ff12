/* streamsight — tests for pipeline/pipeline-runner.c (state changes off the
 * main loop, the stop deadline, abandoning) and pipeline/socket-cut.c.
 *
 * The pipelines hold one element of a type defined here whose state change
 * waits on a gate the test opens: a stand-in for rtspsrc waiting on a
 * camera that never lets go. No main loop runs in this binary at all, which
 * also shows that nothing the runner does needs one.
 */
#include <check.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pipeline-runner.h"
#include "socket-cut.h"
#include "testutil.h"

/* ---- an element whose state change can block ---- */

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean open;
  GstStateChange blocks;  /* the transition that waits for the gate */
  int waiting;            /* threads waiting at the gate */
} Gate;

static Gate gate;

static void
gate_reset(GstStateChange blocks, gboolean open)
{
  g_mutex_lock(&gate.lock);
  gate.open = open;
  gate.blocks = blocks;
  gate.waiting = 0;
  g_mutex_unlock(&gate.lock);
}

static void
gate_open(void)
{
  g_mutex_lock(&gate.lock);
  gate.open = TRUE;
  g_cond_broadcast(&gate.cond);
  g_mutex_unlock(&gate.lock);
}

/* Waits up to timeout_s for a thread to be waiting at the gate. */
static gboolean
gate_wait_blocked(double timeout_s)
{
  gint64 end = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);
  gboolean blocked;
  g_mutex_lock(&gate.lock);
  while (gate.waiting == 0 &&
         g_cond_wait_until(&gate.cond, &gate.lock, end))
    ;
  blocked = gate.waiting > 0;
  g_mutex_unlock(&gate.lock);
  return blocked;
}

typedef struct {
  GstElement parent;
} SsBlock;
typedef struct {
  GstElementClass parent_class;
} SsBlockClass;

GType ss_block_get_type(void);
G_DEFINE_TYPE(SsBlock, ss_block, GST_TYPE_ELEMENT)

static GstStateChangeReturn
ss_block_change_state(GstElement *e, GstStateChange t)
{
  g_mutex_lock(&gate.lock);
  if (t == gate.blocks) {
    gate.waiting++;
    g_cond_broadcast(&gate.cond);
    while (!gate.open)
      g_cond_wait(&gate.cond, &gate.lock);
    gate.waiting--;
  }
  g_mutex_unlock(&gate.lock);
  return GST_ELEMENT_CLASS(ss_block_parent_class)->change_state(e, t);
}

static void
ss_block_class_init(SsBlockClass *klass)
{
  GST_ELEMENT_CLASS(klass)->change_state = ss_block_change_state;
}

static void
ss_block_init(SsBlock *self)
{
}

static GstElement *
blocking_pipeline(void)
{
  GstElement *pipe = gst_pipeline_new(NULL);
  gst_bin_add(GST_BIN(pipe), g_object_new(ss_block_get_type(), NULL));
  return pipe;
}

/* ---- hooks that count ---- */

typedef struct {
  gint cut, abandoned, finished, finished_abandoned; /* atomic */
  gboolean open_on_cut;
} Hooks;

static gboolean
on_cut(gpointer user)
{
  Hooks *h = user;
  g_atomic_int_inc(&h->cut);
  if (h->open_on_cut)
    gate_open();
  return h->open_on_cut; /* "cut something" only when it frees the gate */
}

static void
on_abandoned(gpointer user)
{
  g_atomic_int_inc(&((Hooks *)user)->abandoned);
}

static void
on_finished(gpointer user, gboolean was_abandoned)
{
  Hooks *h = user;
  if (was_abandoned)
    g_atomic_int_inc(&h->finished_abandoned);
  g_atomic_int_inc(&h->finished);
}

static const PipelineRunnerHooks hooks = {
  .cut = on_cut,
  .abandoned = on_abandoned,
  .finished = on_finished,
};

static gboolean
wait_atomic(gint *v, gint want, double timeout_s)
{
  gint64 end = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);
  while (g_atomic_int_get(v) < want && g_get_monotonic_time() < end)
    g_usleep(5000);
  return g_atomic_int_get(v) >= want;
}

static PipelineRunner *
start_runner(RunnerSet *set, GstElement **pipe_out)
{
  GError *e = NULL;
  GstElement *pipe = blocking_pipeline();
  PipelineRunner *r = pipeline_runner_new(set, pipe, &e);
  ck_assert_msg(r != NULL, "runner: %s", e ? e->message : "?");
  if (pipe_out)
    *pipe_out = pipe;
  else
    gst_object_unref(pipe);
  return r;
}

static void
setup(void)
{
  gst_init(NULL, NULL);
}

/* A healthy pipeline: PLAYING reported, stopped at once, nothing cut or
 * abandoned, everything released. */
START_TEST(test_play_and_stop)
{
  RunnerSet *set = runner_set_new();
  GstElement *pipe;
  GstStateChangeReturn ret = GST_STATE_CHANGE_FAILURE;
  Hooks h = { 0 };
  RunnerSetStats st;
  gint64 end;

  gate_reset(GST_STATE_CHANGE_PAUSED_TO_READY, TRUE);
  PipelineRunner *r = start_runner(set, &pipe);
  ck_assert(!pipeline_runner_play_result(r, &ret));
  pipeline_runner_play(r);
  end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (!pipeline_runner_play_result(r, &ret) &&
         g_get_monotonic_time() < end)
    g_usleep(2000);
  ck_assert_int_eq(ret, GST_STATE_CHANGE_SUCCESS);
  ck_assert_int_eq(GST_STATE(pipe), GST_STATE_PLAYING);

  pipeline_runner_stop(r, 2 * G_USEC_PER_SEC, 5 * G_USEC_PER_SEC, &hooks, &h,
                       NULL);
  ck_assert_uint_eq(runner_set_wait(set, 10 * G_USEC_PER_SEC), 0);
  ck_assert_int_eq(g_atomic_int_get(&h.finished), 1);
  ck_assert_int_eq(g_atomic_int_get(&h.finished_abandoned), 0);
  ck_assert_int_eq(g_atomic_int_get(&h.cut), 0);
  ck_assert_int_eq(g_atomic_int_get(&h.abandoned), 0);
  ck_assert_int_eq(GST_STATE(pipe), GST_STATE_NULL);
  /* The runner dropped its reference: ours is the last. */
  ck_assert_int_eq(GST_OBJECT_REFCOUNT_VALUE(pipe), 1);
  runner_set_stats(set, &st);
  ck_assert_uint_eq(st.running, 0);
  ck_assert_uint_eq(st.stopping, 0);
  ck_assert_uint_eq(st.abandoned, 0);
  ck_assert_uint_eq(st.abandoned_total, 0);
  ck_assert_uint_eq(st.cut_total, 0);
  gst_object_unref(pipe);
  runner_set_unref(set);
}
END_TEST

/* The state change to NULL never returns by itself: the cut hook runs at
 * cut_after, the pipeline is abandoned at the deadline (and the caller,
 * who only asked, never waited), and when the gate finally opens the
 * runner still finishes and frees everything. */
START_TEST(test_stuck_stop_is_abandoned)
{
  RunnerSet *set = runner_set_new();
  GstElement *pipe;
  GstStateChangeReturn ret;
  Hooks h = { 0 };
  RunnerSetStats st;
  gint64 t0, asked_us, waited_us;

  gate_reset(GST_STATE_CHANGE_PAUSED_TO_READY, FALSE);
  PipelineRunner *r = start_runner(set, &pipe);
  pipeline_runner_play(r);
  t0 = g_get_monotonic_time();
  while (!pipeline_runner_play_result(r, &ret))
    g_usleep(2000);
  ck_assert_int_eq(ret, GST_STATE_CHANGE_SUCCESS);

  t0 = g_get_monotonic_time();
  pipeline_runner_stop(r, 200000, 600000, &hooks, &h, NULL);
  asked_us = g_get_monotonic_time() - t0;
  ck_assert_msg(asked_us < G_USEC_PER_SEC, "stop blocked the caller for "
                "%.2f s", asked_us / 1e6);
  ck_assert(gate_wait_blocked(10));
  runner_set_stats(set, &st);
  ck_assert_uint_eq(st.running, 1);

  /* Returns once the pipeline is abandoned, not when it stops. */
  ck_assert_uint_eq(runner_set_wait(set, 20 * G_USEC_PER_SEC), 1);
  waited_us = g_get_monotonic_time() - t0;
  ck_assert_msg(waited_us >= 550000 && waited_us < 15 * G_USEC_PER_SEC,
                "abandoned after %.2f s (deadline 0.6 s)", waited_us / 1e6);
  ck_assert(wait_atomic(&h.abandoned, 1, 5));
  ck_assert_int_eq(g_atomic_int_get(&h.cut), 1);
  ck_assert_int_eq(g_atomic_int_get(&h.finished), 0);
  runner_set_stats(set, &st);
  ck_assert_uint_eq(st.running, 1);
  ck_assert_uint_eq(st.stopping, 0);
  ck_assert_uint_eq(st.abandoned, 1);
  ck_assert_uint_eq(st.abandoned_total, 1);
  ck_assert_uint_eq(st.cut_total, 0); /* the hook cut nothing */

  gate_open();
  ck_assert(wait_atomic(&h.finished, 1, 10));
  ck_assert_int_eq(g_atomic_int_get(&h.finished_abandoned), 1);
  ck_assert_uint_eq(runner_set_wait(set, 10 * G_USEC_PER_SEC), 0);
  runner_set_stats(set, &st);
  ck_assert_uint_eq(st.running, 0);
  ck_assert_uint_eq(st.abandoned, 0);
  ck_assert_uint_eq(st.abandoned_total, 1);
  ck_assert_int_eq(g_atomic_int_get(&h.abandoned), 1);
  ck_assert_int_eq(GST_STATE(pipe), GST_STATE_NULL);
  gst_object_unref(pipe);
  runner_set_unref(set);
}
END_TEST

/* The cut hook is what ends the wait (as shutting the camera's sockets
 * down ends rtspsrc's read): the pipeline stops, nothing is abandoned. */
START_TEST(test_cut_ends_the_wait)
{
  RunnerSet *set = runner_set_new();
  Hooks h = { .open_on_cut = TRUE };
  RunnerSetStats st;
  GstStateChangeReturn ret;

  gate_reset(GST_STATE_CHANGE_PAUSED_TO_READY, FALSE);
  PipelineRunner *r = start_runner(set, NULL);
  pipeline_runner_play(r);
  /* (A stop asked before the thread got to PLAYING skips it.) */
  while (!pipeline_runner_play_result(r, &ret))
    g_usleep(2000);
  pipeline_runner_stop(r, 200000, 5 * G_USEC_PER_SEC, &hooks, &h, NULL);
  ck_assert(wait_atomic(&h.finished, 1, 10));
  ck_assert_int_eq(g_atomic_int_get(&h.cut), 1);
  ck_assert_int_eq(g_atomic_int_get(&h.abandoned), 0);
  ck_assert_int_eq(g_atomic_int_get(&h.finished_abandoned), 0);
  ck_assert_uint_eq(runner_set_wait(set, 10 * G_USEC_PER_SEC), 0);
  runner_set_stats(set, &st);
  ck_assert_uint_eq(st.abandoned_total, 0);
  ck_assert_uint_eq(st.cut_total, 1);
  runner_set_unref(set);
}
END_TEST

/* A start that never returns (the pipeline's PLAYING waits for good): no
 * result is reported, and the stop queued behind it is abandoned at its
 * deadline; many such pipelines are abandoned in parallel, not one after
 * another. */
START_TEST(test_stuck_start_many)
{
  enum { N = 4 };
  RunnerSet *set = runner_set_new();
  Hooks h = { 0 };
  GstStateChangeReturn ret;
  PipelineRunner *r[N];
  gint64 t0;
  double waited_s;

  gate_reset(GST_STATE_CHANGE_READY_TO_PAUSED, FALSE);
  for (int i = 0; i < N; i++) {
    r[i] = start_runner(set, NULL);
    pipeline_runner_play(r[i]);
  }
  ck_assert(gate_wait_blocked(10));
  g_usleep(100000);
  for (int i = 0; i < N; i++)
    ck_assert_msg(!pipeline_runner_play_result(r[i], &ret), "runner %d", i);
  t0 = g_get_monotonic_time();
  for (int i = 0; i < N; i++)
    pipeline_runner_stop(r[i], 100000, G_USEC_PER_SEC, &hooks, &h, NULL);
  ck_assert_uint_eq(runner_set_wait(set, 30 * G_USEC_PER_SEC), N);
  waited_s = (g_get_monotonic_time() - t0) / 1e6;
  printf("%d stuck starts abandoned after %.2f s (deadline 1 s each)\n", N,
         waited_s);
  ck_assert_msg(waited_s < 0.5 * N + 1.0 * 10, "took %.2f s", waited_s);
  ck_assert(wait_atomic(&h.abandoned, N, 5));
  gate_open();
  ck_assert(wait_atomic(&h.finished, N, 10));
  ck_assert_int_eq(g_atomic_int_get(&h.finished_abandoned), N);
  ck_assert_uint_eq(runner_set_wait(set, 10 * G_USEC_PER_SEC), 0);
  runner_set_unref(set);
}
END_TEST

/* The owner drops the set while a runner is stuck in it (a server exiting
 * with a camera that never lets go): the set lives on until the runner
 * finishes, which then frees it (ASan and valgrind see the rest). */
START_TEST(test_set_outlives_owner)
{
  RunnerSet *set = runner_set_new();
  Hooks h = { 0 };
  GstStateChangeReturn ret;
  gate_reset(GST_STATE_CHANGE_PAUSED_TO_READY, FALSE);
  PipelineRunner *r = start_runner(set, NULL);
  pipeline_runner_play(r);
  while (!pipeline_runner_play_result(r, &ret))
    g_usleep(2000);
  pipeline_runner_stop(r, 100000, 300000, &hooks, &h, NULL);
  ck_assert_uint_eq(runner_set_wait(set, 20 * G_USEC_PER_SEC), 1);
  ck_assert(wait_atomic(&h.abandoned, 1, 5));
  runner_set_unref(set);
  g_usleep(200000);
  ck_assert_int_eq(g_atomic_int_get(&h.finished), 0);
  gate_open();
  ck_assert(wait_atomic(&h.finished, 1, 10));
  ck_assert_int_eq(g_atomic_int_get(&h.finished_abandoned), 1);
  /* The runner thread frees the set after its hook: give it a moment. */
  g_usleep(200000);
}
END_TEST

/* ---- socket_cut_peer ---- */

static GSocketConnection *
connect_to(guint16 port)
{
  GSocketClient *c = g_socket_client_new();
  GError *e = NULL;
  GSocketConnection *conn =
      g_socket_client_connect_to_host(c, "127.0.0.1", port, NULL, &e);
  ck_assert_msg(conn != NULL, "connect: %s", e ? e->message : "?");
  g_object_unref(c);
  return conn;
}

/* Connections to the given peer end (the other side reads end of file, our
 * side can no longer send); one to another port is untouched. */
START_TEST(test_socket_cut)
{
  GSocketListener *l = g_socket_listener_new();
  GError *e = NULL;
  guint16 port_cut = g_socket_listener_add_any_inet_port(l, NULL, &e);
  guint16 port_keep = g_socket_listener_add_any_inet_port(l, NULL, &e);
  ck_assert(port_cut && port_keep);
  GSocketConnection *a = connect_to(port_cut);
  GSocketConnection *a_srv = g_socket_listener_accept(l, NULL, NULL, &e);
  GSocketConnection *b = connect_to(port_keep);
  GSocketConnection *b_srv = g_socket_listener_accept(l, NULL, NULL, &e);
  ck_assert(a_srv && b_srv);
  int fd_a = g_socket_get_fd(g_socket_connection_get_socket(a));
  int fd_a_srv = g_socket_get_fd(g_socket_connection_get_socket(a_srv));
  int fd_b = g_socket_get_fd(g_socket_connection_get_socket(b));
  int fd_b_srv = g_socket_get_fd(g_socket_connection_get_socket(b_srv));
  char buf[8];

  ck_assert_uint_eq(socket_cut_peer("127.0.0.1", port_cut), 1);
  /* The server side of the cut connection sees its end. */
  ck_assert_int_eq(recv(fd_a_srv, buf, sizeof buf, 0), 0);
  ck_assert_int_lt(send(fd_a, "x", 1, MSG_NOSIGNAL), 0);
  /* The other connection still carries data both ways. */
  ck_assert_int_eq(send(fd_b, "ping", 4, MSG_NOSIGNAL), 4);
  ck_assert_int_eq(recv(fd_b_srv, buf, sizeof buf, 0), 4);
  ck_assert_int_eq(send(fd_b_srv, "pong", 4, MSG_NOSIGNAL), 4);
  ck_assert_int_eq(recv(fd_b, buf, sizeof buf, 0), 4);
  /* A name resolves; a peer nobody is connected to cuts nothing. */
  ck_assert_uint_eq(socket_cut_peer("127.0.0.2", port_cut), 0);
  ck_assert_uint_ge(socket_cut_peer("localhost", port_keep), 1);
  ck_assert_int_eq(recv(fd_b_srv, buf, sizeof buf, 0), 0);
  ck_assert_uint_eq(socket_cut_peer("no-such-host.invalid", port_cut), 0);

  g_object_unref(a);
  g_object_unref(a_srv);
  g_object_unref(b);
  g_object_unref(b_srv);
  g_object_unref(l);
}
END_TEST

static Suite *
runner_suite(void)
{
  Suite *s = suite_create("pipeline-runner");
  TCase *tc = tcase_create("runner");
  tcase_add_unchecked_fixture(tc, setup, NULL);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_play_and_stop);
  tcase_add_test(tc, test_stuck_stop_is_abandoned);
  tcase_add_test(tc, test_cut_ends_the_wait);
  tcase_add_test(tc, test_stuck_start_many);
  tcase_add_test(tc, test_set_outlives_owner);
  suite_add_tcase(s, tc);
  tc = tcase_create("socket-cut");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_socket_cut);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(runner_suite());
}
