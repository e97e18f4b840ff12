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

/* Per-thread working memory for image_classify_*: input tensor, logits and
 * the engine scratch, allocated once. */
typedef struct ImageClassifier ImageClassifier;

ImageClassifier *image_classifier_new(const struct ss_engine *engine,
                                      GError **error);
void image_classifier_free(ImageClassifier *c);

/* Classifies a decoded image; writes up to k predictions, returns how many
 * (>= 0). crop in (0, 1]. */
int image_classifier_run(ImageClassifier *c, const RgbImage *img, float crop,
                         int k, struct prediction *out);

G_END_DECLS

#endif
