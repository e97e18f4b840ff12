/* streamsight — the set of running streams.
 *
 * The registry owns every Stream and is the only way the HTTP side changes
 * them: HTTP threads call these functions, which copy data out under the
 * registry lock, and marshal anything touching GStreamer onto the GLib main
 * context given at creation (g_main_context_invoke), so HTTP threads never
 * touch GStreamer objects. Lock order: registry -> stream -> results.
 */
#ifndef SS_REGISTRY_H
#define SS_REGISTRY_H

#include <glib.h>

#include "engine.h"
#include "media-dirs.h"
#include "model-set.h"
#include "pipeline-runner.h"
#include "frame-infer.h"
#include "pool.h"
#include "results.h"
#include "stream-config.h"

G_BEGIN_DECLS

#define REGISTRY_ERROR (registry_error_quark())
GQuark registry_error_quark(void);
typedef enum {
  REGISTRY_ERROR_INVALID,   /* bad configuration (message names the field) */
  REGISTRY_ERROR_NOT_FOUND, /* unknown id */
  REGISTRY_ERROR_EXISTS,    /* id or name already used */
  REGISTRY_ERROR_LIMIT,     /* max streams reached */
  REGISTRY_ERROR_FORBIDDEN, /* a local path outside media_dirs */
} RegistryError;

typedef enum {
  STREAM_STATE_STARTING = 0,
  STREAM_STATE_RUNNING,
  STREAM_STATE_BACKOFF,
  STREAM_STATE_STOPPED, /* disabled, or removed */
  STREAM_STATE_FAILED,  /* too many of its pipelines stuck (stream.h) */
} StreamState;
const char *stream_state_name(StreamState s); /* "starting", ... */

/* A copy of what the API shows of a stream (all strings owned). */
typedef struct {
  char *id;
  char *name;
  char *uri_redacted;
  StreamConfig config; /* with the real URI: never serialise config.uri */
  StreamState state;
  char *last_error;    /* NULL if none; never contains credentials */
  gint64 last_error_wall_us;
  guint64 reconnects;
  guint reconnects_last_hour;
  guint stalls_last_hour;
  const char *connection_quality; /* "good", "degraded", "poor", "down" */
  gint64 created_wall_us;
  gint64 started_wall_us;  /* last time it reached running, 0 if never */
  int width, height;       /* source size, 0 if unknown */
  double source_fps;       /* as negotiated, 0 if unknown */
  ResultsStats stats;
  /* Changes whenever what an SSE "stream" event shows of it changes:
   * state, enabled, max_fps, top_k, alert rules, last_error, reconnects,
   * source size and rate, connection_quality (not counters or fps). */
  guint64 generation;
} StreamInfo;
void stream_info_clear(StreamInfo *info);

typedef struct Registry Registry;

/* ctx: the main context that runs the pipelines' bus watches and timers
 * (referenced). engine and pool are borrowed and must outlive the registry.
 * max_streams: limit for registry_add (>= 1). */
Registry *registry_new(GMainContext *ctx, const struct ss_engine *engine,
                       struct ss_pool *pool, guint max_streams);
/* Stops every stream at once (each pipeline goes to NULL on its own
 * thread), waits at most 6 s for the pipelines to stop (each is abandoned
 * after 5 s), frees everything. Returns the number of pipelines still
 * stuck: they keep references to their streams, which keep borrowed
 * pointers to the engine and pool, so with any left the caller should not
 * free those (at exit: leave them). Call from the thread that runs ctx, or
 * with ctx not running. */
guint registry_free(Registry *r);

/* The server's models (borrowed: must outlive the registry): each stream
 * added afterwards runs on the model its config names (StreamConfig.model,
 * NULL: the first), and naming an unknown one is REGISTRY_ERROR_INVALID
 * ("model: unknown model ..."). Without it every stream uses the engine
 * and pool of registry_new (model id "default"). Call before adding
 * streams, from the thread that creates the registry. */
void registry_set_models(Registry *r, const ModelSet *models);

/* Confines file:// and v4l2 sources to m (media-dirs.h; referenced): every
 * stream added afterwards is checked when added (REGISTRY_ERROR_FORBIDDEN)
 * and before each attempt to start it. Without it (NULL, the default) local
 * paths are not confined: the server always sets one. Any thread. */
void registry_set_media_dirs(Registry *r, MediaDirs *m);

/* Adds and starts a stream (if enabled). id: NULL to generate one
 * ("stream-N"), or a caller-chosen id ([a-z0-9_-], 1..64 chars, e.g. when
 * restoring from the config file). On success *out_id (if not NULL) is a new
 * string. Any thread. */
gboolean registry_add(Registry *r, const char *id, const StreamConfig *cfg,
                      char **out_id, GError **error);
/* Stops and removes a stream; the other streams are untouched. */
gboolean registry_remove(Registry *r, const char *id, GError **error);

/* Run-time changes (PATCH): any field may be left unset. */
typedef struct {
  gboolean set_max_fps;
  double max_fps;
  gboolean set_top_k;
  int top_k;
  gboolean set_enabled;
  gboolean enabled;
  gboolean set_alerts;
  AlertRule *alerts; /* owned by the patch (stream_patch_clear) */
  guint n_alerts;
  gboolean set_roi;  /* the sink crops the next frame to it */
  StreamRoi roi;
  gboolean set_head; /* head (owned; NULL: none) and labels */
  char *head;
  gboolean set_labels;
  StreamLabels labels;
} StreamPatch;
void stream_patch_clear(StreamPatch *p);
/* Where streams' heads come from (frame-infer.h; user borrowed, must
 * outlive the registry): streams added afterwards fetch their head's
 * weights from it. Call before adding streams. */
void registry_set_head_source(Registry *r, FrameHeadFetch fetch,
                              gpointer user);
gboolean registry_update(Registry *r, const char *id, const StreamPatch *p,
                         GError **error);

/* Copies of every stream (array of StreamInfo*, free with g_ptr_array_unref)
 * in creation order; or of one. */
GPtrArray *registry_list(Registry *r);
gboolean registry_get(Registry *r, const char *id, StreamInfo *out,
                      GError **error);
/* The stream's results (new reference), or NULL for an unknown id. */
StreamResults *registry_results(Registry *r, const char *id);
/* The latest frame of a stream for snapshots (new reference), or NULL. */
GstSample *registry_last_sample(Registry *r, const char *id);

/* The configs of all streams, for writing the config file back: array of
 * StreamConfig* (owned by the array) with ids in a parallel array. */
void registry_copy_configs(Registry *r, GPtrArray **configs, GPtrArray **ids);

/* Called (on the calling thread, after the change, lock released) whenever a
 * stream is added, removed or updated, e.g. to persist the config. */
typedef void (*RegistryChangedFunc)(Registry *r, gpointer user);
void registry_set_changed_func(Registry *r, RegistryChangedFunc fn,
                               gpointer user);

/* Told whenever what a stream shows may have changed (user: as given):
 * added, removed, updated (PATCH), or its own state, last_error,
 * reconnects, source size or connection quality (StreamInfo.generation
 * says whether it did). On the thread that made the change (an HTTP or
 * MQTT thread, the main context), without the registry's or a stream's
 * lock held; calls are serialised, and once registry_set_stream_watch
 * returns, no call to the previous fn is in progress. fn may read the
 * registry (registry_get, registry_results), not change it. One watcher
 * (the event hub, server/events.h); NULL: none. Any thread. */
typedef void (*RegistryStreamFunc)(Registry *r, const char *id,
                                   gpointer user);
void registry_set_stream_watch(Registry *r, RegistryStreamFunc fn,
                               gpointer user);

guint registry_count(Registry *r);
/* The latency of every prediction of every stream (removed ones included),
 * per LatencyStage: last 60 s and since start. Any thread. */
void registry_latency(Registry *r, LatencySummary window[LATENCY_N_STAGES],
                      LatencySummary since[LATENCY_N_STAGES]);
/* Pipelines being stopped and abandoned (pipeline-runner.h). Any thread. */
void registry_pipeline_stats(Registry *r, RunnerSetStats *out);
/* TRUE when every enabled stream has reached running at least once. */
gboolean registry_all_started(Registry *r);

G_END_DECLS

#endif
