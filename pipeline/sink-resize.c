/* streamsight — the sink's fused resize/convert pass (see sink-resize.h).
 *
 * For every output pixel: a bilinear sample of the source (after the
 * stretch, centre-crop or letterbox geometry, inside the region of
 * interest), colour conversion of the sampled values to RGB, clamping to
 * 0..255 and normalisation (x - mean) / std, written as NHWC float RGB.
 *
 * Colour: YUV frames use the matrix and range of the caps' colorimetry
 * (GstVideoInfo defaults to BT.601 below 720 lines and BT.709 from 720 up
 * when the caps carry none). Subsampled chroma is replicated to the luma
 * grid (chroma sample k serves luma pixels 2k and 2k+1), so the fused pass
 * equals "convert every source pixel to RGB, then resize bilinearly"; the
 * clamp to 0..255 happens after the interpolation.
 *
 * Sampling uses pixel centres: output pixel ox samples the source window
 * [x0, x0 + w) at x0 + (ox + 0.5) * w / out_w - 0.5, clamped to the edge
 * pixels (OpenCV's INTER_LINEAR convention). Two taps per axis, no
 * antialiasing: a 720p frame is reduced by ~3-6x, which classification
 * tolerates, and the cost stays independent of the source size.
 *
 * Cost: per frame, one row kernel call per output row (frame-convert.h;
 * AVX2 gathers when the CPU has them). The tap tables are built once per
 * caps/target/mode/region (sink_resize_new), never per frame.
 */
#include "sink-resize.h"

#include <math.h>
#include <string.h>

#include "frame-convert.h"

/* Sampling rows of one output row: source rows of component 0 and of
 * components 1-2 (which share subsampling in every accepted format), top
 * and bottom, and the bottom row's weight. */
typedef struct {
  gint32 a0, a1, b0, b1;
  float fy;
} RowTap;

/* Column taps follow frame-convert.h (class 0: component 0, class 1:
 * components 1 and 2). */
struct SinkResize {
  GstVideoInfo vinfo;
  int out_w, out_h;
  int col_begin, col_end; /* output columns with content (letterbox) */
  int row_begin, row_end; /* output rows with content */
  gint32 *off[2];         /* per class, col_end - col_begin byte offsets */
  float *fx[2];           /* per class, weights of the right tap */
  int ps[2];              /* per class, bytes between the two taps */
  int n_safe_vec;         /* see FrameConvertRow */
  RowTap *rows;           /* out_h, only [row_begin, row_end) used */
  guint plane[3];         /* plane of component c */
  guint poffset[3];       /* byte offset of component c inside a pixel */
  FrameConvertCoefs k;
  float border[3];        /* normalised black, for letterbox borders */
  FrameConvertRowFn row_fn;
};

void
sink_resize_free(SinkResize *p)
{
  if (!p)
    return;
  for (int k = 0; k < 2; k++) {
    g_free(p->off[k]);
    g_free(p->fx[k]);
  }
  g_free(p->rows);
  g_free(p);
}

const GstVideoInfo *
sink_resize_video_info(const SinkResize *p)
{
  return &p->vinfo;
}

/* ---- the tap tables ---- */

/* YUV -> RGB 0..255 from raw 8-bit components, for matrix coefficients
 * Kr, Kb and the range's offsets and scales:
 *   Y' = (Y - oY) / sY, Pb = (U - oC) / sC, Pr = (V - oC) / sC
 *   R = Y' + 2 (1 - Kr) Pr
 *   G = Y' - 2 Kb (1 - Kb) / Kg Pb - 2 Kr (1 - Kr) / Kg Pr,  Kg = 1 - Kr - Kb
 *   B = Y' + 2 (1 - Kb) Pb
 * all times 255. */
static void
resize_set_yuv_matrix(SinkResize *p, double kr, double kb, const gint offset[4],
                    const gint scale[4])
{
  double kg = 1.0 - kr - kb;
  double coef[3][3] = {
    { 1.0, 0.0, 2.0 * (1.0 - kr) },
    { 1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg },
    { 1.0, 2.0 * (1.0 - kb), 0.0 },
  };
  for (int c = 0; c < 3; c++) {
    double t = 0.0;
    for (int k = 0; k < 3; k++) {
      double m = 255.0 * coef[c][k] / scale[k];
      p->k.m[c][k] = (float)m;
      t -= m * offset[k];
    }
    p->k.t[c] = (float)t;
  }
}

static gboolean
resize_set_color(SinkResize *p, const GstVideoInfo *info)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  memset(p->k.m, 0, sizeof p->k.m);
  memset(p->k.t, 0, sizeof p->k.t);
  if (GST_VIDEO_FORMAT_INFO_IS_RGB(finfo)) {
    for (int c = 0; c < 3; c++)
      p->k.m[c][c] = 1.0f;
    return TRUE;
  }
  gdouble kr, kb;
  GstVideoColorMatrix matrix = info->colorimetry.matrix;
  if (!gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb)) {
    /* Unknown (or RGB on YUV data): what GstVideoInfo would default to. */
    matrix = GST_VIDEO_INFO_HEIGHT(info) >= 720 ? GST_VIDEO_COLOR_MATRIX_BT709
                                                : GST_VIDEO_COLOR_MATRIX_BT601;
    gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb);
  }
  GstVideoColorRange range = info->colorimetry.range;
  if (range == GST_VIDEO_COLOR_RANGE_UNKNOWN)
    range = GST_VIDEO_COLOR_RANGE_16_235;
  gint offset[4], scale[4];
  gst_video_color_range_offsets(range, finfo, offset, scale);
  resize_set_yuv_matrix(p, kr, kb, offset, scale);
  return TRUE;
}

/* One tap along an axis: output position o of [begin, end) samples the
 * source window [src0, src0 + src_len) at its pixel centre, clamped to the
 * pixels [lo, hi] (the region of interest's, the whole axis without one),
 * so that a region is sampled exactly as if it had been cut out first. */
static void
axis_tap(int o, int begin, int end, double src0, double src_len, int lo,
         int hi, gint32 *i0, gint32 *i1, float *frac)
{
  double x = src0 + ((double)(o - begin) + 0.5) * src_len / (end - begin) -
             0.5;
  if (x < (double)lo)
    x = (double)lo;
  if (x > (double)hi)
    x = (double)hi;
  int x0 = (int)x;
  *i0 = x0;
  *i1 = x0 + 1 <= hi ? x0 + 1 : hi;
  *frac = (float)(x - x0);
}

/* The pixels [lo, hi] an ROI edge pair covers on an axis of size pixels:
 * those it touches (a fractional edge keeps its partial pixel). */
static void
roi_axis(double start, double len, int size, double *src0, double *src_len,
         int *lo, int *hi)
{
  /* ROI edges are fractions of the frame; 1e-6 of a pixel absorbs their
   * rounding so that 0.25 x 64 stays pixel 16. */
  const double eps = 1e-6;
  *src0 = start * size;
  *src_len = len * size;
  *lo = CLAMP((int)floor(*src0 + eps), 0, size - 1);
  *hi = CLAMP((int)ceil(*src0 + *src_len - eps) - 1, *lo, size - 1);
}

/* One class's taps in adjacent form (frame-convert.h): the source sample
 * indices s0 <= s1 (equal, or s1 = s0 + 1) with weight f on s1, among n
 * samples, become a left index and a weight on index + 1. */
static void
class_tap(int s0, int s1, float f, int n, int *idx, float *weight)
{
  if (n < 2) {
    *idx = 0;
    *weight = 0.0f;
  } else if (s1 == s0) {
    /* One sample (right edge, or two luma taps on one chroma sample). */
    *idx = s0 < n - 1 ? s0 : n - 2;
    *weight = s0 < n - 1 ? 0.0f : 1.0f;
  } else {
    *idx = s0;
    *weight = f;
  }
}

/* Output columns (from col_begin) for which a 4-byte load at each tap, and
 * at tap + ps when ps > 3, stays inside the row of every component. Offsets
 * grow with the column, so this is a prefix. */
static int
safe_vec_columns(const SinkResize *p, const GstVideoFormatInfo *finfo, int w,
                 int n_cols)
{
  int row_end[GST_VIDEO_MAX_PLANES] = { 0 };
  for (int c = 0; c < 3; c++) {
    int n = GST_VIDEO_FORMAT_INFO_SCALE_WIDTH(finfo, c, w);
    int end = (n - 1) * GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, c) +
              (int)p->poffset[c] + 1;
    row_end[p->plane[c]] = MAX(row_end[p->plane[c]], end);
  }
  for (int i = 0; i < n_cols; i++)
    for (int c = 0; c < 3; c++) {
      int k = c == 0 ? 0 : 1;
      int last = p->off[k][i] + (int)p->poffset[c] + 3 +
                 (p->ps[k] > 3 ? p->ps[k] : 0);
      if (last >= row_end[p->plane[c]])
        return i;
    }
  return n_cols;
}

SinkResize *
sink_resize_new(const GstVideoInfo *info, int out_w, int out_h,
                const float mean[3], const float std[3],
                StreamsightResizeMode mode, const StreamRoi *roi)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  const int w = GST_VIDEO_INFO_WIDTH(info), h = GST_VIDEO_INFO_HEIGHT(info);
  if (w < 1 || h < 1 || GST_VIDEO_FORMAT_INFO_DEPTH(finfo, 0) != 8)
    return NULL;
  /* Components 1 and 2 share one column/row table. */
  if (GST_VIDEO_FORMAT_INFO_W_SUB(finfo, 1) !=
          GST_VIDEO_FORMAT_INFO_W_SUB(finfo, 2) ||
      GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 1) !=
          GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 2) ||
      GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, 1) !=
          GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, 2))
    return NULL;

  SinkResize *p = g_new0(SinkResize, 1);
  p->vinfo = *info;
  p->out_w = out_w;
  p->out_h = out_h;
  p->rows = g_new0(RowTap, p->out_h);
  for (int c = 0; c < 3; c++) {
    p->plane[c] = GST_VIDEO_FORMAT_INFO_PLANE(finfo, c);
    p->poffset[c] = GST_VIDEO_FORMAT_INFO_POFFSET(finfo, c);
  }
  resize_set_color(p, info);
  for (int c = 0; c < 3; c++) {
    p->k.scale[c] = 1.0f / std[c];
    p->k.bias[c] = -mean[c] / std[c];
    p->border[c] = p->k.bias[c];
  }

  /* Geometry on the display aspect (pixel aspect ratio applied), inside
   * the region of interest: the resize modes fit the region, not the
   * frame, to the target; only the source rectangle changes, so the ROI
   * costs nothing per frame. */
  double par = info->par_n > 0 && info->par_d > 0
                   ? (double)info->par_n / info->par_d
                   : 1.0;
  double rx0, rw, ry0, rh;
  int x_lo, x_hi, y_lo, y_hi;
  roi_axis(roi->x, roi->w, w, &rx0, &rw, &x_lo, &x_hi);
  roi_axis(roi->y, roi->h, h, &ry0, &rh, &y_lo, &y_hi);
  double disp_w = rw * par, disp_h = rh;
  double sx0 = rx0, sw = rw, sy0 = ry0, sh = rh;
  p->col_begin = 0;
  p->col_end = p->out_w;
  p->row_begin = 0;
  p->row_end = p->out_h;
  double out_ar = (double)p->out_w / p->out_h;
  if (mode == STREAMSIGHT_RESIZE_CROP) {
    if (disp_w / disp_h > out_ar) {
      sw = disp_h * out_ar / par;
      sx0 = rx0 + (rw - sw) / 2.0;
    } else {
      sh = disp_w / out_ar;
      sy0 = ry0 + (rh - sh) / 2.0;
    }
  } else if (mode == STREAMSIGHT_RESIZE_LETTERBOX) {
    double s = MIN(p->out_w / disp_w, p->out_h / disp_h);
    int cw = CLAMP((int)lround(disp_w * s), 1, p->out_w);
    int ch = CLAMP((int)lround(disp_h * s), 1, p->out_h);
    p->col_begin = (p->out_w - cw) / 2;
    p->col_end = p->col_begin + cw;
    p->row_begin = (p->out_h - ch) / 2;
    p->row_end = p->row_begin + ch;
  }

  /* Columns: luma/pixel taps, then each class's adjacent-tap form. */
  const int n_cols = p->col_end - p->col_begin;
  int n_samples[2], pstride[2], wsub[2];
  for (int k = 0; k < 2; k++) {
    wsub[k] = GST_VIDEO_FORMAT_INFO_W_SUB(finfo, k);
    pstride[k] = GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, k);
    n_samples[k] = GST_VIDEO_FORMAT_INFO_SCALE_WIDTH(finfo, k, w);
    p->ps[k] = n_samples[k] >= 2 ? pstride[k] : 0;
    p->off[k] = g_new(gint32, n_cols);
    p->fx[k] = g_new(float, n_cols);
  }
  for (int i = 0; i < n_cols; i++) {
    gint32 x0, x1;
    float fx;
    axis_tap(p->col_begin + i, p->col_begin, p->col_end, sx0, sw, x_lo, x_hi,
             &x0, &x1, &fx);
    for (int k = 0; k < 2; k++) {
      int idx;
      float weight;
      class_tap(x0 >> wsub[k], x1 >> wsub[k], fx, n_samples[k], &idx,
                &weight);
      p->off[k][i] = idx * pstride[k];
      p->fx[k][i] = weight;
    }
  }
  p->n_safe_vec = safe_vec_columns(p, finfo, w, n_cols);

  const int hsub_a = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 0);
  const int hsub_b = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, 1);
  for (int o = p->row_begin; o < p->row_end; o++) {
    RowTap *t = &p->rows[o];
    gint32 y0, y1;
    axis_tap(o, p->row_begin, p->row_end, sy0, sh, y_lo, y_hi, &y0, &y1,
             &t->fy);
    t->a0 = y0 >> hsub_a;
    t->a1 = y1 >> hsub_a;
    t->b0 = y0 >> hsub_b;
    t->b1 = y1 >> hsub_b;
  }
  p->row_fn = frame_convert_row_best();
  return p;
}

/* ---- the fused pass ---- */

static void
fill_border(const SinkResize *p, float *o, int n)
{
  for (int i = 0; i < n; i++) {
    o[3 * i + 0] = p->border[0];
    o[3 * i + 1] = p->border[1];
    o[3 * i + 2] = p->border[2];
  }
}

/* Asks for the source bytes output row oy will read, one row ahead: the
 * rows a downscale reads are several source rows apart, too far for the
 * hardware prefetcher to follow, and a camera's frame has just been written
 * by the decoder, usually on the other core, so each line would otherwise
 * be a full miss taken in series with the arithmetic. */
static void
prefetch_row(const SinkResize *p, const guint8 *const base[3], const gint stride[3],
             int oy)
{
  if (oy < p->row_begin || oy >= p->row_end || p->col_end <= p->col_begin)
    return;
  const RowTap *rt = &p->rows[oy];
  const int last = p->col_end - p->col_begin - 1;
  for (int c = 0; c < 3; c++) {
    const int k = c == 0 ? 0 : 1;
    gsize first = (gsize)p->off[k][0];
    gsize end = (gsize)p->off[k][last] + (gsize)p->ps[k] + 4;
    gsize r0 = (gsize)(c == 0 ? rt->a0 : rt->b0) * stride[c];
    gsize r1 = (gsize)(c == 0 ? rt->a1 : rt->b1) * stride[c];
    for (gsize b = first; b < end; b += 64) {
      __builtin_prefetch(base[c] + r0 + b);
      __builtin_prefetch(base[c] + r1 + b);
    }
  }
}

void
sink_resize_frame(const SinkResize *p, const GstVideoFrame *f, float *out)
{
  const guint8 *base[3];
  gint stride[3];
  for (int c = 0; c < 3; c++) {
    base[c] = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(f, p->plane[c]) +
              p->poffset[c];
    stride[c] = GST_VIDEO_FRAME_PLANE_STRIDE(f, p->plane[c]);
  }
  const int W = p->out_w;
  FrameConvertRow row = {
    .n = p->col_end - p->col_begin,
    .n_safe_vec = p->n_safe_vec,
    .off = { p->off[0], p->off[1] },
    .fx = { p->fx[0], p->fx[1] },
    .ps = { p->ps[0], p->ps[1] },
    .k = &p->k,
  };
  for (int oy = 0; oy < p->out_h; oy++) {
    float *o = out + (size_t)oy * W * 3;
    if (oy < p->row_begin || oy >= p->row_end) {
      fill_border(p, o, W);
      continue;
    }
    const RowTap *rt = &p->rows[oy];
    row.top[0] = base[0] + (gsize)rt->a0 * stride[0];
    row.bot[0] = base[0] + (gsize)rt->a1 * stride[0];
    for (int c = 1; c < 3; c++) {
      row.top[c] = base[c] + (gsize)rt->b0 * stride[c];
      row.bot[c] = base[c] + (gsize)rt->b1 * stride[c];
    }
    row.fy = rt->fy;
    row.out = o + 3 * p->col_begin;
    prefetch_row(p, base, stride, oy + 1);
    fill_border(p, o, p->col_begin);
    p->row_fn(&row);
    fill_border(p, o + 3 * p->col_end, W - p->col_end);
  }
}
