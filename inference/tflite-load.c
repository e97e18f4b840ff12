/* streamsight — TFLite flatbuffer loader (see tflite-load.h).
 *
 * Two passes over one struct tfl_loader (tflite-loader.h):
 * tfl_parse_model() (tflite-parse.c) walks and verifies the whole
 * flatbuffer, then build_graph() here sets the input and reads subgraph 0's
 * operators in order through tfl_add_op() (tflite-ops.c) into layers of
 * struct ss_model. What is left is the model's metadata: input
 * normalisation, output, labels from the appended zip, architecture.
 */
#include "tflite-load.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mobilenet.h"
#include "tflite-loader.h"
#include "zip-labels.h"

int
tflite_sniff(const uint8_t *data, size_t size)
{
  return size >= 8 && memcmp(data + 4, "TFL3", 4) == 0;
}

/* ---- model metadata ---- */

static int
set_input(struct tfl_loader *L, int ti, struct ss_error *err)
{
  const struct tfl_tensor *t = &L->tensors[ti];
  char shp[64];
  tfl_shape_str(t, shp, sizeof shp);
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
  L->m->values[0].quant = tfl_tensor_value_quant(t);
  float mean, std;
  if (t->type == TFL_FLOAT32) {
    mean = 127.5f; /* [-1, 1], the MobileNet convention */
    std = 127.5f;
  } else if (t->type == TFL_UINT8 || t->type == TFL_INT8) {
    int rc = tfl_check_quant(t, "input", err);
    if (rc)
      return rc;
    float scale;
    int64_t zp;
    tfl_quant_params(t, 0, &scale, &zp);
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
                        tfl_type_name(t->type));
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
attach_labels(struct tfl_loader *L, struct ss_error *err)
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
build_graph(struct tfl_loader *L, struct ss_error *err)
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
    if ((rc = tfl_add_op(L, op, err))) {
      if (op->code == OPC_CUSTOM && op->custom)
        return ss_error_prefix(err, rc, "operator %u (CUSTOM '%.40s')", i,
                               op->custom);
      if (!strcmp(tfl_op_name(op->code), "builtin"))
        return ss_error_prefix(err, rc, "operator %u (builtin code %d)", i,
                               op->code);
      return ss_error_prefix(err, rc, "operator %u (%s)", i,
                             tfl_op_name(op->code));
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
    m->output_probs_quant =
        tfl_tensor_value_quant(&L->tensors[L->softmax_out]);
  m->num_outputs = o.c;
  m->class_offset = o.c == 1001 ? 1 : 0;
  return 0;
}

static void
loader_free(struct tfl_loader *L)
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
  struct tfl_loader L = {
    .buf = data, .size = size,
    .clamp_qrange = opts ? opts->clamp_qrange : false,
    .softmax_out = -1,
  };
  int rc = tfl_parse_model(&L, err);
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
