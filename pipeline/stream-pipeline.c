/* streamsight — building one attempt's pipeline of a stream (see
 * stream-internal.h): the source for the URI's scheme (videotestsrc,
 * souphttpsrc, uridecodebin for files, v4l2src, rtspsrc), decodebin, the
 * sink; and the handlers of the elements' signals, which GStreamer calls on
 * streaming threads (pads to link, rtspsrc's streams and SDP, credentials,
 * decoder settings, frames a decoder lost).
 *
 * No unbounded queue anywhere: rtspsrc's jitterbuffer is bounded by its
 * latency and drops beyond it (drop-on-latency), decodebin adds no queue for
 * RTP and only its small multiqueue after a file demuxer, and the sink never
 * waits (it drops frames while one is in flight).
 */
#define G_LOG_DOMAIN "streamsight"

#include "stream-internal.h"

#include <string.h>

#include <gst/sdp/gstsdpmessage.h>
#include <gst/video/video.h>

#include "streamsight-sink.h"

/* The config's resize_mode is handed to the sink's "resize-mode" property
 * as it is: the two enums must agree. */
G_STATIC_ASSERT((int)STREAMSIGHT_RESIZE_STRETCH == STREAM_RESIZE_STRETCH &&
                (int)STREAMSIGHT_RESIZE_CROP == STREAM_RESIZE_CROP &&
                (int)STREAMSIGHT_RESIZE_LETTERBOX == STREAM_RESIZE_LETTERBOX);

/* test: sources. */
#define TEST_WIDTH 640
#define TEST_HEIGHT 480
#define TEST_FPS 15

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

/* test: videotestsrc at a fixed size and rate, live (it stands in for a
 * camera). */
static gboolean
build_test_source(Stream *s, GstBin *pipe, GstElement *sink, GError **error)
{
  GstElement *src, *filter;
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
  return TRUE;
}

/* http(s): a live source (MJPEG cameras, live HTTP streams). souphttpsrc
 * stamps each buffer on arrival and decodebin typefinds what it gets
 * (multipart/x-mixed-replace: multipartdemux ! jpegdec), so a frame goes
 * on as soon as its part is complete. Through uridecodebin, its
 * buffering queue2 held the frames until megabytes came: a 5 fps camera
 * of 40 KB frames gave no frame within the stall timeout, forever. */
static gboolean
build_http_source(Stream *s, GstBin *pipe, GError **error)
{
  GstElement *src, *dbin;
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
  return TRUE;
}

/* file: uridecodebin on the resolved path (local, when media_dirs
 * resolved it) or the URI as given. */
static gboolean
build_file_source(Stream *s, GstBin *pipe, const char *local,
                  GError **error)
{
  GstElement *src;
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
  return TRUE;
}

/* The decodebin behind v4l2src and rtspsrc; a floating reference the
 * caller adds to the pipeline or unrefs. */
static GstElement *
make_decoder(Stream *s, GError **error)
{
  GstElement *dbin = make("decodebin", "decode", error);
  if (dbin)
    g_signal_connect(dbin, "pad-added", G_CALLBACK(on_decoded_pad), s);
  return dbin;
}

/* v4l2: the device is the resolved path, the config's "device", or the
 * URI's path. */
static gboolean
build_v4l2_source(Stream *s, GstBin *pipe, const char *local, GError **error)
{
  GstElement *src, *dbin;
  if (!(dbin = make_decoder(s, error)))
    return FALSE;
  g_autofree char *path = NULL;
  if (!s->cfg.device)
    g_uri_split(s->location, G_URI_FLAGS_NONE, NULL, NULL, NULL, NULL, &path,
                NULL, NULL, NULL);
  if (!(src = make("v4l2src", "src", error))) {
    gst_object_unref(dbin);
    return FALSE;
  }
  g_object_set(src, "device",
               local ? local : s->cfg.device ? s->cfg.device : path, NULL);
  gst_bin_add_many(pipe, src, dbin, NULL);
  gst_element_link(src, dbin);
  return TRUE;
}

/* rtspsrc's transport, latency, timeouts and credentials. */
static void
configure_rtspsrc(Stream *s, GstElement *src)
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

/* rtsp, rtsps: rtspsrc's pads are linked to the decoder as they come
 * (on_rtsp_pad). */
static gboolean
build_rtsp_source(Stream *s, GstBin *pipe, GError **error)
{
  GstElement *src, *dbin;
  if (!(dbin = make_decoder(s, error)))
    return FALSE;
  if (!(src = make("rtspsrc", "src", error))) {
    gst_object_unref(dbin);
    return FALSE;
  }
  configure_rtspsrc(s, src);
  g_signal_connect(src, "on-sdp", G_CALLBACK(on_sdp), s);
  g_signal_connect(src, "select-stream", G_CALLBACK(on_select_stream), s);
  g_signal_connect(src, "pad-added", G_CALLBACK(on_rtsp_pad), dbin);
  gst_bin_add_many(pipe, src, dbin, NULL);
  return TRUE;
}

/* The source elements for the stream's scheme, added to pipe and linked
 * towards sink (decodebin links on its pads). *live: whether the source
 * is live (everything but file:). On failure, what was added stays in
 * pipe for its caller to unref. */
static gboolean
build_source(Stream *s, GstBin *pipe, GstElement *sink, gboolean *live,
             GError **error)
{
  const char *scheme = s->scheme;
  g_autofree char *local = NULL; /* the resolved file or device */

  if (g_str_equal(scheme, "test")) {
    if (!build_test_source(s, pipe, sink, error))
      return FALSE;
    *live = TRUE;
    return TRUE;
  }
  /* A local path is checked again now (a symlink may point elsewhere
   * since the stream was added) and the resolved path is what is opened. A
   * refusal is the same generic message for every path. */
  if (s->media && !media_dirs_resolve(s->media, &s->cfg, &local, error))
    return FALSE;

  gboolean ok;
  if (g_str_equal(scheme, "http") || g_str_equal(scheme, "https"))
    ok = build_http_source(s, pipe, error);
  else if (g_str_equal(scheme, "file"))
    ok = build_file_source(s, pipe, local, error);
  else if (g_str_equal(scheme, "v4l2"))
    ok = build_v4l2_source(s, pipe, local, error);
  else
    ok = build_rtsp_source(s, pipe, error);
  if (!ok)
    return FALSE;
  *live = !g_str_equal(scheme, "file");
  return TRUE;
}

GstElement *
stream_build_pipeline(Stream *s, GError **error)
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
  stream_supervisor_watch_first_frame(s, sink);

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
