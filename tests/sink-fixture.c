/* streamsight — the sink suites' target, harness, formats and reference
 * conversion (see sink-fixture.h).
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sink-fixture.h"
#include "testutil.h"

/* ---- tiny helpers ---- */

const float imagenet_mean[3] = { 123.675f, 116.28f, 103.53f };
const float imagenet_std[3] = { 58.395f, 57.12f, 57.375f };

const char *const mode_nick[3] = { "stretch", "crop", "letterbox" };

static struct tu_rng rng; /* testutil-rng.c's generator */

void
rng_seed(guint64 s)
{
  tu_rng_seed(&rng, s);
}

guint32
rng_u32(void)
{
  return tu_rng_u32(&rng);
}

/* ---- a target that records what it gets ---- */

static float *
tt_acquire(gpointer user, const SinkFrameInfo *info)
{
  TestTarget *t = user;
  if (t->refuse) {
    t->refused++;
    return NULL;
  }
  t->acquired++;
  /* Poison, so that a pixel the sink does not write is caught. */
  for (int i = 0; i < t->width * t->height * 3; i++)
    t->tensor[i] = NAN;
  return t->tensor;
}

static void
tt_submit(gpointer user, float *tensor, const SinkFrameInfo *info)
{
  TestTarget *t = user;
  fail_unless(tensor == t->tensor);
  t->submitted++;
  t->last = *info;
  t->preprocess_ns_total += info->preprocess_ns;
}

static void
tt_release(gpointer user, float *tensor)
{
  TestTarget *t = user;
  t->released++;
}

void
tt_destroy(gpointer user)
{
  TestTarget *t = user;
  t->destroyed++;
}

const SinkTarget test_target = { tt_acquire, tt_submit, tt_release };

void
tt_init(TestTarget *t, int w, int h)
{
  memset(t, 0, sizeof *t);
  t->width = w;
  t->height = h;
  t->tensor = g_new(float, (gsize)w * h * 3);
}

void
tt_clear(TestTarget *t)
{
  g_free(t->tensor);
}

GstHarness *
new_harness(TestTarget *t, const float mean[3], const float std[3],
            const char *resize_mode)
{
  GstHarness *h = gst_harness_new("streamsightsink");
  /* Frames carry no useful timestamps here: render at once. */
  g_object_set(h->element, "sync", FALSE, NULL);
  if (resize_mode)
    gst_util_set_object_arg(G_OBJECT(h->element), "resize-mode",
                            resize_mode);
  streamsight_sink_set_target(STREAMSIGHT_SINK(h->element), t->width,
                              t->height, mean, std, &test_target, t,
                              tt_destroy);
  return h;
}

/* ---- formats: layouts written out by hand ---- */

static const Fmt fmts[] = {
  { GST_VIDEO_FORMAT_I420, KIND_I420, 1, { 1, 2, 0 } },
  { GST_VIDEO_FORMAT_YV12, KIND_I420, 1, { 2, 1, 0 } },
  { GST_VIDEO_FORMAT_NV12, KIND_NV, 1, { 0, 1, 0 } },
  { GST_VIDEO_FORMAT_NV21, KIND_NV, 1, { 1, 0, 0 } },
  { GST_VIDEO_FORMAT_YUY2, KIND_PACKED422, 2, { 0, 1, 3 } },
  { GST_VIDEO_FORMAT_UYVY, KIND_PACKED422, 2, { 1, 0, 2 } },
  { GST_VIDEO_FORMAT_RGB, KIND_RGB, 3, { 0, 1, 2 } },
  { GST_VIDEO_FORMAT_BGR, KIND_RGB, 3, { 2, 1, 0 } },
  { GST_VIDEO_FORMAT_RGBx, KIND_RGB, 4, { 0, 1, 2 } },
  { GST_VIDEO_FORMAT_BGRx, KIND_RGB, 4, { 2, 1, 0 } },
  { GST_VIDEO_FORMAT_xRGB, KIND_RGB, 4, { 1, 2, 3 } },
  { GST_VIDEO_FORMAT_xBGR, KIND_RGB, 4, { 3, 2, 1 } },
  { GST_VIDEO_FORMAT_RGBA, KIND_RGB, 4, { 0, 1, 2 } },
  { GST_VIDEO_FORMAT_BGRA, KIND_RGB, 4, { 2, 1, 0 } },
  { GST_VIDEO_FORMAT_ARGB, KIND_RGB, 4, { 1, 2, 3 } },
  { GST_VIDEO_FORMAT_ABGR, KIND_RGB, 4, { 3, 2, 1 } },
};

const Fmt *
fmt_of(GstVideoFormat f)
{
  for (gsize i = 0; i < G_N_ELEMENTS(fmts); i++)
    if (fmts[i].format == f)
      return &fmts[i];
  g_assert_not_reached();
  return NULL;
}

void
pixel_addr(const Fmt *f, GstVideoFrame *fr, int x, int y, guint8 *p[3])
{
  guint8 *pl[3];
  int st[3];
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(fr); i++) {
    pl[i] = GST_VIDEO_FRAME_PLANE_DATA(fr, i);
    st[i] = GST_VIDEO_FRAME_PLANE_STRIDE(fr, i);
  }
  switch (f->kind) {
  case KIND_RGB: {
    guint8 *px = pl[0] + (gsize)y * st[0] + (gsize)x * f->pstride;
    for (int c = 0; c < 3; c++)
      p[c] = px + f->pos[c];
    break;
  }
  case KIND_I420:
    p[0] = pl[0] + (gsize)y * st[0] + x;
    p[1] = pl[f->pos[0]] + (gsize)(y / 2) * st[f->pos[0]] + x / 2;
    p[2] = pl[f->pos[1]] + (gsize)(y / 2) * st[f->pos[1]] + x / 2;
    break;
  case KIND_NV: {
    guint8 *uv = pl[1] + (gsize)(y / 2) * st[1] + (gsize)(x / 2) * 2;
    p[0] = pl[0] + (gsize)y * st[0] + x;
    p[1] = uv + f->pos[0];
    p[2] = uv + f->pos[1];
    break;
  }
  case KIND_PACKED422: {
    guint8 *pair = pl[0] + (gsize)y * st[0] + (gsize)(x / 2) * 4;
    p[0] = pair + f->pos[0] + (x % 2) * 2;
    p[1] = pair + f->pos[1];
    p[2] = pair + f->pos[2];
    break;
  }
  }
}

Matrix
default_matrix(int h)
{
  return h >= 720 ? MAT_709 : MAT_601;
}

void
yuv_to_rgb(Matrix m, gboolean full, double y, double u, double v,
           double rgb[3])
{
  double ys, us, vs;
  if (full) {
    ys = y;
    us = u - 128;
    vs = v - 128;
  } else {
    ys = (y - 16) * 255.0 / 219.0;
    us = (u - 128) * 255.0 / 224.0;
    vs = (v - 128) * 255.0 / 224.0;
  }
  if (m == MAT_601) {
    rgb[0] = ys + 1.402 * vs;
    rgb[1] = ys - 0.344136 * us - 0.714136 * vs;
    rgb[2] = ys + 1.772 * us;
  } else {
    rgb[0] = ys + 1.5748 * vs;
    rgb[1] = ys - 0.187324 * us - 0.468124 * vs;
    rgb[2] = ys + 1.8556 * us;
  }
}

double *
reference_rgb(const Fmt *f, GstVideoFrame *fr, Matrix m, gboolean full)
{
  int w = GST_VIDEO_FRAME_WIDTH(fr), h = GST_VIDEO_FRAME_HEIGHT(fr);
  double *rgb = g_new(double, (gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p[3];
      pixel_addr(f, fr, x, y, p);
      double *o = rgb + ((gsize)y * w + x) * 3;
      if (f->kind == KIND_RGB) {
        o[0] = *p[0];
        o[1] = *p[1];
        o[2] = *p[2];
      } else {
        yuv_to_rgb(m, full, *p[0], *p[1], *p[2], o);
      }
    }
  return rgb;
}

void
sample(const double *rgb, int w, int x_lo, int x_hi, int y_lo, int y_hi,
       double sx, double sy, double out[3])
{
  sx = CLAMP(sx, (double)x_lo, (double)x_hi);
  sy = CLAMP(sy, (double)y_lo, (double)y_hi);
  int x0 = (int)floor(sx), y0 = (int)floor(sy);
  int x1 = MIN(x0 + 1, x_hi), y1 = MIN(y0 + 1, y_hi);
  double fx = sx - x0, fy = sy - y0;
  for (int c = 0; c < 3; c++) {
    double p00 = rgb[((gsize)y0 * w + x0) * 3 + c];
    double p01 = rgb[((gsize)y0 * w + x1) * 3 + c];
    double p10 = rgb[((gsize)y1 * w + x0) * 3 + c];
    double p11 = rgb[((gsize)y1 * w + x1) * 3 + c];
    out[c] = (1 - fy) * ((1 - fx) * p00 + fx * p01) +
             fy * ((1 - fx) * p10 + fx * p11);
  }
}

float *
reference_tensor_roi(const double *rgb, int w, int h, int ow, int oh,
                     Mode mode, const StreamRoi *roi, const float mean[3],
                     const float std[3])
{
  float *t = g_new(float, (gsize)ow * oh * 3);
  double rx = roi->x * w, ry = roi->y * h, rw = roi->w * w, rh = roi->h * h;
  int x_lo = (int)floor(rx + 1e-6), y_lo = (int)floor(ry + 1e-6);
  int x_hi = MAX((int)ceil(rx + rw - 1e-6) - 1, x_lo);
  int y_hi = MAX((int)ceil(ry + rh - 1e-6) - 1, y_lo);
  double wx0 = rx, wy0 = ry, ww = rw, wh = rh; /* source window */
  int cx0 = 0, cy0 = 0, cw = ow, ch = oh;      /* content in the output */
  if (mode == MODE_CROP) {
    if (rw / rh > (double)ow / oh) {
      ww = rh * ow / oh;
      wx0 = rx + (rw - ww) / 2;
    } else {
      wh = rw * oh / ow;
      wy0 = ry + (rh - wh) / 2;
    }
  } else if (mode == MODE_LETTERBOX) {
    double s = MIN((double)ow / rw, (double)oh / rh);
    cw = CLAMP((int)lround(rw * s), 1, ow);
    ch = CLAMP((int)lround(rh * s), 1, oh);
    cx0 = (ow - cw) / 2;
    cy0 = (oh - ch) / 2;
  }
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++) {
      double v[3] = { 0, 0, 0 };
      if (ox >= cx0 && ox < cx0 + cw && oy >= cy0 && oy < cy0 + ch) {
        double sx = wx0 + (ox - cx0 + 0.5) * ww / cw - 0.5;
        double sy = wy0 + (oy - cy0 + 0.5) * wh / ch - 0.5;
        sample(rgb, w, x_lo, x_hi, y_lo, y_hi, sx, sy, v);
      }
      for (int c = 0; c < 3; c++)
        t[((gsize)oy * ow + ox) * 3 + c] =
            (float)((CLAMP(v[c], 0.0, 255.0) - mean[c]) / std[c]);
    }
  return t;
}

float *
reference_tensor(const double *rgb, int w, int h, int ow, int oh, Mode mode,
                 const float mean[3], const float std[3])
{
  return reference_tensor_roi(rgb, w, h, ow, oh, mode, &STREAM_ROI_FULL,
                              mean, std);
}

GstBuffer *
random_frame(const GstVideoInfo *info)
{
  GstBuffer *buf = gst_buffer_new_allocate(NULL, info->size, NULL);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8)(rng_u32() >> 24);
  gst_buffer_unmap(buf, &map);
  return buf;
}

void
compare_tensor(const char *what, const float *got, const float *want, int ow,
               int oh, const float std[3])
{
  double worst = 0;
  for (int i = 0; i < ow * oh * 3; i++) {
    int c = i % 3;
    double diff = fabs((double)got[i] - want[i]) * std[c]; /* in levels */
    fail_unless(diff <= TOL_LEVELS, "%s: index %d (x %d y %d c %d): %f vs %f",
                what, i, (i / 3) % ow, i / 3 / ow, c, (double)got[i],
                (double)want[i]);
    if (diff > worst)
      worst = diff;
  }
  GST_INFO("%s: worst difference %.5f levels", what, worst);
}

/* ---- main ---- */

int
sink_fixture_main(int *argc, char ***argv, Suite *(*make_suite)(void),
                  const char *name, const char *file)
{
  gst_check_init(argc, argv);
  if (!streamsight_sink_register()) {
    fprintf(stderr, "streamsight_sink_register failed\n");
    return 1;
  }
  printf("seed %u\n", SEED);
  return gst_check_run_suite(make_suite(), name, file);
}
