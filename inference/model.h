/* streamsight — a loaded or built MobileNet: its graph, weights and everything
 * a caller must know to feed it (input size, normalisation, padding rule,
 * class offset, labels).
 *
 * A model is immutable once loaded and is shared between threads by reference
 * counting: model_ref()/model_unref() may be called from any thread.
 */
#ifndef SS_MODEL_H
#define SS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct ss_model;

enum model_arch {
  MODEL_ARCH_UNKNOWN = 0,
  MODEL_ARCH_MOBILENET_V1,
  MODEL_ARCH_MOBILENET_V2,
};

/* How the file's convolutions pad: TensorFlow "SAME" (extra pixel at the
 * bottom/right when odd) or PyTorch's symmetric padding. The explicit pads of
 * every layer are computed from this at load time. */
enum model_pad_rule {
  MODEL_PAD_RULE_TF_SAME = 0,
  MODEL_PAD_RULE_SYMMETRIC,
};

enum model_format {
  MODEL_FORMAT_BUILT = 0, /* built by mobilenet_v*_build(), weights unset */
  MODEL_FORMAT_TFLITE,
  MODEL_FORMAT_SAFETENSORS,
};

/* Loads a model file, choosing the loader by content (TFLite flatbuffer or
 * safetensors). On success *out holds a new reference. Labels embedded in the
 * file (TFLite metadata) are attached; otherwise the model has no labels and
 * model_label() returns NULL. (model-load.c) */
int model_load(const char *path, struct ss_model **out, struct ss_error *err);

struct ss_model *model_ref(struct ss_model *m);
void model_unref(struct ss_model *m); /* NULL is allowed */

/* Replaces the labels from a text file, one label per line. Accepted: exactly
 * num_classes lines, or num_outputs lines whose first is the background class
 * when the model has a class offset. Not thread-safe: call before sharing. */
int model_set_labels_file(struct ss_model *m, const char *path,
                          struct ss_error *err);
int model_set_labels_text(struct ss_model *m, const char *text, size_t len,
                          struct ss_error *err);

/* Accessors. Strings are borrowed for the life of the model. */
enum model_arch model_arch(const struct ss_model *m);
const char *model_arch_name(enum model_arch arch); /* "mobilenet_v1"... */
enum model_format model_format(const struct ss_model *m);
float model_alpha(const struct ss_model *m);   /* 0 when unknown */
int model_input_width(const struct ss_model *m);
int model_input_height(const struct ss_model *m);
/* Input normalisation per RGB channel: x = (pixel_0_255 - mean) / std. */
void model_input_norm(const struct ss_model *m, float mean[3], float std[3]);
enum model_pad_rule model_pad_rule(const struct ss_model *m);
int model_num_outputs(const struct ss_model *m); /* logits, e.g. 1001 */
int model_class_offset(const struct ss_model *m); /* 1 with background */
int model_num_classes(const struct ss_model *m); /* outputs - offset */
/* Label of ImageNet-style class index 0..num_classes-1, or NULL. */
const char *model_label(const struct ss_model *m, int class_index);
bool model_has_labels(const struct ss_model *m);
bool model_is_quantized(const struct ss_model *m); /* weights were uint8/int8 */
const char *model_name(const struct ss_model *m);  /* file stem or arch_a_r */

/* Multiply-accumulates of one inference (convolutions and classifier, as the
 * papers count them) and parameters (weights plus one bias per channel). */
uint64_t model_macs(const struct ss_model *m);
uint64_t model_params(const struct ss_model *m);

#endif
