/* streamsight — streamsightsink (see streamsight-sink.h).
 *
 * SECTION:element-streamsightsink
 *
 * The last element of every stream's pipeline. For each frame it keeps, it
 * samples the raw frame straight into the model's input tensor in one pass:
 * for every output pixel, a bilinear sample of the source (after the stretch,
 * centre-crop or letterbox geometry), colour conversion of the sampled values
 * to RGB, clamping to 0..255 and normalisation (x - mean) / std, written as
 * NHWC float RGB. The filled tensor goes to the element's SinkTarget, which
 * submits it to the inference pool. Nothing here waits for inference.
 *
 * Colour: YUV frames use the matrix and range of the caps' colorimetry
 * (GstVideoInfo defaults to BT.601 below 720 lines and BT.709 from 720 up
 * when the caps carry none). Subsampled chroma is replicated to the luma
 * grid (chroma sample k serves luma pixels 2k and 2k+1), so the fused pass
 * equals "convert every source pixel to RGB, then resize bilinearly"; the
 * clamp to 0..255 happens after the interpolation.
 *
 * Sampling uses pixel centres: output pixel ox samples the source window
 * [x0, x0 + w) at x0 + (ox + 0.5) * w / out_w - 0.5, clamped to the edge
 * pixels (OpenCV's INTER_LINEAR convention). Two taps per axis, no
 * antialiasing: a 720p frame is reduced by ~3-6x, which classification
 * tolerates, and the cost stays independent of the source size.
 *
 * Cost: per frame, one row kernel call per output row (frame-convert.h;
 * AVX2 gathers when the CPU has them). The tap tables are built once per
 * caps/target/mode (Plan), never per frame.
 *
 * Example: gst-launch-1.0 videotestsrc ! streamsightsink max-fps=5
 * (the application connects a target with streamsight_sink_set_target()).
 */
#include "streamsight-sink.h"

#include "fps-gate.h"
#include "frame-convert.h"

#include <math.h>
#include <string.h>
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

/* Sampling rows of one output row: source rows of component 0 and of
 * components 1-2 (which share subsampling in every accepted format), top
 * and bottom, and the bottom row's weight. */
typedef struct {
  gint32 a0, a1, b0, b1;
  float fy;
} RowTap;

/* Everything render() needs for one (caps, target, resize mode): built in
 * set_info / set_target / on a resize-mode change, then immutable and
 * reference counted, so render() takes a reference under the lock and works
 * unlocked. Column taps follow frame-convert.h (class 0: component 0,
 * class 1: components 1 and 2). */
typedef struct {
  gint refcount; /* atomic */
  TargetRef *target;
  GstVideoInfo vinfo;
  int out_w, out_h;
  int col_begin, col_end; /* output columns with content (letterbox) */
  int row_begin, row_end; /* output rows with content */
  gint32 *off[2];         /* per class, col_end - col_begin byte offsets */
  float *fx[2];           /* per class, weights of the right tap */
  int ps[2];              /* per class, bytes between the two taps */
  int n_safe_vec;         /* see FrameConvertRow */
  RowTap *rows;           /* out_h, only [row_begin, row_end) used */
  guint plane[3];         /* plane of component c */
  guint poffset[3];       /* byte offset of component c inside a pixel */
  FrameConvertCoefs k;
  float border[3];        /* normalised black, for letterbox borders */
  FrameConvertRowFn row_fn;
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
  for (int k = 0; k < 2; k++) {
    g_free(p->off[k]);
    g_free(p->fx[k]);
  }
  g_free(p->rows);
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

/* ---- the converter plan ---- */

/* YUV -> RGB 0..255 from raw 8-bit components, for matrix coefficients
 * Kr, Kb and the range's offsets and scales:
 *   Y' = (Y - oY) / sY, Pb = (U - oC) / sC, Pr = (V - oC) / sC
 *   R = Y' + 2 (1 - Kr) Pr
 *   G = Y' - 2 Kb (1 - Kb) / Kg Pb - 2 Kr (1 - Kr) / Kg Pr,  Kg = 1 - Kr - Kb
 *   B = Y' + 2 (1 - Kb) Pb
 * all times 255. */
static void
plan_set_yuv_matrix(Plan *p, double kr, double kb, const gint offset[4],
                    const gint scale[4])
{
  double kg = 1.0 - kr - kb;
  double coef[3][3] = {
    { 1.0, 0.0, 2.0 * (1.0 - kr) },
    { 1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg },
    { 1.0, 2.0 * (1.0 - kb), 0.0 },
  };
  for (int c = 0; c < 3; c++) {
    double t = 0.0;
    for (int k = 0; k < 3; k++) {
      double m = 255.0 * coef[c][k] / scale[k];
      p->k.m[c][k] = (float)m;
      t -= m * offset[k];
    }
    p->k.t[c] = (float)t;
  }
}

static gboolean
plan_set_color(Plan *p, const GstVideoInfo *info)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  memset(p->k.m, 0, sizeof p->k.m);
  memset(p->k.t, 0, sizeof p->k.t);
  if (GST_VIDEO_FORMAT_INFO_IS_RGB(finfo)) {
    for (int c = 0; c < 3; c++)
      p->k.m[c][c] = 1.0f;
    return TRUE;
  }
  gdouble kr, kb;
  GstVideoColorMatrix matrix = info->colorimetry.matrix;
  if (!gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb)) {
    /* Unknown (or RGB on YUV data): what GstVideoInfo would default to. */
    matrix = GST_VIDEO_INFO_HEIGHT(info) >= 720 ? GST_VIDEO_COLOR_MATRIX_BT709
                                                : GST_VIDEO_COLOR_MATRIX_BT601;
    gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb);
  }
  GstVideoColorRange range = info->colorimetry.range;
  if (range == GST_VIDEO_COLOR_RANGE_UNKNOWN)
    range = GST_VIDEO_COLOR_RANGE_16_235;
  gint offset[4], scale[4];
  gst_video_color_range_offsets(range, finfo, offset, scale);
  plan_set_yuv_matrix(p, kr, kb, offset, scale);
  return TRUE;
}

/* One tap along an axis: output position o of [begin, end) samples the
 * source window [src0, src0 + src_len) at its pixel centre, clamped to the
 * pixels [lo, hi] (the region of interest's, the whole axis without one),
 * so that a region is sampled exactly as if it had been cut out first. */
static void
axis_tap(int o, int begin, int end, double src0, double src_len, int lo,
         int hi, gint32 *i0, gint32 *i1, float *frac)
{
  double x = src0 + ((double)(o - begin) + 0.5) * src_len / (end - begin) -
             0.5;
  if (x < (double)lo)
    x = (double)lo;
  if (x > (double)hi)
    x = (double)hi;
  int x0 = (int)x;
  *i0 = x0;
  *i1 = x0 + 1 <= hi ? x0 + 1 : hi;
  *frac = (float)(x - x0);
}

/* The pixels [lo, hi] an ROI edge pair covers on an axis of size pixels:
 * those it touches (a fractional edge keeps its partial pixel). */
static void
roi_axis(double start, double len, int size, double *src0, double *src_len,
         int *lo, int *hi)
{
  /* ROI edges are fractions of the frame; 1e-6 of a pixel absorbs their
   * rounding so that 0.25 x 64 stays pixel 16. */
  const double eps = 1e-6;
  *src0 = start * size;
  *src_len = len * size;
  *lo = CLAMP((int)floor(*src0 + eps), 0, size - 1);
  *hi = CLAMP((int)ceil(*src0 + *src_len - eps) - 1, *lo, size - 1);
}

/* One class's taps in adjacent form (frame-convert.h): the source sample
 * indices s0 <= s1 (equal, or s1 = s0 + 1) with weight f on s1, among n
 * samples, become a left index and a weight on index + 1. */
static void
class_tap(int s0, int s1, float f, int n, int *idx, float *weight)
{
  if (n < 2) {
    *idx = 0;
    *weight = 0.0f;
  } else if (s1 == s0) {
    /* One sample (right edge, or two luma taps on one chroma sample). */
    *idx = s0 < n - 1 ? s0 : n - 2;
    *weight = s0 < n - 1 ? 0.0f : 1.0f;
  } else {
    *idx = s0;
    *weight = f;
  }
}

/* Output columns (from col_begin) for which a 4-byte load at each tap, and
 * at tap + ps when ps > 3, stays inside the row of every component. Offsets
 * grow with the column, so this is a prefix. */
static int
safe_vec_columns(const Plan *p, const GstVideoFormatInfo *finfo, int w,
                 int n_cols)
{
  int row_end[GST_VIDEO_MAX_PLANES] = { 0 };
  for (int c = 0; c < 3; c++) {
    int n = GST_VIDEO_FORMAT_INFO_SCALE_WIDTH(finfo, c, w);
    int end = (n - 1) * GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, c) +
              (int)p->poffset[c] + 1;
    row_end[p->plane[c]] = MAX(row_end[p->plane[c]], end);
  }
  for (int i = 0; i < n_cols; i++)
    for (int c = 0; c < 3; c++) {
      int k = c == 0 ? 0 : 1;
      int last = p->off[k][i] + (int)p->poffset[c] + 3 +
                 (p->ps[k] > 3 ? p->ps[k] : 0);
      if (last >= row_end[p->plane[c]])
        return i;
    }
  return n_cols;
}

static Plan *
plan_build(const GstVideoInfo *info, TargetRef *target,
           StreamsightResizeMode mode, const StreamRoi *roi)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  const int w = GST_VIDEO_INFO_WIDTH(info), h = GST_VIDEO_INFO_HEIGHT(info);
  if (w < 1 || h < 1 || GST_VIDEO_FORMAT_INFO_DEPTH(finfo, 0) != 8)
    return NULL;
  /* Components 1 and 2 share one column/row table. */
  if (GST_VIDEO_FORMAT_INFO_W_SUB(finfo, 1) !=
          GST_VIDEO_FORMAT_INFO_W_SUB(finfo, 2) ||
      GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 1) !=
          GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 2) ||
      GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, 1) !=
          GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, 2))
    return NULL;

  Plan *p = g_new0(Plan, 1);
  p->refcount = 1;
  p->target = target_ref(target);
  p->vinfo = *info;
  p->out_w = target->width;
  p->out_h = target->height;
  p->rows = g_new0(RowTap, p->out_h);
  for (int c = 0; c < 3; c++) {
    p->plane[c] = GST_VIDEO_FORMAT_INFO_PLANE(finfo, c);
    p->poffset[c] = GST_VIDEO_FORMAT_INFO_POFFSET(finfo, c);
  }
  plan_set_color(p, info);
  for (int c = 0; c < 3; c++) {
    p->k.scale[c] = 1.0f / target->std[c];
    p->k.bias[c] = -target->mean[c] / target->std[c];
    p->border[c] = p->k.bias[c];
  }

  /* Geometry on the display aspect (pixel aspect ratio applied), inside
   * the region of interest: the resize modes fit the region, not the
   * frame, to the target; only the source rectangle changes, so the ROI
   * costs nothing per frame. */
  double par = info->par_n > 0 && info->par_d > 0
                   ? (double)info->par_n / info->par_d
                   : 1.0;
  double rx0, rw, ry0, rh;
  int x_lo, x_hi, y_lo, y_hi;
  roi_axis(roi->x, roi->w, w, &rx0, &rw, &x_lo, &x_hi);
  roi_axis(roi->y, roi->h, h, &ry0, &rh, &y_lo, &y_hi);
  double disp_w = rw * par, disp_h = rh;
  double sx0 = rx0, sw = rw, sy0 = ry0, sh = rh;
  p->col_begin = 0;
  p->col_end = p->out_w;
  p->row_begin = 0;
  p->row_end = p->out_h;
  double out_ar = (double)p->out_w / p->out_h;
  if (mode == STREAMSIGHT_RESIZE_CROP) {
    if (disp_w / disp_h > out_ar) {
      sw = disp_h * out_ar / par;
      sx0 = rx0 + (rw - sw) / 2.0;
    } else {
      sh = disp_w / out_ar;
      sy0 = ry0 + (rh - sh) / 2.0;
    }
  } else if (mode == STREAMSIGHT_RESIZE_LETTERBOX) {
    double s = MIN(p->out_w / disp_w, p->out_h / disp_h);
    int cw = CLAMP((int)lround(disp_w * s), 1, p->out_w);
    int ch = CLAMP((int)lround(disp_h * s), 1, p->out_h);
    p->col_begin = (p->out_w - cw) / 2;
    p->col_end = p->col_begin + cw;
    p->row_begin = (p->out_h - ch) / 2;
    p->row_end = p->row_begin + ch;
  }

  /* Columns: luma/pixel taps, then each class's adjacent-tap form. */
  const int n_cols = p->col_end - p->col_begin;
  int n_samples[2], pstride[2], wsub[2];
  for (int k = 0; k < 2; k++) {
    wsub[k] = GST_VIDEO_FORMAT_INFO_W_SUB(finfo, k);
    pstride[k] = GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, k);
    n_samples[k] = GST_VIDEO_FORMAT_INFO_SCALE_WIDTH(finfo, k, w);
    p->ps[k] = n_samples[k] >= 2 ? pstride[k] : 0;
    p->off[k] = g_new(gint32, n_cols);
    p->fx[k] = g_new(float, n_cols);
  }
  for (int i = 0; i < n_cols; i++) {
    gint32 x0, x1;
    float fx;
    axis_tap(p->col_begin + i, p->col_begin, p->col_end, sx0, sw, x_lo, x_hi,
             &x0, &x1, &fx);
    for (int k = 0; k < 2; k++) {
      int idx;
      float weight;
      class_tap(x0 >> wsub[k], x1 >> wsub[k], fx, n_samples[k], &idx,
                &weight);
      p->off[k][i] = idx * pstride[k];
      p->fx[k][i] = weight;
    }
  }
  p->n_safe_vec = safe_vec_columns(p, finfo, w, n_cols);

  const int hsub_a = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 0);
  const int hsub_b = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 1);
  for (int o = p->row_begin; o < p->row_end; o++) {
    RowTap *t = &p->rows[o];
    gint32 y0, y1;
    axis_tap(o, p->row_begin, p->row_end, sy0, sh, y_lo, y_hi, &y0, &y1,
             &t->fy);
    t->a0 = y0 >> hsub_a;
    t->a1 = y1 >> hsub_a;
    t->b0 = y0 >> hsub_b;
    t->b1 = y1 >> hsub_b;
  }
  p->row_fn = frame_convert_row_best();
  return p;
}

/* Rebuilds the plan from the current caps, target and resize mode. Called
 * with GST_OBJECT_LOCK held; returns the old plan for the caller to unref
 * after unlocking. */
static Plan *
rebuild_plan_locked(StreamsightSink *sink)
{
  Plan *p = NULL;
  g_mutex_lock(&sink->lock);
  if (sink->have_info && sink->target) {
    p = plan_build(&sink->info, sink->target, sink->resize_mode, &sink->roi);
    if (!p)
      GST_WARNING_OBJECT(sink, "cannot convert %s %dx%d",
                         GST_VIDEO_INFO_NAME(&sink->info),
                         GST_VIDEO_INFO_WIDTH(&sink->info),
                         GST_VIDEO_INFO_HEIGHT(&sink->info));
  }
  Plan *old = sink->plan;
  sink->plan = p;
  g_mutex_unlock(&sink->lock);
  return old;
}

/* ---- the fused pass ---- */

static void
fill_border(const Plan *p, float *o, int n)
{
  for (int i = 0; i < n; i++) {
    o[3 * i + 0] = p->border[0];
    o[3 * i + 1] = p->border[1];
    o[3 * i + 2] = p->border[2];
  }
}

/* Asks for the source bytes output row oy will read, one row ahead: the
 * rows a downscale reads are several source rows apart, too far for the
 * hardware prefetcher to follow, and a camera's frame has just been written
 * by the decoder, usually on the other core, so each line would otherwise
 * be a full miss taken in series with the arithmetic. */
static void
prefetch_row(const Plan *p, const guint8 *const base[3], const gint stride[3],
             int oy)
{
  if (oy < p->row_begin || oy >= p->row_end || p->col_end <= p->col_begin)
    return;
  const RowTap *rt = &p->rows[oy];
  const int last = p->col_end - p->col_begin - 1;
  for (int c = 0; c < 3; c++) {
    const int k = c == 0 ? 0 : 1;
    gsize first = (gsize)p->off[k][0];
    gsize end = (gsize)p->off[k][last] + (gsize)p->ps[k] + 4;
    gsize r0 = (gsize)(c == 0 ? rt->a0 : rt->b0) * stride[c];
    gsize r1 = (gsize)(c == 0 ? rt->a1 : rt->b1) * stride[c];
    for (gsize b = first; b < end; b += 64) {
      __builtin_prefetch(base[c] + r0 + b);
      __builtin_prefetch(base[c] + r1 + b);
    }
  }
}

static void
convert_frame(const Plan *p, const GstVideoFrame *f, float *out)
{
  const guint8 *base[3];
  gint stride[3];
  for (int c = 0; c < 3; c++) {
    base[c] = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(f, p->plane[c]) +
              p->poffset[c];
    stride[c] = GST_VIDEO_FRAME_PLANE_STRIDE(f, p->plane[c]);
  }
  const int W = p->out_w;
  FrameConvertRow row = {
    .n = p->col_end - p->col_begin,
    .n_safe_vec = p->n_safe_vec,
    .off = { p->off[0], p->off[1] },
    .fx = { p->fx[0], p->fx[1] },
    .ps = { p->ps[0], p->ps[1] },
    .k = &p->k,
  };
  for (int oy = 0; oy < p->out_h; oy++) {
    float *o = out + (size_t)oy * W * 3;
    if (oy < p->row_begin || oy >= p->row_end) {
      fill_border(p, o, W);
      continue;
    }
    const RowTap *rt = &p->rows[oy];
    row.top[0] = base[0] + (gsize)rt->a0 * stride[0];
    row.bot[0] = base[0] + (gsize)rt->a1 * stride[0];
    for (int c = 1; c < 3; c++) {
      row.top[c] = base[c] + (gsize)rt->b0 * stride[c];
      row.bot[c] = base[c] + (gsize)rt->b1 * stride[c];
    }
    row.fy = rt->fy;
    row.out = o + 3 * p->col_begin;
    prefetch_row(p, base, stride, oy + 1);
    fill_border(p, o, p->col_begin);
    p->row_fn(&row);
    fill_border(p, o + 3 * p->col_end, W - p->col_end);
  }
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
  fi.src_width = GST_VIDEO_INFO_WIDTH(&plan->vinfo);
  fi.src_height = GST_VIDEO_INFO_HEIGHT(&plan->vinfo);

  const SinkTarget *t = &plan->target->target;
  gpointer user = plan->target->user;
  float *tensor = t->acquire(user, &fi);
  if (!tensor) {
    plan_unref(plan);
    return GST_FLOW_OK;
  }

  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &plan->vinfo, buf, GST_MAP_READ)) {
    GST_WARNING_OBJECT(sink, "could not map frame %" G_GUINT64_FORMAT,
                       fi.frame_no);
    t->release(user, tensor);
    plan_unref(plan);
    return GST_FLOW_OK;
  }
  gint64 t0 = mono_ns();
  convert_frame(plan, &frame, tensor);
  fi.preprocess_ns = mono_ns() - t0;
  gst_video_frame_unmap(&frame);

  t->submit(user, tensor, &fi);
  plan_unref(plan);
  return GST_FLOW_OK;
}
