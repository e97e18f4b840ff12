/* streamsight — TFLite loader, pass 2: operators to layers (see
 * tflite-loader.h).
 *
 * tfl_add_op() reads one operator of subgraph 0, in execution order: a
 * convolution, fully connected layer, ADD or global pool becomes a layer of
 * L->m; a PAD is remembered on its output tensor and folded into the next
 * convolution; QUANTIZE, DEQUANTIZE, RESHAPE and SQUEEZE make their output
 * an alias of their input; a final SOFTMAX is noted (its input becomes the
 * model's output). L->ts says what each tensor has become so far.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflite-loader.h"

/* ---- operands ---- */

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

/* The activation value of input tensor ti (a value, never pending pads). */
static int
input_value(const struct tfl_loader *L, int ti, const char *role,
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
output_value(struct tfl_loader *L, int ti, int h, int w, int c,
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
    tfl_shape_str(t, shp, sizeof shp);
    return ss_error_set(err, SS_EMISMATCH,
                        "output '%s' (tensor %d) has shape %s, the operation "
                        "gives [1,%d,%d,%d]",
                        t->name, ti, shp, h, w, c);
  }
  int v = model_add_value(L->m, h, w, c);
  if (v < 0)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  L->m->values[v].quant = tfl_tensor_value_quant(t);
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

static void
layer_name(const struct tfl_loader *L, int out_tensor, struct model_layer *l)
{
  snprintf(l->name, sizeof l->name, "%s", L->tensors[out_tensor].name);
}

/* ---- operators ---- */

/* A convolution's or fully connected layer's constants into l: the weights
 * (tensor wi, called wname in errors), the bias (tensor bi, [cout]; zeros
 * when bi < 0) and, for a quantised file, the integer weights (per-channel
 * along qaxis). l->cout must be set. On error nothing is left allocated. */
static int
load_weight_bias(struct tfl_loader *L, int wi, int bi, const char *wname,
                 int qaxis, struct model_layer *l, struct ss_error *err)
{
  if (bi >= 0) {
    const struct tfl_tensor *bt = &L->tensors[bi];
    if (bt->ndims != 1 || bt->shape[0] != l->cout) {
      char shp[64];
      tfl_shape_str(bt, shp, sizeof shp);
      return ss_error_set(err, SS_EMISMATCH,
                          "bias '%s' has shape %s, expected [%d]", bt->name,
                          shp, l->cout);
    }
  }
  int rc = tfl_const_floats(L, wi, wname, true, &l->weight, err);
  if (rc)
    return rc;
  if (bi >= 0)
    rc = tfl_const_floats(L, bi, "bias", false, &l->bias, err);
  else if (!(l->bias = calloc((size_t)l->cout, sizeof *l->bias)))
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
  if (!rc)
    rc = tfl_const_qweights(L, wi, bi, l->cout, qaxis, &l->qw, err);
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
add_weighted_layer(struct tfl_loader *L, int name_ti, int yi, int oh, int ow,
                   struct model_layer *l, struct ss_error *err)
{
  layer_name(L, name_ti, l);
  tfl_clamp_to_qrange(L, name_ti, l);
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
add_conv(struct tfl_loader *L, const struct tfl_op *op, bool depthwise,
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
  tfl_shape_str(wt, shp, sizeof shp);
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
add_fully_connected(struct tfl_loader *L, const struct tfl_op *op,
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
  tfl_shape_str(wt, shp, sizeof shp);
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
add_add(struct tfl_loader *L, const struct tfl_op *op, struct ss_error *err)
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
  tfl_clamp_to_qrange(L, yi, &l);
  if ((l.out = output_value(L, yi, a.h, a.w, a.c, err)) < 0)
    return l.out;
  if (model_add_layer(L->m, &l) < 0)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  return 0;
}

static int
add_global_pool(struct tfl_loader *L, const struct tfl_op *op, int in_value,
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
add_average_pool(struct tfl_loader *L, const struct tfl_op *op,
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
add_mean(struct tfl_loader *L, const struct tfl_op *op, struct ss_error *err)
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
  if (at->type != TFL_INT32 || tfl_tensor_count(at) != 2)
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
add_pad(struct tfl_loader *L, const struct tfl_op *op, struct ss_error *err)
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
    tfl_shape_str(yt, shp, sizeof shp);
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

/* QUANTIZE, DEQUANTIZE, RESHAPE, SQUEEZE: the output is the input. */
static int
add_alias(struct tfl_loader *L, const struct tfl_op *op, struct ss_error *err)
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
  size_t n = tfl_tensor_count(x);
  if (tfl_tensor_count(y) != n)
    return ss_error_set(err, SS_EMISMATCH,
                        "'%s' has %zu elements, '%s' %zu", x->name, n,
                        y->name, tfl_tensor_count(y));
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
    tfl_check_requantize(L, s, y);
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
      tfl_shape_str(y, shp, sizeof shp);
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
add_softmax(struct tfl_loader *L, const struct tfl_op *op,
            struct ss_error *err)
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

int
tfl_add_op(struct tfl_loader *L, const struct tfl_op *op,
           struct ss_error *err)
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
