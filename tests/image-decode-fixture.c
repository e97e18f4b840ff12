/* streamsight — the still-image suites' encoders, files and checks (see
 * image-decode-fixture.h). Compiled into each of them, so that the
 * AddressSanitizer options below apply to every one.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "image-decode-fixture.h"
#include "testutil.h"

guint8 *
make_pattern(int w, int h, enum pattern p, guint64 seed)
{
  guint8 *px = g_malloc((gsize)w * h * 3);
  struct tu_rng rng;
  tu_rng_seed(&rng, seed);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *o = px + ((gsize)y * w + x) * 3;
      if (p == PATTERN_NOISE) {
        for (int c = 0; c < 3; c++)
          o[c] = (guint8)(tu_rng_u32(&rng) >> 24);
      } else {
        o[0] = (guint8)(40 + 160 * x / (w - 1));
        o[1] = (guint8)(200 - 150 * y / (h - 1));
        o[2] = (guint8)(60 + 60 * (x + y) / (w + h - 2));
      }
    }
  return px;
}

GBytes *
encode_frame(const char *format, const guint8 *px, int w, int h,
             const char *chain)
{
  GError *err = NULL;
  char *desc = g_strdup_printf("appsrc name=src ! %s ! appsink name=sink "
                               "sync=false",
                               chain);
  GstElement *pipe = gst_parse_launch(desc, &err);
  g_free(desc);
  if (!pipe) {
    printf("encoder chain '%s' not available: %s\n", chain,
           err ? err->message : "?");
    g_clear_error(&err);
    return NULL;
  }
  g_clear_error(&err);
  GstVideoInfo info;
  gst_video_info_set_format(&info, gst_video_format_from_string(format), w, h);
  GST_VIDEO_INFO_FPS_N(&info) = 0;
  GST_VIDEO_INFO_FPS_D(&info) = 1;
  GstCaps *caps = gst_video_info_to_caps(&info);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
  gst_caps_unref(caps);

  GstBuffer *buf = gst_buffer_new_allocate(NULL, info.size, NULL);
  gst_buffer_memset(buf, 0, 0, info.size); /* row padding: deterministic */
  GstVideoFrame f;
  ck_assert(gst_video_frame_map(&f, &info, buf, GST_MAP_WRITE));
  gsize bpp = GST_VIDEO_INFO_COMP_PSTRIDE(&info, 0);
  if (GST_VIDEO_INFO_N_COMPONENTS(&info) == 1 && bpp == 2)
    bpp = 2;
  for (int y = 0; y < h; y++)
    memcpy((guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) +
               (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0),
           px + (gsize)y * w * bpp, (gsize)w * bpp);
  gst_video_frame_unmap(&f);
  GST_BUFFER_PTS(buf) = 0;
  GST_BUFFER_DURATION(buf) = GST_SECOND;

  ck_assert_int_ne(gst_element_set_state(pipe, GST_STATE_PLAYING),
                   GST_STATE_CHANGE_FAILURE);
  gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink),
                                              10 * GST_SECOND);
  GBytes *out = NULL;
  if (s) {
    GstMapInfo map;
    GstBuffer *eb = gst_sample_get_buffer(s);
    ck_assert(gst_buffer_map(eb, &map, GST_MAP_READ));
    out = g_bytes_new(map.data, map.size);
    gst_buffer_unmap(eb, &map);
    gst_sample_unref(s);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  ck_assert_msg(out != NULL, "encoder chain '%s' produced nothing", chain);
  return out;
}

gboolean
have_element(const char *name)
{
  GstElementFactory *f = gst_element_factory_find(name);
  if (!f) {
    printf("SKIP part: GStreamer element %s is not installed\n", name);
    return FALSE;
  }
  gst_object_unref(f);
  return TRUE;
}

char *
write_tmp(const char *name, const void *data, gsize size)
{
  char *path = g_build_filename(tu_tmp_dir(), name, NULL);
  GError *err = NULL;
  ck_assert_msg(g_file_set_contents(path, data, (gssize)size, &err),
                "writing %s: %s", path, err ? err->message : "");
  return path;
}

void
decode_ok(const char *path, RgbImage *img)
{
  GError *err = NULL;
  gboolean ok = image_decode_file(path, img, &err);
  ck_assert_msg(ok, "decoding %s failed: %s", path, err ? err->message : "");
  ck_assert_ptr_nonnull(img->pixels);
  ck_assert_uint_eq(img->stride, (gsize)img->width * 3);
}

void
decode_bytes_both_ways(const char *name, GBytes *bytes, RgbImage *img)
{
  gsize size;
  const guint8 *data = g_bytes_get_data(bytes, &size);
  char *path = write_tmp(name, data, size);
  decode_ok(path, img);
  RgbImage mem = { 0 };
  GError *err = NULL;
  ck_assert_msg(image_decode_buffer(data, size, &mem, &err),
                "decoding %s from memory failed: %s", name,
                err ? err->message : "");
  ck_assert_int_eq(mem.width, img->width);
  ck_assert_int_eq(mem.height, img->height);
  ck_assert_msg(memcmp(mem.pixels, img->pixels,
                       img->stride * (gsize)img->height) == 0,
                "%s: file and memory decodes differ", name);
  rgb_image_clear(&mem);
  g_free(path);
}

void
assert_pixels_exact(const RgbImage *img, const guint8 *want, int w, int h,
                    const char *what)
{
  ck_assert_int_eq(img->width, w);
  ck_assert_int_eq(img->height, h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int got = img->pixels[(gsize)y * img->stride + (gsize)x * 3 + c];
        int exp = want[((gsize)y * w + x) * 3 + c];
        ck_assert_msg(got == exp, "%s: pixel (%d,%d) channel %d is %d, want %d",
                      what, x, y, c, got, exp);
      }
}

void
assert_pixels_close(const RgbImage *img, const guint8 *want, int w, int h,
                    int max_abs, double mean_abs, const char *what)
{
  ck_assert_int_eq(img->width, w);
  ck_assert_int_eq(img->height, h);
  double sum = 0;
  int worst = 0, wx = 0, wy = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int d = abs(img->pixels[(gsize)y * img->stride + (gsize)x * 3 + c] -
                    want[((gsize)y * w + x) * 3 + c]);
        sum += d;
        if (d > worst) {
          worst = d;
          wx = x;
          wy = y;
        }
      }
  double mean = sum / ((double)w * h * 3);
  printf("%s: max |diff| %d at (%d,%d), mean %.3f\n", what, worst, wx, wy,
         mean);
  ck_assert_msg(worst <= max_abs, "%s: max |diff| %d at (%d,%d) > %d", what,
                worst, wx, wy, max_abs);
  ck_assert_msg(mean <= mean_abs, "%s: mean |diff| %.3f > %.3f", what, mean,
                mean_abs);
}

void
expect_error(const char *path, int code, const char *needle)
{
  RgbImage img = { 0 };
  GError *err = NULL;
  gboolean ok = image_decode_file(path, &img, &err);
  ck_assert_msg(!ok, "%s decoded but should fail", path);
  ck_assert_ptr_null(img.pixels);
  ck_assert_ptr_nonnull(err);
  printf("%s -> %s\n", path, err->message);
  ck_assert_msg(g_error_matches(err, IMAGE_DECODE_ERROR, code),
                "%s: error code %d, want %d (%s)", path, err->code, code,
                err->message);
  if (needle)
    ck_assert_msg(strstr(err->message, needle) != NULL,
                  "%s: message '%s' lacks '%s'", path, err->message, needle);
  g_error_free(err);
}

void
expect_bytes_error(const char *name, const void *data, gsize size, int code,
                   const char *needle)
{
  char *path = write_tmp(name, data, size);
  expect_error(path, code, needle);
  g_free(path);
}

/* Under AddressSanitizer: record allocation stacks with the slow unwinder.
 * GLib and GStreamer are built without frame pointers, so the fast one
 * stops at g_malloc and LeakSanitizer cannot match GLib's deliberate
 * one-time leak (the first quark block, allocated in its library
 * constructor and dropped when the quark table grows after a GStreamer
 * registry rescan) against tests/sanitizers/lsan.supp ("_dl_init"). Unused
 * without ASan. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
  return "fast_unwind_on_malloc=0";
}

int
image_decode_fixture_main(Suite *(*make_suite)(void))
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  gst_init(NULL, NULL);
  return tu_run_suite(make_suite());
}
