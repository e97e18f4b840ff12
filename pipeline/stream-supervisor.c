/* streamsight — a stream's supervisor (see stream.h for the life cycle and
 * stream-internal.h for the threads): one attempt after another, each a new
 * pipeline (stream-pipeline.c) whose state changes run on its runner's
 * thread; the tick that notices the first frame, a stall or the end of a
 * backoff delay; the bus messages (errors, end of stream, warnings); and
 * stopping a pipeline within a deadline whatever its camera does.
 */
#define G_LOG_DOMAIN "streamsight"

#include "stream-internal.h"

#include <string.h>

#include <gst/base/gstbasesrc.h>
#include <gst/video/video.h>

#include "socket-cut.h"
#include "streamsight-sink.h"

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

static gboolean tick_cb(gpointer user);

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
  if (g_strcmp0(s->last_error, clean) != 0)
    s->generation++;
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

/* ---- the first frame (streaming thread, then main context) ---- */

/* The first buffer reaching the sink (stream_supervisor_watch_first_frame):
 * the tick, now. */
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

void
stream_supervisor_watch_first_frame(Stream *s, GstElement *sink)
{
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  /* Probes run before the sink's chain function, so the idle source may
   * run before render() has stamped the frame; the next tick sees it
   * then. */
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, first_frame_probe, s,
                    NULL);
  gst_object_unref(pad);
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
  stream_set_state_locked(s, STREAM_STATE_BACKOFF);
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
    stream_set_state_locked(s, STREAM_STATE_FAILED);
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
    s->generation++;
    hour_counter_add(&s->reconnects_hour, now);
  }
  stream_set_state_locked(s, STREAM_STATE_STARTING);
  g_mutex_unlock(&s->lock);
  if (reconnect)
    stream_results_count(s->results, RESULTS_RECONNECTS, 1);
  s->attempt_start_us = now;
  g_clear_pointer(&s->warning, g_free);

  s->pipeline = stream_build_pipeline(s, &error);
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
    double fps = GST_VIDEO_INFO_FPS_D(&vi) > 0
                     ? (double)GST_VIDEO_INFO_FPS_N(&vi) /
                           GST_VIDEO_INFO_FPS_D(&vi)
                     : 0.0;
    g_mutex_lock(&s->lock);
    if (s->width != GST_VIDEO_INFO_WIDTH(&vi) ||
        s->height != GST_VIDEO_INFO_HEIGHT(&vi) || s->source_fps != fps)
      s->generation++;
    s->width = GST_VIDEO_INFO_WIDTH(&vi);
    s->height = GST_VIDEO_INFO_HEIGHT(&vi);
    s->source_fps = fps;
    g_mutex_unlock(&s->lock);
  }
  if (caps)
    gst_caps_unref(caps);
  gst_object_unref(pad);
  gst_object_unref(sink);
}

/* Judges the connection quality of a running stream (stream.h). */
static void
judge_quality(Stream *s, gint64 now)
{
  g_mutex_lock(&s->lock);
  stream_judge_quality_locked(s, now);
  g_mutex_unlock(&s->lock);
}

static void
tick(Stream *s)
{
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
    return;
  }
  if (!s->pipeline || !sink || check_played(s)) {
    g_clear_object(&sink);
    return;
  }
  last_frame_ns = streamsight_sink_last_frame_mono_ns(STREAMSIGHT_SINK(sink));
  gst_object_unref(sink);

  if (state == STREAM_STATE_STARTING) {
    if (last_frame_ns > 0) {
      g_mutex_lock(&s->lock);
      stream_set_state_locked(s, STREAM_STATE_RUNNING);
      s->ever_running = TRUE;
      s->started_wall_us = g_get_real_time();
      s->running_since_us = now;
      g_mutex_unlock(&s->lock);
      update_source_info(s);
      judge_quality(s, now);
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
      judge_quality(s, now);
      if (s->failures &&
          now - s->running_since_us >= (gint64)(healthy_s * G_USEC_PER_SEC))
        s->failures = 0;
    }
  }
}

/* Each entry point of the supervisor on the main context tells the
 * stream's changed func when what the stream shows changed meanwhile
 * (stream_notify_since), so that listeners (the event hub) are told, not
 * left to poll. */
static gboolean
tick_cb(gpointer user)
{
  Stream *s = user;
  guint64 generation = stream_generation(s);
  tick(s);
  stream_notify_since(s, generation);
  return G_SOURCE_CONTINUE;
}

/* Returns whether the bus watch stays. */
static gboolean
bus_message(Stream *s, GstMessage *msg)
{
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
bus_cb(GstBus *bus, GstMessage *msg, gpointer user)
{
  Stream *s = user;
  guint64 generation = stream_generation(s);
  gboolean keep = bus_message(s, msg);
  stream_notify_since(s, generation);
  return keep;
}

gboolean
stream_supervisor_start(gpointer user)
{
  Stream *s = user;
  guint64 generation = stream_generation(s);
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
  stream_notify_since(s, generation);
  return G_SOURCE_REMOVE;
}

gboolean
stream_supervisor_stop(gpointer user)
{
  Stream *s = user;
  guint64 generation = stream_generation(s);
  if (s->tick_source) {
    g_source_destroy(s->tick_source);
    g_source_unref(s->tick_source);
    s->tick_source = NULL;
  }
  teardown(s);
  g_mutex_lock(&s->lock);
  s->started = FALSE;
  stream_set_state_locked(s, STREAM_STATE_STOPPED);
  s->running_since_us = 0;
  g_mutex_unlock(&s->lock);
  stream_notify_since(s, generation);
  return G_SOURCE_REMOVE;
}
