/* streamsight — engine: a model compiled for one kernel table
 * (engine-plan.c) run step by step over a scratch arena, or handed to the
 * integer engine (qengine.c) when it runs the model; features and the
 * per-step profile.
 */
#include "engine.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine-plan.h"
#include "qengine.h"

struct ss_scratch {
  const struct ss_engine *engine;
  float *arena;
};

int
engine_new_opts(struct ss_model *m, const struct engine_options *opts,
                struct ss_engine **out, struct ss_error *err)
{
  int rc = model_validate(m, err);
  if (rc)
    return rc;
  const struct kern_ops *ops = kern_ops_get(opts->isa);
  if (!ops)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "kernel set %d is not available on this CPU/build",
                        (int)opts->isa);
  struct ss_engine *e = calloc(1, sizeof *e);
  if (!e)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  e->model = model_ref(m);
  e->ops = ops;
  if (opts->arith != ENGINE_ARITH_FLOAT) {
    rc = qengine_new(m, (int)opts->isa,
                     opts->int_tflite_builtin ? QARITH_TFLITE
                                              : QARITH_XNNPACK,
                     &e->q, err);
    if (rc == 0) {
      *out = e;
      return 0;
    }
    /* AUTO: a file the integer engine does not run goes float. */
    if (opts->arith == ENGINE_ARITH_INTEGER || rc != SS_EUNSUPPORTED) {
      engine_free(e);
      return rc;
    }
    if (err)
      *err = (struct ss_error){ 0 };
  }
  rc = engine_plan(e, opts, err);
  if (rc) {
    engine_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

int
engine_new(struct ss_model *m, enum kern_isa isa, struct ss_engine **out,
           struct ss_error *err)
{
  const struct engine_options o = { .isa = isa, .fuse_blocks = 1 };
  return engine_new_opts(m, &o, out, err);
}

void
engine_free(struct ss_engine *e)
{
  if (!e)
    return;
  qengine_free(e->q);
  free(e->steps);
  free(e->packed);
  free(e->value_off);
  model_unref(e->model);
  free(e);
}

struct ss_model *
engine_model(const struct ss_engine *e)
{
  return e->model;
}

const char *
engine_isa_name(const struct ss_engine *e)
{
  return e->q ? qengine_isa_name(e->q) : e->ops->isa;
}

const char *
engine_arith_name(const struct ss_engine *e)
{
  return e->q ? "integer" : "float";
}

int
engine_outputs_probs(const struct ss_engine *e)
{
  return e->q && qengine_outputs_probs(e->q);
}

size_t
engine_scratch_bytes(const struct ss_engine *e)
{
  if (e->q)
    return qengine_arena_bytes(e->q);
  return (e->values_floats + e->block_floats) * sizeof(float);
}

int
engine_scratch_new(const struct ss_engine *e, struct ss_scratch **out,
                   struct ss_error *err)
{
  struct ss_scratch *s = calloc(1, sizeof *s);
  if (!s)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  s->engine = e;
  size_t bytes = engine_scratch_bytes(e);
  s->arena = engine_buffer_alloc(bytes);
  if (!s->arena) {
    free(s);
    return ss_error_set(err, SS_ENOMEM, "out of memory for a %zu-byte arena",
                        bytes);
  }
  *out = s;
  return 0;
}

void
engine_scratch_free(struct ss_scratch *s)
{
  if (!s)
    return;
  free(s->arena);
  free(s);
}

static inline const float *
value_ptr(const struct ss_engine *e, float *arena, const float *input, int v)
{
  return v == 0 ? input : arena + e->value_off[v];
}

/* Input row pointers of output row oy for a KxK layer; NULL = padding. */
static void
tap_rows(const struct model_layer *l, int in_h, int oy, const float *base,
         size_t row_floats, const float **rows)
{
  for (int ky = 0; ky < l->kh; ky++) {
    int iy = oy * l->stride + ky - l->pad_top;
    rows[ky] = (iy >= 0 && iy < in_h) ? base + (size_t)iy * row_floats : NULL;
  }
}

/* One output row of a dense convolution layer. */
static void
conv_row(const struct ss_engine *e, const struct model_layer *l,
         const float *packed, const float *const *rows, float *out,
         float min, float max)
{
  const struct model_value *iv = &e->model->values[l->in];
  const struct model_value *ov = &e->model->values[l->out];
  e->ops->conv((size_t)iv->c, (size_t)iv->w, rows, (size_t)l->kh,
               (size_t)l->kw, (size_t)l->stride, (size_t)l->pad_left,
               (size_t)ov->w, (size_t)ov->c, packed, out, min, max);
}

/* One output row of a depthwise layer, with the step's kernel. */
static void
dwconv_row(const struct ss_engine *e, const struct step *s,
           const float *const *rows, float *out, float min, float max)
{
  const struct model_layer *l = s->l;
  const struct model_value *iv = &e->model->values[l->in];
  const struct model_value *ov = &e->model->values[l->out];
  s->dwconv((size_t)iv->c, (size_t)iv->w, rows, (size_t)l->kh, (size_t)l->kw,
            (size_t)l->stride, (size_t)l->pad_left, (size_t)ov->w,
            e->packed + s->packed_off, out, min, max);
}

/* A STEP_CONV or STEP_DWCONV over the whole output, row by row. */
static void
run_rows(const struct ss_engine *e, const struct step *s, const float *in,
         float *out)
{
  const struct ss_model *m = e->model;
  const struct model_layer *l = s->l;
  const struct model_value *iv = &m->values[l->in];
  const struct model_value *ov = &m->values[l->out];
  const size_t in_row = (size_t)iv->w * iv->c;
  const size_t out_row = (size_t)ov->w * ov->c;
  const float *rows[16]; /* kh <= 15, checked by model_validate */
  if (s->kind == STEP_DWCONV) {
    for (int oy = 0; oy < ov->h; oy++) {
      tap_rows(l, iv->h, oy, in, in_row, rows);
      dwconv_row(e, s, rows, out + (size_t)oy * out_row, s->min, s->max);
    }
    return;
  }
  for (int oy = 0; oy < ov->h; oy++) {
    tap_rows(l, iv->h, oy, in, in_row, rows);
    conv_row(e, l, e->packed + s->packed_off, rows,
             out + (size_t)oy * out_row, s->min, s->max);
  }
}

/* Fused block over tiles of output rows. With an expansion, expanded row iy
 * lives in ring slot iy % ring_rows; the ring holds every row one tile
 * reads, so computing a tile's new rows only overwrites rows above it. */
static void
run_block(const struct ss_engine *e, const struct step *s, const float *in,
          const float *res, float *out, float *work)
{
  const struct ss_model *m = e->model;
  const struct model_layer *dw = s->l, *pj = s->project, *ex = s->expand;
  const struct model_value *dwin = &m->values[dw->in];
  const struct model_value *dwout = &m->values[dw->out];
  const size_t w = (size_t)dwin->w, ch = (size_t)dwin->c;
  const size_t ow = (size_t)dwout->w, cout = (size_t)pj->cout;
  const size_t row = w * ch, cin = ex ? (size_t)ex->cin : ch;
  float *ring = work;
  float *tile = work + engine_block_ring_floats(m, s);
  const float *dw_in = ex ? NULL : in; /* rows read straight from in */
  const float *rows[16];
  int have = -1; /* highest expanded row computed */

  for (int oy0 = 0; oy0 < dwout->h; oy0 += s->tile_rows) {
    int oy1 = oy0 + s->tile_rows < dwout->h ? oy0 + s->tile_rows : dwout->h;
    if (ex) {
      int need = (oy1 - 1) * dw->stride - dw->pad_top + dw->kh - 1;
      if (need > dwin->h - 1)
        need = dwin->h - 1;
      while (s->expand_rows && have < need) {
        /* one row of the dense convolution into its ring slot */
        const struct model_value *exin = &m->values[ex->in];
        const float *trows[16];
        have++;
        tap_rows(ex, exin->h, have, in, (size_t)exin->w * exin->c, trows);
        conv_row(e, ex, e->packed + s->packed_expand, trows,
                 ring + (size_t)(have % s->ring_rows) * row, ex->act_min,
                 ex->act_max);
      }
      while (have < need) {
        /* rows have+1 .. need, split where the ring wraps */
        int start = have + 1;
        int slot = start % s->ring_rows;
        int n = need - have < s->ring_rows - slot ? need - have
                                                  : s->ring_rows - slot;
        if (s->expand_gemv)
          e->ops->gemv(ch, cin, in + (size_t)start * w * cin,
                       e->packed + s->packed_expand,
                       ring + (size_t)slot * row, NULL, ex->act_min,
                       ex->act_max);
        else
          e->ops->gemm((size_t)n * w, ch, cin, in + (size_t)start * w * cin,
                       cin, e->packed + s->packed_expand,
                       ring + (size_t)slot * row, ch, NULL, 0, ex->act_min,
                       ex->act_max);
        have += n;
      }
    }
    for (int oy = oy0; oy < oy1; oy++) {
      for (int ky = 0; ky < dw->kh; ky++) {
        int iy = oy * dw->stride + ky - dw->pad_top;
        if (iy < 0 || iy >= dwin->h)
          rows[ky] = NULL;
        else if (ex)
          rows[ky] = ring + (size_t)(iy % s->ring_rows) * row;
        else
          rows[ky] = dw_in + (size_t)iy * row;
      }
      dwconv_row(e, s, rows, tile + (size_t)(oy - oy0) * ow * ch,
                 dw->act_min, dw->act_max);
    }
    size_t mrows = (size_t)(oy1 - oy0) * ow;
    size_t o0 = (size_t)oy0 * ow * cout;
    if (s->project_gemv)
      e->ops->gemv(cout, ch, tile, e->packed + s->packed_project, out + o0,
                   res ? res + o0 : NULL, s->min, s->max);
    else
      e->ops->gemm(mrows, cout, ch, tile, ch, e->packed + s->packed_project,
                   out + o0, cout, res ? res + o0 : NULL, cout, s->min,
                   s->max);
  }
}

static void
run_step(const struct ss_engine *e, const struct step *s, float *arena,
         const float *input)
{
  const struct ss_model *m = e->model;
  const float *in = value_ptr(e, arena, input, s->in);
  const float *in2 = s->in2 >= 0 ? value_ptr(e, arena, input, s->in2) : NULL;
  float *out = arena + e->value_off[s->out];
  const struct model_value *ov = &m->values[s->out];
  switch (s->kind) {
  case STEP_GEMM: {
    const struct model_layer *l = s->l;
    size_t k = (size_t)l->cin;
    if (s->f16) {
      e->ops->gemv16((size_t)l->cout, k, in, e->packed + s->packed_off, out,
                     s->min, s->max);
      break;
    }
    if (s->gemv) {
      e->ops->gemv((size_t)l->cout, k, in, e->packed + s->packed_off, out,
                   in2, s->min, s->max);
      break;
    }
    e->ops->gemm((size_t)ov->h * ov->w, (size_t)l->cout, k, in, k,
                 e->packed + s->packed_off, out, (size_t)l->cout, in2,
                 (size_t)l->cout, s->min, s->max);
    break;
  }
  case STEP_CONV:
  case STEP_DWCONV:
    run_rows(e, s, in, out);
    break;
  case STEP_BLOCK:
    run_block(e, s, in, in2, out, arena + e->values_floats);
    break;
  case STEP_ADD:
    e->ops->add(value_floats(m, s->out), in, in2, out, s->min, s->max);
    break;
  case STEP_AVGPOOL: {
    const struct model_value *iv = &m->values[s->in];
    e->ops->avgpool((size_t)iv->h * iv->w, (size_t)iv->c, in, out);
    break;
  }
  }
}

/* Copies the network's output out (engine_run's last part). */
static void
copy_output(const struct ss_engine *e, struct ss_scratch *s,
            const float *input, float *logits)
{
  const struct ss_model *m = e->model;
  memcpy(logits, value_ptr(e, s->arena, input, m->output),
         (size_t)m->num_outputs * sizeof *logits);
}

void
engine_run(const struct ss_engine *e, struct ss_scratch *s, const float *input,
           float *logits)
{
  if (e->q) {
    qengine_run(e->q, (uint8_t *)s->arena, input, logits, NULL);
    return;
  }
  for (int i = 0; i < e->n_steps; i++)
    run_step(e, &e->steps[i], s->arena, input);
  copy_output(e, s, input, logits);
}

int
engine_feature_len(const struct ss_engine *e)
{
  if (e->q)
    return qengine_feature_len(e->q);
  if (e->feature_value < 0)
    return 0;
  const struct model_value *v = &e->model->values[e->feature_value];
  return v->h * v->w * v->c;
}

/* Copies the features out of the arena, scaled to unit L2 norm (an
 * all-zero vector stays zero: there is no direction to keep). */
static void
normalise_features(const float *f, float *out, int n)
{
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += (double)f[i] * f[i];
  const float scale = sum > 0 ? (float)(1.0 / sqrt(sum)) : 0.0f;
  for (int i = 0; i < n; i++)
    out[i] = f[i] * scale;
}

static void
copy_features(const struct ss_engine *e, const struct ss_scratch *s,
              float *out, int n)
{
  normalise_features(s->arena + e->value_off[e->feature_value], out, n);
}

int
engine_run_features(const struct ss_engine *e, struct ss_scratch *s,
                    const float *input, float *features, int n)
{
  int len = engine_feature_len(e);
  if (len == 0 || n < len)
    return -1;
  if (e->q) {
    /* the integer path's pooled bytes, dequantised */
    qengine_run_ex(e->q, (uint8_t *)s->arena, input, NULL, features, NULL);
    normalise_features(features, features, len);
    return len;
  }
  for (int i = 0; i < e->feature_steps; i++)
    run_step(e, &e->steps[i], s->arena, input);
  copy_features(e, s, features, len);
  return len;
}

int
engine_run_with_features(const struct ss_engine *e, struct ss_scratch *s,
                         const float *input, float *logits, float *features,
                         int n)
{
  int len = engine_feature_len(e);
  if (len == 0 || n < len)
    return -1;
  if (e->q) {
    qengine_run_ex(e->q, (uint8_t *)s->arena, input, logits, features,
                   NULL);
    normalise_features(features, features, len);
    return len;
  }
  /* Copied before the classifier's step runs: the arena planner may reuse
   * the features' memory once its last reader is done. */
  for (int i = 0; i < e->feature_steps; i++)
    run_step(e, &e->steps[i], s->arena, input);
  copy_features(e, s, features, len);
  for (int i = e->feature_steps; i < e->n_steps; i++)
    run_step(e, &e->steps[i], s->arena, input);
  copy_output(e, s, input, logits);
  return len;
}

/* The calling thread's CPU time: on a shared machine, the time the thread
 * spends descheduled is not the step's. Equal to wall time on an idle
 * core. */
static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
engine_run_profiled(const struct ss_engine *e, struct ss_scratch *s,
                    const float *input, float *logits, uint64_t *step_ns)
{
  if (e->q) {
    qengine_run(e->q, (uint8_t *)s->arena, input, logits, step_ns);
    return;
  }
  for (int i = 0; i < e->n_steps; i++) {
    uint64_t t0 = now_ns();
    run_step(e, &e->steps[i], s->arena, input);
    step_ns[i] += now_ns() - t0;
  }
  copy_output(e, s, input, logits);
}

int
engine_num_steps(const struct ss_engine *e)
{
  return e->q ? qengine_num_steps(e->q) : e->n_steps;
}

void
engine_step_info(const struct ss_engine *e, int i,
                 struct engine_step_info *info)
{
  if (e->q) {
    struct qengine_step_info q;
    qengine_step_info(e->q, i, &q);
    *info = (struct engine_step_info){
      .name = q.name, .kind = q.kind, .in_h = q.in_h, .in_w = q.in_w,
      .in_c = q.in_c, .out_h = q.out_h, .out_w = q.out_w, .out_c = q.out_c,
      .kh = q.kh, .kw = q.kw, .stride = q.stride, .macs = q.macs,
      .fused_layers = 1,
    };
    return;
  }
  static const char *const kinds[] = { "gemm", "conv",    "dwconv",
                                       "add",  "avgpool", "block" };
  const struct step *s = &e->steps[i];
  const struct model_value *iv = &e->model->values[s->in];
  const struct model_value *ov = &e->model->values[s->out];
  const struct model_layer *named =
    s->kind == STEP_BLOCK && s->expand ? s->expand : s->l;
  *info = (struct engine_step_info){
    .name = named->name, .kind = s->f16 ? "gemv16" : kinds[s->kind],
    .in_h = iv->h, .in_w = iv->w, .in_c = iv->c,
    .out_h = ov->h, .out_w = ov->w, .out_c = ov->c,
    .kh = s->l->kh, .kw = s->l->kw, .stride = s->l->stride,
    .macs = s->macs,
    .fused_add = (s->kind == STEP_GEMM || s->kind == STEP_BLOCK) &&
                 s->in2 >= 0,
    .fused_layers = s->n_layers,
  };
}
