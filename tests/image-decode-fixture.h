/* streamsight — what the still-image suites share (test-image.c,
 * test-image-errors.c, test-image-preprocess.c): known pixel patterns
 * encoded with encoders other than our decoders' libraries (GStreamer's
 * pngenc and jpegenc, FFmpeg's avenc_bmp), files in the test's temporary
 * directory, decoding from a file and from memory, and pixel and error
 * checks. The generated hostile images are image-fixtures.h's.
 */
#ifndef SS_IMAGE_DECODE_FIXTURE_H
#define SS_IMAGE_DECODE_FIXTURE_H

#include <glib.h>

#include "image-decode.h"

/* Fills a w x h RGB8 image (packed) with a pattern:
 *   PATTERN_NOISE: every byte from a seeded PRNG (lossless formats),
 *   PATTERN_SMOOTH: gentle gradients that JPEG keeps well. */
enum pattern { PATTERN_NOISE, PATTERN_SMOOTH };

guint8 *make_pattern(int w, int h, enum pattern p, guint64 seed);

/* Encodes one raw frame with a GStreamer encoder chain and returns the
 * encoded bytes. `format` is the raw format of `px` (RGB: 3 bytes a pixel,
 * RGBA: 4, GRAY8: 1, GRAY16_BE: 2, big-endian), packed rows; `chain` is the
 * gst-launch text after appsrc, e.g. "videoconvert ! video/x-raw,format=Y444
 * ! jpegenc quality=100". NULL when an element is missing. */
GBytes *encode_frame(const char *format, const guint8 *px, int w, int h,
                     const char *chain);

gboolean have_element(const char *name);

/* Writes bytes to a new file in the test's temporary directory. */
char *write_tmp(const char *name, const void *data, gsize size);

void decode_ok(const char *path, RgbImage *img);

/* Decodes the bytes from a file and from memory; both must succeed and
 * agree. */
void decode_bytes_both_ways(const char *name, GBytes *bytes, RgbImage *img);

void assert_pixels_exact(const RgbImage *img, const guint8 *want, int w, int h,
                         const char *what);

/* JPEG is lossy: every sample within max_abs of the source, and the mean
 * absolute error under mean_abs. */
void assert_pixels_close(const RgbImage *img, const guint8 *want, int w, int h,
                         int max_abs, double mean_abs, const char *what);

void expect_error(const char *path, int code, const char *needle);

void expect_bytes_error(const char *name, const void *data, gsize size,
                        int code, const char *needle);

struct Suite;

/* The suites' main(): stdout line-buffered (each test prints what it
 * decodes, in order with Check's output), gst_init, then the suite made by
 * make_suite run by tu_run_suite. */
int image_decode_fixture_main(struct Suite *(*make_suite)(void));

#endif
