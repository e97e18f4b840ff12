/* streamsight — still-image decoding: the format is told by the file's
 * own signature, the header is probed and checked against the limits
 * (sides, pixels, estimated memory), then the format's decoder runs:
 * image-jpeg.c (libjpeg-turbo), image-png.c (libspng), image-bmp.c.
 */
#include "image-decode-private.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

G_DEFINE_QUARK(image-decode-error-quark, image_decode_error)

gboolean
image_decode_fail(GError **error, ImageDecodeError code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, IMAGE_DECODE_ERROR, code, msg);
  g_free(msg);
  return FALSE;
}

gboolean
image_decode_check_size(guint64 w, guint64 h, GError **error)
{
  if (w > IMAGE_DECODE_MAX_SIDE || h > IMAGE_DECODE_MAX_SIDE ||
      w * h > IMAGE_DECODE_MAX_PIXELS)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_TOO_LARGE,
                             "image is %" G_GUINT64_FORMAT "x%"
                             G_GUINT64_FORMAT ": the limit is %d pixels a "
                             "side and %" G_GUINT64_FORMAT " pixels in all",
                             w, h, IMAGE_DECODE_MAX_SIDE,
                             IMAGE_DECODE_MAX_PIXELS);
  return TRUE;
}

void
image_decode_alloc(RgbImage *img, int w, int h)
{
  g_assert(w > 0 && h > 0 &&
           (guint64)w * (guint64)h <= IMAGE_DECODE_MAX_PIXELS);
  img->width = w;
  img->height = h;
  img->stride = (gsize)w * 3;
  img->pixels = g_malloc0(img->stride * (gsize)h);
}

/* Formats recognised by their signature only to be refused by name. */
static const struct {
  const char *name;
  gsize offset;
  const char *magic;
  gsize len;
} other_formats[] = {
  { "GIF", 0, "GIF8", 4 },
  { "WebP", 8, "WEBP", 4 },
  { "TIFF", 0, "II*\0", 4 },
  { "TIFF", 0, "MM\0*", 4 },
  { "HEIF/AVIF", 4, "ftyp", 4 },
  { "JPEG 2000", 0, "\0\0\0\x0CjP  ", 8 },
  { "JPEG XL", 0, "\xFF\x0A", 2 },
  { "ICO", 0, "\0\0\1\0", 4 },
};

static gboolean
sniff(const guint8 *d, gsize n, ImageFormat *fmt, GError **error)
{
  if (n == 0)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "empty file: not an image");
  if (n >= 2 && d[0] == 0xFF && d[1] == 0xD8) {
    *fmt = IMAGE_FORMAT_JPEG;
    return TRUE;
  }
  if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1A\n", 8) == 0) {
    *fmt = IMAGE_FORMAT_PNG;
    return TRUE;
  }
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
    *fmt = IMAGE_FORMAT_BMP;
    return TRUE;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(other_formats); i++)
    if (n >= other_formats[i].offset + other_formats[i].len &&
        memcmp(d + other_formats[i].offset, other_formats[i].magic,
               other_formats[i].len) == 0)
      return image_decode_fail(error, IMAGE_DECODE_ERROR_UNSUPPORTED,
                               "unsupported image format: %s (JPEG, PNG "
                               "and BMP are decoded)",
                               other_formats[i].name);
  return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                           "not an image (unrecognised data; JPEG, PNG and "
                           "BMP are decoded)");
}

/* opts with its defaults filled in (opts may be NULL). */
static ImageDecodeOptions
resolve(const ImageDecodeOptions *opts)
{
  ImageDecodeOptions r = { 0 };
  if (opts)
    r = *opts;
  if (r.target_side < 0)
    r.target_side = 0;
  if (!r.max_memory_bytes)
    r.max_memory_bytes = IMAGE_DECODE_DEFAULT_MAX_MEMORY;
  if (r.max_cpu_ms <= 0)
    r.max_cpu_ms = IMAGE_DECODE_MAX_CPU_MS;
  return r;
}

gboolean
image_decode_probe(const guint8 *data, gsize size,
                   const ImageDecodeOptions *opts, ImageDecodeInfo *info,
                   GError **error)
{
  g_return_val_if_fail(info != NULL, FALSE);
  ImageFormat fmt = IMAGE_FORMAT_JPEG;
  if (!sniff(data, size, &fmt, error))
    return FALSE;
  if (size > IMAGE_DECODE_MAX_FILE_BYTES)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_TOO_LARGE,
                             "image data is %" G_GSIZE_FORMAT " bytes: the "
                             "limit is %" G_GSIZE_FORMAT,
                             size, IMAGE_DECODE_MAX_FILE_BYTES);
  const ImageDecodeOptions o = resolve(opts);
  ImageDecodeInfo i = { 0 };
  gboolean ok;
  switch (fmt) {
  case IMAGE_FORMAT_JPEG:
    ok = image_jpeg_probe(data, size, &o, &i, error);
    break;
  case IMAGE_FORMAT_PNG: ok = image_png_probe(data, size, &i, error); break;
  case IMAGE_FORMAT_BMP: ok = image_bmp_probe(data, size, &i, error); break;
  default: g_assert_not_reached();
  }
  if (!ok)
    return FALSE;
  guint64 limit = o.max_memory_bytes;
  if (i.memory_bytes > limit)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_TOO_LARGE,
                             "image %dx%d needs about %" G_GUINT64_FORMAT
                             " MB to decode: the limit is %" G_GUINT64_FORMAT
                             " MB",
                             i.width, i.height,
                             (i.memory_bytes + 1048575) >> 20, limit >> 20);
  *info = i;
  return TRUE;
}

gboolean
image_decode_buffer_opts(const guint8 *data, gsize size,
                         const ImageDecodeOptions *opts, RgbImage *out,
                         GError **error)
{
  g_return_val_if_fail(out != NULL, FALSE);
  ImageDecodeInfo info;
  if (!image_decode_probe(data, size, opts, &info, error))
    return FALSE;
  const ImageDecodeOptions o = resolve(opts);
  RgbImage img = { 0 };
  gboolean ok;
  switch (info.format) {
  case IMAGE_FORMAT_JPEG:
    ok = image_jpeg_decode(data, size, &o, &img, error);
    break;
  case IMAGE_FORMAT_PNG: ok = image_png_decode(data, size, &img, error); break;
  case IMAGE_FORMAT_BMP: ok = image_bmp_decode(data, size, &img, error); break;
  default: g_assert_not_reached();
  }
  if (!ok)
    return FALSE;
  g_assert(img.width == info.out_width && img.height == info.out_height);
  *out = img;
  return TRUE;
}

gboolean
image_decode_buffer(const guint8 *data, gsize size, RgbImage *out,
                    GError **error)
{
  return image_decode_buffer_opts(data, size, NULL, out, error);
}

gboolean
image_decode_file_opts(const char *path, const ImageDecodeOptions *opts,
                       RgbImage *out, GError **error)
{
  g_return_val_if_fail(path != NULL && out != NULL, FALSE);
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_IO, "%s: %s",
                path, g_strerror(e));
    return FALSE;
  }
  if (!S_ISREG(st.st_mode)) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_IO,
                "%s: not a regular file", path);
    return FALSE;
  }
  if ((guint64)st.st_size > IMAGE_DECODE_MAX_FILE_BYTES) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE,
                "%s: file is %" G_GUINT64_FORMAT " bytes: the limit is %"
                G_GSIZE_FORMAT,
                path, (guint64)st.st_size, IMAGE_DECODE_MAX_FILE_BYTES);
    return FALSE;
  }
  gchar *bytes = NULL;
  gsize size = 0;
  GError *ferr = NULL;
  if (!g_file_get_contents(path, &bytes, &size, &ferr)) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_IO, "%s",
                ferr->message);
    g_error_free(ferr);
    return FALSE;
  }
  GError *derr = NULL;
  gboolean ok = image_decode_buffer_opts((const guint8 *)bytes, size, opts,
                                         out, &derr);
  g_free(bytes);
  if (!ok)
    g_propagate_prefixed_error(error, derr, "%s: ", path);
  return ok;
}

gboolean
image_decode_file(const char *path, RgbImage *out, GError **error)
{
  return image_decode_file_opts(path, NULL, out, error);
}

void
rgb_image_clear(RgbImage *img)
{
  if (!img)
    return;
  g_free(img->pixels);
  memset(img, 0, sizeof *img);
}
