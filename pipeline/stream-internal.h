/* streamsight — what the three files of a stream share (not an API):
 * stream.c (the object: creation, settings, copies for the API),
 * stream-pipeline.c (building one attempt's pipeline and the element signal
 * handlers) and stream-supervisor.c (attempts, backoff, stall detection,
 * bus messages, stopping pipelines). See stream.h for the life cycle.
 *
 * Threads. The supervisor runs on the main context given at creation
 * (building the pipeline, the bus watch, the tick, start and stop), except
 * for three kinds of work: the element signal handlers (pad-added and
 * friends), which GStreamer calls on streaming threads and which touch only
 * the elements they are given and the per-attempt link flags under the
 * stream's lock; the pipeline's state changes, which run on its
 * PipelineRunner's thread because a camera can make them wait for good
 * (pipeline-runner.h); and the runner's stop hooks (the deadline thread,
 * the runner's thread), which touch only the counters under the stream's
 * lock.
 */
#ifndef SS_STREAM_INTERNAL_H
#define SS_STREAM_INTERNAL_H

#include <gst/gst.h>

#include "frame-infer.h"
#include "pipeline-runner.h"
#include "stream.h"

G_BEGIN_DECLS

/* Events per minute over the last hour: 60 slots keyed by the minute. */
typedef struct {
  gint64 minute[60];
  guint count[60];
} HourCounter;

struct Stream {
  gatomicrefcount ref;

  /* Immutable after stream_new. */
  char *id;
  GMainContext *ctx;
  const struct ss_engine *engine;
  struct ss_pool *pool;
  RunnerSet *runners;  /* a reference */
  StreamResults *results;
  FrameInfer *fi;
  const char *scheme;  /* static string from stream_config_uri_scheme */
  char *location;      /* the URI without user info */
  char *user, *password; /* percent-decoded, NULL when absent */
  char **secrets;      /* scrubbed from error texts, NULL-terminated */
  MediaDirs *media;    /* confines file:// and v4l2 paths; NULL: not */

  /* Under lock. */
  GMutex lock;
  StreamConfig cfg;
  StreamState state;
  char *last_error;
  gint64 last_error_wall_us;
  guint64 reconnects;
  HourCounter reconnects_hour, stalls_hour;
  gint64 created_wall_us, started_wall_us;
  gint64 running_since_us; /* monotonic, 0 unless running */
  gboolean ever_running;
  int width, height;
  double source_fps;
  GstElement *sink;        /* the current attempt's sink (a reference) */
  gboolean removed;
  gboolean started;        /* the supervisor runs (tick installed) */
  gboolean video_linked;   /* this attempt linked a video pad to the sink */
  guint video_selected;    /* rtspsrc video streams selected this attempt */
  gint sdp_trim_logged;     /* atomic: on_sdp said it once */
  guint stopping;          /* pipelines being stopped, within the deadline */
  guint stuck;             /* pipelines abandoned and still not stopped */
  const char *quality;     /* connection_quality (static string): "down"
                            * unless running, else the tick's judgement */
  guint64 generation;      /* StreamInfo.generation: bumped by every change
                            * of what a "stream" event shows */
  StreamChangedFunc changed; /* told of changes of generation */
  gpointer changed_user;

  /* Main context only. */
  GstElement *pipeline;
  PipelineRunner *runner;  /* the pipeline's, NULL once stopped */
  GSource *bus_source;
  GSource *tick_source;
  gint64 attempt_start_us;
  gint64 retry_at_us;
  guint failures;          /* consecutive, for the backoff delay */
  gboolean use_udp;        /* transport auto: TCP was refused, try UDP */
  char *warning;           /* this attempt's first warning, scrubbed */
  GstContext *http_session; /* souphttpsrc's session, kept across attempts */
};

/* stream.c. */
void hour_counter_add(HourCounter *h, gint64 now_us);
guint hour_counter_sum(const HourCounter *h, gint64 now_us);
/* Under s->lock: the state, and what follows from it (connection_quality
 * "down" unless running), bumping s->generation on a change. */
void stream_set_state_locked(Stream *s, StreamState state);
/* Under s->lock, while running: connection_quality judged now (the rule of
 * stream.h), bumping s->generation when it changes. */
void stream_judge_quality_locked(Stream *s, gint64 now_us);
/* s->generation now; after a piece of work, stream_notify_since tells the
 * changed func when it moved meanwhile. Call without s->lock held. */
guint64 stream_generation(Stream *s);
void stream_notify_since(Stream *s, guint64 generation);

/* stream-pipeline.c: one attempt's pipeline, for the caller (s->pipeline),
 * with s->sink set to its sink; NULL with error. Main context. */
GstElement *stream_build_pipeline(Stream *s, GError **error);

/* stream-supervisor.c. GSourceFuncs run on the main context (user: the
 * stream): start the supervisor and the first attempt; stop it and
 * detach the pipeline (state stopped). */
gboolean stream_supervisor_start(gpointer user);
gboolean stream_supervisor_stop(gpointer user);
/* Has the supervisor look as soon as the first buffer reaches sink's pad,
 * rather than at its next tick, so that "running" shows without delay. */
void stream_supervisor_watch_first_frame(Stream *s, GstElement *sink);

G_END_DECLS

#endif
