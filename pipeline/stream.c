/* streamsight — one stream's pipeline and its supervisor (see stream.h for
 * the life cycle and the connection-quality rule).
 *
 * The supervisor runs on the main context given at creation (building the
 * pipeline, the bus watch, the tick, start and stop), except for three
 * kinds of work: the element signal handlers (pad-added and friends), which
 * GStreamer calls on streaming threads and which touch only the elements
 * they are given and the per-attempt link flags under the stream's lock;
 * the pipeline's state changes, which run on its PipelineRunner's thread
 * because a camera can make them wait for good (pipeline-runner.h); and the
 * runner's stop hooks (the deadline thread, the runner's thread), which
 * touch only the counters under the stream's lock.
 *
 * No unbounded queue anywhere: rtspsrc's jitterbuffer is bounded by its
 * latency and drops beyond it (drop-on-latency), decodebin adds no queue for
 * RTP and only its small multiqueue after a file demuxer, and the sink never
 * waits (it drops frames while one is in flight).
 */
#define G_LOG_DOMAIN "streamsight"

#include "stream.h"

#include <math.h>
#include <string.h>

#include <gst/base/gstbasesrc.h>
#include <gst/sdp/gstsdpmessage.h>
#include <gst/video/video.h>

#include "frame-infer.h"
#include "pipeline-runner.h"
#include "socket-cut.h"
#include "streamsight-sink.h"

/* The config's resize_mode is handed to the sink's "resize-mode" property
 * as it is: the two enums must agree. */
G_STATIC_ASSERT((int)STREAMSIGHT_RESIZE_STRETCH == STREAM_RESIZE_STRETCH &&
                (int)STREAMSIGHT_RESIZE_CROP == STREAM_RESIZE_CROP &&
                (int)STREAMSIGHT_RESIZE_LETTERBOX == STREAM_RESIZE_LETTERBOX);

/* The supervisor's period: how quickly a first frame, a stall or the end of
 * a backoff delay is noticed. 4 wake-ups a second per stream cost nothing. */
#define TICK_MS 250
/* Consecutive failures are forgotten after this much healthy running (or
 * backoff_max_s if longer), so a stream that drops once a day restarts
 * quickly every time. */
#define HEALTHY_RESET_MIN_S 10.0
/* Backoff delays are multiplied by a random factor in 1 +- JITTER so that
 * cameras behind one switch that reboots do not all retry in lock step. */
#define BACKOFF_JITTER 0.2
/* How long to wait for a frame still being inferred when stopping. One
 * inference takes milliseconds; this only guards against a wedged pool. */
#define INFLIGHT_WAIT_MAX_US (5 * G_USEC_PER_SEC)
/* Stopping a pipeline (its runner's thread sets it to NULL). A healthy one
 * stops in milliseconds; one that is still stopping after STOP_CUT_AFTER_US
 * is waiting on its camera, so its connections to the camera are shut down
 * (socket-cut.h), which ends the wait in the cases seen (an endless RTSP
 * body or header). After STOP_DEADLINE_US it is abandoned: left to its
 * thread, counted, and the stream goes on with a new pipeline. */
#define STOP_CUT_AFTER_US (2 * G_USEC_PER_SEC)
#define STOP_DEADLINE_US (5 * G_USEC_PER_SEC)
/* A stream with this many abandoned pipelines still stuck stops trying
 * (state failed) until one of them finishes: each may hold a connection and
 * whatever its source buffered, so a camera that can wedge every attempt
 * costs at most this many. */
#define MAX_STUCK_PIPELINES 2
/* test: sources. */
#define TEST_WIDTH 640
#define TEST_HEIGHT 480
#define TEST_FPS 15
/* connection_quality thresholds (stream.h). */
#define QUALITY_POOR_EVENTS 4
#define QUALITY_WARMUP_S 15.0
#define QUALITY_POOR_RATE 0.5
#define QUALITY_DEGRADED_RATE 0.9

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

/* ---- small helpers ---- */

static void
hour_counter_add(HourCounter *h, gint64 now_us)
{
  gint64 minute = now_us / (60 * G_USEC_PER_SEC);
  int slot = (int)(minute % 60);
  if (h->minute[slot] != minute) {
    h->minute[slot] = minute;
    h->count[slot] = 0;
  }
  h->count[slot]++;
}

static guint
hour_counter_sum(const HourCounter *h, gint64 now_us)
{
  gint64 minute = now_us / (60 * G_USEC_PER_SEC);
  guint n = 0;
  for (int i = 0; i < 60; i++)
    if (h->count[i] && minute - h->minute[i] < 60)
      n += h->count[i];
  return n;
}

typedef struct {
  GSourceFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  gboolean done;
} SyncCall;

static gboolean
sync_call_cb(gpointer p)
{
  SyncCall *c = p;
  c->func(c->data);
  g_mutex_lock(&c->lock);
  c->done = TRUE;
  g_cond_signal(&c->cond);
  g_mutex_unlock(&c->lock);
  return G_SOURCE_REMOVE;
}

void
stream_context_call_sync(GMainContext *ctx, GSourceFunc func, gpointer data)
{
  SyncCall c = { .func = func, .data = data };
  GSource *idle;
  if (g_main_context_acquire(ctx)) {
    func(data);
    g_main_context_release(ctx);
    return;
  }
  g_mutex_init(&c.lock);
  g_cond_init(&c.cond);
  idle = g_idle_source_new();
  g_source_set_priority(idle, G_PRIORITY_DEFAULT);
  g_source_set_callback(idle, sync_call_cb, &c, NULL);
  g_source_attach(idle, ctx);
  g_source_unref(idle);
  g_mutex_lock(&c.lock);
  while (!c.done)
    g_cond_wait(&c.cond, &c.lock);
  g_mutex_unlock(&c.lock);
  g_mutex_clear(&c.lock);
  g_cond_clear(&c.cond);
}

/* Runs func on the main context without waiting; holds a reference on s
 * until it has run. Always through an idle source, even when the context is
 * free: taking ownership here could race with the thread about to run it
 * (g_main_context_push_thread_default insists on acquiring). */
static void
call_async(Stream *s, GSourceFunc func)
{
  GSource *idle = g_idle_source_new();
  g_source_set_priority(idle, G_PRIORITY_DEFAULT);
  g_source_set_callback(idle, func, stream_ref(s),
                        (GDestroyNotify)stream_unref);
  g_source_attach(idle, s->ctx);
  g_source_unref(idle);
}

static char *
scrub(Stream *s, const char *text)
{
  return stream_config_scrub(text, (const char *const *)s->secrets);
}

static void
set_last_error(Stream *s, const char *text)
{
  g_autofree char *scrubbed = scrub(s, text);
  /* GStreamer's texts may quote what a camera sent, bytes that are not
   * UTF-8: the error goes out in JSON, which must be. */
  g_autofree char *clean = g_utf8_make_valid(scrubbed, -1);
  g_mutex_lock(&s->lock);
  g_free(s->last_error);
  s->last_error = g_steal_pointer(&clean);
  s->last_error_wall_us = g_get_real_time();
  g_mutex_unlock(&s->lock);
}

/* The host (newly allocated) and port of the location, with the scheme's
 * default port; FALSE when there is no host. */
static gboolean
location_endpoint(Stream *s, char **host_out, gint *port_out)
{
  char *host = NULL;
  gint port = -1;
  if (!g_uri_split(s->location, G_URI_FLAGS_ENCODED, NULL, NULL, &host,
                   &port, NULL, NULL, NULL, NULL) || !host) {
    g_free(host);
    return FALSE;
  }
  if (port < 0)
    port = g_str_equal(s->scheme, "rtsps")   ? 322
           : g_str_equal(s->scheme, "http")  ? 80
           : g_str_equal(s->scheme, "https") ? 443
                                             : 554;
  *host_out = host;
  *port_out = port;
  return TRUE;
}

/* "host:port" of the location, for connection errors. */
static char *
location_host_port(Stream *s)
{
  g_autofree char *host = NULL;
  gint port;
  if (!location_endpoint(s, &host, &port))
    return g_strdup("the server");
  return strchr(host, ':') ? g_strdup_printf("[%s]:%d", host, port)
                           : g_strdup_printf("%s:%d", host, port);
}

/* A one-line, credential-free description of an error message. GStreamer's
 * debug text is "file.c(line): function (): /Pipeline/Element:\ndetail";
 * only the detail is kept. */
static char *
describe_error(Stream *s, GError *err, const char *debug, GstObject *origin)
{
  const char *detail = NULL;
  GString *out = g_string_new(NULL);
  g_autofree char *raw = NULL;
  if (debug) {
    const char *nl = strrchr(debug, '\n');
    detail = nl ? nl + 1 : NULL;
    if (detail && !detail[0])
      detail = NULL;
  }
  if (origin && GST_IS_ELEMENT(origin)) {
    GstElementFactory *f = gst_element_get_factory(GST_ELEMENT(origin));
    g_string_append_printf(out, "%s: ",
                           f ? GST_OBJECT_NAME(f) : GST_OBJECT_NAME(origin));
  }
  if (g_str_has_prefix(s->scheme, "rtsp") &&
      err->domain == GST_RESOURCE_ERROR &&
      err->code == GST_RESOURCE_ERROR_OPEN_READ_WRITE) {
    g_autofree char *hp = location_host_port(s);
    g_string_append_printf(out, "cannot connect to %s (refused, "
                                "unreachable or unknown host): ", hp);
  } else if (g_str_has_prefix(s->scheme, "http") &&
             err->domain == GST_STREAM_ERROR &&
             err->code == GST_STREAM_ERROR_FAILED && origin &&
             GST_IS_BASE_SRC(origin)) {
    /* souphttpsrc reports a refused connection or an HTTP error only as
     * "Internal data stream error"; say at least where. */
    g_autofree char *hp = location_host_port(s);
    g_string_append_printf(out, "cannot fetch from %s (refused, "
                                "unreachable, or an HTTP error): ", hp);
  }
  g_string_append(out, err->message);
  if (detail && !strstr(err->message, detail))
    g_string_append_printf(out, " (%s)", detail);
  raw = g_string_free(out, FALSE);
  return scrub(s, raw);
}

/* ---- element signal handlers (streaming threads) ---- */

static void
link_to_fakesink(GstElement *any_child, GstPad *pad)
{
  GstElement *bin = GST_ELEMENT(gst_element_get_parent(any_child));
  GstElement *fake = gst_element_factory_make("fakesink", NULL);
  GstPad *fpad;
  if (!bin || !fake) {
    g_clear_object(&bin);
    if (fake)
      gst_object_unref(fake);
    return;
  }
  g_object_set(fake, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add(GST_BIN(bin), fake);
  fpad = gst_element_get_static_pad(fake, "sink");
  gst_pad_link(pad, fpad);
  gst_object_unref(fpad);
  gst_element_sync_state_with_parent(fake);
  gst_object_unref(bin);
}

/* A decoded pad appeared (decodebin / uridecodebin). The first video pad
 * goes to the sink, straight when the sink accepts its format; other pads
 * (audio, a second video track) go to a fakesink. */
static void
on_decoded_pad(GstElement *dbin, GstPad *pad, gpointer user)
{
  Stream *s = user;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  g_autoptr(GstCaps) accepted = NULL;
  GstElement *sink;
  GstPad *sinkpad;
  const char *name;
  gboolean already;

  if (!caps)
    caps = gst_pad_query_caps(pad, NULL);
  name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  if (!g_str_has_prefix(name, "video/")) {
    link_to_fakesink(dbin, pad);
    return;
  }
  g_mutex_lock(&s->lock);
  already = s->video_linked;
  s->video_linked = TRUE;
  sink = s->sink ? gst_object_ref(s->sink) : NULL;
  g_mutex_unlock(&s->lock);
  if (already || !sink) {
    link_to_fakesink(dbin, pad);
    g_clear_object(&sink);
    return;
  }
  sinkpad = gst_element_get_static_pad(sink, "sink");
  accepted = gst_pad_get_pad_template_caps(sinkpad);
  if (gst_caps_can_intersect(caps, accepted)) {
    gst_pad_link(pad, sinkpad);
  } else if (strcmp(name, "video/x-raw") != 0 ||
             !gst_caps_features_is_equal(
                 gst_caps_get_features(caps, 0),
                 GST_CAPS_FEATURES_MEMORY_SYSTEM_MEMORY)) {
    /* Compressed video nobody could decode, or frames in GPU memory. */
    g_autofree char *desc = gst_caps_to_string(caps);
    GST_ELEMENT_ERROR(sink, STREAM, CODEC_NOT_FOUND,
                      ("no decoder gives raw video in system memory for "
                       "%.200s", desc), (NULL));
  } else {
    /* A raw format the sink does not convert itself (YUY2 from most
     * webcams, 4:4:4 or 10-bit from some decoders): only then a
     * videoconvert goes in front of the sink, and it costs a full-frame
     * pass per frame, so say so once. */
    const char *fmt = gst_structure_get_string(
        gst_caps_get_structure(caps, 0), "format");
    GstElement *bin = GST_ELEMENT(gst_element_get_parent(dbin));
    GstElement *conv = gst_element_factory_make("videoconvert", NULL);
    if (bin && conv) {
      GstPad *cpad = gst_element_get_static_pad(conv, "sink");
      g_message("%s: the decoder outputs %s, which the sink does not take; "
                "converting with videoconvert (extra CPU per frame)", s->id,
                fmt ? fmt : "an unknown format");
      gst_bin_add(GST_BIN(bin), conv);
      gst_element_link(conv, sink);
      gst_pad_link(pad, cpad);
      gst_object_unref(cpad);
      gst_element_sync_state_with_parent(conv);
    } else {
      GST_ELEMENT_ERROR(sink, CORE, MISSING_PLUGIN,
                        ("videoconvert is missing and the decoder outputs "
                         "%s", fmt ? fmt : "an unknown format"), (NULL));
      if (conv)
        gst_object_unref(conv);
    }
    g_clear_object(&bin);
  }
  gst_object_unref(sinkpad);
  gst_object_unref(sink);
}

/* rtspsrc: set up only the first video stream of the session. */
static gboolean
on_select_stream(GstElement *src, guint num, GstCaps *caps, gpointer user)
{
  Stream *s = user;
  const char *media =
      gst_structure_get_string(gst_caps_get_structure(caps, 0), "media");
  gboolean take = FALSE;
  if (g_strcmp0(media, "video") != 0)
    return FALSE;
  g_mutex_lock(&s->lock);
  take = s->video_selected++ == 0;
  g_mutex_unlock(&s->lock);
  return take;
}

/* At most this many media of a camera's SDP reach rtspsrc. Cameras offer
 * a few (video, audio, metadata, back channel); rtspsrc builds a stream for
 * every one, and stopping a pipeline while rtspsrc's own thread tears a
 * long list down crashed the whole process (GStreamer 1.22,
 * gst_rtsp_connection_flush on a freed connection: a hostile camera with an
 * SDP of 1000 media did it within seconds, 20 media never did here). */
#define STREAM_RTSP_MAX_SDP_MEDIA 8

/* rtspsrc "on-sdp": before it configures the streams; the media beyond
 * the limit are dropped from the message it goes on with. */
static void
on_sdp(GstElement *src, GstSDPMessage *sdp, gpointer user)
{
  Stream *s = user;
  guint n = gst_sdp_message_medias_len(sdp);
  if (n <= STREAM_RTSP_MAX_SDP_MEDIA)
    return;
  for (guint i = STREAM_RTSP_MAX_SDP_MEDIA; i < n; i++)
    gst_sdp_media_uninit(&g_array_index(sdp->medias, GstSDPMedia, i));
  g_array_set_size(sdp->medias, STREAM_RTSP_MAX_SDP_MEDIA);
  if (!g_atomic_int_compare_and_exchange(&s->sdp_trim_logged, 0, 1))
    return;
  g_message("%s: the camera's SDP lists %u media: only the first %d are "
            "used", s->id, n, STREAM_RTSP_MAX_SDP_MEDIA);
}

/* rtspsrc pad -> decodebin. */
static void
on_rtsp_pad(GstElement *src, GstPad *pad, gpointer user)
{
  GstElement *dbin = user;
  GstPad *dpad = gst_element_get_static_pad(dbin, "sink");
  if (gst_pad_is_linked(dpad))
    link_to_fakesink(src, pad);
  else
    gst_pad_link(pad, dpad);
  gst_object_unref(dpad);
}

/* uridecodebin, decodebin: stop autoplugging at anything that is not video, so audio
 * is never decoded (its pad then goes to a fakesink). */
static gboolean
on_autoplug_continue(GstElement *bin, GstPad *pad, GstCaps *caps,
                     gpointer user)
{
  const char *name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  return !(g_str_has_prefix(name, "audio/") ||
           g_str_has_prefix(name, "text/") ||
           g_str_has_prefix(name, "subpicture/") ||
           g_str_has_prefix(name, "application/x-subtitle"));
}

/* uridecodebin / souphttpsrc: credentials through properties, never in the
 * URI the element sees. */
static void
on_source_setup(GstElement *bin, GstElement *source, gpointer user)
{
  Stream *s = user;
  if (s->user && g_object_class_find_property(G_OBJECT_GET_CLASS(source),
                                              "user-id"))
    g_object_set(source, "user-id", s->user, NULL);
  if (s->password && g_object_class_find_property(
                         G_OBJECT_GET_CLASS(source), "user-pw"))
    g_object_set(source, "user-pw", s->password, NULL);
  /* souphttpsrc's own "timeout" stays at its default (15 s): with any other
   * value it does not share its HTTP session (build_pipeline keeps it
   * across attempts, see there), and a server that accepts and then sends
   * nothing already fails the attempt after stall_timeout_s (no frame). */
}

/* decode=keyframes: non-key frames never reach the decoder, which is where
 * the CPU goes (skipping after decoding would save nothing). */
static GstPadProbeReturn
drop_delta_units(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  return GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)
             ? GST_PAD_PROBE_DROP
             : GST_PAD_PROBE_OK;
}

/* Frames a live stream's video decoder took in and gave out in one attempt,
 * to count those it could not decode (damaged data: bit errors, a camera's
 * broken encoder; libav conceals milder damage and outputs the frame) as
 * RESULTS_ERRORS. in - out = frames pending in the decoder (reordering) +
 * frames lost, so lost = in - out - pending. Only for live sources: their
 * sink does not synchronise, so no QoS makes the decoder skip late frames
 * on purpose. Shared by probes on the decoder's two pads (atomic reference
 * count); in is written by the thread feeding the decoder, out by the one
 * it pushes from, and the rest by the feeding thread only. */
typedef struct {
  StreamResults *results;  /* a reference */
  GstVideoDecoder *dec;    /* borrowed: the probes go with its pads */
  gboolean keyframes_only; /* decode=keyframes: drop delta units here */
  gint64 in, out;          /* atomic */
  gint64 lost_counted;
  gboolean decoding;       /* a frame came out: count losses from now */
} DecodeCount;

static void
decode_count_clear(gpointer p)
{
  stream_results_unref(((DecodeCount *)p)->results);
}

static void
decode_count_release(gpointer p)
{
  g_atomic_rc_box_release_full(p, decode_count_clear);
}

/* Before each frame enters the decoder: what it has lost since the last
 * look (called on the decoder's input thread, between two of its input
 * calls, so a synchronous decoder has finished with the previous frame). */
static GstPadProbeReturn
decoder_in_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  DecodeCount *dc = user;
  gint64 out, gap;
  if (dc->keyframes_only &&
      drop_delta_units(pad, info, NULL) == GST_PAD_PROBE_DROP)
    return GST_PAD_PROBE_DROP; /* skipped on purpose: not taken in */
  out = __atomic_load_n(&dc->out, __ATOMIC_ACQUIRE);
  gap = __atomic_load_n(&dc->in, __ATOMIC_RELAXED) - out;
  /* gap == lost_counted: nothing pending and no new loss; the common case
   * without reordering costs no look at the decoder's frame list. */
  if (out > 0 && (gap != dc->lost_counted || !dc->decoding)) {
    GList *frames = gst_video_decoder_get_frames(dc->dec);
    gint64 lost = gap - (gint64)g_list_length(frames);
    g_list_free_full(frames, (GDestroyNotify)gst_video_codec_frame_unref);
    /* Frames before the first one decoded are not errors: a stream that
     * joins a camera between key frames cannot decode them. */
    if (!dc->decoding) {
      dc->decoding = TRUE;
      dc->lost_counted = lost;
    } else if (lost > dc->lost_counted) {
      stream_results_count(dc->results, RESULTS_ERRORS,
                           (guint64)(lost - dc->lost_counted));
      dc->lost_counted = lost;
    }
  }
  __atomic_add_fetch(&dc->in, 1, __ATOMIC_RELAXED);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
decoder_out_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  DecodeCount *dc = user;
  __atomic_add_fetch(&dc->out, 1, __ATOMIC_RELEASE);
  return GST_PAD_PROBE_OK;
}

/* Returns FALSE when the element is no GstVideoDecoder (nothing added). */
static gboolean
count_decoder_losses(Stream *s, GstElement *element)
{
  DecodeCount *dc;
  GstPad *in, *out;
  gboolean ok;
  if (!GST_IS_VIDEO_DECODER(element))
    return FALSE;
  in = gst_element_get_static_pad(element, "sink");
  out = gst_element_get_static_pad(element, "src");
  ok = in && out;
  if (ok) {
    dc = g_atomic_rc_box_new0(DecodeCount);
    dc->results = stream_results_ref(s->results);
    dc->dec = GST_VIDEO_DECODER(element);
    dc->keyframes_only = s->cfg.decode == STREAM_DECODE_KEYFRAMES;
    gst_pad_add_probe(in, GST_PAD_PROBE_TYPE_BUFFER, decoder_in_probe,
                      g_atomic_rc_box_acquire(dc), decode_count_release);
    gst_pad_add_probe(out, GST_PAD_PROBE_TYPE_BUFFER, decoder_out_probe, dc,
                      decode_count_release);
  }
  g_clear_object(&in);
  g_clear_object(&out);
  return ok;
}

static void
on_deep_element_added(GstBin *bin, GstBin *sub, GstElement *element,
                      gpointer user)
{
  Stream *s = user;
  GstElementFactory *f = gst_element_get_factory(element);
  const char *klass;
  GstPad *pad;
  if (!f)
    return;
  /* MJPEG over HTTP: decodebin shows no decoded pad until every demuxer
   * said no-more-pads, which multipartdemux never does by itself (another
   * part could bring another type): single-stream says it once the first
   * part's pad exists, so frames flow at once. */
  if (g_str_equal(GST_OBJECT_NAME(f), "multipartdemux") &&
      g_object_class_find_property(G_OBJECT_GET_CLASS(element),
                                   "single-stream")) {
    g_object_set(element, "single-stream", TRUE, NULL);
    return;
  }
  klass = gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS);
  if (!klass || !strstr(klass, "Decoder") || !strstr(klass, "Video"))
    return;
  /* One decoding thread per stream (libav's max-threads): streams already
   * spread over the cores, libav's frame threads cost ~15% more CPU per
   * frame here (720p H.264: 5.0 vs 5.9 ms) and add a frame of latency per
   * thread. One core decodes this 720p clip at ~200 fps (1080p: ~90). */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element),
                                   "max-threads"))
    g_object_set(element, "max-threads", 1, NULL);
  /* avdec_*'s direct rendering: because the sink takes GstVideoMeta, libav
   * decodes straight into the buffers sent downstream, but it keeps them
   * as reference frames, so GstVideoDecoder's finish_frame() finds them
   * shared and copies each one (gst_buffer_make_writable) into a new
   * frame-sized block: with serve's fixed mmap threshold, an mmap, ~350
   * page faults and an munmap per 720p frame (+1.5-2 ms of CPU). Without
   * it, libav decodes into its own reused buffers and avdec copies into
   * its reused output pool, as with the gst-launch unit cost's fakesink. */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element),
                                   "direct-rendering"))
    g_object_set(element, "direct-rendering", FALSE, NULL);
  /* A frame damaged by packet loss (late packets dropped by the
   * jitterbuffer when the machine falls behind, UDP loss) would be
   * classified as whatever its smears look like: drop it instead. libav's
   * own flag for avdec_*, GstVideoDecoder's for the others. */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element),
                                   "output-corrupt"))
    g_object_set(element, "output-corrupt", FALSE, NULL);
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element),
                                   "discard-corrupted-frames"))
    g_object_set(element, "discard-corrupted-frames", TRUE, NULL);
  /* Live sources only (decodebin under rtspsrc or v4l2src); the counting
   * probe also drops delta units for decode=keyframes. */
  if (!g_str_equal(s->scheme, "file") &&
      !g_str_has_prefix(s->scheme, "http") &&
      count_decoder_losses(s, element))
    return;
  if (s->cfg.decode != STREAM_DECODE_KEYFRAMES) /* immutable field */
    return;
  pad = gst_element_get_static_pad(element, "sink");
  if (pad) {
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, drop_delta_units, NULL,
                      NULL);
    gst_object_unref(pad);
  }
}

/* The first buffer reaching the sink: have the supervisor look now rather
 * than at its next tick, so that "running" shows without delay. */
static gboolean tick_cb(gpointer user);

static gboolean
first_frame_cb(gpointer user)
{
  Stream *s = user;
  if (s->tick_source) /* still supervised */
    tick_cb(s);
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
first_frame_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  Stream *s = user;
  GSource *idle = g_idle_source_new();
  g_source_set_callback(idle, first_frame_cb, stream_ref(s),
                        (GDestroyNotify)stream_unref);
  g_source_attach(idle, s->ctx);
  g_source_unref(idle);
  return GST_PAD_PROBE_REMOVE;
}

/* ---- building one attempt's pipeline (main context) ---- */

static GstElement *
make(const char *factory, const char *name, GError **error)
{
  GstElement *e = gst_element_factory_make(factory, name);
  if (!e)
    g_set_error(error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                "GStreamer element '%s' is missing (install the plugin that "
                "provides it)", factory);
  return e;
}

static gboolean
build_source(Stream *s, GstBin *pipe, GstElement *sink, gboolean *live,
             GError **error)
{
  const char *scheme = s->scheme;
  g_autofree char *local = NULL; /* the resolved file or device */
  GstElement *src, *dbin;

  if (g_str_equal(scheme, "test")) {
    GstElement *filter;
    GstCaps *caps;
    if (!(src = make("videotestsrc", "src", error)))
      return FALSE;
    g_object_set(src, "is-live", TRUE, NULL);
    if (s->cfg.pattern)
      gst_util_set_object_arg(G_OBJECT(src), "pattern", s->cfg.pattern);
    if (!(filter = make("capsfilter", "caps", error))) {
      gst_object_unref(src);
      return FALSE;
    }
    caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420",
                               "width", G_TYPE_INT, TEST_WIDTH, "height",
                               G_TYPE_INT, TEST_HEIGHT, "framerate",
                               GST_TYPE_FRACTION, TEST_FPS, 1, NULL);
    g_object_set(filter, "caps", caps, NULL);
    gst_caps_unref(caps);
    gst_bin_add_many(pipe, src, filter, NULL);
    if (!gst_element_link_many(src, filter, sink, NULL)) {
      g_set_error(error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                  "cannot link the test source to the sink");
      return FALSE;
    }
    *live = TRUE;
    return TRUE;
  }

  /* A local path is checked again now (a symlink may point elsewhere
   * since the stream was added) and the resolved path is what is opened. A
   * refusal is the same generic message for every path. */
  if (s->media && !media_dirs_resolve(s->media, &s->cfg, &local, error))
    return FALSE;

  /* http(s): a live source (MJPEG cameras, live HTTP streams). souphttpsrc
   * stamps each buffer on arrival and decodebin typefinds what it gets
   * (multipart/x-mixed-replace: multipartdemux ! jpegdec), so a frame goes
   * on as soon as its part is complete. Through uridecodebin, its
   * buffering queue2 held the frames until megabytes came: a 5 fps camera
   * of 40 KB frames gave no frame within the stall timeout, forever. */
  if (g_str_equal(scheme, "http") || g_str_equal(scheme, "https")) {
    if (!(dbin = make("decodebin", "decode", error)))
      return FALSE;
    if (!(src = make("souphttpsrc", "src", error))) {
      gst_object_unref(dbin);
      return FALSE;
    }
    g_object_set(src, "location", s->location, "is-live", TRUE,
                 "do-timestamp", TRUE, NULL);
    on_source_setup(NULL, src, s);
    g_signal_connect(dbin, "autoplug-continue",
                     G_CALLBACK(on_autoplug_continue), s);
    g_signal_connect(dbin, "pad-added", G_CALLBACK(on_decoded_pad), s);
    gst_bin_add_many(pipe, src, dbin, NULL);
    if (!gst_element_link(src, dbin)) {
      g_set_error(error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                  "cannot link the http source to the decoder");
      return FALSE;
    }
    *live = TRUE;
    return TRUE;
  }

  if (g_str_equal(scheme, "file")) {
    g_autofree char *local_uri =
        local ? g_filename_to_uri(local, NULL, NULL) : NULL;
    if (!(src = make("uridecodebin", "src", error)))
      return FALSE;
    g_object_set(src, "uri", local_uri ? local_uri : s->location, NULL);
    g_signal_connect(src, "autoplug-continue",
                     G_CALLBACK(on_autoplug_continue), s);
    g_signal_connect(src, "source-setup", G_CALLBACK(on_source_setup), s);
    g_signal_connect(src, "pad-added", G_CALLBACK(on_decoded_pad), s);
    gst_bin_add(pipe, src);
    *live = FALSE;
    return TRUE;
  }

  if (!(dbin = make("decodebin", "decode", error)))
    return FALSE;
  g_signal_connect(dbin, "pad-added", G_CALLBACK(on_decoded_pad), s);

  if (g_str_equal(scheme, "v4l2")) {
    g_autofree char *path = NULL;
    if (!s->cfg.device)
      g_uri_split(s->location, G_URI_FLAGS_NONE, NULL, NULL, NULL, NULL,
                  &path, NULL, NULL, NULL);
    if (!(src = make("v4l2src", "src", error))) {
      gst_object_unref(dbin);
      return FALSE;
    }
    g_object_set(src, "device",
                 local ? local : s->cfg.device ? s->cfg.device : path, NULL);
    gst_bin_add_many(pipe, src, dbin, NULL);
    gst_element_link(src, dbin);
    *live = TRUE;
    return TRUE;
  }

  /* rtsp, rtsps */
  if (!(src = make("rtspsrc", "src", error))) {
    gst_object_unref(dbin);
    return FALSE;
  }
  {
    gboolean udp = s->cfg.transport == STREAM_TRANSPORT_UDP ||
                   (s->cfg.transport == STREAM_TRANSPORT_AUTO && s->use_udp);
    guint64 timeout_us = (guint64)(s->cfg.stall_timeout_s * G_USEC_PER_SEC);
    /* GstRTSPLowerTrans: UDP = 1, TCP = 4. rtspsrc offers every allowed
     * transport in one SETUP and the server picks (gst-rtsp-server takes
     * UDP first), so "TCP first" means offering TCP alone and falling back
     * on refusal (bus_cb). */
    gst_util_set_object_arg(G_OBJECT(src), "protocols", udp ? "udp" : "tcp");
    g_object_set(src, "location", s->location, "latency",
                 s->cfg.rtsp_latency_ms, "drop-on-latency", TRUE,
                 "tcp-timeout", timeout_us, "timeout", timeout_us, NULL);
    if (s->user)
      g_object_set(src, "user-id", s->user, NULL);
    if (s->password)
      g_object_set(src, "user-pw", s->password, NULL);
  }
  g_signal_connect(src, "on-sdp", G_CALLBACK(on_sdp), s);
  g_signal_connect(src, "select-stream", G_CALLBACK(on_select_stream), s);
  g_signal_connect(src, "pad-added", G_CALLBACK(on_rtsp_pad), dbin);
  gst_bin_add_many(pipe, src, dbin, NULL);
  *live = TRUE;
  return TRUE;
}

static GstElement *
build_pipeline(Stream *s, GError **error)
{
  GstElement *pipe = gst_pipeline_new(s->id);
  GstElement *sink = g_object_new(STREAMSIGHT_TYPE_SINK, "name", "sink",
                                  NULL);
  gboolean live = FALSE;

  g_object_set(sink, "resize-mode", s->cfg.resize_mode, "enable-last-sample",
               TRUE, NULL);
  frame_infer_attach(s->fi, STREAMSIGHT_SINK(sink));
  gst_bin_add(GST_BIN(pipe), sink);
  g_mutex_lock(&s->lock);
  StreamRoi roi = s->cfg.roi;
  g_mutex_unlock(&s->lock);
  streamsight_sink_set_roi(STREAMSIGHT_SINK(sink), &roi);
  g_mutex_lock(&s->lock);
  g_clear_object(&s->sink);
  s->sink = gst_object_ref(sink);
  s->video_linked = FALSE;
  s->video_selected = 0;
  /* A PATCH between the two locks set the old sink (or none): the new one
   * gets its ROI here, outside the lock. */
  gboolean roi_moved = memcmp(&roi, &s->cfg.roi, sizeof roi) != 0;
  roi = s->cfg.roi;
  g_mutex_unlock(&s->lock);
  if (roi_moved)
    streamsight_sink_set_roi(STREAMSIGHT_SINK(sink), &roi);
  g_signal_connect(pipe, "deep-element-added",
                   G_CALLBACK(on_deep_element_added), s);
  {
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    /* Probes run before the sink's chain function, so the idle source may
     * run before render() has stamped the frame; the next tick sees it
     * then. */
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, first_frame_probe, s,
                      NULL);
    gst_object_unref(pad);
  }

  if (!build_source(s, GST_BIN(pipe), sink, &live, error)) {
    gst_object_unref(pipe);
    g_mutex_lock(&s->lock);
    g_clear_object(&s->sink);
    g_mutex_unlock(&s->lock);
    return NULL;
  }
  /* Live sources: render on arrival (waiting for the clock adds latency and
   * helps nothing). Files: at the clip's rate unless realtime is off. */
  g_object_set(sink, "sync", live ? FALSE : s->cfg.realtime, NULL);
  /* http(s): reuse the HTTP session of the previous attempt (souphttpsrc
   * shares it through a GstContext, bus_cb keeps it). Besides keeping
   * connections, this avoids a leak: releasing the session with each
   * failed attempt's pipeline left 48 bytes of GObject qdata behind per
   * attempt (LSan and valgrind, GLib 2.74); kept for the stream's life,
   * nothing is lost. */
  if (s->http_session)
    gst_element_set_context(pipe, s->http_session);
  return pipe;
}

/* ---- the supervisor (main context) ---- */

static gboolean bus_cb(GstBus *bus, GstMessage *msg, gpointer user);

/* ---- stopping a pipeline (runner hooks: other threads) ---- */

/* The deadline thread: the pipeline is still stopping after
 * STOP_CUT_AFTER_US; shut its connections to the camera down. TRUE when
 * there were some. */
static gboolean
on_stop_cut(gpointer user)
{
  Stream *s = user;
  g_autofree char *host = NULL;
  gint port;
  guint n;
  if (!(g_str_has_prefix(s->scheme, "rtsp") ||
        g_str_has_prefix(s->scheme, "http")) ||
      !location_endpoint(s, &host, &port) || port <= 0 || port > 65535)
    return FALSE;
  n = socket_cut_peer(host, (guint16)port);
  g_message("%s: a pipeline was still stopping after %.0f s; shut down %u "
            "connection%s to the camera", s->id,
            (double)STOP_CUT_AFTER_US / G_USEC_PER_SEC, n, n == 1 ? "" : "s");
  return n > 0;
}

/* The deadline thread: the pipeline missed the deadline. */
static void
on_stop_abandoned(gpointer user)
{
  Stream *s = user;
  guint stuck;
  g_mutex_lock(&s->lock);
  s->stopping--;
  stuck = ++s->stuck;
  g_mutex_unlock(&s->lock);
  g_warning("%s: a pipeline did not stop within %.0f s and was abandoned "
            "(%u of this stream stuck; its frames no longer reach inference)",
            s->id, (double)STOP_DEADLINE_US / G_USEC_PER_SEC, stuck);
}

/* The runner's thread: the pipeline is in NULL at last. */
static void
on_stop_finished(gpointer user, gboolean was_abandoned)
{
  Stream *s = user;
  g_mutex_lock(&s->lock);
  if (was_abandoned)
    s->stuck--;
  else
    s->stopping--;
  g_mutex_unlock(&s->lock);
  if (was_abandoned)
    g_message("%s: an abandoned pipeline stopped after all", s->id);
}

/* Detaches the attempt's pipeline from the stream and has its runner stop
 * it in the background: returns at once whatever the camera does. From now
 * on no bus message of it is seen and none of its frames reaches
 * inference. */
static void
teardown(Stream *s)
{
  static const PipelineRunnerHooks hooks = {
    .cut = on_stop_cut,
    .abandoned = on_stop_abandoned,
    .finished = on_stop_finished,
  };
  GstElement *sink;
  if (s->bus_source) {
    g_source_destroy(s->bus_source);
    g_source_unref(s->bus_source);
    s->bus_source = NULL;
  }
  g_mutex_lock(&s->lock);
  sink = g_steal_pointer(&s->sink);
  if (s->runner)
    s->stopping++;
  g_mutex_unlock(&s->lock);
  if (sink) {
    streamsight_sink_clear_target(STREAMSIGHT_SINK(sink));
    gst_object_unref(sink);
  }
  if (s->runner) {
    pipeline_runner_stop(g_steal_pointer(&s->runner), STOP_CUT_AFTER_US,
                         STOP_DEADLINE_US, &hooks, stream_ref(s),
                         (GDestroyNotify)stream_unref);
  }
  /* Without a runner the pipeline never left NULL; with one, the runner
   * holds its own reference. */
  gst_clear_object(&s->pipeline);
}

static double
backoff_delay_s(Stream *s)
{
  double d = s->cfg.backoff_initial_s;
  for (guint i = 1; i < s->failures && d < s->cfg.backoff_max_s; i++)
    d *= 2.0;
  d = MIN(d, s->cfg.backoff_max_s);
  return d * g_random_double_range(1.0 - BACKOFF_JITTER,
                                   1.0 + BACKOFF_JITTER);
}

/* The attempt failed: tear down, record, and schedule the next one. text is
 * already free of credentials. */
static void
fail(Stream *s, const char *text, gboolean stall)
{
  gint64 now = g_get_monotonic_time();
  double delay;
  teardown(s);
  s->failures++;
  delay = backoff_delay_s(s);
  s->retry_at_us = now + (gint64)(delay * G_USEC_PER_SEC);
  set_last_error(s, text);
  g_mutex_lock(&s->lock);
  if (stall)
    hour_counter_add(&s->stalls_hour, now);
  s->state = STREAM_STATE_BACKOFF;
  s->running_since_us = 0;
  g_mutex_unlock(&s->lock);
  if (stall)
    stream_results_count(s->results, RESULTS_STALLS, 1);
  g_message("%s: %s; retrying in %.1f s", s->id, s->last_error, delay);
}

/* The tick: the runner's set_state(PLAYING) failed. An error message on the
 * bus usually said why already (bus_cb); without one, say this. TRUE when
 * the attempt failed. */
static gboolean
check_played(Stream *s)
{
  GstStateChangeReturn ret;
  if (!s->runner || !pipeline_runner_play_result(s->runner, &ret) ||
      ret != GST_STATE_CHANGE_FAILURE)
    return FALSE;
  fail(s, "the pipeline refused to start", FALSE);
  return TRUE;
}

/* Too many of this stream's pipelines abandoned and still stuck: no new
 * one until one of them stops (the tick looks again). TRUE if so. */
static gboolean
too_many_stuck(Stream *s)
{
  guint stuck;
  gboolean was_failed;
  g_mutex_lock(&s->lock);
  stuck = s->stuck;
  was_failed = s->state == STREAM_STATE_FAILED;
  if (stuck >= MAX_STUCK_PIPELINES) {
    s->state = STREAM_STATE_FAILED;
    s->running_since_us = 0;
  }
  g_mutex_unlock(&s->lock);
  if (stuck < MAX_STUCK_PIPELINES)
    return FALSE;
  if (!was_failed) {
    g_autofree char *text = g_strdup_printf(
        "%u pipelines of this stream did not stop within %.0f s and are "
        "still stuck (the camera keeps them waiting); no new attempt until "
        "one of them stops", stuck, (double)STOP_DEADLINE_US / G_USEC_PER_SEC);
    set_last_error(s, text);
    g_warning("%s: %s", s->id, text);
  }
  return TRUE;
}

static void
attempt(Stream *s, gboolean reconnect)
{
  g_autoptr(GError) error = NULL;
  GstBus *bus;
  gint64 now = g_get_monotonic_time();

  if (too_many_stuck(s))
    return;
  g_mutex_lock(&s->lock);
  if (reconnect) {
    s->reconnects++;
    hour_counter_add(&s->reconnects_hour, now);
  }
  s->state = STREAM_STATE_STARTING;
  g_mutex_unlock(&s->lock);
  if (reconnect)
    stream_results_count(s->results, RESULTS_RECONNECTS, 1);
  s->attempt_start_us = now;
  g_clear_pointer(&s->warning, g_free);

  s->pipeline = build_pipeline(s, &error);
  if (!s->pipeline) {
    g_autofree char *text = scrub(s, error->message);
    fail(s, text, FALSE);
    return;
  }
  bus = gst_pipeline_get_bus(GST_PIPELINE(s->pipeline));
  s->bus_source = gst_bus_create_watch(bus);
  g_source_set_callback(s->bus_source, (GSourceFunc)(void (*)(void))bus_cb,
                        s, NULL);
  g_source_attach(s->bus_source, s->ctx);
  gst_object_unref(bus);

  s->runner = pipeline_runner_new(s->runners, s->pipeline, &error);
  if (!s->runner) {
    g_autofree char *text =
        g_strdup_printf("cannot start a thread for the pipeline: %s",
                        error->message);
    fail(s, text, FALSE);
    return;
  }
  /* Off this context: a camera can keep a state change waiting. A start
   * that never returns shows as no frame within stall_timeout_s. */
  pipeline_runner_play(s->runner);
}

/* Reads what the sink negotiated (size, rate) into the shown fields. */
static void
update_source_info(Stream *s)
{
  GstElement *sink = gst_bin_get_by_name(GST_BIN(s->pipeline), "sink");
  GstPad *pad;
  GstCaps *caps;
  GstVideoInfo vi;
  if (!sink)
    return;
  pad = gst_element_get_static_pad(sink, "sink");
  caps = gst_pad_get_current_caps(pad);
  if (caps && gst_video_info_from_caps(&vi, caps)) {
    g_mutex_lock(&s->lock);
    s->width = GST_VIDEO_INFO_WIDTH(&vi);
    s->height = GST_VIDEO_INFO_HEIGHT(&vi);
    s->source_fps = GST_VIDEO_INFO_FPS_D(&vi) > 0
                        ? (double)GST_VIDEO_INFO_FPS_N(&vi) /
                              GST_VIDEO_INFO_FPS_D(&vi)
                        : 0.0;
    g_mutex_unlock(&s->lock);
  }
  if (caps)
    gst_caps_unref(caps);
  gst_object_unref(pad);
  gst_object_unref(sink);
}

static gboolean
tick_cb(gpointer user)
{
  Stream *s = user;
  gint64 now = g_get_monotonic_time();
  gint64 stall_us = (gint64)(s->cfg.stall_timeout_s * G_USEC_PER_SEC);
  StreamState state;
  gint64 last_frame_ns;
  GstElement *sink;

  g_mutex_lock(&s->lock);
  state = s->state;
  sink = s->sink ? gst_object_ref(s->sink) : NULL;
  g_mutex_unlock(&s->lock);

  if (state == STREAM_STATE_BACKOFF || state == STREAM_STATE_FAILED) {
    guint stopping;
    g_mutex_lock(&s->lock);
    stopping = s->stopping;
    g_mutex_unlock(&s->lock);
    /* The previous pipeline first stops (or is abandoned): it may hold the
     * camera's only session or a webcam device. */
    if (stopping == 0 &&
        (state == STREAM_STATE_FAILED || now >= s->retry_at_us))
      attempt(s, TRUE);
    g_clear_object(&sink);
    return G_SOURCE_CONTINUE;
  }
  if (!s->pipeline || !sink || check_played(s)) {
    g_clear_object(&sink);
    return G_SOURCE_CONTINUE;
  }
  last_frame_ns = streamsight_sink_last_frame_mono_ns(STREAMSIGHT_SINK(sink));
  gst_object_unref(sink);

  if (state == STREAM_STATE_STARTING) {
    if (last_frame_ns > 0) {
      g_mutex_lock(&s->lock);
      s->state = STREAM_STATE_RUNNING;
      s->ever_running = TRUE;
      s->started_wall_us = g_get_real_time();
      s->running_since_us = now;
      g_mutex_unlock(&s->lock);
      update_source_info(s);
      g_message("%s: running", s->id);
    } else if (now - s->attempt_start_us > stall_us) {
      g_autofree char *text = g_strdup_printf(
          "no video frame within %.1f s of starting (stall_timeout_s)",
          s->cfg.stall_timeout_s);
      if (s->cfg.transport == STREAM_TRANSPORT_AUTO && s->use_udp)
        s->use_udp = FALSE; /* UDP did not work either: TCP first again */
      fail(s, text, FALSE);
    }
  } else if (state == STREAM_STATE_RUNNING) {
    gint64 last_us = last_frame_ns / 1000;
    if (now - last_us > stall_us) {
      g_autofree char *text = g_strdup_printf(
          "stalled: no frame for %.1f s (stall_timeout_s)",
          (double)(now - last_us) / G_USEC_PER_SEC);
      fail(s, text, TRUE);
    } else {
      double healthy_s = MAX(HEALTHY_RESET_MIN_S, s->cfg.backoff_max_s);
      update_source_info(s);
      if (s->failures &&
          now - s->running_since_us >= (gint64)(healthy_s * G_USEC_PER_SEC))
        s->failures = 0;
    }
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
bus_cb(GstBus *bus, GstMessage *msg, gpointer user)
{
  Stream *s = user;
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) err = NULL;
    g_autofree char *debug = NULL, *text = NULL;
    gboolean got_frame, refused;
    guint n_video;
    gst_message_parse_error(msg, &err, &debug);
    g_mutex_lock(&s->lock);
    got_frame = s->state == STREAM_STATE_RUNNING;
    n_video = s->video_selected;
    g_mutex_unlock(&s->lock);
    /* rtspsrc says "No supported stream was found" (stream error
     * CODEC_NOT_FOUND) when no stream could be set up: either we selected
     * none (no video in the session) or the server refused every transport
     * we offered. */
    refused = G_TYPE_CHECK_INSTANCE_TYPE(GST_MESSAGE_SRC(msg),
                                         g_type_from_name("GstRTSPSrc")) &&
              err->domain == GST_STREAM_ERROR &&
              err->code == GST_STREAM_ERROR_CODEC_NOT_FOUND;
    if (refused && n_video == 0) {
      fail(s, "rtspsrc: the camera offers no video stream", FALSE);
      return G_SOURCE_REMOVE;
    }
    /* transport auto: offered TCP alone and refused, so try UDP now. */
    if (refused && s->cfg.transport == STREAM_TRANSPORT_AUTO && !s->use_udp &&
        !got_frame) {
      g_message("%s: the server refused RTSP over TCP; trying UDP", s->id);
      teardown(s);
      s->use_udp = TRUE;
      attempt(s, FALSE);
      return G_SOURCE_REMOVE;
    }
    if (refused) {
      const char *t = s->cfg.transport == STREAM_TRANSPORT_TCP   ? "tcp"
                      : s->cfg.transport == STREAM_TRANSPORT_UDP ? "udp"
                                                                 : "tcp and udp";
      text = g_strdup_printf("rtspsrc: the server refused the %s transport%s",
                             t,
                             s->cfg.transport == STREAM_TRANSPORT_AUTO
                                 ? "s"
                                 : " (set transport to auto)");
    } else {
      text = describe_error(s, err, debug, GST_MESSAGE_SRC(msg));
    }
    /* UDP refused too: TCP first again next time. Any other UDP failure
     * (gst-rtsp-server answers 503 while it still tears down the media of
     * the refused TCP attempt; a camera rebooting) keeps UDP: going back to
     * TCP would make the server refuse and tear down again, a loop that
     * only ends when the teardown happens to be quick. */
    if (s->cfg.transport == STREAM_TRANSPORT_AUTO && s->use_udp && !got_frame &&
        refused)
      s->use_udp = FALSE;
    fail(s, text, FALSE);
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_EOS: {
    /* A server that goes away often says why in a warning first ("The
     * server closed the connection"): keep that with the EOS. */
    g_autofree char *text =
        s->warning ? g_strdup_printf("end of stream after %s", s->warning)
                   : g_strdup("end of stream");
    fail(s, text, FALSE);
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_HAVE_CONTEXT: {
    GstContext *context = NULL;
    gst_message_parse_have_context(msg, &context);
    if (context && !s->http_session &&
        g_str_has_prefix(gst_context_get_context_type(context), "gst.soup"))
      s->http_session = gst_context_ref(context);
    if (context)
      gst_context_unref(context);
    break;
  }
  case GST_MESSAGE_WARNING:
    if (!s->warning) { /* log the first of an attempt only */
      g_autoptr(GError) err = NULL;
      g_autofree char *debug = NULL;
      gst_message_parse_warning(msg, &err, &debug);
      s->warning = describe_error(s, err, debug, GST_MESSAGE_SRC(msg));
      g_message("%s: warning: %s", s->id, s->warning);
    }
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
start_cb(gpointer user)
{
  Stream *s = user;
  gboolean go;
  g_mutex_lock(&s->lock);
  go = !s->removed && s->cfg.enabled && !s->started;
  if (go)
    s->started = TRUE;
  g_mutex_unlock(&s->lock);
  if (!go)
    return G_SOURCE_REMOVE;
  s->failures = 0;
  s->tick_source = g_timeout_source_new(TICK_MS);
  g_source_set_callback(s->tick_source, tick_cb, s, NULL);
  g_source_attach(s->tick_source, s->ctx);
  attempt(s, FALSE);
  return G_SOURCE_REMOVE;
}

static gboolean
stop_cb(gpointer user)
{
  Stream *s = user;
  if (s->tick_source) {
    g_source_destroy(s->tick_source);
    g_source_unref(s->tick_source);
    s->tick_source = NULL;
  }
  teardown(s);
  g_mutex_lock(&s->lock);
  s->started = FALSE;
  s->state = STREAM_STATE_STOPPED;
  s->running_since_us = 0;
  g_mutex_unlock(&s->lock);
  return G_SOURCE_REMOVE;
}

/* ---- public ---- */

Stream *
stream_new(const char *id, const StreamConfig *cfg, GMainContext *ctx,
           const struct ss_engine *engine, struct ss_pool *pool,
           const char *model_id, MediaDirs *media, RunnerSet *runners)
{
  Stream *s = g_new0(Stream, 1);

  g_atomic_ref_count_init(&s->ref);
  s->id = g_strdup(id);
  s->ctx = g_main_context_ref(ctx);
  s->engine = engine;
  s->pool = pool;
  s->runners = runner_set_ref(runners);
  g_mutex_init(&s->lock);
  stream_config_copy(&s->cfg, cfg);
  s->state = STREAM_STATE_STOPPED;
  s->created_wall_us = g_get_real_time();
  s->scheme = stream_config_uri_scheme(cfg->uri);
  g_assert(s->scheme != NULL); /* validated by the caller */
  if (!stream_config_split_userinfo(cfg->uri, &s->location, &s->user,
                                    &s->password))
    s->location = g_strdup(cfg->uri);
  /* Secrets to scrub from error texts: the URI's password, user name and
   * secret parameters, as written and decoded. */
  s->secrets = stream_config_uri_secrets(cfg->uri);
  s->media = media ? media_dirs_ref(media) : NULL;

  s->results = stream_results_new(cfg->history_len);
  s->fi = frame_infer_new(pool, engine_model(engine), s->results,
                          cfg->max_fps, cfg->top_k);
  frame_infer_set_head(s->fi, cfg->head, cfg->labels);
  frame_infer_set_model_id(s->fi, model_id);
  return s;
}

Stream *
stream_ref(Stream *s)
{
  g_atomic_ref_count_inc(&s->ref);
  return s;
}

void
stream_unref(Stream *s)
{
  if (!s || !g_atomic_ref_count_dec(&s->ref))
    return;
  g_assert(s->pipeline == NULL && s->tick_source == NULL);
  frame_infer_unref(s->fi);
  runner_set_unref(s->runners);
  stream_results_unref(s->results);
  g_clear_object(&s->sink);
  stream_config_clear(&s->cfg);
  g_free(s->last_error);
  g_free(s->warning);
  if (s->http_session)
    gst_context_unref(s->http_session);
  for (int i = 0; s->secrets[i]; i++)
    memset(s->secrets[i], 0, strlen(s->secrets[i]));
  g_strfreev(s->secrets);
  media_dirs_unref(s->media);
  if (s->password)
    memset(s->password, 0, strlen(s->password));
  g_free(s->password);
  g_free(s->user);
  g_free(s->location);
  g_free(s->id);
  g_mutex_clear(&s->lock);
  g_main_context_unref(s->ctx);
  g_free(s);
}

void
stream_start(Stream *s)
{
  call_async(s, start_cb);
}

void
stream_stop(Stream *s, gboolean final)
{
  gint64 deadline;
  if (final) {
    g_mutex_lock(&s->lock);
    s->removed = TRUE;
    g_mutex_unlock(&s->lock);
  }
  stream_context_call_sync(s->ctx, stop_cb, s);
  /* The pipeline is gone, so no new frame can start; wait for the one a
   * pool worker may still be running, so that nothing is published after
   * stop returns. */
  deadline = g_get_monotonic_time() + INFLIGHT_WAIT_MAX_US;
  while (frame_infer_busy(s->fi) && g_get_monotonic_time() < deadline)
    g_usleep(1000);
}

void
stream_set_enabled(Stream *s, gboolean enabled)
{
  g_mutex_lock(&s->lock);
  s->cfg.enabled = enabled;
  g_mutex_unlock(&s->lock);
  if (enabled)
    stream_start(s);
  else
    stream_stop(s, FALSE);
}

void
stream_set_max_fps(Stream *s, double max_fps)
{
  g_mutex_lock(&s->lock);
  s->cfg.max_fps = max_fps;
  g_mutex_unlock(&s->lock);
  frame_infer_set_max_fps(s->fi, max_fps);
}

void
stream_set_top_k(Stream *s, int top_k)
{
  g_mutex_lock(&s->lock);
  s->cfg.top_k = top_k;
  g_mutex_unlock(&s->lock);
  frame_infer_set_top_k(s->fi, top_k);
}

void
stream_set_roi(Stream *s, const StreamRoi *roi)
{
  g_mutex_lock(&s->lock);
  s->cfg.roi = *roi;
  GstElement *sink = s->sink ? gst_object_ref(s->sink) : NULL;
  g_mutex_unlock(&s->lock);
  /* Outside the stream's lock: the sink takes its own locks. */
  if (sink) {
    streamsight_sink_set_roi(STREAMSIGHT_SINK(sink), roi);
    gst_object_unref(sink);
  }
}

void
stream_set_head(Stream *s, gboolean set_head, const char *head,
                gboolean set_labels, StreamLabels labels)
{
  g_mutex_lock(&s->lock);
  if (set_head) {
    g_free(s->cfg.head);
    s->cfg.head = g_strdup(head);
  }
  if (set_labels)
    s->cfg.labels = labels;
  char *id = g_strdup(s->cfg.head);
  StreamLabels l = s->cfg.labels;
  g_mutex_unlock(&s->lock);
  frame_infer_set_head(s->fi, id, l);
  g_free(id);
}

void
stream_set_head_source(Stream *s, FrameHeadFetch fetch, gpointer user)
{
  frame_infer_set_head_source(s->fi, fetch, user);
}

void
stream_set_latency_totals(Stream *s, LatencyTotals *totals)
{
  frame_infer_set_latency_totals(s->fi, totals);
}

void
stream_set_alerts(Stream *s, const AlertRule *rules, guint n)
{
  AlertRule *copy = alert_rules_copy(rules, n);
  g_mutex_lock(&s->lock);
  AlertRule *old = s->cfg.alerts;
  guint old_n = s->cfg.n_alerts;
  s->cfg.alerts = copy;
  s->cfg.n_alerts = copy ? n : 0;
  g_mutex_unlock(&s->lock);
  alert_rules_free(old, old_n);
}

const char *
stream_get_id(Stream *s)
{
  return s->id;
}

void
stream_copy_config(Stream *s, StreamConfig *out)
{
  g_mutex_lock(&s->lock);
  stream_config_copy(out, &s->cfg);
  g_mutex_unlock(&s->lock);
}

gboolean
stream_has_started(Stream *s)
{
  gboolean r;
  g_mutex_lock(&s->lock);
  r = s->ever_running;
  g_mutex_unlock(&s->lock);
  return r;
}

StreamResults *
stream_get_results(Stream *s)
{
  return stream_results_ref(s->results);
}

GstSample *
stream_last_sample(Stream *s)
{
  GstElement *sink;
  GstSample *sample = NULL;
  g_mutex_lock(&s->lock);
  sink = s->sink ? gst_object_ref(s->sink) : NULL;
  g_mutex_unlock(&s->lock);
  if (!sink)
    return NULL;
  g_object_get(sink, "last-sample", &sample, NULL);
  gst_object_unref(sink);
  return sample;
}

static const char *
quality(StreamState state, guint events, double fps_in, double source_fps,
        StreamDecode decode, double running_s)
{
  double ratio = 1.0;
  if (state != STREAM_STATE_RUNNING)
    return "down";
  if (decode == STREAM_DECODE_ALL && source_fps > 0 &&
      running_s >= QUALITY_WARMUP_S)
    ratio = fps_in / source_fps;
  if (events >= QUALITY_POOR_EVENTS || ratio < QUALITY_POOR_RATE)
    return "poor";
  if (events >= 1 || ratio < QUALITY_DEGRADED_RATE)
    return "degraded";
  return "good";
}

void
stream_copy_info(Stream *s, StreamInfo *out)
{
  gint64 now = g_get_monotonic_time();
  double running_s;
  memset(out, 0, sizeof *out);
  g_mutex_lock(&s->lock);
  out->id = g_strdup(s->id);
  out->name = g_strdup(s->cfg.name);
  out->uri_redacted = stream_config_redact_uri(s->cfg.uri);
  stream_config_copy(&out->config, &s->cfg);
  out->state = s->state;
  out->last_error = g_strdup(s->last_error);
  out->last_error_wall_us = s->last_error_wall_us;
  out->reconnects = s->reconnects;
  out->reconnects_last_hour = hour_counter_sum(&s->reconnects_hour, now);
  out->stalls_last_hour = hour_counter_sum(&s->stalls_hour, now);
  out->created_wall_us = s->created_wall_us;
  out->started_wall_us = s->started_wall_us;
  out->width = s->width;
  out->height = s->height;
  out->source_fps = s->source_fps;
  running_s = s->running_since_us
                  ? (double)(now - s->running_since_us) / G_USEC_PER_SEC
                  : 0.0;
  g_mutex_unlock(&s->lock);
  stream_results_copy_stats(s->results, now * 1000, &out->stats);
  out->connection_quality =
      quality(out->state, out->reconnects_last_hour + out->stalls_last_hour,
              out->stats.fps_in, out->source_fps, out->config.decode,
              running_s);
}
