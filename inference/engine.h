/* streamsight — the inference engine: a model compiled for one kernel table.
 *
 * engine_new() packs the model's weights for the chosen kernels and plans the
 * activation memory once. The engine is then read-only: any number of threads
 * may call engine_run() at the same time, each with its own scratch (from
 * engine_scratch_new(), allocated once). engine_run() allocates nothing, takes
 * no lock and logs nothing. Kernels run single-threaded inside one inference.
 */
#ifndef SS_ENGINE_H
#define SS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "kernels/kernels.h"
#include "model.h"

struct ss_engine;
struct ss_scratch;

/* Compiles m for the kernels of isa (KERN_ISA_AUTO: the best this CPU has),
 * with block fusion on. Takes its own reference on m. Call kern_init()
 * first. */
int engine_new(struct ss_model *m, enum kern_isa isa, struct ss_engine **out,
               struct ss_error *err);

/* Which arithmetic runs a model. */
enum engine_arith {
  /* Integer for a quantised TFLite file the integer engine runs (every
   * MobileNet V1/V2 quant file here: TFLite's exact outputs), float for
   * everything else. */
  ENGINE_ARITH_AUTO = 0,
  ENGINE_ARITH_FLOAT,   /* dequantised weights, float32 throughout */
  ENGINE_ARITH_INTEGER, /* integer or an error saying why not */
};

struct engine_options {
  enum kern_isa isa;
  enum engine_arith arith;
  /* Integer path only: reproduce TFLite's built-in kernels (gemmlowp fixed
   * point) instead of its XNNPACK delegate, which the reference outputs
   * come from (0, the default). See qengine.h. */
  int int_tflite_builtin;
  /* Fuse [1x1 expansion ->] depthwise -> 1x1 projection [-> residual add]
   * into one step that works on tiles of output rows, so the expanded
   * tensor stays in cache instead of making a round trip to memory.
   * engine_new() turns it on. */
  int fuse_blocks;
  /* Output rows per tile of a fused block; 0 picks by size. */
  int tile_rows;
  /* Store the weights of fully connected layers (the classifier) as IEEE
   * half precision, widened to float32 in the kernel: the classifier reads
   * its 4-5 MB of weights once per inference, mostly from memory, and half
   * the bytes take about half the time (MobileNetV2 1.0: 0.25 -> 0.14 ms,
   * 3% of the network at 128 px). Products and sums stay float32, but the
   * weights' rounding moves logits by up to 2^-11 of sum |a||w|: 9.3e-4 on
   * the V2 golden fixture, whose bar is 1e-3. Off unless asked for;
   * engine_new() leaves it off. */
  int f16_classifier;
};
int engine_new_opts(struct ss_model *m, const struct engine_options *opts,
                    struct ss_engine **out, struct ss_error *err);
void engine_free(struct ss_engine *e); /* NULL is allowed */

/* "integer" or "float": the arithmetic the engine runs. */
const char *engine_arith_name(const struct ss_engine *e);
/* True when engine_run's output is the file's own quantised softmax
 * (probabilities, the integer path of a file ending in a softmax) rather
 * than logits: rank it with predict_rank, not predict_top_k. */
int engine_outputs_probs(const struct ss_engine *e);

/* The model (borrowed; lives as long as the engine). */
struct ss_model *engine_model(const struct ss_engine *e);
const char *engine_isa_name(const struct ss_engine *e);
/* Bytes of activation memory one scratch holds. */
size_t engine_scratch_bytes(const struct ss_engine *e);

int engine_scratch_new(const struct ss_engine *e, struct ss_scratch **out,
                       struct ss_error *err);
void engine_scratch_free(struct ss_scratch *s); /* NULL is allowed */

/* Runs one inference. input: model height x width x 3 floats, NHWC,
 * already normalised (see model_input_norm). logits: model_num_outputs
 * floats (probabilities when engine_outputs_probs). s must not be used by
 * another thread at the same time. */
void engine_run(const struct ss_engine *e, struct ss_scratch *s,
                const float *input, float *logits);

/* ---- pooled features (transfer learning, embeddings) ----
 *
 * The features are the classifier's input: the globally average-pooled
 * output of the last convolution (MobileNetV2: 1280 values, V1: 1024 x
 * alpha). They are returned scaled to unit L2 norm, the form heads and
 * similarity searches want. Quantised files run by the float engine give
 * the dequantised model's features; on the integer engine they are the
 * pooled 8-bit values dequantised (q - zero point) * scale. */

/* Number of feature values, or 0 when the model has no classifier over a
 * pooled vector (then the functions below fail). */
int engine_feature_len(const struct ss_engine *e);

/* Runs the network up to the pooled features (the classifier is skipped)
 * and writes them, L2-normalised, to features[0 .. len-1]. n is the room
 * in features. Returns len, or -1 when the model has no features or
 * n < len (nothing written then). Same threading rules as engine_run. */
int engine_run_features(const struct ss_engine *e, struct ss_scratch *s,
                        const float *input, float *features, int n);

/* One full inference that returns both the logits (as engine_run) and the
 * features of the same pass (as engine_run_features), for a stream that
 * reports ImageNet classes and a head's at once. Returns as
 * engine_run_features; on -1 nothing is run or written. */
int engine_run_with_features(const struct ss_engine *e, struct ss_scratch *s,
                             const float *input, float *logits,
                             float *features, int n);

/* ---- per-step profile (streamsight-bench --profile) ---- */

struct engine_step_info {
  const char *name;  /* the layer's name (borrowed) */
  const char *kind;  /* "gemm", "gemv16", "conv", "dwconv", "add", "avgpool",
                        "block" */
  int in_h, in_w, in_c, out_h, out_w, out_c, kh, kw, stride;
  uint64_t macs;
  int fused_add;     /* 1 when a residual add runs in this step's epilogue */
  int fused_layers;  /* model layers this step runs (1, or 2-4 for a block) */
};

int engine_num_steps(const struct ss_engine *e);
void engine_step_info(const struct ss_engine *e, int i,
                      struct engine_step_info *info);
/* As engine_run, and adds each step's time in ns to step_ns[i]: the CPU time
 * of the calling thread (time spent descheduled on a busy machine does not
 * count; on an idle core it equals wall time). */
void engine_run_profiled(const struct ss_engine *e, struct ss_scratch *s,
                         const float *input, float *logits,
                         uint64_t *step_ns);

#endif
