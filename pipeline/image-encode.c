/* streamsight — RgbImage to JPEG (image-encode.h). libjpeg's errors long-
 * jump back here instead of exiting. */
#include "image-encode.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

struct encode_error {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

static void
encode_error_exit(j_common_ptr cinfo)
{
  struct encode_error *e = (struct encode_error *)cinfo->err;
  e->mgr.format_message(cinfo, e->message);
  longjmp(e->jump, 1);
}

gboolean
image_encode_jpeg(const RgbImage *img, int quality, guint8 **out, gsize *len,
                  GError **error)
{
  if (!img || !img->pixels || img->width < 1 || img->height < 1 ||
      img->width > JPEG_MAX_DIMENSION || img->height > JPEG_MAX_DIMENSION ||
      quality < 1 || quality > 100) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_FORMAT,
                "cannot encode an empty or oversized image as JPEG");
    return FALSE;
  }
  struct jpeg_compress_struct c;
  struct encode_error e;
  /* volatile: read after a longjmp. */
  unsigned char *volatile buf = NULL;
  unsigned long size = 0;
  c.err = jpeg_std_error(&e.mgr);
  e.mgr.error_exit = encode_error_exit;
  if (setjmp(e.jump)) {
    jpeg_destroy_compress(&c);
    free(buf);
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_FORMAT,
                "JPEG encoder: %s", e.message);
    return FALSE;
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, (unsigned char **)&buf, &size);
  c.image_width = (JDIMENSION)img->width;
  c.image_height = (JDIMENSION)img->height;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(img->pixels +
                              (gsize)c.next_scanline * img->stride);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  /* libjpeg's buffer is malloc'd; hand out a g_malloc'd copy so callers
   * need one free function. */
  *out = g_memdup2(buf, size);
  *len = size;
  free(buf);
  return TRUE;
}
