/* streamsight-bench — single-thread measurements (see bench.h): latency
 * (median and p90 of timed runs after untimed ones), the per-step profile,
 * and the single-core peaks the profile is compared with.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "bench.h"
#include "fma-peak.h"

#define FMA_PEAK_TRIALS 60
#define FMA_PEAK_TRIAL_MS 2.0

/* ---------------------------------------------------------------- time */

double
bench_now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int
cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Median (mean of the two middle values for an even count) and p90 by the
 * nearest-rank rule: the ceil(0.9 n)-th smallest. bench/compare.py, ort-worker
 * and torch use the same definitions. v must be sorted. */
static double
sorted_median(const double *v, int n)
{
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double
sorted_p90(const double *v, int n)
{
  int rank = (int)ceil(0.9 * n);
  return v[rank > 0 ? rank - 1 : 0];
}

/* ---------------------------------------------------------- measurements */

size_t
bench_input_floats(const struct ss_model *m)
{
  return (size_t)model_input_height(m) * model_input_width(m) * 3;
}

float *
bench_alloc_floats(size_t n)
{
  size_t bytes = (n ? n : 1) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  return aligned_alloc(64, bytes);
}

/* Single-thread latency: warmup untimed runs, then runs timed ones. */
int
bench_measure_latency(const struct ss_engine *e, const struct options *o,
                      struct result *r, struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  struct ss_scratch *s = NULL;
  int rc = engine_scratch_new(e, &s, err);
  if (rc)
    return rc;
  float *in = bench_alloc_floats(bench_input_floats(m));
  float *logits = bench_alloc_floats((size_t)model_num_outputs(m));
  r->lat_ms = calloc((size_t)o->runs, sizeof *r->lat_ms);
  if (!in || !logits || !r->lat_ms) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
    goto out;
  }
  bench_fill_random_input(in, bench_input_floats(m), BENCH_SEED + 1);
  for (int i = 0; i < o->warmup; i++)
    engine_run(e, s, in, logits);
  for (int i = 0; i < o->runs; i++) {
    double t0 = bench_now_s();
    engine_run(e, s, in, logits);
    r->lat_ms[i] = (bench_now_s() - t0) * 1e3;
  }
  r->n_lat = o->runs;
  qsort(r->lat_ms, (size_t)r->n_lat, sizeof *r->lat_ms, cmp_double);
  r->median_ms = sorted_median(r->lat_ms, r->n_lat);
  r->p90_ms = sorted_p90(r->lat_ms, r->n_lat);
out:
  free(in);
  free(logits);
  engine_scratch_free(s);
  return rc;
}

/* Best of trials runs of one of fma-peak.h's loops (run, ops_per_iter
 * operations an iteration), each of about ms milliseconds, in G
 * operations/s: vfmadd231ps, vpmaddwd + vpaddd (AVX2), vpdpbusd (AVX-VNNI,
 * AVX-512 VNNI). The caller checks that the CPU has the instructions. */
static double
measure_peak_gops(float (*run)(uint64_t), double ops_per_iter, int trials,
                  double ms)
{
  uint64_t iters = 1u << 14;
  volatile float sink = 0.0f;
  for (;;) { /* calibrate to about ms / 4, then time 4x that */
    double t0 = bench_now_s();
    sink += run(iters);
    if ((bench_now_s() - t0) * 1e3 >= ms / 4 || iters >= (1ull << 40))
      break;
    iters *= 2;
  }
  iters *= 4;
  double best = 0.0;
  for (int t = 0; t < trials; t++) {
    double t0 = bench_now_s();
    sink += run(iters);
    double dt = bench_now_s() - t0;
    best = fmax(best, (double)iters * ops_per_iter / dt * 1e-9);
  }
  (void)sink;
  return best;
}

/* The float peak (vfmadd231ps), in GFLOP/s; 0 when the CPU lacks
 * AVX2/FMA. */
static double
measure_fma_peak_gflops(int trials, double ms)
{
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    return 0.0;
  return measure_peak_gops(fma_peak_run, FMA_PEAK_FLOPS_PER_ITER, trials, ms);
}

static bool
cpu_has_avxvnni(void)
{
#if defined(__x86_64__)
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
#else
  return false;
#endif
}

int
bench_measure_profile(const struct ss_engine *e, const struct options *o,
                      struct profile *p, struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  int steps = engine_num_steps(e);
  int runs = o->runs > 0 ? o->runs : 1;
  struct ss_scratch *s = NULL;
  int rc = engine_scratch_new(e, &s, err);
  if (rc)
    return rc;
  float *in = bench_alloc_floats(bench_input_floats(m));
  float *logits = bench_alloc_floats((size_t)model_num_outputs(m));
  uint64_t *ns = calloc((size_t)steps * runs, sizeof *ns);
  uint64_t *col = calloc((size_t)runs, sizeof *col);
  p->median_ns = calloc((size_t)steps, sizeof *p->median_ns);
  if (!in || !logits || !ns || !col || !p->median_ns) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
    goto out;
  }
  p->n_steps = steps;
  bench_fill_random_input(in, bench_input_floats(m), BENCH_SEED + 1);
  for (int i = 0; i < o->warmup; i++)
    engine_run(e, s, in, logits);
  for (int r = 0; r < runs; r++)
    engine_run_profiled(e, s, in, logits, ns + (size_t)r * steps);
  for (int i = 0; i < steps; i++) {
    for (int r = 0; r < runs; r++)
      col[r] = ns[(size_t)r * steps + i];
    qsort(col, (size_t)runs, sizeof *col, cmp_u64);
    p->median_ns[i] = runs % 2 ? col[runs / 2]
                               : (col[runs / 2 - 1] + col[runs / 2]) / 2;
  }
out:
  free(in);
  free(logits);
  free(ns);
  free(col);
  engine_scratch_free(s);
  return rc;
}


void
bench_measure_peaks(struct peaks *pk)
{
  /* Best of many short trials: on a shared machine a 2 ms window without a
   * context switch is far likelier than a 100 ms one. */
  *pk = (struct peaks){ 0 };
  pk->fma = measure_fma_peak_gflops(FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
  if (pk->fma > 0)
    pk->madd16 = measure_peak_gops(madd16_peak_run, MADD16_PEAK_OPS_PER_ITER,
                                   FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
  if (pk->fma > 0 && cpu_has_avxvnni())
    pk->dpbusd = measure_peak_gops(dpbusd_peak_run, DPBUSD_PEAK_OPS_PER_ITER,
                                   FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
  if (pk->fma > 0 && kern_ops_get(KERN_ISA_AVX512VNNI))
    pk->dpbusd512 = measure_peak_gops(dpbusd512_peak_run,
                                      DPBUSD512_PEAK_OPS_PER_ITER,
                                      FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
}
