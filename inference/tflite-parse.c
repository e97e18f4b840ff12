/* streamsight — TFLite loader, pass 1: the flatbuffer (see tflite-loader.h).
 *
 * Walks the Model table, its operator codes, buffers and subgraph 0 (tensors,
 * operators, inputs, outputs) once through the bounds-checked reader of
 * flatbuf.h; every index and size is checked against its table here, so the
 * second pass can index L->tensors, L->buffers and L->opcodes freely. Also
 * the names and sizes of the schema's codes, and tensor shape helpers.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflite-loader.h"

/* ---- names ---- */

const char *
tfl_op_name(int code)
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

const char *
tfl_type_name(int type)
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

size_t
tfl_type_bytes(int type)
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

/* ---- parse and verify ---- */

static int
parse_opcodes(struct tfl_loader *L, const struct fb_table *model,
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
parse_buffers(struct tfl_loader *L, const struct fb_table *model,
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
parse_tensor(struct tfl_loader *L, const struct fb_vector *v, uint32_t i,
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
check_indices(const struct tfl_loader *L, const struct fb_vector *v,
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
parse_operator(struct tfl_loader *L, const struct fb_vector *v, uint32_t i,
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
parse_subgraph(struct tfl_loader *L, const struct fb_table *sg,
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

int
tfl_parse_model(struct tfl_loader *L, struct ss_error *err)
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

size_t
tfl_tensor_count(const struct tfl_tensor *t)
{
  size_t n = 1; /* bounded by TFL_MAX_ELEMENTS at parse time */
  for (int k = 0; k < t->ndims; k++)
    n *= (size_t)t->shape[k];
  return n;
}

void
tfl_shape_str(const struct tfl_tensor *t, char *buf, size_t cap)
{
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int k = 0; k < t->ndims && n < cap; k++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%d", k ? "," : "", t->shape[k]);
  if (n < cap)
    snprintf(buf + n, cap - n, "]");
}
