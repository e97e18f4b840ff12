/* streamsight — MobileNetV1 / V2 graph builders.
 *
 * Builds the architecture for a width multiplier alpha (0.25 … 1.4) and a
 * square input resolution (224, 192, 160, 128, 96, or any size >= 32) with
 * zero weights, named after torchvision's modules so that a loader can bind
 * tensors by name:
 *   V2: features.0.0 (3x3 s2 conv), features.N.conv.* (inverted residuals),
 *       features.18.0 (1x1 conv to 1280), classifier.1 (linear);
 *   V1: features.0.0 (3x3 s2 conv), features.N.0 (depthwise 3x3),
 *       features.N.3 (pointwise 1x1), classifier (linear).
 * Channels follow the reference implementations: V2 rounds to multiples of 8
 * (_make_divisible) and keeps 1280 final channels for alpha <= 1; V1 uses
 * max(int(c * alpha), 8) as TF-slim does.
 */
#ifndef SS_MOBILENET_H
#define SS_MOBILENET_H

#include "error.h"
#include "model.h"

/* Returns a new model (refcount 1) with zeroed weights and the given padding
 * rule and class count (1000, or 1001 with a background class at 0). */
int mobilenet_build(enum model_arch arch, float alpha, int resolution,
                    enum model_pad_rule pad, int num_outputs,
                    struct ss_model **out, struct ss_error *err);

/* The channel rounding of the reference implementations. */
int mobilenet_make_divisible(float v, int divisor);

#endif
