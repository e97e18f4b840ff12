/* streamsight — streamsightsink, the element at the end of every stream's
 * pipeline.
 *
 * Accepts raw I420, YV12, NV12, NV21, YUY2, UYVY, RGB, BGR, RGBx, BGRx, xRGB,
 * xBGR, RGBA, BGRA, ARGB, ABGR at any size, with any strides (GstVideoMeta;
 * no videoconvert/videoscale in front of it) and converts each frame it
 * keeps, in one fused pass, straight into the model's input tensor: bilinear
 * resize to the model's size, colour conversion to RGB, normalisation
 * (x - mean) / std. It never blocks the streaming thread: when its target has
 * no free tensor (a frame is in flight) or the max-fps budget says no, the
 * frame is dropped (latest frame wins; the target counts its drops).
 *
 * Registered statically by streamsight_sink_register() (plugin.c); pipeline
 * strings may name it: "... ! streamsightsink name=infer".
 */
#ifndef SS_STREAMSIGHT_SINK_H
#define SS_STREAMSIGHT_SINK_H

#include <gst/video/gstvideosink.h>
#include <gst/video/video.h>

#include "roi.h"

G_BEGIN_DECLS

#define STREAMSIGHT_TYPE_SINK (streamsight_sink_get_type())
G_DECLARE_FINAL_TYPE(StreamsightSink, streamsight_sink, STREAMSIGHT, SINK,
                     GstVideoSink)

/* How the frame is fitted to the (square) model input. */
typedef enum {
  STREAMSIGHT_RESIZE_STRETCH = 0, /* whole frame, aspect not kept */
  STREAMSIGHT_RESIZE_CROP,        /* centre crop to the model's aspect */
  STREAMSIGHT_RESIZE_LETTERBOX,   /* whole frame, padded with black */
} StreamsightResizeMode;
GType streamsight_resize_mode_get_type(void);
#define STREAMSIGHT_TYPE_RESIZE_MODE (streamsight_resize_mode_get_type())

/* What the sink knows about a frame it hands over. */
typedef struct {
  guint64 frame_no;       /* 1-based count of frames received by the sink */
  GstClockTime pts;       /* buffer PTS (GST_CLOCK_TIME_NONE if unknown) */
  gint64 arrival_mono_ns; /* g_get_monotonic_time()*1000 at render() entry */
  gint64 arrival_wall_us; /* g_get_real_time() at render() entry */
  gint64 preprocess_ns;   /* time spent converting into the tensor */
  int src_width, src_height;
} SinkFrameInfo;

/* Where converted frames go. All callbacks run on the streaming thread and
 * must not block. The target, not the sink, decides which frames it takes
 * (its own fps budget, a frame already in flight) and counts its drops, so
 * that its policy can change at run time without touching the element. */
typedef struct {
  /* Called for every frame that passes the element's own max-fps property.
   * info has frame_no, pts and arrival times (preprocess_ns is 0 yet).
   * Returns a free input tensor (height x width x 3 floats), or NULL to drop
   * the frame. */
  float *(*acquire)(gpointer user, const SinkFrameInfo *info);
  /* Hands a filled tensor over; ownership of the tensor returns to the
   * target. */
  void (*submit)(gpointer user, float *tensor, const SinkFrameInfo *info);
  /* Gives back an acquired tensor that was not filled (e.g. map failed). */
  void (*release)(gpointer user, float *tensor);
} SinkTarget;

/* Connects the sink to its consumer. width/height: the model input size;
 * mean/std: normalisation per RGB channel in 0..255 units. target is copied;
 * user is kept until the sink is finalized or the target replaced, then
 * destroy(user) is called. Call before the pipeline goes to PAUSED; any
 * thread. */
void streamsight_sink_set_target(StreamsightSink *sink, int width, int height,
                                 const float mean[3], const float std[3],
                                 const SinkTarget *target, gpointer user,
                                 GDestroyNotify destroy);

/* Disconnects the sink from its consumer: later frames are counted and
 * ignored, and destroy(user) of the old target runs once no frame uses it.
 * For a pipeline being stopped (or abandoned) whose frames must no longer
 * reach the rest of the server. Any thread. */
void streamsight_sink_clear_target(StreamsightSink *sink);

/* The region of interest (roi.h; validated, else a critical warning and no
 * change): the part of the frame the resize mode fits to the target. It
 * only moves the source rectangle of the one fused resize pass (no copy,
 * no extra cost), and samples are clamped to the region's pixels, so the
 * tensor equals the one of a frame cut to the region first. Default the
 * whole frame. Takes effect on the next frame; any thread. */
void streamsight_sink_set_roi(StreamsightSink *sink, const StreamRoi *roi);
void streamsight_sink_get_roi(StreamsightSink *sink, StreamRoi *out);

/* Arrival (monotonic ns, as SinkFrameInfo.arrival_mono_ns) of the latest
 * frame that reached the element, dropped or not; 0 before the first. Any
 * thread. What each frame became is counted by the target, which decides
 * (frame-infer.c: received, inferred, dropped_*, errors). */
gint64 streamsight_sink_last_frame_mono_ns(StreamsightSink *sink);

/* Properties:
 *   max-fps       gdouble, 0 = unlimited (default 0)
 *   resize-mode   StreamsightResizeMode (default stretch)
 * plus GstBaseSink's enable-last-sample / last-sample for snapshots.
 */

/* Registers the element with GStreamer (plugin.c); call once after gst_init. */
gboolean streamsight_sink_register(void);

G_END_DECLS

#endif
