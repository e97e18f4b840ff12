/* streamsight — the model's graph, for the builders, loaders and the engine
 * inside inference/. Other modules use the accessors of model.h.
 *
 * A graph is a list of layers in execution order over a table of values
 * (activation tensors, NHWC with batch 1). Value 0 is the network input.
 * Weights are float32 in the canonical layouts below; batch-norm is already
 * folded and quantised weights already dequantised (the integer ones are
 * kept too, in struct model_layer_qweights, for the integer engine).
 */
#ifndef SS_MODEL_GRAPH_H
#define SS_MODEL_GRAPH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define SS_NAME_MAX 96

enum model_layer_kind {
  MODEL_LAYER_CONV = 0, /* dense KxK convolution, 1x1 pointwise included */
  MODEL_LAYER_DWCONV,   /* depthwise KxK, depth multiplier 1 (cin == cout) */
  MODEL_LAYER_ADD,      /* out = clamp(in + in2) */
  MODEL_LAYER_AVGPOOL,  /* global average pool: HxWxC -> 1x1xC */
  MODEL_LAYER_FC,       /* fully connected: 1x1xCin -> 1x1xCout */
};

/* The integer weights of a layer of a quantised file (TFLite uint8/int8
 * weights, int32 bias), kept beside the float ones for the integer engine
 * (qengine.h). Same layouts as struct model_layer's weight and bias. */
struct model_layer_qweights {
  int16_t *w;     /* each weight minus its zero point: -255..255 */
  int32_t *bias;  /* [cout], the file's int32 bias (zeros when it has none) */
  float *w_scale; /* [cout], the weights' scale per output channel */
};

struct model_layer {
  enum model_layer_kind kind;
  char name[SS_NAME_MAX]; /* weight prefix or source op name, for errors */
  int in, in2, out;       /* value ids; in2 is used by MODEL_LAYER_ADD only */
  int kh, kw, stride;     /* square stride */
  int pad_top, pad_left, pad_bottom, pad_right; /* explicit, in pixels */
  int cin, cout;
  float act_min, act_max; /* fused clamp: ReLU6 is 0/6, linear is -inf/inf */
  /* Owned. CONV: [cout][kh][kw][cin]; DWCONV: [kh][kw][cout]; FC: [cout][cin].
   * bias: [cout]. Both NULL for ADD and AVGPOOL. */
  float *weight;
  float *bias;
  /* Owned; NULL unless the file's weights are uint8/int8 with an int32 (or
   * no) bias. */
  struct model_layer_qweights *qw;
};

/* How the source file quantises a value (TFLite uint8/int8 activation
 * tensors, per-tensor): real = (q - zero_point) * scale with the integer q
 * in [qmin, qmax]. scale == 0: the value is not quantised (float files,
 * built models, the input of a float-input file). The integer engine
 * (qengine.h) reads it. */
struct model_value_quant {
  float scale;
  int zero_point;
  int qmin, qmax; /* uint8: 0..255, int8: -128..127 */
};

struct model_value {
  int h, w, c;
  struct model_value_quant quant; /* model_add_value() leaves it unquantised */
};

struct ss_model {
  atomic_int refcount;

  enum model_arch arch;
  enum model_format format;
  float alpha;
  char name[SS_NAME_MAX];
  int input_h, input_w;
  float mean[3], std[3];
  enum model_pad_rule pad_rule;
  int num_outputs;
  int class_offset;
  bool quantized;

  char **labels; /* num_classes strings, or NULL */

  struct model_layer *layers;
  int n_layers, cap_layers;
  struct model_value *values;
  int n_values, cap_values;
  int output; /* value id of the logits (1x1xnum_outputs) */
  /* The quantisation of the final softmax's output that the loader dropped
   * (TFLite uint8: scale 1/256, zero point 0), else scale 0. */
  struct model_value_quant output_probs_quant;
  /* Why the integer engine cannot run this file ("" when it can: every
   * value quantised, every layer with weights has qw). Set by the loader. */
  char int_unsupported[256];
};

/* Graph construction (builders and loaders). model_new returns a model with
 * refcount 1, no layers and value 0 = input of h x w x 3. */
struct ss_model *model_new(int input_h, int input_w);
/* Appends a value; returns its id or -1 when out of memory. */
int model_add_value(struct ss_model *m, int h, int w, int c);
/* Appends a copy of *l, taking ownership of l->weight and l->bias (also on
 * failure, when they are freed). Returns the layer index or -1. */
int model_add_layer(struct ss_model *m, const struct model_layer *l);

/* Output size of a convolution along one axis. */
int model_conv_out_size(int in, int k, int stride, int pad_before,
                        int pad_after);
/* Padding for a convolution along one axis under a rule: TF SAME puts the odd
 * pixel after; symmetric uses (k-1)/2 on both sides. */
void model_conv_pads(enum model_pad_rule rule, int in, int k, int stride,
                     int *pad_before, int *pad_after);

/* Checks the graph is consistent: value ids in range, shapes agree with each
 * layer's parameters, every layer with weights has them. Used by every loader
 * before handing a model out. */
int model_validate(const struct ss_model *m, struct ss_error *err);

/* Frees a model_layer_qweights (NULL is allowed). */
void model_layer_qweights_free(struct model_layer_qweights *qw);

/* Number of weight floats of a layer (0 for ADD/AVGPOOL). */
size_t model_layer_weight_count(const struct model_layer *l);

#endif
