/* streamsight — the integer engine (inference/qengine.c) on tiny synthetic
 * quantised networks: its plan (im2col rows of the first convolution, the
 * depthwise geometry, strides, padding, the arena shared by the values and
 * the kernels' scratch) against a plain forward pass written here from the
 * definitions (int64 sums, qk_requant_one), byte for byte, and every
 * kernel table this CPU runs against the reference table. The shapes are
 * the ones a hostile or unusual file can give: inputs of 1..5 pixels a
 * side, odd sizes under stride 2, kernels 1..3 (square or not), padding up
 * to 2 before a 3x3 (a folded PAD), channel counts around the kernels'
 * blocks of 16, weights at the ends of their range (255, -255).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "model-graph.h"
#include "qengine.h"
#include "testutil.h"

static uint32_t
rnd(struct tu_rng *r, uint32_t n)
{
  return tu_rng_u32(r) % n;
}

/* A value's bytes are stored as uint8: an int8 value plus 128 (qengine.c). */
static int32_t
zp_stored(const struct model_value_quant *q)
{
  return q->zero_point - q->qmin;
}

/* Appends an h x w x c value on the grid of scale 1 (exact dequantised
 * features) and a random zero point, int8 or uint8 as the model's. */
static int
add_value(struct ss_model *m, struct tu_rng *r, bool int8, int h, int w,
          int c)
{
  int v = model_add_value(m, h, w, c);
  ck_assert_int_ge(v, 0);
  const int qmin = int8 ? -128 : 0;
  m->values[v].quant = (struct model_value_quant){
    .scale = 1.0f, .zero_point = qmin + (int)rnd(r, 256), .qmin = qmin,
    .qmax = qmin + 255,
  };
  return v;
}

/* The integer and float weights of l ([cout][taps*cin] or [taps][c] as
 * model-graph.h lays them out, n of them), as a file gives them: uint8
 * with one zero point (TF1) or int8 symmetric per channel (TF2); extreme:
 * only the ends of the byte (255 - 0 and 0 - 255 with the zero point at an
 * end). The scales make the sums of about k terms land inside the byte. */
static void
add_weights(struct tu_rng *r, struct model_layer *l, size_t n, size_t k)
{
  struct model_layer_qweights *qw = calloc(1, sizeof *qw);
  ck_assert(qw != NULL);
  const size_t cout = (size_t)l->cout;
  qw->w = malloc(n * sizeof *qw->w);
  qw->bias = malloc(cout * sizeof *qw->bias);
  qw->w_scale = malloc(cout * sizeof *qw->w_scale);
  l->weight = malloc(n * sizeof *l->weight);
  l->bias = malloc(cout * sizeof *l->bias);
  ck_assert(qw->w && qw->bias && qw->w_scale && l->weight && l->bias);
  const bool u8 = rnd(r, 2), extreme = rnd(r, 4) == 0;
  const int zp = extreme ? (rnd(r, 2) ? 255 : 0) : (int)rnd(r, 256);
  for (size_t i = 0; i < n; i++) {
    int q = extreme ? (rnd(r, 2) ? 255 : 0) : (int)rnd(r, 256);
    qw->w[i] = (int16_t)(u8 ? q - zp : (q > 254 ? 254 : q) - 127);
  }
  for (size_t j = 0; j < cout; j++) {
    qw->bias[j] = (int32_t)rnd(r, 1u << 16) - (1 << 15);
    qw->w_scale[j] = (float)exp(tu_rng_uniform(r, logf(0.003f), logf(0.03f))) /
                     sqrtf((float)k);
    l->bias[j] = 0.0f; /* the float engine is not run */
  }
  for (size_t i = 0; i < n; i++)
    l->weight[i] = (float)qw->w[i];
  l->qw = qw;
}

static void
add_layer(struct ss_model *m, struct model_layer *l)
{
  snprintf(l->name, sizeof l->name, "layer%d", m->n_layers);
  if (l->act_min == 0.0f && l->act_max == 0.0f) {
    l->act_min = -INFINITY;
    l->act_max = INFINITY;
  }
  ck_assert_int_ge(model_add_layer(m, l), 0);
}

/* A convolution (depthwise or dense) of value `in` with a kh x kw kernel,
 * the stride and padding given (tf_same: TensorFlow's SAME padding instead),
 * into cout channels; returns its output value or -1 when the kernel does
 * not fit. */
static int
add_conv(struct ss_model *m, struct tu_rng *r, bool int8, int in, bool dw,
         int kh, int kw, int stride, bool tf_same, int pt, int pl, int pb,
         int pr, int cout)
{
  const struct model_value iv = m->values[in];
  struct model_layer l = {
    .kind = dw ? MODEL_LAYER_DWCONV : MODEL_LAYER_CONV, .in = in, .in2 = -1,
    .kh = kh, .kw = kw, .stride = stride, .pad_top = pt, .pad_left = pl,
    .pad_bottom = pb, .pad_right = pr, .cin = iv.c,
    .cout = dw ? iv.c : cout,
  };
  if (tf_same) {
    model_conv_pads(MODEL_PAD_RULE_TF_SAME, iv.h, kh, stride, &l.pad_top,
                    &l.pad_bottom);
    model_conv_pads(MODEL_PAD_RULE_TF_SAME, iv.w, kw, stride, &l.pad_left,
                    &l.pad_right);
  }
  const int oh = model_conv_out_size(iv.h, kh, stride, l.pad_top,
                                     l.pad_bottom);
  const int ow = model_conv_out_size(iv.w, kw, stride, l.pad_left,
                                     l.pad_right);
  if (oh < 1 || ow < 1)
    return -1;
  if (rnd(r, 2)) { /* ReLU */
    l.act_min = 0.0f;
    l.act_max = INFINITY;
  }
  const size_t taps = (size_t)kh * (size_t)kw;
  add_weights(r, &l, dw ? taps * (size_t)iv.c
                        : (size_t)l.cout * taps * (size_t)iv.c,
              dw ? taps : taps * (size_t)iv.c);
  l.out = add_value(m, r, int8, oh, ow, l.cout);
  add_layer(m, &l);
  return l.out;
}

/* ---- the definition: a plain forward pass over the stored bytes ---- */

static void
act_bounds(const struct model_layer *l, const struct model_value_quant *oq,
           int32_t *lo, int32_t *hi)
{
  /* the test's clamps: ReLU (real 0 is the zero point) or none */
  *lo = isfinite(l->act_min) ? zp_stored(oq) : 0;
  *hi = 255;
}

static uint8_t
requant(int64_t acc, const struct ss_model *m, const struct model_layer *l,
        int j)
{
  const struct model_value_quant *iq = &m->values[l->in].quant;
  const struct model_value_quant *oq = &m->values[l->out].quant;
  const float scale = iq->scale * l->qw->w_scale[j] / oq->scale;
  struct qk_requant rq = { .mode = QK_RQ_FP32, .scale = &scale,
                           .zp = zp_stored(oq) };
  act_bounds(l, oq, &rq.lo, &rq.hi);
  return qk_requant_one((int32_t)(uint32_t)(uint64_t)acc, &rq, 0);
}

/* XNNPACK's quantised ADD (what qengine.c sets up for QARITH_XNNPACK). */
static uint8_t
add_one(int32_t a, int32_t b, const struct ss_model *m,
        const struct model_layer *l)
{
  const struct model_value_quant *qa = &m->values[l->in].quant;
  const struct model_value_quant *qb = &m->values[l->in2].quant;
  const struct model_value_quant *qo = &m->values[l->out].quant;
  const float as = qa->scale / qo->scale, bs = qb->scale / qo->scale;
  int e;
  (void)frexpf(as > bs ? as : bs, &e);
  int shift = 20 - (e - 1);
  shift = shift < 12 ? 12 : shift > 30 ? 30 : shift;
  const int64_t am = lrintf(ldexpf(as, shift)), bm = lrintf(ldexpf(bs, shift));
  const int64_t acc = (1ll << (shift - 1)) + am * (a - zp_stored(qa)) +
                      bm * (b - zp_stored(qb));
  int64_t y = (acc >> shift) + zp_stored(qo);
  int32_t lo, hi;
  act_bounds(l, qo, &lo, &hi);
  return (uint8_t)(y < lo ? lo : y > hi ? hi : y);
}

/* Every value's bytes after the layers, vals[0] being the input. */
static void
forward(const struct ss_model *m, uint8_t **vals)
{
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    const struct model_value *iv = &m->values[l->in];
    const struct model_value *ov = &m->values[l->out];
    const uint8_t *x = vals[l->in];
    uint8_t *y = vals[l->out];
    const int32_t izp = zp_stored(&iv->quant);
    for (int oy = 0; oy < ov->h; oy++)
      for (int ox = 0; ox < ov->w; ox++)
        for (int j = 0; j < ov->c; j++) {
          const size_t o = ((size_t)oy * ov->w + ox) * ov->c + j;
          if (l->kind == MODEL_LAYER_ADD) {
            y[o] = add_one(x[o], vals[l->in2][o], m, l);
            continue;
          }
          int64_t acc = l->qw->bias[j];
          if (l->kind == MODEL_LAYER_FC) {
            const size_t n = (size_t)l->cin;
            for (size_t k = 0; k < n; k++)
              acc += ((int64_t)x[k] - izp) * l->qw->w[(size_t)j * n + k];
            y[o] = requant(acc, m, l, j);
            continue;
          }
          for (int ky = 0; ky < l->kh; ky++)
            for (int kx = 0; kx < l->kw; kx++) {
              const int iy = oy * l->stride + ky - l->pad_top;
              const int ix = ox * l->stride + kx - l->pad_left;
              if (iy < 0 || iy >= iv->h || ix < 0 || ix >= iv->w)
                continue; /* TFLite pads with the zero point */
              const uint8_t *px = x + ((size_t)iy * iv->w + ix) * iv->c;
              const size_t t = (size_t)ky * l->kw + kx;
              if (l->kind == MODEL_LAYER_DWCONV) {
                acc += ((int64_t)px[j] - izp) * l->qw->w[t * ov->c + j];
              } else {
                const size_t cin = (size_t)iv->c;
                const int16_t *w = l->qw->w +
                                   ((size_t)j * l->kh * l->kw + t) * cin;
                for (size_t ci = 0; ci < cin; ci++)
                  acc += ((int64_t)px[ci] - izp) * w[ci];
              }
            }
          y[o] = requant(acc, m, l, j);
        }
  }
}

/* ---- the networks ---- */

/* A MobileNet-like chain on an h x w input: a dense kxk convolution (the
 * im2col path; 1x1 stride 1 is the GEMM's), a depthwise one (3x3 mostly;
 * padding from SAME or any < k per side, as a folded PAD gives), a 1x1
 * expansion (GEMM over the pixels), a second depthwise with stride 2, a
 * 1x1 projection and a residual ADD, cut after `depth` of them; then a
 * fully connected layer over the whole flattened tensor (its input is the
 * engine's "features": every byte of the last value comes back). */
static struct ss_model *
build(struct tu_rng *r, int h, int w, int depth, bool folded_pad)
{
  static const int cs[] = { 1, 3, 8, 15, 16, 17, 33 };
  struct ss_model *m = model_new(h, w);
  ck_assert(m != NULL);
  m->format = MODEL_FORMAT_TFLITE;
  m->quantized = true;
  for (int i = 0; i < 3; i++) { /* the input floats are the pixel bytes */
    m->mean[i] = 0.0f;
    m->std[i] = 1.0f;
  }
  const bool int8 = rnd(r, 2);
  m->values[0].quant = (struct model_value_quant){
    .scale = 1.0f, .zero_point = int8 ? (int)rnd(r, 256) - 128
                                       : (int)rnd(r, 256),
    .qmin = int8 ? -128 : 0, .qmax = int8 ? 127 : 255,
  };
  int v = 0;
  for (int d = 0; d < depth; d++) {
    int nv = -1;
    const int kh = rnd(r, 2) ? 3 : 1 + (int)rnd(r, 3);
    const int kw = rnd(r, 2) ? kh : 1 + (int)rnd(r, 3);
    const int stride = 1 + (int)rnd(r, 2);
    const bool same = rnd(r, 2);
    const int pt = (int)rnd(r, (uint32_t)kh), pl = (int)rnd(r, (uint32_t)kw);
    const int pb = (int)rnd(r, (uint32_t)kh), pr = (int)rnd(r, (uint32_t)kw);
    const int c = cs[rnd(r, sizeof cs / sizeof cs[0])];
    switch (d) {
    case 0:
      nv = add_conv(m, r, int8, v, false, kh, kw, stride, same, pt, pl, pb,
                    pr, c);
      break;
    case 1:
      if (folded_pad) /* a PAD of 2 columns before a VALID 3x3 */
        nv = add_conv(m, r, int8, v, true, 3, 3, stride, false, pt % 3, 2,
                      pb % 3, pr % 3, 0);
      else
        nv = add_conv(m, r, int8, v, true, kh, kw, stride, same, pt, pl, pb,
                      pr, 0);
      break;
    case 2:
      nv = add_conv(m, r, int8, v, false, 1, 1, 1, false, 0, 0, 0, 0, c);
      break;
    case 3:
      nv = add_conv(m, r, int8, v, true, 3, 3, 2, same, pt % 3, pl % 3,
                    pb % 3, pr % 3, 0);
      break;
    case 4: {
      const int p = add_conv(m, r, int8, v, false, 1, 1, 1, false, 0, 0, 0,
                             0, m->values[v].c);
      struct model_layer l = { .kind = MODEL_LAYER_ADD, .in = v, .in2 = p,
                               .kh = 1, .kw = 1, .stride = 1,
                               .cin = m->values[v].c,
                               .cout = m->values[v].c };
      const struct model_value pv = m->values[p];
      l.out = add_value(m, r, int8, pv.h, pv.w, pv.c);
      m->values[l.out].quant.scale = 2.0f;
      add_layer(m, &l);
      nv = l.out;
      break;
    }
    }
    if (nv >= 0)
      v = nv;
  }
  const struct model_value last = m->values[v];
  struct model_layer fc = {
    .kind = MODEL_LAYER_FC, .in = v, .in2 = -1, .kh = 1, .kw = 1,
    .stride = 1, .cin = last.h * last.w * last.c, .cout = 1 + (int)rnd(r, 20),
  };
  add_weights(r, &fc, (size_t)fc.cout * (size_t)fc.cin, (size_t)fc.cin);
  fc.out = add_value(m, r, int8, 1, 1, fc.cout);
  add_layer(m, &fc);
  m->output = fc.out;
  m->num_outputs = fc.cout;
  struct ss_error err = { 0 };
  ck_assert_msg(model_validate(m, &err) == 0, "%s", err.message);
  return m;
}

/* Runs q on the input bytes over an arena first filled with `fill` (what
 * the steps read must be what they wrote), into logits and features. */
static void
run(const struct qengine *q, const float *input, int fill, float *logits,
    float *features)
{
  const size_t bytes = qengine_arena_bytes(q);
  uint8_t *arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
  ck_assert(arena != NULL);
  memset(arena, fill, bytes);
  qengine_run_ex(q, arena, input, logits, features, NULL);
  free(arena);
}

static const enum kern_isa isas[] = { KERN_ISA_REF, KERN_ISA_AVX2,
                                      KERN_ISA_AVXVNNI, KERN_ISA_AVX512VNNI };

/* One network: the reference table against the forward pass above, every
 * other table against the reference, each on two arenas of different
 * garbage. */
static void
check_network(struct tu_rng *r, int h, int w, int depth, bool folded_pad,
              int *tables)
{
  struct ss_model *m = build(r, h, w, depth, folded_pad);
  const size_t n_in = (size_t)h * w * 3;
  uint8_t **vals = calloc((size_t)m->n_values, sizeof *vals);
  ck_assert(vals != NULL);
  for (int i = 0; i < m->n_values; i++) {
    const struct model_value *v = &m->values[i];
    vals[i] = malloc((size_t)v->h * v->w * v->c);
    ck_assert(vals[i] != NULL);
  }
  float *input = malloc(n_in * sizeof *input);
  ck_assert(input != NULL);
  for (size_t i = 0; i < n_in; i++) {
    vals[0][i] = rnd(r, 8) == 0 ? (rnd(r, 2) ? 255 : 0) : (uint8_t)rnd(r, 256);
    /* the engine's input: (byte - mean 0) / std 1 gives the stored byte
     * back (qengine_run) */
    input[i] = (float)vals[0][i];
  }
  forward(m, vals);

  /* the features: the classifier's input, none when that is the input
   * (no layer before it fitted) */
  const int fv = m->layers[m->n_layers - 1].in;
  const struct model_value *f = &m->values[fv];
  const size_t nf = fv > 0 ? (size_t)f->h * f->w * f->c : 0;
  const int no = m->num_outputs;
  float *lg_ref = malloc((size_t)no * sizeof(float));
  float *ft_ref = malloc((nf + 1) * sizeof(float));
  float *lg = malloc((size_t)no * sizeof(float));
  float *ft = malloc((nf + 1) * sizeof(float));
  ck_assert(lg_ref && ft_ref && lg && ft);
  for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++) {
    struct qengine *q = NULL;
    struct ss_error err = { 0 };
    if (!qk_ops_get(isas[t]))
      continue;
    ck_assert_msg(qengine_new(m, isas[t], QARITH_XNNPACK, &q, &err) == 0,
                  "%s: %s", kern_isa_name(isas[t]), err.message);
    ck_assert_int_eq(qengine_feature_len(q), (int)nf);
    for (int fill = 0; fill < 2; fill++) {
      run(q, input, fill ? 0xa5 : 0x00, lg, nf ? ft : NULL);
      if (t == 0 && fill == 0) {
        /* the reference table against the definition: the features are
         * (byte - zero point) * scale (1 or 2: exact), the logits the same
         * on the output's grid */
        const int32_t fzp = zp_stored(&f->quant);
        for (size_t i = 0; i < nf; i++)
          ck_assert_msg(ft[i] == (float)((int)vals[fv][i] - fzp) *
                                     f->quant.scale,
                        "%dx%d depth %d: ref feature %zu (y%zu x%zu c%zu) "
                        "%g, want %d",
                        h, w, depth, i, i / f->c / f->w, i / f->c % f->w,
                        i % f->c, (double)ft[i], (int)vals[fv][i] - fzp);
        const struct model_value_quant *oq = &m->values[m->output].quant;
        for (int i = 0; i < no; i++) {
          const int raw = (int)vals[m->output][i] + oq->qmin;
          ck_assert_msg(lg[i] == (float)(raw - oq->zero_point),
                        "%dx%d depth %d: ref logit %d %g, want %d", h, w,
                        depth, i, (double)lg[i], raw - oq->zero_point);
        }
        memcpy(lg_ref, lg, (size_t)no * sizeof(float));
        memcpy(ft_ref, ft, nf * sizeof(float));
        continue;
      }
      for (size_t i = 0; i < nf; i++)
        ck_assert_msg(ft[i] == ft_ref[i],
                      "%s, %dx%d depth %d, arena fill %d: feature %zu "
                      "(y%zu x%zu c%zu) %g vs ref %g",
                      qengine_isa_name(q), h, w, depth, fill, i,
                      i / f->c / f->w, i / f->c % f->w, i % f->c,
                      (double)ft[i], (double)ft_ref[i]);
      ck_assert_msg(memcmp(lg, lg_ref, (size_t)no * sizeof(float)) == 0,
                    "%s, %dx%d depth %d: logits differ from ref",
                    qengine_isa_name(q), h, w, depth);
    }
    tables[t]++;
    qengine_free(q);
  }
  for (int i = 0; i < m->n_values; i++)
    free(vals[i]);
  free(vals);
  free(input);
  free(lg_ref);
  free(ft_ref);
  free(lg);
  free(ft);
  model_unref(m);
}

/* Inputs of 1..5 x 1..5 pixels, every depth of the chain. */
START_TEST(test_tiny_networks)
{
  struct tu_rng r;
  tu_rng_seed(&r, 7000 + (uint64_t)_i);
  int tables[sizeof isas / sizeof isas[0]] = { 0 };
  for (int h = 1; h <= 5; h++)
    for (int w = 1; w <= 5; w++)
      for (int depth = 1; depth <= 5; depth++)
        check_network(&r, h, w, depth, false, tables);
  for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++)
    printf("tiny networks, seed %d: %d through %s\n", 7000 + _i, tables[t],
           kern_isa_name(isas[t]));
  ck_assert_int_eq(tables[0], 5 * 5 * 5);
}
END_TEST

/* Larger odd inputs (the kernels' vector ranges are not empty there) with
 * channel counts past one block. */
START_TEST(test_odd_networks)
{
  struct tu_rng r;
  tu_rng_seed(&r, 7100);
  int tables[sizeof isas / sizeof isas[0]] = { 0 };
  static const int sizes[][2] = { { 7, 9 }, { 13, 5 }, { 9, 17 }, { 31, 3 } };
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int rep = 0; rep < 6; rep++)
      check_network(&r, sizes[s][0], sizes[s][1], 5, false, tables);
  ck_assert_int_eq(tables[0], 4 * 6);
}
END_TEST

/* A PAD of 2 columns (and 0..2 rows) folded into a depthwise 3x3 on
 * inputs 1..3 pixels wide, after a first convolution of stride 1 or 2:
 * where the first output column's taps start left of the input. */
START_TEST(test_folded_pad_networks)
{
  struct tu_rng r;
  tu_rng_seed(&r, 7200);
  int tables[sizeof isas / sizeof isas[0]] = { 0 };
  for (int h = 3; h <= 6; h++)
    for (int w = 1; w <= 3; w++)
      for (int rep = 0; rep < 4; rep++)
        check_network(&r, h, w, 2 + rep % 4, true, tables);
  ck_assert_int_eq(tables[0], 4 * 3 * 4);
}
END_TEST

int
main(void)
{
  kern_init();
  Suite *s = suite_create("qengine");
  TCase *tc = tcase_create("networks");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_tiny_networks, 0, 2);
  tcase_add_test(tc, test_odd_networks);
  tcase_add_test(tc, test_folded_pad_networks);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
