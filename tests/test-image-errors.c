/* streamsight — pipeline/image-decode.c on bad input: missing files and
 * ones that are not regular, empty, text and random bytes, truncations of
 * every format at several points, header fields that make no sense, and
 * images over the size limit: each a clear error with its code, from a file
 * and from memory (image-decode-fixture.c).
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

/* ---- errors ------------------------------------------------------------- */

static GBytes *
small_jpeg(void)
{
  guint8 *px = make_pattern(32, 24, PATTERN_SMOOTH, 0);
  GBytes *b = encode_frame("RGB", px, 32, 24, "jpegenc quality=90");
  g_free(px);
  return b;
}

START_TEST(test_error_missing_and_not_regular)
{
  char *missing = g_build_filename(tu_tmp_dir(), "no-such-file.jpg", NULL);
  expect_error(missing, IMAGE_DECODE_ERROR_IO, "no-such-file.jpg");
  g_free(missing);
  expect_error(tu_tmp_dir(), IMAGE_DECODE_ERROR_IO, "not a regular file");
}
END_TEST

START_TEST(test_error_empty_text_random)
{
  expect_bytes_error("empty.jpg", "", 0, IMAGE_DECODE_ERROR_FORMAT, "empty");
  const char *text = "This is a text file, not an image.\nSecond line.\n";
  expect_bytes_error("text.jpg", text, strlen(text),
                     IMAGE_DECODE_ERROR_FORMAT, "image");
  guint8 noise[4096];
  struct tu_rng rng;
  tu_rng_seed(&rng, 99);
  for (size_t i = 0; i < sizeof noise; i++)
    noise[i] = (guint8)(tu_rng_u32(&rng) >> 24);
  noise[0] = 0x00; /* not by chance a known signature */
  expect_bytes_error("noise.png", noise, sizeof noise,
                     IMAGE_DECODE_ERROR_FORMAT, NULL);
  /* From memory too. */
  RgbImage img = { 0 };
  GError *err = NULL;
  ck_assert(!image_decode_buffer((const guint8 *)text, strlen(text), &img,
                                 &err));
  ck_assert(g_error_matches(err, IMAGE_DECODE_ERROR,
                            IMAGE_DECODE_ERROR_FORMAT));
  g_clear_error(&err);
  ck_assert(!image_decode_buffer(NULL, 0, &img, &err));
  ck_assert(g_error_matches(err, IMAGE_DECODE_ERROR,
                            IMAGE_DECODE_ERROR_FORMAT));
  g_clear_error(&err);
}
END_TEST

/* Truncations at several points of each format: all FORMAT errors. */
START_TEST(test_error_truncated)
{
  GBytes *jpg = small_jpeg();
  guint8 *px = make_pattern(32, 24, PATTERN_NOISE, 3);
  GBytes *png = encode_frame("RGB", px, 32, 24, "pngenc");
  GBytes *bmp = fix_bmp_encode_rgb(px, 32, 24, 24, FALSE, FALSE, 40);
  g_free(px);
  GBytes *all[3] = { jpg, png, bmp };
  const char *names[3] = { "cut.jpg", "cut.png", "cut.bmp" };
  static const double fractions[] = { 0.999, 0.75, 0.5, 0.1 };
  for (int f = 0; f < 3; f++) {
    if (!all[f])
      continue;
    gsize size;
    const guint8 *d = g_bytes_get_data(all[f], &size);
    for (size_t k = 0; k < G_N_ELEMENTS(fractions); k++) {
      gsize cut = (gsize)((double)size * fractions[k]);
      if (cut == size)
        cut = size - 1;
      printf("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes\n",
             names[f], cut, size);
      expect_bytes_error(names[f], d, cut, IMAGE_DECODE_ERROR_FORMAT, NULL);
    }
    expect_bytes_error(names[f], d, 12, IMAGE_DECODE_ERROR_FORMAT, NULL);
    g_bytes_unref(all[f]);
  }
}
END_TEST

/* Header fields that make no sense: the decoder must fail cleanly. */
START_TEST(test_error_corrupt)
{
  GBytes *jpg = small_jpeg();
  gsize size;
  const guint8 *d = g_bytes_get_data(jpg, &size);
  guint8 *bad = g_memdup2(d, size);
  /* Every Huffman table (DHT) body overwritten: libjpeg rejects the
   * tables. */
  for (gsize i = 2; i + 4 < size; i++)
    if (bad[i] == 0xFF && bad[i + 1] == 0xC4) {
      gsize len = (gsize)bad[i + 2] << 8 | bad[i + 3];
      for (gsize j = i + 4; j < i + 2 + len && j < size; j++)
        bad[j] = 0xFF;
    }
  expect_bytes_error("bad-dht.jpg", bad, size, IMAGE_DECODE_ERROR_FORMAT,
                     NULL);
  /* Frame header with 0 components. */
  memcpy(bad, d, size);
  for (gsize i = 2; i + 10 < size; i++)
    if (bad[i] == 0xFF && bad[i + 1] == 0xC0) {
      bad[i + 9] = 0;
      break;
    }
  expect_bytes_error("bad-sof.jpg", bad, size, IMAGE_DECODE_ERROR_FORMAT,
                     "Empty JPEG image");
  g_free(bad);
  /* A start-of-image marker inside the scan data (GStreamer's jpegdec spun
   * forever on one: tests/fuzz/regressions/image/soi-inside-scan.jpg):
   * libjpeg refuses the file. */
  bad = g_malloc(size + 2);
  gsize at = 0;
  for (gsize i = 2; i + 4 < size; i++)
    if (d[i] == 0xFF && d[i + 1] == 0xDA) {
      at = i + 2 + ((gsize)d[i + 2] << 8 | d[i + 3]) + 4;
      break;
    }
  ck_assert(at > 0 && at < size);
  memcpy(bad, d, at);
  bad[at] = 0xFF;
  bad[at + 1] = 0xD8;
  memcpy(bad + at + 2, d + at, size - at);
  expect_bytes_error("soi-in-scan.jpg", bad, size + 2,
                     IMAGE_DECODE_ERROR_FORMAT, "two SOI markers");
  g_free(bad);
  g_bytes_unref(jpg);

  /* PNG whose image data CRC is wrong. */
  guint8 *px = make_pattern(16, 16, PATTERN_NOISE, 4);
  GBytes *png = encode_frame("RGB", px, 16, 16, "pngenc");
  g_free(px);
  d = g_bytes_get_data(png, &size);
  bad = g_memdup2(d, size);
  for (gsize i = 8; i + 8 < size; i++)
    if (memcmp(bad + i, "IDAT", 4) == 0) {
      bad[i + 6] ^= 0x55; /* inside the zlib stream */
      break;
    }
  expect_bytes_error("bad-crc.png", bad, size, IMAGE_DECODE_ERROR_FORMAT,
                     NULL);
  g_free(bad);
  g_bytes_unref(png);
}
END_TEST

START_TEST(test_error_too_large)
{
  /* A PNG header claiming 20000 x 16: refused before decoding. */
  guint8 png[8 + 25 + 12] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
  guint8 *p = png + 8;
  const guint8 ihdr[25] = { 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0x4E,
                            0x20, 0, 0, 0, 16, 8, 2, 0, 0, 0, 0, 0, 0, 0 };
  memcpy(p, ihdr, sizeof ihdr);
  const guint8 iend[12] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D',
                            0xAE, 0x42, 0x60, 0x82 };
  memcpy(p + 25, iend, sizeof iend);
  expect_bytes_error("wide.png", png, sizeof png,
                     IMAGE_DECODE_ERROR_TOO_LARGE, "20000x16");
  /* 10001 x 10001 is within the side limit but over 100 Mpixel. */
  p[8] = 0;
  p[9] = 0;
  p[10] = 0x27;
  p[11] = 0x11;
  p[12] = 0;
  p[13] = 0;
  p[14] = 0x27;
  p[15] = 0x11;
  expect_bytes_error("big.png", png, sizeof png,
                     IMAGE_DECODE_ERROR_TOO_LARGE, "10001x10001");

  /* A minimal JPEG (SOI, SOF0 17000 x 8, SOS, EOI). */
  const guint8 jpg[] = { 0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00,
                         0x08, 0x42, 0x68, 0x01, 0x01, 0x11, 0x00, 0xFF,
                         0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F,
                         0x00, 0xFF, 0xD9 };
  expect_bytes_error("wide.jpg", jpg, sizeof jpg,
                     IMAGE_DECODE_ERROR_TOO_LARGE, "17000x8");

  /* A file over 64 MiB (sparse): refused before reading. */
  char *path = g_build_filename(tu_tmp_dir(), "huge.jpg", NULL);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, (off_t)65 * 1024 * 1024), 0);
  close(fd);
  expect_error(path, IMAGE_DECODE_ERROR_TOO_LARGE, "bytes");
  unlink(path);
  g_free(path);
}
END_TEST

static Suite *
image_errors_suite(void)
{
  Suite *s = suite_create("image-errors");
  TCase *tc = tcase_create("errors");
  tcase_add_test(tc, test_error_missing_and_not_regular);
  tcase_add_test(tc, test_error_empty_text_random);
  tcase_add_test(tc, test_error_truncated);
  tcase_add_test(tc, test_error_corrupt);
  tcase_add_test(tc, test_error_too_large);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return image_decode_fixture_main(image_errors_suite);
}
