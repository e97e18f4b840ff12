/* streamsight — engine: compile a model graph into a list of kernel calls
 * over one planned activation arena. */
#include "engine.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model-graph.h"

enum step_kind {
  STEP_GEMM = 0, /* 1x1 stride-1 unpadded convolution, or fully connected */
  STEP_CONV,     /* dense KxK convolution, row by row */
  STEP_DWCONV,   /* depthwise KxK, row by row */
  STEP_ADD,      /* residual add that could not be fused */
  STEP_AVGPOOL,
};

struct step {
  enum step_kind kind;
  const struct layer *l;
  int in, in2, out; /* value ids; in2 is the add operand (STEP_ADD, or the
                       residual fused into a STEP_GEMM), else -1 */
  float min, max;
  size_t packed_off; /* into engine->packed */
  uint64_t macs;
};

struct ss_engine {
  struct ss_model *model; /* owned reference */
  const struct kern_ops *ops;
  struct step *steps;
  int n_steps;
  float *packed;         /* all packed weights, 64-byte aligned */
  size_t *value_off;     /* arena offset (floats) per value; input unused */
  size_t arena_floats;
};

struct ss_scratch {
  const struct ss_engine *engine;
  float *arena;
};

#define ARENA_ALIGN_FLOATS 16 /* 64 bytes: one cache line per value start */

static size_t
round_up(size_t v, size_t a)
{
  return (v + a - 1) / a * a;
}

static size_t
value_floats(const struct ss_model *m, int v)
{
  const struct value *x = &m->values[v];
  return (size_t)x->h * x->w * x->c;
}

static bool
is_linear(const struct layer *l)
{
  return isinf(l->act_min) && l->act_min < 0 && isinf(l->act_max) &&
         l->act_max > 0;
}

static bool
is_pointwise(const struct layer *l, const struct value *in)
{
  return l->kind == LAYER_CONV && l->kh == 1 && l->kw == 1 &&
         (l->stride == 1 || (in->h == 1 && in->w == 1)) && l->pad_top == 0 &&
         l->pad_left == 0 && l->pad_bottom == 0 && l->pad_right == 0;
}

/* Turns layers into steps, fusing "linear 1x1 conv followed by the add that
 * is the only reader of its output" into one GEMM with a residual. */
static int
build_steps(struct ss_engine *e, struct ss_error *err)
{
  const struct ss_model *m = e->model;
  int *readers = calloc((size_t)m->n_values, sizeof *readers);
  e->steps = calloc((size_t)m->n_layers, sizeof *e->steps);
  if (!readers || !e->steps) {
    free(readers);
    return ss_error_set(err, SS_ENOMEM, "out of memory compiling the model");
  }
  for (int i = 0; i < m->n_layers; i++) {
    readers[m->layers[i].in]++;
    if (m->layers[i].kind == LAYER_ADD)
      readers[m->layers[i].in2]++;
  }
  readers[m->output]++;

  int n = 0;
  for (int i = 0; i < m->n_layers; i++) {
    const struct layer *l = &m->layers[i];
    const struct value *in = &m->values[l->in];
    struct step *s = &e->steps[n++];
    *s = (struct step){ .l = l, .in = l->in, .in2 = -1, .out = l->out,
                        .min = l->act_min, .max = l->act_max };
    switch (l->kind) {
    case LAYER_CONV:
      s->kind = is_pointwise(l, in) ? STEP_GEMM : STEP_CONV;
      s->macs = (uint64_t)value_floats(m, l->out) * l->kh * l->kw * l->cin;
      break;
    case LAYER_FC:
      s->kind = STEP_GEMM;
      s->macs = (uint64_t)l->cin * l->cout;
      break;
    case LAYER_DWCONV:
      s->kind = STEP_DWCONV;
      s->macs = (uint64_t)value_floats(m, l->out) * l->kh * l->kw;
      break;
    case LAYER_ADD:
      s->kind = STEP_ADD;
      s->in2 = l->in2;
      break;
    case LAYER_AVGPOOL:
      s->kind = STEP_AVGPOOL;
      break;
    }
    /* Fuse a following add into this GEMM's epilogue. */
    if (s->kind == STEP_GEMM && l->kind == LAYER_CONV && is_linear(l) &&
        i + 1 < m->n_layers && readers[l->out] == 1) {
      const struct layer *a = &m->layers[i + 1];
      if (a->kind == LAYER_ADD && (a->in == l->out) != (a->in2 == l->out)) {
        s->in2 = a->in == l->out ? a->in2 : a->in;
        s->out = a->out;
        s->min = a->act_min;
        s->max = a->act_max;
        i++;
      }
    }
  }
  e->n_steps = n;
  free(readers);
  return 0;
}

static int
pack_weights(struct ss_engine *e, struct ss_error *err)
{
  const struct ss_model *m = e->model;
  const size_t nr = e->ops->gemm_nr;
  size_t total = 0;
  for (int i = 0; i < e->n_steps; i++) {
    struct step *s = &e->steps[i];
    const struct layer *l = s->l;
    size_t sz = 0;
    if (s->kind == STEP_GEMM || s->kind == STEP_CONV)
      sz = kern_gemm_packed_size(nr, (size_t)l->cout,
                                 (size_t)l->kh * l->kw * l->cin);
    else if (s->kind == STEP_DWCONV)
      sz = kern_dw_packed_size((size_t)l->cout, (size_t)l->kh * l->kw);
    s->packed_off = total;
    total += round_up(sz, ARENA_ALIGN_FLOATS);
  }
  e->packed = aligned_alloc(64, round_up((total ? total : 1) * sizeof(float), 64));
  if (!e->packed)
    return ss_error_set(err, SS_ENOMEM, "out of memory packing %zu weights",
                        total);
  for (int i = 0; i < e->n_steps; i++) {
    const struct step *s = &e->steps[i];
    const struct layer *l = s->l;
    float *dst = e->packed + s->packed_off;
    if (s->kind == STEP_GEMM || s->kind == STEP_CONV)
      kern_gemm_pack(nr, (size_t)l->cout, (size_t)l->kh * l->kw * l->cin,
                     l->weight, l->bias, dst);
    else if (s->kind == STEP_DWCONV)
      kern_dw_pack((size_t)l->cout, (size_t)l->kh * l->kw, l->weight, l->bias,
                   dst);
  }
  (void)m;
  return 0;
}

/* Assigns each value an arena offset so that values alive at the same time
 * do not overlap (greedy first fit in execution order). */
static int
plan_arena(struct ss_engine *e, struct ss_error *err)
{
  const struct ss_model *m = e->model;
  int nv = m->n_values;
  int *first = malloc((size_t)nv * sizeof *first);
  int *last = malloc((size_t)nv * sizeof *last);
  e->value_off = calloc((size_t)nv, sizeof *e->value_off);
  if (!first || !last || !e->value_off) {
    free(first);
    free(last);
    return ss_error_set(err, SS_ENOMEM, "out of memory planning memory");
  }
  for (int v = 0; v < nv; v++)
    first[v] = last[v] = -1;
  for (int i = 0; i < e->n_steps; i++) {
    const struct step *s = &e->steps[i];
    first[s->out] = i;
    last[s->in] = i;
    if (s->in2 >= 0)
      last[s->in2] = i;
  }
  last[m->output] = e->n_steps; /* read after the last step */

  size_t top = 0;
  for (int v = 1; v < nv; v++) {
    if (first[v] < 0)
      continue; /* never materialised (fused away) */
    size_t size = round_up(value_floats(m, v), ARENA_ALIGN_FLOATS);
    /* Lowest offset that does not overlap a value whose life intersects
     * [first[v], last[v]]. A step's output must not alias its inputs, so
     * lives that touch at one step count as intersecting. */
    size_t off = 0;
    bool moved = true;
    while (moved) {
      moved = false;
      for (int u = 1; u < v; u++) {
        if (first[u] < 0 || last[u] < first[v] || first[u] > last[v])
          continue;
        size_t us = e->value_off[u];
        size_t ue = us + round_up(value_floats(m, u), ARENA_ALIGN_FLOATS);
        if (off < ue && us < off + size) {
          off = ue;
          moved = true;
        }
      }
    }
    e->value_off[v] = off;
    if (off + size > top)
      top = off + size;
  }
  e->arena_floats = top;
  free(first);
  free(last);
  return 0;
}

int
engine_new(struct ss_model *m, enum kern_isa isa, struct ss_engine **out,
           struct ss_error *err)
{
  int rc = model_validate(m, err);
  if (rc)
    return rc;
  const struct kern_ops *ops = kern_ops_get(isa);
  if (!ops)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "kernel set %d is not available on this CPU/build",
                        (int)isa);
  struct ss_engine *e = calloc(1, sizeof *e);
  if (!e)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  e->model = model_ref(m);
  e->ops = ops;
  rc = build_steps(e, err);
  if (!rc)
    rc = pack_weights(e, err);
  if (!rc)
    rc = plan_arena(e, err);
  if (rc) {
    engine_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

void
engine_free(struct ss_engine *e)
{
  if (!e)
    return;
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
  return e->ops->isa;
}

size_t
engine_scratch_bytes(const struct ss_engine *e)
{
  return e->arena_floats * sizeof(float);
}

int
engine_scratch_new(const struct ss_engine *e, struct ss_scratch **out,
                   struct ss_error *err)
{
  struct ss_scratch *s = calloc(1, sizeof *s);
  if (!s)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  s->engine = e;
  s->arena = aligned_alloc(64, round_up((e->arena_floats ? e->arena_floats : 1) *
                                            sizeof(float), 64));
  if (!s->arena) {
    free(s);
    return ss_error_set(err, SS_ENOMEM, "out of memory for a %zu-byte arena",
                        engine_scratch_bytes(e));
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

/* Runs a row-wise convolution (dense or depthwise) over the whole output. */
static void
run_rows(const struct ss_engine *e, const struct step *s, const float *in,
         float *out)
{
  const struct ss_model *m = e->model;
  const struct layer *l = s->l;
  const struct value *iv = &m->values[s->in];
  const struct value *ov = &m->values[s->out];
  const float *packed = e->packed + s->packed_off;
  const size_t in_row = (size_t)iv->w * iv->c;
  const size_t out_row = (size_t)ov->w * ov->c;
  const float *rows[16]; /* kh <= 15, checked by model_validate */
  for (int oy = 0; oy < ov->h; oy++) {
    for (int ky = 0; ky < l->kh; ky++) {
      int iy = oy * l->stride + ky - l->pad_top;
      rows[ky] = (iy >= 0 && iy < iv->h) ? in + (size_t)iy * in_row : NULL;
    }
    if (s->kind == STEP_CONV)
      e->ops->conv_row((size_t)iv->c, (size_t)iv->w, rows, (size_t)l->kh,
                       (size_t)l->kw, (size_t)l->stride, (size_t)l->pad_left,
                       (size_t)ov->w, (size_t)ov->c, packed,
                       out + (size_t)oy * out_row, s->min, s->max);
    else
      e->ops->dwconv_row((size_t)iv->c, (size_t)iv->w, rows, (size_t)l->kh,
                         (size_t)l->kw, (size_t)l->stride,
                         (size_t)l->pad_left, (size_t)ov->w, packed,
                         out + (size_t)oy * out_row, s->min, s->max);
  }
}

static void
run_step(const struct ss_engine *e, const struct step *s, float *arena,
         const float *input)
{
  const struct ss_model *m = e->model;
  const float *in = value_ptr(e, arena, input, s->in);
  float *out = arena + e->value_off[s->out];
  const struct value *ov = &m->values[s->out];
  switch (s->kind) {
  case STEP_GEMM: {
    const struct layer *l = s->l;
    size_t mrows = (size_t)ov->h * ov->w;
    const float *res = s->in2 >= 0 ? value_ptr(e, arena, input, s->in2) : NULL;
    size_t k = l->kind == LAYER_FC ? (size_t)l->cin : (size_t)l->cin;
    e->ops->gemm(mrows, (size_t)l->cout, k, in, k, e->packed + s->packed_off,
                 out, (size_t)l->cout, res, (size_t)l->cout, s->min, s->max);
    break;
  }
  case STEP_CONV:
  case STEP_DWCONV:
    run_rows(e, s, in, out);
    break;
  case STEP_ADD:
    e->ops->add(value_floats(m, s->out), in,
                value_ptr(e, arena, input, s->in2), out, s->min, s->max);
    break;
  case STEP_AVGPOOL: {
    const struct value *iv = &m->values[s->in];
    e->ops->avgpool((size_t)iv->h * iv->w, (size_t)iv->c, in, out);
    break;
  }
  }
}

void
engine_run(const struct ss_engine *e, struct ss_scratch *s, const float *input,
           float *logits)
{
  for (int i = 0; i < e->n_steps; i++)
    run_step(e, &e->steps[i], s->arena, input);
  memcpy(logits, value_ptr(e, s->arena, input, e->model->output),
         (size_t)e->model->num_outputs * sizeof *logits);
}

static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
engine_run_profiled(const struct ss_engine *e, struct ss_scratch *s,
                    const float *input, float *logits, uint64_t *step_ns)
{
  for (int i = 0; i < e->n_steps; i++) {
    uint64_t t0 = now_ns();
    run_step(e, &e->steps[i], s->arena, input);
    step_ns[i] += now_ns() - t0;
  }
  memcpy(logits, value_ptr(e, s->arena, input, e->model->output),
         (size_t)e->model->num_outputs * sizeof *logits);
}

int
engine_num_steps(const struct ss_engine *e)
{
  return e->n_steps;
}

void
engine_step_info(const struct ss_engine *e, int i,
                 struct engine_step_info *info)
{
  static const char *const kinds[] = { "gemm", "conv", "dwconv", "add",
                                       "avgpool" };
  const struct step *s = &e->steps[i];
  const struct value *iv = &e->model->values[s->in];
  const struct value *ov = &e->model->values[s->out];
  *info = (struct engine_step_info){
    .name = s->l->name, .kind = kinds[s->kind],
    .in_h = iv->h, .in_w = iv->w, .in_c = iv->c,
    .out_h = ov->h, .out_w = ov->w, .out_c = ov->c,
    .kh = s->l->kh, .kw = s->l->kw, .stride = s->l->stride,
    .macs = s->macs,
    .fused_add = s->kind == STEP_GEMM && s->in2 >= 0,
  };
}
