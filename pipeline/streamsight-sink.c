/* streamsight — streamsightsink (see streamsight-sink.h).
 *
 * SECTION:element-streamsightsink
 *
 * The last element of every stream's pipeline. For each frame it keeps, it
 * samples the raw frame straight into the model's input tensor in one pass:
 * for every output pixel, a bilinear sample of the source (after the stretch,
 * centre-crop or letterbox geometry), colour conversion of the sampled values
 * to RGB, clamping to 0..255 and normalisation (x - mean) / std, written as
 * NHWC float RGB (sink-resize.c: the pass and its sampling rules). The
 * filled tensor goes to the element's SinkTarget, which submits it to the
 * inference pool. Nothing here waits for inference.
 *
 * Example: gst-launch-1.0 videotestsrc ! streamsightsink max-fps=5
 * (the application connects a target with streamsight_sink_set_target()).
 */
#include "streamsight-sink.h"

#include "fps-gate.h"
#include "sink-resize.h"

#include <time.h>

GST_DEBUG_CATEGORY_STATIC(streamsight_sink_debug);
#define GST_CAT_DEFAULT streamsight_sink_debug

/* The target, shared by the sink and every plan built for it, so that a
 * frame in render() keeps using it while set_target() replaces it; the last
 * reference calls destroy(user). Immutable after creation. */
typedef struct {
  gint refcount; /* atomic */
  SinkTarget target;
  gpointer user;
  GDestroyNotify destroy;
  int width, height;
  float mean[3], std[3];
} TargetRef;

/* Everything render() needs for one (caps, target, resize mode, region):
 * built in set_info / set_target / on a resize-mode or region change, then
 * immutable and reference counted, so render() takes a reference under the
 * lock and works unlocked. */
typedef struct {
  gint refcount; /* atomic */
  TargetRef *target;
  SinkResize *resize;
} Plan;

struct _StreamsightSink {
  GstVideoSink parent;

  /* Properties, under GST_OBJECT_LOCK. */
  gdouble max_fps;
  StreamsightResizeMode resize_mode;
  StreamRoi roi; /* the region of the frame resized to the target */

  /* lock guards the fields below (target, caps, plan). Order:
   * GST_OBJECT_LOCK, then lock. Never held while calling the target. */
  GMutex lock;
  TargetRef *target;
  GstVideoInfo info;
  gboolean have_info;
  Plan *plan; /* NULL until both caps and a target are known */

  /* Streaming thread only. */
  FpsGate gate; /* max-fps schedule (streaming thread; max_fps copied in) */

  /* Atomic. The target counts what happens to each frame (it decides
   * what to drop); the element only numbers them and stamps the last. */
  gint flushing;
  guint64 frames;             /* frames that reached render(): frame_no */
  gint64 last_frame_mono_ns;  /* the supervisor's stall check (stream.c) */
};

enum {
  PROP_0,
  PROP_MAX_FPS,
  PROP_RESIZE_MODE,
};

#define DEFAULT_MAX_FPS 0.0
#define DEFAULT_RESIZE_MODE STREAMSIGHT_RESIZE_STRETCH
#define MAX_MAX_FPS 1000.0

#define SINK_FORMATS \
  "{ I420, YV12, NV12, NV21, YUY2, UYVY, RGB, BGR, RGBx, BGRx, xRGB, xBGR, " \
  "RGBA, BGRA, ARGB, ABGR }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(SINK_FORMATS)));

#define streamsight_sink_parent_class parent_class
G_DEFINE_TYPE(StreamsightSink, streamsight_sink, GST_TYPE_VIDEO_SINK);

GType
streamsight_resize_mode_get_type(void)
{
  static gsize type_id = 0;
  static const GEnumValue values[] = {
    { STREAMSIGHT_RESIZE_STRETCH, "Whole frame, aspect ratio not kept",
      "stretch" },
    { STREAMSIGHT_RESIZE_CROP, "Centre crop to the model's aspect ratio",
      "crop" },
    { STREAMSIGHT_RESIZE_LETTERBOX, "Whole frame, padded with black",
      "letterbox" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter(&type_id)) {
    GType t = g_enum_register_static("StreamsightResizeMode", values);
    g_once_init_leave(&type_id, t);
  }
  return (GType)type_id;
}

static void streamsight_sink_finalize(GObject *object);
static void streamsight_sink_constructed(GObject *object);
static void streamsight_sink_set_property(GObject *object, guint prop_id,
                                          const GValue *value,
                                          GParamSpec *pspec);
static void streamsight_sink_get_property(GObject *object, guint prop_id,
                                          GValue *value, GParamSpec *pspec);
static gboolean streamsight_sink_start(GstBaseSink *bsink);
static gboolean streamsight_sink_unlock(GstBaseSink *bsink);
static gboolean streamsight_sink_unlock_stop(GstBaseSink *bsink);
static gboolean streamsight_sink_propose_allocation(GstBaseSink *bsink,
                                                    GstQuery *query);
static gboolean streamsight_sink_set_info(GstVideoSink *vsink, GstCaps *caps,
                                          const GstVideoInfo *info);
static GstFlowReturn streamsight_sink_show_frame(GstVideoSink *vsink,
                                                 GstBuffer *buf);

static void
streamsight_sink_class_init(StreamsightSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);
  GstVideoSinkClass *videosink_class = GST_VIDEO_SINK_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(streamsight_sink_debug, "streamsightsink", 0,
                          "streamsight inference sink");

  gobject_class->finalize = streamsight_sink_finalize;
  gobject_class->constructed = streamsight_sink_constructed;
  gobject_class->set_property = streamsight_sink_set_property;
  gobject_class->get_property = streamsight_sink_get_property;

  g_object_class_install_property(
      gobject_class, PROP_MAX_FPS,
      g_param_spec_double("max-fps", "Max FPS",
                          "Frames per second handed to the target at most "
                          "(0 = unlimited); the others are dropped",
                          0.0, MAX_MAX_FPS, DEFAULT_MAX_FPS,
                          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
                              G_PARAM_STATIC_STRINGS));
  g_object_class_install_property(
      gobject_class, PROP_RESIZE_MODE,
      g_param_spec_enum("resize-mode", "Resize mode",
                        "How the frame is fitted to the model's input",
                        STREAMSIGHT_TYPE_RESIZE_MODE, DEFAULT_RESIZE_MODE,
                        G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
                            G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata(
      element_class, "Streamsight inference sink", "Sink/Video",
      "Resizes, converts and normalises frames into the model's input tensor "
      "and hands them to the inference pool",
      "streamsight developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);

  basesink_class->start = GST_DEBUG_FUNCPTR(streamsight_sink_start);
  basesink_class->unlock = GST_DEBUG_FUNCPTR(streamsight_sink_unlock);
  basesink_class->unlock_stop =
      GST_DEBUG_FUNCPTR(streamsight_sink_unlock_stop);
  basesink_class->propose_allocation =
      GST_DEBUG_FUNCPTR(streamsight_sink_propose_allocation);
  videosink_class->set_info = GST_DEBUG_FUNCPTR(streamsight_sink_set_info);
  videosink_class->show_frame = GST_DEBUG_FUNCPTR(streamsight_sink_show_frame);

  gst_type_mark_as_plugin_api(STREAMSIGHT_TYPE_RESIZE_MODE, 0);
}

static void
streamsight_sink_init(StreamsightSink *sink)
{
  sink->max_fps = DEFAULT_MAX_FPS;
  sink->resize_mode = DEFAULT_RESIZE_MODE;
  sink->roi = STREAM_ROI_FULL;
  g_mutex_init(&sink->lock);
  gst_video_info_init(&sink->info);
}

static void
streamsight_sink_constructed(GObject *object)
{
  G_OBJECT_CLASS(parent_class)->constructed(object);
  /* GstVideoSink renders the preroll buffer and then the same buffer again
   * in PLAYING: one frame would count twice. It also drops frames more than
   * 5 ms late; lateness is no reason to skip analysis here (the target
   * decides what to drop), so QoS dropping is off. Set after the parent's
   * constructed(), which installs those defaults. */
  g_object_set(object, "show-preroll-frame", FALSE, NULL);
  gst_base_sink_set_qos_enabled(GST_BASE_SINK(object), FALSE);
  gst_base_sink_set_max_lateness(GST_BASE_SINK(object), -1);
}

static TargetRef *
target_ref(TargetRef *t)
{
  g_atomic_int_inc(&t->refcount);
  return t;
}

static void
target_unref(TargetRef *t)
{
  if (!t || !g_atomic_int_dec_and_test(&t->refcount))
    return;
  if (t->destroy)
    t->destroy(t->user);
  g_free(t);
}

static Plan *
plan_ref(Plan *p)
{
  g_atomic_int_inc(&p->refcount);
  return p;
}

static void
plan_unref(Plan *p)
{
  if (!p || !g_atomic_int_dec_and_test(&p->refcount))
    return;
  target_unref(p->target);
  sink_resize_free(p->resize);
  g_free(p);
}

static void
streamsight_sink_finalize(GObject *object)
{
  StreamsightSink *sink = STREAMSIGHT_SINK(object);
  plan_unref(sink->plan);
  target_unref(sink->target);
  g_mutex_clear(&sink->lock);
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

/* Rebuilds the plan from the current caps, target, resize mode and region
 * (sink-resize.h). Called
 * with GST_OBJECT_LOCK held; returns the old plan for the caller to unref
 * after unlocking. */
static Plan *
rebuild_plan_locked(StreamsightSink *sink)
{
  Plan *p = NULL;
  g_mutex_lock(&sink->lock);
  if (sink->have_info && sink->target) {
    TargetRef *t = sink->target;
    SinkResize *resize =
        sink_resize_new(&sink->info, t->width, t->height, t->mean, t->std,
                        sink->resize_mode, &sink->roi);
    if (resize) {
      p = g_new0(Plan, 1);
      p->refcount = 1;
      p->target = target_ref(t);
      p->resize = resize;
    } else {
      GST_WARNING_OBJECT(sink, "cannot convert %s %dx%d",
                         GST_VIDEO_INFO_NAME(&sink->info),
                         GST_VIDEO_INFO_WIDTH(&sink->info),
                         GST_VIDEO_INFO_HEIGHT(&sink->info));
    }
  }
  Plan *old = sink->plan;
  sink->plan = p;
  g_mutex_unlock(&sink->lock);
  return old;
}

/* ---- properties ---- */

static void
streamsight_sink_set_property(GObject *object, guint prop_id,
                              const GValue *value, GParamSpec *pspec)
{
  StreamsightSink *sink = STREAMSIGHT_SINK(object);
  Plan *old = NULL;

  switch (prop_id) {
  case PROP_MAX_FPS:
    GST_OBJECT_LOCK(sink);
    sink->max_fps = g_value_get_double(value);
    GST_OBJECT_UNLOCK(sink);
    break;
  case PROP_RESIZE_MODE:
    GST_OBJECT_LOCK(sink);
    sink->resize_mode = g_value_get_enum(value);
    old = rebuild_plan_locked(sink);
    GST_OBJECT_UNLOCK(sink);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
  plan_unref(old);
}

static void
streamsight_sink_get_property(GObject *object, guint prop_id, GValue *value,
                              GParamSpec *pspec)
{
  StreamsightSink *sink = STREAMSIGHT_SINK(object);

  switch (prop_id) {
  case PROP_MAX_FPS:
    GST_OBJECT_LOCK(sink);
    g_value_set_double(value, sink->max_fps);
    GST_OBJECT_UNLOCK(sink);
    break;
  case PROP_RESIZE_MODE:
    GST_OBJECT_LOCK(sink);
    g_value_set_enum(value, sink->resize_mode);
    GST_OBJECT_UNLOCK(sink);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

/* ---- public API ---- */

void
streamsight_sink_set_target(StreamsightSink *sink, int width, int height,
                            const float mean[3], const float std[3],
                            const SinkTarget *target, gpointer user,
                            GDestroyNotify destroy)
{
  g_return_if_fail(STREAMSIGHT_IS_SINK(sink));
  g_return_if_fail(width > 0 && height > 0 && mean && std && target);
  g_return_if_fail(target->acquire && target->submit && target->release);

  TargetRef *t = g_new0(TargetRef, 1);
  t->refcount = 1;
  t->target = *target;
  t->user = user;
  t->destroy = destroy;
  t->width = width;
  t->height = height;
  for (int c = 0; c < 3; c++) {
    t->mean[c] = mean[c];
    t->std[c] = std[c] != 0.0f ? std[c] : 1.0f;
  }

  GST_OBJECT_LOCK(sink);
  g_mutex_lock(&sink->lock);
  TargetRef *old_target = sink->target;
  sink->target = t;
  g_mutex_unlock(&sink->lock);
  Plan *old_plan = rebuild_plan_locked(sink);
  GST_OBJECT_UNLOCK(sink);

  /* May call the old destroy(user) unless a frame still uses it. */
  plan_unref(old_plan);
  target_unref(old_target);
}

void
streamsight_sink_set_roi(StreamsightSink *sink, const StreamRoi *roi)
{
  g_return_if_fail(STREAMSIGHT_IS_SINK(sink));
  g_return_if_fail(roi != NULL && stream_roi_validate(roi, "roi", NULL));
  GST_OBJECT_LOCK(sink);
  sink->roi = *roi;
  Plan *old = rebuild_plan_locked(sink);
  GST_OBJECT_UNLOCK(sink);
  plan_unref(old);
}

void
streamsight_sink_get_roi(StreamsightSink *sink, StreamRoi *out)
{
  g_return_if_fail(STREAMSIGHT_IS_SINK(sink));
  GST_OBJECT_LOCK(sink);
  *out = sink->roi;
  GST_OBJECT_UNLOCK(sink);
}

void
streamsight_sink_clear_target(StreamsightSink *sink)
{
  g_return_if_fail(STREAMSIGHT_IS_SINK(sink));
  GST_OBJECT_LOCK(sink);
  g_mutex_lock(&sink->lock);
  TargetRef *old_target = sink->target;
  sink->target = NULL;
  g_mutex_unlock(&sink->lock);
  Plan *old_plan = rebuild_plan_locked(sink);
  GST_OBJECT_UNLOCK(sink);
  plan_unref(old_plan);
  target_unref(old_target);
}

gint64
streamsight_sink_last_frame_mono_ns(StreamsightSink *sink)
{
  g_return_val_if_fail(STREAMSIGHT_IS_SINK(sink), 0);
  return __atomic_load_n(&sink->last_frame_mono_ns, __ATOMIC_RELAXED);
}

/* ---- GstBaseSink / GstVideoSink vfuncs ---- */

/* CLOCK_MONOTONIC in ns: the clock of g_get_monotonic_time(), finer. */
static gint64
mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gboolean
streamsight_sink_start(GstBaseSink *bsink)
{
  StreamsightSink *sink = STREAMSIGHT_SINK(bsink);
  fps_gate_set_max_fps(&sink->gate, 0.0);
  g_atomic_int_set(&sink->flushing, FALSE);
  return TRUE;
}

/* render() never waits, so there is nothing to wake up; frames that arrive
 * between unlock and unlock_stop are refused as flushing. */
static gboolean
streamsight_sink_unlock(GstBaseSink *bsink)
{
  g_atomic_int_set(&STREAMSIGHT_SINK(bsink)->flushing, TRUE);
  return TRUE;
}

static gboolean
streamsight_sink_unlock_stop(GstBaseSink *bsink)
{
  g_atomic_int_set(&STREAMSIGHT_SINK(bsink)->flushing, FALSE);
  return TRUE;
}

/* Accept buffers with any strides and plane offsets (GstVideoMeta), so that
 * decoders never copy frames into a default layout for us. */
static gboolean
streamsight_sink_propose_allocation(GstBaseSink *bsink, GstQuery *query)
{
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, NULL);
  return TRUE;
}

static gboolean
streamsight_sink_set_info(GstVideoSink *vsink, GstCaps *caps,
                          const GstVideoInfo *info)
{
  StreamsightSink *sink = STREAMSIGHT_SINK(vsink);
  GST_DEBUG_OBJECT(sink, "caps %" GST_PTR_FORMAT, caps);

  GST_OBJECT_LOCK(sink);
  g_mutex_lock(&sink->lock);
  sink->info = *info;
  sink->have_info = TRUE;
  g_mutex_unlock(&sink->lock);
  Plan *old = rebuild_plan_locked(sink);
  gboolean ok = sink->plan != NULL || sink->target == NULL;
  GST_OBJECT_UNLOCK(sink);
  plan_unref(old);
  return ok;
}

/* The element's own max-fps budget (fps-gate.h). The property may change
 * at any time; the schedule is the streaming thread's. */
static gboolean
fps_budget_allows(StreamsightSink *sink, gint64 now_ns)
{
  GST_OBJECT_LOCK(sink);
  sink->gate.max_fps = sink->max_fps > 0.0 ? sink->max_fps : 0.0;
  GST_OBJECT_UNLOCK(sink);
  return fps_gate_take(&sink->gate, now_ns);
}

static GstFlowReturn
streamsight_sink_show_frame(GstVideoSink *vsink, GstBuffer *buf)
{
  StreamsightSink *sink = STREAMSIGHT_SINK(vsink);
  SinkFrameInfo fi;
  fi.arrival_mono_ns = g_get_monotonic_time() * 1000;
  fi.arrival_wall_us = g_get_real_time();

  if (G_UNLIKELY(g_atomic_int_get(&sink->flushing)))
    return GST_FLOW_FLUSHING;

  fi.frame_no = __atomic_add_fetch(&sink->frames, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&sink->last_frame_mono_ns, fi.arrival_mono_ns,
                   __ATOMIC_RELAXED);
  fi.pts = GST_BUFFER_PTS(buf);
  fi.preprocess_ns = 0;

  if (!fps_budget_allows(sink, fi.arrival_mono_ns))
    return GST_FLOW_OK;

  g_mutex_lock(&sink->lock);
  Plan *plan = sink->plan ? plan_ref(sink->plan) : NULL;
  g_mutex_unlock(&sink->lock);
  if (!plan) {
    GST_LOG_OBJECT(sink, "no target yet, frame %" G_GUINT64_FORMAT " ignored",
                   fi.frame_no);
    return GST_FLOW_OK;
  }
  const GstVideoInfo *vinfo = sink_resize_video_info(plan->resize);
  fi.src_width = GST_VIDEO_INFO_WIDTH(vinfo);
  fi.src_height = GST_VIDEO_INFO_HEIGHT(vinfo);

  const SinkTarget *t = &plan->target->target;
  gpointer user = plan->target->user;
  float *tensor = t->acquire(user, &fi);
  if (!tensor) {
    plan_unref(plan);
    return GST_FLOW_OK;
  }

  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, vinfo, buf, GST_MAP_READ)) {
    GST_WARNING_OBJECT(sink, "could not map frame %" G_GUINT64_FORMAT,
                       fi.frame_no);
    t->release(user, tensor);
    plan_unref(plan);
    return GST_FLOW_OK;
  }
  gint64 t0 = mono_ns();
  sink_resize_frame(plan->resize, &frame, tensor);
  fi.preprocess_ns = mono_ns() - t0;
  gst_video_frame_unmap(&frame);

  t->submit(user, tensor, &fi);
  plan_unref(plan);
  return GST_FLOW_OK;
}
