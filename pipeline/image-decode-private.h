/* streamsight — what image-decode.c shares with its per-format decoders
 * (image-jpeg.c, image-png.c, image-bmp.c). Not for other callers.
 *
 * Each format has a probe (header only, fills ImageDecodeInfo, allocates
 * nothing large) and a decode; image-decode.c calls the probe, checks the
 * size and memory limits, then the decode, which allocates the output only
 * after its own header checks.
 */
#ifndef SS_IMAGE_DECODE_PRIVATE_H
#define SS_IMAGE_DECODE_PRIVATE_H

#include "image-decode.h"

G_BEGIN_DECLS

/* Sets error (IMAGE_DECODE_ERROR, code) and returns FALSE. */
gboolean image_decode_fail(GError **error, ImageDecodeError code,
                           const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* TOO_LARGE unless w x h is within IMAGE_DECODE_MAX_SIDE/_PIXELS. */
gboolean image_decode_check_size(guint64 w, guint64 h, GError **error);

/* Allocates img as w x h RGB8 (stride w * 3), zero-filled. */
void image_decode_alloc(RgbImage *img, int w, int h);

/* opts: every field set (no 0 defaults left). */
gboolean image_jpeg_probe(const guint8 *d, gsize n,
                          const ImageDecodeOptions *opts,
                          ImageDecodeInfo *info, GError **error);
gboolean image_jpeg_decode(const guint8 *d, gsize n,
                           const ImageDecodeOptions *opts, RgbImage *out,
                           GError **error);

gboolean image_png_probe(const guint8 *d, gsize n, ImageDecodeInfo *info,
                         GError **error);
gboolean image_png_decode(const guint8 *d, gsize n, RgbImage *out,
                          GError **error);

gboolean image_bmp_probe(const guint8 *d, gsize n, ImageDecodeInfo *info,
                         GError **error);
gboolean image_bmp_decode(const guint8 *d, gsize n, RgbImage *out,
                          GError **error);

G_END_DECLS

#endif
