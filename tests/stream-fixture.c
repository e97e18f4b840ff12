#include "stream-fixture.h"

#include <check.h>
#include <string.h>

#include <gst/gst.h>

#include "kernels/kernels.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "streamsight-sink.h"
#include "testutil.h"

static gpointer
loop_thread(gpointer p)
{
  StreamFixture *f = p;
  g_main_context_push_thread_default(f->ctx);
  g_main_loop_run(f->loop);
  g_main_context_pop_thread_default(f->ctx);
  return NULL;
}

void
stream_fixture_setup(StreamFixture *f, guint64 seed)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  memset(f, 0, sizeof *f);
  gst_init(NULL, NULL);
  ck_assert(streamsight_sink_register());
  kern_init();
  ck_assert_msg(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                                MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err) == 0,
                "%s", err.message);
  tu_fill_model_weights(m, seed);
  ck_assert_msg(engine_new(m, KERN_ISA_AUTO, &f->engine, &err) == 0, "%s",
                err.message);
  model_unref(m);
  ck_assert_msg(pool_new(f->engine, 2, 8, 0, &f->pool, &err) == 0, "%s",
                err.message);
  f->ctx = g_main_context_new();
  f->loop = g_main_loop_new(f->ctx, FALSE);
  f->thread = g_thread_new("test-main-loop", loop_thread, f);
  while (!g_main_loop_is_running(f->loop))
    g_usleep(1000);
  f->reg = registry_new(f->ctx, f->engine, f->pool, 32);
  ck_assert_ptr_nonnull(f->reg);
}

void
stream_fixture_teardown(StreamFixture *f)
{
  /* registry_free runs the teardown itself once the loop has stopped. */
  g_main_loop_quit(f->loop);
  g_thread_join(f->thread);
  registry_free(f->reg);
  g_main_loop_unref(f->loop);
  g_main_context_unref(f->ctx);
  pool_free(f->pool);
  engine_free(f->engine);
  memset(f, 0, sizeof *f);
}

void
stream_fixture_quick_config(StreamConfig *c, const char *name,
                            const char *uri)
{
  stream_config_init(c);
  c->name = g_strdup(name);
  c->uri = g_strdup(uri);
  c->max_fps = 0; /* as fast as the pool allows */
  c->stall_timeout_s = 5.0;
  c->backoff_initial_s = 0.2;
  c->backoff_max_s = 1.0;
  c->rtsp_latency_ms = 100;
}

char *
stream_fixture_add(StreamFixture *f, StreamConfig *c)
{
  char *id = NULL;
  GError *e = NULL;
  ck_assert_msg(registry_add(f->reg, NULL, c, &id, &e), "add %s: %s",
                c->name, e ? e->message : "");
  stream_config_clear(c);
  return id;
}

void
stream_fixture_get(StreamFixture *f, const char *id, StreamInfo *info)
{
  GError *e = NULL;
  ck_assert_msg(registry_get(f->reg, id, info, &e), "get %s: %s", id,
                e ? e->message : "");
}

guint64
stream_fixture_counter(StreamFixture *f, const char *id, ResultsCounter c)
{
  StreamInfo info;
  stream_fixture_get(f, id, &info);
  guint64 v = info.stats.counters[c];
  stream_info_clear(&info);
  return v;
}

StreamState
stream_fixture_state(StreamFixture *f, const char *id)
{
  StreamInfo info;
  stream_fixture_get(f, id, &info);
  StreamState st = info.state;
  stream_info_clear(&info);
  return st;
}

double
stream_fixture_wait_inferred(StreamFixture *f, const char *id, guint64 n,
                             double timeout_s)
{
  gint64 t0 = g_get_monotonic_time();
  while ((g_get_monotonic_time() - t0) / 1e6 < timeout_s) {
    if (stream_fixture_counter(f, id, RESULTS_INFERRED) >= n)
      return (g_get_monotonic_time() - t0) / 1e6;
    g_usleep(50000);
  }
  return -1;
}

double
stream_fixture_wait_state(StreamFixture *f, const char *id, StreamState st,
                          double timeout_s)
{
  gint64 t0 = g_get_monotonic_time();
  while ((g_get_monotonic_time() - t0) / 1e6 < timeout_s) {
    if (stream_fixture_state(f, id) == st)
      return (g_get_monotonic_time() - t0) / 1e6;
    g_usleep(50000);
  }
  return -1;
}

RtspTestServer *
stream_fixture_rtsp_server(const RtspTestServerOptions *o)
{
  GError *e = NULL;
  RtspTestServer *s = rtsp_test_server_new(o, &e);
  ck_assert_msg(s != NULL, "RTSP server: %s", e ? e->message : "");
  return s;
}

/* ---- env and its short helpers ---- */

StreamFixture env;

void
teardown(void)
{
  stream_fixture_teardown(&env);
}

void
quick_config(StreamConfig *c, const char *name, const char *uri)
{
  stream_fixture_quick_config(c, name, uri);
}

char *
add(StreamConfig *c)
{
  return stream_fixture_add(&env, c);
}

void
get(const char *id, StreamInfo *info)
{
  stream_fixture_get(&env, id, info);
}

guint64
counter(const char *id, ResultsCounter c)
{
  return stream_fixture_counter(&env, id, c);
}

StreamState
state_of(const char *id)
{
  return stream_fixture_state(&env, id);
}

double
wait_inferred(const char *id, guint64 n, double timeout_s)
{
  return stream_fixture_wait_inferred(&env, id, n, timeout_s);
}

double
wait_state(const char *id, StreamState st, double timeout_s)
{
  return stream_fixture_wait_state(&env, id, st, timeout_s);
}

RtspTestServer *
server_new(const RtspTestServerOptions *o)
{
  return stream_fixture_rtsp_server(o);
}
