/* streamsight — libFuzzer harness: the image path of /classify and
 * `streamsight classify`: image_decode_probe + image_decode_buffer_opts
 * (pipeline/image-decode.c, image-jpeg.c on libjpeg-turbo, image-png.c on
 * libspng, image-bmp.c) with the server's options (a 96 px target side,
 * so big JPEGs are DCT-scaled, and a 256 MB memory limit), then the crop +
 * resize to a model input (image_classifier_preprocess).
 * Seeds: tiny generated images (tests/fuzz/seeds/image/, scripts/fuzz.sh
 * adds small real photos); dictionary image.dict. */
#include <string.h>

#include "engine.h"
#include "fuzz.h"
#include "image-classify.h"
#include "image-decode.h"
#include "kernels/kernels.h"
#include "mobilenet.h"

/* The model input side below; and the server's default decode budget. */
#define FUZZ_IMAGE_TARGET_SIDE 96
#define FUZZ_IMAGE_MAX_MEMORY ((guint64)256 << 20)

static struct ss_model *model;
static struct ss_engine *engine;
static ImageClassifier *classifier;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  struct ss_error err = { 0 };
  GError *e = NULL;
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  kern_init();
  /* The smallest input of the TFLite models (V1 0.25 at 128 px is 128;
   * 96 keeps the resize cheap); weights are not needed for preprocessing. */
  FUZZ_CHECK(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                             MODEL_PAD_RULE_TF_SAME, 1001, &model, &err) == 0,
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
  const ImageDecodeOptions opts = {
    .target_side = FUZZ_IMAGE_TARGET_SIDE,
    .max_memory_bytes = FUZZ_IMAGE_MAX_MEMORY,
  };
  ImageDecodeInfo info;
  GError *pe = NULL;
  gboolean probed = image_decode_probe(data, size, &opts, &info, &pe);
  if (probed)
    FUZZ_CHECK(info.memory_bytes <= FUZZ_IMAGE_MAX_MEMORY &&
                   info.out_width > 0 && info.out_height > 0 &&
                   info.out_width <= info.width &&
                   info.out_height <= info.height,
               "probe: %dx%d -> %dx%d, %" G_GUINT64_FORMAT " bytes",
               info.width, info.height, info.out_width, info.out_height,
               info.memory_bytes);
  else
    FUZZ_CHECK(pe && pe->domain == IMAGE_DECODE_ERROR && pe->message[0],
               "probe failure without an IMAGE_DECODE_ERROR message");

  RgbImage img;
  memset(&img, 0xA5, sizeof img); /* must stay untouched on failure */
  RgbImage before = img;
  GError *e = NULL;
  gboolean ok = image_decode_buffer_opts(data, size, &opts, &img, &e);
  if (!ok) {
    FUZZ_CHECK(e && e->domain == IMAGE_DECODE_ERROR && e->message[0],
               "failure without an IMAGE_DECODE_ERROR message");
    FUZZ_CHECK(memcmp(&img, &before, sizeof img) == 0,
               "*out written on failure");
    /* A header the probe refused is refused the same way. */
    FUZZ_CHECK(probed || e->code == pe->code,
               "probe said %d (%s), decode %d (%s)", pe->code, pe->message,
               e->code, e->message);
    g_error_free(e);
    g_clear_error(&pe);
    return 0;
  }
  FUZZ_CHECK(probed, "decoded what the probe refused: %s", pe->message);
  FUZZ_CHECK(img.width == info.out_width && img.height == info.out_height,
             "decoded %dx%d, probe said %dx%d", img.width, img.height,
             info.out_width, info.out_height);
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
