/* streamsight — still-image decoding with GStreamer.
 *
 * One short pipeline per call:
 *
 *   appsrc (the whole file as one buffer, caps from typefind)
 *     ! decoder ! videoconvert (passthrough unless the format is exotic)
 *     ! appsink (raw formats converted below)
 *
 * The decoder is chosen from the file's own header, not by decodebin, so
 * that the pixels are those libjpeg-turbo gives with its defaults (what
 * TensorFlow, PIL and browsers use, and what the TFLite reference outputs
 * were computed from):
 *
 * - JPEG 4:2:0 and grayscale: jpegdec with idct-method=islow (libjpeg's
 *   default; jpegdec's own default is ifast). jpegdec hands over the raw
 *   planes (I420 / GRAY8); the chroma upsampling ("fancy", triangular) and
 *   the YCbCr -> RGB conversion are done here with libjpeg's integer
 *   arithmetic, which makes the result bit-identical to libjpeg-turbo's RGB
 *   output. videoconvert would use other filters and rounding.
 * - Other JPEG samplings (4:4:4, 4:2:2...): jpegdec cannot output them
 *   without decimating the chroma to I420, so avdec_mjpeg (FFmpeg) decodes
 *   them to their native planes (Y444, Y42B); FFmpeg's IDCT differs from
 *   libjpeg's on about 2% of the samples by one level. Without gst-libav
 *   jpegdec is used anyway (colour edges are then softer).
 * - PNG: pngdec (alpha dropped, 16-bit reduced to the high byte as libpng's
 *   strip_16 and PIL do); 16-bit colour PNGs go to gdkpixbufdec instead
 *   (pngdec 1.22 shifts their samples). BMP: avdec_bmp.
 *
 * No colour management, no EXIF rotation. Limits are checked on the header
 * before decoding and again on the decoded caps.
 */
#include "image-decode.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/base/gsttypefindhelper.h>
#include <gst/gst.h>
#include <gst/video/video.h>

/* Limits (see image-decode.h). */
#define IMAGE_MAX_FILE_BYTES ((gsize)64 * 1024 * 1024)
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS ((guint64)100 * 1000 * 1000)
/* A decode that takes longer than this is abandoned (the largest allowed
 * image decodes in a few seconds). */
#define IMAGE_DECODE_TIMEOUT_NS (60 * GST_SECOND)
/* How often the bus is looked at while waiting for the sample. */
#define IMAGE_POLL_NS (20 * GST_MSECOND)

G_DEFINE_QUARK(image-decode-error-quark, image_decode_error)

/* ---- header probes --------------------------------------------------- */

typedef enum {
  IMAGE_KIND_JPEG,
  IMAGE_KIND_PNG,
  IMAGE_KIND_BMP,
} ImageKind;

typedef struct {
  ImageKind kind;
  guint32 width;
  guint32 height;
  /* JPEG only */
  int components;
  int h_samp[4], v_samp[4];
  int comp_id[4];
  gboolean saw_jfif;  /* APP0 "JFIF" */
  gboolean saw_adobe; /* APP14 "Adobe" */
  int adobe_transform;
  gboolean ycc;       /* 3 components in YCbCr (as libjpeg decides) */
  /* PNG only */
  int png_depth, png_color_type;
} ImageHeader;

static guint16
rd16be(const guint8 *p)
{
  return (guint16)(p[0] << 8 | p[1]);
}

static guint32
rd32be(const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 |
         p[3];
}

static guint32
rd32le(const guint8 *p)
{
  return (guint32)p[3] << 24 | (guint32)p[2] << 16 | (guint32)p[1] << 8 |
         p[0];
}

static gboolean
format_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
format_error(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_FORMAT,
                      msg);
  g_free(msg);
  return FALSE;
}

/* Iterates over the JPEG marker segments before the first scan. *pos is the
 * offset after SOI; on return, *marker is the marker, and the payload (after
 * the two length bytes) is at *payload with *payload_len bytes; *pos moves
 * past the segment. Returns 1 for a segment, 0 at SOS (*pos then points at
 * the scan data), -1 with error set for truncated or corrupt data. */
static int
jpeg_next_segment(const guint8 *d, gsize n, gsize *pos, guint8 *marker,
                  gsize *payload, gsize *payload_len, GError **error)
{
  gsize i = *pos;
  for (;;) {
    while (i < n && d[i] != 0xFF)
      i++; /* tolerate garbage between segments, as libjpeg does */
    while (i < n && d[i] == 0xFF)
      i++;
    if (i >= n) {
      format_error(error, "truncated JPEG: no image data");
      return -1;
    }
    guint8 m = d[i++];
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
      continue; /* standalone markers */
    if (m == 0xD9) {
      format_error(error, "corrupt JPEG: end of image before any image data");
      return -1;
    }
    if (i + 2 > n) {
      format_error(error, "truncated JPEG: marker 0x%02X at offset %"
                          G_GSIZE_FORMAT " has no length",
                   m, i - 1);
      return -1;
    }
    gsize len = rd16be(d + i);
    if (len < 2 || i + len > n) {
      format_error(error, "truncated JPEG: segment 0x%02X at offset %"
                          G_GSIZE_FORMAT " needs %" G_GSIZE_FORMAT
                          " bytes, %" G_GSIZE_FORMAT " left",
                   m, i - 1, len, n - i);
      return -1;
    }
    *marker = m;
    *payload = i + 2;
    *payload_len = len - 2;
    *pos = i + len;
    return m == 0xDA ? 0 : 1;
  }
}

static gboolean
is_app_segment(const guint8 *d, gsize off, gsize len, guint8 marker,
               guint8 want_marker, const char *ident, gsize ident_len)
{
  return marker == want_marker && len >= ident_len &&
         memcmp(d + off, ident, ident_len) == 0;
}

/* Reads the frame header and the markers that decide the colour space, up
 * to the first scan, then checks that an end-of-image marker follows
 * (entropy-coded data never contains 0xFF 0xD9: 0xFF is stuffed as
 * 0xFF 0x00). */
static gboolean
probe_jpeg(const guint8 *d, gsize n, ImageHeader *h, GError **error)
{
  gboolean have_sof = FALSE;
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8)
    return format_error(error, "not a JPEG file (no start-of-image marker)");
  gsize pos = 2, off, len;
  guint8 m;
  int r;
  while ((r = jpeg_next_segment(d, n, &pos, &m, &off, &len, error)) > 0) {
    const guint8 *seg = d + off;
    if (is_app_segment(d, off, len, m, 0xE0, "JFIF", 5))
      h->saw_jfif = TRUE;
    if (is_app_segment(d, off, len, m, 0xEE, "Adobe", 5) && len >= 12) {
      h->saw_adobe = TRUE;
      h->adobe_transform = seg[11];
    }
    gboolean is_sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 &&
                      m != 0xCC;
    if (!is_sof)
      continue;
    if (len < 6)
      return format_error(error, "corrupt JPEG: short frame header");
    h->height = rd16be(seg + 1);
    h->width = rd16be(seg + 3);
    h->components = seg[5];
    if (h->components < 1 || h->components > 4 ||
        len < 6 + 3 * (gsize)h->components)
      return format_error(error, "corrupt JPEG: frame header with %d "
                                 "components",
                          h->components);
    for (int c = 0; c < h->components; c++) {
      h->comp_id[c] = seg[6 + 3 * c];
      h->h_samp[c] = seg[6 + 3 * c + 1] >> 4;
      h->v_samp[c] = seg[6 + 3 * c + 1] & 15;
      if (h->h_samp[c] < 1 || h->h_samp[c] > 4 || h->v_samp[c] < 1 ||
          h->v_samp[c] > 4)
        return format_error(error, "corrupt JPEG: component %d has "
                                   "sampling factors %dx%d",
                            c, h->h_samp[c], h->v_samp[c]);
    }
    if (h->width == 0 || h->height == 0)
      return format_error(error, "unsupported JPEG: frame size %ux%u",
                          h->width, h->height);
    have_sof = TRUE;
  }
  if (r < 0)
    return FALSE;
  if (!have_sof)
    return format_error(error, "corrupt JPEG: scan before frame header");
  /* libjpeg's rule (jdapimin.c) for three components: JFIF means YCbCr,
   * else an Adobe marker's transform decides, else component ids 'R' 'G'
   * 'B' mean RGB, else YCbCr. */
  if (h->components == 3) {
    if (h->saw_jfif)
      h->ycc = TRUE;
    else if (h->saw_adobe)
      h->ycc = h->adobe_transform != 0;
    else
      h->ycc = !(h->comp_id[0] == 'R' && h->comp_id[1] == 'G' &&
                 h->comp_id[2] == 'B');
  }
  /* From the first scan to the end of the image: entropy-coded data up to
   * the next marker, then (between the scans of a progressive file) marker
   * segments, skipped by their length. A start-of-image marker in there is
   * refused: GStreamer 1.22's jpegdec spins forever on such a file (found
   * by tests/fuzz/fuzz-image; regressions/image/soi-inside-scan.jpg). */
  gsize j = pos;
  while (j + 1 < n) {
    if (d[j] != 0xFF || d[j + 1] == 0x00 || d[j + 1] == 0xFF ||
        (d[j + 1] >= 0xD0 && d[j + 1] <= 0xD7)) {
      j++;
      continue;
    }
    guint8 mk = d[j + 1];
    if (mk == 0xD9)
      return TRUE;
    if (mk == 0xD8 || mk == 0x01)
      return format_error(error, "corrupt JPEG: marker 0x%02X at offset %"
                          G_GSIZE_FORMAT " inside the image data",
                          mk, j);
    if (j + 4 > n)
      break;
    gsize seg_len = rd16be(d + j + 2);
    if (seg_len < 2 || j + 2 + seg_len > n)
      return format_error(error, "truncated JPEG: segment 0x%02X at offset %"
                          G_GSIZE_FORMAT " needs %" G_GSIZE_FORMAT
                          " bytes, %" G_GSIZE_FORMAT " left",
                          mk, j, seg_len, n - j - 2);
    j += 2 + seg_len;
  }
  return format_error(error, "truncated JPEG: no end-of-image marker after "
                             "the image data");
}

/* JPEG decoding strategies (see the top of the file). */
typedef enum {
  JPEG_ROUTE_JPEGDEC,     /* jpegdec gives GRAY8, I420 or true RGB */
  JPEG_ROUTE_RAW_YCC,     /* jpegdec on a relabelled file: "RGB" holds YCbCr */
  JPEG_ROUTE_AVDEC,       /* avdec_mjpeg, native planes */
} JpegRoute;

static gboolean
all_samp_equal(const ImageHeader *h)
{
  for (int c = 1; c < h->components; c++)
    if (h->h_samp[c] != h->h_samp[0] || h->v_samp[c] != h->v_samp[0])
      return FALSE;
  return TRUE;
}

static JpegRoute
jpeg_route(const ImageHeader *h)
{
  if (h->components == 1)
    return JPEG_ROUTE_JPEGDEC;
  if (h->components == 3 && h->h_samp[0] == 2 && h->v_samp[0] == 2 &&
      h->h_samp[1] == 1 && h->v_samp[1] == 1 && h->h_samp[2] == 1 &&
      h->v_samp[2] == 1 && h->ycc)
    return JPEG_ROUTE_JPEGDEC; /* I420, the planes as coded */
  if (h->components == 3 && all_samp_equal(h) && h->h_samp[0] == 1 &&
      h->v_samp[0] == 1)
    return h->ycc ? JPEG_ROUTE_RAW_YCC : JPEG_ROUTE_JPEGDEC;
  return JPEG_ROUTE_AVDEC;
}

/* jpegdec turns a 4:4:4 YCbCr JPEG into I420 by dropping chroma samples,
 * but hands over an RGB JPEG's three planes untouched. This rewrites the
 * markers that tell libjpeg the colour space so that a 4:4:4 YCbCr file
 * reads as RGB: the JFIF identifier is renamed (APP0 "JFIF" -> "XFIF"),
 * every Adobe APP14 gets transform 0, and one is inserted after SOI. The
 * coded data is untouched; jpegdec then outputs the Y, Cb, Cr planes as
 * libjpeg decoded them, and convert_ycc_packed() does libjpeg's colour
 * conversion. Returns a new buffer. */
static GstBuffer *
jpeg_relabel_ycc_as_rgb(const guint8 *d, gsize n)
{
  static const guint8 app14[16] = { 0xFF, 0xEE, 0x00, 0x0E, 'A', 'd', 'o',
                                    'b', 'e', 0x00, 0x64, 0x00, 0x00, 0x00,
                                    0x00, 0x00 /* transform 0: RGB */ };
  const gsize extra = sizeof app14;
  guint8 *o = g_malloc(n + extra);
  memcpy(o, d, 2);
  memcpy(o + 2, app14, extra);
  memcpy(o + 2 + extra, d + 2, n - 2);
  gsize pos = 2, off, len;
  guint8 m;
  while (jpeg_next_segment(d, n, &pos, &m, &off, &len, NULL) > 0) {
    if (is_app_segment(d, off, len, m, 0xE0, "JFIF", 5))
      o[off + extra] = 'X';
    if (is_app_segment(d, off, len, m, 0xEE, "Adobe", 5) && len >= 12)
      o[off + extra + 11] = 0;
  }
  return gst_buffer_new_wrapped(o, n + extra);
}

/* Walks the PNG chunks (lengths checked) up to IEND. */
static gboolean
probe_png(const guint8 *d, gsize n, ImageHeader *h, GError **error)
{
  static const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
  if (n < 8 || memcmp(d, sig, 8) != 0)
    return format_error(error, "not a PNG file (bad signature)");
  if (n < 8 + 8 + 13 || memcmp(d + 12, "IHDR", 4) != 0 ||
      rd32be(d + 8) != 13)
    return format_error(error, "corrupt PNG: no IHDR chunk");
  h->width = rd32be(d + 16);
  h->height = rd32be(d + 20);
  h->png_depth = d[24];
  h->png_color_type = d[25];
  if (h->width == 0 || h->height == 0 || h->width > 0x7FFFFFFF ||
      h->height > 0x7FFFFFFF)
    return format_error(error, "corrupt PNG: size %ux%u", h->width,
                        h->height);
  gsize i = 8;
  while (i + 12 <= n) {
    guint32 len = rd32be(d + i);
    if (len > 0x7FFFFFFF || (guint64)i + 12 + len > n)
      break;
    if (memcmp(d + i + 4, "IEND", 4) == 0)
      return TRUE;
    i += 12 + (gsize)len;
  }
  return format_error(error, "truncated PNG: chunk at offset %" G_GSIZE_FORMAT
                             " runs past the end of the data (no IEND)",
                      i);
}

/* BITMAPFILEHEADER + the DIB header's size fields; for uncompressed
 * bitmaps also checks that all the rows are present. */
static gboolean
probe_bmp(const guint8 *d, gsize n, ImageHeader *h, GError **error)
{
  if (n < 26 || d[0] != 'B' || d[1] != 'M')
    return format_error(error, "not a BMP file");
  guint32 data_off = rd32le(d + 10);
  guint32 dib = rd32le(d + 14);
  guint32 bpp = 0, compression = 0;
  gint64 w, hh;
  if (dib == 12) {
    w = d[18] | d[19] << 8;
    hh = d[20] | d[21] << 8;
    bpp = n >= 26 ? (guint32)(d[24] | d[25] << 8) : 0;
  } else if (dib >= 40 && n >= 14 + 40) {
    w = (gint32)rd32le(d + 18);
    hh = (gint32)rd32le(d + 22);
    bpp = d[28] | d[29] << 8;
    compression = rd32le(d + 30);
  } else {
    return format_error(error, "corrupt BMP: header of %u bytes", dib);
  }
  if (hh < 0)
    hh = -hh; /* top-down */
  if (w <= 0 || hh <= 0 || w > G_MAXINT32 || hh > G_MAXINT32)
    return format_error(error, "corrupt BMP: size %" G_GINT64_FORMAT
                               "x%" G_GINT64_FORMAT,
                        w, hh);
  h->width = (guint32)w;
  h->height = (guint32)hh;
  /* BI_RGB (0) and BI_BITFIELDS (3) rows are stored whole. */
  if ((compression == 0 || compression == 3) && bpp > 0 && bpp <= 32 &&
      w <= IMAGE_MAX_SIDE && hh <= IMAGE_MAX_SIDE) {
    guint64 row = ((guint64)w * bpp + 31) / 32 * 4;
    if ((guint64)data_off + row * (guint64)hh > n)
      return format_error(error, "truncated BMP: %ux%u at %u bits needs %"
                                 G_GUINT64_FORMAT " bytes of pixels from "
                                 "offset %u, the data has %" G_GSIZE_FORMAT,
                          h->width, h->height, bpp, row * (guint64)hh,
                          data_off, n);
  }
  return TRUE;
}

static gboolean
check_size(guint64 w, guint64 h, GError **error)
{
  if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || w * h > IMAGE_MAX_PIXELS) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE,
                "image is %" G_GUINT64_FORMAT "x%" G_GUINT64_FORMAT
                ": the limit is %d pixels a side and %" G_GUINT64_FORMAT
                " pixels in all",
                w, h, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS);
    return FALSE;
  }
  return TRUE;
}

/* ---- raw frame -> packed RGB8 ----------------------------------------- */

/* libjpeg's YCbCr -> RGB (jdcolor.c): 16-bit fixed point, tables indexed
 * by the chroma sample, arithmetic right shifts, clamped. */
#define YCC_SCALEBITS 16
#define YCC_ONE_HALF ((gint32)1 << (YCC_SCALEBITS - 1))
#define YCC_FIX(x) ((gint32)((x) * (1L << YCC_SCALEBITS) + 0.5))

typedef struct {
  int cr_r[256], cb_b[256];
  gint32 cr_g[256], cb_g[256];
} YccTables;

static void
ycc_tables_init(YccTables *t)
{
  for (int i = 0; i < 256; i++) {
    gint32 x = i - 128;
    t->cr_r[i] = (int)((YCC_FIX(1.40200) * x + YCC_ONE_HALF) >> YCC_SCALEBITS);
    t->cb_b[i] = (int)((YCC_FIX(1.77200) * x + YCC_ONE_HALF) >> YCC_SCALEBITS);
    t->cr_g[i] = -YCC_FIX(0.71414) * x;
    t->cb_g[i] = -YCC_FIX(0.34414) * x + YCC_ONE_HALF;
  }
}

static inline guint8
clamp_u8(int v)
{
  return (guint8)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* libjpeg-turbo's "fancy" chroma upsampling of one output row (jdsample.c):
 * triangular filter, 3/4 nearest + 1/4 next, with libjpeg's alternating
 * rounding biases; edge rows and columns are replicated.
 *   row0: the nearest chroma row, row1: the next nearest (above for even
 *   output rows, below for odd), cw: chroma width, fh/fv: factors. */
static void
upsample_row(const guint8 *row0, const guint8 *row1, int cw, int fh, int fv,
             int v, int out_w, guint8 *out)
{
  if (fv == 2 && fh == 2) { /* h2v2_fancy_upsample */
    if (cw == 1) {
      int s = row0[0] * 3 + row1[0];
      out[0] = (guint8)((s * 4 + 8) >> 4);
      if (out_w > 1)
        out[1] = (guint8)((s * 4 + 7) >> 4);
      return;
    }
    int last = row0[0] * 3 + row1[0], cur = last;
    for (int x = 0; x < cw; x++) {
      int next = x + 1 < cw ? row0[x + 1] * 3 + row1[x + 1] : cur;
      int a = x == 0 ? (cur * 4 + 8) >> 4 : (cur * 3 + last + 8) >> 4;
      int b = x + 1 == cw ? (cur * 4 + 7) >> 4 : (cur * 3 + next + 7) >> 4;
      if (2 * x < out_w)
        out[2 * x] = (guint8)a;
      if (2 * x + 1 < out_w)
        out[2 * x + 1] = (guint8)b;
      last = cur;
      cur = next;
    }
  } else if (fv == 1 && fh == 2) { /* h2v1_fancy_upsample */
    if (cw == 1) {
      out[0] = row0[0];
      if (out_w > 1)
        out[1] = row0[0];
      return;
    }
    for (int x = 0; x < cw; x++) {
      int c = row0[x] * 3;
      int a = x == 0 ? row0[0] : (c + row0[x - 1] + 1) >> 2;
      int b = x + 1 == cw ? row0[x] : (c + row0[x + 1] + 2) >> 2;
      if (2 * x < out_w)
        out[2 * x] = (guint8)a;
      if (2 * x + 1 < out_w)
        out[2 * x + 1] = (guint8)b;
    }
  } else if (fv == 2 && fh == 1) { /* h1v2_fancy_upsample */
    int bias = v == 0 ? 1 : 2;
    for (int x = 0; x < out_w; x++)
      out[x] = (guint8)((row0[x] * 3 + row1[x] + bias) >> 2);
  } else { /* int_upsample: replication (1:1, 4:1...) */
    for (int x = 0; x < out_w; x++)
      out[x] = row0[x / fh];
  }
}

/* Planar YCbCr (full range, JPEG siting) with chroma factors fh x fv ->
 * packed RGB, as libjpeg-turbo decodes with do_fancy_upsampling. */
static void
convert_yuv(const GstVideoFrame *f, int fh, int fv, RgbImage *img)
{
  YccTables t;
  ycc_tables_init(&t);
  const int w = img->width, h = img->height;
  const int cw = GST_VIDEO_FRAME_COMP_WIDTH(f, 1);
  const int ch = GST_VIDEO_FRAME_COMP_HEIGHT(f, 1);
  guint8 *cb = g_malloc((gsize)w), *cr = g_malloc((gsize)w);
  for (int y = 0; y < h; y++) {
    const guint8 *yr = (const guint8 *)GST_VIDEO_FRAME_COMP_DATA(f, 0) +
                       (gsize)y * GST_VIDEO_FRAME_COMP_STRIDE(f, 0);
    int v = fv == 2 ? y & 1 : 0;
    int r0 = y / fv;
    int r1 = fv == 2 ? (v == 0 ? r0 - 1 : r0 + 1) : r0;
    r0 = CLAMP(r0, 0, ch - 1);
    r1 = CLAMP(r1, 0, ch - 1);
    for (int p = 1; p <= 2; p++) {
      const guint8 *base = GST_VIDEO_FRAME_COMP_DATA(f, p);
      gsize stride = GST_VIDEO_FRAME_COMP_STRIDE(f, p);
      upsample_row(base + (gsize)r0 * stride, base + (gsize)r1 * stride, cw,
                   fh, fv, v, w, p == 1 ? cb : cr);
    }
    guint8 *out = img->pixels + (gsize)y * img->stride;
    for (int x = 0; x < w; x++) {
      int yy = yr[x];
      out[3 * x + 0] = clamp_u8(yy + t.cr_r[cr[x]]);
      out[3 * x + 1] = clamp_u8(
          yy + (int)((t.cb_g[cb[x]] + t.cr_g[cr[x]]) >> YCC_SCALEBITS));
      out[3 * x + 2] = clamp_u8(yy + t.cb_b[cb[x]]);
    }
  }
  g_free(cb);
  g_free(cr);
}

/* Byte offsets of R, G, B in one pixel of a packed 8-bit RGB format and the
 * pixel size; FALSE for other formats. */
static gboolean
packed_rgb_layout(GstVideoFormat fmt, int *ro, int *go, int *bo, int *ps)
{
  switch (fmt) {
  case GST_VIDEO_FORMAT_RGB: *ro = 0; *go = 1; *bo = 2; *ps = 3; return TRUE;
  case GST_VIDEO_FORMAT_BGR: *ro = 2; *go = 1; *bo = 0; *ps = 3; return TRUE;
  case GST_VIDEO_FORMAT_RGBA:
  case GST_VIDEO_FORMAT_RGBx: *ro = 0; *go = 1; *bo = 2; *ps = 4; return TRUE;
  case GST_VIDEO_FORMAT_BGRA:
  case GST_VIDEO_FORMAT_BGRx: *ro = 2; *go = 1; *bo = 0; *ps = 4; return TRUE;
  case GST_VIDEO_FORMAT_ARGB:
  case GST_VIDEO_FORMAT_xRGB: *ro = 1; *go = 2; *bo = 3; *ps = 4; return TRUE;
  case GST_VIDEO_FORMAT_ABGR:
  case GST_VIDEO_FORMAT_xBGR: *ro = 3; *go = 2; *bo = 1; *ps = 4; return TRUE;
  default: return FALSE;
  }
}

/* The raw formats the appsink accepts; anything else the decoder produces
 * goes through videoconvert to one of these. */
#define IMAGE_SINK_FORMATS                                                    \
  "{ RGB, BGR, RGBA, RGBx, BGRA, BGRx, ARGB, xRGB, ABGR, xBGR, GBR, GRAY8, "  \
  "GRAY16_BE, GRAY16_LE, ARGB64, I420, Y42B, Y444, Y41B }"

/* Packed 8-bit frame whose "R", "G", "B" hold Y, Cb, Cr (the relabelled
 * JPEG route) -> RGB with libjpeg's colour conversion. */
static void
convert_ycc_packed(const GstVideoFrame *f, int yo, int cbo, int cro, int ps,
                   RgbImage *img)
{
  YccTables t;
  ycc_tables_init(&t);
  for (int y = 0; y < img->height; y++) {
    const guint8 *s = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(f, 0) +
                      (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(f, 0);
    guint8 *o = img->pixels + (gsize)y * img->stride;
    for (int x = 0; x < img->width; x++, s += ps, o += 3) {
      int yy = s[yo], cb = s[cbo], cr = s[cro];
      o[0] = clamp_u8(yy + t.cr_r[cr]);
      o[1] = clamp_u8(yy + (int)((t.cb_g[cb] + t.cr_g[cr]) >> YCC_SCALEBITS));
      o[2] = clamp_u8(yy + t.cb_b[cb]);
    }
  }
}

/* Converts the decoded sample to packed RGB8. packed_ycc: the frame is
 * packed "RGB" that holds YCbCr (JPEG_ROUTE_RAW_YCC). */
static gboolean
frame_to_rgb(GstSample *sample, gboolean packed_ycc, RgbImage *img,
             GError **error)
{
  GstVideoInfo info;
  GstCaps *caps = gst_sample_get_caps(sample);
  GstBuffer *buf = gst_sample_get_buffer(sample);
  if (!caps || !buf || !gst_video_info_from_caps(&info, caps))
    return format_error(error, "decoder produced no usable frame");
  if (!check_size((guint64)GST_VIDEO_INFO_WIDTH(&info),
                  (guint64)GST_VIDEO_INFO_HEIGHT(&info), error))
    return FALSE;
  GstVideoFrame f;
  if (!gst_video_frame_map(&f, &info, buf, GST_MAP_READ))
    return format_error(error, "decoded frame could not be mapped");

  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  img->width = w;
  img->height = h;
  img->stride = (gsize)w * 3;
  img->pixels = g_malloc(img->stride * (gsize)h);

  GstVideoFormat fmt = GST_VIDEO_INFO_FORMAT(&info);
  int ro, go, bo, ps;
  gboolean ok = TRUE;
  if (packed_ycc && packed_rgb_layout(fmt, &ro, &go, &bo, &ps)) {
    convert_ycc_packed(&f, ro, go, bo, ps, img);
  } else if (packed_ycc) {
    ok = format_error(error, "JPEG decoder gave %s for a relabelled 4:4:4 "
                             "image",
                      gst_video_format_to_string(fmt));
  } else if (packed_rgb_layout(fmt, &ro, &go, &bo, &ps)) {
    for (int y = 0; y < h; y++) {
      const guint8 *s = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) +
                        (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
      guint8 *o = img->pixels + (gsize)y * img->stride;
      for (int x = 0; x < w; x++, s += ps, o += 3) {
        o[0] = s[ro];
        o[1] = s[go];
        o[2] = s[bo];
      }
    }
  } else {
    switch (fmt) {
    case GST_VIDEO_FORMAT_GRAY8:
    case GST_VIDEO_FORMAT_GRAY16_BE:
    case GST_VIDEO_FORMAT_GRAY16_LE: {
      /* 16-bit: the high byte (libpng's strip_16, PIL). */
      int bytes = fmt == GST_VIDEO_FORMAT_GRAY8 ? 1 : 2;
      int hi = fmt == GST_VIDEO_FORMAT_GRAY16_LE ? 1 : 0;
      for (int y = 0; y < h; y++) {
        const guint8 *s = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) +
                          (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
        guint8 *o = img->pixels + (gsize)y * img->stride;
        for (int x = 0; x < w; x++)
          o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = s[x * bytes + hi];
      }
      break;
    }
    case GST_VIDEO_FORMAT_ARGB64:
      for (int y = 0; y < h; y++) {
        const guint16 *s =
            (const guint16 *)((const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) +
                              (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0));
        guint8 *o = img->pixels + (gsize)y * img->stride;
        for (int x = 0; x < w; x++)
          for (int c = 0; c < 3; c++)
            o[3 * x + c] = (guint8)(s[4 * x + 1 + c] >> 8);
      }
      break;
    case GST_VIDEO_FORMAT_GBR: {
      static const int plane_of[3] = { 2, 0, 1 }; /* R in plane 2, G 0, B 1 */
      for (int y = 0; y < h; y++) {
        guint8 *o = img->pixels + (gsize)y * img->stride;
        for (int c = 0; c < 3; c++) {
          int p = plane_of[c];
          const guint8 *s = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, p) +
                            (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, p);
          for (int x = 0; x < w; x++)
            o[3 * x + c] = s[x];
        }
      }
      break;
    }
    case GST_VIDEO_FORMAT_I420: convert_yuv(&f, 2, 2, img); break;
    case GST_VIDEO_FORMAT_Y42B: convert_yuv(&f, 2, 1, img); break;
    case GST_VIDEO_FORMAT_Y444: convert_yuv(&f, 1, 1, img); break;
    case GST_VIDEO_FORMAT_Y41B: convert_yuv(&f, 4, 1, img); break;
    default:
      ok = format_error(error, "decoder produced unexpected format %s",
                        gst_video_format_to_string(fmt));
      break;
    }
  }
  gst_video_frame_unmap(&f);
  if (!ok)
    rgb_image_clear(img);
  return ok;
}

/* ---- the pipeline ------------------------------------------------------ */

static GstElement *
make_element(const char *factory, GError **error)
{
  GstElement *e = gst_element_factory_make(factory, NULL);
  if (!e)
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_MISSING_PLUGIN,
                "GStreamer element '%s' is not installed%s", factory,
                g_str_has_prefix(factory, "av")
                    ? " (it is part of gst-libav, gstreamer1.0-libav)"
                    : "");
  return e;
}

/* Picks the decoder for the probed header. */
static GstElement *
make_decoder(const ImageHeader *hdr, GError **error)
{
  switch (hdr->kind) {
  case IMAGE_KIND_JPEG: {
    if (jpeg_route(hdr) == JPEG_ROUTE_AVDEC) {
      GstElement *e = gst_element_factory_make("avdec_mjpeg", NULL);
      if (e)
        return e;
      /* Without gst-libav: jpegdec, whose I420 has decimated chroma. */
    }
    GstElement *e = make_element("jpegdec", error);
    if (e)
      gst_util_set_object_arg(G_OBJECT(e), "idct-method", "islow");
    return e;
  }
  case IMAGE_KIND_PNG:
    /* pngdec scrambles 16-bit colour rows (its ARGB64 output is shifted
     * by one sample); gdkpixbufdec reduces them to 8 bits correctly (the
     * high byte). 16-bit grey is fine in pngdec (GRAY16_BE). */
    if (hdr->png_depth == 16 && hdr->png_color_type != 0)
      return make_element("gdkpixbufdec", error);
    return make_element("pngdec", error);
  case IMAGE_KIND_BMP: return make_element("avdec_bmp", error);
  }
  g_assert_not_reached();
  return NULL;
}

/* Turns the bus's error messages into a GError. The decoder's own message
 * is preferred; when only the generic "Internal data stream error" of the
 * source is there, the decoder failed without saying why. The debug
 * string is left out (it is for developers). */
static void
set_error_from_bus(GstBus *bus, GstMessage *first, GstElement *dec,
                   const char *what, GError **error)
{
  GstMessage *best = gst_message_ref(first);
  GstMessage *more;
  while (GST_MESSAGE_SRC(best) != GST_OBJECT(dec) &&
         (more = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR))) {
    if (GST_MESSAGE_SRC(more) == GST_OBJECT(dec)) {
      gst_message_unref(best);
      best = more;
    } else {
      gst_message_unref(more);
    }
  }
  GError *gerr = NULL;
  gst_message_parse_error(best, &gerr, NULL);
  const char *text = gerr && gerr->message ? gerr->message : "unknown error";
  if (GST_MESSAGE_SRC(best) == GST_OBJECT(dec))
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_FORMAT,
                "corrupt %s: %s: %s", what,
                GST_OBJECT_NAME(gst_element_get_factory(dec)), text);
  else
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_FORMAT,
                "corrupt %s: the decoder failed (%s)", what, text);
  g_clear_error(&gerr);
  gst_message_unref(best);
}

static gboolean
run_pipeline(GstBuffer *data, GstCaps *src_caps, const ImageHeader *hdr,
             RgbImage *out, GError **error)
{
  static const char *what[] = { "JPEG", "PNG", "BMP" };
  gboolean ok = FALSE;
  GstElement *pipeline = gst_pipeline_new(NULL);
  GstElement *src = make_element("appsrc", error);
  GstElement *dec = src ? make_decoder(hdr, error) : NULL;
  GstElement *conv = dec ? make_element("videoconvert", error) : NULL;
  GstElement *sink = conv ? make_element("appsink", error) : NULL;
  if (!sink) {
    g_clear_object(&src);
    g_clear_object(&dec);
    g_clear_object(&conv);
    gst_object_unref(pipeline);
    gst_buffer_unref(data);
    return FALSE;
  }
  /* Decoder errors end the decode at once (GstVideoDecoder's default
   * tolerates 10 in a row, meant for streams). */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "max-errors"))
    g_object_set(dec, "max-errors", 0, NULL);
  /* No dithering: only exotic formats are converted at all. */
  gst_util_set_object_arg(G_OBJECT(conv), "dither", "none");
  g_object_set(src, "caps", src_caps, "format", GST_FORMAT_BYTES,
               "stream-type", 0 /* GST_APP_STREAM_TYPE_STREAM */, NULL);
  GstCaps *sink_caps =
      gst_caps_from_string("video/x-raw, format=(string)" IMAGE_SINK_FORMATS);
  g_object_set(sink, "caps", sink_caps, "sync", FALSE, "max-buffers", 1,
               "enable-last-sample", FALSE, NULL);
  gst_caps_unref(sink_caps);
  gst_bin_add_many(GST_BIN(pipeline), src, dec, conv, sink, NULL);
  if (!gst_element_link_many(src, dec, conv, sink, NULL)) {
    format_error(error, "could not build the %s decoding pipeline",
                 what[hdr->kind]);
    gst_buffer_unref(data);
    goto done;
  }

  GstBus *bus = gst_element_get_bus(pipeline);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    if (msg) {
      set_error_from_bus(bus, msg, dec, what[hdr->kind], error);
      gst_message_unref(msg);
    } else {
      format_error(error, "the %s decoding pipeline did not start",
                   what[hdr->kind]);
    }
    gst_buffer_unref(data);
    gst_object_unref(bus);
    goto done;
  }
  gst_app_src_push_buffer(GST_APP_SRC(src), data); /* takes data */
  gst_app_src_end_of_stream(GST_APP_SRC(src));

  GstSample *sample = NULL;
  RgbImage img = { 0 };
  gint64 deadline = g_get_monotonic_time() +
                    IMAGE_DECODE_TIMEOUT_NS / GST_USECOND;
  for (;;) {
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    if (msg) {
      set_error_from_bus(bus, msg, dec, what[hdr->kind], error);
      gst_message_unref(msg);
      break;
    }
    sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), IMAGE_POLL_NS);
    if (sample)
      break;
    if (gst_app_sink_is_eos(GST_APP_SINK(sink))) {
      /* An error may have been posted just before EOS. */
      msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
      if (msg) {
        set_error_from_bus(bus, msg, dec, what[hdr->kind], error);
        gst_message_unref(msg);
      } else {
        format_error(error, "corrupt %s: the decoder produced no image",
                     what[hdr->kind]);
      }
      break;
    }
    if (g_get_monotonic_time() > deadline) {
      format_error(error, "%s decoding timed out", what[hdr->kind]);
      break;
    }
  }
  gst_object_unref(bus);
  if (sample) {
    gboolean packed_ycc = hdr->kind == IMAGE_KIND_JPEG &&
                          jpeg_route(hdr) == JPEG_ROUTE_RAW_YCC;
    ok = frame_to_rgb(sample, packed_ycc, &img, error);
    gst_sample_unref(sample);
    if (ok && ((guint32)img.width != hdr->width ||
               (guint32)img.height != hdr->height)) {
      format_error(error, "corrupt %s: header says %ux%u, decoder gave %dx%d",
                   what[hdr->kind], hdr->width, hdr->height, img.width,
                   img.height);
      rgb_image_clear(&img);
      ok = FALSE;
    }
    if (ok)
      *out = img;
  }

done:
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  return ok;
}

/* Takes ownership of bytes (g_free'd). */
static gboolean
decode_owned(guint8 *bytes, gsize size, RgbImage *out, GError **error)
{
  if (size == 0) {
    g_free(bytes);
    return format_error(error, "empty file: not an image");
  }
  if (size > IMAGE_MAX_FILE_BYTES) {
    g_free(bytes);
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE,
                "image data is %" G_GSIZE_FORMAT " bytes: the limit is %"
                G_GSIZE_FORMAT,
                size, IMAGE_MAX_FILE_BYTES);
    return FALSE;
  }
  GstBuffer *buf = gst_buffer_new_wrapped(bytes, size);
  GstTypeFindProbability prob = GST_TYPE_FIND_NONE;
  GstCaps *caps = gst_type_find_helper_for_buffer(NULL, buf, &prob);
  const char *type =
      caps && !gst_caps_is_empty(caps)
          ? gst_structure_get_name(gst_caps_get_structure(caps, 0))
          : NULL;
  ImageHeader hdr = { 0 };
  gboolean ok = FALSE;
  GstMapInfo map;
  if (!type) {
    format_error(error, "not an image (unrecognised data)");
    goto fail;
  }
  if (strcmp(type, "image/jpeg") == 0)
    hdr.kind = IMAGE_KIND_JPEG;
  else if (strcmp(type, "image/png") == 0)
    hdr.kind = IMAGE_KIND_PNG;
  else if (strcmp(type, "image/bmp") == 0)
    hdr.kind = IMAGE_KIND_BMP;
  else {
    format_error(error, "not a supported image: the data is %s (JPEG, PNG "
                        "and BMP are supported)",
                 type);
    goto fail;
  }
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    format_error(error, "could not map the image data");
    goto fail;
  }
  gboolean probed = hdr.kind == IMAGE_KIND_JPEG ? probe_jpeg(map.data, map.size, &hdr, error)
                    : hdr.kind == IMAGE_KIND_PNG ? probe_png(map.data, map.size, &hdr, error)
                                                 : probe_bmp(map.data, map.size, &hdr, error);
  gst_buffer_unmap(buf, &map);
  if (!probed || !check_size(hdr.width, hdr.height, error))
    goto fail;
  if (hdr.kind == IMAGE_KIND_JPEG) {
    /* The whole file is one frame: say so, with its size, as jpegparse
     * would (avdec_mjpeg refuses caps without a size). */
    gst_caps_unref(caps);
    caps = gst_caps_new_simple("image/jpeg", "parsed", G_TYPE_BOOLEAN, TRUE,
                               "width", G_TYPE_INT, (int)hdr.width, "height",
                               G_TYPE_INT, (int)hdr.height, "framerate",
                               GST_TYPE_FRACTION, 0, 1, NULL);
    if (jpeg_route(&hdr) == JPEG_ROUTE_RAW_YCC) {
      gst_buffer_map(buf, &map, GST_MAP_READ);
      GstBuffer *relabelled = jpeg_relabel_ycc_as_rgb(map.data, map.size);
      gst_buffer_unmap(buf, &map);
      gst_buffer_unref(buf);
      buf = relabelled;
    }
  }
  ok = run_pipeline(buf, caps, &hdr, out, error); /* takes buf */
  gst_caps_unref(caps);
  return ok;

fail:
  if (caps)
    gst_caps_unref(caps);
  gst_buffer_unref(buf);
  return FALSE;
}

gboolean
image_decode_buffer(const guint8 *data, gsize size, RgbImage *out,
                    GError **error)
{
  g_return_val_if_fail(out != NULL, FALSE);
  if (size > IMAGE_MAX_FILE_BYTES)
    return decode_owned(NULL, size, out, error); /* reports TOO_LARGE */
  return decode_owned(size ? g_memdup2(data, size) : NULL, size, out, error);
}

gboolean
image_decode_file(const char *path, RgbImage *out, GError **error)
{
  g_return_val_if_fail(path != NULL && out != NULL, FALSE);
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_IO,
                "%s: %s", path, g_strerror(e));
    return FALSE;
  }
  if (!S_ISREG(st.st_mode)) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_IO,
                "%s: not a regular file", path);
    return FALSE;
  }
  if ((guint64)st.st_size > IMAGE_MAX_FILE_BYTES) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE,
                "%s: file is %" G_GUINT64_FORMAT " bytes: the limit is %"
                G_GSIZE_FORMAT,
                path, (guint64)st.st_size, IMAGE_MAX_FILE_BYTES);
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
  if (!decode_owned((guint8 *)bytes, size, out, &derr)) {
    g_propagate_prefixed_error(error, derr, "%s: ", path);
    return FALSE;
  }
  return TRUE;
}

void
rgb_image_clear(RgbImage *img)
{
  if (!img)
    return;
  g_free(img->pixels);
  memset(img, 0, sizeof *img);
}
