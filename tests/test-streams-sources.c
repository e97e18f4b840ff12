/* Streams from sources other than test-streams.c's RTSP camera, the
 * "sources" TCase of the streams suite (test-streams.h): bad sources fail
 * cleanly, a real clip gives every frame, an MJPEG camera over HTTP is
 * live, media_dirs allows and refuses, the test: source drops for max_fps.
 * Written with stream-fixture.h's env and helpers.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gst/gst.h>

#include "mjpeg-server.h"
#include "registry.h"
#include "rtsp-test-server.h"
#include "stream-fixture.h"
#include "test-streams.h"
#include "testutil.h"

/* ---- bad sources ---- */

START_TEST(test_bad_sources)
{
  RtspTestServer *srv = server_new(NULL);
  g_autofree char *nopath = NULL;
  StreamConfig c;
  GError *e = NULL;
  struct {
    const char *name, *uri, *expect;
    char *id;
  } cases[] = {
    { "refused", "rtsp://127.0.0.1:1/x", "cannot connect", NULL },
    { "unreachable", "rtsp://192.0.2.1:554/x", "", NULL },
    { "unknown host", "rtsp://no-such-camera.invalid/x", "", NULL },
    { "not found", NULL, "Not Found", NULL },
    { "missing file", "file:///nonexistent/clip.mp4", "", NULL },
    { "no webcam", "v4l2:///dev/video99", "", NULL },
    { "http refused", "http://127.0.0.1:1/clip.mp4",
      "cannot fetch from 127.0.0.1:1", NULL },
  };
  nopath = g_strdup_printf("rtsp://127.0.0.1:%u/nope",
                           rtsp_test_server_port(srv));
  cases[3].uri = nopath;

  /* Invalid: refused by the registry, with the field named. */
  quick_config(&c, "bad", "foo://bar");
  ck_assert(!registry_add(env.reg, NULL, &c, NULL, &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_INVALID));
  ck_assert_msg(g_str_has_prefix(e->message, "uri: "), "%s", e->message);
  g_clear_error(&e);
  stream_config_clear(&c);
  ck_assert_uint_eq(registry_count(env.reg), 0);

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    quick_config(&c, cases[i].name, cases[i].uri);
    c.stall_timeout_s = 3.0;
    cases[i].id = add(&c);
  }
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    StreamInfo info;
    ck_assert_msg(wait_state(cases[i].id, STREAM_STATE_BACKOFF, 10) >= 0,
                  "%s: not in backoff", cases[i].name);
    get(cases[i].id, &info);
    ck_assert_msg(info.last_error && strstr(info.last_error,
                                            cases[i].expect),
                  "%s: last_error \"%s\" lacks \"%s\"", cases[i].name,
                  info.last_error, cases[i].expect);
    printf("bad source %-12s -> %s\n", cases[i].name, info.last_error);
    ck_assert_str_eq(info.connection_quality, "down");
    stream_info_clear(&info);
    g_free(cases[i].id);
  }
  rtsp_test_server_free(srv);
}
END_TEST

/* ---- other sources ---- */

static void
count_buffer(GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer user)
{
  (*(guint64 *)user)++;
}

/* The clip's video frame count, from the container (no decoding). */
static guint64
clip_frames(const char *path)
{
  guint64 n = 0;
  GError *e = NULL;
  g_autofree char *desc = g_strdup_printf(
      "filesrc location=\"%s\" ! qtdemux ! video/x-h264 ! "
      "fakesink name=f signal-handoffs=true sync=false", path);
  GstElement *p = gst_parse_launch(desc, &e);
  GstElement *f;
  GstBus *bus;
  GstMessage *m;
  ck_assert_msg(p != NULL, "%s", e ? e->message : "");
  f = gst_bin_get_by_name(GST_BIN(p), "f");
  g_signal_connect(f, "handoff", G_CALLBACK(count_buffer), &n);
  gst_object_unref(f);
  gst_element_set_state(p, GST_STATE_PLAYING);
  bus = gst_element_get_bus(p);
  m = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND,
                                 GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  ck_assert_msg(m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS,
                "counting frames failed");
  gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return n;
}

START_TEST(test_file_clip)
{
  char path[1024];
  g_autofree char *uri = NULL, *id = NULL;
  StreamConfig c;
  StreamInfo info;
  guint64 frames;
  if (!tu_data_path("videos/car-detection.mp4", path, sizeof path))
    return;
  frames = clip_frames(path);
  ck_assert(frames > 100);
  uri = g_filename_to_uri(path, NULL, NULL);
  quick_config(&c, "clip", uri);
  c.realtime = FALSE;         /* as fast as it decodes */
  c.backoff_initial_s = 60;   /* no replay within the test */
  c.backoff_max_s = 60;
  id = add(&c);
  ck_assert_msg(wait_state(id, STREAM_STATE_BACKOFF, 60) >= 0,
                "the clip did not end");
  get(id, &info);
  printf("file: %" G_GUINT64_FORMAT " frames in the clip, %"
         G_GUINT64_FORMAT " received, %" G_GUINT64_FORMAT " inferred, "
         "%dx%d; then \"%s\"\n",
         frames, info.stats.counters[RESULTS_RECEIVED],
         info.stats.counters[RESULTS_INFERRED], info.width, info.height,
         info.last_error);
  ck_assert_msg(g_str_has_prefix(info.last_error, "end of stream"), "%s",
                info.last_error);
  ck_assert_uint_eq(info.stats.counters[RESULTS_RECEIVED], frames);
  ck_assert(info.stats.counters[RESULTS_INFERRED] >= 1);
  ck_assert_int_eq(info.width, 768);
  ck_assert_int_eq(info.height, 432);
  stream_info_clear(&info);
}
END_TEST

/* An MJPEG-over-HTTP camera (multipart/x-mixed-replace, 5 fps of ~36 KB
 * JPEGs, like an ESP32-CAM): http(s) sources are live, so each frame goes
 * to the sink as it arrives. Through uridecodebin's buffering queue2 the
 * first frame came after megabytes (never, at this rate, before the stall
 * timeout). Asserted: the first frame within 3 s of the first one sent
 * (measured ~0.1 s here), and while it streams the sink is never more than
 * 2 frames behind what the camera sent. */
START_TEST(test_http_mjpeg_live)
{
  GError *e = NULL;
  MjpegServer *cam = mjpeg_server_new(640, 480, 10, 5.0, 60, &e);
  ck_assert_msg(cam != NULL, "mjpeg server: %s", e ? e->message : "");
  g_autofree char *uri = mjpeg_server_uri(cam);
  StreamConfig c;
  StreamInfo info;
  quick_config(&c, "mjpeg", uri);
  c.stall_timeout_s = 10.0;
  g_autofree char *id = add(&c);

  /* The first frame. */
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  guint64 received = 0;
  while (g_get_monotonic_time() < deadline) {
    get(id, &info);
    received = info.stats.counters[RESULTS_RECEIVED];
    stream_info_clear(&info);
    if (received > 0)
      break;
    g_usleep(10000);
  }
  gint64 first_sent = mjpeg_server_first_sent_us(cam);
  ck_assert_msg(received > 0, "no frame in 20 s (%" G_GUINT64_FORMAT
                " sent)", mjpeg_server_frames_sent(cam));
  double first_ms = (double)(g_get_monotonic_time() - first_sent) / 1000.0;
  /* The supervisor shows "running" at its next look after the frame. */
  ck_assert(wait_state(id, STREAM_STATE_RUNNING, 10) >= 0);

  /* 3 s of streaming: how far the sink is behind the camera. The sink's
   * count is read after the camera's, so a frame in between counts as
   * lag, never the other way. */
  gint64 lag_max = 0;
  guint64 received0 = received, sent = 0;
  gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < end) {
    sent = mjpeg_server_frames_sent(cam);
    get(id, &info);
    received = info.stats.counters[RESULTS_RECEIVED];
    gint64 lag = (gint64)sent - (gint64)received;
    lag_max = MAX(lag_max, lag);
    ck_assert_int_eq(info.state, STREAM_STATE_RUNNING);
    ck_assert_int_eq(info.width, 640);
    stream_info_clear(&info);
    g_usleep(50000);
  }
  printf("mjpeg over http: %zu-byte frames at 5 fps; first frame %.0f ms "
         "after it was sent; over 3 s %" G_GUINT64_FORMAT " frames "
         "received of %" G_GUINT64_FORMAT " sent, at most %" G_GINT64_FORMAT
         " behind\n", mjpeg_server_frame_bytes(cam), first_ms,
         received - received0, sent, lag_max);
  ck_assert_msg(first_ms < 3000, "first frame after %.0f ms", first_ms);
  ck_assert_msg(lag_max <= 2, "the sink fell %" G_GINT64_FORMAT
                " frames behind", lag_max);
  ck_assert_uint_ge(received - received0, 10);
  ck_assert(registry_remove(env.reg, id, NULL));
  mjpeg_server_free(cam);
}
END_TEST

/* media_dirs: a clip reached through a symlink in an allowed directory
 * plays; once the symlink points outside, the next attempt fails with the
 * generic refusal (not "No such file" or a demuxer error that would tell
 * what is there). A missing file inside gets GStreamer's specific error. */
START_TEST(test_media_dirs_clip)
{
  char clip[1024];
  g_autofree char *videos = NULL, *root = NULL, *media = NULL;
  g_autofree char *link = NULL, *text = NULL, *uri = NULL, *id = NULL;
  g_autofree char *missing_uri = NULL, *missing_id = NULL;
  MediaDirs *m;
  StreamConfig c;
  StreamInfo info;
  GError *e = NULL;
  if (!tu_data_path("videos/bottle-detection.mp4", clip, sizeof clip))
    return;
  videos = g_path_get_dirname(clip);
  root = g_strdup_printf("%s/md-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(root));
  media = g_build_filename(root, "media", NULL);
  ck_assert_int_eq(g_mkdir_with_parents(media, 0700), 0);
  text = g_build_filename(root, "outside.txt", NULL);
  ck_assert(g_file_set_contents(text, "not media", -1, NULL));
  link = g_build_filename(media, "clip.mp4", NULL);
  ck_assert_int_eq(symlink(clip, link), 0);
  {
    const char *const dirs[] = { media, videos, NULL };
    m = media_dirs_new(dirs, &e);
    ck_assert_msg(m != NULL, "%s", e ? e->message : "");
    registry_set_media_dirs(env.reg, m);
    media_dirs_unref(m);
  }

  uri = g_filename_to_uri(link, NULL, NULL);
  quick_config(&c, "clip", uri);
  c.realtime = FALSE;
  id = add(&c);
  ck_assert_msg(wait_inferred(id, 1, 60) >= 0, "the allowed clip did not "
                "play");
  missing_uri = g_strdup_printf("file://%s/missing.mp4", media);
  quick_config(&c, "missing", missing_uri);
  missing_id = add(&c);

  /* The link now leads outside. */
  ck_assert_int_eq(unlink(link), 0);
  ck_assert_int_eq(symlink(text, link), 0);
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  gboolean refused = FALSE;
  while (!refused && g_get_monotonic_time() < deadline) {
    get(id, &info);
    refused = info.last_error &&
              g_str_has_prefix(info.last_error, "uri: local files are "
                                                "allowed only under");
    stream_info_clear(&info);
    g_usleep(100000);
  }
  ck_assert_msg(refused, "not refused after the link changed");
  get(id, &info);
  ck_assert_msg(!strstr(info.last_error, root), "%s", info.last_error);
  ck_assert_int_ne(info.state, STREAM_STATE_RUNNING);
  stream_info_clear(&info);

  /* Inside, errors are GStreamer's own. */
  ck_assert(wait_state(missing_id, STREAM_STATE_BACKOFF, 20) >= 0);
  get(missing_id, &info);
  printf("media_dirs: missing file inside -> %s\n", info.last_error);
  ck_assert_msg(info.last_error && !strstr(info.last_error, "media_dirs"),
                "%s", info.last_error);
  stream_info_clear(&info);
}
END_TEST

START_TEST(test_test_source)
{
  StreamConfig c;
  StreamInfo info;
  g_autofree char *id = NULL;
  quick_config(&c, "pattern", "test:");
  c.pattern = g_strdup("ball");
  c.max_fps = 5;
  id = add(&c);
  ck_assert(wait_inferred(id, 5, 10) >= 0);
  get(id, &info);
  ck_assert_int_eq(info.state, STREAM_STATE_RUNNING);
  ck_assert_int_eq(info.width, 640);
  ck_assert_int_eq(info.height, 480);
  ck_assert(fabs(info.source_fps - 15.0) < 1e-9);
  ck_assert_str_eq(info.uri_redacted, "test:");
  /* max_fps 5 of 15: about two of three frames dropped for the fps. */
  ck_assert(info.stats.counters[RESULTS_DROPPED_FPS] > 0);
  stream_info_clear(&info);
}
END_TEST

TCase *
streams_sources_tcase(void)
{
  TCase *tc = tcase_create("sources");
  tcase_add_test(tc, test_bad_sources);
  tcase_add_test(tc, test_file_clip);
  tcase_add_test(tc, test_http_mjpeg_live);
  tcase_add_test(tc, test_media_dirs_clip);
  tcase_add_test(tc, test_test_source);
  return tc;
}
