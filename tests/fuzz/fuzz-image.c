/* streamsight — libFuzzer harness: the image path of /classify and
 * `streamsight classify`: image_decode_buffer (GStreamer: jpegdec/avdec,
 * pngdec, BMP, with the decoder's own header probes and limits), then the
 * crop + resize to a model input (image_classifier_preprocess).
 * One GStreamer pipeline per input: slow (tens of execs a second), fine.
 * Seeds: tiny generated images (tests/fuzz/seeds/image/, scripts/fuzz.sh
 * adds small real photos); dictionary image.dict. */
#include <gst/gst.h>
#include <string.h>

#include "engine.h"
#include "fuzz.h"
#include "image-classify.h"
#include "image-decode.h"
#include "kernels/kernels.h"
#include "mobilenet.h"

/* image-decode.h: at most 16384 a side and 100 million pixels. */
#define FUZZ_IMAGE_SIDE_MAX 16384
#define FUZZ_IMAGE_PIXELS_MAX 100000000LL

static struct ss_model *model;
static struct ss_engine *engine;
static ImageClassifier *classifier;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  struct ss_error err = { 0 };
  GError *e = NULL;
  gst_init(NULL, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  kern_init();
  /* The smallest input of the TFLite models (V1 0.25 at 128 px is 128;
   * 96 keeps the resize cheap); weights are not needed for preprocessing. */
  FUZZ_CHECK(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                             PAD_RULE_TF_SAME, 1001, &model, &err) == 0,
             "build: %s", err.message);
  FUZZ_CHECK(engine_new(model, KERN_ISA_AUTO, &engine, &err) == 0,
             "engine: %s", err.message);
  classifier = image_classifier_new(engine, &e);
  FUZZ_CHECK(classifier, "classifier: %s", e ? e->message : "?");
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  RgbImage img;
  memset(&img, 0xA5, sizeof img); /* must stay untouched on failure */
  RgbImage before = img;
  GError *e = NULL;
  gboolean ok = image_decode_buffer(data, size, &img, &e);
  if (!ok) {
    FUZZ_CHECK(e && e->domain == IMAGE_DECODE_ERROR && e->message[0],
               "failure without an IMAGE_DECODE_ERROR message");
    FUZZ_CHECK(e->code != IMAGE_DECODE_ERROR_MISSING_PLUGIN,
               "missing plugin: %s", e->message);
    FUZZ_CHECK(memcmp(&img, &before, sizeof img) == 0,
               "*out written on failure");
    g_error_free(e);
    return 0;
  }
  FUZZ_CHECK(img.width > 0 && img.height > 0 &&
                 img.width <= FUZZ_IMAGE_SIDE_MAX &&
                 img.height <= FUZZ_IMAGE_SIDE_MAX &&
                 (long long)img.width * img.height <= FUZZ_IMAGE_PIXELS_MAX,
             "decoded size %dx%d", img.width, img.height);
  FUZZ_CHECK(img.stride >= (gsize)img.width * 3, "stride %zu for width %d",
             img.stride, img.width);
  FUZZ_CHECK(img.pixels != NULL, "no pixels");
  /* Touch the last byte of every row: ASan catches a short buffer. */
  unsigned sum = 0;
  for (int y = 0; y < img.height; y++)
    sum += img.pixels[(gsize)y * img.stride + (gsize)img.width * 3 - 1];
  (void)sum;

  const guint8 *in = image_classifier_preprocess(classifier, &img,
                                                 IMAGE_CLASSIFY_DEFAULT_CROP);
  FUZZ_CHECK(in != NULL, "preprocess refused a decoded %dx%d image",
             img.width, img.height);
  rgb_image_clear(&img);
  return 0;
}
