/* streamsight — helper of bench/streams.sh.
 *
 *   streams-bench-tool serve CLIP.h264 --port P --mounts N [--fps 15]
 *       An RTSP server on 127.0.0.1:P with mounts /cam0 .. /cam{N-1}, each a
 *       camera that sends the pre-encoded clip (H.264 Annex B, one access
 *       unit per frame) in a loop at --fps, as a live source. The clip is
 *       parsed once into memory; per frame the server only stamps and
 *       packetises (no decoding or encoding), so the camera side costs
 *       little. Each camera starts where the clip's next key frame is when
 *       its first client arrives, paced by its own thread.
 *   streams-bench-tool frames CLIP.h264
 *       Prints "frames K keyframes M" of the clip.
 *   streams-bench-tool live URL --mode recv|decode|keyframes --seconds S
 *       A camera-paced unit cost: receives URL (RTSP over TCP, rtspsrc as
 *       streamsight sets it up) through rtph264depay ! h264parse and, for
 *       decode, avdec_h264 with streamsight's decoder settings (keyframes:
 *       delta units dropped before it), into a fakesink; counts the frames
 *       reaching the fakesink and prints "frames N cpu_ms C" for the S
 *       seconds after the first one (this process's CPU, all threads).
 *
 * Prints "ready" on stdout once listening.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

typedef struct {
  GPtrArray *aus; /* GstBuffer*, one access unit each, in order */
  guint n_key;
  int width, height;
} Clip;

static Clip clip;
static int fps = 15;

static gboolean
load_clip(const char *path)
{
  GError *e = NULL;
  g_autofree char *desc = g_strdup_printf(
      "filesrc location=\"%s\" ! h264parse ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! "
      "appsink name=out sync=false",
      path);
  GstElement *p = gst_parse_launch(desc, &e);
  GstElement *out;
  GstSample *s;
  if (!p) {
    fprintf(stderr, "pipeline: %s\n", e->message);
    return FALSE;
  }
  out = gst_bin_get_by_name(GST_BIN(p), "out");
  clip.aus = g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref);
  gst_element_set_state(p, GST_STATE_PLAYING);
  while ((s = gst_app_sink_pull_sample(GST_APP_SINK(out)))) {
    GstBuffer *b = gst_sample_get_buffer(s);
    if (!clip.width) {
      GstStructure *st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
      gst_structure_get_int(st, "width", &clip.width);
      gst_structure_get_int(st, "height", &clip.height);
    }
    if (!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT))
      clip.n_key++;
    g_ptr_array_add(clip.aus, gst_buffer_ref(b));
    gst_sample_unref(s);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(p);
  return clip.aus->len > 0;
}

/* One camera: pushes access units at fps until its media goes away. */
typedef struct {
  GstAppSrc *src;
  guint start;
} Feeder;

static gpointer
feed(gpointer p)
{
  Feeder *f = p;
  gint64 period_us = G_USEC_PER_SEC / fps;
  gint64 t0 = g_get_monotonic_time();
  for (guint64 n = 0;; n++) {
    GstBuffer *b = gst_buffer_copy(
        g_ptr_array_index(clip.aus, (f->start + n) % clip.aus->len));
    gint64 due = t0 + (gint64)n * period_us, now = g_get_monotonic_time();
    if (due > now)
      g_usleep((gulong)(due - now));
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(b) = GST_SECOND / fps;
    /* do-timestamp stamps with the running time at push. */
    if (gst_app_src_push_buffer(f->src, b) != GST_FLOW_OK)
      break;
  }
  gst_object_unref(f->src);
  g_free(f);
  return NULL;
}

static void
on_media_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media,
                   gpointer user)
{
  static guint cameras;
  GstElement *bin = gst_rtsp_media_get_element(media);
  GstElement *src = gst_bin_get_by_name(GST_BIN(bin), "src");
  GstCaps *caps = gst_caps_new_simple(
      "video/x-h264", "stream-format", G_TYPE_STRING, "byte-stream",
      "alignment", G_TYPE_STRING, "au", "width", G_TYPE_INT, clip.width,
      "height", G_TYPE_INT, clip.height, "framerate", GST_TYPE_FRACTION, fps,
      1, NULL);
  Feeder *f = g_new0(Feeder, 1);
  guint key = 0, want;
  g_object_set(src, "caps", caps, "is-live", TRUE, "format", GST_FORMAT_TIME,
               "do-timestamp", TRUE, "max-bytes", (guint64)4000000, NULL);
  gst_util_set_object_arg(G_OBJECT(src), "leaky-type", "upstream");
  gst_caps_unref(caps);
  /* Cameras start at different key frames, so that they are not in step. */
  want = (cameras++ * 7) % MAX(clip.n_key, 1);
  for (guint i = 0; i < clip.aus->len; i++) {
    GstBuffer *b = g_ptr_array_index(clip.aus, i);
    if (!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT) &&
        key++ == want) {
      f->start = i;
      break;
    }
  }
  f->src = GST_APP_SRC(src);
  g_thread_unref(g_thread_new("camera", feed, f));
  gst_object_unref(bin);
}

/* ---- live: camera-paced receive / decode cost ---- */

typedef struct {
  gint64 frames;   /* atomic: buffers reaching the fakesink */
  gint64 t0_us;    /* atomic: monotonic time of the first, 0 = none yet */
  double cpu0_ms;  /* process CPU at the first (written once) */
} Live;

static double
process_cpu_ms(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static GstPadProbeReturn
live_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  Live *l = user;
  if (g_atomic_pointer_get(&l->t0_us) == 0) {
    l->cpu0_ms = process_cpu_ms();
    g_atomic_pointer_set(&l->t0_us, g_get_monotonic_time());
  } else {
    __atomic_add_fetch(&l->frames, 1, __ATOMIC_RELAXED);
  }
  return GST_PAD_PROBE_OK;
}

static int
live(const char *url, const char *mode, double seconds)
{
  const char *tail;
  if (!strcmp(mode, "recv"))
    tail = "fakesink name=out sync=false";
  else if (!strcmp(mode, "decode"))
    tail = "avdec_h264 max-threads=1 direct-rendering=false "
           "output-corrupt=false ! fakesink name=out sync=false";
  else if (!strcmp(mode, "keyframes"))
    tail = "identity drop-buffer-flags=delta-unit ! avdec_h264 max-threads=1 "
           "direct-rendering=false output-corrupt=false ! "
           "fakesink name=out sync=false";
  else
    return 2;
  GError *e = NULL;
  g_autofree char *desc = g_strdup_printf(
      "rtspsrc location=\"%s\" protocols=tcp latency=200 "
      "drop-on-latency=true ! rtph264depay ! h264parse ! "
      "video/x-h264,alignment=au ! %s",
      url, tail);
  GstElement *p = gst_parse_launch(desc, &e);
  if (!p) {
    fprintf(stderr, "pipeline: %s\n", e->message);
    return 1;
  }
  Live l = { 0 };
  GstElement *out = gst_bin_get_by_name(GST_BIN(p), "out");
  GstPad *pad = gst_element_get_static_pad(out, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, live_probe, &l, NULL);
  gst_object_unref(pad);
  gst_object_unref(out);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(p);
  gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
  int rc = 0;
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered(
        bus, 50 * GST_MSECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (m) {
      fprintf(stderr, "live: %s before the end\n",
              GST_MESSAGE_TYPE_NAME(m));
      gst_message_unref(m);
      rc = 1;
      break;
    }
    gint64 t0 = (gint64)g_atomic_pointer_get(&l.t0_us);
    gint64 now = g_get_monotonic_time();
    if (!t0 && now > deadline) {
      fprintf(stderr, "live: no frame from %s in 15 s\n", url);
      rc = 1;
      break;
    }
    if (t0 && now >= t0 + (gint64)(seconds * G_USEC_PER_SEC)) {
      double cpu = process_cpu_ms() - l.cpu0_ms;
      gint64 n = __atomic_load_n(&l.frames, __ATOMIC_RELAXED);
      printf("frames %" G_GINT64_FORMAT " cpu_ms %.1f\n", n, cpu);
      break;
    }
  }
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return rc;
}

int
main(int argc, char **argv)
{
  const char *cmd, *path;
  int port = 8554, mounts = 1;
  GstRTSPServer *server;
  GstRTSPMountPoints *mp;
  GMainLoop *loop;

  gst_init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: %s serve CLIP --port P --mounts N [--fps F]\n"
                    "       %s frames CLIP\n"
                    "       %s live URL --mode recv|decode|keyframes "
                    "--seconds S\n", argv[0], argv[0], argv[0]);
    return 2;
  }
  cmd = argv[1];
  path = argv[2];
  const char *mode = "decode";
  double seconds = 10.0;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mounts"))
      mounts = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--fps"))
      fps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mode"))
      mode = argv[i + 1];
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atof(argv[i + 1]);
  }
  if (!strcmp(cmd, "live"))
    return seconds > 0 ? live(path, mode, seconds) : 2;
  if (!load_clip(path))
    return 1;
  if (!strcmp(cmd, "frames")) {
    printf("frames %u keyframes %u width %d height %d\n", clip.aus->len,
           clip.n_key, clip.width, clip.height);
    return 0;
  }
  if (strcmp(cmd, "serve") != 0 || fps < 1 || mounts < 1)
    return 2;

  server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, "127.0.0.1");
  {
    g_autofree char *svc = g_strdup_printf("%d", port);
    gst_rtsp_server_set_service(server, svc);
  }
  mp = gst_rtsp_server_get_mount_points(server);
  for (int i = 0; i < mounts; i++) {
    GstRTSPMediaFactory *f = gst_rtsp_media_factory_new();
    g_autofree char *mount = g_strdup_printf("/cam%d", i);
    gst_rtsp_media_factory_set_launch(
        f, "( appsrc name=src ! h264parse ! "
           "rtph264pay name=pay0 pt=96 config-interval=1 )");
    gst_rtsp_media_factory_set_shared(f, TRUE);
    g_signal_connect(f, "media-configure", G_CALLBACK(on_media_configure),
                     NULL);
    gst_rtsp_mount_points_add_factory(mp, mount, f);
  }
  g_object_unref(mp);
  if (!gst_rtsp_server_attach(server, NULL)) {
    fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  printf("ready: %d cameras at rtsp://127.0.0.1:%d/cam0.. (%ux%u, %d fps, "
         "%u frames, %u key frames)\n",
         mounts, port, clip.width, clip.height, fps, clip.aus->len,
         clip.n_key);
  fflush(stdout);
  loop = g_main_loop_new(NULL, FALSE);
  g_main_loop_run(loop);
  return 0;
}
