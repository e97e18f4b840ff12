/* streamsight — a head: a user's linear softmax classifier over one model's
 * pooled features (engine_run_features), taught from a few examples
 * (head-train.h). It maps dim L2-normalised features to n named classes:
 *
 *   p = softmax(W f + b),   W: n x dim (row-major), b: n
 *
 * A head remembers the model it was trained on (the model's name, see
 * model_name, and the feature length) so that it is never applied to
 * another model's features: head_check_model says why not.
 *
 * Head file (".head"), all integers and floats little-endian:
 *   "SSHD"  u32 version (1)  u32 dim  u32 n_classes
 *   u16 len + bytes: model name
 *   n_classes x (u16 len + bytes): class names
 *   f32 W[n_classes * dim]  f32 b[n_classes]
 *   u32 CRC-32 (IEEE) of everything before it
 * head_load_buffer treats the bytes as hostile: every length is checked
 * against the bytes left and the limits below, names must pass
 * head_name_valid, weights must be finite, the CRC must match.
 *
 * A head is owned by one caller; the read-only functions (head_scores and
 * the accessors) may be called from several threads at once.
 */
#ifndef SS_HEAD_H
#define SS_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "predict.h"

#define HEAD_FILE_VERSION 1
/* Class names and ids: short, printable, safe in URLs, metrics labels,
 * MQTT topics and file names (head_name_valid). */
#define HEAD_NAME_MAX 64
/* Model names are file stems ("mobilenet_v2_1.0_224_quant"). */
#define HEAD_MODEL_NAME_MAX 255
#define HEAD_MAX_CLASSES 64
/* MobileNetV2 1.4 has 1792 features; room for wider models. */
#define HEAD_MAX_DIM 8192
/* The largest file the limits above allow, rounded up. */
#define HEAD_FILE_MAX_BYTES                                                  \
  (64 + HEAD_MODEL_NAME_MAX +                                                \
   (size_t)HEAD_MAX_CLASSES * (2 + HEAD_NAME_MAX + 4 * (HEAD_MAX_DIM + 1)))

struct ss_head;

/* True when name is 1..HEAD_NAME_MAX bytes of letters, digits, '_', '-',
 * '.' and inner spaces, not starting with '.' or a space and not ending
 * with a space. */
bool head_name_valid(const char *name);

/* A new head with all weights zero (uniform scores until trained).
 * class_names: n_classes distinct valid names, copied. model: the model's
 * name, copied. Fails with SS_EINVAL naming the bad argument. */
int head_new(const char *model, int dim, int n_classes,
             const char *const *class_names, struct ss_head **out,
             struct ss_error *err);
void head_free(struct ss_head *h); /* NULL is allowed */

/* A deep copy. */
int head_copy(const struct ss_head *h, struct ss_head **out,
              struct ss_error *err);

const char *head_model(const struct ss_head *h); /* borrowed, life of h */
int head_dim(const struct ss_head *h);
int head_num_classes(const struct ss_head *h);
const char *head_class_name(const struct ss_head *h, int i); /* or NULL */
/* Index of the class called name, or -1. */
int head_class_index(const struct ss_head *h, const char *name);

/* The parameters, for the trainer and tests: W (n_classes x dim,
 * row-major) and b (n_classes). */
float *head_weights(struct ss_head *h);
float *head_bias(struct ss_head *h);
const float *head_weights_const(const struct ss_head *h);
const float *head_bias_const(const struct ss_head *h);

/* 0 when features of the model called model_name, dim long, may go
 * through h; otherwise SS_EMISMATCH with a message naming both models. */
int head_check_model(const struct ss_head *h, const char *model_name, int dim,
                     struct ss_error *err);

/* probs[0 .. n_classes-1] = softmax(W f + b). features: dim floats. */
void head_scores(const struct ss_head *h, const float *features,
                 float *probs);

/* The scores as predictions, best first (ties to the lower class), at
 * most k; index = class number. probs: head_num_classes floats. Returns
 * the number written. */
int head_rank(const struct ss_head *h, const float *probs, int k,
              struct prediction *out);

/* The file format above. head_encode returns a malloc'd buffer (caller
 * frees); head_save writes it atomically (file_write_atomic) with mode
 * 0600. head_load_buffer parses hostile bytes; *out is written only on
 * success. */
int head_encode(const struct ss_head *h, uint8_t **out_data, size_t *out_size,
                struct ss_error *err);
int head_load_buffer(const uint8_t *data, size_t size, struct ss_head **out,
                     struct ss_error *err);
int head_save(const struct ss_head *h, const char *path, struct ss_error *err);
int head_load(const char *path, struct ss_head **out, struct ss_error *err);

#endif
