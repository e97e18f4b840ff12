/* streamsight — every JPEG sampling, colour space and coding process, the
 * PNG and BMP layouts, what is refused and why, and the bombs (scan,
 * decompression, memory), all generated here (image-fixtures.c).
 *
 * JPEGs are written by libjpeg's own compressor with the sampling factors
 * set per component; what it cannot write (12/16-bit, lossless,
 * hierarchical) is a baseline file with its frame header edited. Each
 * decoded JPEG must be (a) close to the source pattern (lossy: the bound is
 * generous, a wrong colour conversion or upsampling is off by 50+ levels)
 * and (b) bit-identical to libjpeg's plain default decode, which is what
 * PIL and TensorFlow return.
 *
 * Here: the jpeg and refused TCases and the suite; the png and bmp TCases
 * are in test-image-formats-png-bmp.c, the decode checks both use in
 * image-formats-fixture.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>

#include "image-decode.h"
#include "image-fixtures.h"
#include "image-formats-fixture.h"
#include "testutil.h"

/* A smooth pattern (gradients JPEG keeps well), w x h x 3. */
static guint8 *
smooth_rgb(int w, int h)
{
  guint8 *px = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *o = px + ((gsize)y * w + x) * 3;
      o[0] = (guint8)(40 + 160 * x / (w - 1));
      o[1] = (guint8)(200 - 150 * y / (h - 1));
      o[2] = (guint8)(60 + 60 * (x + y) / (w + h - 2));
    }
  return px;
}

/* libjpeg's default decode to RGB (what PIL and TensorFlow do), or to CMYK
 * for 4 components. Returns w x h x out_components. */
static guint8 *
libjpeg_default_decode(GBytes *jpg, int *w, int *h, int *comps)
{
  gsize n;
  const guint8 *d = g_bytes_get_data(jpg, &n);
  struct jpeg_decompress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, d, (unsigned long)n);
  jpeg_read_header(&c, TRUE);
  c.out_color_space = c.num_components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&c);
  *w = (int)c.output_width;
  *h = (int)c.output_height;
  *comps = c.output_components;
  gsize row = (gsize)*w * (gsize)*comps;
  guint8 *out = g_malloc(row * (gsize)*h);
  while (c.output_scanline < c.output_height) {
    JSAMPROW r = out + (gsize)c.output_scanline * row;
    jpeg_read_scanlines(&c, &r, 1);
  }
  jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return out;
}

/* Max and mean absolute difference between img and want (w x h x 3). */
static void
assert_close(const RgbImage *img, const guint8 *want, int w, int h,
             int max_abs, double mean_abs, const char *what)
{
  ck_assert_int_eq(img->width, w);
  ck_assert_int_eq(img->height, h);
  double sum = 0;
  int worst = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w * 3; x++) {
      int d = abs(img->pixels[(gsize)y * img->stride + x] -
                  want[(gsize)y * w * 3 + x]);
      sum += d;
      worst = MAX(worst, d);
    }
  double mean = sum / ((double)w * h * 3);
  printf("%s: max |diff| %d, mean %.2f\n", what, worst, mean);
  ck_assert_msg(worst <= max_abs && mean <= mean_abs,
                "%s: max %d (bound %d), mean %.2f (bound %.2f)", what, worst,
                max_abs, mean, mean_abs);
}

/* ---- JPEG: samplings, colour spaces, codings --------------------------- */

typedef struct {
  const char *name;
  int components;
  J_COLOR_SPACE space;
  int h[4], v[4];
  gboolean progressive, arithmetic;
  int restart_rows;
} JpegCase;

static const JpegCase jpeg_cases[] = {
  { "ycc 4:4:4", 3, JCS_YCbCr, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "ycc 4:2:2", 3, JCS_YCbCr, { 2, 1, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "ycc 4:2:0", 3, JCS_YCbCr, { 2, 1, 1 }, { 2, 1, 1 }, 0, 0, 0 },
  /* 4:4:0 (luma 1x2): yuvj440p, which crashed the GStreamer route. */
  { "ycc 4:4:0", 3, JCS_YCbCr, { 1, 1, 1 }, { 2, 1, 1 }, 0, 0, 0 },
  { "ycc 4:1:1", 3, JCS_YCbCr, { 4, 1, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "ycc luma 1x4", 3, JCS_YCbCr, { 1, 1, 1 }, { 4, 1, 1 }, 0, 0, 0 },
  { "ycc luma 4x2", 3, JCS_YCbCr, { 4, 1, 1 }, { 2, 1, 1 }, 0, 0, 0 },
  { "ycc luma 2x4", 3, JCS_YCbCr, { 2, 1, 1 }, { 4, 1, 1 }, 0, 0, 0 },
  { "ycc luma 3x1", 3, JCS_YCbCr, { 3, 1, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "ycc mixed 2x2/1x1/2x1", 3, JCS_YCbCr, { 2, 1, 2 }, { 2, 1, 1 }, 0, 0,
    0 },
  { "ycc chroma 2x2 over luma 1x1", 3, JCS_YCbCr, { 1, 2, 2 }, { 1, 2, 2 },
    0, 0, 0 },
  { "ycc 2x2/2x1/1x2", 3, JCS_YCbCr, { 2, 2, 1 }, { 2, 1, 2 }, 0, 0, 0 },
  { "ycc 4x1/2x1/1x1", 3, JCS_YCbCr, { 4, 2, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "ycc 1x4/1x2/1x1", 3, JCS_YCbCr, { 1, 1, 1 }, { 4, 2, 1 }, 0, 0, 0 },
  { "progressive 2x2/2x1/1x2", 3, JCS_YCbCr, { 2, 2, 1 }, { 2, 1, 2 }, 1, 0,
    0 },
  { "rgb 1x1", 3, JCS_RGB, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "rgb 4:1:1", 3, JCS_RGB, { 4, 1, 1 }, { 1, 1, 1 }, 0, 0, 0 },
  { "grey", 1, JCS_GRAYSCALE, { 1 }, { 1 }, 0, 0, 0 },
  { "grey 2x2", 1, JCS_GRAYSCALE, { 2 }, { 2 }, 0, 0, 0 },
  { "progressive 4:2:0", 3, JCS_YCbCr, { 2, 1, 1 }, { 2, 1, 1 }, 1, 0, 0 },
  { "progressive 4:4:0", 3, JCS_YCbCr, { 1, 1, 1 }, { 2, 1, 1 }, 1, 0, 0 },
  { "progressive 4:1:1", 3, JCS_YCbCr, { 4, 1, 1 }, { 1, 1, 1 }, 1, 0, 0 },
  { "progressive rgb 4:1:1", 3, JCS_RGB, { 4, 1, 1 }, { 1, 1, 1 }, 1, 0, 0 },
  { "progressive mixed", 3, JCS_YCbCr, { 2, 1, 2 }, { 2, 1, 1 }, 1, 0, 0 },
  { "progressive grey", 1, JCS_GRAYSCALE, { 1 }, { 1 }, 1, 0, 0 },
  { "arithmetic 4:2:0 (SOF9)", 3, JCS_YCbCr, { 2, 1, 1 }, { 2, 1, 1 }, 0, 1,
    0 },
  { "arithmetic progressive (SOF10)", 3, JCS_YCbCr, { 2, 1, 1 }, { 1, 1, 1 },
    1, 1, 0 },
  { "restart markers 4:2:0", 3, JCS_YCbCr, { 2, 1, 1 }, { 2, 1, 1 }, 0, 0,
    1 },
  /* Adobe CMYK (inverted samples), and YCCK (Adobe transform 2). */
  { "cmyk 1x1", 4, JCS_CMYK, { 1, 1, 1, 1 }, { 1, 1, 1, 1 }, 0, 0, 0 },
  { "ycck 2x2", 4, JCS_YCCK, { 2, 1, 1, 2 }, { 2, 1, 1, 2 }, 0, 0, 0 },
  { "progressive ycck", 4, JCS_YCCK, { 2, 1, 1, 2 }, { 2, 1, 1, 2 }, 1, 0,
    0 },
};

/* Encodes the pattern as jc says, decodes it, checks it against the source
 * and against libjpeg's default decode. */
static void
check_jpeg_case(const JpegCase *jc, int w, int h)
{
  guint8 *rgb = smooth_rgb(w, h);
  /* Source samples for the file's input colour space. Grey: the green
   * channel. CMYK: Adobe-inverted samples that convert back to rgb (K = 0
   * stored as 255, C = 255 - R stored as R...). */
  guint8 *src = g_malloc((gsize)w * h * 4);
  guint8 *want = g_malloc((gsize)w * h * 3);
  for (int i = 0; i < w * h; i++) {
    const guint8 *p = rgb + 3 * i;
    if (jc->components == 1) {
      src[i] = p[1];
      memset(want + 3 * i, p[1], 3);
    } else if (jc->components == 3) {
      memcpy(src + 3 * i, p, 3);
      memcpy(want + 3 * i, p, 3);
    } else {
      memcpy(src + 4 * i, p, 3);
      src[4 * i + 3] = 255;
      memcpy(want + 3 * i, p, 3);
    }
  }
  FixJpeg o = { .components = jc->components, .jpeg_space = jc->space,
                .progressive = jc->progressive, .arithmetic = jc->arithmetic,
                .restart_rows = jc->restart_rows, .quality = 95 };
  memcpy(o.h_samp, jc->h, sizeof o.h_samp);
  memcpy(o.v_samp, jc->v, sizeof o.v_samp);
  GBytes *jpg = fix_jpeg_encode(src, w, h, &o);
  char *what = g_strdup_printf("%s %dx%d", jc->name, w, h);
  RgbImage img = { 0 };
  decode_ok(jpg, NULL, &img, what);
  /* Quality 95 on gradients: the YCbCr round trip, the DCT and the
   * subsampled chroma cost a few levels (measured: at most 8, mean at most
   * 2.2, for luma 1x4 and 2x4). A wrong conversion or upsampling would be
   * off by tens of levels. */
  assert_close(&img, want, w, h, 16, 3.0, what);

  /* Bit for bit what libjpeg's defaults give (CMYK converted as PIL). */
  int rw, rh, rc;
  guint8 *ref = libjpeg_default_decode(jpg, &rw, &rh, &rc);
  ck_assert_int_eq(rw, w);
  ck_assert_int_eq(rh, h);
  if (rc == 3) {
    ck_assert_msg(memcmp(ref, img.pixels, (gsize)w * h * 3) == 0,
                  "%s: differs from libjpeg's default decode", what);
  } else {
    for (int i = 0; i < w * h; i++) {
      /* PIL: Adobe CMYK is inverted; R = K' - (255 - C') K' / 255. */
      const guint8 *s = ref + 4 * i;
      for (int ch = 0; ch < 3; ch++) {
        int t = (255 - s[ch]) * s[3] + 128;
        int r = s[3] - (((t >> 8) + t) >> 8);
        ck_assert_msg(img.pixels[3 * i + ch] == r,
                      "%s: pixel %d channel %d is %d, PIL gives %d", what, i,
                      ch, img.pixels[3 * i + ch], r);
      }
    }
  }
  g_free(ref);
  rgb_image_clear(&img);
  g_free(what);
  g_bytes_unref(jpg);
  g_free(want);
  g_free(src);
  g_free(rgb);
}

/* Loop index: case, then the size: whole MCUs (64 x 48) or partial ones
 * (61 x 43: odd chroma sizes, edge replication). */
START_TEST(test_jpeg_case)
{
  const JpegCase *jc = &jpeg_cases[_i % G_N_ELEMENTS(jpeg_cases)];
  gboolean odd = _i >= (int)G_N_ELEMENTS(jpeg_cases);
  check_jpeg_case(jc, odd ? 61 : 64, odd ? 43 : 48);
}
END_TEST

/* Every luma sampling 1..4 x 1..4 that fits an interleaved MCU (h x v + 2
 * chroma blocks <= 10) over 1x1 chroma, baseline and progressive, at 61 x
 * 43. Loop index: h - 1 + 4 (v - 1), + 16 for progressive. */
START_TEST(test_jpeg_luma_sweep)
{
  int hs = _i % 4 + 1, vs = _i / 4 % 4 + 1;
  gboolean prog = _i >= 16;
  if (hs * vs + 2 > 10)
    return; /* not writable as one interleaved scan */
  char *name = g_strdup_printf("%s luma %dx%d", prog ? "progressive" : "ycc",
                               hs, vs);
  JpegCase jc = { name, 3, JCS_YCbCr, { hs, 1, 1 }, { vs, 1, 1 }, prog, 0,
                  0 };
  check_jpeg_case(&jc, 61, 43);
  g_free(name);
}
END_TEST

/* What libjpeg-turbo 2.1.5's 8-bit build cannot decode: a 4xx reason,
 * never a crash. */
START_TEST(test_jpeg_unsupported)
{
  guint8 *rgb = smooth_rgb(32, 16);
  FixJpeg o = { .components = 3 };
  GBytes *base = fix_jpeg_encode(rgb, 32, 16, &o);
  static const struct {
    int marker, precision;
    const char *name, *needle;
  } C[] = {
    { 0xC1, 12, "sof1-12bit", "unsupported JPEG: 12-bit samples" },
    { 0xC1, 16, "sof1-16bit", "unsupported JPEG: 16-bit samples" },
    { 0xC0, 12, "sof0-12bit", "12-bit samples" },
    { 0xC3, 0, "lossless", "lossless (SOF3)" },
    { 0xCB, 0, "lossless-arith", "lossless arithmetic" },
    { 0xC5, 0, "hierarchical", "hierarchical" },
    { 0xC1, 4, "sof1-4bit", "4-bit samples" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(C); i++) {
    GBytes *b = fix_jpeg_edit_sof(base, C[i].marker, C[i].precision);
    decode_fails(b, NULL, IMAGE_DECODE_ERROR_UNSUPPORTED, C[i].needle,
                 C[i].name);
    g_bytes_unref(b);
  }
  /* SOF1 with 8 bits is plain extended sequential: decoded. */
  GBytes *b = fix_jpeg_edit_sof(base, 0xC1, 8);
  RgbImage img = { 0 };
  decode_ok(b, NULL, &img, "sof1-8bit");
  rgb_image_clear(&img);
  g_bytes_unref(b);
  g_bytes_unref(base);
  g_free(rgb);
}
END_TEST

/* Truncated anywhere (baseline and progressive): an error, not grey. */
START_TEST(test_jpeg_truncated)
{
  guint8 *rgb = smooth_rgb(64, 48);
  for (int prog = 0; prog < 2; prog++) {
    FixJpeg o = { .components = 3, .progressive = prog };
    GBytes *jpg = fix_jpeg_encode(rgb, 64, 48, &o);
    gsize n;
    const guint8 *d = g_bytes_get_data(jpg, &n);
    static const double cut[] = { 0.999, 0.9, 0.5, 0.2 };
    for (gsize k = 0; k < G_N_ELEMENTS(cut); k++) {
      gsize len = MIN((gsize)(n * cut[k]), n - 1);
      GBytes *b = g_bytes_new(d, len);
      char *what = g_strdup_printf("%s cut to %zu of %zu",
                                   prog ? "progressive" : "baseline", len, n);
      decode_fails(b, NULL, IMAGE_DECODE_ERROR_FORMAT, "JPEG", what);
      g_free(what);
      g_bytes_unref(b);
    }
    g_bytes_unref(jpg);
  }
  g_free(rgb);
}
END_TEST

/* Many empty scans over a large image: refused at scan 101, quickly; a
 * handful of scans is a normal progressive file. */
START_TEST(test_jpeg_scan_bomb)
{
  GBytes *ok = fix_jpeg_scan_bomb(64, 64, IMAGE_DECODE_MAX_SCANS - 1);
  RgbImage img = { 0 };
  decode_ok(ok, NULL, &img, "64x64 with 99 empty scans");
  /* Every coefficient is 0 but DC 0: mid-grey after the level shift. */
  for (gsize i = 0; i < img.stride * (gsize)img.height; i++)
    ck_assert_msg(img.pixels[i] == 128, "byte %zu is %d", i, img.pixels[i]);
  rgb_image_clear(&img);
  g_bytes_unref(ok);

  /* 4096 x 4096 (262144 blocks a scan) with 5000 scans: 640 KB. */
  GBytes *bomb = fix_jpeg_scan_bomb(4096, 4096, 5000);
  printf("scan bomb: %zu bytes\n", g_bytes_get_size(bomb));
  gint64 t0 = g_get_monotonic_time();
  decode_fails(bomb, NULL, IMAGE_DECODE_ERROR_TOO_LARGE, "more than 100 scans",
               "4096x4096, 5000 scans");
  double s = (g_get_monotonic_time() - t0) / 1e6;
  printf("scan bomb refused after %.2f s\n", s);
  /* 100 scans of 262144 blocks: well under a second alone; generous for a
   * shared machine and sanitizers. */
  ck_assert_msg(s < 30, "refusing the scan bomb took %.1f s", s);
  g_bytes_unref(bomb);
}
END_TEST

/* The CPU limit: a progressive 2048 x 1536 decode takes tens of ms; with
 * 1 ms allowed it is refused, with the default it decodes. */
START_TEST(test_jpeg_cpu_limit)
{
  guint8 *rgb = smooth_rgb(2048, 1536);
  FixJpeg o = { .components = 3, .progressive = TRUE, .quality = 90 };
  GBytes *jpg = fix_jpeg_encode(rgb, 2048, 1536, &o);
  ImageDecodeOptions tight = { .max_cpu_ms = 1 };
  decode_fails(jpg, &tight, IMAGE_DECODE_ERROR_TOO_LARGE,
               "more than 1 ms of CPU time", "1 ms of CPU");
  RgbImage img = { 0 };
  decode_ok(jpg, NULL, &img, "default CPU limit");
  rgb_image_clear(&img);
  g_bytes_unref(jpg);
  g_free(rgb);
}
END_TEST

/* DCT scaling: only when the image is far larger than the model input. */
START_TEST(test_jpeg_dct_scaling)
{
  guint8 *rgb = smooth_rgb(2048, 1536);
  FixJpeg o = { .components = 3, .quality = 75 };
  GBytes *jpg = fix_jpeg_encode(rgb, 2048, 1536, &o);
  gsize n;
  const guint8 *d = g_bytes_get_data(jpg, &n);
  static const struct {
    int target, out_w, out_h;
  } C[] = {
    { 0, 2048, 1536 },   /* no target: full size */
    { 224, 2048, 1536 }, /* 1536 / 2 < 8 x 224 */
    { 96, 1024, 768 },   /* 768 >= 8 x 96 */
    { 48, 512, 384 },    /* 384 >= 8 x 48 */
    { 16, 256, 192 },    /* 1/8 at most */
  };
  for (gsize i = 0; i < G_N_ELEMENTS(C); i++) {
    ImageDecodeOptions opts = { .target_side = C[i].target };
    ImageDecodeInfo info;
    GError *err = NULL;
    ck_assert_msg(image_decode_probe(d, n, &opts, &info, &err), "%s",
                  err ? err->message : "");
    ck_assert_int_eq(info.width, 2048);
    ck_assert_int_eq(info.out_width, C[i].out_w);
    ck_assert_int_eq(info.out_height, C[i].out_h);
    RgbImage img = { 0 };
    decode_ok(jpg, &opts, &img, "scaled");
    ck_assert_int_eq(img.width, C[i].out_w);
    ck_assert_int_eq(img.height, C[i].out_h);
    /* Scaled, the pattern is still there: the middle pixel. */
    const guint8 *mid = img.pixels + (gsize)(img.height / 2) * img.stride +
                        (gsize)(img.width / 2) * 3;
    const guint8 *src = rgb + ((gsize)768 * 2048 + 1024) * 3;
    for (int c = 0; c < 3; c++)
      ck_assert_msg(abs(mid[c] - src[c]) <= 8, "target %d: channel %d %d vs "
                    "%d", C[i].target, c, mid[c], src[c]);
    rgb_image_clear(&img);
  }
  g_bytes_unref(jpg);
  g_free(rgb);
}
END_TEST

/* The memory estimate: a progressive file keeps every coefficient. */
START_TEST(test_jpeg_memory_limit)
{
  guint8 *rgb = smooth_rgb(1024, 1024);
  FixJpeg o = { .components = 3, .progressive = TRUE, .quality = 50,
                .h_samp = { 1, 1, 1 }, .v_samp = { 1, 1, 1 } };
  GBytes *jpg = fix_jpeg_encode(rgb, 1024, 1024, &o);
  gsize n;
  const guint8 *d = g_bytes_get_data(jpg, &n);
  ImageDecodeInfo info;
  ck_assert(image_decode_probe(d, n, NULL, &info, NULL));
  /* 3 x 16384 blocks x 128 bytes of coefficients + 3 MB of output. */
  guint64 floor_bytes = (guint64)3 * 16384 * 128 + (guint64)1024 * 1024 * 3;
  printf("progressive 1024x1024 4:4:4: estimate %" G_GUINT64_FORMAT
         " bytes (coefficients + output %" G_GUINT64_FORMAT ")\n",
         info.memory_bytes, floor_bytes);
  ck_assert_uint_ge(info.memory_bytes, floor_bytes);
  ck_assert_uint_le(info.memory_bytes, floor_bytes + ((guint64)8 << 20));
  ImageDecodeOptions tight = { .max_memory_bytes = floor_bytes - 1 };
  decode_fails(jpg, &tight, IMAGE_DECODE_ERROR_TOO_LARGE, "MB to decode",
               "progressive under a tight limit");
  GError *err = NULL;
  ck_assert(!image_decode_probe(d, n, &tight, &info, &err));
  ck_assert(g_error_matches(err, IMAGE_DECODE_ERROR,
                            IMAGE_DECODE_ERROR_TOO_LARGE));
  g_clear_error(&err);
  RgbImage img = { 0 };
  ImageDecodeOptions enough = { .max_memory_bytes = floor_bytes +
                                                    ((guint64)8 << 20) };
  decode_ok(jpg, &enough, &img, "progressive within its limit");
  rgb_image_clear(&img);
  g_bytes_unref(jpg);
  g_free(rgb);

  /* A header of 16384 x 6100 (the size of the reported bombs) is refused
   * under the server's budget before any decoding. */
  GBytes *bomb = fix_jpeg_scan_bomb(16384, 6096, 1);
  ImageDecodeOptions server = { .target_side = 224,
                                .max_memory_bytes = (guint64)256 << 20 };
  decode_fails(bomb, &server, IMAGE_DECODE_ERROR_TOO_LARGE, "MB to decode",
               "16384x6096 progressive under 256 MB");
  g_bytes_unref(bomb);
}
END_TEST

/* ---- refused formats ---------------------------------------------------- */

START_TEST(test_refused)
{
  static const struct {
    const char *name;
    const char *data;
    gsize len;
    int code;
    const char *needle;
  } C[] = {
    { "gif", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14,
      IMAGE_DECODE_ERROR_UNSUPPORTED, "GIF" },
    { "webp", "RIFF\x10\x00\x00\x00WEBPVP8 ", 16,
      IMAGE_DECODE_ERROR_UNSUPPORTED, "WebP" },
    { "tiff", "II*\x00\x08\x00\x00\x00", 8, IMAGE_DECODE_ERROR_UNSUPPORTED,
      "TIFF" },
    { "text", "hello world", 11, IMAGE_DECODE_ERROR_FORMAT, "not an image" },
    { "empty", "", 0, IMAGE_DECODE_ERROR_FORMAT, "empty" },
    { "soi only", "\xFF\xD8", 2, IMAGE_DECODE_ERROR_FORMAT, "JPEG" },
    { "bm only", "BM", 2, IMAGE_DECODE_ERROR_FORMAT, "BMP" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(C); i++) {
    GBytes *b = g_bytes_new_static(C[i].data, C[i].len);
    decode_fails(b, NULL, C[i].code, C[i].needle, C[i].name);
    g_bytes_unref(b);
  }
  /* BMP forms not read: JPEG inside (compression 4), OS/2 2.x header. */
  guint8 px[3 * 4] = { 0 };
  GBytes *bmp = fix_bmp_encode_rgb(px, 2, 2, 24, FALSE, FALSE, 40);
  gsize n;
  const guint8 *orig = g_bytes_get_data(bmp, &n);
  guint8 *d = g_memdup2(orig, n);
  d[30] = 4;
  GBytes *b = g_bytes_new(d, n);
  decode_fails(b, NULL, IMAGE_DECODE_ERROR_UNSUPPORTED, "compression 4",
               "bmp with jpeg");
  g_bytes_unref(b);
  d[30] = 0;
  d[14] = 64;
  b = g_bytes_new(d, n);
  decode_fails(b, NULL, IMAGE_DECODE_ERROR_UNSUPPORTED, "header of 64 bytes",
               "os/2 2.x bmp");
  g_bytes_unref(b);
  /* Pixels cut short: refused before the output is allocated. */
  b = g_bytes_new(orig, n - 1);
  decode_fails(b, NULL, IMAGE_DECODE_ERROR_FORMAT, "truncated BMP",
               "bmp cut");
  g_bytes_unref(b);
  g_free(d);
  g_bytes_unref(bmp);
}
END_TEST

static Suite *
formats_suite(void)
{
  Suite *s = suite_create("image-formats");
  TCase *tc = tcase_create("jpeg");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_jpeg_case, 0, 2 * G_N_ELEMENTS(jpeg_cases));
  tcase_add_loop_test(tc, test_jpeg_luma_sweep, 0, 32);
  tcase_add_test(tc, test_jpeg_unsupported);
  tcase_add_test(tc, test_jpeg_truncated);
  tcase_add_test(tc, test_jpeg_scan_bomb);
  tcase_add_test(tc, test_jpeg_cpu_limit);
  tcase_add_test(tc, test_jpeg_dct_scaling);
  tcase_add_test(tc, test_jpeg_memory_limit);
  suite_add_tcase(s, tc);

  /* test-image-formats-png-bmp.c */
  suite_add_tcase(s, image_formats_png_tcase());
  suite_add_tcase(s, image_formats_bmp_tcase());

  tc = tcase_create("refused");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_refused);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  return tu_run_suite(formats_suite());
}
