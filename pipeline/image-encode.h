/* streamsight — encoding a decoded image (RgbImage, image-decode.h) as a
 * JPEG with libjpeg-turbo: the cropped examples a head is taught from
 * (server/head-store.c) are kept this way. */
#ifndef SS_IMAGE_ENCODE_H
#define SS_IMAGE_ENCODE_H

#include <glib.h>

#include "image-decode.h"

G_BEGIN_DECLS

/* Quality of kept examples: 90 keeps the features of a re-decoded
 * example within a few thousandths of the original's (cosine > 0.99). */
#define IMAGE_ENCODE_DEFAULT_QUALITY 90

/* Encodes img (any stride, e.g. a stream_roi_image_view) as a baseline
 * 4:2:0 JPEG of quality 1..100. On success *out is a g_malloc'd buffer
 * (g_free) of *len bytes. Fails (IMAGE_DECODE_ERROR_FORMAT) for an empty
 * image or an error of the library. Any thread. */
gboolean image_encode_jpeg(const RgbImage *img, int quality, guint8 **out,
                           gsize *len, GError **error);

G_END_DECLS

#endif
