/* streamsight — JPEG decoding with libjpeg-turbo (the libjpeg API: its
 * error manager, progress monitor and memory limit are the defences).
 *
 * Pixels are libjpeg's defaults (JDCT_ISLOW, fancy upsampling, RGB output):
 * what TensorFlow's decode_jpeg and PIL give, and what the TFLite reference
 * inputs were computed from. Every sampling, colour space and coding
 * process the 8-bit build of libjpeg-turbo 2.1.5 knows is decoded
 * (baseline, extended, progressive, arithmetic; 1..4 components, sampling
 * factors 1..4 that divide the largest). CMYK and YCCK are converted to RGB
 * as PIL does (an Adobe marker means inverted CMYK, Photoshop's way).
 * What the library refuses (12/16-bit samples, lossless and hierarchical
 * processes, fractional sampling) is IMAGE_DECODE_ERROR_UNSUPPORTED.
 *
 * Warnings do not abort (libjpeg resynchronises after corrupt data, as PIL
 * and TensorFlow accept), except the end of the data: a truncated file is
 * an error, not an image padded with grey.
 *
 * Limits: the header's size before anything is allocated; the memory
 * (coefficient buffers of a multi-scan file plus the output) estimated from
 * the header and refused over the caller's limit, with libjpeg's own
 * max_memory_to_use as a backstop; IMAGE_DECODE_MAX_SCANS scans (fewer
 * for large images, see image-decode.h) and IMAGE_DECODE_MAX_CPU_MS (or the
 * caller's limit) of thread CPU time, checked by the progress monitor
 * (called for every row of blocks read or written).
 */
#include "image-decode-private.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jerror.h>
#include <jpeglib.h>

/* Working memory beyond the coefficient buffers and the output: per
 * component one row of blocks with context rows (main buffer, upsampler),
 * doubled for the colour and upsampling row buffers, plus a fixed part for
 * tables. An overestimate on purpose. */
#define JPEG_WORK_FIXED_BYTES ((guint64)512 * 1024)

typedef struct {
  struct jpeg_error_mgr pub; /* first: libjpeg's err pointer is this */
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  ImageDecodeError code;
  char message[JMSG_LENGTH_MAX + 128];
  guint64 cpu_deadline_ns; /* thread CPU clock */
  int max_scans;           /* for this image's size */
  int max_cpu_ms;
  struct jpeg_decompress_struct cinfo;
  gboolean created;
  RgbImage img;      /* the output while decoding */
  guint8 *row_cmyk;  /* CMYK rows before conversion */
} JpegCtx;

static guint64
thread_cpu_ns(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    return 0;
  return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

static G_GNUC_NORETURN void
jpeg_abort_with(JpegCtx *x, ImageDecodeError code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static G_GNUC_NORETURN void
jpeg_abort_with(JpegCtx *x, ImageDecodeError code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_vsnprintf(x->message, sizeof x->message, fmt, ap);
  va_end(ap);
  x->code = code;
  longjmp(x->jump, 1);
}

static const char *
sof_process_name(int marker)
{
  switch (marker) {
  case 0xC3: return "lossless (SOF3)";
  case 0xCB: return "lossless arithmetic (SOF11)";
  case 0xC5: case 0xC6: case 0xC7: case 0xCD: case 0xCE: case 0xCF:
    return "hierarchical";
  default: return "unknown coding process";
  }
}

/* error_exit: turns libjpeg's error into the message and code, and jumps
 * back to the decode's setjmp. Never returns. */
static void
jpeg_on_error(j_common_ptr c)
{
  JpegCtx *x = (JpegCtx *)c->err;
  char text[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, text);
  switch (c->err->msg_code) {
  case JERR_BAD_PRECISION:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_UNSUPPORTED,
                    "unsupported JPEG: %d-bit samples (only 8-bit JPEGs "
                    "are decoded)",
                    c->err->msg_parm.i[0]);
  case JERR_SOF_UNSUPPORTED:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_UNSUPPORTED,
                    "unsupported JPEG: %s process (marker 0x%02X)",
                    sof_process_name(c->err->msg_parm.i[0]),
                    c->err->msg_parm.i[0]);
  case JERR_NOT_COMPILED:
  case JERR_NOTIMPL:
  case JERR_ARITH_NOTIMPL:
  case JERR_CONVERSION_NOTIMPL:
  case JERR_FRACT_SAMPLE_NOTIMPL:
  case JERR_CCIR601_NOTIMPL:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_UNSUPPORTED, "unsupported JPEG: %s",
                    text);
  case JERR_OUT_OF_MEMORY:
  case JERR_NO_BACKING_STORE:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_TOO_LARGE,
                    "JPEG: decoding needs more memory than allowed (%s)",
                    text);
  case JERR_IMAGE_TOO_BIG:
  case JERR_WIDTH_OVERFLOW:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_TOO_LARGE, "JPEG too large: %s",
                    text);
  default:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_FORMAT, "corrupt JPEG: %s", text);
  }
}

/* emit_message: nothing is printed. Warnings (level -1) let the decode go
 * on, except running out of data. */
static void
jpeg_on_message(j_common_ptr c, int level)
{
  JpegCtx *x = (JpegCtx *)c->err;
  if (level >= 0)
    return; /* trace messages */
  c->err->num_warnings++;
  if (c->err->msg_code == JWRN_JPEG_EOF)
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_FORMAT,
                    "truncated JPEG: the data ends before the image does");
}

static void
jpeg_on_progress(j_common_ptr c)
{
  JpegCtx *x = c->client_data;
  if (c->is_decompressor &&
      ((j_decompress_ptr)c)->input_scan_number > x->max_scans)
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_TOO_LARGE,
                    "JPEG has more than %d scans (the limit for its size; "
                    "encoders write about 10)",
                    x->max_scans);
  if (thread_cpu_ns() > x->cpu_deadline_ns)
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_TOO_LARGE,
                    "JPEG decoding took more than %d ms of CPU time (the "
                    "limit)",
                    x->max_cpu_ms);
}

static JpegCtx *
jpeg_ctx_new(int max_cpu_ms)
{
  JpegCtx *x = g_new0(JpegCtx, 1);
  x->cinfo.err = jpeg_std_error(&x->pub);
  x->pub.error_exit = jpeg_on_error;
  x->pub.emit_message = jpeg_on_message;
  x->progress.progress_monitor = jpeg_on_progress;
  x->max_scans = IMAGE_DECODE_MAX_SCANS;
  x->max_cpu_ms = max_cpu_ms;
  x->cpu_deadline_ns = thread_cpu_ns() + (guint64)max_cpu_ms * 1000000u;
  return x;
}

static void
jpeg_ctx_free(JpegCtx *x)
{
  if (x->created)
    jpeg_destroy_decompress(&x->cinfo);
  rgb_image_clear(&x->img);
  g_free(x->row_cmyk);
  g_free(x);
}

/* Largest denominator (1, 2, 4, 8) that keeps the shorter side at least
 * IMAGE_DECODE_SCALE_MIN_RATIO x target_side. */
static int
jpeg_scale_denom(int w, int h, int target_side)
{
  if (target_side <= 0)
    return 1;
  guint64 shorter = (guint64)MIN(w, h);
  for (int d = 8; d > 1; d /= 2)
    if (shorter / (guint64)d >=
        (guint64)IMAGE_DECODE_SCALE_MIN_RATIO * (guint64)target_side)
      return d;
  return 1;
}

/* Estimated peak memory once the header is read and the output
 * dimensions computed. */
static guint64
jpeg_memory_estimate(j_decompress_ptr c)
{
  guint64 coef = 0, work = JPEG_WORK_FIXED_BYTES;
  /* A progressive or non-interleaved file keeps every coefficient of the
   * image (jdcoefct.c's whole-image virtual arrays). */
  gboolean multiscan = c->progressive_mode ||
                       c->comps_in_scan < c->num_components;
  for (int ci = 0; ci < c->num_components; ci++) {
    const jpeg_component_info *comp = &c->comp_info[ci];
    guint64 wb = comp->width_in_blocks, hb = comp->height_in_blocks;
    guint64 hs = (guint64)MAX(comp->h_samp_factor, 1);
    guint64 vs = (guint64)MAX(comp->v_samp_factor, 1);
    if (multiscan)
      coef += ((wb + hs - 1) / hs * hs) * ((hb + vs - 1) / vs * vs) *
              DCTSIZE2 * sizeof(JCOEF);
    /* One iMCU row of samples with context (3 x), doubled. */
    work += 2 * 3 * wb * DCTSIZE * vs * DCTSIZE;
  }
  work += (guint64)c->output_width * 8 * (guint64)c->max_v_samp_factor *
          DCTSIZE;
  guint64 out = (guint64)c->output_width * c->output_height * 3;
  return coef + work + out;
}

/* Reads the header into x->cinfo, sets the output parameters, fills info.
 * Must run under x's setjmp. */
static void
jpeg_read_setup(JpegCtx *x, const guint8 *d, gsize n, int target_side,
                ImageDecodeInfo *info)
{
  j_decompress_ptr c = &x->cinfo;
  jpeg_create_decompress(c);
  x->created = TRUE;
  c->client_data = x;
  c->progress = &x->progress;
  jpeg_mem_src(c, d, (unsigned long)n);
  jpeg_read_header(c, TRUE);
  GError *e = NULL;
  if (!image_decode_check_size(c->image_width, c->image_height, &e)) {
    g_strlcpy(x->message, e->message, sizeof x->message);
    g_error_free(e);
    x->code = IMAGE_DECODE_ERROR_TOO_LARGE;
    longjmp(x->jump, 1);
  }
  switch (c->jpeg_color_space) {
  case JCS_GRAYSCALE:
  case JCS_YCbCr:
  case JCS_RGB: c->out_color_space = JCS_RGB; break;
  case JCS_CMYK:
  case JCS_YCCK: c->out_color_space = JCS_CMYK; break;
  default:
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_UNSUPPORTED,
                    "unsupported JPEG: %d components of unknown colour "
                    "space",
                    c->num_components);
  }
  guint64 blocks = 0;
  for (int ci = 0; ci < c->num_components; ci++)
    blocks += (guint64)c->comp_info[ci].width_in_blocks *
              c->comp_info[ci].height_in_blocks;
  x->max_scans = (int)CLAMP(IMAGE_DECODE_MAX_SCAN_BLOCKS / MAX(blocks, 1u),
                            (guint64)IMAGE_DECODE_MIN_SCAN_LIMIT,
                            (guint64)IMAGE_DECODE_MAX_SCANS);
  c->dct_method = JDCT_ISLOW;
  c->do_fancy_upsampling = TRUE;
  c->scale_num = 1;
  c->scale_denom = (unsigned)jpeg_scale_denom((int)c->image_width,
                                              (int)c->image_height,
                                              target_side);
  jpeg_calc_output_dimensions(c);
  info->format = IMAGE_FORMAT_JPEG;
  info->width = (int)c->image_width;
  info->height = (int)c->image_height;
  info->out_width = (int)c->output_width;
  info->out_height = (int)c->output_height;
  info->memory_bytes = jpeg_memory_estimate(c);
}

static void
set_error_from(JpegCtx *x, GError **error)
{
  image_decode_fail(error, x->code, "%s", x->message);
}

gboolean
image_jpeg_probe(const guint8 *d, gsize n, const ImageDecodeOptions *opts,
                 ImageDecodeInfo *info, GError **error)
{
  JpegCtx *x = jpeg_ctx_new(opts->max_cpu_ms);
  if (setjmp(x->jump)) {
    set_error_from(x, error);
    jpeg_ctx_free(x);
    return FALSE;
  }
  jpeg_read_setup(x, d, n, opts->target_side, info);
  jpeg_ctx_free(x);
  return TRUE;
}

/* PIL's CMYK -> RGB (Convert.c cmyk2rgb): R = (255 - K) - C (255 - K) / 255
 * in its integer rounding; Adobe files store inverted samples ("CMYK;I"). */
static inline guint8
muldiv255(int a, int b)
{
  int t = a * b + 128;
  return (guint8)(((t >> 8) + t) >> 8);
}

static void
cmyk_row_to_rgb(const guint8 *s, int w, gboolean inverted, guint8 *o)
{
  for (int x = 0; x < w; x++, s += 4, o += 3) {
    int k = inverted ? 255 - s[3] : s[3];
    int nk = 255 - k;
    for (int ch = 0; ch < 3; ch++) {
      int v = inverted ? 255 - s[ch] : s[ch];
      int r = nk - muldiv255(v, nk);
      o[ch] = (guint8)CLAMP(r, 0, 255);
    }
  }
}

gboolean
image_jpeg_decode(const guint8 *d, gsize n, const ImageDecodeOptions *opts,
                  RgbImage *out, GError **error)
{
  const guint64 max_memory = opts->max_memory_bytes;
  JpegCtx *x = jpeg_ctx_new(opts->max_cpu_ms);
  if (setjmp(x->jump)) {
    set_error_from(x, error);
    jpeg_ctx_free(x);
    return FALSE;
  }
  ImageDecodeInfo info;
  jpeg_read_setup(x, d, n, opts->target_side, &info);
  j_decompress_ptr c = &x->cinfo;
  if (info.memory_bytes > max_memory)
    jpeg_abort_with(x, IMAGE_DECODE_ERROR_TOO_LARGE,
                    "JPEG %dx%d needs about %" G_GUINT64_FORMAT " MB to "
                    "decode: the limit is %" G_GUINT64_FORMAT " MB",
                    info.width, info.height,
                    (info.memory_bytes + 1048575) >> 20,
                    max_memory >> 20);
  /* Backstop for the whole-image buffers: without a backing store,
   * libjpeg refuses (JERR_NO_BACKING_STORE) what does not fit. */
  guint64 out_bytes = (guint64)c->output_width * c->output_height * 3;
  c->mem->max_memory_to_use = (long)MIN(max_memory - MIN(out_bytes,
                                                         max_memory),
                                        (guint64)G_MAXLONG);
  if (c->mem->max_memory_to_use == 0)
    c->mem->max_memory_to_use = 1; /* 0 would mean "no limit" */
  jpeg_start_decompress(c);
  g_assert(c->output_width == (JDIMENSION)info.out_width &&
           c->output_height == (JDIMENSION)info.out_height);
  const int w = (int)c->output_width, h = (int)c->output_height;
  image_decode_alloc(&x->img, w, h);
  gboolean cmyk = c->out_color_space == JCS_CMYK;
  g_assert(c->output_components == (cmyk ? 4 : 3));
  JSAMPROW rows[16];
  int batch = MIN(c->rec_outbuf_height, 16);
  if (cmyk)
    x->row_cmyk = g_malloc((gsize)w * 4 * (gsize)batch);
  while (c->output_scanline < c->output_height) {
    JDIMENSION y0 = c->output_scanline;
    int want = MIN(batch, (int)(c->output_height - y0));
    for (int i = 0; i < want; i++)
      rows[i] = cmyk ? x->row_cmyk + (gsize)i * w * 4
                     : x->img.pixels + (gsize)(y0 + i) * x->img.stride;
    JDIMENSION got = jpeg_read_scanlines(c, rows, (JDIMENSION)want);
    if (cmyk)
      for (JDIMENSION i = 0; i < got; i++)
        cmyk_row_to_rgb(rows[i], w, c->saw_Adobe_marker,
                        x->img.pixels + (gsize)(y0 + i) * x->img.stride);
    if (got == 0)
      jpeg_abort_with(x, IMAGE_DECODE_ERROR_FORMAT,
                      "corrupt JPEG: no rows after row %u", y0);
  }
  /* Reads up to the end-of-image marker: a file cut after the last scan's
   * data is truncated too. */
  jpeg_finish_decompress(c);
  *out = x->img;
  memset(&x->img, 0, sizeof x->img);
  jpeg_ctx_free(x);
  return TRUE;
}
