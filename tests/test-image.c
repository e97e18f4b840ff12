/* streamsight — tests of pipeline/image-decode.c and inference/preprocess.c.
 *
 * Fixtures are generated at test time: known pixel patterns encoded with
 * encoders other than our decoders' libraries (GStreamer's pngenc and
 * jpegenc, FFmpeg's avenc_bmp when gst-libav is present, and the writers of
 * image-fixtures.c), written to a temporary directory and decoded back. PNG
 * and BMP are lossless, so their pixels must come back exactly; JPEG within
 * a tolerance. With STREAMSIGHT_TEST_DATA, the dev images are decoded and
 * preprocessed and compared with the SHA-256 of the TFLite reference's own
 * model inputs. Every JPEG sampling, colour space and coding, the formats
 * refused, and the bombs are in test-image-formats.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <jansson.h>

#include "image-decode.h"
#include "image-fixtures.h"
#include "preprocess.h"
#include "testutil.h"

/* ---- fixtures ----------------------------------------------------------- */

/* Fills a w x h RGB8 image (packed) with a pattern:
 *   PATTERN_NOISE: every byte from a seeded PRNG (lossless formats),
 *   PATTERN_SMOOTH: gentle gradients that JPEG keeps well. */
enum pattern { PATTERN_NOISE, PATTERN_SMOOTH };

static guint8 *
make_pattern(int w, int h, enum pattern p, guint64 seed)
{
  guint8 *px = g_malloc((gsize)w * h * 3);
  struct tu_rng rng;
  tu_rng_seed(&rng, seed);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *o = px + ((gsize)y * w + x) * 3;
      if (p == PATTERN_NOISE) {
        for (int c = 0; c < 3; c++)
          o[c] = (guint8)(tu_rng_u32(&rng) >> 24);
      } else {
        o[0] = (guint8)(40 + 160 * x / (w - 1));
        o[1] = (guint8)(200 - 150 * y / (h - 1));
        o[2] = (guint8)(60 + 60 * (x + y) / (w + h - 2));
      }
    }
  return px;
}

/* Encodes one raw frame with a GStreamer encoder chain and returns the
 * encoded bytes. `format` is the raw format of `px` (RGB: 3 bytes a pixel,
 * RGBA: 4, GRAY8: 1, GRAY16_BE: 2, big-endian), packed rows; `chain` is the
 * gst-launch text after appsrc, e.g. "videoconvert ! video/x-raw,format=Y444
 * ! jpegenc quality=100". NULL when an element is missing. */
static GBytes *
encode_frame(const char *format, const guint8 *px, int w, int h,
             const char *chain)
{
  GError *err = NULL;
  char *desc = g_strdup_printf("appsrc name=src ! %s ! appsink name=sink "
                               "sync=false",
                               chain);
  GstElement *pipe = gst_parse_launch(desc, &err);
  g_free(desc);
  if (!pipe) {
    printf("encoder chain '%s' not available: %s\n", chain,
           err ? err->message : "?");
    g_clear_error(&err);
    return NULL;
  }
  g_clear_error(&err);
  GstVideoInfo info;
  gst_video_info_set_format(&info, gst_video_format_from_string(format), w, h);
  GST_VIDEO_INFO_FPS_N(&info) = 0;
  GST_VIDEO_INFO_FPS_D(&info) = 1;
  GstCaps *caps = gst_video_info_to_caps(&info);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
  gst_caps_unref(caps);

  GstBuffer *buf = gst_buffer_new_allocate(NULL, info.size, NULL);
  gst_buffer_memset(buf, 0, 0, info.size); /* row padding: deterministic */
  GstVideoFrame f;
  ck_assert(gst_video_frame_map(&f, &info, buf, GST_MAP_WRITE));
  gsize bpp = GST_VIDEO_INFO_COMP_PSTRIDE(&info, 0);
  if (GST_VIDEO_INFO_N_COMPONENTS(&info) == 1 && bpp == 2)
    bpp = 2;
  for (int y = 0; y < h; y++)
    memcpy((guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) +
               (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0),
           px + (gsize)y * w * bpp, (gsize)w * bpp);
  gst_video_frame_unmap(&f);
  GST_BUFFER_PTS(buf) = 0;
  GST_BUFFER_DURATION(buf) = GST_SECOND;

  ck_assert_int_ne(gst_element_set_state(pipe, GST_STATE_PLAYING),
                   GST_STATE_CHANGE_FAILURE);
  gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink),
                                              10 * GST_SECOND);
  GBytes *out = NULL;
  if (s) {
    GstMapInfo map;
    GstBuffer *eb = gst_sample_get_buffer(s);
    ck_assert(gst_buffer_map(eb, &map, GST_MAP_READ));
    out = g_bytes_new(map.data, map.size);
    gst_buffer_unmap(eb, &map);
    gst_sample_unref(s);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  ck_assert_msg(out != NULL, "encoder chain '%s' produced nothing", chain);
  return out;
}

static gboolean
have_element(const char *name)
{
  GstElementFactory *f = gst_element_factory_find(name);
  if (!f) {
    printf("SKIP part: GStreamer element %s is not installed\n", name);
    return FALSE;
  }
  gst_object_unref(f);
  return TRUE;
}

/* Writes bytes to a new file in the test's temporary directory. */
static char *
write_tmp(const char *name, const void *data, gsize size)
{
  char *path = g_build_filename(tu_tmp_dir(), name, NULL);
  GError *err = NULL;
  ck_assert_msg(g_file_set_contents(path, data, (gssize)size, &err),
                "writing %s: %s", path, err ? err->message : "");
  return path;
}

static void
decode_ok(const char *path, RgbImage *img)
{
  GError *err = NULL;
  gboolean ok = image_decode_file(path, img, &err);
  ck_assert_msg(ok, "decoding %s failed: %s", path, err ? err->message : "");
  ck_assert_ptr_nonnull(img->pixels);
  ck_assert_uint_eq(img->stride, (gsize)img->width * 3);
}

/* Decodes the bytes from a file and from memory; both must succeed and
 * agree. */
static void
decode_bytes_both_ways(const char *name, GBytes *bytes, RgbImage *img)
{
  gsize size;
  const guint8 *data = g_bytes_get_data(bytes, &size);
  char *path = write_tmp(name, data, size);
  decode_ok(path, img);
  RgbImage mem = { 0 };
  GError *err = NULL;
  ck_assert_msg(image_decode_buffer(data, size, &mem, &err),
                "decoding %s from memory failed: %s", name,
                err ? err->message : "");
  ck_assert_int_eq(mem.width, img->width);
  ck_assert_int_eq(mem.height, img->height);
  ck_assert_msg(memcmp(mem.pixels, img->pixels,
                       img->stride * (gsize)img->height) == 0,
                "%s: file and memory decodes differ", name);
  rgb_image_clear(&mem);
  g_free(path);
}

static void
assert_pixels_exact(const RgbImage *img, const guint8 *want, int w, int h,
                    const char *what)
{
  ck_assert_int_eq(img->width, w);
  ck_assert_int_eq(img->height, h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int got = img->pixels[(gsize)y * img->stride + (gsize)x * 3 + c];
        int exp = want[((gsize)y * w + x) * 3 + c];
        ck_assert_msg(got == exp, "%s: pixel (%d,%d) channel %d is %d, want %d",
                      what, x, y, c, got, exp);
      }
}

/* JPEG is lossy: every sample within max_abs of the source, and the mean
 * absolute error under mean_abs. */
static void
assert_pixels_close(const RgbImage *img, const guint8 *want, int w, int h,
                    int max_abs, double mean_abs, const char *what)
{
  ck_assert_int_eq(img->width, w);
  ck_assert_int_eq(img->height, h);
  double sum = 0;
  int worst = 0, wx = 0, wy = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int d = abs(img->pixels[(gsize)y * img->stride + (gsize)x * 3 + c] -
                    want[((gsize)y * w + x) * 3 + c]);
        sum += d;
        if (d > worst) {
          worst = d;
          wx = x;
          wy = y;
        }
      }
  double mean = sum / ((double)w * h * 3);
  printf("%s: max |diff| %d at (%d,%d), mean %.3f\n", what, worst, wx, wy,
         mean);
  ck_assert_msg(worst <= max_abs, "%s: max |diff| %d at (%d,%d) > %d", what,
                worst, wx, wy, max_abs);
  ck_assert_msg(mean <= mean_abs, "%s: mean |diff| %.3f > %.3f", what, mean,
                mean_abs);
}

static void
expect_error(const char *path, int code, const char *needle)
{
  RgbImage img = { 0 };
  GError *err = NULL;
  gboolean ok = image_decode_file(path, &img, &err);
  ck_assert_msg(!ok, "%s decoded but should fail", path);
  ck_assert_ptr_null(img.pixels);
  ck_assert_ptr_nonnull(err);
  printf("%s -> %s\n", path, err->message);
  ck_assert_msg(g_error_matches(err, IMAGE_DECODE_ERROR, code),
                "%s: error code %d, want %d (%s)", path, err->code, code,
                err->message);
  if (needle)
    ck_assert_msg(strstr(err->message, needle) != NULL,
                  "%s: message '%s' lacks '%s'", path, err->message, needle);
  g_error_free(err);
}

static void
expect_bytes_error(const char *name, const void *data, gsize size, int code,
                   const char *needle)
{
  char *path = write_tmp(name, data, size);
  expect_error(path, code, needle);
  g_free(path);
}

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

/* A minimal PNG writer for the layouts pngenc cannot produce (16-bit
 * colour, palette, grey + alpha, sub-byte grey): zlib "stored" blocks, no
 * filtering. rows: h rows of the packed sample bytes as PNG lays them out
 * (big-endian 16-bit, MSB-first sub-byte samples). */
static guint32
crc32_update(guint32 crc, const guint8 *p, gsize n)
{
  crc = ~crc;
  for (gsize i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

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
  put32(b, crc32_update(0, b->data + start, n + 4));
}

static GBytes *
png_write(int w, int h, int depth, int color_type, const guint8 *rows,
          gsize row_bytes, const guint8 *plte, int plte_n)
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
  png_chunk(b, "IHDR", ihdr, 13);
  if (plte)
    png_chunk(b, "PLTE", plte, (gsize)plte_n * 3);
  /* Raw stream: filter byte 0 before each row. */
  GByteArray *raw = g_byte_array_new();
  for (int y = 0; y < h; y++) {
    const guint8 zero = 0;
    g_byte_array_append(raw, &zero, 1);
    g_byte_array_append(raw, rows + (gsize)y * row_bytes, (guint)row_bytes);
  }
  GByteArray *z = g_byte_array_new();
  const guint8 zhdr[2] = { 0x78, 0x01 };
  g_byte_array_append(z, zhdr, 2);
  guint32 a = 1, bsum = 0;
  for (gsize i = 0; i < raw->len; i++) {
    a = (a + raw->data[i]) % 65521;
    bsum = (bsum + a) % 65521;
  }
  for (gsize off = 0; off < raw->len || off == 0; ) {
    gsize n = MIN(raw->len - off, 65535);
    gboolean last = off + n >= raw->len;
    const guint8 bh[5] = { (guint8)(last ? 1 : 0), (guint8)n, (guint8)(n >> 8),
                           (guint8)~n, (guint8)(~n >> 8) };
    g_byte_array_append(z, bh, 5);
    g_byte_array_append(z, raw->data + off, (guint)n);
    off += n;
    if (last)
      break;
  }
  put32(z, (bsum << 16) | a);
  png_chunk(b, "IDAT", z->data, z->len);
  png_chunk(b, "IEND", NULL, 0);
  g_byte_array_unref(z);
  g_byte_array_unref(raw);
  return g_byte_array_free_to_bytes(b);
}

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
  GBytes *png = png_write(w, h, L[_i].depth, L[_i].color_type, rows, row_bytes,
                          _i == 2 ? plte : NULL, 256);
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

/* ---- preprocessing ------------------------------------------------------ */

START_TEST(test_central_crop_arithmetic)
{
  int x0, y0, cw, ch;
  /* tf.image.central_crop(0.875) of a 500 x 375 image:
   * int((500 - 437.5) / 2) = 31, int((375 - 328.125) / 2) = 23. */
  preprocess_central_crop(500, 375, 0.875f, &x0, &y0, &cw, &ch);
  ck_assert_int_eq(x0, 31);
  ck_assert_int_eq(cw, 438);
  ck_assert_int_eq(y0, 23);
  ck_assert_int_eq(ch, 329);
  /* 0.5 of 10: int(2.5) = 2, width 6 (same margin on both sides). */
  preprocess_central_crop(10, 11, 0.5f, &x0, &y0, &cw, &ch);
  ck_assert_int_eq(x0, 2);
  ck_assert_int_eq(cw, 6);
  ck_assert_int_eq(y0, 2); /* int(2.75) */
  ck_assert_int_eq(ch, 7);
  /* 1.0 keeps everything; tiny images keep at least one pixel. */
  preprocess_central_crop(7, 3, 1.0f, &x0, &y0, &cw, &ch);
  ck_assert_int_eq(x0, 0);
  ck_assert_int_eq(y0, 0);
  ck_assert_int_eq(cw, 7);
  ck_assert_int_eq(ch, 3);
  preprocess_central_crop(1, 2, 0.01f, &x0, &y0, &cw, &ch);
  ck_assert_int_eq(cw, 1);
  ck_assert_int_ge(ch, 1);
  ck_assert_int_eq(x0 + cw, 1);
  ck_assert_int_le(y0 + ch, 2);
}
END_TEST

/* 4 x 4 -> 3 x 3, no crop. Source positions are y * 4 / 3 = 0, 1.333,
 * 2.667: rows (0|1, fraction 0), (1|2, 1/3), (2|3, 2/3); columns alike.
 * Worked by hand from
 *   top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx,
 *   out = top + (bottom - top) * fy, rounded:
 *   (0,1): 100 + 100/3 = 133.33 -> 133    (0,2): 200 - 150*2/3 = 100
 *   (1,0): 30 + 225/3 = 105               (1,1): top 70, bottom 85 -> 75
 *   (1,2): top 110, bottom 85, 110 - 25/3 = 101.67 -> 102
 *   (2,0): 255 - 245*2/3 = 91.67 -> 92
 *   (2,1): top 85, bottom 23.33, 85 - 61.67*2/3 = 43.89 -> 44
 *   (2,2): top 85, bottom 36.67, 85 - 48.33*2/3 = 52.78 -> 53
 * R and G carry these values; B carries v / 2 + 1 so that channels cannot
 * be mixed up (checked at (1,1) below). */
START_TEST(test_resize_4x4_to_3x3)
{
  static const guint8 src1[4][4] = {
    { 0, 100, 200, 50 },
    { 30, 60, 90, 120 },
    { 255, 0, 255, 0 },
    { 10, 20, 30, 40 },
  };
  static const guint8 expect[3][3] = {
    { 0, 133, 100 },
    { 105, 75, 102 },
    { 92, 44, 53 },
  };
  guint8 src[4 * 4 * 3], dst[3 * 3 * 3];
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++) {
      src[(y * 4 + x) * 3 + 0] = src1[y][x];
      src[(y * 4 + x) * 3 + 1] = src1[y][x];
      src[(y * 4 + x) * 3 + 2] = (guint8)(src1[y][x] / 2 + 1);
    }
  preprocess_crop_resize_rgb8(src, 4, 4, 12, 1.0f, dst, 3, 3);
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++) {
      int r = dst[(y * 3 + x) * 3], g = dst[(y * 3 + x) * 3 + 1];
      ck_assert_msg(r == expect[y][x] && g == expect[y][x],
                    "out(%d,%d) = %d/%d, want %d", y, x, r, g, expect[y][x]);
    }
  /* B at (1,1): rows 1|2, columns 1|2 of v/2+1: tl 31, tr 46, bl 1,
   * br 128: top 31 + 15/3 = 36, bottom 1 + 127/3 = 43.33,
   * 36 + 7.33/3 = 38.44 -> 38. */
  ck_assert_int_eq(dst[(1 * 3 + 1) * 3 + 2], 38);
}
END_TEST

/* Half-way values round away from zero (what the reference's bytes show);
 * round-half-to-even would give 0 for the red sample. 2 x 1 -> 4 x 1:
 * output x = 1 sits at source x = 0.5, x = 2 at 1, x = 3 at 1.5 (the
 * right neighbour is clamped to the last column). */
START_TEST(test_resize_rounds_half_up)
{
  const guint8 src[6] = { 0, 0, 0, 1, 3, 255 };
  guint8 dst[12];
  preprocess_crop_resize_rgb8(src, 2, 1, 6, 1.0f, dst, 4, 1);
  const guint8 want[12] = { 0, 0, 0, 1, 2, 128, 1, 3, 255, 1, 3, 255 };
  for (int i = 0; i < 12; i++)
    ck_assert_msg(dst[i] == want[i], "byte %d is %d, want %d", i, dst[i],
                  want[i]);
}
END_TEST

/* Cropping reads only the central part: a 255 border of exactly the crop
 * margin never reaches the output. */
START_TEST(test_resize_crop_excludes_border)
{
  const int w = 32, h = 16; /* 0.875: margins int(2) = 2 and int(1) = 1 */
  guint8 *src = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        src[(y * w + x) * 3 + c] =
            (x < 2 || x >= w - 2 || y < 1 || y >= h - 1) ? 255 : 7;
  guint8 dst[10 * 9 * 3];
  preprocess_crop_resize_rgb8(src, w, h, (size_t)w * 3, 0.875f, dst, 10, 9);
  for (size_t i = 0; i < sizeof dst; i++)
    ck_assert_msg(dst[i] == 7, "output byte %zu is %d", i, dst[i]);
  g_free(src);
}
END_TEST

/* ---- real data: the TFLite reference's exact inputs --------------------- */

/* The reference file of one model per input size. */
static const struct {
  int size;
  const char *model;
} ref_sizes[] = {
  { 224, "mobilenet_v2_1.0_224_quant" },
  { 192, "mobilenet_v1_0.75_192_quant" },
  { 160, "mobilenet_v1_0.5_160_quant" },
  { 128, "mobilenet_v1_0.25_128_quant" },
};

/* Fraction of dev images whose preprocessed input matches the reference's
 * input_rgb_sha256 bit for bit. Reached: 200/200 at every size since
 * libjpeg-turbo decodes every JPEG (with GStreamer, 199/200: the only 4:2:2
 * file went through FFmpeg, whose IDCT differs from libjpeg's by one level
 * on some samples). Every image, then. */
#define SHA_MATCH_MIN 1.0

/* Reads a reference file's file -> input_rgb_sha256 into a new table;
 * NULL (and a SKIP line) when the file is absent. */
static GHashTable *
read_ref_shas(const char *data, const char *model)
{
  char *ref = g_strdup_printf("%s/reference/tflite/%s.dev.jsonl", data,
                              model);
  FILE *f = fopen(ref, "r");
  if (!f) {
    printf("SKIP: %s is absent\n", ref);
    g_free(ref);
    return NULL;
  }
  GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        g_free);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    ck_assert_msg(o != NULL, "%s: %s", ref, jerr.text);
    const char *file = json_string_value(json_object_get(o, "file"));
    const char *sha = json_string_value(json_object_get(o, "input_rgb_sha256"));
    ck_assert_msg(file && sha, "%s: line without file or sha", ref);
    g_hash_table_insert(t, g_strdup(file), g_strdup(sha));
    json_decref(o);
  }
  fclose(f);
  g_free(ref);
  return t;
}

START_TEST(test_real_sha_match)
{
  const char *data = tu_data_dir("reference input hashes");
  if (!data)
    return;
  enum { N_SIZES = G_N_ELEMENTS(ref_sizes) };
  GHashTable *shas[N_SIZES];
  for (int s = 0; s < N_SIZES; s++)
    if (!(shas[s] = read_ref_shas(data, ref_sizes[s].model))) {
      for (int k = 0; k < s; k++)
        g_hash_table_unref(shas[k]);
      return;
    }
  int total = 0, match[N_SIZES] = { 0 };
  guint8 *buf = g_malloc(224 * 224 * 3);
  GHashTableIter it;
  gpointer key, val;
  g_hash_table_iter_init(&it, shas[0]);
  while (g_hash_table_iter_next(&it, &key, &val)) {
    const char *file = key;
    char *path = g_strdup_printf("%s/images/dev/%s", data, file);
    RgbImage img = { 0 };
    decode_ok(path, &img); /* once for all sizes */
    total++;
    for (int s = 0; s < N_SIZES; s++) {
      int size = ref_sizes[s].size;
      const char *want = g_hash_table_lookup(shas[s], file);
      ck_assert_msg(want != NULL, "%s: no line for %s", ref_sizes[s].model,
                    file);
      preprocess_crop_resize_rgb8(img.pixels, img.width, img.height,
                                  img.stride, 0.875f, buf, size, size);
      char *got = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf,
                                              (gsize)size * size * 3);
      if (strcmp(got, want) == 0)
        match[s]++;
      else
        printf("%d px: %s differs from the reference input\n", size, file);
      g_free(got);
    }
    rgb_image_clear(&img);
    g_free(path);
  }
  g_free(buf);
  ck_assert_int_ge(total, 100);
  for (int s = 0; s < N_SIZES; s++) {
    double frac = (double)match[s] / total;
    printf("input sha256 match at %d px: %d/%d = %.1f%%\n",
           ref_sizes[s].size, match[s], total, 100 * frac);
    ck_assert_msg(frac >= SHA_MATCH_MIN, "%d px: %.1f%% < %.1f%%",
                  ref_sizes[s].size, 100 * frac, 100 * SHA_MATCH_MIN);
    g_hash_table_unref(shas[s]);
  }
}
END_TEST

/* Every photo decodes (progressive JPEG, BMP, RGBA PNG); grayscale dev
 * images come out with R = G = B. */
START_TEST(test_real_photos_and_gray)
{
  const char *data = tu_data_dir("photos");
  if (!data)
    return;
  char *dir = g_build_filename(data, "images", "photos", NULL);
  GDir *d = g_dir_open(dir, 0, NULL);
  if (!d) {
    printf("SKIP: %s is absent\n", dir);
    g_free(dir);
    return;
  }
  int n = 0;
  const char *name;
  while ((name = g_dir_read_name(d))) {
    if (g_str_has_suffix(name, ".csv"))
      continue;
    char *path = g_build_filename(dir, name, NULL);
    RgbImage img = { 0 };
    decode_ok(path, &img);
    printf("%s: %dx%d\n", name, img.width, img.height);
    ck_assert_int_gt(img.width, 16);
    ck_assert_int_gt(img.height, 16);
    rgb_image_clear(&img);
    g_free(path);
    n++;
  }
  g_dir_close(d);
  g_free(dir);
  ck_assert_int_ge(n, 10);

  static const char *const gray[] = { "n02692877_airship.JPEG",
                                      "n03908714_pencil_sharpener.JPEG",
                                      "n04254680_soccer_ball.JPEG" };
  for (size_t i = 0; i < G_N_ELEMENTS(gray); i++) {
    char *path = g_build_filename(data, "images", "dev", gray[i], NULL);
    RgbImage img = { 0 };
    decode_ok(path, &img);
    gsize differ = 0;
    for (int y = 0; y < img.height; y++)
      for (int x = 0; x < img.width; x++) {
        const guint8 *p = img.pixels + (gsize)y * img.stride + (gsize)x * 3;
        differ += p[0] != p[1] || p[1] != p[2];
      }
    ck_assert_msg(differ == 0, "%s: %" G_GSIZE_FORMAT " pixels not gray",
                  gray[i], differ);
    rgb_image_clear(&img);
    g_free(path);
  }
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

  tc = tcase_create("errors");
  tcase_add_test(tc, test_error_missing_and_not_regular);
  tcase_add_test(tc, test_error_empty_text_random);
  tcase_add_test(tc, test_error_truncated);
  tcase_add_test(tc, test_error_corrupt);
  tcase_add_test(tc, test_error_too_large);
  suite_add_tcase(s, tc);

  tc = tcase_create("preprocess");
  tcase_add_test(tc, test_central_crop_arithmetic);
  tcase_add_test(tc, test_resize_4x4_to_3x3);
  tcase_add_test(tc, test_resize_rounds_half_up);
  tcase_add_test(tc, test_resize_crop_excludes_border);
  suite_add_tcase(s, tc);

  tc = tcase_create("real");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_real_sha_match);
  tcase_add_test(tc, test_real_photos_and_gray);
  suite_add_tcase(s, tc);
  return s;
}

/* Under AddressSanitizer: record allocation stacks with the slow unwinder.
 * GLib and GStreamer are built without frame pointers, so the fast one
 * stops at g_malloc and LeakSanitizer cannot match GLib's deliberate
 * one-time leak (the first quark block, allocated in its library
 * constructor and dropped when the quark table grows after a GStreamer
 * registry rescan) against tests/sanitizers/lsan.supp ("_dl_init"). Unused
 * without ASan. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
  return "fast_unwind_on_malloc=0";
}

int
main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  gst_init(NULL, NULL);
  return tu_run_suite(image_suite());
}
