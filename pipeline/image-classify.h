/* streamsight — classify a still image: decode, preprocess as the model
 * expects (central crop + bilinear, see inference/preprocess.h), run the
 * engine, rank. Shared by `streamsight classify`, streamsight-bench's
 * accuracy mode and POST /api/v1/classify.
 */
#ifndef SS_IMAGE_CLASSIFY_H
#define SS_IMAGE_CLASSIFY_H

#include <glib.h>

#include "engine.h"
#include "image-decode.h"
#include "predict.h"

G_BEGIN_DECLS

/* The TF evaluation crop: 87.5% of each side. */
#define IMAGE_CLASSIFY_DEFAULT_CROP 0.875f

#define IMAGE_CLASSIFY_ERROR (image_classify_error_quark())
GQuark image_classify_error_quark(void);

typedef enum {
  IMAGE_CLASSIFY_ERROR_ENGINE, /* the engine could not provide scratch */
} ImageClassifyError;

/* Per-thread working memory for image_classify_*: input tensor, logits and
 * the engine scratch, allocated once. */
typedef struct ImageClassifier ImageClassifier;

/* The engine is borrowed and must outlive the classifier. One classifier
 * is used by one thread at a time; several may share an engine. */
ImageClassifier *image_classifier_new(const struct ss_engine *engine,
                                      GError **error);
void image_classifier_free(ImageClassifier *c);

/* Classifies a decoded image; writes up to k predictions, returns how many
 * (>= 0), or -1 for bad arguments (empty image, crop outside (0, 1],
 * k < 0). */
int image_classifier_run(ImageClassifier *c, const RgbImage *img, float crop,
                         int k, struct prediction *out);

/* Runs the model on a decoded image up to its pooled features (see
 * engine_run_features) and writes them, L2-normalised, to out; n is the
 * room in out. Returns the number written (engine_feature_len), or -1 for
 * bad arguments, a model without features or n too small. */
int image_classifier_embed(ImageClassifier *c, const RgbImage *img,
                           float crop, float *out, int n);

/* Only the crop + resize step of image_classifier_run: returns the model
 * input as H x W x 3 RGB8 (borrowed, valid until the next call on c), or
 * NULL for bad arguments. This is the buffer whose SHA-256 the TFLite
 * reference files give as input_rgb_sha256. */
const guint8 *image_classifier_preprocess(ImageClassifier *c,
                                          const RgbImage *img, float crop);

G_END_DECLS

#endif
