/* streamsight — the in-process stream environment test-streams and
 * test-faults share: a tiny MobileNetV2 (random He-style weights) on an
 * engine and a 2-worker pool, the registry, and its main context run on a
 * thread of its own; plus the registry helpers the tests poll with.
 */
#ifndef SS_STREAM_FIXTURE_H
#define SS_STREAM_FIXTURE_H

#include <glib.h>

#include "engine.h"
#include "pool.h"
#include "registry.h"
#include "rtsp-test-server.h"

G_BEGIN_DECLS

typedef struct {
  struct ss_engine *engine;
  struct ss_pool *pool;
  GMainContext *ctx;
  GMainLoop *loop;
  GThread *thread; /* runs loop */
  Registry *reg;
} StreamFixture;

/* Builds everything (gst_init and the sink's registration included);
 * seed: the weights. Check-asserts on failure. */
void stream_fixture_setup(StreamFixture *f, guint64 seed);
/* Stops the loop, frees the registry (it tears its streams down itself
 * once the loop has stopped), the pool and the engine; zeroes f. */
void stream_fixture_teardown(StreamFixture *f);

/* Quick settings: a dead source is noticed in 5 s (enough for a first RTSP
 * connection under a sanitizer), retried in 0.2-1 s; max_fps 0. */
void stream_fixture_quick_config(StreamConfig *c, const char *name,
                                 const char *uri);
/* registry_add (c is cleared); the new id (g_free). */
char *stream_fixture_add(StreamFixture *f, StreamConfig *c);
void stream_fixture_get(StreamFixture *f, const char *id, StreamInfo *info);
guint64 stream_fixture_counter(StreamFixture *f, const char *id,
                               ResultsCounter c);
StreamState stream_fixture_state(StreamFixture *f, const char *id);
/* Poll every 50 ms; the seconds it took, or -1 on timeout. */
double stream_fixture_wait_inferred(StreamFixture *f, const char *id,
                                    guint64 n, double timeout_s);
double stream_fixture_wait_state(StreamFixture *f, const char *id,
                                 StreamState st, double timeout_s);
/* An RTSP server in the process (rtsp-test-server.h); asserts it starts. */
RtspTestServer *stream_fixture_rtsp_server(const RtspTestServerOptions *o);

/* The environment of the running test and the short helpers test-streams
 * and test-faults write their tests with: each suite's setup calls
 * stream_fixture_setup(&env, its seed) and teardown tears env down
 * (tcase_add_checked_fixture), so env is each test's own, forked or not
 * (CK_FORK=no under the sanitizers). The helpers are the stream_fixture_*
 * calls above on env. */
extern StreamFixture env;

void teardown(void);
void quick_config(StreamConfig *c, const char *name, const char *uri);
char *add(StreamConfig *c);
void get(const char *id, StreamInfo *info);
guint64 counter(const char *id, ResultsCounter c);
StreamState state_of(const char *id);
double wait_inferred(const char *id, guint64 n, double timeout_s);
double wait_state(const char *id, StreamState st, double timeout_s);
RtspTestServer *server_new(const RtspTestServerOptions *o);

G_END_DECLS

#endif
