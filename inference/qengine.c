/* streamsight — the integer engine (see qengine.h).
 *
 * One step per model layer, over one arena of 8-bit activations planned
 * once (a value's bytes are reused once its last reader has run). Values
 * are stored as uint8, int8 ones shifted by 128 (qkernels.h). Dense KxK
 * convolutions (the first layer) build an im2col row padded with the zero
 * point and run the GEMM kernel on it; depthwise ones run row by row. The
 * final softmax is TFLite's quantised one, in plain C after the steps.
 */
#include "qengine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "model-graph.h"

enum qstep_kind { QS_GEMM = 0, QS_CONV, QS_DW, QS_ADD, QS_POOL };

struct qstep {
  enum qstep_kind kind;
  const struct model_layer *l;
  int in, in2, out;
  size_t k; /* GEMM reduction: cin, or kh*kw*cin rounded up to 4 (QS_CONV:
               the im2col row, zero-padded, as the VNNI GEMM takes groups
               of 4 bytes) */
  size_t packed_off;
  int32_t in_zp;
  struct qk_requant rq; /* its arrays point into rq_data */
  void *rq_data;
  struct qk_add_params add;
  struct qk_pool_params pool;
  uint64_t macs;
};

struct qengine {
  const struct ss_model *m;
  const struct qk_ops *ops;
  struct qstep *steps;
  int n_steps;
  uint8_t *packed;
  size_t *value_off;
  size_t im2col_off, arena_bytes; /* im2col_off: any step's scratch */
  /* output */
  bool probs;            /* the final softmax runs here */
  float sm_in_scale;     /* the logits' scale */
  struct model_value_quant oq; /* the output's (softmax's or logits') grid */
  bool out_signed;
  /* pooled features: their value and the steps computing them, or -1/0 */
  int feature_value, feature_steps;
};

#define ALIGN 64

static size_t
round_up(size_t v, size_t a)
{
  return (v + a - 1) / a * a;
}

/* A value's grid in the stored (shifted) space. */
static int32_t
zp_stored(const struct model_value_quant *q)
{
  return q->zero_point - q->qmin;
}

static bool
quantised(const struct model_value_quant *q)
{
  return q->scale > 0 && (q->qmin == 0 || q->qmin == -128) &&
         q->qmax == q->qmin + 255;
}

/* The clamp of a layer's output in the stored space: the fused activation
 * quantised as TFLite does (zero point + round(bound / scale)), within
 * 0..255. */
static void
act_bounds(const struct model_layer *l, const struct model_value_quant *oq,
           int32_t *lo, int32_t *hi)
{
  const int32_t zp = zp_stored(oq);
  *lo = 0;
  *hi = 255;
  if (isfinite(l->act_min)) {
    double v = zp + round((double)(l->act_min / oq->scale));
    if (v > *lo)
      *lo = v > 255 ? 255 : (int32_t)v;
  }
  if (isfinite(l->act_max)) {
    double v = zp + round((double)(l->act_max / oq->scale));
    if (v < *hi)
      *hi = v < 0 ? 0 : (int32_t)v;
  }
  if (*hi < *lo)
    *hi = *lo;
}

static int
setup_requant(struct qstep *s, const struct ss_model *m, enum qarith arith,
              struct ss_error *err)
{
  const struct model_layer *l = s->l;
  const struct model_value_quant *iq = &m->values[l->in].quant;
  const struct model_value_quant *oq = &m->values[l->out].quant;
  const size_t n = (size_t)l->cout;
  s->rq_data = calloc(n, arith == QARITH_XNNPACK ? sizeof(float)
                                                 : 2 * sizeof(int32_t));
  if (!s->rq_data)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  s->rq.zp = zp_stored(oq);
  act_bounds(l, oq, &s->rq.lo, &s->rq.hi);
  s->in_zp = zp_stored(iq);
  const bool per_channel_int8 = iq->qmin < 0;
  for (size_t j = 0; j < n; j++) {
    const float ws = l->qw->w_scale[j];
    if (arith == QARITH_XNNPACK) {
      s->rq.mode = QK_RQ_FP32;
      float *sc = s->rq_data;
      sc[j] = iq->scale * ws / oq->scale; /* in float, as XNNPACK */
      s->rq.scale = sc;
      if (!(sc[j] >= 0x1p-32f && sc[j] < 256.0f) && ws != 0.0f)
        return ss_error_set(err, SS_EUNSUPPORTED,
                            "layer '%s': requantisation scale %g out of "
                            "range",
                            l->name, (double)sc[j]);
    } else {
      s->rq.mode = QK_RQ_GEMMLOWP;
      int32_t *mult = s->rq_data, *shift = mult + n;
      /* TFLite: per-tensor uint8 multiplies the scales in float first. */
      double r = per_channel_int8
                     ? (double)iq->scale * (double)ws / (double)oq->scale
                     : (double)(iq->scale * ws) / (double)oq->scale;
      qk_quantize_multiplier(r, &mult[j], &shift[j]);
      if (shift[j] > 30)
        return ss_error_set(err, SS_EUNSUPPORTED,
                            "layer '%s': requantisation multiplier %g out "
                            "of range",
                            l->name, r);
      s->rq.mult = mult;
      s->rq.shift = shift;
    }
  }
  return 0;
}

static int
setup_add(struct qstep *s, const struct ss_model *m, enum qarith arith,
          struct ss_error *err)
{
  const struct model_value_quant *a = &m->values[s->in].quant;
  const struct model_value_quant *b = &m->values[s->in2].quant;
  const struct model_value_quant *o = &m->values[s->out].quant;
  struct qk_add_params *p = &s->add;
  p->a_zp = zp_stored(a);
  p->b_zp = zp_stored(b);
  p->out_zp = zp_stored(o);
  act_bounds(s->l, o, &p->lo, &p->hi);
  if (arith == QARITH_XNNPACK) {
    p->mode = QK_ADD_XNNPACK;
    const float as = a->scale / o->scale, bs = b->scale / o->scale;
    const float mx = as > bs ? as : bs;
    /* XNNPACK's limits: each input scale within [2^-10, 2^8) of the
     * output's, which keeps the multipliers within 21 bits. */
    if (!(as >= 0x1p-10f && as < 0x1p8f && bs >= 0x1p-10f && bs < 0x1p8f))
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "ADD '%s': input/output scale ratios %g and %g "
                          "out of range",
                          s->l->name, (double)as, (double)bs);
    int e;
    (void)frexpf(mx, &e); /* mx = f * 2^e, f in [0.5, 1): exponent e - 1 */
    int shift = 20 - (e - 1);
    shift = shift < 12 ? 12 : shift > 30 ? 30 : shift;
    p->shift = shift;
    p->a_mult = (int32_t)lrintf(ldexpf(as, shift));
    p->b_mult = (int32_t)lrintf(ldexpf(bs, shift));
    p->bias = (int32_t)((1u << (shift - 1)) -
                        (uint32_t)(p->a_mult * p->a_zp) -
                        (uint32_t)(p->b_mult * p->b_zp));
  } else {
    p->mode = QK_ADD_TFLITE;
    p->left_shift = 20;
    const float tmax = 2 * (a->scale > b->scale ? a->scale : b->scale);
    qk_quantize_multiplier((double)a->scale / (double)tmax, &p->a_qm,
                           &p->a_shift);
    qk_quantize_multiplier((double)b->scale / (double)tmax, &p->b_qm,
                           &p->b_shift);
    qk_quantize_multiplier((double)tmax /
                               (double)((float)(1 << 20) * o->scale),
                           &p->out_qm, &p->out_shift);
    if (p->out_shift > 0 || p->a_shift > 0 || p->b_shift > 0)
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "ADD '%s': scales out of range", s->l->name);
  }
  return 0;
}

static void
setup_pool(struct qstep *s, const struct ss_model *m, enum qarith arith)
{
  const struct model_value *iv = &m->values[s->in];
  const struct model_value_quant *iq = &iv->quant;
  const struct model_value_quant *oq = &m->values[s->out].quant;
  struct qk_pool_params *p = &s->pool;
  const int npix = iv->h * iv->w;
  p->in_zp = zp_stored(iq);
  p->out_zp = zp_stored(oq);
  act_bounds(s->l, oq, &p->lo, &p->hi);
  /* A uint8 AVERAGE_POOL_2D keeps one grid in and out: TFLite runs it
   * with its built-in kernel, (sum + n/2) / n, in both arithmetics (the
   * XNNPACK delegate does not take it). With an even pixel count that
   * rounds ties up, not to even: measured on the dev images, the 4x4 pool
   * of V1 0.25/128 matches TFLite on 77.5% of them with fp32 rounding and
   * on 99% so. Other pools (TF2's MEAN, new grid) requantise in fp32. */
  (void)arith;
  bool same = iq->scale == oq->scale && iq->zero_point == oq->zero_point &&
              iq->qmin == 0;
  p->mode = same ? QK_POOL_INT : QK_POOL_FP32;
  p->scale = iq->scale / (oq->scale * (float)npix);
}

static int
check_model(const struct ss_model *m, struct ss_error *err)
{
  if (m->format != MODEL_FORMAT_TFLITE || !m->quantized)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "not a quantised TFLite file");
  if (m->int_unsupported[0])
    return ss_error_set(err, SS_EUNSUPPORTED, "%s", m->int_unsupported);
  for (int v = 0; v < m->n_values; v++)
    if (!quantised(&m->values[v].quant))
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "value %d is not quantised to 8 bits", v);
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    bool weights = l->kind == MODEL_LAYER_CONV ||
                   l->kind == MODEL_LAYER_DWCONV || l->kind == MODEL_LAYER_FC;
    if (weights && !l->qw)
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "layer '%s' has no integer weights", l->name);
  }
  if (m->output_probs_quant.scale > 0 && !quantised(&m->output_probs_quant))
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "the softmax output is not quantised to 8 bits");
  return 0;
}

static bool
is_gemm(const struct ss_model *m, const struct model_layer *l)
{
  const struct model_value *in = &m->values[l->in];
  return l->kind == MODEL_LAYER_FC ||
         (l->kind == MODEL_LAYER_CONV && l->kh == 1 && l->kw == 1 &&
          (l->stride == 1 || (in->h == 1 && in->w == 1)) && !l->pad_top &&
          !l->pad_left && !l->pad_bottom && !l->pad_right);
}

static int
build_steps(struct qengine *q, enum qarith arith, struct ss_error *err)
{
  const struct ss_model *m = q->m;
  q->steps = calloc((size_t)m->n_layers + 1, sizeof *q->steps);
  if (!q->steps)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  size_t packed = 0;
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    struct qstep *s = &q->steps[q->n_steps++];
    const struct model_value *ov = &m->values[l->out];
    s->l = l;
    s->in = l->in;
    s->in2 = l->in2;
    s->out = l->out;
    s->macs = (uint64_t)ov->h * ov->w * model_layer_weight_count(l);
    int rc = 0;
    switch (l->kind) {
    case MODEL_LAYER_CONV:
    case MODEL_LAYER_FC:
      s->kind = is_gemm(m, l) ? QS_GEMM : QS_CONV;
      s->k = model_layer_weight_count(l) / (size_t)l->cout;
      if (s->kind == QS_CONV)
        s->k = round_up(s->k, 4);
      s->packed_off = packed;
      packed += round_up(q->ops->gemm_packed_size((size_t)l->cout, s->k),
                         ALIGN);
      rc = setup_requant(s, m, arith, err);
      break;
    case MODEL_LAYER_DWCONV:
      if (l->kh > QK_DW_KMAX) /* the kernels' row tables (qk_dw_rows) */
        return ss_error_set(err, SS_EUNSUPPORTED,
                            "layer '%s': %dx%d depthwise kernel (at most %d "
                            "rows)",
                            l->name, l->kh, l->kw, QK_DW_KMAX);
      s->kind = QS_DW;
      s->packed_off = packed;
      packed += round_up(q->ops->dw_packed_size((size_t)l->cout,
                                                (size_t)l->kh, (size_t)l->kw),
                         ALIGN);
      rc = setup_requant(s, m, arith, err);
      break;
    case MODEL_LAYER_ADD:
      s->kind = QS_ADD;
      rc = setup_add(s, m, arith, err);
      break;
    case MODEL_LAYER_AVGPOOL:
      s->kind = QS_POOL;
      setup_pool(s, m, arith);
      break;
    }
    if (rc)
      return rc;
  }
  q->packed = aligned_alloc(ALIGN, packed ? packed : ALIGN);
  if (!q->packed)
    return ss_error_set(err, SS_ENOMEM, "out of memory for weights");
  for (int i = 0; i < q->n_steps; i++) {
    const struct qstep *s = &q->steps[i];
    const struct model_layer *l = s->l;
    if (s->kind == QS_GEMM || s->kind == QS_CONV) {
      const size_t kr = model_layer_weight_count(l) / (size_t)l->cout;
      const int16_t *w = l->qw->w;
      int16_t *padded = NULL;
      if (s->k != kr) { /* zero weights for the im2col row's padding */
        padded = calloc((size_t)l->cout * s->k, sizeof *padded);
        if (!padded)
          return ss_error_set(err, SS_ENOMEM, "out of memory");
        for (size_t j = 0; j < (size_t)l->cout; j++)
          memcpy(padded + j * s->k, w + j * kr, kr * sizeof *w);
        w = padded;
      }
      q->ops->gemm_pack((size_t)l->cout, s->k, w, l->qw->bias, s->in_zp,
                        q->packed + s->packed_off);
      free(padded);
    }
    else if (s->kind == QS_DW)
      q->ops->dw_pack((size_t)l->cout, (size_t)l->kh, (size_t)l->kw,
                      l->qw->w, l->qw->bias, s->in_zp,
                      q->packed + s->packed_off);
  }
  return 0;
}

static struct qk_dw_shape
dw_shape(const struct ss_model *m, const struct qstep *s)
{
  const struct model_layer *l = s->l;
  const struct model_value *iv = &m->values[s->in];
  const struct model_value *ov = &m->values[s->out];
  return (struct qk_dw_shape){
    .c = (size_t)l->cout, .in_h = (size_t)iv->h, .in_w = (size_t)iv->w,
    .out_h = (size_t)ov->h, .out_w = (size_t)ov->w, .kh = (size_t)l->kh,
    .kw = (size_t)l->kw, .stride = (size_t)l->stride,
    .pad_top = (size_t)l->pad_top, .pad_left = (size_t)l->pad_left,
  };
}

/* Places every value in the arena: a value takes the lowest offset that
 * overlaps no value still to be read. */
static int
plan_arena(struct qengine *q, struct ss_error *err)
{
  const struct ss_model *m = q->m;
  const int nv = m->n_values;
  int *last = malloc((size_t)nv * sizeof *last);
  int *first = malloc((size_t)nv * sizeof *first);
  q->value_off = calloc((size_t)nv, sizeof *q->value_off);
  if (!last || !first || !q->value_off) {
    free(last);
    free(first);
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  }
  for (int v = 0; v < nv; v++)
    first[v] = last[v] = -1;
  first[0] = -1;
  for (int i = 0; i < q->n_steps; i++) {
    const struct qstep *s = &q->steps[i];
    first[s->out] = i;
    last[s->in] = i;
    if (s->in2 >= 0)
      last[s->in2] = i;
  }
  last[m->output] = q->n_steps; /* read after the steps */
  size_t top = 0;
  for (int v = 0; v < nv; v++) {
    if (v != 0 && first[v] < 0)
      continue;
    size_t size = round_up((size_t)m->values[v].h * m->values[v].w *
                               m->values[v].c,
                           ALIGN);
    size_t off = 0;
    bool moved = true;
    while (moved) {
      moved = false;
      for (int u = 0; u < v; u++) {
        if ((u != 0 && first[u] < 0) || last[u] < first[v] ||
            (u == 0 && last[u] < 0))
          continue; /* dead before v is written */
        size_t us = q->value_off[u];
        size_t ue = us + round_up((size_t)m->values[u].h * m->values[u].w *
                                      m->values[u].c,
                                  ALIGN);
        if (off < ue && us < off + size) {
          off = ue;
          moved = true;
        }
      }
    }
    q->value_off[v] = off;
    if (off + size > top)
      top = off + size;
  }
  /* After the values, the scratch of one step at a time: the im2col rows
   * of the dense convolutions, the depthwise kernels' own. */
  size_t scratch = 0;
  for (int i = 0; i < q->n_steps; i++) {
    const struct qstep *s = &q->steps[i];
    size_t b = 0;
    if (s->kind == QS_CONV) {
      b = (size_t)m->values[s->out].w * s->k;
    } else if (s->kind == QS_DW) {
      const struct qk_dw_shape sh = dw_shape(m, s);
      b = q->ops->dw_scratch_size(&sh);
    }
    scratch = b > scratch ? b : scratch;
  }
  q->im2col_off = top;
  q->arena_bytes = top + round_up(scratch, ALIGN) + ALIGN;
  free(last);
  free(first);
  return 0;
}

int
qengine_new(const struct ss_model *m, int kern_isa, enum qarith arith,
            struct qengine **out, struct ss_error *err)
{
  int rc = check_model(m, err);
  if (rc)
    return rc;
  const struct qk_ops *ops = qk_ops_get(kern_isa);
  if (!ops)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "integer kernel set %d is not available", kern_isa);
  struct qengine *q = calloc(1, sizeof *q);
  if (!q)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  q->m = m;
  q->ops = ops;
  const struct model_value_quant *lq = &m->values[m->output].quant;
  q->probs = m->output_probs_quant.scale > 0;
  q->sm_in_scale = lq->scale;
  q->oq = q->probs ? m->output_probs_quant : *lq;
  q->out_signed = q->oq.qmin < 0;
  if ((rc = build_steps(q, arith, err)) || (rc = plan_arena(q, err))) {
    qengine_free(q);
    return rc;
  }
  /* Features: the input of the fully connected layer writing the output,
   * as the float engine's find_features. */
  q->feature_value = -1;
  for (int i = 0; i < q->n_steps; i++) {
    const struct model_layer *l = q->steps[i].l;
    if (l->out == m->output && l->kind == MODEL_LAYER_FC && l->in > 0)
      for (int j = 0; j < i; j++)
        if (q->steps[j].out == l->in) {
          q->feature_value = l->in;
          q->feature_steps = j + 1;
        }
  }
  *out = q;
  return 0;
}

void
qengine_free(struct qengine *q)
{
  if (!q)
    return;
  for (int i = 0; i < q->n_steps; i++)
    free(q->steps[i].rq_data);
  free(q->steps);
  free(q->packed);
  free(q->value_off);
  free(q);
}

const char *
qengine_isa_name(const struct qengine *q)
{
  return q->ops->isa;
}

size_t
qengine_arena_bytes(const struct qengine *q)
{
  return q->arena_bytes;
}

bool
qengine_outputs_probs(const struct qengine *q)
{
  return q->probs;
}

/* ---- running ---- */

/* Copies n bytes without a call for the short runs of the im2col rows
 * (kw*cin = 9 for the first 3x3 convolution of 3 channels: memcpy of a
 * variable size is a library call, three per output pixel). */
static inline void
copy_bytes(uint8_t *d, const uint8_t *s, size_t n)
{
  if (n >= 8 && n <= 16) { /* two 8-byte moves, overlapping */
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (size_t i = 0; i < n; i++)
      d[i] = s[i];
  } else {
    memcpy(d, s, n);
  }
}

/* Dense KxK convolution: an im2col row (K = kh*kw*cin bytes per output
 * pixel, padding = the input zero point, which the folded bias cancels),
 * then the GEMM kernel. */
static void
run_conv(const struct qengine *q, const struct qstep *s, const uint8_t *in,
         uint8_t *out, uint8_t *col)
{
  const struct model_layer *l = s->l;
  const struct model_value *iv = &q->m->values[s->in];
  const struct model_value *ov = &q->m->values[s->out];
  const size_t cin = (size_t)l->cin, kr = (size_t)l->kh * l->kw * cin;
  const size_t k = s->k;
  for (int y = 0; y < ov->h; y++) {
    for (int x = 0; x < ov->w; x++) {
      uint8_t *c = col + (size_t)x * k;
      for (size_t i = kr; i < k; i++)
        c[i] = 0; /* zero bytes for the zero weights */
      const int ix0 = x * l->stride - l->pad_left;
      const bool cols_inside = ix0 >= 0 && ix0 + l->kw <= iv->w;
      for (int ky = 0; ky < l->kh; ky++) {
        int iy = y * l->stride + ky - l->pad_top;
        uint8_t *d = c + (size_t)ky * l->kw * cin;
        if (iy < 0 || iy >= iv->h) {
          memset(d, s->in_zp, (size_t)l->kw * cin);
        } else if (cols_inside) { /* the kw pixels are contiguous */
          copy_bytes(d, in + ((size_t)iy * iv->w + ix0) * cin,
                     (size_t)l->kw * cin);
        } else {
          for (int kx = 0; kx < l->kw; kx++) {
            int ix = ix0 + kx;
            if (ix < 0 || ix >= iv->w)
              memset(d + (size_t)kx * cin, s->in_zp, cin);
            else
              copy_bytes(d + (size_t)kx * cin,
                         in + ((size_t)iy * iv->w + ix) * cin, cin);
          }
        }
      }
    }
    q->ops->gemm((size_t)ov->w, (size_t)l->cout, k, col, k,
                 q->packed + s->packed_off, &s->rq,
                 out + (size_t)y * ov->w * l->cout, (size_t)l->cout);
  }
}

static void
run_dw(const struct qengine *q, const struct qstep *s, const uint8_t *in,
       uint8_t *out, uint8_t *scratch)
{
  const struct qk_dw_shape sh = dw_shape(q->m, s);
  q->ops->dwconv(&sh, 0, sh.out_h, in, s->in_zp, q->packed + s->packed_off,
                 &s->rq, out, scratch);
}

static void
run_step(const struct qengine *q, const struct qstep *s, uint8_t *arena)
{
  const struct ss_model *m = q->m;
  const uint8_t *in = arena + q->value_off[s->in];
  uint8_t *out = arena + q->value_off[s->out];
  const struct model_value *ov = &m->values[s->out];
  switch (s->kind) {
  case QS_GEMM: {
    size_t k = s->k;
    q->ops->gemm((size_t)ov->h * ov->w, (size_t)ov->c, k, in, k,
                 q->packed + s->packed_off, &s->rq, out, (size_t)ov->c);
    break;
  }
  case QS_CONV:
    run_conv(q, s, in, out, arena + q->im2col_off);
    break;
  case QS_DW:
    run_dw(q, s, in, out, arena + q->im2col_off);
    break;
  case QS_ADD:
    q->ops->add((size_t)ov->h * ov->w * ov->c, in,
                arena + q->value_off[s->in2], &s->add, out);
    break;
  case QS_POOL: {
    const struct model_value *iv = &m->values[s->in];
    q->ops->avgpool((size_t)iv->h * iv->w, (size_t)iv->c, in, &s->pool, out);
    break;
  }
  }
}

/* TFLite's quantised softmax (optimized_ops::Softmax with its float table,
 * as built for x86 and WebAssembly): e(d) = expf(-in_scale * d) for d =
 * max - x, summed in float in index order, p = e * (1 / (sum * out_scale));
 * uint8 outputs take (int)(p + 0.5f), int8 ones roundf(p) + zero point. */
static void
softmax_q(const struct qengine *q, const uint8_t *in, size_t n, uint8_t *out)
{
  float table[256];
  const float sc = -q->sm_in_scale; /* beta is 1 (the loader checks) */
  for (int d = 0; d < 256; d++)
    table[d] = expf(sc * (float)d);
  int mx = 0;
  for (size_t i = 0; i < n; i++)
    mx = in[i] > mx ? in[i] : mx;
  float sum = 0.0f;
  for (size_t i = 0; i < n; i++)
    sum += table[mx - in[i]];
  const float inv = 1.0f / (sum * q->oq.scale);
  for (size_t i = 0; i < n; i++) {
    const float p = table[mx - in[i]] * inv;
    int32_t y = q->out_signed ? (int32_t)roundf(p) + q->oq.zero_point + 128
                              : (int32_t)(p + 0.5f);
    out[i] = (uint8_t)(y < 0 ? 0 : y > 255 ? 255 : y);
  }
}

static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
qengine_feature_len(const struct qengine *q)
{
  if (q->feature_value < 0)
    return 0;
  const struct model_value *v = &q->m->values[q->feature_value];
  return v->h * v->w * v->c;
}

/* Runs the steps; copies the features out (dequantised) when features is
 * not NULL, right after the step that writes them (the arena may reuse
 * their bytes later); stops there when out_q is NULL. */
static void
run_all(const struct qengine *q, uint8_t *arena, uint8_t *out_q,
        float *features, uint64_t *step_ns)
{
  for (int i = 0; i < q->n_steps; i++) {
    uint64_t t0 = step_ns ? now_ns() : 0;
    run_step(q, &q->steps[i], arena);
    if (step_ns)
      step_ns[i] += now_ns() - t0;
    if (features && i + 1 == q->feature_steps) {
      const struct model_value_quant *fq =
        &q->m->values[q->feature_value].quant;
      const uint8_t *f = arena + q->value_off[q->feature_value];
      const int n = qengine_feature_len(q), zp = zp_stored(fq);
      for (int k = 0; k < n; k++)
        features[k] = (float)((int)f[k] - zp) * fq->scale;
      if (!out_q)
        return;
    }
  }
  if (!out_q)
    return;
  uint64_t t0 = step_ns ? now_ns() : 0;
  const uint8_t *logits = arena + q->value_off[q->m->output];
  size_t n = (size_t)q->m->num_outputs;
  if (q->probs)
    softmax_q(q, logits, n, out_q);
  else
    memcpy(out_q, logits, n);
  if (q->out_signed)
    for (size_t i = 0; i < n; i++)
      out_q[i] ^= 0x80; /* back to the int8 bytes */
  if (step_ns)
    step_ns[q->n_steps] += now_ns() - t0;
}

void
qengine_run(const struct qengine *q, uint8_t *arena, const float *input,
            float *out, uint64_t *step_ns)
{
  qengine_run_ex(q, arena, input, out, NULL, step_ns);
}

void
qengine_run_ex(const struct qengine *q, uint8_t *arena, const float *input,
               float *out, float *features, uint64_t *step_ns)
{
  const struct ss_model *m = q->m;
  /* The loader's normalisation is x = (p - mean) / std with mean the
   * stored zero point and std = 1 / scale: the pixel bytes come back
   * exactly (the float error is ~1e-5 of a step). */
  uint8_t *px = arena + q->value_off[0];
  const size_t npix = (size_t)m->input_h * m->input_w;
  const float s0 = m->std[0], s1 = m->std[1], s2 = m->std[2];
  const float m0 = m->mean[0] + 0.5f, m1 = m->mean[1] + 0.5f,
              m2 = m->mean[2] + 0.5f;
  /* v + 0.5 truncated: the values are within ~1e-5 of whole numbers, so
   * this is the nearest one (and vectorises, where lrintf is a call). */
  for (size_t i = 0; i < npix; i++) {
    float v0 = input[3 * i] * s0 + m0;
    float v1 = input[3 * i + 1] * s1 + m1;
    float v2 = input[3 * i + 2] * s2 + m2;
    v0 = v0 >= 0.0f ? v0 : 0.0f; /* NaN becomes 0 too */
    v1 = v1 >= 0.0f ? v1 : 0.0f;
    v2 = v2 >= 0.0f ? v2 : 0.0f;
    v0 = v0 <= 255.0f ? v0 : 255.0f;
    v1 = v1 <= 255.0f ? v1 : 255.0f;
    v2 = v2 <= 255.0f ? v2 : 255.0f;
    px[3 * i] = (uint8_t)(int)v0;
    px[3 * i + 1] = (uint8_t)(int)v1;
    px[3 * i + 2] = (uint8_t)(int)v2;
  }
  /* The raw output goes to the end of out (bytes fit in the floats), then
   * is dequantised in place from the front, which never overtakes it. */
  if (!out) {
    run_all(q, arena, NULL, features, step_ns);
    return;
  }
  const size_t no = (size_t)m->num_outputs;
  uint8_t *oq = (uint8_t *)(out + no) - no;
  run_all(q, arena, oq, features, step_ns);
  const int32_t zp = q->oq.zero_point;
  for (size_t i = 0; i < no; i++) {
    int32_t v = q->out_signed ? (int8_t)oq[i] : oq[i];
    out[i] = (float)(v - zp) * q->oq.scale;
  }
}

int
qengine_num_steps(const struct qengine *q)
{
  return q->n_steps + 1;
}

void
qengine_step_info(const struct qengine *q, int i,
                  struct qengine_step_info *info)
{
  static const char *const kinds[] = { "qgemm", "qconv", "qdwconv", "qadd",
                                       "qavgpool" };
  const struct ss_model *m = q->m;
  if (i == q->n_steps) {
    const struct model_value *v = &m->values[m->output];
    *info = (struct qengine_step_info){
      .name = q->probs ? "softmax" : "output", .kind = "qsoftmax",
      .in_h = 1, .in_w = 1, .in_c = v->c, .out_h = 1, .out_w = 1,
      .out_c = v->c, .kh = 1, .kw = 1, .stride = 1,
    };
    return;
  }
  const struct qstep *s = &q->steps[i];
  const struct model_value *iv = &m->values[s->in], *ov = &m->values[s->out];
  *info = (struct qengine_step_info){
    .name = s->l->name, .kind = kinds[s->kind],
    .in_h = iv->h, .in_w = iv->w, .in_c = iv->c,
    .out_h = ov->h, .out_w = ov->w, .out_c = ov->c,
    .kh = s->l->kh, .kw = s->l->kw, .stride = s->l->stride, .macs = s->macs,
  };
}
