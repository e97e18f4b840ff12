/* streamsight-bench — speed (and, with labelled images, accuracy) of the
 * engine, per (version, width multiplier alpha, resolution rho) or for a
 * loaded model file.
 *
 * For each configuration it prints MACs, parameters, single-thread latency
 * (median and p90 of --runs timed runs after --warmup untimed ones) and the
 * throughput of --threads independent inferences running in parallel for
 * --duration seconds (each thread has its own scratch, input and logits).
 * --profile adds a per-step table against the measured single-core FMA peak;
 * --images/--labels-csv adds top-1/top-5 accuracy of a loaded model.
 *
 * Built networks get deterministic uniform random weights (seed below), so a
 * run is repeatable and free of denormals: values are multiples of 2^-24
 * scaled by the layer's He bound, hence either 0 or normal floats.
 *
 * Exit status: 0 success, 1 a model/engine/IO failure, 2 a bad command line.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "cpu-count.h"
#include "engine.h"
#include "error.h"
#include "fma-peak.h"
#include "kernels/kernels.h"
#include "mobilenet.h"
#include "model-graph.h" /* weight filling of built networks */
#include "model.h"

#ifdef SS_BENCH_HAVE_PIPELINE

#include "image-classify.h"
#include "image-decode.h"
#endif

#define BENCH_SEED 0x5eed5eedULL
#define FMA_PEAK_TRIALS 60
#define FMA_PEAK_TRIAL_MS 2.0
#define MAX_LIST 16          /* entries of --arch / --alpha / --res */
#define TOP_K 5
#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct options {
  enum model_arch archs[MAX_LIST];
  int n_archs;
  float alphas[MAX_LIST];
  int n_alphas;
  int res[MAX_LIST];
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

/* ---------------------------------------------------------------- time */

static double
now_s(void)
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

/* ---------------------------------------------------------------- usage */

static void
usage(FILE *f)
{
  fputs(
    "Usage: streamsight-bench [OPTION]...\n"
    "Measures the streamsight engine on built MobileNets or a model file.\n"
    "\n"
    "Networks (built with random weights):\n"
    "  --arch LIST        v1,v2 (default: v1,v2)\n"
    "  --alpha LIST       width multipliers, e.g. 1.0,0.75,0.5 (default 1.0)\n"
    "  --res LIST         input resolutions, e.g. 224,160 (default 224)\n"
    "Loaded model:\n"
    "  --model FILE       a .tflite or .safetensors file instead of the grid\n"
    "  --labels FILE      labels, one per line, attached to the model\n"
    "  --fp32             quantised files: run the float engine on the\n"
    "                     dequantised weights instead of the integer one\n"
    "  --images DIR       with --labels-csv: top-1/top-5 accuracy over the\n"
    "  --labels-csv FILE  images listed in FILE (columns file,...,\n"
    "                     class_index_0_999)\n"
    "  --crop F           central crop fraction (default 0.875)\n"
    "  --input FILE       raw float32 NHWC input (normalised) for --logits-out\n"
    "  --logits-out FILE  writes the raw float32 logits of one run\n"
    "Measurement:\n"
    "  --kernels K        ref, avx2, avxvnni, avx512vnni or auto (default\n"
    "                     auto; the VNNI ones: the integer engine's GEMM)\n"
    "  --runs N           timed single-thread runs (default 50; 0 skips)\n"
    "  --warmup N         untimed runs first (default 5)\n"
    "  --threads N        parallel inferences for throughput (default: online\n"
    "                     CPUs)\n"
    "  --duration S       seconds of the throughput run (default 3; 0 skips)\n"
    "  --profile          per-step times and GFLOP/s vs the measured FMA peak\n"
    "                     (integer engine: GOP/s vs the 16-bit multiply-add\n"
    "                     peak, and the AVX-VNNI one where the CPU has it)\n"
    "  --json             one JSON object per configuration\n"
    "  --samples          with --json: also every latency sample\n"
    "  -h, --help         this text\n",
    f);
}

static int
usage_error(const char *flag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *flag, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "streamsight-bench: %s: ", flag);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n(see streamsight-bench --help)\n", stderr);
  return EXIT_USAGE;
}

static bool
parse_int(const char *s, int lo, int hi, int *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return false;
  *out = (int)v;
  return true;
}

static bool
parse_double(const char *s, double lo, double hi, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    return false;
  *out = v;
  return true;
}

/* Splits a comma-separated list in place-free fashion, calling item() on each
 * entry; returns 0 or the usage exit code. */
static int
parse_list(const char *flag, const char *s, int *count,
           bool (*item)(const char *tok, int idx, void *ctx), void *ctx)
{
  char buf[256];
  if (strlen(s) >= sizeof buf)
    return usage_error(flag, "list too long");
  snprintf(buf, sizeof buf, "%s", s);
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (n >= MAX_LIST)
      return usage_error(flag, "more than %d entries", MAX_LIST);
    if (!item(tok, n, ctx))
      return usage_error(flag, "bad entry '%s'", tok);
    n++;
  }
  if (n == 0)
    return usage_error(flag, "empty list");
  *count = n;
  return 0;
}

static bool
arch_item(const char *tok, int idx, void *ctx)
{
  enum model_arch *a = ctx;
  if (!strcmp(tok, "v1") || !strcmp(tok, "mobilenet_v1"))
    a[idx] = MODEL_ARCH_MOBILENET_V1;
  else if (!strcmp(tok, "v2") || !strcmp(tok, "mobilenet_v2"))
    a[idx] = MODEL_ARCH_MOBILENET_V2;
  else
    return false;
  return true;
}

static bool
alpha_item(const char *tok, int idx, void *ctx)
{
  double v;
  if (!parse_double(tok, 0.1, 2.0, &v))
    return false;
  ((float *)ctx)[idx] = (float)v;
  return true;
}

static bool
res_item(const char *tok, int idx, void *ctx)
{
  return parse_int(tok, 32, 1024, &((int *)ctx)[idx]);
}

/* Returns 0, or EXIT_USAGE after printing a message naming the flag; -1 when
 * --help was printed. */
static int
parse_args(int argc, char **argv, struct options *o)
{
  *o = (struct options){
    .archs = { MODEL_ARCH_MOBILENET_V1, MODEL_ARCH_MOBILENET_V2 },
    .n_archs = 2, .alphas = { 1.0f }, .n_alphas = 1, .res = { 224 },
    .n_res = 1, .crop = 0.875f, .isa = KERN_ISA_AUTO, .runs = 50,
    .warmup = 5, .threads = cpu_count_usable(), .duration_s = 3.0,
  };
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      usage(stdout);
      return -1;
    }
    if (strncmp(arg, "--", 2) != 0)
      return usage_error(arg, "unexpected argument (options start with --)");
    /* --flag=value or --flag value */
    char flag[64];
    const char *val = NULL;
    const char *eq = strchr(arg, '=');
    if (eq) {
      size_t len = (size_t)(eq - arg);
      if (len >= sizeof flag)
        return usage_error(arg, "unknown option");
      memcpy(flag, arg, len);
      flag[len] = '\0';
      val = eq + 1;
    } else {
      snprintf(flag, sizeof flag, "%s", arg);
    }
    static const char *const bools[] = { "--fp32", "--json", "--profile",
                                         "--samples" };
    bool is_bool = false;
    for (size_t b = 0; b < sizeof bools / sizeof *bools; b++)
      is_bool |= !strcmp(flag, bools[b]);
    if (is_bool) {
      if (val)
        return usage_error(flag, "takes no value");
      if (!strcmp(flag, "--fp32"))
        o->fp32 = true;
      else if (!strcmp(flag, "--json"))
        o->json = true;
      else if (!strcmp(flag, "--profile"))
        o->profile = true;
      else
        o->samples = true;
      continue;
    }
    static const char *const valued[] = {
      "--arch", "--alpha", "--res", "--model", "--labels", "--images",
      "--labels-csv", "--crop", "--kernels", "--runs", "--warmup",
      "--threads", "--duration", "--input", "--logits-out",
    };
    bool known = false;
    for (size_t b = 0; b < sizeof valued / sizeof *valued; b++)
      known |= !strcmp(flag, valued[b]);
    if (!known)
      return usage_error(flag, "unknown option");
    if (!val) {
      if (i + 1 >= argc)
        return usage_error(flag, "needs a value");
      val = argv[++i];
    }
    int rc = 0;
    double d;
    if (!strcmp(flag, "--arch")) {
      rc = parse_list(flag, val, &o->n_archs, arch_item, o->archs);
      if (rc == EXIT_USAGE)
        fputs("  (architectures: v1, v2)\n", stderr);
      o->grid_flag = o->grid_flag ? o->grid_flag : "--arch";
    } else if (!strcmp(flag, "--alpha")) {
      rc = parse_list(flag, val, &o->n_alphas, alpha_item, o->alphas);
      if (rc == EXIT_USAGE)
        fputs("  (width multipliers between 0.1 and 2.0)\n", stderr);
      o->grid_flag = o->grid_flag ? o->grid_flag : "--alpha";
    } else if (!strcmp(flag, "--res")) {
      rc = parse_list(flag, val, &o->n_res, res_item, o->res);
      if (rc == EXIT_USAGE)
        fputs("  (resolutions between 32 and 1024)\n", stderr);
      o->grid_flag = o->grid_flag ? o->grid_flag : "--res";
    } else if (!strcmp(flag, "--model")) {
      o->model_path = val;
    } else if (!strcmp(flag, "--labels")) {
      o->labels_path = val;
    } else if (!strcmp(flag, "--images")) {
      o->images_dir = val;
    } else if (!strcmp(flag, "--labels-csv")) {
      o->labels_csv = val;
    } else if (!strcmp(flag, "--input")) {
      o->input_path = val;
    } else if (!strcmp(flag, "--logits-out")) {
      o->logits_path = val;
    } else if (!strcmp(flag, "--crop")) {
      if (!parse_double(val, 1e-3, 1.0, &d))
        return usage_error(flag, "'%s' is not a fraction in (0, 1]", val);
      o->crop = (float)d;
    } else if (!strcmp(flag, "--kernels")) {
      if (kern_isa_from_name(val, &o->isa) != 0)
        return usage_error(flag, "'%s' is not one of " KERN_ISA_NAMES, val);
    } else if (!strcmp(flag, "--runs")) {
      if (!parse_int(val, 0, 1000000, &o->runs))
        return usage_error(flag, "'%s' is not an integer >= 0", val);
    } else if (!strcmp(flag, "--warmup")) {
      if (!parse_int(val, 0, 1000000, &o->warmup))
        return usage_error(flag, "'%s' is not an integer >= 0", val);
    } else if (!strcmp(flag, "--threads")) {
      if (!parse_int(val, 1, 1024, &o->threads))
        return usage_error(flag, "'%s' is not an integer in 1 .. 1024", val);
    } else if (!strcmp(flag, "--duration")) {
      if (!parse_double(val, 0.0, 3600.0, &d))
        return usage_error(flag, "'%s' is not a number of seconds in "
                           "0 .. 3600", val);
      o->duration_s = d;
    }
    if (rc)
      return rc;
  }
  if (o->model_path && o->grid_flag)
    return usage_error(o->grid_flag, "cannot be combined with --model (the "
                       "file fixes the architecture)");
  if (!o->model_path) {
    static const struct { const char *flag; size_t off; } need_model[] = {
      { "--labels", offsetof(struct options, labels_path) },
      { "--images", offsetof(struct options, images_dir) },
      { "--labels-csv", offsetof(struct options, labels_csv) },
      { "--input", offsetof(struct options, input_path) },
      { "--logits-out", offsetof(struct options, logits_path) },
    };
    for (size_t b = 0; b < sizeof need_model / sizeof *need_model; b++)
      if (*(const char *const *)((const char *)o + need_model[b].off))
        return usage_error(need_model[b].flag, "needs --model (built "
                           "networks have random weights)");
  }
  if (!o->images_dir != !o->labels_csv)
    return usage_error(o->images_dir ? "--images" : "--labels-csv",
                       "--images and --labels-csv go together");
#ifndef SS_BENCH_HAVE_PIPELINE
  if (o->images_dir)
    return usage_error("--images", "this build has no image decoding "
                       "(GStreamer, libjpeg or libspng was not found at "
                       "configure time)");
#endif
  if (o->input_path && !o->logits_path)
    return usage_error("--input", "is only used with --logits-out");
  if (o->samples && !o->json)
    return usage_error("--samples", "needs --json");
  if (o->isa != KERN_ISA_AUTO && !kern_ops_get(o->isa))
    return usage_error("--kernels", "%s kernels are not available in this "
                       "build or on this CPU", kern_isa_name(o->isa));
  return 0;
}

/* ---------------------------------------------------------- random weights */

/* xorshift64*: small, deterministic, the same on every platform. */
static uint32_t
rng_u32(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [-bound, bound): a multiple of 2^-23 of bound, so never a
 * denormal for the bounds used here (>= 1e-3). */
static float
rng_sym(uint64_t *s, float bound)
{
  int32_t q = (int32_t)(rng_u32(s) >> 8) - (1 << 23);
  return (float)q * (bound / (float)(1 << 23));
}

/* He-uniform weights (bound sqrt(6 / fan_in)) keep ReLU6 activations of
 * order one through the whole depth; small biases. */
static void
fill_random_weights(struct ss_model *m, uint64_t seed)
{
  uint64_t s = seed ? seed : 1;
  for (int i = 0; i < m->n_layers; i++) {
    struct model_layer *l = &m->layers[i];
    if (!l->weight)
      continue;
    size_t n = model_layer_weight_count(l);
    size_t fan_in = l->kind == MODEL_LAYER_DWCONV ? (size_t)l->kh * l->kw
                    : l->kind == MODEL_LAYER_FC   ? (size_t)l->cin
                                            : (size_t)l->kh * l->kw * l->cin;
    float bound = sqrtf(6.0f / (float)fan_in);
    for (size_t k = 0; k < n; k++)
      l->weight[k] = rng_sym(&s, bound);
    for (int k = 0; k < l->cout; k++)
      l->bias[k] = rng_sym(&s, 0.1f);
  }
}

static void
fill_random_input(float *x, size_t n, uint64_t seed)
{
  uint64_t s = seed ? seed : 1;
  for (size_t k = 0; k < n; k++)
    x[k] = rng_sym(&s, 1.0f);
}

/* ---------------------------------------------------------- measurements */

static size_t
input_floats(const struct ss_model *m)
{
  return (size_t)model_input_height(m) * model_input_width(m) * 3;
}

static float *
alloc_floats(size_t n)
{
  size_t bytes = (n ? n : 1) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  return aligned_alloc(64, bytes);
}

/* Single-thread latency: warmup untimed runs, then runs timed ones. */
static int
measure_latency(const struct ss_engine *e, const struct options *o,
                struct result *r, struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  struct ss_scratch *s = NULL;
  int rc = engine_scratch_new(e, &s, err);
  if (rc)
    return rc;
  float *in = alloc_floats(input_floats(m));
  float *logits = alloc_floats((size_t)model_num_outputs(m));
  r->lat_ms = calloc((size_t)o->runs, sizeof *r->lat_ms);
  if (!in || !logits || !r->lat_ms) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
    goto out;
  }
  fill_random_input(in, input_floats(m), BENCH_SEED + 1);
  for (int i = 0; i < o->warmup; i++)
    engine_run(e, s, in, logits);
  for (int i = 0; i < o->runs; i++) {
    double t0 = now_s();
    engine_run(e, s, in, logits);
    r->lat_ms[i] = (now_s() - t0) * 1e3;
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

/* Start line of the throughput run: every worker warms up, reports ready
 * and waits for `go`, so that no thread starts its clock while another is
 * still allocating or warming up. `abort` releases them when a thread could
 * not be created. */
struct start_line {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int ready;  /* protected by lock */
  bool go;    /* protected by lock */
  bool abort; /* protected by lock */
};

struct worker {
  pthread_t thread;
  const struct ss_engine *engine;
  struct start_line *line;
  double duration_s;
  struct ss_scratch *scratch;
  float *input, *logits;
  /* results, read after join */
  long count;
  double t_start, t_end;
};

static void *
worker_main(void *arg)
{
  struct worker *w = arg;
  engine_run(w->engine, w->scratch, w->input, w->logits); /* warm */
  pthread_mutex_lock(&w->line->lock);
  w->line->ready++;
  pthread_cond_broadcast(&w->line->cond);
  while (!w->line->go && !w->line->abort)
    pthread_cond_wait(&w->line->cond, &w->line->lock);
  bool abort = w->line->abort;
  pthread_mutex_unlock(&w->line->lock);
  if (abort)
    return NULL;
  w->t_start = now_s();
  double deadline = w->t_start + w->duration_s;
  double t = w->t_start;
  while (t < deadline) {
    engine_run(w->engine, w->scratch, w->input, w->logits);
    w->count++;
    t = now_s();
  }
  w->t_end = t;
  return NULL;
}

/* N independent inferences in parallel for a fixed duration: images/s is the
 * total count over the span from the first start to the last finish. */
static int
measure_throughput(const struct ss_engine *e, const struct options *o,
                   struct result *r, struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  int n = o->threads, started = 0, rc = 0;
  struct start_line line = { .lock = PTHREAD_MUTEX_INITIALIZER,
                             .cond = PTHREAD_COND_INITIALIZER };
  struct worker *w = calloc((size_t)n, sizeof *w);
  if (!w)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    w[i] = (struct worker){ .engine = e, .line = &line,
                            .duration_s = o->duration_s };
    w[i].input = alloc_floats(input_floats(m));
    w[i].logits = alloc_floats((size_t)model_num_outputs(m));
    if (!w[i].input || !w[i].logits) {
      rc = ss_error_set(err, SS_ENOMEM, "out of memory");
      goto out_free;
    }
    rc = engine_scratch_new(e, &w[i].scratch, err);
    if (rc)
      goto out_free;
    fill_random_input(w[i].input, input_floats(m), BENCH_SEED + 2 + i);
  }
  for (; started < n; started++) {
    if (pthread_create(&w[started].thread, NULL, worker_main, &w[started])) {
      rc = ss_error_set(err, SS_ENOMEM, "cannot start thread %d", started);
      break;
    }
  }
  pthread_mutex_lock(&line.lock);
  if (rc)
    line.abort = true;
  else
    while (line.ready < n)
      pthread_cond_wait(&line.cond, &line.lock);
  line.go = true;
  pthread_cond_broadcast(&line.cond);
  pthread_mutex_unlock(&line.lock);

  long total = 0;
  double t0 = INFINITY, t1 = -INFINITY;
  for (int i = 0; i < started; i++) {
    pthread_join(w[i].thread, NULL);
    total += w[i].count;
    t0 = fmin(t0, w[i].t_start);
    t1 = fmax(t1, w[i].t_end);
  }
  if (!rc) {
    r->threads = n;
    r->throughput_ips = t1 > t0 ? (double)total / (t1 - t0) : 0.0;
  }
out_free:
  for (int i = 0; i < n; i++) {
    engine_scratch_free(w[i].scratch);
    free(w[i].input);
    free(w[i].logits);
  }
  free(w);
  return rc;
}

/* Best of trials runs of about ms milliseconds each, in GFLOP/s; 0 when the
 * CPU lacks AVX2/FMA. */
static double
measure_fma_peak_gflops(int trials, double ms)
{
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    return 0.0;
  uint64_t iters = 1u << 14;
  volatile float sink = 0.0f;
  for (;;) { /* calibrate to about ms / 4, then time 4x that */
    double t0 = now_s();
    sink += fma_peak_run(iters);
    if ((now_s() - t0) * 1e3 >= ms / 4 || iters >= (1ull << 40))
      break;
    iters *= 2;
  }
  iters *= 4;
  double best = 0.0;
  for (int t = 0; t < trials; t++) {
    double t0 = now_s();
    sink += fma_peak_run(iters);
    double dt = now_s() - t0;
    best = fmax(best, (double)iters * FMA_PEAK_FLOPS_PER_ITER / dt * 1e-9);
  }
  (void)sink;
  return best;
}

/* The same for the integer engine's instructions (fma-peak.h), in GOP/s:
 * vpmaddwd + vpaddd (AVX2) or vpdpbusd (AVX-VNNI); 0 when the CPU lacks
 * them. */
static double
measure_int_peak_gops(float (*run)(uint64_t), double ops_per_iter,
                      int trials, double ms)
{
  uint64_t iters = 1u << 14;
  volatile float sink = 0.0f;
  for (;;) {
    double t0 = now_s();
    sink += run(iters);
    if ((now_s() - t0) * 1e3 >= ms / 4 || iters >= (1ull << 40))
      break;
    iters *= 2;
  }
  iters *= 4;
  double best = 0.0;
  for (int t = 0; t < trials; t++) {
    double t0 = now_s();
    sink += run(iters);
    double dt = now_s() - t0;
    best = fmax(best, (double)iters * ops_per_iter / dt * 1e-9);
  }
  (void)sink;
  return best;
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

struct peaks {
  double fma;    /* GFLOP/s */
  double madd16; /* GOP/s, 16-bit multiply-add */
  double dpbusd; /* GOP/s, AVX-VNNI; 0 without it */
};

struct profile {
  int n_steps;
  uint64_t *median_ns; /* per step */
};

static int
measure_profile(const struct ss_engine *e, const struct options *o,
                struct profile *p, struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  int steps = engine_num_steps(e);
  int runs = o->runs > 0 ? o->runs : 1;
  struct ss_scratch *s = NULL;
  int rc = engine_scratch_new(e, &s, err);
  if (rc)
    return rc;
  float *in = alloc_floats(input_floats(m));
  float *logits = alloc_floats((size_t)model_num_outputs(m));
  uint64_t *ns = calloc((size_t)steps * runs, sizeof *ns);
  uint64_t *col = calloc((size_t)runs, sizeof *col);
  p->median_ns = calloc((size_t)steps, sizeof *p->median_ns);
  if (!in || !logits || !ns || !col || !p->median_ns) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
    goto out;
  }
  p->n_steps = steps;
  fill_random_input(in, input_floats(m), BENCH_SEED + 1);
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

/* ---------------------------------------------------------- accuracy */

#ifdef SS_BENCH_HAVE_PIPELINE
/* Splits one CSV line into at most max fields (double quotes honoured, ""
 * inside quotes is a quote). Modifies line; returns the field count. */
static int
csv_split(char *line, char **fields, int max)
{
  int n = 0;
  char *p = line;
  while (n < max) {
    char *dst = p;
    fields[n++] = p;
    bool quoted = *p == '"';
    if (quoted)
      p++;
    for (;;) {
      if (quoted && *p == '"' && p[1] == '"') {
        *dst++ = '"';
        p += 2;
      } else if (quoted && *p == '"') {
        quoted = false;
        p++;
      } else if (!*p || *p == '\n' || *p == '\r' || (!quoted && *p == ',')) {
        break;
      } else {
        *dst++ = *p++;
      }
    }
    bool more = *p == ',';
    *dst = '\0';
    if (!more)
      break;
    p++;
  }
  return n;
}

#define CSV_MAX_FIELDS 32

static int
measure_accuracy(const struct ss_engine *e, const struct options *o,
                 struct result *r, struct ss_error *err)
{
  FILE *f = fopen(o->labels_csv, "r");
  if (!f)
    return ss_error_set(err, SS_EIO, "%s: %s", o->labels_csv,
                        strerror(errno));
  GError *gerr = NULL;
  ImageClassifier *c = image_classifier_new(e, &gerr);
  if (!c) {
    int rc = ss_error_set(err, SS_ENOMEM, "classifier: %s",
                          gerr ? gerr->message : "failed");
    g_clear_error(&gerr);
    fclose(f);
    return rc;
  }
  /* As `streamsight classify` and /classify decode: huge JPEGs are
   * DCT-scaled towards the model input (never the dev images). */
  const struct ss_model *m = engine_model(e);
  const ImageDecodeOptions dopts = {
    .target_side = MAX(model_input_width(m), model_input_height(m)),
  };
  char line[4096];
  char *fields[CSV_MAX_FIELDS];
  int col_file = -1, col_class = -1, rc = 0;
  long lineno = 0, top1 = 0, top5 = 0;
  if (!fgets(line, sizeof line, f)) {
    rc = ss_error_set(err, SS_EFORMAT, "%s: empty file", o->labels_csv);
    goto out;
  }
  lineno++;
  int nf = csv_split(line, fields, CSV_MAX_FIELDS);
  for (int i = 0; i < nf; i++) {
    if (!strcmp(fields[i], "file"))
      col_file = i;
    else if (!strcmp(fields[i], "class_index_0_999"))
      col_class = i;
  }
  if (col_file < 0 || col_class < 0) {
    rc = ss_error_set(err, SS_EFORMAT, "%s: header lacks the columns 'file' "
                      "and 'class_index_0_999'", o->labels_csv);
    goto out;
  }
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '\n' || line[0] == '\r' || !line[0])
      continue;
    nf = csv_split(line, fields, CSV_MAX_FIELDS);
    int cls;
    if (nf <= col_file || nf <= col_class ||
        !parse_int(fields[col_class], 0, 999, &cls)) {
      rc = ss_error_set(err, SS_EFORMAT, "%s:%ld: bad row", o->labels_csv,
                        lineno);
      goto out;
    }
    char *path = g_build_filename(o->images_dir, fields[col_file], NULL);
    RgbImage img = { 0 };
    if (!image_decode_file_opts(path, &dopts, &img, &gerr)) {
      const char *msg = gerr ? gerr->message : "cannot decode";
      if (strstr(msg, path))
        fprintf(stderr, "streamsight-bench: %s (skipped)\n", msg);
      else
        fprintf(stderr, "streamsight-bench: %s: %s (skipped)\n", path, msg);
      g_clear_error(&gerr);
      g_free(path);
      r->images_failed++;
      continue;
    }
    struct prediction pred[TOP_K];
    int k = image_classifier_run(c, &img, o->crop, TOP_K, pred);
    rgb_image_clear(&img);
    g_free(path);
    r->images++;
    for (int i = 0; i < k; i++) {
      if (pred[i].index == cls) {
        top1 += i == 0;
        top5++;
        break;
      }
    }
  }
  if (r->images == 0) {
    rc = ss_error_set(err, SS_EINVAL, "%s: no image could be classified",
                      o->labels_csv);
    goto out;
  }
  r->top1 = (double)top1 / r->images;
  r->top5 = (double)top5 / r->images;
out:
  image_classifier_free(c);
  fclose(f);
  return rc;
}
#endif

/* ---------------------------------------------------------- logits dump */

static int
dump_logits(const struct ss_engine *e, const struct options *o,
            struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  size_t n_in = input_floats(m), n_out = (size_t)model_num_outputs(m);
  struct ss_scratch *s = NULL;
  int rc = engine_scratch_new(e, &s, err);
  if (rc)
    return rc;
  float *in = alloc_floats(n_in);
  float *logits = alloc_floats(n_out);
  FILE *f = NULL;
  if (!in || !logits) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
    goto out;
  }
  if (o->input_path) {
    f = fopen(o->input_path, "rb");
    if (!f) {
      rc = ss_error_set(err, SS_EIO, "%s: %s", o->input_path,
                        strerror(errno));
      goto out;
    }
    size_t got = fread(in, sizeof(float), n_in, f);
    int extra = fgetc(f);
    fclose(f);
    f = NULL;
    if (got != n_in || extra != EOF) {
      rc = ss_error_set(err, SS_EFORMAT, "%s: expected exactly %zu float32 "
                        "values (%dx%dx3 NHWC)", o->input_path, n_in,
                        model_input_height(m), model_input_width(m));
      goto out;
    }
  } else {
    fill_random_input(in, n_in, BENCH_SEED + 1);
  }
  engine_run(e, s, in, logits);
  f = fopen(o->logits_path, "wb");
  if (!f || fwrite(logits, sizeof(float), n_out, f) != n_out) {
    rc = ss_error_set(err, SS_EIO, "%s: %s", o->logits_path, strerror(errno));
    goto out;
  }
out:
  if (f && fclose(f) && !rc)
    rc = ss_error_set(err, SS_EIO, "%s: %s", o->logits_path, strerror(errno));
  free(in);
  free(logits);
  engine_scratch_free(s);
  return rc;
}

/* ---------------------------------------------------------- output */

static void
json_string(const char *s)
{
  putchar('"');
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

/* v with `decimals` digits after the point, or null when not measured. */
static void
json_number_or_null(double v, bool have, int decimals)
{
  if (have && isfinite(v))
    printf("%.*f", decimals, v);
  else
    fputs("null", stdout);
}

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

static void
print_profile_table(const struct ss_engine *e, const struct profile *p,
                    double peak)
{
  double total_ns = 0, max_gflops = 0;
  uint64_t total_macs = 0;
  printf("  %-3s %-24s %-7s %-26s %9s %9s %8s %6s\n", "#", "step", "kind",
         "shape (in -> out, k/s)", "MMACs", "ms",
         strcmp(engine_arith_name(e), "integer") ? "GFLOP/s" : "GOP/s",
         "%peak");
  for (int i = 0; i < p->n_steps; i++) {
    struct engine_step_info si;
    engine_step_info(e, i, &si);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d->%dx%dx%d %dx%d/%d%s", si.in_h,
             si.in_w, si.in_c, si.out_h, si.out_w, si.out_c, si.kh, si.kw,
             si.stride, si.fused_add ? "+add" : "");
    double ns = (double)p->median_ns[i];
    double gflops = ns > 0 ? 2.0 * (double)si.macs / ns : 0.0;
    total_ns += ns;
    total_macs += si.macs;
    max_gflops = fmax(max_gflops, gflops);
    printf("  %-3d %-24.24s %-7s %-26s %9.2f %9.3f %8.1f ", i, si.name,
           si.kind, shape, (double)si.macs / 1e6, ns / 1e6, gflops);
    if (peak > 0)
      printf("%5.1f%%\n", 100.0 * gflops / peak);
    else
      printf("%6s\n", "-");
  }
  double g = total_ns > 0 ? 2.0 * (double)total_macs / total_ns : 0.0;
  if (peak > 0 && max_gflops > peak)
    printf("  (a step above 100%% of peak: other load disturbed the peak "
           "measurement or the timings; measure on an idle machine)\n");
  printf("  %-3s %-24s %-7s %-26s %9.2f %9.3f %8.1f ", "", "sum of steps", "",
         "", (double)total_macs / 1e6, total_ns / 1e6, g);
  if (peak > 0)
    printf("%5.1f%%\n", 100.0 * g / peak);
  else
    printf("%6s\n", "-");
}

/* The peak a network's rate is compared with: the FMA peak for the float
 * engine, the 16-bit multiply-add peak for the integer one. */
static double
engine_peak(const struct ss_engine *e, const struct peaks *pk)
{
  return strcmp(engine_arith_name(e), "integer") ? pk->fma : pk->madd16;
}

static void
print_json(const struct config_desc *c, const struct options *o,
           const struct result *r, const struct ss_engine *e,
           const struct profile *p, const struct peaks *pk)
{
  const double peak = engine_peak(e, pk);
  fputs("{\"arch\": ", stdout);
  json_string(c->arch);
  fputs(", \"name\": ", stdout);
  json_string(c->name);
  fputs(", \"alpha\": ", stdout);
  json_number_or_null(c->alpha, c->alpha > 0, 4);
  printf(", \"resolution\": %d, \"kernels\": ", c->resolution);
  json_string(c->kernels);
  fputs(", \"engine\": ", stdout);
  json_string(engine_arith_name(e));
  printf(", \"macs\": %llu, \"params\": %llu, \"quantized_weights\": %s",
         (unsigned long long)c->macs, (unsigned long long)c->params,
         c->quantized ? "true" : "false");
  printf(", \"scratch_bytes\": %zu, \"runs\": %d", c->scratch_bytes, r->n_lat);
  fputs(", \"latency_ms\": {\"median\": ", stdout);
  json_number_or_null(r->median_ms, r->n_lat > 0, 4);
  fputs(", \"p90\": ", stdout);
  json_number_or_null(r->p90_ms, r->n_lat > 0, 4);
  fputs("}", stdout);
  if (o->samples) {
    fputs(", \"latency_samples_ms\": [", stdout);
    for (int i = 0; i < r->n_lat; i++)
      printf("%s%.4f", i ? ", " : "", r->lat_ms[i]);
    fputs("]", stdout);
  }
  fputs(", \"threads\": ", stdout);
  json_number_or_null(r->threads, r->threads > 0, 0);
  fputs(", \"throughput_ips\": ", stdout);
  json_number_or_null(r->throughput_ips, r->threads > 0, 2);
  fputs(", \"top1\": ", stdout);
  json_number_or_null(r->top1, r->images > 0, 4);
  fputs(", \"top5\": ", stdout);
  json_number_or_null(r->top5, r->images > 0, 4);
  if (r->images > 0 || r->images_failed > 0)
    printf(", \"images\": %d, \"images_failed\": %d", r->images,
           r->images_failed);
  fputs(", \"fma_peak_gflops\": ", stdout);
  json_number_or_null(pk->fma, o->profile && pk->fma > 0, 2);
  fputs(", \"madd16_peak_gops\": ", stdout);
  json_number_or_null(pk->madd16, o->profile && pk->madd16 > 0, 2);
  fputs(", \"dpbusd_peak_gops\": ", stdout);
  json_number_or_null(pk->dpbusd, o->profile && pk->dpbusd > 0, 2);
  if (o->profile && p->n_steps > 0) {
    double total_ns = 0;
    fputs(", \"profile\": [", stdout);
    for (int i = 0; i < p->n_steps; i++) {
      struct engine_step_info si;
      engine_step_info(e, i, &si);
      double ns = (double)p->median_ns[i];
      total_ns += ns;
      printf("%s{\"step\": %d, \"name\": ", i ? ", " : "", i);
      json_string(si.name);
      fputs(", \"kind\": ", stdout);
      json_string(si.kind);
      printf(", \"in\": [%d, %d, %d], \"out\": [%d, %d, %d], \"kernel\": "
             "[%d, %d], \"stride\": %d, \"fused_add\": %s, \"macs\": %llu, "
             "\"time_ms\": %.5f, \"gflops\": ",
             si.in_h, si.in_w, si.in_c, si.out_h, si.out_w, si.out_c, si.kh,
             si.kw, si.stride, si.fused_add ? "true" : "false",
             (unsigned long long)si.macs, ns / 1e6);
      json_number_or_null(ns > 0 ? 2.0 * (double)si.macs / ns : 0, ns > 0,
                          2);
      fputs("}", stdout);
    }
    printf("], \"profile_total_ms\": %.4f", total_ns / 1e6);
    fputs(", \"peak_share\": ", stdout);
    /* The whole network's achieved rate (2 MACs / median latency) over the
     * measured single-core peak. */
    bool have = peak > 0 && r->n_lat > 0 && r->median_ms > 0;
    json_number_or_null(have ? 2.0 * (double)c->macs / (r->median_ms * 1e6)
                                   / peak : 0, have, 4);
  }
  fputs("}\n", stdout);
}

static void
print_human_header(void)
{
  printf("%-14s %-26s %5s %5s %-7s %8s %8s %9s %9s %4s %9s %7s %7s\n", "arch",
         "name", "alpha", "res", "kernels", "MMACs", "Mparams", "med ms",
         "p90 ms", "thr", "img/s", "top1", "top5");
}

static void
print_human(const struct config_desc *c, const struct options *o,
            const struct result *r, const struct ss_engine *e,
            const struct profile *p, const struct peaks *pk)
{
  const double peak = engine_peak(e, pk);
  const bool integer = !strcmp(engine_arith_name(e), "integer");
  printf("%-14s %-26.26s ", c->arch, c->name);
  if (c->alpha > 0)
    printf("%5.2f ", (double)c->alpha);
  else
    printf("%5s ", "?");
  printf("%5d %-7s %8.1f %8.3f ", c->resolution, c->kernels,
         (double)c->macs / 1e6, (double)c->params / 1e6);
  if (r->n_lat > 0)
    printf("%9.3f %9.3f ", r->median_ms, r->p90_ms);
  else
    printf("%9s %9s ", "-", "-");
  if (r->threads > 0)
    printf("%4d %9.1f ", r->threads, r->throughput_ips);
  else
    printf("%4s %9s ", "-", "-");
  if (r->images > 0)
    printf("%6.1f%% %6.1f%%\n", 100 * r->top1, 100 * r->top5);
  else
    printf("%7s %7s\n", "-", "-");
  if (r->images_failed > 0)
    printf("  (%d images could not be decoded and were skipped)\n",
           r->images_failed);
  if (o->profile) {
    print_profile_table(e, p, peak);
    if (peak > 0 && r->n_lat > 0 && r->median_ms > 0) {
      double g = 2.0 * (double)c->macs / (r->median_ms * 1e6);
      if (!integer)
        printf("  whole network: %.1f GFLOP/s at the median latency = "
               "%.1f%% of the measured single-core FMA peak (%.1f "
               "GFLOP/s)\n",
               g, 100.0 * g / peak, peak);
      else
        printf("  whole network: %.1f integer GOP/s at the median latency "
               "= %.1f%% of the measured single-core 16-bit multiply-add "
               "peak (vpmaddwd+vpaddd, %.1f GOP/s)\n",
               g, 100.0 * g / peak, peak);
      if (integer && pk->dpbusd > 0)
        printf("  (%.1f%% of the AVX-VNNI vpdpbusd peak, %.1f GOP/s; FMA "
               "peak %.1f GFLOP/s)\n",
               100.0 * g / pk->dpbusd, pk->dpbusd, pk->fma);
    } else if (peak <= 0) {
      printf("  (no AVX2/FMA on this CPU: peak not measured)\n");
    }
  }
}

static void
print_preamble(const struct options *o)
{
  if (o->json)
    return;
  if (o->model_path)
    printf("# %s\n", o->fp32 ? "--fp32: the float engine (quantised "
                               "weights dequantised at load)"
                             : "quantised TFLite files run on the integer "
                               "engine (kernels i8-*), others in float");
  printf("# latency: %d timed runs after %d warm-up, 1 thread; throughput: "
         "%d threads for %.1f s\n", o->runs, o->warmup, o->threads,
         o->duration_s);
  print_human_header();
}

/* ---------------------------------------------------------- one config */

/* The kernels column: the ISA, prefixed "i8-" on the integer engine. */
static const char *
kernels_label(const struct ss_engine *e)
{
  static char buf[2][32]; /* one per arithmetic: configs run one by one */
  bool integer = !strcmp(engine_arith_name(e), "integer");
  char *b = buf[integer];
  snprintf(b, sizeof buf[0], "%s%s", integer ? "i8-" : "",
           engine_isa_name(e));
  return b;
}

static int
run_config(struct ss_model *m, const struct options *o,
           const struct peaks *pk, struct ss_error *err)
{
  struct ss_engine *e = NULL;
  struct result r = { .top1 = NAN, .top5 = NAN };
  struct profile p = { 0 };
  const struct engine_options eo = {
    .isa = o->isa, .fuse_blocks = 1,
    .arith = o->fp32 ? ENGINE_ARITH_FLOAT : ENGINE_ARITH_AUTO,
  };
  int rc = engine_new_opts(m, &eo, &e, err);
  if (rc)
    return rc;
  struct config_desc c = {
    .arch = model_arch_name(model_arch(m)), .name = model_name(m),
    .alpha = model_alpha(m), .resolution = model_input_width(m),
    .kernels = kernels_label(e), .macs = model_macs(m),
    .params = model_params(m), .quantized = model_is_quantized(m),
    .scratch_bytes = engine_scratch_bytes(e),
  };
  if (o->logits_path) {
    rc = dump_logits(e, o, err);
    if (rc)
      goto out;
  }
  if (o->runs > 0) {
    rc = measure_latency(e, o, &r, err);
    if (rc)
      goto out;
  }
  if (o->duration_s > 0) {
    rc = measure_throughput(e, o, &r, err);
    if (rc)
      goto out;
  }
  if (o->profile) {
    rc = measure_profile(e, o, &p, err);
    if (rc)
      goto out;
  }
#ifdef SS_BENCH_HAVE_PIPELINE
  if (o->images_dir) {
    rc = measure_accuracy(e, o, &r, err);
    if (rc)
      goto out;
  }
#endif
  if (o->json)
    print_json(&c, o, &r, e, &p, pk);
  else
    print_human(&c, o, &r, e, &p, pk);
  fflush(stdout);
out:
  free(r.lat_ms);
  free(p.median_ns);
  engine_free(e);
  return rc;
}

static int run_all(const struct options *o);

int
main(int argc, char **argv)
{
  struct options o;
  kern_init();
  int rc = parse_args(argc, argv, &o);
  if (rc < 0)
    return 0; /* --help */
  if (rc)
    return rc;
  /* Images are decoded with libjpeg-turbo/libspng: no GStreamer here. */
  return run_all(&o);
}

/* Every configuration of the command line; returns the exit status. */
static int
run_all(const struct options *op)
{
  const struct options o = *op;
  int rc;
  /* Best of many short trials: on a shared machine a 2 ms window without a
   * context switch is far likelier than a 100 ms one. */
  struct peaks pk = { 0 };
  if (o.profile) {
    pk.fma = measure_fma_peak_gflops(FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
    if (pk.fma > 0)
      pk.madd16 = measure_int_peak_gops(madd16_peak_run,
                                        MADD16_PEAK_OPS_PER_ITER,
                                        FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
    if (pk.fma > 0 && cpu_has_avxvnni())
      pk.dpbusd = measure_int_peak_gops(dpbusd_peak_run,
                                        DPBUSD_PEAK_OPS_PER_ITER,
                                        FMA_PEAK_TRIALS, FMA_PEAK_TRIAL_MS);
  }
  const struct peaks *peak = &pk;
  struct ss_error err = { 0 };
  if (o.model_path) {
    struct ss_model *m = NULL;
    rc = model_load(o.model_path, &m, &err);
    if (!rc && o.labels_path)
      rc = model_set_labels_file(m, o.labels_path, &err);
    if (!rc) {
      print_preamble(&o);
      rc = run_config(m, &o, peak, &err);
    }
    model_unref(m);
    if (rc) {
      const char *msg = err.message[0] ? err.message : ss_error_name(rc);
      if (strstr(msg, o.model_path))
        fprintf(stderr, "streamsight-bench: %s\n", msg);
      else
        fprintf(stderr, "streamsight-bench: %s: %s\n", o.model_path, msg);
      return EXIT_FAIL;
    }
    return 0;
  }
  print_preamble(&o);
  for (int a = 0; a < o.n_archs; a++) {
    for (int al = 0; al < o.n_alphas; al++) {
      for (int re = 0; re < o.n_res; re++) {
        struct ss_model *m = NULL;
        rc = mobilenet_build(o.archs[a], o.alphas[al], o.res[re],
                             MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err);
        if (!rc) {
          fill_random_weights(m, BENCH_SEED);
          rc = run_config(m, &o, peak, &err);
        }
        model_unref(m);
        if (rc) {
          fprintf(stderr, "streamsight-bench: %s %g/%d: %s\n",
                  model_arch_name(o.archs[a]), (double)o.alphas[al],
                  o.res[re], err.message[0] ? err.message
                                            : ss_error_name(rc));
          return EXIT_FAIL;
        }
      }
    }
  }
  return 0;
}
