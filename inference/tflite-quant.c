/* streamsight — TFLite loader: quantisation parameters and constant tensors
 * (see tflite-loader.h).
 *
 * A tensor's scale/zero-point vectors are checked here before any use;
 * constants become float weights (dequantised) and, for uint8/int8 files,
 * the integer weights of the integer engine; activation tensors give the
 * per-tensor quantisation kept on graph values, the clamp of a layer whose
 * output range starts at 0, and the check that a QUANTIZE/DEQUANTIZE keeps
 * the grid.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "tflite-loader.h"

/* The tensor's scale and zero point for element channel ch (per-tensor when
 * there is one scale). */
void
tfl_quant_params(const struct tfl_tensor *t, uint32_t ch, float *scale,
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
int
tfl_check_quant(const struct tfl_tensor *t, const char *role,
                struct ss_error *err)
{
  if (t->details_type)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "%s '%s': custom quantisation (details type %u)", role,
                        t->name, t->details_type);
  if (t->scale.len == 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s '%s' is %s without quantisation scale", role,
                        t->name, tfl_type_name(t->type));
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
 * new array of tfl_tensor_count() floats. */
int
tfl_const_floats(struct tfl_loader *L, int ti, const char *role,
                 bool is_weight, float **out, struct ss_error *err)
{
  const struct tstate *s = &L->ts[ti];
  if (s->kind != TS_CONST)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "%s '%s' (tensor %d) is not a constant", role,
                        L->tensors[ti].name, ti);
  const struct tfl_tensor *t = &L->tensors[s->src];
  const struct tfl_buffer *b = &L->buffers[t->buffer];
  size_t n = tfl_tensor_count(t), eb = tfl_type_bytes(t->type);
  char shp[64];
  tfl_shape_str(t, shp, sizeof shp);
  if (eb == 0 || t->type == TFL_INT64)
    return ss_error_set(err, SS_EUNSUPPORTED, "%s '%s': %s data type %d",
                        role, t->name, tfl_type_name(t->type), t->type);
  if (b->size != n * eb)
    return ss_error_set(err, SS_EFORMAT,
                        "%s '%s' (tensor %u): buffer %u has %zu bytes, shape "
                        "%s of %s needs %zu",
                        role, t->name, s->src, t->buffer, b->size, shp,
                        tfl_type_name(t->type), n * eb);
  bool q = t->type == TFL_UINT8 || t->type == TFL_INT8 ||
           t->type == TFL_INT32;
  int rc;
  if (q && (rc = tfl_check_quant(t, role, err)))
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
      tfl_quant_params(t, (uint32_t)((i / inner) % dim), &scale, &zp);
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
int
tfl_const_qweights(struct tfl_loader *L, int wi, int bi, int cout,
                   int qdim_out, struct model_layer_qweights **out,
                   struct ss_error *err)
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
               "bias '%s' is %s, not int32", bt->name,
               tfl_type_name(bt->type));
      return 0;
    }
  }
  int rc = tfl_check_quant(t, "filter", err);
  if (rc)
    return rc;
  if (t->scale.len > 1 && t->qdim != qdim_out) {
    snprintf(L->m->int_unsupported, sizeof L->m->int_unsupported,
             "filter '%s' is quantised per channel along dimension %d",
             t->name, t->qdim);
    return 0;
  }
  const struct tfl_buffer *b = &L->buffers[t->buffer];
  size_t n = tfl_tensor_count(t);
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
    tfl_quant_params(t, (uint32_t)c, &qw->w_scale[c], &zp);
  }
  for (size_t i = 0; i < n; i++) {
    float scale;
    int64_t zp;
    tfl_quant_params(t, (uint32_t)((i / inner) % (size_t)cout), &scale, &zp);
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
struct model_value_quant
tfl_tensor_value_quant(const struct tfl_tensor *t)
{
  struct model_value_quant q = { 0 };
  if ((t->type != TFL_UINT8 && t->type != TFL_INT8) || t->scale.len != 1 ||
      tfl_check_quant(t, "output", NULL) != 0)
    return q;
  float scale;
  int64_t zp;
  tfl_quant_params(t, 0, &scale, &zp);
  q.qmin = t->type == TFL_UINT8 ? 0 : -128;
  q.qmax = t->type == TFL_UINT8 ? 255 : 127;
  if (!(scale > 0) || zp < q.qmin || zp > q.qmax)
    return (struct model_value_quant){ 0 };
  q.scale = scale;
  q.zero_point = (int)zp;
  return q;
}

/* Narrows a layer's clamp to the range its quantised output can represent,
 * as TFLite's integer kernels saturate (see the comment inside for when). */
void
tfl_clamp_to_qrange(const struct tfl_loader *L, int out_tensor,
                    struct model_layer *l)
{
  const struct tfl_tensor *t = &L->tensors[out_tensor];
  if ((t->type != TFL_UINT8 && t->type != TFL_INT8) ||
      t->scale.len != 1 || tfl_check_quant(t, "output", NULL) != 0)
    return;
  float scale;
  int64_t zp;
  tfl_quant_params(t, 0, &scale, &zp);
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

/* A QUANTIZE or DEQUANTIZE of an activation is an alias of its input (the
 * float engine computes in float anyway). The integer engine can take it
 * as one only when both sides have the same grid: the same scale, and zero
 * points that differ by the 128 between int8 and uint8 (TF2 files convert
 * a uint8 input to int8 and an int8 output back so); otherwise the file is
 * marked as unsupported for it. */
void
tfl_check_requantize(struct tfl_loader *L, const struct tstate *s,
                     const struct tfl_tensor *y)
{
  struct model_value_quant a = s->kind == TS_SOFTMAX ? L->m->output_probs_quant
                                               : L->m->values[s->value].quant;
  if (s->kind == TS_SOFTMAX && L->softmax_out >= 0)
    a = tfl_tensor_value_quant(&L->tensors[L->softmax_out]);
  struct model_value_quant b = tfl_tensor_value_quant(y);
  if (a.scale > 0 && b.scale == a.scale &&
      b.zero_point - b.qmin == a.zero_point - a.qmin)
    return;
  if (!L->m->int_unsupported[0])
    snprintf(L->m->int_unsupported, sizeof L->m->int_unsupported,
             "'%s' changes the quantisation of its input", y->name);
}
