/* streamsightsink: the tensor it hands to its target equals a plain
 * reference (convert the whole frame to RGB float with the BT.601/709
 * matrix, resize bilinearly, clamp, normalise: sink-fixture.c) for every
 * accepted format and odd sizes, with default and padded strides; the row
 * kernels' variants against the reference row; solid colours give exact
 * values; the per-frame cost at 720p. Geometry (crop, letterbox, region of
 * interest): test-sink-geometry.c; drops, counters, properties:
 * test-sink-element.c.
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

/* ---- conversion against the reference ---- */

typedef struct {
  GstVideoFormat format;
  int w, h, ow, oh;
  Mode mode;
} Case;

static const Case cases[] = {
  { GST_VIDEO_FORMAT_I420, 64, 48, 32, 32, MODE_STRETCH },
  { GST_VIDEO_FORMAT_I420, 1280, 720, 224, 224, MODE_STRETCH },
  { GST_VIDEO_FORMAT_I420, 33, 17, 20, 24, MODE_STRETCH },
  { GST_VIDEO_FORMAT_I420, 16, 12, 40, 40, MODE_STRETCH }, /* upscale */
  { GST_VIDEO_FORMAT_YV12, 33, 17, 16, 16, MODE_STRETCH },
  { GST_VIDEO_FORMAT_NV12, 64, 48, 32, 32, MODE_STRETCH },
  { GST_VIDEO_FORMAT_NV12, 1280, 720, 96, 96, MODE_CROP },
  { GST_VIDEO_FORMAT_NV12, 33, 17, 20, 24, MODE_LETTERBOX },
  { GST_VIDEO_FORMAT_NV21, 64, 48, 32, 32, MODE_STRETCH },
  { GST_VIDEO_FORMAT_YUY2, 64, 48, 32, 32, MODE_STRETCH },
  { GST_VIDEO_FORMAT_YUY2, 33, 17, 20, 24, MODE_CROP },
  { GST_VIDEO_FORMAT_UYVY, 64, 48, 24, 24, MODE_LETTERBOX },
  { GST_VIDEO_FORMAT_RGB, 64, 48, 32, 32, MODE_STRETCH },
  { GST_VIDEO_FORMAT_RGB, 33, 17, 20, 24, MODE_STRETCH },
  { GST_VIDEO_FORMAT_BGR, 33, 17, 16, 16, MODE_CROP },
  { GST_VIDEO_FORMAT_RGBx, 64, 48, 32, 32, MODE_LETTERBOX },
  { GST_VIDEO_FORMAT_BGRx, 1280, 720, 224, 224, MODE_STRETCH },
  { GST_VIDEO_FORMAT_xRGB, 33, 17, 20, 24, MODE_STRETCH },
  { GST_VIDEO_FORMAT_xBGR, 64, 48, 32, 32, MODE_CROP },
  { GST_VIDEO_FORMAT_RGBA, 33, 17, 20, 24, MODE_STRETCH },
  { GST_VIDEO_FORMAT_BGRA, 64, 48, 32, 32, MODE_STRETCH },
  { GST_VIDEO_FORMAT_ARGB, 33, 17, 16, 16, MODE_LETTERBOX },
  { GST_VIDEO_FORMAT_ABGR, 64, 48, 32, 32, MODE_STRETCH },
};

static void
run_case(const Case *k, GstBuffer *(*make)(const GstVideoInfo *),
         const char *label)
{
  const Fmt *f = fmt_of(k->format);
  GstVideoInfo info;
  gst_video_info_set_format(&info, k->format, k->w, k->h);
  TestTarget t;
  tt_init(&t, k->ow, k->oh);
  GstHarness *h =
      new_harness(&t, imagenet_mean, imagenet_std, mode_nick[k->mode]);
  GstCaps *caps = gst_video_info_to_caps(&info);
  gst_harness_set_src_caps(h, caps);

  for (int rep = 0; rep < 2; rep++) { /* two frames: the plan is reused */
    GstBuffer *buf = make(&info);
    GstVideoFrame fr;
    fail_unless(gst_video_frame_map(&fr, &info, buf, GST_MAP_READ));
    double *rgb = reference_rgb(f, &fr, default_matrix(k->h), FALSE);
    gst_video_frame_unmap(&fr);
    float *want = reference_tensor(rgb, k->w, k->h, k->ow, k->oh, k->mode,
                                   imagenet_mean, imagenet_std);
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
    fail_unless_equals_int(t.submitted, rep + 1);
    char what[128];
    g_snprintf(what, sizeof what, "%s %s %dx%d -> %dx%d %s frame %d", label,
               gst_video_format_to_string(k->format), k->w, k->h, k->ow,
               k->oh, mode_nick[k->mode], rep);
    compare_tensor(what, t.tensor, want, k->ow, k->oh, imagenet_std);
    fail_unless_equals_int(t.last.src_width, k->w);
    fail_unless_equals_int(t.last.src_height, k->h);
    fail_unless_equals_uint64(t.last.frame_no, (guint64)rep + 1);
    g_free(want);
    g_free(rgb);
  }
  gst_harness_teardown(h);
  fail_unless_equals_int(t.destroyed, 1);
  tt_clear(&t);
}

GST_START_TEST(test_convert)
{
  rng_seed(SEED + (guint64)__i__);
  run_case(&cases[__i__], random_frame, "random");
}
GST_END_TEST;

/* Same content with non-default strides and plane offsets (GstVideoMeta). */
static GstBuffer *
padded_frame(const GstVideoInfo *info)
{
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0 };
  gint stride[GST_VIDEO_MAX_PLANES] = { 0 };
  gsize total = 64; /* a gap before plane 0 too */
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(info); p++) {
    stride[p] = GST_VIDEO_INFO_PLANE_STRIDE(info, p) + 40;
    offset[p] = total;
    /* full height for every plane: chroma planes get room to spare */
    total += (gsize)stride[p] * GST_VIDEO_INFO_HEIGHT(info) + 24;
  }
  GstBuffer *buf = gst_buffer_new_allocate(NULL, total, NULL);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8)(rng_u32() >> 24);
  gst_buffer_unmap(buf, &map);
  gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE,
                                 GST_VIDEO_INFO_FORMAT(info),
                                 GST_VIDEO_INFO_WIDTH(info),
                                 GST_VIDEO_INFO_HEIGHT(info),
                                 GST_VIDEO_INFO_N_PLANES(info), offset,
                                 stride);
  return buf;
}

GST_START_TEST(test_padded_strides)
{
  static const Case padded[] = {
    { GST_VIDEO_FORMAT_I420, 33, 17, 20, 24, MODE_STRETCH },
    { GST_VIDEO_FORMAT_NV12, 64, 48, 32, 32, MODE_LETTERBOX },
    { GST_VIDEO_FORMAT_BGRx, 33, 17, 16, 16, MODE_CROP },
    { GST_VIDEO_FORMAT_YUY2, 64, 48, 32, 32, MODE_STRETCH },
  };
  rng_seed(SEED + 100 + (guint64)__i__);
  run_case(&padded[__i__], padded_frame, "padded");
}
GST_END_TEST;

/* ---- the row kernels: every variant against the reference ---- */

static FrameConvertRowFn variants[] = {
  frame_convert_row_ref,
#if defined(SS_HAVE_FRAME_CONVERT_AVX2)
  frame_convert_row__avx2,
#endif
};

/* Random rows, tap tables and coefficients; pixel counts sweep the vector
 * tail (0 .. 2 x 8 + 1 and a long row); ps 0..4 covers single-sample rows,
 * planar, semi-planar, packed 3- and 4-byte pixels; n_safe_vec cuts the
 * vector part short. */
GST_START_TEST(test_row_variants)
{
  rng_seed(SEED + 7 * (guint64)__i__);
  const int ns[] = { 0, 1, 7, 8, 9, 15, 16, 17, 224 };
  const int n = ns[__i__ % G_N_ELEMENTS(ns)];
  const int ps_a = __i__ % 5, ps_b = (__i__ / 5) % 5;
  enum { ROW = 16384 }; /* > the largest offset, 224 * 19 * 4, plus 8 */
  guint8 *rows = g_new(guint8, 6 * ROW);
  for (int i = 0; i < 6 * ROW; i++)
    rows[i] = (guint8)(rng_u32() >> 24);
  gint32 *off[2];
  float *fx[2];
  for (int k = 0; k < 2; k++) {
    off[k] = g_new(gint32, n + 1);
    fx[k] = g_new(float, n + 1);
    int ps = k ? ps_b : ps_a;
    for (int i = 0; i < n; i++) { /* growing offsets, like real tables */
      off[k][i] = (gint32)(i * 13 + (rng_u32() % 7)) * (ps ? ps : 1);
      fx[k][i] = (float)(rng_u32() >> 8) / 16777216.0f;
    }
  }
  FrameConvertCoefs coefs;
  for (int c = 0; c < 3; c++) {
    for (int j = 0; j < 3; j++) /* out-of-range results exercise the clamp */
      coefs.m[c][j] = ((float)(rng_u32() >> 8) / 16777216.0f - 0.3f) * 2.0f;
    coefs.t[c] = ((float)(rng_u32() >> 8) / 16777216.0f - 0.5f) * 100.0f;
    coefs.scale[c] = 1.0f / 57.0f;
    coefs.bias[c] = -2.0f;
  }
  FrameConvertRow row = {
    .n = n,
    .n_safe_vec = __i__ % 3 == 2 ? n / 2 : n,
    .off = { off[0], off[1] },
    .fx = { fx[0], fx[1] },
    .ps = { ps_a, ps_b },
    .fy = (float)(rng_u32() >> 8) / 16777216.0f,
    .k = &coefs,
  };
  for (int c = 0; c < 3; c++) {
    row.top[c] = rows + (2 * c) * ROW;
    row.bot[c] = rows + (2 * c + 1) * ROW;
  }
  float *want = g_new(float, 3 * n + 1), *got = g_new(float, 3 * n + 1);
  row.out = want;
  frame_convert_row_ref(&row);
  for (gsize v = 1; v < G_N_ELEMENTS(variants); v++) {
    for (int i = 0; i < 3 * n; i++)
      got[i] = NAN;
    row.out = got;
    variants[v](&row);
    for (int i = 0; i < 3 * n; i++)
      /* FMA vs separate multiply-add: a few ulps of values within +-5 */
      fail_unless(fabsf(got[i] - want[i]) <= 1e-5f + 1e-5f * fabsf(want[i]),
                  "%s n %d ps %d/%d: index %d: %f vs %f",
                  frame_convert_row_name(variants[v]), n, ps_a, ps_b, i,
                  (double)got[i], (double)want[i]);
  }
  g_free(want);
  g_free(got);
  for (int k = 0; k < 2; k++) {
    g_free(off[k]);
    g_free(fx[k]);
  }
  g_free(rows);
}
GST_END_TEST;

/* ---- solid colours: exact values ---- */

/* Pushes one solid frame with the given raw components everywhere and
 * returns the first output pixel; checks every pixel equals it. */
static void
push_solid(GstVideoFormat format, int w, int h, const char *colorimetry,
           const guint8 comp[3], const float mean[3], const float std[3],
           float out[3])
{
  const Fmt *f = fmt_of(format);
  GstVideoInfo info;
  gst_video_info_set_format(&info, format, w, h);
  GstCaps *caps = gst_video_info_to_caps(&info);
  if (colorimetry)
    gst_caps_set_simple(caps, "colorimetry", G_TYPE_STRING, colorimetry,
                        NULL);
  TestTarget t;
  tt_init(&t, 8, 8);
  GstHarness *hn = new_harness(&t, mean, std, NULL);
  gst_harness_set_src_caps(hn, caps);
  GstBuffer *buf = gst_buffer_new_allocate(NULL, info.size, NULL);
  gst_buffer_memset(buf, 0, 0x55, info.size);
  GstVideoFrame fr;
  fail_unless(gst_video_frame_map(&fr, &info, buf, GST_MAP_WRITE));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p[3];
      pixel_addr(f, &fr, x, y, p);
      for (int c = 0; c < 3; c++)
        *p[c] = comp[c];
    }
  gst_video_frame_unmap(&fr);
  fail_unless_equals_int(gst_harness_push(hn, buf), GST_FLOW_OK);
  fail_unless_equals_int(t.submitted, 1);
  for (int c = 0; c < 3; c++)
    out[c] = t.tensor[c];
  for (int i = 0; i < 8 * 8 * 3; i++)
    fail_unless(t.tensor[i] == t.tensor[i % 3], "pixel %d differs", i / 3);
  gst_harness_teardown(hn);
  tt_clear(&t);
}

static void
expect_rgb(const char *what, const float got[3], const double rgb[3],
           const float mean[3], const float std[3], double tol_levels)
{
  for (int c = 0; c < 3; c++) {
    double want = (CLAMP(rgb[c], 0.0, 255.0) - mean[c]) / std[c];
    fail_unless(fabs(got[c] - want) <= tol_levels / std[c] + 1e-6,
                "%s: channel %d: %f vs %f", what, c, (double)got[c], want);
  }
}

GST_START_TEST(test_solid_colours)
{
  const float m127[3] = { 127.5f, 127.5f, 127.5f };
  const float s127[3] = { 127.5f, 127.5f, 127.5f };
  float got[3];

  /* RGB formats: the exact normalised value. */
  push_solid(GST_VIDEO_FORMAT_BGRx, 33, 17, NULL, (const guint8[]){ 200, 100, 50 },
             imagenet_mean, imagenet_std, got);
  expect_rgb("BGRx", got, (const double[]){ 200, 100, 50 }, imagenet_mean,
             imagenet_std, 1e-4);
  push_solid(GST_VIDEO_FORMAT_RGB, 5, 3, NULL, (const guint8[]){ 255, 0, 128 },
             m127, s127, got);
  /* x / 127.5 - 1 in float: exact up to one rounding */
  fail_unless(fabsf(got[0] - 1.0f) < 1e-6f && fabsf(got[1] + 1.0f) < 1e-6f,
              "%f %f", (double)got[0], (double)got[1]);

  /* Limited-range YUV: Y 235 is white, Y 16 black, at SD and HD. */
  const int sizes[2][2] = { { 64, 48 }, { 1280, 720 } };
  for (int s = 0; s < 2; s++) {
    push_solid(GST_VIDEO_FORMAT_I420, sizes[s][0], sizes[s][1], NULL,
               (const guint8[]){ 235, 128, 128 }, m127, s127, got);
    expect_rgb("white", got, (const double[]){ 255, 255, 255 }, m127, s127,
               1e-3);
    push_solid(GST_VIDEO_FORMAT_NV12, sizes[s][0], sizes[s][1], NULL,
               (const guint8[]){ 16, 128, 128 }, m127, s127, got);
    expect_rgb("black", got, (const double[]){ 0, 0, 0 }, m127, s127, 1e-3);
  }

  /* A saturated colour tells the matrices apart: BT.601 at SD, BT.709 at
   * HD, and the caps' colorimetry wins over the size. */
  const guint8 yuv[3] = { 90, 100, 200 };
  double rgb601[3], rgb709[3];
  yuv_to_rgb(MAT_601, FALSE, yuv[0], yuv[1], yuv[2], rgb601);
  yuv_to_rgb(MAT_709, FALSE, yuv[0], yuv[1], yuv[2], rgb709);
  fail_unless(fabs(rgb601[1] - rgb709[1]) > 10); /* the test can tell */
  push_solid(GST_VIDEO_FORMAT_I420, 64, 48, NULL, yuv, imagenet_mean,
             imagenet_std, got);
  expect_rgb("601 at SD", got, rgb601, imagenet_mean, imagenet_std, 1e-3);
  push_solid(GST_VIDEO_FORMAT_I420, 1280, 720, NULL, yuv, imagenet_mean,
             imagenet_std, got);
  expect_rgb("709 at HD", got, rgb709, imagenet_mean, imagenet_std, 1e-3);
  push_solid(GST_VIDEO_FORMAT_YUY2, 64, 48, "bt709", yuv, imagenet_mean,
             imagenet_std, got);
  expect_rgb("bt709 caps at SD", got, rgb709, imagenet_mean, imagenet_std,
             1e-3);
  push_solid(GST_VIDEO_FORMAT_NV12, 1280, 720, "bt601", yuv, imagenet_mean,
             imagenet_std, got);
  expect_rgb("bt601 caps at HD", got, rgb601, imagenet_mean, imagenet_std,
             1e-3);

  /* Full range (JPEG-style "1:4:0:0": 0-255, BT.601): Y 128 is mid grey,
   * where limited range would read 130.4. */
  push_solid(GST_VIDEO_FORMAT_I420, 64, 48, "1:4:0:0",
             (const guint8[]){ 128, 128, 128 }, m127, s127, got);
  expect_rgb("full range grey", got, (const double[]){ 128, 128, 128 }, m127,
             s127, 1e-3);
  double full[3];
  yuv_to_rgb(MAT_601, TRUE, yuv[0], yuv[1], yuv[2], full);
  push_solid(GST_VIDEO_FORMAT_NV12, 64, 48, "1:4:0:0", yuv, imagenet_mean,
             imagenet_std, got);
  expect_rgb("full range colour", got, full, imagenet_mean, imagenet_std,
             1e-3);

  /* Out of gamut: clamped to 0..255 before normalising. */
  push_solid(GST_VIDEO_FORMAT_I420, 64, 48, NULL,
             (const guint8[]){ 250, 20, 250 }, m127, s127, got);
  fail_unless(fabsf(got[0] - 1.0f) < 1e-6f, "red not clamped to 255: %f",
              (double)got[0]);
}
GST_END_TEST;

/* The per-frame cost of the fused pass for 1280x720 I420 -> 224x224, as the
 * sink measures it around the conversion (preprocess_ns). Printed for the
 * record (README / reports), not asserted. */
GST_START_TEST(test_convert_cost_720p)
{
  enum { FRAMES = 200 };
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, 1280, 720);
  TestTarget t;
  tt_init(&t, 224, 224);
  GstHarness *h = new_harness(&t, imagenet_mean, imagenet_std, NULL);
  gst_harness_set_src_caps(h, gst_video_info_to_caps(&info));
  rng_seed(SEED);
  GstBuffer *frame = random_frame(&info);
  gint64 best = G_MAXINT64;
  struct timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  for (int i = 0; i < FRAMES; i++) {
    gint64 before = t.preprocess_ns_total;
    gst_harness_push(h, gst_buffer_ref(frame));
    best = MIN(best, t.preprocess_ns_total - before);
  }
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  double cpu_us = ((c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec)) /
                  1e3 / FRAMES;
  double mean_us = t.preprocess_ns_total / 1e3 / FRAMES;
  /* Wall-clock figures suffer on a shared machine; the thread's CPU time
   * per push (conversion plus the harness and element overhead) does not. */
  printf("fused convert 1280x720 I420 -> 224x224: wall mean %.0f us, best "
         "%.0f us; CPU per push %.0f us (%d frames)\n",
         mean_us, best / 1e3, cpu_us, FRAMES);
  fail_unless_equals_int(t.submitted, FRAMES);
  /* No time bound: it would fail under valgrind and on a loaded machine. */
  fail_unless(best > 0 && t.last.preprocess_ns > 0);
  gst_buffer_unref(frame);
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

static Suite *
sink_suite(void)
{
  Suite *s = suite_create("sink");
  TCase *tc = tcase_create("convert");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_convert, 0, G_N_ELEMENTS(cases));
  tcase_add_loop_test(tc, test_padded_strides, 0, 4);
  tcase_add_test(tc, test_solid_colours);
  tcase_add_loop_test(tc, test_row_variants, 0, 75);
  tcase_add_test(tc, test_convert_cost_720p);
  suite_add_tcase(s, tc);
  return s;
}

int
main(int argc, char **argv)
{
  return sink_fixture_main(&argc, &argv, sink_suite, "sink", __FILE__);
}
