/* streamsight — engine planner: compiles a model graph into a list of
 * steps, each a kernel call, over one planned activation arena.
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
#include "engine-plan.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

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
void *
engine_buffer_alloc(size_t bytes)
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
  e->packed = engine_buffer_alloc(total * sizeof(float));
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
size_t
engine_block_ring_floats(const struct ss_model *m, const struct step *s)
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
  return engine_block_ring_floats(m, s) +
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
engine_plan(struct ss_engine *e, const struct engine_options *o,
            struct ss_error *err)
{
  int rc = build_steps(e, o, err);
  if (!rc)
    rc = pack_weights(e, err);
  if (!rc)
    rc = plan_arena(e, err);
  if (!rc)
    find_features(e);
  return rc;
}
