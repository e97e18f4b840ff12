/* streamsightsink's geometry: letterbox and crop of a two-colour frame, a
 * region of interest in every mode against the reference of
 * sink-fixture.c (odd sizes, regions at each edge), and an ROI on whole
 * pixels equal to the frame cut beforehand.
 *
 * GstHarness comes from gstreamer-check-1.0 with its own bundled Check, so
 * this binary does not use tests/testutil (which links the system Check).
 */
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "frame-convert.h"
#include "sink-fixture.h"
#include "streamsight-sink.h"

/* ---- geometry ---- */

/* A 64x32 frame whose left half is red, right half blue, with a 1-pixel
 * green column at x = 16 and x = 47 (the crop window's edges). */
static GstBuffer *
geometry_frame(GstVideoInfo *info)
{
  gst_video_info_set_format(info, GST_VIDEO_FORMAT_RGB, 64, 32);
  GstBuffer *buf = gst_buffer_new_allocate(NULL, info->size, NULL);
  GstVideoFrame fr;
  gst_video_frame_map(&fr, info, buf, GST_MAP_WRITE);
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 64; x++) {
      guint8 *p[3];
      pixel_addr(fmt_of(GST_VIDEO_FORMAT_RGB), &fr, x, y, p);
      gboolean green = x == 16 || x == 47;
      *p[0] = !green && x < 32 ? 255 : 0;
      *p[1] = green ? 255 : 0;
      *p[2] = !green && x >= 32 ? 255 : 0;
    }
  gst_video_frame_unmap(&fr);
  return buf;
}

GST_START_TEST(test_letterbox)
{
  const float m0[3] = { 100, 100, 100 }, s1[3] = { 2, 2, 2 };
  GstVideoInfo info;
  GstBuffer *buf = geometry_frame(&info);
  TestTarget t;
  tt_init(&t, 32, 32);
  GstHarness *h = new_harness(&t, m0, s1, "letterbox");
  gst_harness_set_src_caps(h, gst_video_info_to_caps(&info));
  fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  /* 64x32 in 32x32: content 32x16 on rows 8..23; borders black, i.e.
   * (0 - 100) / 2 = -50 exactly. */
  for (int y = 0; y < 32; y++) {
    float *row = t.tensor + y * 32 * 3;
    if (y < 8 || y >= 24) {
      for (int i = 0; i < 32 * 3; i++)
        fail_unless(row[i] == -50.0f, "border (%d,%d) c%d = %f", i / 3, y,
                    i % 3, (double)row[i]);
      continue;
    }
    /* content rows: the left pixel is red, the right one blue */
    fail_unless(row[0] == (255 - 100) / 2.0f && row[2] == -50.0f,
                "row %d left %f %f", y, (double)row[0], (double)row[2]);
    fail_unless(row[31 * 3 + 2] == (255 - 100) / 2.0f &&
                    row[31 * 3] == -50.0f,
                "row %d right", y);
  }
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

GST_START_TEST(test_crop)
{
  const float m0[3] = { 0, 0, 0 }, s1[3] = { 1, 1, 1 };
  GstVideoInfo info;
  GstBuffer *buf = geometry_frame(&info);
  TestTarget t;
  tt_init(&t, 16, 16);
  GstHarness *h = new_harness(&t, m0, s1, "crop");
  gst_harness_set_src_caps(h, gst_video_info_to_caps(&info));
  fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  /* Centre crop of 64x32 to 1:1 is columns 16..47, scaled by 2: output x
   * samples source 16 + 2x + 0.5, so the green edge columns 16 and 47 each
   * weigh 0.5 in the first and last output columns, and nothing outside
   * the window leaks in. */
  for (int y = 0; y < 16; y++) {
    float *r = t.tensor + y * 16 * 3;
    fail_unless(fabsf(r[1] - 127.5f) < 1e-3f, "left green %f", (double)r[1]);
    fail_unless(fabsf(r[0] - 127.5f) < 1e-3f, "left red %f", (double)r[0]);
    fail_unless(fabsf(r[15 * 3 + 1] - 127.5f) < 1e-3f, "right green %f",
                (double)r[15 * 3 + 1]);
    fail_unless(fabsf(r[15 * 3 + 2] - 127.5f) < 1e-3f, "right blue %f",
                (double)r[15 * 3 + 2]);
    /* inner columns: pure red then pure blue */
    fail_unless(r[3 * 3 + 0] == 255.0f && r[3 * 3 + 2] == 0.0f);
    fail_unless(r[12 * 3 + 2] == 255.0f && r[12 * 3 + 0] == 0.0f);
  }
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

/* ---- region of interest ---- */

typedef struct {
  GstVideoFormat format;
  int w, h, ow, oh;
  Mode mode;
  StreamRoi roi;
} RoiCase;

/* Every mode; odd frame and target sizes; regions at each edge and corner,
 * fractional edges, a region of one pixel, subsampled chroma. */
static const RoiCase roi_cases[] = {
  { GST_VIDEO_FORMAT_I420, 64, 48, 32, 32, MODE_STRETCH, { 0.25, 0.5, 0.5, 0.5 } },
  { GST_VIDEO_FORMAT_I420, 33, 17, 20, 24, MODE_STRETCH, { 0.6, 0.3, 0.4, 0.7 } },
  { GST_VIDEO_FORMAT_I420, 33, 17, 16, 16, MODE_CROP, { 0, 0, 0.37, 1 } },
  { GST_VIDEO_FORMAT_I420, 35, 23, 19, 13, MODE_LETTERBOX, { 0.1, 0.2, 0.9, 0.8 } },
  { GST_VIDEO_FORMAT_NV12, 64, 48, 32, 32, MODE_CROP, { 0.5, 0.5, 0.5, 0.5 } },
  { GST_VIDEO_FORMAT_NV12, 1280, 720, 96, 96, MODE_STRETCH, { 0.7, 0.05, 0.3, 0.45 } },
  { GST_VIDEO_FORMAT_NV21, 33, 17, 20, 24, MODE_LETTERBOX, { 0, 0.5, 1, 0.5 } },
  { GST_VIDEO_FORMAT_YUY2, 33, 17, 20, 24, MODE_STRETCH, { 0.9, 0.9, 0.1, 0.1 } },
  { GST_VIDEO_FORMAT_UYVY, 64, 48, 24, 24, MODE_CROP, { 0.123, 0.456, 0.321, 0.3 } },
  { GST_VIDEO_FORMAT_RGB, 33, 17, 20, 24, MODE_STRETCH, { 0.5, 0, 0.5, 1 } },
  { GST_VIDEO_FORMAT_RGB, 33, 17, 7, 9, MODE_LETTERBOX, { 0.97, 0.94, 0.03, 0.06 } },
  { GST_VIDEO_FORMAT_BGR, 33, 17, 16, 16, MODE_CROP, { 0.33, 0.33, 0.34, 0.34 } },
  { GST_VIDEO_FORMAT_BGRx, 1280, 720, 224, 224, MODE_STRETCH, { 0.4, 0.4, 0.6, 0.6 } },
  { GST_VIDEO_FORMAT_BGRx, 31, 31, 8, 8, MODE_STRETCH, { 0.95, 0.95, 0.05, 0.05 } },
  { GST_VIDEO_FORMAT_RGBA, 33, 17, 20, 24, MODE_LETTERBOX, { 0, 0, 0.5, 0.5 } },
  { GST_VIDEO_FORMAT_ABGR, 64, 48, 33, 31, MODE_CROP, { 0.75, 0.25, 0.25, 0.75 } },
};

static void
run_roi_case(const RoiCase *k)
{
  const Fmt *f = fmt_of(k->format);
  GstVideoInfo info;
  gst_video_info_set_format(&info, k->format, k->w, k->h);
  TestTarget t;
  tt_init(&t, k->ow, k->oh);
  GstHarness *h =
      new_harness(&t, imagenet_mean, imagenet_std, mode_nick[k->mode]);
  streamsight_sink_set_roi(STREAMSIGHT_SINK(h->element), &k->roi);
  gst_harness_set_src_caps(h, gst_video_info_to_caps(&info));
  GstBuffer *buf = random_frame(&info);
  GstVideoFrame fr;
  fail_unless(gst_video_frame_map(&fr, &info, buf, GST_MAP_READ));
  double *rgb = reference_rgb(f, &fr, default_matrix(k->h), FALSE);
  gst_video_frame_unmap(&fr);
  float *want = reference_tensor_roi(rgb, k->w, k->h, k->ow, k->oh, k->mode,
                                     &k->roi, imagenet_mean, imagenet_std);
  fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  fail_unless_equals_int(t.submitted, 1);
  char what[160];
  g_snprintf(what, sizeof what, "%s %dx%d -> %dx%d %s roi %g,%g,%g,%g (%s)",
             gst_video_format_to_string(k->format), k->w, k->h, k->ow, k->oh,
             mode_nick[k->mode], k->roi.x, k->roi.y, k->roi.w, k->roi.h,
             frame_convert_row_name(frame_convert_row_best()));
  compare_tensor(what, t.tensor, want, k->ow, k->oh, imagenet_std);
  g_free(want);
  g_free(rgb);
  gst_harness_teardown(h);
  tt_clear(&t);
}

GST_START_TEST(test_roi_convert)
{
  rng_seed(SEED + 300 + (guint64)__i__);
  run_roi_case(&roi_cases[__i__]);
}
GST_END_TEST;

/* Pushes one frame of info's layout made by fill (x, y) -> packed RGB and
 * returns the tensor (g_free). */
static float *
push_rgb_frame(int w, int h, int ow, int oh, const char *mode,
               const StreamRoi *roi, const guint8 *px, int px_w, int x0,
               int y0)
{
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, w, h);
  TestTarget t;
  tt_init(&t, ow, oh);
  GstHarness *hn = new_harness(&t, imagenet_mean, imagenet_std, mode);
  if (roi)
    streamsight_sink_set_roi(STREAMSIGHT_SINK(hn->element), roi);
  gst_harness_set_src_caps(hn, gst_video_info_to_caps(&info));
  GstBuffer *buf = gst_buffer_new_allocate(NULL, info.size, NULL);
  GstVideoFrame fr;
  fail_unless(gst_video_frame_map(&fr, &info, buf, GST_MAP_WRITE));
  for (int y = 0; y < h; y++)
    memcpy((guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&fr, 0) +
               (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&fr, 0),
           px + ((gsize)(y0 + y) * px_w + x0) * 3, (gsize)w * 3);
  gst_video_frame_unmap(&fr);
  fail_unless_equals_int(gst_harness_push(hn, buf), GST_FLOW_OK);
  fail_unless_equals_int(t.submitted, 1);
  float *out = g_memdup2(t.tensor, (gsize)ow * oh * 3 * sizeof(float));
  gst_harness_teardown(hn);
  tt_clear(&t);
  return out;
}

/* No copy, same result: the sink with an ROI on whole pixels gives the
 * very bits it gives for a frame cut to that region first, in every mode;
 * and a new ROI takes effect on the next frame. 40x30 frame, ROI
 * 0.25,0.1,0.5,0.6 = pixels 10..29 x 3..20. */
GST_START_TEST(test_roi_equals_cut)
{
  const int W = 40, H = 30;
  guint8 *px = g_malloc((gsize)W * H * 3);
  rng_seed(SEED + 400);
  for (int i = 0; i < W * H * 3; i++)
    px[i] = (guint8)(rng_u32() >> 24);
  const StreamRoi roi = { 0.25, 0.1, 0.5, 0.6 };
  for (int m = 0; m < 3; m++) {
    float *a = push_rgb_frame(W, H, 13, 11, mode_nick[m], &roi, px, W, 0, 0);
    float *b = push_rgb_frame(20, 18, 13, 11, mode_nick[m], NULL, px, W, 10,
                              3);
    fail_unless(memcmp(a, b, 13 * 11 * 3 * sizeof(float)) == 0,
                "%s: the ROI differs from the cut frame", mode_nick[m]);
    float *c = push_rgb_frame(W, H, 13, 11, mode_nick[m], NULL, px, W, 0, 0);
    fail_unless(memcmp(a, c, 13 * 11 * 3 * sizeof(float)) != 0,
                "%s: the ROI changed nothing", mode_nick[m]);
    g_free(a);
    g_free(b);
    g_free(c);
  }

  /* Changed between frames: the next frame uses it. */
  TestTarget t;
  tt_init(&t, 8, 8);
  GstHarness *hn = new_harness(&t, imagenet_mean, imagenet_std, NULL);
  gst_harness_set_src_caps_str(
      hn, "video/x-raw,format=RGB,width=40,height=30,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, W, H);
  GstBuffer *buf = gst_buffer_new_allocate(NULL, info.size, NULL);
  GstVideoFrame fr;
  fail_unless(gst_video_frame_map(&fr, &info, buf, GST_MAP_WRITE));
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      guint8 *p = (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&fr, 0) +
                  (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&fr, 0) + x * 3;
      p[0] = x < W / 2 ? 255 : 0; /* left half red, right half blue */
      p[1] = 0;
      p[2] = x < W / 2 ? 0 : 255;
    }
  gst_video_frame_unmap(&fr);
  const StreamRoi right = { 0.5, 0, 0.5, 1 };
  streamsight_sink_set_roi(STREAMSIGHT_SINK(hn->element), &right);
  StreamRoi got;
  streamsight_sink_get_roi(STREAMSIGHT_SINK(hn->element), &got);
  fail_unless(got.x == 0.5 && got.w == 0.5);
  fail_unless_equals_int(gst_harness_push(hn, gst_buffer_ref(buf)),
                         GST_FLOW_OK);
  for (int i = 0; i < 64; i++) /* all blue */
    fail_unless(t.tensor[i * 3] < 0 && t.tensor[i * 3 + 2] > 0, "px %d", i);
  const StreamRoi left = { 0, 0, 0.5, 1 };
  streamsight_sink_set_roi(STREAMSIGHT_SINK(hn->element), &left);
  fail_unless_equals_int(gst_harness_push(hn, buf), GST_FLOW_OK);
  for (int i = 0; i < 64; i++) /* all red */
    fail_unless(t.tensor[i * 3] > 0 && t.tensor[i * 3 + 2] < 0, "px %d", i);
  gst_harness_teardown(hn);
  tt_clear(&t);
  g_free(px);
}
GST_END_TEST;

static Suite *
sink_geometry_suite(void)
{
  Suite *s = suite_create("sink-geometry");
  TCase *tc = tcase_create("geometry");
  tcase_add_test(tc, test_letterbox);
  tcase_add_test(tc, test_crop);
  tcase_add_loop_test(tc, test_roi_convert, 0, G_N_ELEMENTS(roi_cases));
  tcase_add_test(tc, test_roi_equals_cut);
  suite_add_tcase(s, tc);
  return s;
}

int
main(int argc, char **argv)
{
  return sink_fixture_main(&argc, &argv, sink_geometry_suite, "sink-geometry", __FILE__);
}
