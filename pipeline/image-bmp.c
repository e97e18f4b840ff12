/* streamsight — a small bounds-checked BMP reader.
 *
 * Reads what cameras, Windows and PIL write: the core (12-byte) and the
 * info headers (40, 52, 56, 108 and 124 bytes); uncompressed 1, 4, 8
 * (palette), 16 (5-5-5), 24 and 32-bit pixels; BI_BITFIELDS and
 * BI_ALPHABITFIELDS with 16 or 32 bits; RLE8 and RLE4; bottom-up and
 * top-down rows. Alpha is dropped. Everything else (embedded JPEG/PNG,
 * OS/2 2.x headers, Huffman and RLE24) is IMAGE_DECODE_ERROR_UNSUPPORTED.
 *
 * The only allocation is the output (w x h x 3, within the pixel limit,
 * checked before): uncompressed data must be present in full before it is
 * allocated, and every RLE run, delta and absolute block is clipped to the
 * image, so a 120-byte RLE "bomb" costs its output and nothing more.
 * Pixels an RLE stream skips (deltas, early end of line or bitmap) are
 * palette entry 0, as PIL leaves them.
 */
#include "image-decode-private.h"

#include <string.h>

enum {
  BMP_RGB = 0,
  BMP_RLE8 = 1,
  BMP_RLE4 = 2,
  BMP_BITFIELDS = 3,
  BMP_ALPHABITFIELDS = 6,
};

typedef struct {
  guint32 data_off;
  int width, height;
  gboolean top_down;
  int bpp;
  guint32 compression;
  guint32 mask[3]; /* R, G, B for 16/32-bit pixels */
  guint8 palette[256][3];
  int palette_n;
} BmpHeader;

static guint16
rd16le(const guint8 *p)
{
  return (guint16)(p[0] | p[1] << 8);
}

static guint32
rd32le(const guint8 *p)
{
  return (guint32)p[3] << 24 | (guint32)p[2] << 16 | (guint32)p[1] << 8 |
         p[0];
}

static gboolean
bmp_corrupt(GError **error, const char *what)
{
  return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT, "corrupt BMP: %s",
                           what);
}

/* What the headers say before the pixel format is checked: the size as
 * stored (a negative height is top-down) and where the palette lies. Kept
 * out of BmpHeader, whose size counts in image_bmp_probe's memory figure. */
typedef struct {
  gint64 width, height;
  gsize pal_off;   /* the palette's offset in the file */
  gsize pal_entry; /* bytes per palette entry: 3 (core header) or 4 */
  guint32 colors_used;
} BmpLayout;

/* The file header and the core or info header: h's bits a pixel,
 * compression, data offset and colour masks, and *l. */
static gboolean
bmp_read_headers(const guint8 *d, gsize n, BmpHeader *h, BmpLayout *l,
                 GError **error)
{
  if (n < 2 || d[0] != 'B' || d[1] != 'M')
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "not a BMP file (no 'BM' signature)");
  if (n < 14 + 12)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "truncated BMP: %" G_GSIZE_FORMAT
                             " bytes, shorter than its headers",
                             n);
  h->data_off = rd32le(d + 10);
  guint32 hsize = rd32le(d + 14);
  l->colors_used = 0;
  if (hsize == 12) { /* BITMAPCOREHEADER */
    l->width = rd16le(d + 18);
    l->height = rd16le(d + 20);
    h->bpp = rd16le(d + 24);
    h->compression = BMP_RGB;
    l->pal_entry = 3;
    l->pal_off = 14 + 12;
    return TRUE;
  }
  if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 &&
      hsize != 124)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_UNSUPPORTED,
                             "unsupported BMP: header of %u bytes (12, 40, "
                             "52, 56, 108 and 124 are read)",
                             hsize);
  if (n < 14 + (gsize)hsize)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "truncated BMP: the %u-byte header is cut",
                             hsize);
  l->width = (gint32)rd32le(d + 18);
  l->height = (gint32)rd32le(d + 22);
  h->bpp = rd16le(d + 28);
  h->compression = rd32le(d + 30);
  l->colors_used = rd32le(d + 46);
  l->pal_entry = 4;
  l->pal_off = 14 + hsize;
  if (h->compression == BMP_BITFIELDS ||
      h->compression == BMP_ALPHABITFIELDS) {
    gsize moff = 14 + 40;
    if (hsize == 40) /* the masks follow the header */
      l->pal_off += h->compression == BMP_BITFIELDS ? 12 : 16;
    if (n < moff + 12)
      return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                               "truncated BMP: colour masks are cut");
    for (int c = 0; c < 3; c++)
      h->mask[c] = rd32le(d + moff + 4 * c);
  }
  return TRUE;
}

/* h's width, height and row order from the stored size, within the
 * decoder's pixel limit. */
static gboolean
bmp_set_size(BmpHeader *h, const BmpLayout *l, GError **error)
{
  gint64 w = l->width, hh = l->height;
  if (hh < 0) {
    h->top_down = TRUE;
    hh = -hh;
  }
  if (w <= 0 || hh <= 0)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "corrupt BMP: size %" G_GINT64_FORMAT
                             "x%" G_GINT64_FORMAT,
                             w, hh);
  if (!image_decode_check_size((guint64)w, (guint64)hh, error))
    return FALSE;
  h->width = (int)w;
  h->height = (int)hh;
  return TRUE;
}

/* Accepts the pixel formats the readers below handle, and fills in the
 * implied masks of uncompressed 16 and 32-bit pixels. */
static gboolean
bmp_check_format(BmpHeader *h, GError **error)
{
  switch (h->compression) {
  case BMP_RGB:
    if (h->bpp != 1 && h->bpp != 4 && h->bpp != 8 && h->bpp != 16 &&
        h->bpp != 24 && h->bpp != 32)
      return image_decode_fail(error, IMAGE_DECODE_ERROR_UNSUPPORTED,
                               "unsupported BMP: %d bits a pixel", h->bpp);
    if (h->bpp == 16) {
      h->mask[0] = 0x7C00;
      h->mask[1] = 0x03E0;
      h->mask[2] = 0x001F;
    } else if (h->bpp == 32) {
      h->mask[0] = 0xFF0000;
      h->mask[1] = 0xFF00;
      h->mask[2] = 0xFF;
    }
    return TRUE;
  case BMP_RLE8:
  case BMP_RLE4:
    if (h->bpp != (h->compression == BMP_RLE8 ? 8 : 4))
      return bmp_corrupt(error, "RLE with the wrong bits a pixel");
    if (h->top_down)
      return bmp_corrupt(error, "RLE with top-down rows");
    return TRUE;
  case BMP_BITFIELDS:
  case BMP_ALPHABITFIELDS:
    if (h->bpp != 16 && h->bpp != 32)
      return image_decode_fail(error, IMAGE_DECODE_ERROR_UNSUPPORTED,
                               "unsupported BMP: bit fields with %d bits a "
                               "pixel",
                               h->bpp);
    if (h->bpp == 16)
      for (int c = 0; c < 3; c++)
        h->mask[c] &= 0xFFFF;
    return TRUE;
  default:
    return image_decode_fail(error, IMAGE_DECODE_ERROR_UNSUPPORTED,
                             "unsupported BMP: compression %u (uncompressed, "
                             "RLE8, RLE4 and bit fields are read)",
                             h->compression);
  }
}

/* Checks the pixel data offset against the headers and the file, and
 * copies the palette (1 to 8 bits a pixel) that lies between them. */
static gboolean
bmp_read_palette(const guint8 *d, gsize n, BmpHeader *h, const BmpLayout *l,
                 GError **error)
{
  if (h->data_off < l->pal_off || h->data_off > n)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "corrupt BMP: pixel data offset %u outside "
                             "%" G_GSIZE_FORMAT "..%" G_GSIZE_FORMAT,
                             h->data_off, l->pal_off, n);
  if (h->bpp > 8)
    return TRUE;
  guint64 want = l->colors_used ? l->colors_used : 1u << h->bpp;
  want = MIN(want, 256u);
  /* Writers often claim more colours than they store before the data. */
  want = MIN(want, (h->data_off - l->pal_off) / l->pal_entry);
  if (want == 0)
    return bmp_corrupt(error, "no palette");
  h->palette_n = (int)want;
  for (int i = 0; i < h->palette_n; i++) {
    const guint8 *p = d + l->pal_off + (gsize)i * l->pal_entry;
    h->palette[i][0] = p[2];
    h->palette[i][1] = p[1];
    h->palette[i][2] = p[0];
  }
  return TRUE;
}

/* Uncompressed pixels must all be present before the output is allocated
 * (RLE is clipped as it is read instead). */
static gboolean
bmp_check_pixels_present(gsize n, const BmpHeader *h, GError **error)
{
  if (h->compression != BMP_RGB && h->compression != BMP_BITFIELDS &&
      h->compression != BMP_ALPHABITFIELDS)
    return TRUE;
  guint64 row = ((guint64)h->width * (guint64)h->bpp + 31) / 32 * 4;
  guint64 need = row * (guint64)h->height;
  if (need > n - h->data_off)
    return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                             "truncated BMP: the pixels need %"
                             G_GUINT64_FORMAT " bytes, %" G_GSIZE_FORMAT
                             " are present",
                             need, n - h->data_off);
  return TRUE;
}

/* Reads and checks everything but the pixels, in the order a reader meets
 * them, so that each refusal names the first thing wrong. */
static gboolean
bmp_parse(const guint8 *d, gsize n, BmpHeader *h, GError **error)
{
  /* Read only once bmp_read_headers has filled it; zeroed because GCC
   * cannot see that through the && chain. */
  BmpLayout l = { 0 };
  memset(h, 0, sizeof *h);
  return bmp_read_headers(d, n, h, &l, error) &&
         bmp_set_size(h, &l, error) && bmp_check_format(h, error) &&
         bmp_read_palette(d, n, h, &l, error) &&
         bmp_check_pixels_present(n, h, error);
}

gboolean
image_bmp_probe(const guint8 *d, gsize n, ImageDecodeInfo *info,
                GError **error)
{
  BmpHeader h;
  if (!bmp_parse(d, n, &h, error))
    return FALSE;
  info->format = IMAGE_FORMAT_BMP;
  info->width = info->out_width = h.width;
  info->height = info->out_height = h.height;
  info->memory_bytes = (guint64)h.width * h.height * 3 + sizeof h;
  return TRUE;
}

/* One channel of a bit-field pixel scaled to 0..255 (truncating, as PIL's
 * BGR;15 and ffmpeg's bit-field readers do). */
static guint8
bmp_field(guint32 px, guint32 mask)
{
  if (!mask)
    return 0;
  int shift = __builtin_ctz(mask);
  guint64 max = mask >> shift;
  guint64 v = (px & mask) >> shift;
  return (guint8)(v * 255 / max);
}

static void
bmp_put_index(const BmpHeader *h, guint8 *o, unsigned idx)
{
  if ((int)idx < h->palette_n)
    memcpy(o, h->palette[idx], 3);
  else
    memset(o, 0, 3); /* an index past the palette: black */
}

static void
bmp_read_uncompressed(const guint8 *d, const BmpHeader *h, RgbImage *img)
{
  gsize row_bytes = ((gsize)h->width * (gsize)h->bpp + 31) / 32 * 4;
  for (int y = 0; y < h->height; y++) {
    const guint8 *s = d + h->data_off + (gsize)y * row_bytes;
    int oy = h->top_down ? y : h->height - 1 - y;
    guint8 *o = img->pixels + (gsize)oy * img->stride;
    for (int x = 0; x < h->width; x++, o += 3) {
      switch (h->bpp) {
      case 1: bmp_put_index(h, o, (s[x >> 3] >> (7 - (x & 7))) & 1); break;
      case 4: bmp_put_index(h, o, (s[x >> 1] >> ((x & 1) ? 0 : 4)) & 15);
        break;
      case 8: bmp_put_index(h, o, s[x]); break;
      case 24:
        o[0] = s[3 * x + 2];
        o[1] = s[3 * x + 1];
        o[2] = s[3 * x];
        break;
      case 16:
      case 32: {
        guint32 px = h->bpp == 16 ? rd16le(s + 2 * x) : rd32le(s + 4 * x);
        for (int c = 0; c < 3; c++)
          o[c] = bmp_field(px, h->mask[c]);
        break;
      }
      }
    }
  }
}

/* Writes palette index idx at (x, y) counted from the bottom row, if that
 * is inside the image. */
static void
rle_put(const BmpHeader *h, RgbImage *img, gint64 x, gint64 y, unsigned idx)
{
  if (x < 0 || x >= h->width || y < 0 || y >= h->height)
    return;
  bmp_put_index(h, img->pixels + (gsize)(h->height - 1 - y) * img->stride +
                       (gsize)x * 3,
                idx);
}

static gboolean
bmp_read_rle(const guint8 *d, gsize n, const BmpHeader *h, RgbImage *img,
             GError **error)
{
  const gboolean rle4 = h->compression == BMP_RLE4;
  for (int y = 0; y < h->height; y++)
    for (int x = 0; x < h->width; x++)
      bmp_put_index(h, img->pixels + (gsize)y * img->stride + (gsize)x * 3, 0);
  gsize i = h->data_off;
  gint64 x = 0, y = 0; /* y from the bottom */
  while (y < h->height) {
    if (i + 2 > n)
      return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                               "truncated BMP: the RLE data ends before the "
                               "end-of-bitmap code");
    guint8 count = d[i], val = d[i + 1];
    i += 2;
    if (count > 0) { /* a run */
      for (int k = 0; k < count && x < h->width; k++, x++)
        rle_put(h, img, x, y,
                rle4 ? ((k & 1) ? val & 15 : val >> 4) : val);
      continue;
    }
    if (val == 0) { /* end of line */
      x = 0;
      y++;
    } else if (val == 1) { /* end of bitmap */
      return TRUE;
    } else if (val == 2) { /* delta */
      if (i + 2 > n)
        return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                                 "truncated BMP: an RLE delta is cut");
      x += d[i];
      y += d[i + 1];
      i += 2;
    } else { /* absolute block of val pixels, padded to 16 bits */
      gsize bytes = rle4 ? ((gsize)val + 1) / 2 : val;
      gsize padded = (bytes + 1) & ~(gsize)1;
      if (padded > n - i)
        return image_decode_fail(error, IMAGE_DECODE_ERROR_FORMAT,
                                 "truncated BMP: an RLE block is cut");
      for (int k = 0; k < val; k++, x++) {
        if (x >= h->width)
          break;
        guint8 b = d[i + (rle4 ? (gsize)k / 2 : (gsize)k)];
        rle_put(h, img, x, y, rle4 ? ((k & 1) ? b & 15 : b >> 4) : b);
      }
      i += padded;
    }
  }
  return TRUE; /* every row written; the end code may be missing */
}

gboolean
image_bmp_decode(const guint8 *d, gsize n, RgbImage *out, GError **error)
{
  BmpHeader h;
  if (!bmp_parse(d, n, &h, error))
    return FALSE;
  RgbImage img;
  image_decode_alloc(&img, h.width, h.height);
  if (h.compression == BMP_RLE8 || h.compression == BMP_RLE4) {
    if (!bmp_read_rle(d, n, &h, &img, error)) {
      rgb_image_clear(&img);
      return FALSE;
    }
  } else {
    bmp_read_uncompressed(d, &h, &img);
  }
  *out = img;
  return TRUE;
}
