/* streamsight — regions of interest (roi.h). */
#include "roi.h"

#include <math.h>
#include <stdlib.h>

#include "stream-config.h"

/* Slack on x + w <= 1: fractions written with a few decimals ("0.7,0.3")
 * sum to 1.0000000000000002 in binary. */
#define ROI_SUM_SLACK 1e-9

gboolean
stream_roi_is_full(const StreamRoi *r)
{
  return r->x == 0.0 && r->y == 0.0 && r->w == 1.0 && r->h == 1.0;
}

static gboolean
fail(GError **error, const char *field, const char *axis, const char *rule,
     double got)
{
  g_set_error(error, STREAM_CONFIG_ERROR, STREAM_CONFIG_ERROR_INVALID,
              "%s.%s: %s, got %g", field, axis, rule, got);
  return FALSE;
}

gboolean
stream_roi_validate(const StreamRoi *r, const char *field, GError **error)
{
  /* Written so that NaN fails every test. */
  if (!(r->x >= 0.0 && r->x < 1.0))
    return fail(error, field, "x", "must be >= 0 and < 1 (a fraction of the "
                "frame's width)", r->x);
  if (!(r->y >= 0.0 && r->y < 1.0))
    return fail(error, field, "y", "must be >= 0 and < 1 (a fraction of the "
                "frame's height)", r->y);
  if (!(r->w > 0.0 && r->x + r->w <= 1.0 + ROI_SUM_SLACK))
    return fail(error, field, "w", "must be > 0 with x + w <= 1", r->w);
  if (!(r->h > 0.0 && r->y + r->h <= 1.0 + ROI_SUM_SLACK))
    return fail(error, field, "h", "must be > 0 with y + h <= 1", r->h);
  return TRUE;
}

gboolean
stream_roi_parse(const char *s, const char *field, StreamRoi *out,
                 GError **error)
{
  double v[4];
  const char *p = s ? s : "";
  for (int i = 0; i < 4; i++) {
    char *end = NULL;
    /* g_ascii_strtod: a decimal point whatever the locale; no leading
     * space, no hex or inf/nan spellings of a fraction. */
    if (!g_ascii_isdigit(*p) && *p != '.' && *p != '-')
      goto syntax;
    v[i] = g_ascii_strtod(p, &end);
    if (end == p || !isfinite(v[i]))
      goto syntax;
    p = end;
    if (i < 3 && *p++ != ',')
      goto syntax;
  }
  if (*p)
    goto syntax;
  StreamRoi r = { v[0], v[1], v[2], v[3] };
  if (!stream_roi_validate(&r, field, error))
    return FALSE;
  *out = r;
  return TRUE;

syntax:
  g_set_error(error, STREAM_CONFIG_ERROR, STREAM_CONFIG_ERROR_INVALID,
              "%s: expected x,y,w,h (four fractions of the image, e.g. "
              "0.25,0.5,0.5,0.5)", field);
  return FALSE;
}

static int
edge(double f, int size)
{
  long v = lround(f * size);
  return (int)CLAMP(v, 0, size);
}

void
stream_roi_to_pixels(const StreamRoi *r, int width, int height, int *x0,
                     int *y0, int *w, int *h)
{
  int a = MIN(edge(r->x, width), width - 1);
  int b = MIN(edge(r->y, height), height - 1);
  int c = MAX(edge(r->x + r->w, width), a + 1);
  int d = MAX(edge(r->y + r->h, height), b + 1);
  *x0 = a;
  *y0 = b;
  *w = c - a;
  *h = d - b;
}

RgbImage
stream_roi_image_view(const StreamRoi *r, const RgbImage *img)
{
  int x0, y0, w, h;
  stream_roi_to_pixels(r, img->width, img->height, &x0, &y0, &w, &h);
  RgbImage v = *img;
  v.pixels = img->pixels + (gsize)y0 * img->stride + (gsize)x0 * 3;
  v.width = w;
  v.height = h;
  return v;
}

int
stream_roi_decode_side(const StreamRoi *r, int model_side)
{
  if (!r)
    return model_side;
  double f = MIN(r->w, r->h);
  if (!(f * STREAM_ROI_MAX_ZOOM >= 1.0))
    return model_side * STREAM_ROI_MAX_ZOOM;
  return (int)ceil(model_side / f);
}
