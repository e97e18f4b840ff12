/* streamsight — engine: compile a model graph into a list of kernel calls
 * over one planned activation arena.
 *
 * Layers become steps. A step is one kernel over a whole tensor, or a fused
 * block: [1x1 expansion ->] depthwise -> 1x1 projection [-> residual add],
 * computed a tile of output rows at a time. The "expansion" may also be a
 * dense KxK convolution (the networks' first layer), computed row by row.
 * The block keeps only a ring of expanded rows and one tile of depthwise
 * output (in the scratch's block area), so MobileNetV2's wide expanded
 * tensors never travel to memory.
 *
 * Each step's kernels are chosen here, once, for its shape (the 3x3
 * depthwise kernel of its stride, the one-row GEMM for a single row), so
 * that no kernel decides per call what it is running.
 */
#include "engine.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "model-graph.h"
#include "qengine.h"

enum step_kind {
  STEP_GEMM = 0, /* 1x1 stride-1 unpadded convolution, or fully connected */
  STEP_CONV,     /* dense KxK convolution, row by row */
  STEP_DWCONV,   /* depthwise KxK, row by row */
  STEP_ADD,      /* residual add that could not be fused */
  STEP_AVGPOOL,
  STEP_BLOCK,    /* fused [expand ->] depthwise -> project [-> add] */
};

struct step {
  enum step_kind kind;
  const struct model_layer *l; /* the layer (STEP_BLOCK: the depthwise one) */
  int in, in2, out; /* value ids; in2 is the add operand (STEP_ADD, or the
                       residual fused into a GEMM or block), else -1 */
  float min, max;   /* clamp of the step's output */
  size_t packed_off; /* into engine->packed (STEP_BLOCK: the depthwise's) */
  uint64_t macs;
  int n_layers;      /* model layers covered */
  /* STEP_BLOCK only */
  const struct model_layer *expand;  /* NULL when the block has no expansion */
  bool expand_rows; /* expand is a dense KxK convolution, run row by row */
  const struct model_layer *project;
  size_t packed_expand, packed_project;
  int tile_rows; /* output rows per tile */
  int ring_rows; /* expanded rows kept (expand only) */
  /* STEP_GEMM only: a fully connected layer with "gemv16" (half-precision)
   * weights */
  bool f16;
  /* Kernels chosen for the shape. dwconv: STEP_DWCONV and STEP_BLOCK's
   * depthwise layer. gemv: STEP_GEMM of one row (fully connected, or
   * pointwise on a 1x1 image). expand_gemv, project_gemv: STEP_BLOCK
   * whose expansion or projection GEMMs always have one row. */
  kern_dwconv_row_fn dwconv;
  bool gemv, expand_gemv, project_gemv;
};

struct ss_engine {
  struct ss_model *model; /* owned reference */
  const struct kern_ops *ops;
  struct step *steps;
  int n_steps;
  float *packed;      /* all packed weights, 64-byte aligned */
  size_t *value_off;  /* arena offset (floats) per value; input unused */
  size_t values_floats; /* activations part of the arena */
  size_t block_floats;  /* block working area, after the activations */
  /* The pooled features (the classifier's input): their value id and the
   * number of steps that compute them, or -1 / 0 when the model has no
   * classifier over a 1x1 vector (see find_features). */
  int feature_value;
  int feature_steps;
  /* The integer engine, when it runs the model (then the float steps are
   * not built). */
  struct qengine *q;
};

struct ss_scratch {
  const struct ss_engine *engine;
  float *arena;
};

#define ALIGN_FLOATS 16 /* 64 bytes: every buffer starts on a cache line */
/* Working set a fused block aims to stay within: half of a Zen 3 core's
 * 512 KiB L2, leaving room for the weights streaming through. */
#define BLOCK_CACHE_BYTES (256u * 1024)
/* A block whose whole expanded input and depthwise output fit in this much
 * (most of the L2) runs as a single tile. Each tile streams the block's
 * weights once more, and in the late, small blocks the weights are the
 * bulk: MobileNetV2's 7x7 blocks have 0.6-1.2 MB of them against 376 KB of
 * activations. Measured alternating in one process: those blocks 10-12%
 * faster as one tile than as the 3 tiles the budget above gives. */
#define BLOCK_ONE_TILE_BYTES (448u * 1024)
/* Rows of the projection GEMM per tile worth aiming for: below a few dozen
 * the micro-kernel's row blocking runs mostly in its tail. */
#define BLOCK_MIN_GEMM_ROWS 48

static size_t
round_up(size_t v, size_t a)
{
  return (v + a - 1) / a * a;
}

/* Buffers from this size on are placed on transparent huge pages. */
#define HUGE_MIN_BYTES (1u << 20)
#define HUGE_PAGE_BYTES (2u << 20)

/* A 64-byte aligned buffer (free() it); from HUGE_MIN_BYTES on, 2 MiB
 * aligned and advised to live on huge pages. The packed weights (17 MB for
 * MobileNetV1) and the activations are walked once per inference, and with
 * 4 KiB pages nearly every page's walk misses the TLB; under a hypervisor
 * each miss is a two-level page walk. Measured on the 14x14x512 pointwise
 * GEMM with cold caches: 2.0 -> 1.75 ms (hot: 1.1 ms). The advice is only
 * a hint: without huge pages the buffer works the same. */
static void *
alloc_buffer(size_t bytes)
{
  if (bytes < HUGE_MIN_BYTES)
    return aligned_alloc(64, round_up(bytes ? bytes : 1, 64));
  bytes = round_up(bytes, HUGE_PAGE_BYTES);
  void *p = aligned_alloc(HUGE_PAGE_BYTES, bytes);
#ifdef MADV_HUGEPAGE
  if (p)
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

static size_t
value_floats(const struct ss_model *m, int v)
{
  const struct model_value *x = &m->values[v];
  return (size_t)x->h * x->w * x->c;
}

static bool
is_linear(const struct model_layer *l)
{
  return isinf(l->act_min) && l->act_min < 0 && isinf(l->act_max) &&
         l->act_max > 0;
}

static bool
is_pointwise(const struct ss_model *m, const struct model_layer *l)
{
  const struct model_value *in = &m->values[l->in];
  return l->kind == MODEL_LAYER_CONV && l->kh == 1 && l->kw == 1 &&
         (l->stride == 1 || (in->h == 1 && in->w == 1)) && l->pad_top == 0 &&
         l->pad_left == 0 && l->pad_bottom == 0 && l->pad_right == 0;
}

/* The layer after i, when it is the only reader of layer i's output and
 * that output is not the network's result. */
static const struct model_layer *
sole_next_reader(const struct ss_model *m, const int *readers, int i)
{
  if (i + 1 >= m->n_layers)
    return NULL;
  const struct model_layer *l = &m->layers[i], *n = &m->layers[i + 1];
  if (readers[l->out] != 1 ||
      (n->in != l->out && !(n->kind == MODEL_LAYER_ADD && n->in2 == l->out)))
    return NULL;
  return n;
}

/* If layer i (a linear convolution ending a step) is followed by an add
 * that alone reads it, fuse the add: returns the add's other operand and
 * updates the step's output and clamp, else -1. */
static int
fuse_add(const struct ss_model *m, const int *readers, int i, struct step *s)
{
  const struct model_layer *l = &m->layers[i];
  const struct model_layer *a = sole_next_reader(m, readers, i);
  if (!a || a->kind != MODEL_LAYER_ADD || !is_linear(l) || a->in == a->in2)
    return -1;
  s->in2 = a->in == l->out ? a->in2 : a->in;
  s->out = a->out;
  s->min = a->act_min;
  s->max = a->act_max;
  s->n_layers++;
  return 0;
}

/* Whether every weight of a fully connected layer has a finite half. */
static bool
fc_fits_f16(const struct model_layer *l)
{
  size_t n = (size_t)l->cin * l->cout;
  for (size_t i = 0; i < n; i++)
    if (!(fabsf(l->weight[i]) <= KERN_GEMV16_MAX_ABS))
      return false;
  return true;
}

/* Picks the tile height of a fused block: enough output rows for a
 * reasonably tall projection GEMM, within the cache budget. */
static void
plan_block_tile(const struct ss_model *m, struct step *s, int forced)
{
  const struct model_value *dwin = &m->values[s->l->in];
  const struct model_value *dwout = &m->values[s->l->out];
  const int oh = dwout->h, ow = dwout->w, ch = dwout->c;
  int t = forced > 0 ? forced : (BLOCK_MIN_GEMM_ROWS + ow - 1) / ow;
  if (t > oh)
    t = oh;
  size_t whole = ((s->expand ? (size_t)dwin->h * dwin->w * ch : 0) +
                  (size_t)oh * ow * ch) * sizeof(float);
  const bool one_tile = forced <= 0 && whole <= BLOCK_ONE_TILE_BYTES;
  if (one_tile)
    t = oh;
  for (; forced <= 0 && !one_tile && t > 1; t--) {
    size_t ring = s->expand ? (size_t)((t - 1) * s->l->stride + s->l->kh) *
                                  dwin->w * ch
                            : 0;
    size_t tile = (size_t)t * ow * ch;
    if ((ring + tile) * sizeof(float) <= BLOCK_CACHE_BYTES)
      break;
  }
  if (t < 1)
    t = 1;
  s->tile_rows = t;
  s->ring_rows = (t - 1) * s->l->stride + s->l->kh;
  if (s->ring_rows > dwin->h)
    s->ring_rows = dwin->h;
  /* A ring of one row one pixel wide, a tile of one row one pixel wide:
   * every GEMM of the block has one row. */
  s->expand_gemv = s->expand && !s->expand_rows && s->ring_rows == 1 &&
                   dwin->w == 1;
  s->project_gemv = t == 1 && ow == 1;
}

/* The depthwise kernel for a layer's shape: the specialised one where the
 * table has one, else the general one. */
static kern_dwconv_row_fn
pick_dwconv(const struct kern_ops *ops, const struct model_layer *l)
{
  if (l->kh == 3 && l->kw == 3 && l->stride == 1)
    return ops->dwconv3x3_s1;
  if (l->kh == 3 && l->kw == 3 && l->stride == 2)
    return ops->dwconv3x3_s2;
  return ops->dwconv;
}

/* Turns layers into steps, fusing blocks and residual adds. */
static int
build_steps(struct ss_engine *e, const struct engine_options *o,
            struct ss_error *err)
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
    if (m->layers[i].kind == MODEL_LAYER_ADD)
      readers[m->layers[i].in2]++;
  }
  readers[m->output]++;

  int n = 0;
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    struct step *s = &e->steps[n++];
    *s = (struct step){ .l = l, .in = l->in, .in2 = -1, .out = l->out,
                        .min = l->act_min, .max = l->act_max, .n_layers = 1 };

    /* Fused block: [pointwise ->] depthwise -> pointwise. */
    if (o->fuse_blocks) {
      int j = i;
      const struct model_layer *expand = NULL;
      /* A dense KxK convolution feeding the depthwise (the first layer)
       * is fused as well: its output, 112x112x32 at 224 px, otherwise
       * goes to memory and comes back. Measured alternating in one
       * process: see bench/README.md, "Performance". */
      if (l->kind == MODEL_LAYER_CONV) {
        const struct model_layer *nx = sole_next_reader(m, readers, i);
        if (nx && nx->kind == MODEL_LAYER_DWCONV && nx->in == l->out) {
          expand = l;
          j = i + 1;
        }
      }
      const struct model_layer *dw = &m->layers[j];
      const struct model_layer *proj =
        dw->kind == MODEL_LAYER_DWCONV ? sole_next_reader(m, readers, j) : NULL;
      if (proj && proj->in == dw->out && is_pointwise(m, proj)) {
        s->kind = STEP_BLOCK;
        s->l = dw;
        s->expand = expand;
        s->expand_rows = expand && !is_pointwise(m, expand);
        s->project = proj;
        s->dwconv = pick_dwconv(e->ops, dw);
        s->in = expand ? expand->in : dw->in;
        s->out = proj->out;
        s->min = proj->act_min;
        s->max = proj->act_max;
        s->n_layers = expand ? 3 : 2;
        s->macs = (uint64_t)value_floats(m, dw->out) * dw->kh * dw->kw +
                  (uint64_t)value_floats(m, proj->out) * proj->cin;
        if (expand)
          s->macs += (uint64_t)value_floats(m, expand->out) * expand->kh *
                     expand->kw * expand->cin;
        i = j + 1;
        if (fuse_add(m, readers, i, s) == 0)
          i++;
        plan_block_tile(m, s, o->tile_rows);
        continue;
      }
    }

    switch (l->kind) {
    case MODEL_LAYER_CONV:
      s->kind = is_pointwise(m, l) ? STEP_GEMM : STEP_CONV;
      s->macs = (uint64_t)value_floats(m, l->out) * l->kh * l->kw * l->cin;
      s->gemv = s->kind == STEP_GEMM && m->values[l->out].h == 1 &&
                m->values[l->out].w == 1;
      break;
    case MODEL_LAYER_FC:
      s->kind = STEP_GEMM;
      s->macs = (uint64_t)l->cin * l->cout;
      s->f16 = o->f16_classifier && e->ops->gemv16 && fc_fits_f16(l);
      s->gemv = true;
      break;
    case MODEL_LAYER_DWCONV:
      s->kind = STEP_DWCONV;
      s->macs = (uint64_t)value_floats(m, l->out) * l->kh * l->kw;
      s->dwconv = pick_dwconv(e->ops, l);
      break;
    case MODEL_LAYER_ADD:
      s->kind = STEP_ADD;
      s->in2 = l->in2;
      break;
    case MODEL_LAYER_AVGPOOL:
      s->kind = STEP_AVGPOOL;
      break;
    }
    if (s->kind == STEP_GEMM && l->kind == MODEL_LAYER_CONV &&
        fuse_add(m, readers, i, s) == 0)
      i++;
  }
  e->n_steps = n;
  free(readers);
  return 0;
}

static size_t
gemm_packed_floats(const struct ss_engine *e, const struct model_layer *l)
{
  return kern_gemm_packed_size(e->ops->gemm_nr, (size_t)l->cout,
                               (size_t)l->kh * l->kw * l->cin);
}

static size_t
dw_packed_floats(const struct model_layer *l)
{
  return kern_dw_packed_size((size_t)l->cout, (size_t)l->kh * l->kw);
}

static void
pack_gemm_layer(const struct ss_engine *e, const struct model_layer *l,
                float *dst)
{
  kern_gemm_pack(e->ops->gemm_nr, (size_t)l->cout,
                 (size_t)l->kh * l->kw * l->cin, l->weight, l->bias, dst);
}

static void
pack_dw_layer(const struct model_layer *l, float *dst)
{
  kern_dw_pack((size_t)l->cout, (size_t)l->kh * l->kw, l->weight, l->bias,
               dst);
}

/* Lays out and fills one buffer holding every step's packed weights. */
static int
pack_weights(struct ss_engine *e, struct ss_error *err)
{
  size_t total = 0;
  for (int i = 0; i < e->n_steps; i++) {
    struct step *s = &e->steps[i];
    switch (s->kind) {
    case STEP_GEMM:
    case STEP_CONV:
      s->packed_off = total;
      total += round_up(s->f16 ? kern_gemv16_packed_size(
                                     (size_t)s->l->cout, (size_t)s->l->cin)
                               : gemm_packed_floats(e, s->l),
                        ALIGN_FLOATS);
      break;
    case STEP_DWCONV:
      s->packed_off = total;
      total += round_up(dw_packed_floats(s->l), ALIGN_FLOATS);
      break;
    case STEP_BLOCK:
      if (s->expand) {
        s->packed_expand = total;
        total += round_up(gemm_packed_floats(e, s->expand), ALIGN_FLOATS);
      }
      s->packed_off = total;
      total += round_up(dw_packed_floats(s->l), ALIGN_FLOATS);
      s->packed_project = total;
      total += round_up(gemm_packed_floats(e, s->project), ALIGN_FLOATS);
      break;
    case STEP_ADD:
    case STEP_AVGPOOL:
      break;
    }
  }
  e->packed = alloc_buffer(total * sizeof(float));
  if (!e->packed)
    return ss_error_set(err, SS_ENOMEM, "out of memory packing %zu weights",
                        total);
  for (int i = 0; i < e->n_steps; i++) {
    const struct step *s = &e->steps[i];
    switch (s->kind) {
    case STEP_GEMM:
    case STEP_CONV:
      if (s->f16) {
        int rc = kern_gemv16_pack((size_t)s->l->cout, (size_t)s->l->cin,
                                  s->l->weight, s->l->bias,
                                  e->packed + s->packed_off);
        assert(rc == 0); /* fc_fits_f16() checked the weights */
        (void)rc;
      } else {
        pack_gemm_layer(e, s->l, e->packed + s->packed_off);
      }
      break;
    case STEP_DWCONV:
      pack_dw_layer(s->l, e->packed + s->packed_off);
      break;
    case STEP_BLOCK:
      if (s->expand)
        pack_gemm_layer(e, s->expand, e->packed + s->packed_expand);
      pack_dw_layer(s->l, e->packed + s->packed_off);
      pack_gemm_layer(e, s->project, e->packed + s->packed_project);
      break;
    case STEP_ADD:
    case STEP_AVGPOOL:
      break;
    }
  }
  return 0;
}

/* Floats of a block's working area: the ring of expanded rows, then one
 * tile of depthwise output. */
static size_t
block_ring_floats(const struct ss_model *m, const struct step *s)
{
  const struct model_value *dwin = &m->values[s->l->in];
  return s->expand ? round_up((size_t)s->ring_rows * dwin->w * dwin->c,
                              ALIGN_FLOATS)
                   : 0;
}

static size_t
block_floats(const struct ss_model *m, const struct step *s)
{
  const struct model_value *dwout = &m->values[s->l->out];
  return block_ring_floats(m, s) +
         round_up((size_t)s->tile_rows * dwout->w * dwout->c, ALIGN_FLOATS);
}

/* Assigns each value an arena offset so that values alive at the same time
 * do not overlap (greedy first fit in execution order); the block working
 * area follows the values. */
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
  e->block_floats = 0;
  for (int i = 0; i < e->n_steps; i++) {
    const struct step *s = &e->steps[i];
    first[s->out] = i;
    last[s->in] = i;
    if (s->in2 >= 0)
      last[s->in2] = i;
    if (s->kind == STEP_BLOCK && block_floats(m, s) > e->block_floats)
      e->block_floats = block_floats(m, s);
  }
  last[m->output] = e->n_steps; /* read after the last step */

  size_t top = 0;
  for (int v = 1; v < nv; v++) {
    if (first[v] < 0)
      continue; /* never materialised (fused away) */
    size_t size = round_up(value_floats(m, v), ALIGN_FLOATS);
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
        size_t ue = us + round_up(value_floats(m, u), ALIGN_FLOATS);
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
  e->values_floats = top;
  free(first);
  free(last);
  return 0;
}

/* The pooled features are the input of the classifier: the fully connected
 * layer that writes the network's output (the loaders turn TF's 1x1
 * convolution over the pooled 1x1 vector into one). They are ready after
 * the step that writes that value; a step fusing it away (none does today:
 * the pool is a step of its own) leaves the model without features. */
static void
find_features(struct ss_engine *e)
{
  const struct ss_model *m = e->model;
  e->feature_value = -1;
  e->feature_steps = 0;
  const struct model_layer *fc = NULL;
  for (int i = 0; i < m->n_layers; i++)
    if (m->layers[i].out == m->output && m->layers[i].kind == MODEL_LAYER_FC)
      fc = &m->layers[i];
  if (!fc || fc->in <= 0)
    return;
  for (int i = 0; i < e->n_steps; i++)
    if (e->steps[i].out == fc->in) {
      e->feature_value = fc->in;
      e->feature_steps = i + 1;
      return;
    }
}

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
  rc = build_steps(e, opts, err);
  if (!rc)
    rc = pack_weights(e, err);
  if (!rc)
    rc = plan_arena(e, err);
  if (rc) {
    engine_free(e);
    return rc;
  }
  find_features(e);
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
  s->arena = alloc_buffer(bytes);
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
  float *tile = work + block_ring_floats(m, s);
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
