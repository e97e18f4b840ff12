/* streamsight — one stream: its GStreamer pipeline and the supervisor that
 * keeps it alive.
 *
 * A Stream owns, for the current attempt, one GstPipeline
 *   source (rtspsrc | v4l2src | souphttpsrc | uridecodebin (files) |
 *           videotestsrc)
 *     -> decodebin (depayload, parse, decode; dynamic pads)
 *     -> streamsightsink (connected to the stream's FrameInfer)
 * with a bus watch and a periodic tick on the registry's main context. The
 * supervisor runs on that context; the pipeline's state changes run on a
 * thread of its own (pipeline-runner.h), so that a camera can never make
 * the main context wait:
 *
 *   starting --first frame--> running
 *   starting/running --error | EOS | no frame for stall_timeout_s--> backoff
 *   backoff --delay elapsed, previous pipeline stopped--> starting (a NEW
 *                                                pipeline: new elements)
 *   starting --2 abandoned pipelines of the stream still stuck--> failed
 *   failed --one of them stopped after all--> starting
 *   any --stop/disable/remove--> stopped
 *
 * Stopping a pipeline detaches it at once (bus watch removed, sink cut off
 * from inference) and its runner sets it to NULL in the background: after
 * 2 s the stream's connections to the camera are shut down, after 5 s the
 * pipeline is abandoned (counted in the registry's RunnerSet).
 *
 * The backoff delay is backoff_initial_s doubled per consecutive failure up
 * to backoff_max_s, times a random factor in [0.8, 1.2]; the count of
 * consecutive failures resets after running healthily for
 * max(backoff_max_s, 10 s).
 *
 * connection_quality: "down" unless running; when running, "poor" with 4 or
 * more reconnects + stalls in the last hour, or frames arriving at less than
 * half the negotiated frame rate; "degraded" with 1 to 3 such events, or
 * under 90% of the frame rate; "good" otherwise. The frame-rate rule applies
 * only with decode=all, a known source rate and after 15 s of running. The
 * supervisor judges it at each tick (250 ms) and when the stream starts
 * running; a change is announced like a change of state
 * (stream_set_changed_func).
 *
 * Thread safety: the fields the API shows are under the stream's lock and
 * may be read from any thread; start/stop marshal onto the main context.
 */
#ifndef SS_STREAM_H
#define SS_STREAM_H

#include <glib.h>
#include <gst/gst.h>

#include "engine.h"
#include "latency-totals.h"
#include "pipeline-runner.h"
#include "pool.h"
#include "registry.h"
#include "results.h"
#include "media-dirs.h"
#include "stream-config.h"

G_BEGIN_DECLS

typedef struct Stream Stream;

/* A stopped stream (nothing built yet). cfg is copied and must be valid
 * (stream_config_validate); ctx and runners are referenced (the stream's
 * pipelines run their state changes there); engine and pool are borrowed
 * and must outlive the stream. media (referenced; NULL: not confined): a
 * file:// or v4l2 source is resolved through it before each attempt, and
 * the attempt fails with its refusal when the path is no longer allowed.
 * Any thread. */
Stream *stream_new(const char *id, const StreamConfig *cfg, GMainContext *ctx,
                   const struct ss_engine *engine, struct ss_pool *pool,
                   const char *model_id, MediaDirs *media,
                   RunnerSet *runners);
Stream *stream_ref(Stream *s);
/* The last reference must be dropped after stream_stop(). NULL allowed. */
void stream_unref(Stream *s);

/* Starts the supervisor if the stream is enabled and not already started.
 * Any thread; returns at once: the start runs from an idle source on the
 * main context. */
void stream_start(Stream *s);
/* Stops the supervisor and detaches the pipeline on the main context (its
 * runner takes it to NULL in the background, see above), then waits for a
 * frame still being inferred (milliseconds). Blocks the caller until done,
 * which takes no longer whatever the camera does; any thread (runs
 * directly when the context is not running elsewhere). final: the stream
 * is being removed, later stream_start() calls do nothing. */
void stream_stop(Stream *s, gboolean final);

/* Run-time changes, any thread. Disabling stops the stream (state stopped),
 * enabling starts it. */
void stream_set_enabled(Stream *s, gboolean enabled);
void stream_set_max_fps(Stream *s, double max_fps);
void stream_set_top_k(Stream *s, int top_k);
/* Replaces the alert rules (copied); the alerts hub (server/alerts.h)
 * reads them from the config. */
void stream_set_alerts(Stream *s, const AlertRule *rules, guint n);
/* The sink (when the pipeline is built) crops the next frame to roi
 * (validated by the caller). Any thread. */
void stream_set_roi(Stream *s, const StreamRoi *roi);
/* The head (set_head: head, NULL for none) and/or labels mode. */
void stream_set_head(Stream *s, gboolean set_head, const char *head,
                     gboolean set_labels, StreamLabels labels);
/* Where the stream's head comes from (frame-infer.h). */
void stream_set_head_source(Stream *s, FrameHeadFetch fetch, gpointer user);

/* Where the stream's predictions' latencies are also recorded (the
 * registry's server-wide figures, latency-totals.h; referenced). Call
 * before stream_start. */
void stream_set_latency_totals(Stream *s, LatencyTotals *totals);

/* Told when what the stream shows (StreamInfo.generation) may have changed
 * by its own doing: state, last_error, reconnects, source size and rate,
 * connection_quality. On the main context (or the thread running
 * stream_stop), with no lock of the stream held; the settings above
 * (stream_set_*) are not announced: their caller knows. fn NULL: none.
 * Any thread; a call already under way on the main context may still
 * finish (the registry clears it after stream_stop, and frees itself with
 * the context not running). */
typedef void (*StreamChangedFunc)(Stream *s, gpointer user);
void stream_set_changed_func(Stream *s, StreamChangedFunc fn, gpointer user);

/* Borrowed, immutable for the life of the stream. */
const char *stream_get_id(Stream *s);
/* Copies, any thread. */
void stream_copy_config(Stream *s, StreamConfig *out);
void stream_copy_info(Stream *s, StreamInfo *out);
gboolean stream_has_started(Stream *s); /* reached running at least once */
/* New references (NULL when there is no pipeline / no frame yet). */
StreamResults *stream_get_results(Stream *s);
GstSample *stream_last_sample(Stream *s);

/* Runs func(data) on the thread that runs ctx and waits for it to return:
 * directly when ctx can be acquired by the caller (nobody runs it, or the
 * caller does), else through an idle source. */
void stream_context_call_sync(GMainContext *ctx, GSourceFunc func,
                              gpointer data);

G_END_DECLS

#endif
