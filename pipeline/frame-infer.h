/* streamsight — the glue between a stream's sink element, the inference pool
 * and the stream's results: one input tensor per stream, at most one frame in
 * flight, the stream's fps budget.
 *
 * The sink calls the SinkTarget callbacks on the streaming thread; pool
 * workers call back when a frame's inference is done and the prediction is
 * published. Reference counted because both the sink (its target user data)
 * and an in-flight job hold it.
 */
#ifndef SS_FRAME_INFER_H
#define SS_FRAME_INFER_H

#include <glib.h>

#include "latency-totals.h"
#include "model.h"
#include "pool.h"
#include "results.h"
#include "streamsight-sink.h"

G_BEGIN_DECLS

typedef struct FrameInfer FrameInfer;

/* pool and model are borrowed and must outlive the FrameInfer; results is
 * referenced. max_fps 0 = unlimited; top_k 1 .. POOL_MAX_TOP_K. */
FrameInfer *frame_infer_new(struct ss_pool *pool, const struct ss_model *model,
                            StreamResults *results, double max_fps,
                            int top_k);
FrameInfer *frame_infer_ref(FrameInfer *fi);
void frame_infer_unref(FrameInfer *fi); /* NULL is allowed */

/* Where a stream's head comes from (the server's heads): a new copy
 * (head_free) of head head_id's trained weights when their generation
 * differs from *generation, which is then updated; NULL when unchanged, or
 * with *generation 0 when the head does not exist or is untrained. Called
 * on the streaming thread, without locks held. */
typedef struct ss_head *(*FrameHeadFetch)(gpointer user, const char *head_id,
                                          guint64 *generation);
/* Sets the source (borrowed user data: must outlive fi). Call before
 * frames flow. */
void frame_infer_set_head_source(FrameInfer *fi, FrameHeadFetch fetch,
                                 gpointer user);
/* The stream's head (NULL: none) and labels mode, from the next frame;
 * any thread. A head taught on another model is ignored. */
void frame_infer_set_head(FrameInfer *fi, const char *head_id,
                          StreamLabels labels);
/* The id of the model (model-set.h) stamped on each prediction, borrowed:
 * it must outlive fi. Call before frames flow. */
void frame_infer_set_model_id(FrameInfer *fi, const char *model_id);

/* Where the stage latencies of each published prediction are also
 * recorded (latency-totals.h; referenced; NULL: nowhere). Call before
 * frames flow. */
void frame_infer_set_latency_totals(FrameInfer *fi, LatencyTotals *totals);

/* Run-time changes from any thread (e.g. PATCH). */
void frame_infer_set_max_fps(FrameInfer *fi, double max_fps);
void frame_infer_set_top_k(FrameInfer *fi, int top_k);

/* Connects fi to a sink (takes a reference for the sink). */
void frame_infer_attach(FrameInfer *fi, StreamsightSink *sink);

/* TRUE while a frame of this stream is being inferred. */
gboolean frame_infer_busy(FrameInfer *fi);

G_END_DECLS

#endif
