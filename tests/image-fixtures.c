/* streamsight — generated test images (see image-fixtures.h). */
#include "image-fixtures.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>

/* ---- JPEG --------------------------------------------------------------- */

GBytes *
fix_jpeg_encode(const guint8 *px, int w, int h, const FixJpeg *o)
{
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e); /* errors exit(): a broken fixture fails */
  jpeg_create_compress(&c);
  unsigned char *buf = NULL;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = o->components;
  c.in_color_space = o->components == 1   ? JCS_GRAYSCALE
                     : o->components == 3 ? JCS_RGB
                                          : JCS_CMYK;
  jpeg_set_defaults(&c);
  if (o->jpeg_space != JCS_UNKNOWN)
    jpeg_set_colorspace(&c, o->jpeg_space);
  for (int i = 0; i < c.num_components && i < 4; i++) {
    if (o->h_samp[i])
      c.comp_info[i].h_samp_factor = o->h_samp[i];
    if (o->v_samp[i])
      c.comp_info[i].v_samp_factor = o->v_samp[i];
  }
  jpeg_set_quality(&c, o->quality ? o->quality : 95, TRUE);
  if (o->progressive)
    jpeg_simple_progression(&c);
  c.arith_code = o->arithmetic;
  c.restart_in_rows = o->restart_rows;
  jpeg_start_compress(&c, TRUE);
  gsize row = (gsize)w * (gsize)o->components;
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = (JSAMPROW)(px + (gsize)c.next_scanline * row);
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  GBytes *b = g_bytes_new(buf, len);
  free(buf);
  return b;
}

GBytes *
fix_jpeg_edit_sof(GBytes *jpg, int marker, int precision)
{
  gsize n;
  const guint8 *d = g_bytes_get_data(jpg, &n);
  guint8 *o = g_memdup2(d, n);
  gsize i = 2;
  while (i + 4 < n) {
    ck_assert_msg(o[i] == 0xFF, "fixture: no marker at %zu", i);
    guint8 m = o[i + 1];
    gsize len = (gsize)o[i + 2] << 8 | o[i + 3];
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      if (marker)
        o[i + 1] = (guint8)marker;
      if (precision)
        o[i + 4] = (guint8)precision;
      return g_bytes_new_take(o, n);
    }
    i += 2 + len;
  }
  ck_abort_msg("fixture: no frame header");
  return NULL;
}

/* Bits MSB first, with JPEG's byte stuffing (0xFF is followed by 0x00). */
typedef struct {
  GByteArray *out;
  guint32 acc;
  int nbits;
} BitWriter;

static void
bits_put(BitWriter *b, guint32 v, int n)
{
  for (int i = n - 1; i >= 0; i--) {
    b->acc = b->acc << 1 | ((v >> i) & 1);
    if (++b->nbits == 8) {
      guint8 byte = (guint8)b->acc;
      g_byte_array_append(b->out, &byte, 1);
      if (byte == 0xFF) {
        const guint8 zero = 0;
        g_byte_array_append(b->out, &zero, 1);
      }
      b->acc = 0;
      b->nbits = 0;
    }
  }
}

static void
bits_flush(BitWriter *b)
{
  if (b->nbits)
    bits_put(b, 0x7F, 8 - b->nbits); /* pad with ones */
}

static void
append(GByteArray *a, const guint8 *d, gsize n)
{
  g_byte_array_append(a, d, (guint)n);
}

GBytes *
fix_jpeg_scan_bomb(int w, int h, int n_scans)
{
  ck_assert(w % 8 == 0 && h % 8 == 0 && w <= 65535 && h <= 65535);
  GByteArray *a = g_byte_array_new();
  const guint8 soi[] = { 0xFF, 0xD8 };
  append(a, soi, sizeof soi);
  guint8 dqt[69] = { 0xFF, 0xDB, 0x00, 0x43, 0x00 };
  memset(dqt + 5, 1, 64);
  append(a, dqt, sizeof dqt);
  const guint8 sof[] = { 0xFF, 0xC2, 0x00, 0x0B, 0x08,
                         (guint8)(h >> 8), (guint8)h, (guint8)(w >> 8),
                         (guint8)w, 0x01, 0x01, 0x11, 0x00 };
  append(a, sof, sizeof sof);
  /* DC table 0: one symbol (size 0) with the 1-bit code '0'. */
  guint8 dht_dc[22] = { 0xFF, 0xC4, 0x00, 0x14, 0x00, 1 };
  dht_dc[21] = 0x00;
  append(a, dht_dc, sizeof dht_dc);
  const guint8 sos_dc[] = { 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00,
                            0x00, 0x00, 0x00 };
  append(a, sos_dc, sizeof sos_dc);
  gsize blocks = (gsize)(w / 8) * (gsize)(h / 8);
  BitWriter bw = { .out = a };
  for (gsize i = 0; i < blocks; i++)
    bits_put(&bw, 0, 1);
  bits_flush(&bw);
  /* AC table 0: the 15 end-of-band-run symbols EOB0..EOB14 (0xR0), 4-bit
   * codes 0000..1110. */
  guint8 dht_ac[5 + 16 + 15] = { 0xFF, 0xC4, 0x00, 0x22, 0x10 };
  dht_ac[5 + 3] = 15;
  for (int r = 0; r < 15; r++)
    dht_ac[21 + r] = (guint8)(r << 4);
  append(a, dht_ac, sizeof dht_ac);
  const guint8 sos_ac[] = { 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00,
                            0x01, 0x3F, 0x00 };
  for (int s = 0; s < n_scans; s++) {
    append(a, sos_ac, sizeof sos_ac);
    BitWriter b = { .out = a };
    for (gsize left = blocks; left > 0;) {
      gsize run = MIN(left, 32767);
      int r = 0;
      while (((gsize)2 << r) <= run)
        r++;
      bits_put(&b, (guint32)r, 4);
      if (r)
        bits_put(&b, (guint32)(run - ((gsize)1 << r)), r);
      left -= run;
    }
    bits_flush(&b);
  }
  const guint8 eoi[] = { 0xFF, 0xD9 };
  append(a, eoi, sizeof eoi);
  return g_byte_array_free_to_bytes(a);
}

/* ---- PNG ---------------------------------------------------------------- */

static void
put32(GByteArray *b, guint32 v)
{
  const guint8 x[4] = { (guint8)(v >> 24), (guint8)(v >> 16), (guint8)(v >> 8),
                        (guint8)v };
  g_byte_array_append(b, x, 4);
}

static void
png_chunk(GByteArray *b, const char *type, const guint8 *data, gsize n)
{
  put32(b, (guint32)n);
  gsize start = b->len;
  g_byte_array_append(b, (const guint8 *)type, 4);
  if (n)
    g_byte_array_append(b, data, (guint)n);
  put32(b, (guint32)crc32(0, b->data + start, (uInt)(n + 4)));
}

static GByteArray *
png_start(int w, int h, int depth, int color_type, gboolean interlaced)
{
  GByteArray *b = g_byte_array_new();
  static const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
  g_byte_array_append(b, sig, 8);
  guint8 ihdr[13] = { 0 };
  for (int i = 0; i < 4; i++) {
    ihdr[i] = (guint8)((guint32)w >> (24 - 8 * i));
    ihdr[4 + i] = (guint8)((guint32)h >> (24 - 8 * i));
  }
  ihdr[8] = (guint8)depth;
  ihdr[9] = (guint8)color_type;
  ihdr[12] = interlaced ? 1 : 0;
  png_chunk(b, "IHDR", ihdr, 13);
  return b;
}

static int
png_channels(int color_type)
{
  switch (color_type) {
  case 0: return 1;
  case 2: return 3;
  case 3: return 1;
  case 4: return 2;
  case 6: return 4;
  }
  ck_abort_msg("fixture: colour type %d", color_type);
  return 0;
}

GBytes *
fix_png_encode(int w, int h, int depth, int color_type, const guint8 *rows,
               gsize row_bytes, const guint8 *plte, int n_plte,
               gboolean interlaced)
{
  GByteArray *b = png_start(w, h, depth, color_type, interlaced);
  if (plte)
    png_chunk(b, "PLTE", plte, (gsize)n_plte * 3);
  /* The filtered stream: filter byte 0 before each row (of each pass). */
  GByteArray *raw = g_byte_array_new();
  const guint8 zero = 0;
  if (!interlaced) {
    for (int y = 0; y < h; y++) {
      g_byte_array_append(raw, &zero, 1);
      append(raw, rows + (gsize)y * row_bytes, row_bytes);
    }
  } else {
    int bits = depth * png_channels(color_type);
    ck_assert_msg(bits % 8 == 0, "fixture: interlaced sub-byte pixels");
    gsize bpp = (gsize)bits / 8;
    static const int pass[7][4] = { { 0, 0, 8, 8 }, { 4, 0, 8, 8 },
                                    { 0, 4, 4, 8 }, { 2, 0, 4, 4 },
                                    { 0, 2, 2, 4 }, { 1, 0, 2, 2 },
                                    { 0, 1, 1, 2 } };
    for (int p = 0; p < 7; p++) {
      int x0 = pass[p][0], y0 = pass[p][1], dx = pass[p][2], dy = pass[p][3];
      if (x0 >= w || y0 >= h)
        continue;
      for (int y = y0; y < h; y += dy) {
        g_byte_array_append(raw, &zero, 1);
        for (int x = x0; x < w; x += dx)
          append(raw, rows + (gsize)y * row_bytes + (gsize)x * bpp, bpp);
      }
    }
  }
  uLongf zlen = compressBound(raw->len);
  guint8 *z = g_malloc(zlen);
  ck_assert_int_eq(compress2(z, &zlen, raw->data, raw->len, 6), Z_OK);
  png_chunk(b, "IDAT", z, zlen);
  png_chunk(b, "IEND", NULL, 0);
  g_free(z);
  g_byte_array_unref(raw);
  return g_byte_array_free_to_bytes(b);
}

GBytes *
fix_png_blank(int w, int h, int depth, int color_type)
{
  GByteArray *b = png_start(w, h, depth, color_type, FALSE);
  gsize row_bytes = ((gsize)w * (gsize)depth * png_channels(color_type) + 7) /
                    8;
  guint8 *row = g_malloc0(row_bytes + 1); /* filter byte 0, zeros */
  GByteArray *z = g_byte_array_new();
  z_stream s = { 0 };
  ck_assert_int_eq(deflateInit(&s, 9), Z_OK);
  guint8 out[65536];
  for (int y = 0; y <= h; y++) {
    s.next_in = row;
    s.avail_in = y < h ? (uInt)(row_bytes + 1) : 0;
    int flush = y < h ? Z_NO_FLUSH : Z_FINISH;
    do {
      s.next_out = out;
      s.avail_out = sizeof out;
      int rc = deflate(&s, flush);
      ck_assert(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
      g_byte_array_append(z, out, (guint)(sizeof out - s.avail_out));
    } while (s.avail_out == 0);
  }
  deflateEnd(&s);
  png_chunk(b, "IDAT", z->data, z->len);
  png_chunk(b, "IEND", NULL, 0);
  g_byte_array_unref(z);
  g_free(row);
  return g_byte_array_free_to_bytes(b);
}

/* ---- BMP ---------------------------------------------------------------- */

static void
le16(GByteArray *b, guint v)
{
  const guint8 x[2] = { (guint8)v, (guint8)(v >> 8) };
  g_byte_array_append(b, x, 2);
}

static void
le32(GByteArray *b, guint32 v)
{
  const guint8 x[4] = { (guint8)v, (guint8)(v >> 8), (guint8)(v >> 16),
                        (guint8)(v >> 24) };
  g_byte_array_append(b, x, 4);
}

static void
set32(GByteArray *b, gsize at, guint32 v)
{
  for (int i = 0; i < 4; i++)
    b->data[at + i] = (guint8)(v >> (8 * i));
}

/* File and info headers up to the palette/masks; the offsets are patched
 * by bmp_finish. */
static GByteArray *
bmp_start(int w, int h, int bpp, guint32 compression, gboolean top_down,
          int header_size, const guint32 *masks, int n_colors)
{
  GByteArray *b = g_byte_array_new();
  g_byte_array_append(b, (const guint8 *)"BM", 2);
  le32(b, 0); /* file size */
  le32(b, 0);
  le32(b, 0); /* data offset */
  le32(b, (guint32)header_size);
  if (header_size == 12) {
    le16(b, (guint)w);
    le16(b, (guint)h);
    le16(b, 1);
    le16(b, (guint)bpp);
    return b;
  }
  le32(b, (guint32)w);
  le32(b, (guint32)(top_down ? -h : h));
  le16(b, 1);
  le16(b, (guint)bpp);
  le32(b, compression);
  le32(b, 0); /* image size: may be 0 for BI_RGB */
  le32(b, 2835);
  le32(b, 2835);
  le32(b, (guint32)n_colors);
  le32(b, 0);
  if (header_size > 40) {
    for (int i = 0; i < 3; i++)
      le32(b, masks ? masks[i] : 0);
    le32(b, 0); /* alpha mask */
    while (b->len < 14 + (guint)header_size)
      g_byte_array_append(b, (const guint8 *)"\0", 1);
  } else if (masks) {
    for (int i = 0; i < 3; i++)
      le32(b, masks[i]);
  }
  return b;
}

static GBytes *
bmp_finish(GByteArray *b, gsize data_off)
{
  set32(b, 2, b->len);
  set32(b, 10, (guint32)data_off);
  return g_byte_array_free_to_bytes(b);
}

GBytes *
fix_bmp_encode_rgb(const guint8 *px, int w, int h, int bpp,
                   gboolean bitfields, gboolean top_down, int header_size)
{
  /* Bit fields: 5-6-5 for 16 bits, R G B in the low bytes (RGBX order,
   * not the usual BGRX) for 32. */
  static const guint32 m16[3] = { 0xF800, 0x07E0, 0x001F };
  static const guint32 m32[3] = { 0x000000FF, 0x0000FF00, 0x00FF0000 };
  const guint32 *masks = bitfields ? (bpp == 16 ? m16 : m32) : NULL;
  GByteArray *b = bmp_start(w, h, bpp, bitfields ? 3 : 0, top_down,
                            header_size, masks, 0);
  gsize data_off = b->len;
  gsize row_bytes = ((gsize)w * (gsize)bpp + 31) / 32 * 4;
  guint8 *row = g_malloc0(row_bytes);
  for (int yy = 0; yy < h; yy++) {
    int y = top_down ? yy : h - 1 - yy;
    memset(row, 0, row_bytes);
    for (int x = 0; x < w; x++) {
      const guint8 *p = px + ((gsize)y * w + x) * 3;
      guint32 v;
      switch (bpp) {
      case 24:
        row[3 * x] = p[2];
        row[3 * x + 1] = p[1];
        row[3 * x + 2] = p[0];
        break;
      case 32:
        v = bitfields ? (guint32)p[0] | (guint32)p[1] << 8 |
                            (guint32)p[2] << 16
                      : (guint32)p[2] | (guint32)p[1] << 8 |
                            (guint32)p[0] << 16 | 0xAA000000u;
        for (int k = 0; k < 4; k++)
          row[4 * x + k] = (guint8)(v >> (8 * k));
        break;
      case 16:
        v = bitfields ? (guint32)(p[0] >> 3) << 11 | (guint32)(p[1] >> 2) << 5 |
                            (guint32)(p[2] >> 3)
                      : (guint32)(p[0] >> 3) << 10 | (guint32)(p[1] >> 3) << 5 |
                            (guint32)(p[2] >> 3);
        row[2 * x] = (guint8)v;
        row[2 * x + 1] = (guint8)(v >> 8);
        break;
      default: ck_abort_msg("fixture: bmp bpp %d", bpp);
      }
    }
    append(b, row, row_bytes);
  }
  g_free(row);
  return bmp_finish(b, data_off);
}

static void
bmp_palette(GByteArray *b, const guint8 *plte, int n_plte)
{
  for (int i = 0; i < n_plte; i++) {
    const guint8 e[4] = { plte[3 * i + 2], plte[3 * i + 1], plte[3 * i], 0 };
    append(b, e, 4);
  }
}

/* One row of RLE8/RLE4: runs of equal indices, absolute blocks for
 * stretches without repeats, then end of line. */
static void
rle_row(GByteArray *b, const guint8 *r, int w, gboolean rle4)
{
  int x = 0;
  while (x < w) {
    int run = 1;
    while (x + run < w && run < 255 && r[x + run] == r[x])
      run++;
    if (run >= 2 || w - x < 3) {
      const guint8 code[2] = { (guint8)run,
                               rle4 ? (guint8)(r[x] << 4 | r[x]) : r[x] };
      append(b, code, 2);
      x += run;
      continue;
    }
    int n = 1;
    while (x + n < w && n < 255 &&
           (x + n + 1 >= w || r[x + n] != r[x + n + 1]))
      n++;
    if (n < 3) {
      const guint8 code[2] = { 1, rle4 ? (guint8)(r[x] << 4 | r[x]) : r[x] };
      append(b, code, 2);
      x++;
      continue;
    }
    const guint8 code[2] = { 0, (guint8)n };
    append(b, code, 2);
    gsize bytes = rle4 ? ((gsize)n + 1) / 2 : (gsize)n;
    guint8 block[256] = { 0 };
    for (int k = 0; k < n; k++) {
      if (rle4)
        block[k / 2] |= (guint8)(r[x + k] << ((k & 1) ? 0 : 4));
      else
        block[k] = r[x + k];
    }
    append(b, block, (bytes + 1) & ~(gsize)1);
    x += n;
  }
  const guint8 eol[2] = { 0, 0 };
  append(b, eol, 2);
}

GBytes *
fix_bmp_encode_indexed(const guint8 *idx, int w, int h, const guint8 *plte,
                       int n_plte, int bpp, gboolean rle, gboolean top_down)
{
  guint32 compression = rle ? (bpp == 8 ? 1 : 2) : 0;
  GByteArray *b = bmp_start(w, h, bpp, compression, top_down, 40, NULL,
                            n_plte);
  bmp_palette(b, plte, n_plte);
  gsize data_off = b->len;
  if (rle) {
    ck_assert(!top_down);
    for (int y = h - 1; y >= 0; y--)
      rle_row(b, idx + (gsize)y * w, w, bpp == 4);
    const guint8 eob[2] = { 0, 1 };
    append(b, eob, 2);
    return bmp_finish(b, data_off);
  }
  gsize row_bytes = ((gsize)w * (gsize)bpp + 31) / 32 * 4;
  guint8 *row = g_malloc(row_bytes);
  for (int yy = 0; yy < h; yy++) {
    int y = top_down ? yy : h - 1 - yy;
    memset(row, 0, row_bytes);
    for (int x = 0; x < w; x++) {
      guint8 v = idx[(gsize)y * w + x];
      if (bpp == 8)
        row[x] = v;
      else if (bpp == 4)
        row[x / 2] |= (guint8)(v << ((x & 1) ? 0 : 4));
      else
        row[x / 8] |= (guint8)((v & 1) << (7 - x % 8));
    }
    append(b, row, row_bytes);
  }
  g_free(row);
  return bmp_finish(b, data_off);
}

GBytes *
fix_bmp_rle_bomb(int w, int h, gboolean rle4)
{
  int bpp = rle4 ? 4 : 8;
  GByteArray *b = bmp_start(w, h, bpp, rle4 ? 2 : 1, FALSE, 40, NULL, 16);
  guint8 plte[16 * 3];
  for (int i = 0; i < 16 * 3; i++)
    plte[i] = (guint8)(i * 5);
  bmp_palette(b, plte, 16);
  gsize data_off = b->len;
  const guint8 eob[2] = { 0, 1 };
  append(b, eob, 2);
  return bmp_finish(b, data_off);
}

/* ---- the hostile set ---------------------------------------------------- */

static GBytes *
hostile_jpeg(int comps, J_COLOR_SPACE space, int h0, int v0, int h1, int v1,
             int h2, int v2, gboolean progressive)
{
  const int w = 96, h = 72;
  guint8 *px = g_malloc((gsize)w * h * 4);
  for (int i = 0; i < w * h * comps; i++)
    px[i] = (guint8)(i * 7 + (i / (w * comps)) * 3);
  FixJpeg o = { .components = comps, .jpeg_space = space,
                .progressive = progressive,
                .h_samp = { h0, h1, h2, h0 }, .v_samp = { v0, v1, v2, v0 } };
  GBytes *b = fix_jpeg_encode(px, w, h, &o);
  g_free(px);
  return b;
}

FixHostile *
fix_hostile_set(int *n)
{
  GBytes *base = hostile_jpeg(3, JCS_YCbCr, 2, 2, 1, 1, 1, 1, FALSE);
  gsize base_n;
  const guint8 *base_d = g_bytes_get_data(base, &base_n);
  guint8 *rgb = g_malloc(64 * 48 * 3);
  for (gsize i = 0; i < 64 * 48 * 3; i++)
    rgb[i] = (guint8)(i * 13);
  guint8 *idx = g_malloc(80 * 50);
  for (gsize i = 0; i < 80 * 50; i++)
    idx[i] = (guint8)((i / 7) % 16);
  guint8 plte[16 * 3];
  for (gsize i = 0; i < sizeof plte; i++)
    plte[i] = (guint8)(i * 5);
  const FixHostile set[] = {
    { "ycc-440.jpg", hostile_jpeg(3, JCS_YCbCr, 1, 2, 1, 1, 1, 1, FALSE),
      NULL, 200 },
    { "ycc-411.jpg", hostile_jpeg(3, JCS_YCbCr, 4, 1, 1, 1, 1, 1, FALSE),
      NULL, 200 },
    { "rgb-411.jpg", hostile_jpeg(3, JCS_RGB, 4, 1, 1, 1, 1, 1, FALSE), NULL,
      200 },
    { "luma-1x4.jpg", hostile_jpeg(3, JCS_YCbCr, 1, 4, 1, 1, 1, 1, FALSE),
      NULL, 200 },
    { "mixed.jpg", hostile_jpeg(3, JCS_YCbCr, 2, 2, 1, 1, 2, 1, FALSE), NULL,
      200 },
    { "progressive-440.jpg",
      hostile_jpeg(3, JCS_YCbCr, 1, 2, 1, 1, 1, 1, TRUE), NULL, 200 },
    { "progressive-rgb-411.jpg",
      hostile_jpeg(3, JCS_RGB, 4, 1, 1, 1, 1, 1, TRUE), NULL, 200 },
    { "ycck.jpg", hostile_jpeg(4, JCS_YCCK, 2, 2, 1, 1, 1, 1, FALSE), NULL,
      200 },
    { "cmyk.jpg", hostile_jpeg(4, JCS_CMYK, 1, 1, 1, 1, 1, 1, FALSE), NULL,
      200 },
    { "sof1-12bit.jpg", fix_jpeg_edit_sof(base, 0xC1, 12),
      "unsupported JPEG: 12-bit samples", 415 },
    { "sof1-16bit.jpg", fix_jpeg_edit_sof(base, 0xC1, 16),
      "unsupported JPEG: 16-bit samples", 415 },
    { "lossless.jpg", fix_jpeg_edit_sof(base, 0xC3, 0), "lossless", 415 },
    { "truncated.jpg", g_bytes_new(base_d, base_n / 2), "truncated JPEG",
      400 },
    { "scan-bomb.jpg", fix_jpeg_scan_bomb(4096, 4096, 5000),
      "more than 100 scans", 413 },
    { "interlaced16.png",
      fix_png_encode(32, 16, 16, 2, rgb, 32 * 6, NULL, 0, TRUE), NULL, 200 },
    { "png-bomb-small.png", fix_png_blank(3000, 2000, 16, 6), NULL, 200 },
    { "rle4.bmp", fix_bmp_encode_indexed(idx, 80, 50, plte, 16, 4, TRUE,
                                         FALSE), NULL, 200 },
    { "rle-bomb-small.bmp", fix_bmp_rle_bomb(4000, 3000, TRUE), NULL, 200 },
    { "bitfields.bmp", fix_bmp_encode_rgb(rgb, 64, 48, 32, TRUE, FALSE, 124),
      NULL, 200 },
    { "anim.gif", g_bytes_new_static("GIF89a\1\0\1\0\0\0\0;", 14),
      "unsupported image format: GIF", 415 },
  };
  *n = (int)G_N_ELEMENTS(set);
  FixHostile *out = g_memdup2(set, sizeof set);
  g_bytes_unref(base);
  g_free(idx);
  g_free(rgb);
  return out;
}

void
fix_hostile_free(FixHostile *set, int n)
{
  for (int i = 0; i < n; i++)
    g_bytes_unref(set[i].bytes);
  g_free(set);
}
