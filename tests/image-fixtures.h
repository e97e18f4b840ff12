/* streamsight — hostile and ordinary still images generated in the tests
 * (test-image, test-classify, test-decode-bombs): JPEGs of every sampling,
 * colour space and coding from libjpeg's own compressor, headers edited by
 * hand for what it cannot write (12/16-bit, lossless), scan bombs; PNGs and
 * BMPs from small writers of our own (deflate by zlib), decompression
 * bombs of each. All return new GBytes; nothing is read from disk.
 */
#ifndef SS_IMAGE_FIXTURES_H
#define SS_IMAGE_FIXTURES_H

#include <glib.h>
#include <stdio.h>

#include <jpeglib.h>

typedef struct {
  int components;           /* samples a pixel in px and in the file: 1, 3, 4 */
  J_COLOR_SPACE jpeg_space; /* JCS_GRAYSCALE, JCS_YCbCr, JCS_RGB, JCS_CMYK,
                             * JCS_YCCK; JCS_UNKNOWN: libjpeg's default */
  int h_samp[4], v_samp[4]; /* 0: libjpeg's defaults (2x2,1x1,1x1) */
  gboolean progressive;     /* jpeg_simple_progression */
  gboolean arithmetic;      /* SOF9/SOF10 */
  int quality;              /* 0: 95 */
  int restart_rows;         /* restart markers every n MCU rows (0: none) */
} FixJpeg;

/* Compresses px (w x h x o->components, packed; for CMYK/YCCK the four
 * samples as stored, i.e. Adobe-inverted) with libjpeg. */
GBytes *fix_jpeg_encode(const guint8 *px, int w, int h, const FixJpeg *o);

/* A copy of jpg with its frame header's marker (0: unchanged, e.g. 0xC1,
 * 0xC3) and sample precision (0: unchanged) replaced. */
GBytes *fix_jpeg_edit_sof(GBytes *jpg, int marker, int precision);

/* A progressive 8-bit grey JPEG of w x h (multiples of 8) made by hand: a
 * DC scan, then n_scans empty AC scans (end-of-band runs); about 130 bytes a
 * scan plus w * h / 512 bytes. A "scan bomb" for large n_scans. */
GBytes *fix_jpeg_scan_bomb(int w, int h, int n_scans);

/* PNG of h rows of row_bytes (the packed samples as PNG lays them out),
 * depth and colour type as in IHDR; plte: n_plte RGB entries or NULL.
 * interlaced: Adam7 (only for depth * channels a multiple of 8). */
GBytes *fix_png_encode(int w, int h, int depth, int color_type,
                       const guint8 *rows, gsize row_bytes,
                       const guint8 *plte, int n_plte, gboolean interlaced);
/* A PNG of w x h zero samples (deflated row by row: a few hundred KB even
 * for 16384 x 6100 RGBA16). A decompression bomb. */
GBytes *fix_png_blank(int w, int h, int depth, int color_type);

/* Uncompressed BMP of packed RGB px: bpp 16 (5-5-5 BI_RGB, or 5-6-5 with
 * bitfields), 24 or 32 (BGRX, or bitfields); header_size 12, 40, 108, 124. */
GBytes *fix_bmp_encode_rgb(const guint8 *px, int w, int h, int bpp,
                           gboolean bitfields, gboolean top_down,
                           int header_size);
/* Palette BMP of indices idx (w x h): bpp 1, 4, 8; rle: RLE8 (bpp 8) or
 * RLE4 (bpp 4), runs and absolute blocks. */
GBytes *fix_bmp_encode_indexed(const guint8 *idx, int w, int h,
                               const guint8 *plte, int n_plte, int bpp,
                               gboolean rle, gboolean top_down);
/* An RLE4 (or RLE8) BMP of w x h that is only its headers, a 16-entry
 * palette and an end-of-bitmap code: ~120 bytes. */
GBytes *fix_bmp_rle_bomb(int w, int h, gboolean rle4);

/* The hostile set both `streamsight classify` (test-classify) and
 * POST /api/v1/classify (test-decode-bombs) get: the JPEG samplings that
 * crashed the GStreamer decoder, colour spaces, unsupported frame types,
 * truncation, a scan bomb, small PNG/RLE bombs, BMP layouts, a GIF. */
typedef struct {
  const char *name;   /* a file name, e.g. "ycc-440.jpg" */
  GBytes *bytes;
  const char *error;  /* NULL: classified; else a part of the message */
  int http_status;    /* what /classify answers: 200, 400, 413, 415 */
} FixHostile;

/* Fills a new array of *n entries; free with fix_hostile_free. */
FixHostile *fix_hostile_set(int *n);
void fix_hostile_free(FixHostile *set, int n);

#endif
