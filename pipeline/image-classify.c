/* streamsight — classify a still image: crop/resize to the model's input,
 * normalise as the model expects, run the engine, rank. */
#include "image-classify.h"

#include "error.h"
#include "image-decode.h"
#include "model.h"
#include "preprocess.h"

G_DEFINE_QUARK(image-classify-error-quark, image_classify_error)

struct ImageClassifier {
  const struct ss_engine *engine; /* borrowed */
  const struct ss_model *model;   /* borrowed from the engine */
  struct ss_scratch *scratch;
  int in_w, in_h;
  float mean[3], std[3];
  guint8 *rgb;   /* in_h x in_w x 3 */
  float *input;  /* in_h x in_w x 3, normalised */
  float *logits; /* model_num_outputs */
  float *probs;  /* model_num_outputs */
};

ImageClassifier *
image_classifier_new(const struct ss_engine *engine, GError **error)
{
  g_return_val_if_fail(engine != NULL, NULL);
  struct ss_error err = { 0 };
  struct ss_scratch *scratch = NULL;
  if (engine_scratch_new(engine, &scratch, &err) != 0) {
    g_set_error(error, IMAGE_CLASSIFY_ERROR, IMAGE_CLASSIFY_ERROR_ENGINE,
                "engine scratch: %s", err.message);
    return NULL;
  }
  ImageClassifier *c = g_new0(ImageClassifier, 1);
  c->engine = engine;
  c->model = engine_model(engine);
  c->scratch = scratch;
  c->in_w = model_input_width(c->model);
  c->in_h = model_input_height(c->model);
  model_input_norm(c->model, c->mean, c->std);
  gsize px = (gsize)c->in_w * (gsize)c->in_h;
  gsize outputs = (gsize)model_num_outputs(c->model);
  c->rgb = g_malloc(px * 3);
  c->input = g_new(float, px * 3);
  c->logits = g_new(float, outputs);
  c->probs = g_new(float, outputs);
  return c;
}

void
image_classifier_free(ImageClassifier *c)
{
  if (!c)
    return;
  engine_scratch_free(c->scratch);
  g_free(c->rgb);
  g_free(c->input);
  g_free(c->logits);
  g_free(c->probs);
  g_free(c);
}

const guint8 *
image_classifier_preprocess(ImageClassifier *c, const RgbImage *img,
                            float crop)
{
  if (!c || !img || !img->pixels || img->width < 1 || img->height < 1 ||
      img->stride < (gsize)img->width * 3 || !(crop > 0.0f && crop <= 1.0f))
    return NULL;
  preprocess_crop_resize_rgb8(img->pixels, img->width, img->height,
                              img->stride, crop, c->rgb, c->in_w, c->in_h);
  return c->rgb;
}

int
image_classifier_run(ImageClassifier *c, const RgbImage *img, float crop,
                     int k, struct prediction *out)
{
  if (!image_classifier_preprocess(c, img, crop) || k < 0)
    return -1;
  preprocess_normalize_rgb8(c->rgb, (size_t)c->in_w * (size_t)c->in_h,
                            c->mean, c->std, c->input);
  engine_run(c->engine, c->scratch, c->input, c->logits);
  if (engine_outputs_probs(c->engine))
    return predict_rank(c->model, c->logits, k, out);
  return predict_top_k(c->model, c->logits, c->probs, k, out);
}

int
image_classifier_embed(ImageClassifier *c, const RgbImage *img, float crop,
                       float *out, int n)
{
  if (!out || !image_classifier_preprocess(c, img, crop))
    return -1;
  preprocess_normalize_rgb8(c->rgb, (size_t)c->in_w * (size_t)c->in_h,
                            c->mean, c->std, c->input);
  return engine_run_features(c->engine, c->scratch, c->input, out, n);
}
