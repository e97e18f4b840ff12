/* streamsight — what the image-formats suite's files share
 * (image-formats-fixture.h). */
#include "image-formats-fixture.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

void
decode_ok(GBytes *b, const ImageDecodeOptions *opts, RgbImage *img,
          const char *what)
{
  gsize n;
  const guint8 *d = g_bytes_get_data(b, &n);
  GError *err = NULL;
  ck_assert_msg(image_decode_buffer_opts(d, n, opts, img, &err),
                "%s: %s", what, err ? err->message : "");
  ck_assert_uint_eq(img->stride, (gsize)img->width * 3);
}

void
decode_fails(GBytes *b, const ImageDecodeOptions *opts, int code,
             const char *needle, const char *what)
{
  gsize n;
  const guint8 *d = g_bytes_get_data(b, &n);
  GError *err = NULL;
  RgbImage img = { 0 };
  gboolean ok = image_decode_buffer_opts(d, n, opts, &img, &err);
  ck_assert_msg(!ok, "%s: decoded but should fail", what);
  ck_assert_ptr_null(img.pixels);
  printf("%s -> %s\n", what, err->message);
  ck_assert_msg(g_error_matches(err, IMAGE_DECODE_ERROR, code),
                "%s: code %d, want %d (%s)", what, err->code, code,
                err->message);
  if (needle)
    ck_assert_msg(strstr(err->message, needle) != NULL,
                  "%s: '%s' lacks '%s'", what, err->message, needle);
  g_error_free(err);
}

