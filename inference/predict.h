/* streamsight — from logits to ranked classes. */
#ifndef SS_PREDICT_H
#define SS_PREDICT_H

#include <stddef.h>

#include "model.h"

struct prediction {
  int index;   /* class index 0 .. model_num_classes-1 (offset removed) */
  float score; /* softmax probability */
};

/* Softmax over all outputs (background included, as the file's own softmax
 * does), then the k best classes in descending score, ties by lower index;
 * the background output is never reported. probs: scratch of
 * model_num_outputs floats (may alias logits). Returns the number written
 * (min(k, classes)). */
int predict_top_k(const struct ss_model *m, const float *logits, float *probs,
                  int k, struct prediction *out);

/* The k best classes of outputs that are already probabilities (an
 * engine whose engine_outputs_probs is true), ranked as predict_top_k. */
int predict_rank(const struct ss_model *m, const float *probs, int k,
                 struct prediction *out);

#endif
