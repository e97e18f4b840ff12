/* streamsight — the integer engine: a quantised TFLite file run as its
 * runtime runs it, in 8-bit activations, int32 sums and requantisation to
 * each next tensor's grid, so that the scores are TFLite's own bytes.
 *
 * Internal to inference/: callers use it through engine.h (engine_new_opts
 * with engine_options.arith), which owns one and forwards engine_run to it.
 * Like the float engine it is read-only once built: any number of threads
 * run it at once, each with its own arena of qengine_arena_bytes().
 */
#ifndef SS_QENGINE_H
#define SS_QENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

struct qengine;

/* Whose integer arithmetic to reproduce (see qkernels.h for the formulas):
 * XNNPACK's (the TFLite delegate the reference outputs come from: fp32
 * requantisation, its ADD and average pool) or TFLite's built-in kernels
 * (gemmlowp fixed point). The final quantised softmax is TFLite's built-in
 * one in both: XNNPACK does not take it. */
enum qarith { QARITH_XNNPACK = 0, QARITH_TFLITE };

/* Compiles m for the integer kernels of kern_isa (enum kern_isa). Fails
 * with SS_EUNSUPPORTED and the reason when the file is not one the integer
 * path runs (a float file, a built model, a requantising QUANTIZE...). m is
 * borrowed: it must outlive the engine. */
int qengine_new(const struct ss_model *m, int kern_isa, enum qarith arith,
                struct qengine **out, struct ss_error *err);
void qengine_free(struct qengine *q); /* NULL is allowed */

const char *qengine_isa_name(const struct qengine *q);
size_t qengine_arena_bytes(const struct qengine *q);
/* True when the output is the file's quantised softmax (probabilities
 * q * scale, e.g. k/256), false when it is dequantised logits. */
bool qengine_outputs_probs(const struct qengine *q);

/* Runs one inference. input: the float engine's input (height x width x 3
 * normalised floats, see model_input_norm), turned back into the pixel
 * bytes the file takes; out: model_num_outputs floats, the output
 * dequantised. arena: qengine_arena_bytes(), 64-byte aligned. step_ns: NULL,
 * or per-step CPU time is added to it (qengine_num_steps entries). */
void qengine_run(const struct qengine *q, uint8_t *arena, const float *input,
                 float *out, uint64_t *step_ns);

/* As qengine_run, and also writes the pooled features (the classifier's
 * input, dequantised, not normalised) to features when it is not NULL;
 * out NULL stops after them. */
void qengine_run_ex(const struct qengine *q, uint8_t *arena,
                    const float *input, float *out, float *features,
                    uint64_t *step_ns);
/* Number of pooled features (the input of the fully connected layer that
 * writes the output), 0 when there is none. */
int qengine_feature_len(const struct qengine *q);

int qengine_num_steps(const struct qengine *q);
struct qengine_step_info {
  const char *name;
  const char *kind; /* "qgemm", "qconv", "qdwconv", "qadd", "qavgpool",
                       "qsoftmax" */
  int in_h, in_w, in_c, out_h, out_w, out_c, kh, kw, stride;
  uint64_t macs;
};
void qengine_step_info(const struct qengine *q, int i,
                       struct qengine_step_info *info);

#endif
