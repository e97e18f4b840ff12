/* streamsight — what the suites of the sink element share (test-sink.c,
 * test-sink-geometry.c, test-sink-element.c): a seeded generator, a
 * SinkTarget that records the tensors it gets, a GstHarness on
 * streamsightsink, the raw formats' layouts written out by hand, and the
 * plain reference conversion (whole frame to RGB doubles with the
 * BT.601/709 matrix, bilinear resize, clamp, normalise) the sink is
 * compared with.
 *
 * gstreamer-check-1.0's bundled Check, not tests/testutil.
 */
#ifndef SS_SINK_FIXTURE_H
#define SS_SINK_FIXTURE_H

#include <glib.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "streamsight-sink.h"

#define SEED 20261130u

/* Float rounding in either implementation stays far below this (0..255
 * units): values are at most 255 and both sides compute in float/double
 * with a handful of operations; a wrong tap, weight or coefficient is off by
 * whole levels. */
#define TOL_LEVELS 0.02

/* ImageNet's mean and standard deviation per channel, 0..255: the
 * normalisation the tests give the target. */
extern const float imagenet_mean[3];
extern const float imagenet_std[3];

/* ---- a seeded generator (testutil-rng.c's, one state for the suite) ---- */

void rng_seed(guint64 s);

guint32 rng_u32(void);

/* ---- a target that records what it gets ---- */

typedef struct {
  float *tensor;
  int width, height;
  gboolean refuse;
  int acquired, submitted, released, refused, destroyed;
  SinkFrameInfo last;
  gint64 preprocess_ns_total;
} TestTarget;

/* The SinkTarget of a TestTarget (tt_init gives the user pointer). */
extern const SinkTarget test_target;

void tt_destroy(gpointer user);

void tt_init(TestTarget *t, int w, int h);

void tt_clear(TestTarget *t);

GstHarness *new_harness(TestTarget *t, const float mean[3], const float std[3],
                        const char *resize_mode);

/* ---- formats: layouts written out by hand ---- */

typedef enum {
  KIND_RGB,      /* packed, positions of R, G, B in a pixel */
  KIND_I420,     /* Y, then U and V planes (swapped for YV12) */
  KIND_NV,       /* Y, then interleaved chroma */
  KIND_PACKED422 /* two pixels in four bytes */
} Kind;

typedef struct {
  GstVideoFormat format;
  Kind kind;
  int pstride;      /* RGB: bytes per pixel */
  int pos[3];       /* RGB: R, G, B; 4:2:2: Y0, U, V (Y1 = Y0 + 2);
                     * I420: plane of U, plane of V; NV: offset of U, V */
} Fmt;

const Fmt *fmt_of(GstVideoFormat f);

/* Byte addresses of the three components of pixel (x, y). */
void pixel_addr(const Fmt *f, GstVideoFrame *fr, int x, int y, guint8 *p[3]);

/* ---- the reference conversion ---- */

/* Colour matrices as published (BT.601 / BT.709, 8-bit). Limited range:
 * Y' = 255/219 (Y - 16), chroma 255/224 (C - 128); full range: Y as is,
 * chroma C - 128. */
typedef enum { MAT_601, MAT_709 } Matrix;

typedef enum { MODE_STRETCH, MODE_CROP, MODE_LETTERBOX } Mode;

/* "stretch", "crop", "letterbox": the sink's resize-mode nicks by Mode. */
extern const char *const mode_nick[3];

/* GstVideoInfo's default for caps without colorimetry: BT.709 from 720
 * lines up (our sizes), BT.601 below; limited range. */
Matrix default_matrix(int h);

void yuv_to_rgb(Matrix m, gboolean full, double y, double u, double v,
                double rgb[3]);

/* The whole frame as RGB doubles, unclamped. */
double *reference_rgb(const Fmt *f, GstVideoFrame *fr, Matrix m, gboolean full);

/* Bilinear sample of the RGB image at source coordinates (sx, sy), clamped
 * to the pixels [x_lo, x_hi] x [y_lo, y_hi] (the whole image, or the
 * region of interest's pixels). */
void sample(const double *rgb, int w, int x_lo, int x_hi, int y_lo, int y_hi,
            double sx, double sy, double out[3]);

/* The expected tensor: region of interest (fractions; its pixels are the
 * ones its edges touch), geometry inside it, bilinear sampling clamped to
 * it, clamp, normalise. Letterbox borders are black. */
float *reference_tensor_roi(const double *rgb, int w, int h, int ow, int oh,
                            Mode mode, const StreamRoi *roi,
                            const float mean[3], const float std[3]);

float *reference_tensor(const double *rgb, int w, int h, int ow, int oh,
                        Mode mode, const float mean[3], const float std[3]);

/* A buffer of the format's default layout, filled with random bytes. */
GstBuffer *random_frame(const GstVideoInfo *info);

/* Compares a tensor with the reference; fails with the first bad index. */
void compare_tensor(const char *what, const float *got, const float *want,
                    int ow, int oh, const float std[3]);

/* ---- main ---- */

/* What the suites' main() does: gst_check_init, the element registered
 * (exit status 1 if it cannot be), SEED printed, then the suite made by
 * make_suite run as gst_check_run_suite(suite, name, file); file: the
 * caller's __FILE__ (names GST_CHECK_XML's output). */
int sink_fixture_main(int *argc, char ***argv, Suite *(*make_suite)(void),
                      const char *name, const char *file);

#endif
