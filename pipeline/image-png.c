/* streamsight — PNG decoding with libspng.
 *
 * Every colour type and bit depth, interlaced or not, to RGB8 as PIL's
 * convert("RGB") gives it: 16-bit samples keep their high byte (libpng's
 * strip_16), palettes are looked up, grey is replicated, alpha and tRNS are
 * dropped (not composited), no gamma or colour management.
 *
 * Rows are decoded one at a time straight into the RGB output (libspng's
 * progressive decode, which de-interlaces into the row it is given), so
 * the peak is the output plus a few rows: no full 16-bit RGBA copy.
 * libspng's own limits (image size, chunk size, ancillary chunk cache) back
 * up the header checks.
 */
#include "image-decode-private.h"

#include <string.h>

#include <spng.h>

/* Ancillary chunks libspng keeps (text, ICC profiles...): we use none. */
#define PNG_CHUNK_CACHE_BYTES ((size_t)4 * 1024 * 1024)
/* libspng's row buffers (previous and current scanline, 16-bit RGBA at
 * worst) and zlib's window, per image. */
#define PNG_WORK_FIXED_BYTES ((guint64)512 * 1024)

static const guint8 png_signature[8] = { 0x89, 'P', 'N', 'G',
                                         '\r', '\n', 0x1A, '\n' };

static guint32
rd32be(const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 |
         p[3];
}

/* The IHDR's size, read by hand so that a too-large image is refused with
 * its size in the message (libspng only says "exceeds user limits"). */
static gboolean
png_header(const guint8 *d, gsize n, guint32 *w, guint32 *h, int *depth,
           GError **error)
{
  if (n < 8 || memcmp(d, png_signature, 8) != 0)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "not a PNG file (bad signature)");
  if (n < 8 + 8 + 13 || memcmp(d + 12, "IHDR", 4) != 0 ||
      rd32be(d + 8) != 13)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "corrupt PNG: no IHDR chunk");
  *w = rd32be(d + 16);
  *h = rd32be(d + 20);
  *depth = d[24];
  if (*w == 0 || *h == 0 || *w > 0x7FFFFFFF || *h > 0x7FFFFFFF)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "corrupt PNG: size %ux%u", *w, *h);
  if (!image_decode_check_size(*w, *h, error))
    return FALSE;
  /* Every chunk complete up to IEND (lengths only; libspng checks the
   * CRCs): a file cut anywhere is truncated, even in the last chunk, which
   * libspng would not read. */
  gsize i = 8;
  while (i + 12 <= n) {
    guint32 len = rd32be(d + i);
    if (len > 0x7FFFFFFF || (guint64)i + 12 + len > n)
      break;
    if (memcmp(d + i + 4, "IEND", 4) == 0)
      return TRUE;
    i += 12 + (gsize)len;
  }
  return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                           "truncated PNG: the chunk at offset %"
                           G_GSIZE_FORMAT " runs past the end of the data "
                           "(no IEND)",
                           i);
}

gboolean
image_png_probe(const guint8 *d, gsize n, ImageDecodeInfo *info,
                GError **error)
{
  guint32 w, h;
  int depth;
  if (!png_header(d, n, &w, &h, &depth, error))
    return FALSE;
  info->format = IMAGE_FORMAT_PNG;
  info->width = info->out_width = (int)w;
  info->height = info->out_height = (int)h;
  /* Output, and libspng's two scanlines of up to 8 bytes a pixel. */
  info->memory_bytes = (guint64)w * h * 3 + (guint64)w * 8 * 4 +
                       PNG_WORK_FIXED_BYTES;
  return TRUE;
}

static gboolean
spng_fail(GError **error, const char *what, int rc)
{
  if (rc == SPNG_IO_ERROR || rc == SPNG_EOF)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "truncated PNG: the data ends %s", what);
  if (rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT ||
      rc == SPNG_ECHUNK_LIMITS || rc == SPNG_EMEM)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_TOO_LARGE,
                             "PNG %s: %s", what, spng_strerror(rc));
  return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                           "corrupt PNG %s: %s", what, spng_strerror(rc));
}

gboolean
image_png_decode(const guint8 *d, gsize n, RgbImage *out, GError **error)
{
  guint32 w, h;
  int depth;
  if (!png_header(d, n, &w, &h, &depth, error))
    return FALSE;
  spng_ctx *ctx = spng_ctx_new(0);
  if (!ctx)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_TOO_LARGE,
                             "PNG: out of memory");
  RgbImage img = { 0 };
  gboolean ok = FALSE;
  int rc;
  /* Limits before the first read. Chunk data: at most the file itself. */
  spng_set_image_limits(ctx, IMAGE_DECODE_MAX_SIDE, IMAGE_DECODE_MAX_SIDE);
  spng_set_chunk_limits(ctx, MIN(n, (gsize)G_MAXUINT32),
                        PNG_CHUNK_CACHE_BYTES);
  if ((rc = spng_set_png_buffer(ctx, d, n)) != 0) {
    spng_fail(error, "buffer", rc);
    goto done;
  }
  struct spng_ihdr ihdr;
  if ((rc = spng_get_ihdr(ctx, &ihdr)) != 0) {
    spng_fail(error, "header", rc);
    goto done;
  }
  if (ihdr.width != w || ihdr.height != h) {
    image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                      "corrupt PNG: header read twice differs");
    goto done;
  }
  if ((rc = spng_decode_image(ctx, NULL, 0, SPNG_FMT_RGB8,
                              SPNG_DECODE_PROGRESSIVE)) != 0) {
    spng_fail(error, "before the image data", rc);
    goto done;
  }
  image_decode_alloc(&img, (int)w, (int)h);
  for (;;) {
    struct spng_row_info ri;
    if ((rc = spng_get_row_info(ctx, &ri)) != 0)
      break;
    if (ri.row_num >= h) {
      image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                        "corrupt PNG: row %u of %u", ri.row_num, h);
      goto done;
    }
    rc = spng_decode_row(ctx, img.pixels + (gsize)ri.row_num * img.stride,
                         img.stride);
    if (rc != 0)
      break;
  }
  if (rc != SPNG_EOI) {
    spng_fail(error, "in the image data", rc);
    goto done;
  }
  /* The chunks after the image, up to IEND: a file cut there is
   * truncated too. */
  if ((rc = spng_decode_chunks(ctx)) != 0 && rc != SPNG_EOI) {
    spng_fail(error, "after the image data", rc);
    goto done;
  }
  *out = img;
  memset(&img, 0, sizeof img);
  ok = TRUE;

done:
  rgb_image_clear(&img);
  spng_ctx_free(ctx);
  return ok;
}
