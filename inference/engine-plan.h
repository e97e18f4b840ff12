/* streamsight — the float engine's compiled form: the steps a model graph
 * becomes, their kernels and packed weights, and the activation arena's
 * plan. engine-plan.c builds it (engine_plan), engine.c runs it. Private to
 * inference/.
 */
#ifndef SS_ENGINE_PLAN_H
#define SS_ENGINE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "kernels/kernels.h"
#include "model-graph.h"

struct qengine;

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


#define ALIGN_FLOATS 16 /* 64 bytes: every buffer starts on a cache line */

static inline size_t
round_up(size_t v, size_t a)
{
  return (v + a - 1) / a * a;
}

/* Floats of value v (h x w x c). */
static inline size_t
value_floats(const struct ss_model *m, int v)
{
  const struct model_value *x = &m->values[v];
  return (size_t)x->h * x->w * x->c;
}

/* Compiles e->model for e->ops (both set): steps with block fusion and
 * their kernels, the packed weights, the arena plan and the features'
 * step. On failure the caller frees e with engine_free(). */
int engine_plan(struct ss_engine *e, const struct engine_options *o,
                struct ss_error *err);

/* A 64-byte aligned buffer, on huge pages from 1 MiB on; free() it. */
void *engine_buffer_alloc(size_t bytes);

/* Floats of a block step's ring of expanded rows at the start of its
 * working area (0 without an expansion); the depthwise tile follows. */
size_t engine_block_ring_floats(const struct ss_model *m,
                                const struct step *s);

#endif
