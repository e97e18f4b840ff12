/* streamsight — still-image decoding (JPEG with libjpeg-turbo, PNG with
 * libspng, BMP with a small reader of our own) to packed RGB8, without
 * colour management or EXIF rotation (the convention of the TFLite
 * reference outputs: libjpeg's defaults, what TensorFlow and PIL decode).
 *
 * Every input is treated as hostile: sizes are checked on the header before
 * anything is allocated, the memory a decode will need is estimated from
 * the header and refused over a limit, and a JPEG with too many scans or
 * that takes too much CPU is abandoned.
 *
 * Thread-safe: no shared state; any thread may decode at any time.
 */
#ifndef SS_IMAGE_DECODE_H
#define SS_IMAGE_DECODE_H

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define IMAGE_DECODE_ERROR (image_decode_error_quark())
GQuark image_decode_error_quark(void);

typedef enum {
  IMAGE_DECODE_ERROR_IO,          /* file could not be read */
  IMAGE_DECODE_ERROR_FORMAT,      /* not an image, or corrupt, or truncated */
  IMAGE_DECODE_ERROR_TOO_LARGE,   /* over a limit: bytes, pixels, memory,
                                   * JPEG scans or decode CPU time */
  IMAGE_DECODE_ERROR_UNSUPPORTED, /* a valid file of a kind not decoded:
                                   * 12-bit or lossless JPEG, GIF, RLE24... */
} ImageDecodeError;

/* Limits, checked on the header before decoding. */
#define IMAGE_DECODE_MAX_FILE_BYTES ((gsize)64 * 1024 * 1024)
#define IMAGE_DECODE_MAX_SIDE 16384
#define IMAGE_DECODE_MAX_PIXELS ((guint64)100 * 1000 * 1000)
/* A JPEG with more scans than this is refused: a "scan bomb" of thousands
 * of empty scans costs one pass over every block each. Real encoders write
 * 3..20 (jpeg_simple_progression 10 for YCbCr, 18 for CMYK). Large images
 * get fewer: IMAGE_DECODE_MAX_SCAN_BLOCKS / their 8x8 blocks, but never
 * below IMAGE_DECODE_MIN_SCAN_LIMIT, so that 100 scans of a 4096 x 4096
 * grey image or 32 of a 100 Mpx one are the most one upload can cost. */
#define IMAGE_DECODE_MAX_SCANS 100
#define IMAGE_DECODE_MIN_SCAN_LIMIT 32
#define IMAGE_DECODE_MAX_SCAN_BLOCKS ((guint64)100 * 512 * 512)
/* CPU time one JPEG decode may take (checked by libjpeg's progress
 * monitor; the largest allowed baseline image decodes in about 1 s). */
#define IMAGE_DECODE_MAX_CPU_MS 5000
/* Memory one decode may use when the caller sets no other limit: the
 * largest output (100 Mpx, 300 MB) plus a progressive JPEG's coefficients. */
#define IMAGE_DECODE_DEFAULT_MAX_MEMORY ((guint64)1024 * 1024 * 1024)
/* JPEG DCT scaling (1/2, 1/4, 1/8) is used only when the scaled image's
 * shorter side stays at least this many times the target side: 3584 px
 * for a 224 input before halving, so the 200 dev images (shorter side at
 * most 1024) are never scaled for any model input (128..224). */
#define IMAGE_DECODE_SCALE_MIN_RATIO 8

typedef enum {
  IMAGE_FORMAT_JPEG,
  IMAGE_FORMAT_PNG,
  IMAGE_FORMAT_BMP,
} ImageFormat;

typedef struct {
  /* The side of the model input the image is for (0: decode full size).
   * JPEGs far larger are DCT-scaled, see IMAGE_DECODE_SCALE_MIN_RATIO. */
  int target_side;
  /* Peak memory one decode may need (0: IMAGE_DECODE_DEFAULT_MAX_MEMORY). */
  guint64 max_memory_bytes;
  /* Thread CPU time one JPEG decode may take (0: IMAGE_DECODE_MAX_CPU_MS). */
  int max_cpu_ms;
} ImageDecodeOptions;

/* What the header says, and what decoding it would cost. */
typedef struct {
  ImageFormat format;
  int width, height;         /* as stored */
  int out_width, out_height; /* as decoded (after DCT scaling) */
  guint64 memory_bytes;      /* estimated peak, the output image included */
} ImageDecodeInfo;

/* Decoded image: width x height RGB8, rows of `stride` bytes. */
typedef struct {
  int width;
  int height;
  gsize stride;
  guint8 *pixels; /* owned; g_free */
} RgbImage;

/* Reads the header of an in-memory image (data borrowed) and fills *info
 * without decoding it or allocating anything large. Fails with FORMAT,
 * UNSUPPORTED or TOO_LARGE (sides, pixels, or memory over opts' limit) as
 * the decode itself would. opts may be NULL. */
gboolean image_decode_probe(const guint8 *data, gsize size,
                            const ImageDecodeOptions *opts,
                            ImageDecodeInfo *info, GError **error);

/* Decodes an in-memory encoded image (data borrowed). On success fills
 * *out (free with rgb_image_clear); *out is untouched on failure. opts may
 * be NULL (full size, default memory limit). */
gboolean image_decode_buffer_opts(const guint8 *data, gsize size,
                                  const ImageDecodeOptions *opts,
                                  RgbImage *out, GError **error);
gboolean image_decode_buffer(const guint8 *data, gsize size, RgbImage *out,
                             GError **error);

/* Decodes a file. A missing or unreadable file gives IMAGE_DECODE_ERROR_IO;
 * other errors are those of image_decode_buffer; messages start with the
 * path. */
gboolean image_decode_file_opts(const char *path,
                                const ImageDecodeOptions *opts, RgbImage *out,
                                GError **error);
gboolean image_decode_file(const char *path, RgbImage *out, GError **error);

void rgb_image_clear(RgbImage *img);

G_END_DECLS

#endif
