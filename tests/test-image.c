/* streamsight — tests of pipeline/image-decode.c: PNG, BMP and JPEG.
 *
 * Fixtures are generated at test time (image-decode-fixture.c): known pixel
 * patterns encoded with encoders other than our decoders' libraries
 * (GStreamer's pngenc and jpegenc, FFmpeg's avenc_bmp when gst-libav is
 * present, and a minimal PNG writer here for the layouts pngenc cannot
 * produce), written to a temporary directory and decoded back. PNG and BMP
 * are lossless, so their pixels must come back exactly; JPEG within a
 * tolerance. Errors: test-image-errors.c; preprocessing and the dev images
 * against the TFLite reference: test-image-preprocess.c. Every JPEG
 * sampling, colour space and coding, the formats refused, and the bombs are
 * in test-image-formats.c (PNG and BMP: test-image-formats-png-bmp.c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "image-decode-fixture.h"
#include "image-decode.h"
#include "image-fixtures.h"
#include "preprocess.h"
#include "testutil.h"

/* Sizes for the lossless sweeps: odd widths exercise row padding (GStreamer
 * rounds RGB rows up to 4 bytes). */
static const int sweep_sizes[][2] = { { 1, 1 }, { 7, 5 }, { 37, 23 },
                                      { 64, 48 } };
#define N_SWEEP (int)(sizeof sweep_sizes / sizeof sweep_sizes[0])

/* ---- PNG ---------------------------------------------------------------- */

START_TEST(test_png_rgb_exact)
{
  int w = sweep_sizes[_i][0], h = sweep_sizes[_i][1];
  guint64 seed = 1000 + (guint64)_i;
  printf("png rgb %dx%d seed %" G_GUINT64_FORMAT "\n", w, h, seed);
  guint8 *px = make_pattern(w, h, PATTERN_NOISE, seed);
  GBytes *png = encode_frame("RGB", px, w, h, "pngenc");
  RgbImage img = { 0 };
  decode_bytes_both_ways("rgb.png", png, &img);
  assert_pixels_exact(&img, px, w, h, "png rgb");
  rgb_image_clear(&img);
  ck_assert_ptr_null(img.pixels);
  g_bytes_unref(png);
  g_free(px);
}
END_TEST

START_TEST(test_png_rgba_drops_alpha)
{
  const int w = 19, h = 11;
  guint8 *rgb = make_pattern(w, h, PATTERN_NOISE, 77);
  guint8 *rgba = g_malloc((gsize)w * h * 4);
  for (int i = 0; i < w * h; i++) {
    memcpy(rgba + 4 * i, rgb + 3 * i, 3);
    rgba[4 * i + 3] = (guint8)(i * 37); /* alpha must not blend */
  }
  GBytes *png = encode_frame("RGBA", rgba, w, h, "pngenc");
  RgbImage img = { 0 };
  decode_bytes_both_ways("rgba.png", png, &img);
  assert_pixels_exact(&img, rgb, w, h, "png rgba");
  rgb_image_clear(&img);
  g_bytes_unref(png);
  g_free(rgba);
  g_free(rgb);
}
END_TEST

START_TEST(test_png_gray8_and_gray16)
{
  const int w = 13, h = 9;
  guint8 g8[13 * 9];
  guint8 g16[13 * 9 * 2];
  guint8 want[13 * 9 * 3];
  struct tu_rng rng;
  tu_rng_seed(&rng, 5);
  for (int i = 0; i < w * h; i++) {
    guint16 v = (guint16)(tu_rng_u32(&rng) >> 16);
    g8[i] = (guint8)(v >> 8);
    g16[2 * i] = (guint8)(v >> 8); /* big-endian */
    g16[2 * i + 1] = (guint8)v;
    want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = (guint8)(v >> 8);
  }
  GBytes *png8 = encode_frame("GRAY8", g8, w, h, "pngenc");
  RgbImage img = { 0 };
  decode_bytes_both_ways("gray8.png", png8, &img);
  assert_pixels_exact(&img, want, w, h, "png gray8 -> R=G=B");
  rgb_image_clear(&img);
  g_bytes_unref(png8);

  /* 16-bit samples keep their high byte (libpng's strip_16, PIL). */
  GBytes *png16 = encode_frame("GRAY16_BE", g16, w, h, "pngenc");
  decode_bytes_both_ways("gray16.png", png16, &img);
  assert_pixels_exact(&img, want, w, h, "png gray16 -> high byte");
  rgb_image_clear(&img);
  g_bytes_unref(png16);
}
END_TEST

/* Loop index: 0 16-bit RGB, 1 16-bit RGBA, 2 palette, 3 grey + alpha,
 * 4 4-bit grey, 5 1-bit grey, 6 16-bit grey + alpha. Expected: 16-bit samples keep their high
 * byte; palettes are looked up; alpha is dropped; grey g gives R=G=B=g,
 * sub-byte grey scaled to 0..255 (v * 255 / (2^depth - 1)). */
START_TEST(test_png_handmade_layouts)
{
  static const struct {
    const char *name;
    int depth, color_type, bytes_per_px; /* 0: sub-byte */
  } L[] = {
    { "rgb16", 16, 2, 6 },  { "rgba16", 16, 6, 8 }, { "palette", 8, 3, 1 },
    { "grey-alpha", 8, 4, 2 }, { "grey4", 4, 0, 0 }, { "grey1", 1, 0, 0 },
    { "grey-alpha16", 16, 4, 4 },
  };
  const int w = 21, h = 7; /* odd width: sub-byte rows end mid-byte */
  struct tu_rng rng;
  tu_rng_seed(&rng, 4242 + (guint64)_i);
  gsize row_bytes = L[_i].bytes_per_px
                        ? (gsize)w * L[_i].bytes_per_px
                        : ((gsize)w * L[_i].depth + 7) / 8;
  guint8 *rows = g_malloc0(row_bytes * h);
  guint8 *want = g_malloc((gsize)w * h * 3);
  guint8 plte[256 * 3];
  for (int i = 0; i < 256 * 3; i++)
    plte[i] = (guint8)(tu_rng_u32(&rng) >> 24);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *r = rows + (gsize)y * row_bytes;
      guint8 *o = want + ((gsize)y * w + x) * 3;
      guint32 v = tu_rng_u32(&rng);
      switch (_i) {
      case 0:
      case 1:
        for (int c = 0; c < L[_i].bytes_per_px; c++)
          r[x * L[_i].bytes_per_px + c] = (guint8)(tu_rng_u32(&rng) >> 24);
        for (int c = 0; c < 3; c++)
          o[c] = r[x * L[_i].bytes_per_px + 2 * c]; /* high byte */
        break;
      case 2:
        r[x] = (guint8)(v >> 24);
        memcpy(o, plte + 3 * r[x], 3);
        break;
      case 3:
        r[2 * x] = (guint8)(v >> 24);
        r[2 * x + 1] = (guint8)(v >> 16);
        o[0] = o[1] = o[2] = r[2 * x];
        break;
      case 6:
        for (int c = 0; c < 4; c++)
          r[4 * x + c] = (guint8)(tu_rng_u32(&rng) >> 24);
        o[0] = o[1] = o[2] = r[4 * x]; /* grey's high byte */
        break;
      case 4:
      case 5: {
        int depth = L[_i].depth, maxv = (1 << depth) - 1;
        int g = (int)(v >> 24) & maxv;
        int bit = x * depth;
        r[bit / 8] |= (guint8)(g << (8 - depth - bit % 8));
        o[0] = o[1] = o[2] = (guint8)(g * 255 / maxv);
        break;
      }
      }
    }
  printf("png %s %dx%d\n", L[_i].name, w, h);
  /* pngenc cannot write these layouts: image-fixtures.c's PNG writer. */
  GBytes *png = fix_png_encode(w, h, L[_i].depth, L[_i].color_type, rows,
                               row_bytes, _i == 2 ? plte : NULL, 256, FALSE);
  char *name = g_strdup_printf("%s.png", L[_i].name);
  RgbImage img = { 0 };
  decode_bytes_both_ways(name, png, &img);
  assert_pixels_exact(&img, want, w, h, name);
  rgb_image_clear(&img);
  g_free(name);
  g_bytes_unref(png);
  g_free(want);
  g_free(rows);
}
END_TEST

/* ---- BMP ---------------------------------------------------------------- */

/* FFmpeg's BMP encoder (24-bit BGR, bottom-up) against our reader. */
START_TEST(test_bmp_rgb_exact)
{
  if (!have_element("avenc_bmp"))
    return;
  int w = sweep_sizes[_i][0], h = sweep_sizes[_i][1];
  guint64 seed = 2000 + (guint64)_i;
  printf("bmp %dx%d seed %" G_GUINT64_FORMAT "\n", w, h, seed);
  guint8 *px = make_pattern(w, h, PATTERN_NOISE, seed);
  GBytes *bmp = encode_frame("RGB", px, w, h,
                             "videoconvert ! video/x-raw,format=BGR ! "
                             "avenc_bmp");
  RgbImage img = { 0 };
  decode_bytes_both_ways("rgb.bmp", bmp, &img);
  assert_pixels_exact(&img, px, w, h, "bmp");
  rgb_image_clear(&img);
  g_bytes_unref(bmp);
  g_free(px);
}
END_TEST

/* ---- JPEG --------------------------------------------------------------- */

/* Chroma layouts jpegenc writes for its input format (GStreamer's encoder
 * against libjpeg-turbo's decoder; libjpeg's own compressor writes every
 * other layout in test-image-formats.c). */
static const char *const jpeg_layouts[] = { "I420", "Y444", "Y42B" };
#define N_JPEG_LAYOUTS (int)G_N_ELEMENTS(jpeg_layouts)

/* Loop index: layout, then the size: 64 x 48 (whole MCUs) or 61 x 43
 * (partial MCUs, odd chroma sizes). */
START_TEST(test_jpeg_color_close)
{
  const char *layout = jpeg_layouts[_i % N_JPEG_LAYOUTS];
  gboolean odd = _i >= N_JPEG_LAYOUTS;
  const int w = odd ? 61 : 64, h = odd ? 43 : 48;
  guint8 *px = make_pattern(w, h, PATTERN_SMOOTH, 0);
  /* Full-range BT.601 as JFIF has it (videoconvert's default for YUV is
   * limited range, which jpegenc would not undo). */
  char *chain = g_strdup_printf("videoconvert dither=none ! "
                                "video/x-raw,format=%s,"
                                "colorimetry=(string)1:4:0:0 ! "
                                "jpegenc quality=100",
                                layout);
  GBytes *jpg = encode_frame("RGB", px, w, h, chain);
  RgbImage img = { 0 };
  char *name = g_strdup_printf("smooth-%s.jpg", layout);
  decode_bytes_both_ways(name, jpg, &img);
  /* Quality 100 on gradients: errors come from the YCbCr round trip
   * (videoconvert's and libjpeg's rounding, a few levels) and, with
   * subsampled chroma, from interpolating the gradient's chroma. With a
   * partial MCU, jpegenc's padding of the last block column adds ringing
   * to the last image column (up to 13 levels measured). PIL (libjpeg-
   * turbo) decodes these files to exactly the same values as we do. */
  assert_pixels_close(&img, px, w, h, odd ? 16 : 9, 1.6, name);
  rgb_image_clear(&img);
  g_free(name);
  g_free(chain);
  g_bytes_unref(jpg);
  g_free(px);
}
END_TEST

START_TEST(test_jpeg_grayscale)
{
  const int w = 32, h = 16; /* whole 8 x 8 blocks */
  guint8 g[32 * 16];
  guint8 want[32 * 16 * 3];
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int i = y * w + x;
      g[i] = (guint8)(20 + 6 * x + 2 * y);
      want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = g[i];
    }
  GBytes *jpg = encode_frame("GRAY8", g, w, h, "jpegenc quality=100");
  RgbImage img = { 0 };
  decode_bytes_both_ways("gray.jpg", jpg, &img);
  for (int i = 0; i < w * h; i++)
    ck_assert_msg(img.pixels[3 * i] == img.pixels[3 * i + 1] &&
                      img.pixels[3 * i + 1] == img.pixels[3 * i + 2],
                  "gray JPEG pixel %d is not R=G=B", i);
  /* Quality 100: only the DCT's rounding remains. */
  assert_pixels_close(&img, want, w, h, 3, 0.5, "gray jpeg");
  rgb_image_clear(&img);
  g_bytes_unref(jpg);
}
END_TEST

static Suite *
image_suite(void)
{
  Suite *s = suite_create("image");
  TCase *tc = tcase_create("png");
  tcase_add_loop_test(tc, test_png_rgb_exact, 0, N_SWEEP);
  tcase_add_test(tc, test_png_rgba_drops_alpha);
  tcase_add_test(tc, test_png_gray8_and_gray16);
  tcase_add_loop_test(tc, test_png_handmade_layouts, 0, 7);
  suite_add_tcase(s, tc);

  tc = tcase_create("bmp");
  tcase_add_loop_test(tc, test_bmp_rgb_exact, 0, N_SWEEP);
  suite_add_tcase(s, tc);

  tc = tcase_create("jpeg");
  tcase_add_loop_test(tc, test_jpeg_color_close, 0, 2 * N_JPEG_LAYOUTS);
  tcase_add_test(tc, test_jpeg_grayscale);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return image_decode_fixture_main(image_suite);
}
