/* streamsight-bench — what the bench's files share (tools/, not installed).
 *
 * streamsight-bench.c runs every configuration of the command line
 * (bench-options.c) on a loaded model or on a grid of built networks with
 * random weights (bench-random.c): single-thread latency and the per-step
 * profile (bench-measure.c), the parallel throughput run
 * (bench-throughput.c), accuracy on labelled images and a logits dump
 * (bench-accuracy.c), then one line or JSON object (bench-report.c).
 *
 * Everything runs on the main thread except the throughput workers.
 */
#ifndef SS_BENCH_H
#define SS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "kernels/kernels.h"
#include "model.h"

#define BENCH_SEED 0x5eed5eedULL
#define BENCH_MAX_LIST 16 /* entries of --arch / --alpha / --res */
#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct options {
  enum model_arch archs[BENCH_MAX_LIST];
  int n_archs;
  float alphas[BENCH_MAX_LIST];
  int n_alphas;
  int res[BENCH_MAX_LIST];
  int n_res;
  const char *grid_flag; /* first of --arch/--alpha/--res given, or NULL */
  const char *model_path;
  const char *labels_path;
  bool fp32;
  const char *images_dir;
  const char *labels_csv;
  float crop;
  enum kern_isa isa;
  int runs;
  int warmup;
  int threads;
  double duration_s;
  bool json;
  bool profile;
  bool samples;
  const char *input_path;  /* raw float32 NHWC input for --logits-out */
  const char *logits_path; /* raw float32 logits of one run */
};

/* What one configuration measured; negative/NaN fields are "not measured". */
struct result {
  double *lat_ms; /* runs samples, sorted */
  int n_lat;
  double median_ms, p90_ms;
  int threads;
  double throughput_ips;
  int images, images_failed;
  double top1, top5; /* fractions 0..1 */
};

struct peaks {
  double fma;    /* GFLOP/s */
  double madd16; /* GOP/s, 16-bit multiply-add */
  double dpbusd; /* GOP/s, AVX-VNNI; 0 without it */
  double dpbusd512; /* GOP/s, AVX-512 VNNI; 0 without it */
};

struct profile {
  int n_steps;
  uint64_t *median_ns; /* per step */
};

struct config_desc {
  const char *arch;
  const char *name;
  float alpha;
  int resolution;
  const char *kernels;
  uint64_t macs, params;
  bool quantized;
  size_t scratch_bytes;
};

/* ---- bench-options.c ---- */

/* Fills o from the command line. Returns 0, or EXIT_USAGE after printing a
 * message naming the flag; -1 when --help was printed. */
int bench_parse_args(int argc, char **argv, struct options *o);
/* s as a whole decimal number in lo .. hi; false for anything else. */
bool bench_parse_int(const char *s, int lo, int hi, int *out);

/* ---- bench-random.c ---- */

/* Deterministic He-uniform weights and small biases (seeded, no
 * denormals) for every layer of a built network. */
void bench_fill_random_weights(struct ss_model *m, uint64_t seed);
/* n values uniform in [-1, 1): a normalised input. */
void bench_fill_random_input(float *x, size_t n, uint64_t seed);

/* ---- bench-measure.c ---- */

double bench_now_s(void); /* monotonic clock, seconds */
/* Floats of the model's input (H x W x 3). */
size_t bench_input_floats(const struct ss_model *m);
/* 64-byte aligned array of n floats (free()), or NULL. */
float *bench_alloc_floats(size_t n);
/* Fills r's latency fields; r->lat_ms is new (the caller frees it). */
int bench_measure_latency(const struct ss_engine *e, const struct options *o,
                          struct result *r, struct ss_error *err);
/* Fills p with each step's median time; p->median_ns is new (free()). */
int bench_measure_profile(const struct ss_engine *e, const struct options *o,
                          struct profile *p, struct ss_error *err);
/* The single-core peaks --profile compares with (0 where not available). */
void bench_measure_peaks(struct peaks *pk);

/* ---- bench-throughput.c ---- */

/* Fills r->threads and r->throughput_ips. */
int bench_measure_throughput(const struct ss_engine *e,
                             const struct options *o, struct result *r,
                             struct ss_error *err);

/* ---- bench-accuracy.c ---- */

#ifdef SS_BENCH_HAVE_PIPELINE
/* Fills r's top1, top5, images and images_failed from --images and
 * --labels-csv. */
int bench_measure_accuracy(const struct ss_engine *e, const struct options *o,
                           struct result *r, struct ss_error *err);
#endif
/* Writes the logits of one run (on --input, or a random input) to
 * --logits-out. */
int bench_dump_logits(const struct ss_engine *e, const struct options *o,
                      struct ss_error *err);

/* ---- bench-report.c ---- */

/* The lines before the first configuration (human output only). */
void bench_print_preamble(const struct options *o);
/* One configuration: a table row (with --profile, its step table) or one
 * JSON object a line. */
void bench_print_human(const struct config_desc *c, const struct options *o,
                       const struct result *r, const struct ss_engine *e,
                       const struct profile *p, const struct peaks *pk);
void bench_print_json(const struct config_desc *c, const struct options *o,
                      const struct result *r, const struct ss_engine *e,
                      const struct profile *p, const struct peaks *pk);

#endif
