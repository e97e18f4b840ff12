/* streamsight — heads (inference/head.h) in JSON and on images, shared by
 * `streamsight train`, `streamsight classify --head` and the /api/v1/heads
 * routes. */
#ifndef SS_HEAD_JSON_H
#define SS_HEAD_JSON_H

#include <jansson.h>

#include "head-train.h"
#include "head.h"
#include "predict.h"

/* Heads see the whole image (or the stream's ROI), as a stream's frames
 * are fed to the model: no central crop, unlike ImageNet evaluation. */
#define HEAD_IMAGE_CROP 1.0f

/* The cross-validation report:
 *   {"folds", "examples", "accuracy",
 *    "classes": [{"class", "examples", "accuracy"}...],
 *    "confusion": [[n...]...]}   (rows: true class, columns: predicted)
 * A new reference. */
json_t *head_cv_to_json(const struct ss_head *h, const struct head_cv *cv);

#endif
