/* streamsight — a region of interest (pipeline/roi.h) in JSON:
 * {"x": 0.25, "y": 0.5, "w": 0.5, "h": 0.5}, fractions of the frame. Shared
 * by the config file, POST and PATCH /api/v1/streams and the answers. */
#ifndef SS_ROI_JSON_H
#define SS_ROI_JSON_H

#include <glib.h>
#include <jansson.h>

#include "roi.h"

G_BEGIN_DECLS

/* Parses v (an object with exactly the numbers x, y, w, h; null means the
 * whole frame) into *out, validated. Errors are JSON_UTIL_ERROR_INVALID
 * naming the field: "<prefix>roi.w: must be > 0 with x + w <= 1, got 0.6",
 * "<prefix>roi: expected an object {x, y, w, h} ...". */
gboolean roi_json_parse(json_t *v, const char *prefix, StreamRoi *out,
                        GError **error);

/* {"x", "y", "w", "h"} (new reference). */
json_t *roi_json_new(const StreamRoi *r);

G_END_DECLS

#endif
