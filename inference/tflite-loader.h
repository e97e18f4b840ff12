/* streamsight — the TFLite loader's shared state, private to tflite-*.c.
 *
 * The loader works in two passes over one struct tfl_loader:
 * - tflite-parse.c walks the whole flatbuffer once through the
 *   bounds-checked reader of flatbuf.h and copies what the graph needs
 *   into the plain structs below (pointers into the borrowed file for
 *   tensor data and quantisation vectors, all verified);
 * - tflite-ops.c turns subgraph 0's operators, in order, into layers of
 *   struct ss_model, reading constants and quantisation through
 *   tflite-quant.c;
 * - tflite-load.c drives both, sets the input normalisation, the output,
 *   the labels and the architecture (model_load_tflite_buffer*()).
 *
 * All functions here run on the loading thread only; pointers into the file
 * are borrowed for the duration of the load.
 */
#ifndef SS_TFLITE_LOADER_H
#define SS_TFLITE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "flatbuf.h"
#include "model-graph.h"
#include "tflite-schema.h"

/* ---- parsed file ---- */

struct tfl_tensor {
  int32_t shape[TFL_MAX_DIMS];
  int ndims;
  int type;
  uint32_t buffer;
  char name[SS_NAME_MAX]; /* up to the first ';' (TF joins fused names) */
  struct fb_vector scale;      /* float, maybe empty */
  struct fb_vector zero_point; /* int64, maybe empty */
  int32_t qdim;
  uint8_t details_type; /* non-zero: custom quantisation */
};

struct tfl_op {
  int code;
  const char *custom; /* custom_code of CUSTOM ops, NUL-terminated */
  struct fb_vector inputs, outputs; /* int32 tensor indices, -1 = none */
  uint8_t options_type;
  bool has_options;
  struct fb_table options;
};

struct tfl_buffer {
  const uint8_t *data;
  size_t size;
};

struct tfl_opcode {
  int code;
  const char *custom;
};

/* What a tensor has become while building the graph. */
enum tstate_kind {
  TS_NONE = 0,
  TS_CONST,   /* constant data in tensor `src` (itself, or via DEQUANTIZE) */
  TS_VALUE,   /* activation: graph value `value` */
  TS_PAD,     /* zero-padded `value`, to be folded into its consumer conv */
  TS_SOFTMAX, /* softmax of the logits `value` */
};

struct tstate {
  enum tstate_kind kind;
  int value;
  uint32_t src;
  int pad_top, pad_bottom, pad_left, pad_right;
};

struct tfl_loader {
  const uint8_t *buf;
  size_t size;
  struct tfl_opcode *opcodes;
  uint32_t n_opcodes;
  struct tfl_buffer *buffers;
  uint32_t n_buffers;
  struct tfl_tensor *tensors;
  uint32_t n_tensors;
  struct tfl_op *ops;
  uint32_t n_ops;
  struct fb_vector sg_inputs, sg_outputs;

  struct tstate *ts;
  struct ss_model *m;
  bool quantized;
  bool clamp_qrange;
  int softmax_out; /* output tensor of the (final) SOFTMAX, or -1 */
};

/* ---- tflite-parse.c: pass 1, the file ---- */

/* Parses and verifies the flatbuffer L->buf (L->size bytes) into L's
 * opcodes, buffers, tensors and operators of subgraph 0. What it allocated
 * stays in L (freed by the caller) also on error. */
int tfl_parse_model(struct tfl_loader *L, struct ss_error *err);

/* Static names for messages: a builtin operator code ("builtin" when not
 * known), a TensorType ("other"). */
const char *tfl_op_name(int code);
const char *tfl_type_name(int type);
/* Bytes of one element of a TensorType; 0 for the types not read. */
size_t tfl_type_bytes(int type);

/* Elements of a parsed tensor (bounded by TFL_MAX_ELEMENTS). */
size_t tfl_tensor_count(const struct tfl_tensor *t);
/* Writes the shape as "[1,224,224,3]" into buf (cap bytes, truncated). */
void tfl_shape_str(const struct tfl_tensor *t, char *buf, size_t cap);

/* ---- tflite-quant.c: quantisation parameters and constants ---- */
/* (each described at its definition) */

void tfl_quant_params(const struct tfl_tensor *t, uint32_t ch, float *scale,
                      int64_t *zp);
int tfl_check_quant(const struct tfl_tensor *t, const char *role,
                    struct ss_error *err);
/* *out: a new array (caller frees) of tfl_tensor_count() floats. */
int tfl_const_floats(struct tfl_loader *L, int ti, const char *role,
                     bool is_weight, float **out, struct ss_error *err);
/* *out: new integer weights (model_layer_qweights_free), or NULL. */
int tfl_const_qweights(struct tfl_loader *L, int wi, int bi, int cout,
                       int qdim_out, struct model_layer_qweights **out,
                       struct ss_error *err);
struct model_value_quant tfl_tensor_value_quant(const struct tfl_tensor *t);
void tfl_clamp_to_qrange(const struct tfl_loader *L, int out_tensor,
                         struct model_layer *l);
void tfl_check_requantize(struct tfl_loader *L, const struct tstate *s,
                          const struct tfl_tensor *y);

/* ---- tflite-ops.c: pass 2, operators to layers ---- */

/* Adds operator op to L->m (layers, values) and records what its output
 * tensor has become in L->ts. The error names the operand; the caller
 * prefixes the operator. */
int tfl_add_op(struct tfl_loader *L, const struct tfl_op *op,
               struct ss_error *err);

#endif
