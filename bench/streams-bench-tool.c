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
 *
 * Prints "ready" on stdout once listening.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                    "       %s frames CLIP\n", argv[0], argv[0]);
    return 2;
  }
  cmd = argv[1];
  path = argv[2];
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mounts"))
      mounts = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--fps"))
      fps = atoi(argv[i + 1]);
  }
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
