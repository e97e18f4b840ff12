/* streamsight — the PNG and BMP layouts of the image-formats suite, the
 * "png" and "bmp" TCases (image-formats-fixture.h): interlaced PNG and
 * PNG bombs; every BMP bit depth, bitfield and palette layout, and hostile
 * run-length codes; all generated (image-fixtures.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-decode.h"
#include "image-fixtures.h"
#include "image-formats-fixture.h"
#include "testutil.h"

/* ---- PNG ---------------------------------------------------------------- */

/* Interlaced (Adam7) layouts, decoded row by row by libspng. Loop: 0 RGB8,
 * 1 RGB16, 2 RGBA16, 3 palette, 4 grey16. */
START_TEST(test_png_interlaced)
{
  static const struct {
    const char *name;
    int depth, color_type, bpp;
  } L[] = { { "rgb8", 8, 2, 3 },     { "rgb16", 16, 2, 6 },
            { "rgba16", 16, 6, 8 },  { "palette", 8, 3, 1 },
            { "grey16", 16, 0, 2 } };
  const int w = 37, h = 29; /* every pass non-empty, partial blocks */
  struct tu_rng rng;
  tu_rng_seed(&rng, 600 + (guint64)_i);
  gsize row_bytes = (gsize)w * L[_i].bpp;
  guint8 *rows = g_malloc(row_bytes * h);
  guint8 *want = g_malloc((gsize)w * h * 3);
  guint8 plte[256 * 3];
  for (int i = 0; i < 256 * 3; i++)
    plte[i] = (guint8)(tu_rng_u32(&rng) >> 24);
  for (gsize i = 0; i < row_bytes * h; i++)
    rows[i] = (guint8)(tu_rng_u32(&rng) >> 24);
  for (int i = 0; i < w * h; i++) {
    const guint8 *p = rows + (gsize)i * L[_i].bpp;
    guint8 *o = want + 3 * i;
    switch (_i) {
    case 0: memcpy(o, p, 3); break;
    case 1:
    case 2:
      for (int c = 0; c < 3; c++)
        o[c] = p[2 * c]; /* the high byte */
      break;
    case 3: memcpy(o, plte + 3 * p[0], 3); break;
    case 4: o[0] = o[1] = o[2] = p[0]; break;
    }
  }
  GBytes *png = fix_png_encode(w, h, L[_i].depth, L[_i].color_type, rows,
                               row_bytes, _i == 3 ? plte : NULL, 256, TRUE);
  RgbImage img = { 0 };
  decode_ok(png, NULL, &img, L[_i].name);
  ck_assert_int_eq(img.width, w);
  ck_assert_int_eq(img.height, h);
  for (int i = 0; i < w * h * 3; i++)
    ck_assert_msg(img.pixels[i] == want[i], "%s: byte %d is %d, want %d",
                  L[_i].name, i, img.pixels[i], want[i]);
  rgb_image_clear(&img);
  g_bytes_unref(png);
  g_free(want);
  g_free(rows);
}
END_TEST

/* A 16-bit RGBA PNG of 16384 x 6100 zeros: a few hundred KB that would be
 * 800 MB as 16-bit RGBA. The estimate is the RGB8 output plus rows; under
 * the server's 256 MB it is refused before decoding; a smaller one decodes
 * to black. */
START_TEST(test_png_bomb)
{
  GBytes *bomb = fix_png_blank(16384, 6100, 16, 6);
  gsize n;
  const guint8 *d = g_bytes_get_data(bomb, &n);
  printf("png bomb: %zu bytes\n", n);
  ImageDecodeInfo info;
  ck_assert(image_decode_probe(d, n, NULL, &info, NULL));
  guint64 out = (guint64)16384 * 6100 * 3;
  ck_assert_uint_ge(info.memory_bytes, out);
  ck_assert_uint_le(info.memory_bytes, out + ((guint64)4 << 20));
  ImageDecodeOptions server = { .max_memory_bytes = (guint64)256 << 20 };
  decode_fails(bomb, &server, IMAGE_DECODE_ERROR_TOO_LARGE, "MB to decode",
               "png bomb under 256 MB");
  g_bytes_unref(bomb);

  GBytes *small = fix_png_blank(2000, 1500, 16, 6);
  RgbImage img = { 0 };
  decode_ok(small, &server, &img, "2000x1500 RGBA16 zeros");
  gsize wrong = 0;
  for (gsize i = 0; i < img.stride * (gsize)img.height; i++)
    wrong += img.pixels[i] != 0;
  ck_assert_msg(wrong == 0, "%zu bytes are not 0", wrong);
  rgb_image_clear(&img);
  g_bytes_unref(small);

  /* Over the side limit: refused from the header, with the size. */
  GBytes *wide = fix_png_blank(20000, 2, 8, 0);
  decode_fails(wide, NULL, IMAGE_DECODE_ERROR_TOO_LARGE, "20000x2",
               "20000 wide");
  g_bytes_unref(wide);
}
END_TEST

/* ---- BMP ---------------------------------------------------------------- */

static guint8
q5(guint8 v)
{
  return (guint8)((v >> 3) * 255 / 31);
}

static guint8
q6(guint8 v)
{
  return (guint8)((v >> 2) * 255 / 63);
}

/* Uncompressed true-colour layouts. Loop index into the table. */
START_TEST(test_bmp_rgb_layouts)
{
  static const struct {
    const char *name;
    int bpp;
    gboolean bitfields, top_down;
    int header;
  } L[] = {
    { "24 info", 24, 0, 0, 40 },     { "24 top-down", 24, 0, 1, 40 },
    { "24 core header", 24, 0, 0, 12 }, { "24 v4 header", 24, 0, 0, 108 },
    { "24 v5 header", 24, 0, 1, 124 }, { "32 BGRX", 32, 0, 0, 40 },
    { "32 bitfields RGBX", 32, 1, 0, 40 },
    { "32 bitfields v5", 32, 1, 1, 124 },
    { "16 5-5-5", 16, 0, 0, 40 },    { "16 bitfields 5-6-5", 16, 1, 0, 40 },
  };
  const int w = 23, h = 9; /* rows padded to 4 bytes */
  struct tu_rng rng;
  tu_rng_seed(&rng, 700 + (guint64)_i);
  guint8 *px = g_malloc((gsize)w * h * 3);
  for (int i = 0; i < w * h * 3; i++)
    px[i] = (guint8)(tu_rng_u32(&rng) >> 24);
  GBytes *bmp = fix_bmp_encode_rgb(px, w, h, L[_i].bpp, L[_i].bitfields,
                                   L[_i].top_down, L[_i].header);
  RgbImage img = { 0 };
  decode_ok(bmp, NULL, &img, L[_i].name);
  ck_assert_int_eq(img.width, w);
  ck_assert_int_eq(img.height, h);
  for (int i = 0; i < w * h; i++)
    for (int c = 0; c < 3; c++) {
      guint8 v = px[3 * i + c];
      guint8 want = L[_i].bpp != 16     ? v
                    : !L[_i].bitfields ? q5(v)
                    : c == 1           ? q6(v)
                                       : q5(v);
      ck_assert_msg(img.pixels[3 * i + c] == want,
                    "%s: pixel %d channel %d is %d, want %d", L[_i].name, i,
                    c, img.pixels[3 * i + c], want);
    }
  rgb_image_clear(&img);
  g_bytes_unref(bmp);
  g_free(px);
}
END_TEST

/* Palette layouts, uncompressed and RLE. Loop: 0 1-bit, 1 4-bit, 2 8-bit,
 * 3 8-bit top-down, 4 RLE8, 5 RLE4. The index image mixes long runs and
 * noise so that the RLE writer uses runs and absolute blocks. */
START_TEST(test_bmp_indexed)
{
  static const struct {
    const char *name;
    int bpp;
    gboolean rle, top_down;
  } L[] = { { "1-bit", 1, 0, 0 }, { "4-bit", 4, 0, 0 },
            { "8-bit", 8, 0, 0 }, { "8-bit top-down", 8, 0, 1 },
            { "RLE8", 8, 1, 0 },  { "RLE4", 4, 1, 0 } };
  const int w = 45, h = 11;
  int colors = 1 << L[_i].bpp;
  struct tu_rng rng;
  tu_rng_seed(&rng, 800 + (guint64)_i);
  guint8 plte[256 * 3];
  for (int i = 0; i < 256 * 3; i++)
    plte[i] = (guint8)(tu_rng_u32(&rng) >> 24);
  guint8 *idx = g_malloc((gsize)w * h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      idx[y * w + x] = (guint8)(x < 20 ? (guint32)(y * 3) % (guint32)colors
                                       : (tu_rng_u32(&rng) >> 24) %
                                             (guint32)colors);
  GBytes *bmp = fix_bmp_encode_indexed(idx, w, h, plte, colors, L[_i].bpp,
                                       L[_i].rle, L[_i].top_down);
  printf("bmp %s: %zu bytes\n", L[_i].name, g_bytes_get_size(bmp));
  RgbImage img = { 0 };
  decode_ok(bmp, NULL, &img, L[_i].name);
  for (int i = 0; i < w * h; i++)
    ck_assert_msg(memcmp(img.pixels + 3 * i, plte + 3 * idx[i], 3) == 0,
                  "%s: pixel %d is not palette entry %d", L[_i].name, i,
                  idx[i]);
  rgb_image_clear(&img);
  g_bytes_unref(bmp);
  g_free(idx);
}
END_TEST

/* RLE with hostile codes: runs past the row end, deltas out of the image,
 * absolute blocks past the data; and the 120-byte bomb. */
START_TEST(test_bmp_rle_hostile)
{
  GBytes *bomb = fix_bmp_rle_bomb(16384, 6100, TRUE);
  gsize n;
  const guint8 *d = g_bytes_get_data(bomb, &n);
  printf("rle4 bomb: %zu bytes\n", n);
  ck_assert_uint_le(n, 128);
  ImageDecodeInfo info;
  ck_assert(image_decode_probe(d, n, NULL, &info, NULL));
  /* The output and nothing else. */
  ck_assert_uint_le(info.memory_bytes, (guint64)16384 * 6100 * 3 + 4096);
  ImageDecodeOptions server = { .max_memory_bytes = (guint64)256 << 20 };
  decode_fails(bomb, &server, IMAGE_DECODE_ERROR_TOO_LARGE, "MB to decode",
               "rle4 bomb under 256 MB");
  g_bytes_unref(bomb);

  /* A smaller bomb decodes: every pixel palette entry 0, (0, 5, 10). */
  GBytes *small = fix_bmp_rle_bomb(3000, 2000, FALSE);
  RgbImage img = { 0 };
  decode_ok(small, &server, &img, "rle8 3000x2000 end-of-bitmap only");
  gsize wrong = 0;
  for (gsize i = 0; i < img.stride * (gsize)img.height; i++)
    wrong += img.pixels[i] != (i % 3) * 5;
  ck_assert_msg(wrong == 0, "%zu bytes are not palette entry 0", wrong);
  rgb_image_clear(&img);

  /* Hand-made codes over a 4 x 2 RLE8 image. */
  gsize hn;
  const guint8 *hd = g_bytes_get_data(small, &hn);
  gsize data_off = hd[10] | hd[11] << 8;
  GByteArray *a = g_byte_array_new();
  g_byte_array_append(a, hd, (guint)data_off);
  /* width 4, height 2 */
  a->data[18] = 4;
  a->data[19] = 0;
  a->data[22] = 2;
  a->data[23] = 0;
  const guint8 codes[] = {
    200, 3,          /* a run far past the row end: clipped */
    0, 0,            /* end of line */
    0, 2, 250, 250,  /* delta out of the image */
    0, 5, 1, 2, 3, 4, 5, 0, /* absolute block (clipped), padded */
    0, 1,            /* end of bitmap */
  };
  g_byte_array_append(a, codes, sizeof codes);
  GBytes *hand = g_bytes_new(a->data, a->len);
  decode_ok(hand, NULL, &img, "rle8 hostile codes");
  ck_assert_int_eq(img.width, 4);
  ck_assert_int_eq(img.height, 2);
  /* Bottom row (the last output row): palette entry 3. */
  for (int x = 0; x < 4; x++)
    ck_assert_int_eq(img.pixels[img.stride + 3 * x], 3 * 3 * 5);
  rgb_image_clear(&img);
  g_bytes_unref(hand);
  /* An absolute block that runs past the data. */
  a->len = (guint)data_off;
  const guint8 cut[] = { 0, 200, 1, 2 };
  g_byte_array_append(a, cut, sizeof cut);
  GBytes *bad = g_bytes_new(a->data, a->len);
  decode_fails(bad, NULL, IMAGE_DECODE_ERROR_FORMAT, "truncated BMP",
               "rle8 block past the data");
  g_bytes_unref(bad);
  g_byte_array_unref(a);
  g_bytes_unref(small);
}
END_TEST

TCase *
image_formats_png_tcase(void)
{
  TCase *tc = tcase_create("png");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_png_interlaced, 0, 5);
  tcase_add_test(tc, test_png_bomb);
  return tc;
}

TCase *
image_formats_bmp_tcase(void)
{
  TCase *tc = tcase_create("bmp");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_bmp_rgb_layouts, 0, 10);
  tcase_add_loop_test(tc, test_bmp_indexed, 0, 6);
  tcase_add_test(tc, test_bmp_rle_hostile);
  return tc;
}
