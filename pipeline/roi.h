/* streamsight — a region of interest: the part of a frame (or of an
 * uploaded image) that a stream's model looks at, in fractions of the
 * frame's width and height so that it survives a change of camera
 * resolution.
 *
 * Plain data. The default is the whole frame {0, 0, 1, 1}. Valid: x, y >= 0,
 * w, h > 0, x + w <= 1, y + h <= 1 (all finite).
 */
#ifndef SS_ROI_H
#define SS_ROI_H

#include <glib.h>

#include "image-decode.h"

G_BEGIN_DECLS

typedef struct {
  double x, y, w, h;
} StreamRoi;

#define STREAM_ROI_FULL ((StreamRoi){ 0.0, 0.0, 1.0, 1.0 })

gboolean stream_roi_is_full(const StreamRoi *r);

/* Checks the ranges above. Errors are STREAM_CONFIG_ERROR_INVALID with a
 * message naming the field: "<field>.w: must be > 0 and <= 1 - x (0.6),
 * got 0.5" (field e.g. "roi"). */
gboolean stream_roi_validate(const StreamRoi *r, const char *field,
                             GError **error);

/* Parses "x,y,w,h" (four decimal numbers, e.g. a query parameter) and
 * validates it; errors as stream_roi_validate, or "<field>: expected
 * x,y,w,h ...". Writes *out only on success. */
gboolean stream_roi_parse(const char *s, const char *field, StreamRoi *out,
                          GError **error);

/* The ROI in whole pixels of a width x height image: edges rounded to the
 * nearest pixel boundary, at least one pixel each way, inside the image. */
void stream_roi_to_pixels(const StreamRoi *r, int width, int height, int *x0,
                          int *y0, int *w, int *h);

/* A view of the ROI of img (no copy: pixels points into img's rows, stride
 * is img's); valid while img is. */
RgbImage stream_roi_image_view(const StreamRoi *r, const RgbImage *img);

/* The side to DCT-scale a JPEG towards (ImageDecodeOptions.target_side)
 * so that its ROI (NULL: the whole image) keeps about model_side pixels:
 * model_side / min(w, h), at most STREAM_ROI_MAX_ZOOM x model_side. */
#define STREAM_ROI_MAX_ZOOM 8
int stream_roi_decode_side(const StreamRoi *r, int model_side);

G_END_DECLS

#endif
