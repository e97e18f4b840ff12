/* streamsight — TFLite flatbuffer loader (see tflite-load.h).
 *
 * Two passes. parse_*() walks the whole flatbuffer once through the
 * bounds-checked reader of flatbuf.h and copies what the graph needs into
 * plain structs (pointers into the borrowed file for tensor data and
 * quantisation vectors, all verified). build_graph() then reads subgraph 0's
 * operators in order and turns them into layers of struct ss_model.
 *
 * Schema: tensorflow/lite/schema/schema.fbs. Field slots are the declaration
 * order; a union takes two slots (its type, then its table).
 */
#include "tflite-load.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flatbuf.h"
#include "half.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "zip-labels.h"

/* ---- schema ---- */

enum { /* table Model */
  MODEL_VERSION = 0, MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION,
  MODEL_BUFFERS, MODEL_METADATA_BUFFER, MODEL_METADATA,
};
enum { /* table OperatorCode */
  OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_CUSTOM, OPCODE_VERSION, OPCODE_BUILTIN,
};
enum { /* table SubGraph */
  SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS,
  SUBGRAPH_NAME,
};
enum { /* table Tensor */
  TENSOR_SHAPE = 0, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME,
  TENSOR_QUANTIZATION,
};
enum { /* table QuantizationParameters */
  QUANT_MIN = 0, QUANT_MAX, QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DETAILS_TYPE,
  QUANT_DETAILS, QUANT_DIMENSION,
};
enum { /* table Operator */
  OP_OPCODE_INDEX = 0, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE, OP_OPTIONS,
  OP_CUSTOM_OPTIONS,
};
enum { BUFFER_DATA = 0, BUFFER_OFFSET, BUFFER_SIZE }; /* table Buffer */
enum { METADATA_NAME = 0, METADATA_BUFFER };          /* table Metadata */

enum tfl_type { /* enum TensorType */
  TFL_FLOAT32 = 0, TFL_FLOAT16 = 1, TFL_INT32 = 2, TFL_UINT8 = 3,
  TFL_INT64 = 4, TFL_INT8 = 9,
};

enum tfl_op_code { /* enum BuiltinOperator, the ones handled */
  OPC_ADD = 0, OPC_AVERAGE_POOL_2D = 1, OPC_CONV_2D = 3,
  OPC_DEPTHWISE_CONV_2D = 4, OPC_DEQUANTIZE = 6, OPC_FULLY_CONNECTED = 9,
  OPC_RESHAPE = 22, OPC_SOFTMAX = 25, OPC_CUSTOM = 32, OPC_PAD = 34,
  OPC_MEAN = 40, OPC_SQUEEZE = 43, OPC_QUANTIZE = 114,
};

enum tfl_options { /* union BuiltinOptions */
  OPT_CONV_2D = 1, OPT_DEPTHWISE_CONV_2D = 2, OPT_POOL_2D = 5,
  OPT_FULLY_CONNECTED = 8, OPT_SOFTMAX = 9, OPT_ADD = 11, OPT_RESHAPE = 17,
  OPT_PAD = 22, OPT_REDUCER = 27, OPT_SQUEEZE = 30,
};

enum { PADDING_SAME = 0, PADDING_VALID = 1 };
enum { /* enum ActivationFunctionType */
  ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3,
};

/* ---- limits (the largest MobileNet has ~300 tensors and ~100 ops) ---- */

#define TFL_MAX_DIMS 8
#define TFL_MAX_TENSORS 100000u
#define TFL_MAX_OPS 20000u
#define TFL_MAX_BUFFERS 100000u
#define TFL_MAX_OPCODES 10000u
#define TFL_MAX_OP_IO 16u               /* inputs or outputs of one op */
#define TFL_MAX_ELEMENTS (1u << 28)     /* elements of one tensor */
#define TFL_MAX_QUANT_CHANNELS (1u << 20)

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

struct loader {
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

static const char *
op_name(int code)
{
  switch (code) {
  case OPC_ADD: return "ADD";
  case OPC_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
  case 2: return "CONCATENATION";
  case OPC_CONV_2D: return "CONV_2D";
  case OPC_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
  case OPC_DEQUANTIZE: return "DEQUANTIZE";
  case OPC_FULLY_CONNECTED: return "FULLY_CONNECTED";
  case 14: return "LOGISTIC";
  case 17: return "MAX_POOL_2D";
  case 18: return "MUL";
  case 19: return "RELU";
  case 21: return "RELU6";
  case OPC_RESHAPE: return "RESHAPE";
  case 23: return "RESIZE_BILINEAR";
  case OPC_SOFTMAX: return "SOFTMAX";
  case OPC_CUSTOM: return "CUSTOM";
  case OPC_PAD: return "PAD";
  case 39: return "TRANSPOSE";
  case OPC_MEAN: return "MEAN";
  case 41: return "SUB";
  case OPC_SQUEEZE: return "SQUEEZE";
  case 60: return "PADV2";
  case OPC_QUANTIZE: return "QUANTIZE";
  case 117: return "HARD_SWISH";
  }
  return "builtin";
}

static const char *
type_name(int type)
{
  switch (type) {
  case TFL_FLOAT32: return "float32";
  case TFL_FLOAT16: return "float16";
  case TFL_INT32: return "int32";
  case TFL_UINT8: return "uint8";
  case TFL_INT64: return "int64";
  case TFL_INT8: return "int8";
  }
  return "other";
}

static size_t
type_bytes(int type)
{
  switch (type) {
  case TFL_FLOAT32: return 4;
  case TFL_FLOAT16: return 2;
  case TFL_INT32: return 4;
  case TFL_UINT8: return 1;
  case TFL_INT64: return 8;
  case TFL_INT8: return 1;
  }
  return 0;
}

int
tflite_sniff(const uint8_t *data, size_t size)
{
  return size >= 8 && memcmp(data + 4, "TFL3", 4) == 0;
}

/* ---- pass 1: parse and verify ---- */

static int
parse_opcodes(struct loader *L, const struct fb_table *model,
              struct ss_error *err)
{
  struct fb_vector v;
  int rc = fb_vector(model, MODEL_OPERATOR_CODES, "operator_codes", 4, &v, err);
  if (rc)
    return rc;
  if (v.len > TFL_MAX_OPCODES)
    return ss_error_set(err, SS_ERANGE, "%u operator codes (limit %u)", v.len,
                        TFL_MAX_OPCODES);
  L->opcodes = calloc(v.len ? v.len : 1, sizeof *L->opcodes);
  if (!L->opcodes)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  L->n_opcodes = v.len;
  for (uint32_t i = 0; i < v.len; i++) {
    struct fb_table t;
    int8_t dep;
    int32_t code;
    const char *custom;
    uint32_t clen;
    if ((rc = fb_vector_table(&v, i, "OperatorCode", &t, err)) ||
        (rc = fb_i8(&t, OPCODE_DEPRECATED_BUILTIN, "deprecated_builtin_code",
                    0, &dep, err)) ||
        (rc = fb_i32(&t, OPCODE_BUILTIN, "builtin_code", 0, &code, err)) ||
        (rc = fb_string(&t, OPCODE_CUSTOM, "custom_code", &custom, &clen,
                        err)))
      return ss_error_prefix(err, rc, "operator code %u", i);
    /* As TFLite's GetBuiltinCode: the larger of the byte and the int. */
    L->opcodes[i].code = code > dep ? code : dep;
    L->opcodes[i].custom = custom;
  }
  return 0;
}

static int
parse_buffers(struct loader *L, const struct fb_table *model,
              struct ss_error *err)
{
  struct fb_vector v;
  int rc = fb_vector(model, MODEL_BUFFERS, "buffers", 4, &v, err);
  if (rc)
    return rc;
  if (v.len > TFL_MAX_BUFFERS)
    return ss_error_set(err, SS_ERANGE, "%u buffers (limit %u)", v.len,
                        TFL_MAX_BUFFERS);
  L->buffers = calloc(v.len ? v.len : 1, sizeof *L->buffers);
  if (!L->buffers)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  L->n_buffers = v.len;
  for (uint32_t i = 0; i < v.len; i++) {
    struct fb_table t;
    struct fb_vector data;
    uint64_t off, size;
    if ((rc = fb_vector_table(&v, i, "Buffer", &t, err)) ||
        (rc = fb_vector(&t, BUFFER_DATA, "data", 1, &data, err)) ||
        (rc = fb_u64(&t, BUFFER_OFFSET, "offset", 0, &off, err)) ||
        (rc = fb_u64(&t, BUFFER_SIZE, "size", 0, &size, err)))
      return ss_error_prefix(err, rc, "buffer %u", i);
    if (off > 1) {
      /* Large models keep data outside the flatbuffer, at a file offset. */
      if (off > L->size || size > L->size - off)
        return ss_error_set(err, SS_EFORMAT,
                            "buffer %u (table at %u): data at offset %llu of "
                            "%llu bytes ends past the file (%zu bytes)",
                            i, t.pos, (unsigned long long)off,
                            (unsigned long long)size, L->size);
      L->buffers[i].data = L->buf + off;
      L->buffers[i].size = (size_t)size;
    } else {
      L->buffers[i].data = data.len ? fb_vector_data(&data) : NULL;
      L->buffers[i].size = data.len;
    }
  }
  return 0;
}

static int
parse_quantization(struct tfl_tensor *tt, const struct fb_table *q,
                   struct ss_error *err)
{
  struct fb_vector vmin, vmax;
  int rc;
  if ((rc = fb_vector(q, QUANT_MIN, "min", 4, &vmin, err)) ||
      (rc = fb_vector(q, QUANT_MAX, "max", 4, &vmax, err)) ||
      (rc = fb_vector(q, QUANT_SCALE, "scale", 4, &tt->scale, err)) ||
      (rc = fb_vector(q, QUANT_ZERO_POINT, "zero_point", 8, &tt->zero_point,
                      err)) ||
      (rc = fb_u8(q, QUANT_DETAILS_TYPE, "details_type", 0, &tt->details_type,
                  err)) ||
      (rc = fb_i32(q, QUANT_DIMENSION, "quantized_dimension", 0, &tt->qdim,
                   err)))
    return rc;
  if (tt->details_type) {
    bool present;
    struct fb_table d;
    if ((rc = fb_table(q, QUANT_DETAILS, "details", "CustomQuantization", &d,
                       &present, err)))
      return rc;
  }
  if (tt->scale.len > TFL_MAX_QUANT_CHANNELS)
    return ss_error_set(err, SS_ERANGE, "%u quantisation scales (limit %u)",
                        tt->scale.len, TFL_MAX_QUANT_CHANNELS);
  return 0;
}

static int
parse_tensor(struct loader *L, const struct fb_vector *v, uint32_t i,
             struct ss_error *err)
{
  struct tfl_tensor *tt = &L->tensors[i];
  struct fb_table t, q;
  struct fb_vector shape;
  int8_t type;
  const char *name;
  uint32_t name_len;
  bool has_q;
  int rc;
  if ((rc = fb_vector_table(v, i, "Tensor", &t, err)) ||
      (rc = fb_vector(&t, TENSOR_SHAPE, "shape", 4, &shape, err)) ||
      (rc = fb_i8(&t, TENSOR_TYPE, "type", 0, &type, err)) ||
      (rc = fb_u32(&t, TENSOR_BUFFER, "buffer", 0, &tt->buffer, err)) ||
      (rc = fb_string(&t, TENSOR_NAME, "name", &name, &name_len, err)) ||
      (rc = fb_table(&t, TENSOR_QUANTIZATION, "quantization",
                     "QuantizationParameters", &q, &has_q, err)) ||
      (has_q && (rc = parse_quantization(tt, &q, err))))
    return rc;
  tt->type = type;
  size_t n = 0;
  while (name && n < name_len && n < SS_NAME_MAX - 1 && name[n] != ';' &&
         name[n] != '\0')
    n++;
  if (n)
    memcpy(tt->name, name, n);
  tt->name[n] = '\0';
  if (shape.len > TFL_MAX_DIMS)
    return ss_error_set(err, SS_EUNSUPPORTED, "'%s' has %u dimensions (max %d)",
                        tt->name, shape.len, TFL_MAX_DIMS);
  tt->ndims = (int)shape.len;
  uint64_t count = 1;
  for (uint32_t k = 0; k < shape.len; k++) {
    tt->shape[k] = fb_vector_i32(&shape, k);
    if (tt->shape[k] < 0)
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "'%s': dimension %u is %d (dynamic shapes are not "
                          "supported)",
                          tt->name, k, tt->shape[k]);
    count *= (uint64_t)tt->shape[k];
    if (count > TFL_MAX_ELEMENTS)
      return ss_error_set(err, SS_ERANGE, "'%s': more than %u elements",
                          tt->name, TFL_MAX_ELEMENTS);
  }
  if (tt->buffer >= L->n_buffers)
    return ss_error_set(err, SS_EFORMAT,
                        "'%s' (table at %u): buffer index %u >= %u buffers",
                        tt->name, t.pos, tt->buffer, L->n_buffers);
  return 0;
}

static int
check_indices(const struct loader *L, const struct fb_vector *v,
              const char *what, bool allow_none, struct ss_error *err)
{
  for (uint32_t k = 0; k < v->len; k++) {
    int32_t t = fb_vector_i32(v, k);
    if ((t < 0 && !(allow_none && t == -1)) ||
        (t >= 0 && (uint32_t)t >= L->n_tensors))
      return ss_error_set(err, SS_EFORMAT,
                          "%s[%u] = %d is not a tensor index (%u tensors)",
                          what, k, t, L->n_tensors);
  }
  return 0;
}

static int
parse_operator(struct loader *L, const struct fb_vector *v, uint32_t i,
               struct ss_error *err)
{
  struct tfl_op *op = &L->ops[i];
  struct fb_table t;
  struct fb_vector custom_options;
  uint32_t idx;
  int rc;
  if ((rc = fb_vector_table(v, i, "Operator", &t, err)) ||
      (rc = fb_u32(&t, OP_OPCODE_INDEX, "opcode_index", 0, &idx, err)) ||
      (rc = fb_vector(&t, OP_INPUTS, "inputs", 4, &op->inputs, err)) ||
      (rc = fb_vector(&t, OP_OUTPUTS, "outputs", 4, &op->outputs, err)) ||
      (rc = fb_u8(&t, OP_OPTIONS_TYPE, "builtin_options_type", 0,
                  &op->options_type, err)) ||
      (rc = fb_vector(&t, OP_CUSTOM_OPTIONS, "custom_options", 1,
                      &custom_options, err)))
    return rc;
  if (op->options_type &&
      (rc = fb_table(&t, OP_OPTIONS, "builtin_options", "BuiltinOptions",
                     &op->options, &op->has_options, err)))
    return rc;
  if (idx >= L->n_opcodes)
    return ss_error_set(err, SS_EFORMAT,
                        "(table at %u): opcode_index %u >= %u operator codes",
                        t.pos, idx, L->n_opcodes);
  op->code = L->opcodes[idx].code;
  op->custom = L->opcodes[idx].custom;
  if (op->inputs.len > TFL_MAX_OP_IO || op->outputs.len > TFL_MAX_OP_IO)
    return ss_error_set(err, SS_EUNSUPPORTED, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  if ((rc = check_indices(L, &op->inputs, "inputs", true, err)) ||
      (rc = check_indices(L, &op->outputs, "outputs", false, err)))
    return rc;
  return 0;
}

static int
parse_subgraph(struct loader *L, const struct fb_table *sg,
               struct ss_error *err)
{
  struct fb_vector tensors, ops;
  const char *name;
  uint32_t name_len;
  int rc;
  if ((rc = fb_vector(sg, SUBGRAPH_TENSORS, "tensors", 4, &tensors, err)) ||
      (rc = fb_vector(sg, SUBGRAPH_INPUTS, "inputs", 4, &L->sg_inputs, err)) ||
      (rc = fb_vector(sg, SUBGRAPH_OUTPUTS, "outputs", 4, &L->sg_outputs,
                      err)) ||
      (rc = fb_vector(sg, SUBGRAPH_OPERATORS, "operators", 4, &ops, err)) ||
      (rc = fb_string(sg, SUBGRAPH_NAME, "name", &name, &name_len, err)))
    return rc;
  if (tensors.len > TFL_MAX_TENSORS || ops.len > TFL_MAX_OPS)
    return ss_error_set(err, SS_ERANGE,
                        "%u tensors and %u operators (limits %u, %u)",
                        tensors.len, ops.len, TFL_MAX_TENSORS, TFL_MAX_OPS);
  L->tensors = calloc(tensors.len ? tensors.len : 1, sizeof *L->tensors);
  L->ops = calloc(ops.len ? ops.len : 1, sizeof *L->ops);
  if (!L->tensors || !L->ops)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  L->n_tensors = tensors.len;
  L->n_ops = ops.len;
  for (uint32_t i = 0; i < tensors.len; i++)
    if ((rc = parse_tensor(L, &tensors, i, err)))
      return ss_error_prefix(err, rc, "tensor %u", i);
  for (uint32_t i = 0; i < ops.len; i++)
    if ((rc = parse_operator(L, &ops, i, err)))
      return ss_error_prefix(err, rc, "operator %u", i);
  if ((rc = check_indices(L, &L->sg_inputs, "inputs", false, err)) ||
      (rc = check_indices(L, &L->sg_outputs, "outputs", false, err)))
    return rc;
  return 0;
}

static int
parse_model(struct loader *L, struct ss_error *err)
{
  struct fb_table model, sg;
  struct fb_vector subgraphs, metadata, metadata_buffer;
  uint32_t version;
  const char *desc;
  uint32_t desc_len;
  int rc = fb_root(L->buf, L->size, "TFL3", "Model", &model, err);
  if (rc)
    return rc;
  if ((rc = fb_u32(&model, MODEL_VERSION, "version", 0, &version, err)) ||
      (rc = fb_string(&model, MODEL_DESCRIPTION, "description", &desc,
                      &desc_len, err)) ||
      (rc = fb_vector(&model, MODEL_METADATA_BUFFER, "metadata_buffer", 4,
                      &metadata_buffer, err)) ||
      (rc = fb_vector(&model, MODEL_METADATA, "metadata", 4, &metadata, err)))
    return rc;
  if (version != 3)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "Model.version (table at %u) is %u, expected 3",
                        model.pos, version);
  for (uint32_t i = 0; i < metadata.len; i++) {
    struct fb_table t;
    const char *name;
    uint32_t len;
    if ((rc = fb_vector_table(&metadata, i, "Metadata", &t, err)) ||
        (rc = fb_string(&t, METADATA_NAME, "name", &name, &len, err)))
      return ss_error_prefix(err, rc, "metadata %u", i);
  }
  if ((rc = parse_opcodes(L, &model, err)) ||
      (rc = parse_buffers(L, &model, err)))
    return rc;
  if ((rc = fb_vector(&model, MODEL_SUBGRAPHS, "subgraphs", 4, &subgraphs,
                      err)))
    return rc;
  if (subgraphs.len < 1)
    return ss_error_set(err, SS_EFORMAT, "Model (table at %u) has no subgraph",
                        model.pos);
  if ((rc = fb_vector_table(&subgraphs, 0, "SubGraph", &sg, err)) ||
      (rc = parse_subgraph(L, &sg, err)))
    return ss_error_prefix(err, rc, "subgraph 0");
  return 0;
}

/* ---- tensor helpers ---- */

static size_t
tensor_count(const struct tfl_tensor *t)
{
  size_t n = 1; /* bounded by TFL_MAX_ELEMENTS at parse time */
  for (int k = 0; k < t->ndims; k++)
    n *= (size_t)t->shape[k];
  return n;
}

static void
shape_str(const struct tfl_tensor *t, char *buf, size_t cap)
{
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int k = 0; k < t->ndims && n < cap; k++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%d", k ? "," : "", t->shape[k]);
  if (n < cap)
    snprintf(buf + n, cap - n, "]");
}

/* An activation shape: [1,H,W,C], or [1,C] / [C] for 1x1xC. */
static bool
tensor_hwc(const struct tfl_tensor *t, int *h, int *w, int *c)
{
  if (t->ndims == 4 && t->shape[0] == 1) {
    *h = t->shape[1];
    *w = t->shape[2];
    *c = t->shape[3];
    return true;
  }
  if (t->ndims == 2 && t->shape[0] == 1) {
    *h = *w = 1;
    *c = t->shape[1];
    return true;
  }
  if (t->ndims == 1) {
    *h = *w = 1;
    *c = t->shape[0];
    return true;
  }
  return false;
}

static int
op_input(const struct tfl_op *op, uint32_t k)
{
  return k < op->inputs.len ? fb_vector_i32(&op->inputs, k) : -1;
}

static int
op_output(const struct tfl_op *op, uint32_t k)
{
  return k < op->outputs.len ? fb_vector_i32(&op->outputs, k) : -1;
}

/* The tensor's scale and zero point for element channel ch (per-tensor when
 * there is one scale). */
static void
quant_params(const struct tfl_tensor *t, uint32_t ch, float *scale,
             int64_t *zp)
{
  uint32_t si = t->scale.len > 1 ? ch : 0;
  *scale = fb_vector_f32(&t->scale, si);
  if (t->zero_point.len == 0)
    *zp = 0;
  else
    *zp = fb_vector_i64(&t->zero_point, t->zero_point.len > 1 ? ch : 0);
}

/* Checks a quantised tensor's parameters: scales finite and >= 0, one per
 * tensor or one per index of quantized_dimension, zero points matching. */
static int
check_quant(const struct tfl_tensor *t, const char *role,
            struct ss_error *err)
{
  if (t->details_type)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "%s '%s': custom quantisation (details type %u)", role,
                        t->name, t->details_type);
  if (t->scale.len == 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s '%s' is %s without quantisation scale", role,
                        t->name, type_name(t->type));
  if (t->scale.len > 1) {
    if (t->qdim < 0 || t->qdim >= t->ndims ||
        (uint32_t)t->shape[t->qdim] != t->scale.len)
      return ss_error_set(err, SS_EFORMAT,
                          "%s '%s': %u scales do not match quantized_dimension "
                          "%d of a %d-d shape",
                          role, t->name, t->scale.len, t->qdim, t->ndims);
  }
  if (t->zero_point.len != 0 && t->zero_point.len != 1 &&
      t->zero_point.len != t->scale.len)
    return ss_error_set(err, SS_EFORMAT,
                        "%s '%s': %u zero points for %u scales", role,
                        t->name, t->zero_point.len, t->scale.len);
  for (uint32_t i = 0; i < t->zero_point.len; i++) {
    int64_t zp = fb_vector_i64(&t->zero_point, i);
    if (zp < INT32_MIN || zp > INT32_MAX)
      return ss_error_set(err, SS_EFORMAT, "%s '%s': zero_point[%u] = %lld",
                          role, t->name, i, (long long)zp);
  }
  for (uint32_t i = 0; i < t->scale.len; i++) {
    float s = fb_vector_f32(&t->scale, i);
    if (!isfinite(s) || s < 0)
      return ss_error_set(err, SS_EFORMAT, "%s '%s': scale[%u] = %g", role,
                          t->name, i, (double)s);
  }
  return 0;
}

/* Float values of constant tensor ti (as seen by the op: through a
 * DEQUANTIZE when there is one), in the tensor's element order. Returns a
 * new array of tensor_count() floats. */
static int
const_floats(struct loader *L, int ti, const char *role, bool is_weight,
             float **out, struct ss_error *err)
{
  const struct tstate *s = &L->ts[ti];
  if (s->kind != TS_CONST)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "%s '%s' (tensor %d) is not a constant", role,
                        L->tensors[ti].name, ti);
  const struct tfl_tensor *t = &L->tensors[s->src];
  const struct tfl_buffer *b = &L->buffers[t->buffer];
  size_t n = tensor_count(t), eb = type_bytes(t->type);
  char shp[64];
  shape_str(t, shp, sizeof shp);
  if (eb == 0 || t->type == TFL_INT64)
    return ss_error_set(err, SS_EUNSUPPORTED, "%s '%s': %s data type %d",
                        role, t->name, type_name(t->type), t->type);
  if (b->size != n * eb)
    return ss_error_set(err, SS_EFORMAT,
                        "%s '%s' (tensor %u): buffer %u has %zu bytes, shape "
                        "%s of %s needs %zu",
                        role, t->name, s->src, t->buffer, b->size, shp,
                        type_name(t->type), n * eb);
  bool q = t->type == TFL_UINT8 || t->type == TFL_INT8 ||
           t->type == TFL_INT32;
  int rc;
  if (q && (rc = check_quant(t, role, err)))
    return rc;
  float *v = malloc((n ? n : 1) * sizeof *v);
  if (!v)
    return ss_error_set(err, SS_ENOMEM, "out of memory for %s '%s'", role,
                        t->name);
  /* Elements per step of the quantised dimension. */
  size_t inner = 1;
  uint32_t dim = 1;
  if (q && t->scale.len > 1) {
    for (int k = t->qdim + 1; k < t->ndims; k++)
      inner *= (size_t)t->shape[k];
    dim = (uint32_t)t->shape[t->qdim];
  }
  const uint8_t *p = b->data;
  for (size_t i = 0; i < n; i++) {
    switch (t->type) {
    case TFL_FLOAT32: {
      uint32_t bits = fb_load_u32(p + 4 * i);
      memcpy(&v[i], &bits, sizeof bits);
      break;
    }
    case TFL_FLOAT16:
      v[i] = half_to_f32(fb_load_u16(p + 2 * i));
      break;
    default: {
      float scale;
      int64_t zp, qv;
      quant_params(t, (uint32_t)((i / inner) % dim), &scale, &zp);
      if (t->type == TFL_UINT8)
        qv = p[i];
      else if (t->type == TFL_INT8)
        qv = (int8_t)p[i];
      else
        qv = (int32_t)fb_load_u32(p + 4 * i);
      v[i] = (float)((double)scale * (double)(qv - zp));
      break;
    }
    }
  }
  if (is_weight && (t->type == TFL_UINT8 || t->type == TFL_INT8))
    L->quantized = true;
  *out = v;
  return 0;
}

/* The integer weights of a layer for the integer engine: the uint8/int8
 * filter wi (minus its zero points) with one scale per output channel, and
 * the int32 bias bi (or zeros). qdim_out is the filter dimension of the
 * output channels (0 for conv and fully connected, 3 for depthwise);
 * per-channel quantisation along any other one is refused. *out stays NULL
 * when the file's weights are float (no error then). */
static int
const_qweights(struct loader *L, int wi, int bi, int cout, int qdim_out,
               struct model_layer_qweights **out, struct ss_error *err)
{
  *out = NULL;
  if (L->ts[wi].kind != TS_CONST)
    return 0; /* const_floats reports it */
  const struct tfl_tensor *t = &L->tensors[L->ts[wi].src];
  if (t->type != TFL_UINT8 && t->type != TFL_INT8)
    return 0;
  const struct tfl_tensor *bt = NULL;
  if (bi >= 0) {
    if (L->ts[bi].kind != TS_CONST)
      return 0;
    bt = &L->tensors[L->ts[bi].src];
    if (bt->type != TFL_INT32) {
      snprintf(L->m->int_unsupported, sizeof L->m->int_unsupported,
               "bias '%s' is %s, not int32", bt->name, type_name(bt->type));
      return 0;
    }
  }
  int rc = check_quant(t, "filter", err);
  if (rc)
    return rc;
  if (t->scale.len > 1 && t->qdim != qdim_out) {
    snprintf(L->m->int_unsupported, sizeof L->m->int_unsupported,
             "filter '%s' is quantised per channel along dimension %d",
             t->name, t->qdim);
    return 0;
  }
  const struct tfl_buffer *b = &L->buffers[t->buffer];
  size_t n = tensor_count(t);
  if (b->size != n || (bt && L->buffers[bt->buffer].size != 4 * (size_t)cout))
    return 0; /* const_floats reports the size mismatch */
  struct model_layer_qweights *qw = calloc(1, sizeof *qw);
  if (!qw)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  qw->w = malloc((n ? n : 1) * sizeof *qw->w);
  qw->bias = calloc((size_t)cout, sizeof *qw->bias);
  qw->w_scale = malloc((size_t)cout * sizeof *qw->w_scale);
  if (!qw->w || !qw->bias || !qw->w_scale) {
    model_layer_qweights_free(qw);
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  }
  /* Output channel of element i: (i / inner) % cout, inner being the
   * elements per step of dimension qdim_out. */
  size_t inner = 1;
  for (int k = qdim_out + 1; k < t->ndims; k++)
    inner *= (size_t)t->shape[k];
  for (int c = 0; c < cout; c++) {
    int64_t zp;
    quant_params(t, (uint32_t)c, &qw->w_scale[c], &zp);
  }
  for (size_t i = 0; i < n; i++) {
    float scale;
    int64_t zp;
    quant_params(t, (uint32_t)((i / inner) % (size_t)cout), &scale, &zp);
    int q = t->type == TFL_UINT8 ? b->data[i] : (int8_t)b->data[i];
    int64_t d = (int64_t)q - zp;
    if (d < -255 || d > 255) {
      model_layer_qweights_free(qw);
      snprintf(L->m->int_unsupported, sizeof L->m->int_unsupported,
               "filter '%s' has a zero point outside its type's range",
               t->name);
      return 0;
    }
    qw->w[i] = (int16_t)d;
  }
  if (bt) {
    const uint8_t *p = L->buffers[bt->buffer].data;
    for (int c = 0; c < cout; c++)
      qw->bias[c] = (int32_t)fb_load_u32(p + 4 * (size_t)c);
  }
  *out = qw;
  return 0;
}

/* The per-tensor uint8/int8 quantisation of an activation tensor, kept on
 * its graph value for the engine's quantisation emulation; anything else
 * (float, per-channel, invalid parameters) gives none (scale 0). */
static struct model_value_quant
tensor_value_quant(const struct tfl_tensor *t)
{
  struct model_value_quant q = { 0 };
  if ((t->type != TFL_UINT8 && t->type != TFL_INT8) || t->scale.len != 1 ||
      check_quant(t, "output", NULL) != 0)
    return q;
  float scale;
  int64_t zp;
  quant_params(t, 0, &scale, &zp);
  q.qmin = t->type == TFL_UINT8 ? 0 : -128;
  q.qmax = t->type == TFL_UINT8 ? 255 : 127;
  if (!(scale > 0) || zp < q.qmin || zp > q.qmax)
    return (struct model_value_quant){ 0 };
  q.scale = scale;
  q.zero_point = (int)zp;
  return q;
}

/* The activation value of input tensor ti (a value, never pending pads). */
static int
input_value(const struct loader *L, int ti, const char *role,
            struct ss_error *err)
{
  if (ti < 0)
    return ss_error_set(err, SS_EFORMAT, "%s is missing", role);
  const struct tstate *s = &L->ts[ti];
  if (s->kind == TS_VALUE)
    return s->value;
  const char *what = s->kind == TS_NONE      ? "not computed yet"
                     : s->kind == TS_CONST   ? "a constant"
                     : s->kind == TS_PAD     ? "a PAD result (PAD is only "
                                               "supported before a convolution)"
                                             : "a SOFTMAX result (only a final "
                                               "softmax is supported)";
  return ss_error_set(err, SS_EUNSUPPORTED, "%s '%s' (tensor %d) is %s", role,
                      L->tensors[ti].name, ti, what);
}

/* Makes output tensor ti the new value h x w x c, checking its shape. */
static int
output_value(struct loader *L, int ti, int h, int w, int c,
             struct ss_error *err)
{
  if (ti < 0)
    return ss_error_set(err, SS_EFORMAT, "output is missing");
  const struct tfl_tensor *t = &L->tensors[ti];
  if (L->ts[ti].kind != TS_NONE)
    return ss_error_set(err, SS_EFORMAT,
                        "output '%s' (tensor %d) is already defined", t->name,
                        ti);
  int th, tw, tc;
  if (!tensor_hwc(t, &th, &tw, &tc) || th != h || tw != w || tc != c ||
      (t->ndims != 4 && (h != 1 || w != 1))) {
    char shp[64];
    shape_str(t, shp, sizeof shp);
    return ss_error_set(err, SS_EMISMATCH,
                        "output '%s' (tensor %d) has shape %s, the operation "
                        "gives [1,%d,%d,%d]",
                        t->name, ti, shp, h, w, c);
  }
  int v = model_add_value(L->m, h, w, c);
  if (v < 0)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  L->m->values[v].quant = tensor_value_quant(t);
  L->ts[ti] = (struct tstate){ .kind = TS_VALUE, .value = v };
  return v;
}

/* The options table of an op, or NULL when absent; checks its union type. */
static int
op_options(const struct tfl_op *op, uint8_t want, const char *want_name,
           const struct fb_table **out, struct ss_error *err)
{
  if (op->options_type == 0 || !op->has_options) {
    *out = NULL;
    return 0;
  }
  if (op->options_type != want)
    return ss_error_set(err, SS_EFORMAT,
                        "builtin_options has union type %u, expected %s (%u)",
                        op->options_type, want_name, want);
  *out = &op->options;
  return 0;
}

static int
act_clamp(uint8_t act, float *lo, float *hi, struct ss_error *err)
{
  switch (act) {
  case ACT_NONE: *lo = -INFINITY; *hi = INFINITY; return 0;
  case ACT_RELU: *lo = 0.0f; *hi = INFINITY; return 0;
  case ACT_RELU_N1_TO_1: *lo = -1.0f; *hi = 1.0f; return 0;
  case ACT_RELU6: *lo = 0.0f; *hi = 6.0f; return 0;
  }
  return ss_error_set(err, SS_EUNSUPPORTED,
                      "fused activation %u (only NONE, RELU, RELU_N1_TO_1, "
                      "RELU6)",
                      act);
}

/* Narrows a layer's clamp to the range its quantised output can represent,
 * as TFLite's integer kernels saturate (see the comment inside for when). */
static void
clamp_to_qrange(const struct loader *L, int out_tensor, struct model_layer *l)
{
  const struct tfl_tensor *t = &L->tensors[out_tensor];
  if ((t->type != TFL_UINT8 && t->type != TFL_INT8) ||
      t->scale.len != 1 || check_quant(t, "output", NULL) != 0)
    return;
  float scale;
  int64_t zp;
  quant_params(t, 0, &scale, &zp);
  int64_t qmin = t->type == TFL_UINT8 ? 0 : -128;
  int64_t qmax = t->type == TFL_UINT8 ? 255 : 127;
  float lo = (float)((double)scale * (double)(qmin - zp));
  float hi = (float)((double)scale * (double)(qmax - zp));
  /* A range that starts at exactly 0 cannot hold negatives: it is how
   * older converters express a ReLU/ReLU6 that no fused activation states
   * (mobilenet_v1_0.25_224_quant and mobilenet_v2_1.0_224_quant without
   * metadata: top-1 agreement with TFLite on the dev images goes from 0% to
   * 87.5% and 96%). Other ranges saturate only outliers (no top-1 change on
   * any model here) and stay unclamped unless asked for, so that linear
   * layers remain linear for the engine's fusions. */
  if (zp != qmin && !L->clamp_qrange)
    return;
  if (lo > l->act_min)
    l->act_min = lo;
  if (hi < l->act_max)
    l->act_max = hi;
  if (l->act_min > l->act_max)
    l->act_max = l->act_min;
}

static void
layer_name(const struct loader *L, int out_tensor, struct model_layer *l)
{
  snprintf(l->name, sizeof l->name, "%s", L->tensors[out_tensor].name);
}

/* ---- pass 2: operators ---- */

/* A convolution's or fully connected layer's constants into l: the weights
 * (tensor wi, called wname in errors), the bias (tensor bi, [cout]; zeros
 * when bi < 0) and, for a quantised file, the integer weights (per-channel
 * along qaxis). l->cout must be set. On error nothing is left allocated. */
static int
load_weight_bias(struct loader *L, int wi, int bi, const char *wname,
                 int qaxis, struct model_layer *l, struct ss_error *err)
{
  if (bi >= 0) {
    const struct tfl_tensor *bt = &L->tensors[bi];
    if (bt->ndims != 1 || bt->shape[0] != l->cout) {
      char shp[64];
      shape_str(bt, shp, sizeof shp);
      return ss_error_set(err, SS_EMISMATCH,
                          "bias '%s' has shape %s, expected [%d]", bt->name,
                          shp, l->cout);
    }
  }
  int rc = const_floats(L, wi, wname, true, &l->weight, err);
  if (rc)
    return rc;
  if (bi >= 0)
    rc = const_floats(L, bi, "bias", false, &l->bias, err);
  else if (!(l->bias = calloc((size_t)l->cout, sizeof *l->bias)))
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
  if (!rc)
    rc = const_qweights(L, wi, bi, l->cout, qaxis, &l->qw, err);
  if (rc) {
    free(l->weight);
    free(l->bias);
    l->weight = l->bias = NULL;
  }
  return rc;
}

/* The layer l, its constants loaded, named after tensor name_ti and writing
 * an oh x ow x cout output to tensor yi, joins the model. */
static int
add_weighted_layer(struct loader *L, int name_ti, int yi, int oh, int ow,
                   struct model_layer *l, struct ss_error *err)
{
  layer_name(L, name_ti, l);
  clamp_to_qrange(L, name_ti, l);
  if ((l->out = output_value(L, yi, oh, ow, l->cout, err)) < 0) {
    free(l->weight);
    free(l->bias);
    model_layer_qweights_free(l->qw);
    return l->out;
  }
  if (model_add_layer(L->m, l) < 0)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  return 0;
}

static int
add_conv(struct loader *L, const struct tfl_op *op, bool depthwise,
         struct ss_error *err)
{
  int xi = op_input(op, 0), wi = op_input(op, 1), bi = op_input(op, 2);
  int yi = op_output(op, 0);
  if (op->inputs.len < 2 || op->inputs.len > 3 || op->outputs.len != 1 ||
      wi < 0 || yi < 0)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  const struct fb_table *o = NULL;
  int rc = op_options(op, depthwise ? OPT_DEPTHWISE_CONV_2D : OPT_CONV_2D,
                      depthwise ? "DepthwiseConv2DOptions" : "Conv2DOptions",
                      &o, err);
  if (rc)
    return rc;
  if (!o)
    return ss_error_set(err, SS_EFORMAT, "no builtin_options");
  /* Conv2DOptions: padding, stride_w, stride_h, activation, dilation w/h.
   * DepthwiseConv2DOptions has depth_multiplier at slot 3 before them. */
  int sh = depthwise ? 1 : 0;
  uint8_t padding, act;
  int32_t sw, sth, dw, dh, mult = 1;
  if ((rc = fb_u8(o, 0, "padding", 0, &padding, err)) ||
      (rc = fb_i32(o, 1, "stride_w", 0, &sw, err)) ||
      (rc = fb_i32(o, 2, "stride_h", 0, &sth, err)) ||
      (depthwise &&
       (rc = fb_i32(o, 3, "depth_multiplier", 0, &mult, err))) ||
      (rc = fb_u8(o, 3 + sh, "fused_activation_function", 0, &act, err)) ||
      (rc = fb_i32(o, 4 + sh, "dilation_w_factor", 1, &dw, err)) ||
      (rc = fb_i32(o, 5 + sh, "dilation_h_factor", 1, &dh, err)))
    return rc;
  if (sw != sth || sw < 1 || sw > 8)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "strides %dx%d (only equal strides 1..8)", sw, sth);
  if (dw != 1 || dh != 1)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "dilation %dx%d (only 1x1 is supported)", dw, dh);
  if (padding != PADDING_SAME && padding != PADDING_VALID)
    return ss_error_set(err, SS_EFORMAT, "padding %u", padding);

  struct model_layer l = {
    .kind = depthwise ? MODEL_LAYER_DWCONV : MODEL_LAYER_CONV, .in2 = -1,
    .stride = sw,
  };
  if ((rc = act_clamp(act, &l.act_min, &l.act_max, err)))
    return rc;
  /* The input, possibly through a PAD folded into this layer. */
  if (xi < 0)
    return ss_error_set(err, SS_EFORMAT, "input is missing");
  int extra_t = 0, extra_b = 0, extra_l = 0, extra_r = 0;
  if (L->ts[xi].kind == TS_PAD) {
    const struct tstate *s = &L->ts[xi];
    l.in = s->value;
    extra_t = s->pad_top;
    extra_b = s->pad_bottom;
    extra_l = s->pad_left;
    extra_r = s->pad_right;
  } else if ((l.in = input_value(L, xi, "input", err)) < 0) {
    return l.in;
  }
  const struct model_value in = L->m->values[l.in];

  const struct tfl_tensor *wt = &L->tensors[wi];
  char shp[64];
  shape_str(wt, shp, sizeof shp);
  if (wt->ndims != 4 || wt->shape[1] < 1 || wt->shape[2] < 1 ||
      wt->shape[1] > 15 || wt->shape[2] > 15)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "filter '%s' has shape %s (expected 4-d, kernel "
                        "1..15)",
                        wt->name, shp);
  l.kh = wt->shape[1];
  l.kw = wt->shape[2];
  if (depthwise) {
    if (wt->shape[0] != 1 || wt->shape[3] != in.c)
      return ss_error_set(err, SS_EMISMATCH,
                          "filter '%s' has shape %s, input '%s' has %d "
                          "channels (depth multiplier 1 expected)",
                          wt->name, shp, L->tensors[xi].name, in.c);
    if (mult != 1 && mult != 0)
      return ss_error_set(err, SS_EUNSUPPORTED, "depth multiplier %d", mult);
    l.cin = l.cout = in.c;
  } else {
    if (wt->shape[3] != in.c || wt->shape[0] < 1)
      return ss_error_set(err, SS_EMISMATCH,
                          "filter '%s' has shape %s: %d input channels, input "
                          "'%s' has %d",
                          wt->name, shp, wt->shape[3], L->tensors[xi].name,
                          in.c);
    l.cin = in.c;
    l.cout = wt->shape[0];
  }
  int ph = in.h + extra_t + extra_b, pw = in.w + extra_l + extra_r;
  if (padding == PADDING_SAME) {
    model_conv_pads(MODEL_PAD_RULE_TF_SAME, ph, l.kh, l.stride, &l.pad_top,
                    &l.pad_bottom);
    model_conv_pads(MODEL_PAD_RULE_TF_SAME, pw, l.kw, l.stride, &l.pad_left,
                    &l.pad_right);
  }
  l.pad_top += extra_t;
  l.pad_bottom += extra_b;
  l.pad_left += extra_l;
  l.pad_right += extra_r;
  if (l.pad_top >= l.kh || l.pad_bottom >= l.kh || l.pad_left >= l.kw ||
      l.pad_right >= l.kw)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "padding %d/%d/%d/%d (top/bottom/left/right) is not "
                        "smaller than the %dx%d kernel (not supported)",
                        l.pad_top, l.pad_bottom, l.pad_left, l.pad_right, l.kh,
                        l.kw);
  int oh = model_conv_out_size(in.h, l.kh, l.stride, l.pad_top, l.pad_bottom);
  int ow = model_conv_out_size(in.w, l.kw, l.stride, l.pad_left, l.pad_right);
  if (oh < 1 || ow < 1)
    return ss_error_set(err, SS_EMISMATCH,
                        "%dx%d kernel does not fit the %dx%d input", l.kh,
                        l.kw, in.h, in.w);

  if ((rc = load_weight_bias(L, wi, bi, "filter", depthwise ? 3 : 0, &l,
                             err)))
    return rc;
  /* A 1x1 convolution of a 1x1 input is a fully connected layer (the
   * classifier of TF's MobileNets); same weight layout. */
  bool fc = !depthwise && l.kh == 1 && l.kw == 1 && in.h == 1 && in.w == 1 &&
            oh == 1 && ow == 1 && !l.pad_top && !l.pad_left &&
            !l.pad_bottom && !l.pad_right;
  if (fc) {
    l.kind = MODEL_LAYER_FC;
    l.stride = 1;
  }
  return add_weighted_layer(L, yi, yi, oh, ow, &l, err);
}

static int
add_fully_connected(struct loader *L, const struct tfl_op *op,
                    struct ss_error *err)
{
  int xi = op_input(op, 0), wi = op_input(op, 1), bi = op_input(op, 2);
  int yi = op_output(op, 0);
  if (op->inputs.len < 2 || op->inputs.len > 3 || op->outputs.len != 1 ||
      wi < 0)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  const struct fb_table *o = NULL;
  uint8_t act = 0, format = 0;
  int rc = op_options(op, OPT_FULLY_CONNECTED, "FullyConnectedOptions", &o,
                      err);
  if (rc)
    return rc;
  if (o && ((rc = fb_u8(o, 0, "fused_activation_function", 0, &act, err)) ||
            (rc = fb_u8(o, 1, "weights_format", 0, &format, err))))
    return rc;
  if (format != 0)
    return ss_error_set(err, SS_EUNSUPPORTED, "weights format %u", format);
  struct model_layer l = { .kind = MODEL_LAYER_FC, .in2 = -1, .kh = 1, .kw = 1,
                           .stride = 1 };
  if ((rc = act_clamp(act, &l.act_min, &l.act_max, err)))
    return rc;
  if ((l.in = input_value(L, xi, "input", err)) < 0)
    return l.in;
  const struct model_value in = L->m->values[l.in];
  const struct tfl_tensor *wt = &L->tensors[wi];
  char shp[64];
  shape_str(wt, shp, sizeof shp);
  if (wt->ndims != 2 || wt->shape[0] < 1 ||
      wt->shape[1] != in.h * in.w * in.c)
    return ss_error_set(err, SS_EMISMATCH,
                        "weights '%s' have shape %s, input '%s' has %d "
                        "elements",
                        wt->name, shp, L->tensors[xi].name,
                        in.h * in.w * in.c);
  l.cin = wt->shape[1];
  l.cout = wt->shape[0];
  if ((rc = load_weight_bias(L, wi, bi, "weights", 0, &l, err)))
    return rc;
  return add_weighted_layer(L, yi < 0 ? wi : yi, yi, 1, 1, &l, err);
}

static int
add_add(struct loader *L, const struct tfl_op *op, struct ss_error *err)
{
  if (op->inputs.len != 2 || op->outputs.len != 1)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  const struct fb_table *o = NULL;
  uint8_t act = 0;
  int rc = op_options(op, OPT_ADD, "AddOptions", &o, err);
  if (rc || (o && (rc = fb_u8(o, 0, "fused_activation_function", 0, &act,
                              err))))
    return rc;
  struct model_layer l = { .kind = MODEL_LAYER_ADD, .kh = 1, .kw = 1,
                           .stride = 1 };
  if ((rc = act_clamp(act, &l.act_min, &l.act_max, err)))
    return rc;
  int yi = op_output(op, 0);
  if ((l.in = input_value(L, op_input(op, 0), "input 0", err)) < 0)
    return l.in;
  if ((l.in2 = input_value(L, op_input(op, 1), "input 1", err)) < 0)
    return l.in2;
  const struct model_value a = L->m->values[l.in], b = L->m->values[l.in2];
  if (a.h != b.h || a.w != b.w || a.c != b.c)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "adds %dx%dx%d and %dx%dx%d (broadcasting is not "
                        "supported)",
                        a.h, a.w, a.c, b.h, b.w, b.c);
  l.cin = l.cout = a.c;
  layer_name(L, yi, &l);
  clamp_to_qrange(L, yi, &l);
  if ((l.out = output_value(L, yi, a.h, a.w, a.c, err)) < 0)
    return l.out;
  if (model_add_layer(L->m, &l) < 0)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  return 0;
}

static int
add_global_pool(struct loader *L, const struct tfl_op *op, int in_value,
                struct ss_error *err)
{
  int yi = op_output(op, 0);
  const struct model_value in = L->m->values[in_value];
  struct model_layer l = {
    .kind = MODEL_LAYER_AVGPOOL, .in = in_value, .in2 = -1, .kh = 1, .kw = 1,
    .stride = 1, .cin = in.c, .cout = in.c, .act_min = -INFINITY,
    .act_max = INFINITY,
  };
  layer_name(L, yi, &l);
  if ((l.out = output_value(L, yi, 1, 1, in.c, err)) < 0)
    return l.out;
  if (model_add_layer(L->m, &l) < 0)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  return 0;
}

static int
add_average_pool(struct loader *L, const struct tfl_op *op,
                 struct ss_error *err)
{
  if (op->inputs.len != 1 || op->outputs.len != 1)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  const struct fb_table *o = NULL;
  int rc = op_options(op, OPT_POOL_2D, "Pool2DOptions", &o, err);
  if (rc)
    return rc;
  if (!o)
    return ss_error_set(err, SS_EFORMAT, "no builtin_options");
  uint8_t padding, act;
  int32_t sw, sth, fw, fh;
  if ((rc = fb_u8(o, 0, "padding", 0, &padding, err)) ||
      (rc = fb_i32(o, 1, "stride_w", 0, &sw, err)) ||
      (rc = fb_i32(o, 2, "stride_h", 0, &sth, err)) ||
      (rc = fb_i32(o, 3, "filter_width", 0, &fw, err)) ||
      (rc = fb_i32(o, 4, "filter_height", 0, &fh, err)) ||
      (rc = fb_u8(o, 5, "fused_activation_function", 0, &act, err)))
    return rc;
  int v = input_value(L, op_input(op, 0), "input", err);
  if (v < 0)
    return v;
  const struct model_value in = L->m->values[v];
  /* Only the global pool: the filter covers the input, one output pixel. */
  /* 64-bit: the filter and stride are the file's, any int32. */
  int64_t oh = 0, ow = 0;
  if (sw >= 1 && sth >= 1) {
    if (padding == PADDING_VALID) {
      oh = in.h >= fh ? ((int64_t)in.h - fh) / sth + 1 : 0;
      ow = in.w >= fw ? ((int64_t)in.w - fw) / sw + 1 : 0;
    } else {
      oh = ((int64_t)in.h + sth - 1) / sth;
      ow = ((int64_t)in.w + sw - 1) / sw;
    }
  }
  if (fh != in.h || fw != in.w || oh != 1 || ow != 1 || act != ACT_NONE)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "%dx%d pool stride %dx%d over %dx%d, activation %u "
                        "(only a global average pool without activation)",
                        fh, fw, sth, sw, in.h, in.w, act);
  return add_global_pool(L, op, v, err);
}

static int
add_mean(struct loader *L, const struct tfl_op *op, struct ss_error *err)
{
  if (op->inputs.len != 2 || op->outputs.len != 1)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  const struct fb_table *o = NULL;
  int rc = op_options(op, OPT_REDUCER, "ReducerOptions", &o, err);
  if (rc)
    return rc;
  int v = input_value(L, op_input(op, 0), "input", err);
  if (v < 0)
    return v;
  int ai = op_input(op, 1);
  if (ai < 0)
    return ss_error_set(err, SS_EFORMAT, "axes are missing");
  const struct tfl_tensor *at = &L->tensors[ai];
  if (at->type != TFL_INT32 || tensor_count(at) != 2)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "axes '%s' must be 2 int32 values", at->name);
  /* int32 without quantisation: read the raw values. */
  const struct tstate *s = &L->ts[ai];
  if (s->kind != TS_CONST)
    return ss_error_set(err, SS_EUNSUPPORTED, "axes '%s' are not constant",
                        at->name);
  const struct tfl_buffer *b = &L->buffers[L->tensors[s->src].buffer];
  if (b->size != 8)
    return ss_error_set(err, SS_EFORMAT,
                        "axes '%s': buffer has %zu bytes, 2 int32 need 8",
                        at->name, b->size);
  int a0 = (int32_t)fb_load_u32(b->data), a1 = (int32_t)fb_load_u32(b->data + 4);
  a0 = a0 < 0 ? a0 + 4 : a0;
  a1 = a1 < 0 ? a1 + 4 : a1;
  if (!((a0 == 1 && a1 == 2) || (a0 == 2 && a1 == 1)))
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "mean over axes %d,%d (only 1,2)", a0, a1);
  return add_global_pool(L, op, v, err);
}

static int
add_pad(struct loader *L, const struct tfl_op *op, struct ss_error *err)
{
  if (op->inputs.len != 2 || op->outputs.len != 1)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  int v = input_value(L, op_input(op, 0), "input", err);
  if (v < 0)
    return v;
  int pi = op_input(op, 1), yi = op_output(op, 0);
  if (pi < 0 || L->ts[pi].kind != TS_CONST)
    return ss_error_set(err, SS_EUNSUPPORTED, "paddings are not constant");
  const struct tfl_tensor *pt = &L->tensors[L->ts[pi].src];
  size_t eb = pt->type == TFL_INT32 ? 4 : pt->type == TFL_INT64 ? 8 : 0;
  if (!eb || pt->ndims != 2 || pt->shape[0] != 4 || pt->shape[1] != 2)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "paddings '%s' must be a [4,2] int32/int64 tensor",
                        pt->name);
  const struct tfl_buffer *b = &L->buffers[pt->buffer];
  if (b->size != 8 * eb)
    return ss_error_set(err, SS_EFORMAT,
                        "paddings '%s': buffer has %zu bytes, needs %zu",
                        pt->name, b->size, 8 * eb);
  int64_t p[8];
  for (int k = 0; k < 8; k++)
    p[k] = eb == 4 ? (int32_t)fb_load_u32(b->data + 4 * k)
                   : (int64_t)fb_load_u64(b->data + 8 * k);
  if (p[0] || p[1] || p[6] || p[7])
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "PAD of the batch or channel axis");
  for (int k = 2; k < 6; k++)
    if (p[k] < 0 || p[k] > 15)
      return ss_error_set(err, SS_EUNSUPPORTED, "padding %lld",
                          (long long)p[k]);
  const struct model_value in = L->m->values[v];
  if (yi < 0 || L->ts[yi].kind != TS_NONE)
    return ss_error_set(err, SS_EFORMAT, "output is missing or defined twice");
  const struct tfl_tensor *yt = &L->tensors[yi];
  int h = in.h + (int)(p[2] + p[3]), w = in.w + (int)(p[4] + p[5]);
  int th, tw, tc;
  if (!tensor_hwc(yt, &th, &tw, &tc) || yt->ndims != 4 || th != h ||
      tw != w || tc != in.c) {
    char shp[64];
    shape_str(yt, shp, sizeof shp);
    return ss_error_set(err, SS_EMISMATCH,
                        "output '%s' (tensor %d) has shape %s, the padding "
                        "gives [1,%d,%d,%d]",
                        yt->name, yi, shp, h, w, in.c);
  }
  L->ts[yi] = (struct tstate){
    .kind = TS_PAD, .value = v, .pad_top = (int)p[2],
    .pad_bottom = (int)p[3], .pad_left = (int)p[4], .pad_right = (int)p[5],
  };
  return 0;
}

/* A QUANTIZE or DEQUANTIZE of an activation is an alias of its input (the
 * float engine computes in float anyway). The integer engine can take it
 * as one only when both sides have the same grid: the same scale, and zero
 * points that differ by the 128 between int8 and uint8 (TF2 files convert
 * a uint8 input to int8 and an int8 output back so); otherwise the file is
 * marked as unsupported for it. */
static void
check_requantize(struct loader *L, const struct tstate *s,
                 const struct tfl_tensor *y)
{
  struct model_value_quant a = s->kind == TS_SOFTMAX ? L->m->output_probs_quant
                                               : L->m->values[s->value].quant;
  if (s->kind == TS_SOFTMAX && L->softmax_out >= 0)
    a = tensor_value_quant(&L->tensors[L->softmax_out]);
  struct model_value_quant b = tensor_value_quant(y);
  if (a.scale > 0 && b.scale == a.scale &&
      b.zero_point - b.qmin == a.zero_point - a.qmin)
    return;
  if (!L->m->int_unsupported[0])
    snprintf(L->m->int_unsupported, sizeof L->m->int_unsupported,
             "'%s' changes the quantisation of its input", y->name);
}

/* QUANTIZE, DEQUANTIZE, RESHAPE, SQUEEZE: the output is the input. */
static int
add_alias(struct loader *L, const struct tfl_op *op, struct ss_error *err)
{
  bool reshape = op->code == OPC_RESHAPE || op->code == OPC_SQUEEZE;
  if (op->outputs.len != 1 || op->inputs.len < 1 ||
      op->inputs.len > (reshape ? 2u : 1u))
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  int xi = op_input(op, 0), yi = op_output(op, 0);
  if (xi < 0)
    return ss_error_set(err, SS_EFORMAT, "input is missing");
  if (L->ts[yi].kind != TS_NONE)
    return ss_error_set(err, SS_EFORMAT,
                        "output '%s' (tensor %d) is already defined",
                        L->tensors[yi].name, yi);
  const struct tfl_tensor *x = &L->tensors[xi], *y = &L->tensors[yi];
  const struct tstate *s = &L->ts[xi];
  size_t n = tensor_count(x);
  if (tensor_count(y) != n)
    return ss_error_set(err, SS_EMISMATCH,
                        "'%s' has %zu elements, '%s' %zu", x->name, n,
                        y->name, tensor_count(y));
  if (s->kind == TS_CONST && !reshape) {
    bool same = x->ndims == y->ndims;
    for (int k = 0; same && k < x->ndims; k++)
      same = x->shape[k] == y->shape[k];
    if (!same)
      return ss_error_set(err, SS_EMISMATCH, "'%s' and '%s' differ in shape",
                          x->name, y->name);
    L->ts[yi] = *s; /* the constant's data and quantisation stay */
    return 0;
  }
  if (s->kind != TS_VALUE && s->kind != TS_SOFTMAX) {
    int rc = input_value(L, xi, "input", err);
    return rc < 0 ? rc : SS_EUNSUPPORTED;
  }
  const struct model_value v = L->m->values[s->value];
  if (!reshape)
    check_requantize(L, s, y);
  if ((size_t)v.h * v.w * v.c != n)
    return ss_error_set(err, SS_EMISMATCH,
                        "'%s' has %zu elements, its value %dx%dx%d", x->name,
                        n, v.h, v.w, v.c);
  if (reshape) {
    /* Only flattening 1x1xC: the memory layout stays the same. */
    int th, tw, tc;
    if (v.h != 1 || v.w != 1 || !tensor_hwc(y, &th, &tw, &tc) || th != 1 ||
        tw != 1) {
      char shp[64];
      shape_str(y, shp, sizeof shp);
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "reshape of %dx%dx%d to %s (only 1x1xC to [1,C])",
                          v.h, v.w, v.c, shp);
    }
  } else {
    int th, tw, tc;
    if (!tensor_hwc(y, &th, &tw, &tc) || th != v.h || tw != v.w ||
        tc != v.c)
      return ss_error_set(err, SS_EMISMATCH,
                          "'%s' does not have the shape %dx%dx%d of '%s'",
                          y->name, v.h, v.w, v.c, x->name);
  }
  L->ts[yi] = *s;
  return 0;
}

static int
add_softmax(struct loader *L, const struct tfl_op *op, struct ss_error *err)
{
  if (op->inputs.len != 1 || op->outputs.len != 1)
    return ss_error_set(err, SS_EFORMAT, "%u inputs and %u outputs",
                        op->inputs.len, op->outputs.len);
  const struct fb_table *o = NULL;
  float beta = 0.0f;
  int rc = op_options(op, OPT_SOFTMAX, "SoftmaxOptions", &o, err);
  if (rc || (o && (rc = fb_f32(o, 0, "beta", 0.0f, &beta, err))))
    return rc;
  if (beta != 1.0f)
    return ss_error_set(err, SS_EUNSUPPORTED, "softmax beta %g (only 1)",
                        (double)beta);
  int v = input_value(L, op_input(op, 0), "input", err);
  if (v < 0)
    return v;
  const struct model_value x = L->m->values[v];
  int yi = op_output(op, 0);
  int th, tw, tc;
  if (x.h != 1 || x.w != 1 || L->ts[yi].kind != TS_NONE ||
      !tensor_hwc(&L->tensors[yi], &th, &tw, &tc) || th != 1 || tw != 1 ||
      tc != x.c)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "softmax of %dx%dx%d into '%s' (only of 1x1xC logits)",
                        x.h, x.w, x.c, L->tensors[yi].name);
  L->ts[yi] = (struct tstate){ .kind = TS_SOFTMAX, .value = v };
  L->softmax_out = yi;
  return 0;
}

static int
add_op(struct loader *L, const struct tfl_op *op, struct ss_error *err)
{
  switch (op->code) {
  case OPC_CONV_2D: return add_conv(L, op, false, err);
  case OPC_DEPTHWISE_CONV_2D: return add_conv(L, op, true, err);
  case OPC_FULLY_CONNECTED: return add_fully_connected(L, op, err);
  case OPC_ADD: return add_add(L, op, err);
  case OPC_AVERAGE_POOL_2D: return add_average_pool(L, op, err);
  case OPC_MEAN: return add_mean(L, op, err);
  case OPC_PAD: return add_pad(L, op, err);
  case OPC_SOFTMAX: return add_softmax(L, op, err);
  case OPC_QUANTIZE:
  case OPC_DEQUANTIZE:
  case OPC_RESHAPE:
  case OPC_SQUEEZE: return add_alias(L, op, err);
  }
  return ss_error_set(err, SS_EUNSUPPORTED, "operator is not supported");
}

/* ---- model metadata ---- */

static int
set_input(struct loader *L, int ti, struct ss_error *err)
{
  const struct tfl_tensor *t = &L->tensors[ti];
  char shp[64];
  shape_str(t, shp, sizeof shp);
  if (t->ndims != 4 || t->shape[0] != 1 || t->shape[3] != 3 ||
      t->shape[1] < 1 || t->shape[2] < 1 || t->shape[1] > 4096 ||
      t->shape[2] > 4096)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "input '%s' has shape %s (expected [1,H,W,3])",
                        t->name, shp);
  if (L->ts[ti].kind != TS_NONE)
    return ss_error_set(err, SS_EFORMAT, "input '%s' is a constant", t->name);
  L->m = model_new(t->shape[1], t->shape[2]);
  if (!L->m)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  L->ts[ti] = (struct tstate){ .kind = TS_VALUE, .value = 0 };
  L->m->values[0].quant = tensor_value_quant(t);
  float mean, std;
  if (t->type == TFL_FLOAT32) {
    mean = 127.5f; /* [-1, 1], the MobileNet convention */
    std = 127.5f;
  } else if (t->type == TFL_UINT8 || t->type == TFL_INT8) {
    int rc = check_quant(t, "input", err);
    if (rc)
      return rc;
    float scale;
    int64_t zp;
    quant_params(t, 0, &scale, &zp);
    if (t->scale.len != 1 || !(scale > 0))
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "input '%s' has %u scales, first %g", t->name,
                          t->scale.len, (double)scale);
    /* Pixel bytes p are the quantised input (int8: p - 128), whose value
     * is scale * (q - zp) = (p - mean) / std. */
    mean = (float)zp + (t->type == TFL_INT8 ? 128.0f : 0.0f);
    std = 1.0f / scale;
  } else {
    return ss_error_set(err, SS_EUNSUPPORTED, "input '%s' is %s", t->name,
                        type_name(t->type));
  }
  for (int c = 0; c < 3; c++) {
    L->m->mean[c] = mean;
    L->m->std[c] = std;
  }
  return 0;
}

static bool
same_structure(const struct ss_model *a, const struct ss_model *b)
{
  if (a->n_layers != b->n_layers || a->input_h != b->input_h ||
      a->input_w != b->input_w)
    return false;
  for (int i = 0; i < a->n_layers; i++) {
    const struct model_layer *x = &a->layers[i], *y = &b->layers[i];
    const struct model_value *xo = &a->values[x->out], *yo = &b->values[y->out];
    if (x->kind != y->kind || xo->h != yo->h || xo->w != yo->w ||
        xo->c != yo->c)
      return false;
    if ((x->kind == MODEL_LAYER_CONV || x->kind == MODEL_LAYER_DWCONV) &&
        (x->kh != y->kh || x->kw != y->kw || x->stride != y->stride ||
         x->pad_top != y->pad_top || x->pad_left != y->pad_left ||
         x->pad_bottom != y->pad_bottom || x->pad_right != y->pad_right))
      return false;
  }
  return true;
}

/* V2 when the graph has residual adds; the width multiplier whose built
 * network has exactly this graph's layers and channels (0 when none). */
static void
infer_arch(struct ss_model *m)
{
  static const float alphas[] = { 0.25f, 0.35f, 0.5f, 0.75f, 1.0f, 1.3f,
                                  1.4f };
  bool adds = false;
  for (int i = 0; i < m->n_layers; i++)
    adds |= m->layers[i].kind == MODEL_LAYER_ADD;
  m->arch = adds ? MODEL_ARCH_MOBILENET_V2 : MODEL_ARCH_MOBILENET_V1;
  m->alpha = 0.0f;
  if (m->input_h != m->input_w)
    return;
  for (size_t k = 0; k < sizeof alphas / sizeof alphas[0]; k++) {
    struct ss_model *b = NULL;
    if (mobilenet_build(m->arch, alphas[k], m->input_h, MODEL_PAD_RULE_TF_SAME,
                        m->num_outputs, &b, NULL) != 0)
      continue;
    bool same = same_structure(m, b);
    model_unref(b);
    if (same) {
      m->alpha = alphas[k];
      return;
    }
  }
}

static int
attach_labels(struct loader *L, struct ss_error *err)
{
  struct zip_text zt;
  bool found;
  int rc = zip_find_text(L->buf, L->size, &zt, &found, err);
  if (rc || !found)
    return rc;
  rc = model_set_labels_text(L->m, (const char *)zt.data, zt.size, err);
  if (rc)
    return ss_error_prefix(err, rc, "labels zip entry '%s'", zt.name);
  return 0;
}

static int
build_graph(struct loader *L, struct ss_error *err)
{
  if (L->sg_inputs.len != 1 || L->sg_outputs.len != 1)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "subgraph 0 has %u inputs and %u outputs (expected 1 "
                        "and 1)",
                        L->sg_inputs.len, L->sg_outputs.len);
  L->ts = calloc(L->n_tensors, sizeof *L->ts);
  if (!L->ts)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < L->n_tensors; i++) {
    if (L->buffers[L->tensors[i].buffer].size > 0)
      L->ts[i] = (struct tstate){ .kind = TS_CONST, .src = i };
  }
  int rc = set_input(L, fb_vector_i32(&L->sg_inputs, 0), err);
  if (rc)
    return rc;
  for (uint32_t i = 0; i < L->n_ops; i++) {
    const struct tfl_op *op = &L->ops[i];
    if ((rc = add_op(L, op, err))) {
      if (op->code == OPC_CUSTOM && op->custom)
        return ss_error_prefix(err, rc, "operator %u (CUSTOM '%.40s')", i,
                               op->custom);
      if (!strcmp(op_name(op->code), "builtin"))
        return ss_error_prefix(err, rc, "operator %u (builtin code %d)", i,
                               op->code);
      return ss_error_prefix(err, rc, "operator %u (%s)", i,
                             op_name(op->code));
    }
  }
  int oi = fb_vector_i32(&L->sg_outputs, 0);
  const struct tstate *s = &L->ts[oi];
  if (s->kind != TS_VALUE && s->kind != TS_SOFTMAX)
    return ss_error_set(err, SS_EFORMAT,
                        "output '%s' (tensor %d) is not computed by the "
                        "graph",
                        L->tensors[oi].name, oi);
  struct ss_model *m = L->m;
  const struct model_value o = m->values[s->value];
  if (o.h != 1 || o.w != 1)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "output '%s' is %dx%dx%d (expected 1x1xC logits)",
                        L->tensors[oi].name, o.h, o.w, o.c);
  /* With a final softmax, the logits are its input: callers apply softmax. */
  m->output = s->value;
  if (s->kind == TS_SOFTMAX && L->softmax_out >= 0)
    m->output_probs_quant = tensor_value_quant(&L->tensors[L->softmax_out]);
  m->num_outputs = o.c;
  m->class_offset = o.c == 1001 ? 1 : 0;
  return 0;
}

static void
loader_free(struct loader *L)
{
  free(L->opcodes);
  free(L->buffers);
  free(L->tensors);
  free(L->ops);
  free(L->ts);
  model_unref(L->m);
}

int
model_load_tflite_buffer_opts(const uint8_t *data, size_t size,
                              const char *name,
                              const struct tflite_load_opts *opts,
                              struct ss_model **out, struct ss_error *err)
{
  struct loader L = {
    .buf = data, .size = size,
    .clamp_qrange = opts ? opts->clamp_qrange : false,
    .softmax_out = -1,
  };
  int rc = parse_model(&L, err);
  if (!rc)
    rc = build_graph(&L, err);
  if (rc) {
    loader_free(&L);
    return rc;
  }
  struct ss_model *m = L.m;
  m->format = MODEL_FORMAT_TFLITE;
  m->pad_rule = MODEL_PAD_RULE_TF_SAME;
  m->quantized = L.quantized;
  snprintf(m->name, sizeof m->name, "%s", name ? name : "tflite");
  if ((rc = model_validate(m, err)) || (rc = attach_labels(&L, err))) {
    loader_free(&L);
    return rc;
  }
  infer_arch(m);
  L.m = NULL;
  loader_free(&L);
  *out = m;
  return 0;
}

int
model_load_tflite_buffer(const uint8_t *data, size_t size, const char *name,
                         struct ss_model **out, struct ss_error *err)
{
  return model_load_tflite_buffer_opts(data, size, name, NULL, out, err);
}
