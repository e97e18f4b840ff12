/* streamsight — still-image decoding with GStreamer (JPEG incl. progressive
 * and grayscale, PNG, BMP) to packed RGB8, without colour management or EXIF
 * rotation (the convention of the TFLite reference outputs).
 *
 * Thread-safe: each call builds its own short pipeline. gst_init() must have
 * been called.
 */
#ifndef SS_IMAGE_DECODE_H
#define SS_IMAGE_DECODE_H

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define IMAGE_DECODE_ERROR (image_decode_error_quark())
GQuark image_decode_error_quark(void);

typedef enum {
  IMAGE_DECODE_ERROR_IO,       /* file could not be read */
  IMAGE_DECODE_ERROR_FORMAT,   /* not an image, or corrupt */
  IMAGE_DECODE_ERROR_TOO_LARGE, /* exceeds the pixel or byte limit */
  IMAGE_DECODE_ERROR_MISSING_PLUGIN /* a GStreamer element is not installed */
} ImageDecodeError;

/* Limits: files up to 64 MiB; images up to 16384 pixels a side and 100
 * million pixels (checked on the header before decoding). */

/* Decoded image: width x height RGB8, rows of `stride` bytes. */
typedef struct {
  int width;
  int height;
  gsize stride;
  guint8 *pixels; /* owned; g_free */
} RgbImage;

/* Decodes a file. On success fills *out (free with rgb_image_clear); *out
 * is untouched on failure. A missing or unreadable file gives
 * IMAGE_DECODE_ERROR_IO; an empty, truncated, corrupt or non-image file
 * IMAGE_DECODE_ERROR_FORMAT; messages start with the path. */
gboolean image_decode_file(const char *path, RgbImage *out, GError **error);
/* Decodes an in-memory encoded image (data is borrowed). */
gboolean image_decode_buffer(const guint8 *data, gsize size, RgbImage *out,
                             GError **error);
void rgb_image_clear(RgbImage *img);

G_END_DECLS

#endif
