/* streamsight-bench — the command line (see bench.h): --help, and every
 * option checked with a message naming it (exit status 2).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cpu-count.h"

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

bool
bench_parse_int(const char *s, int lo, int hi, int *out)
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
    if (n >= BENCH_MAX_LIST)
      return usage_error(flag, "more than %d entries", BENCH_MAX_LIST);
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
  return bench_parse_int(tok, 32, 1024, &((int *)ctx)[idx]);
}

/* Splits "--flag=value" into flag and *val, or copies "--flag" (*val
 * NULL). Returns 0 or the usage exit code. */
static int
split_flag(const char *arg, char *flag, size_t flag_size, const char **val)
{
  const char *eq = strchr(arg, '=');
  *val = NULL;
  if (!eq) {
    snprintf(flag, flag_size, "%s", arg);
    return 0;
  }
  size_t len = (size_t)(eq - arg);
  if (len >= flag_size)
    return usage_error(arg, "unknown option");
  memcpy(flag, arg, len);
  flag[len] = '\0';
  *val = eq + 1;
  return 0;
}

static bool
is_bool_flag(const char *flag)
{
  static const char *const bools[] = { "--fp32", "--json", "--profile",
                                       "--samples" };
  for (size_t b = 0; b < sizeof bools / sizeof *bools; b++)
    if (!strcmp(flag, bools[b]))
      return true;
  return false;
}

/* Sets a flag of is_bool_flag. */
static void
set_bool_flag(struct options *o, const char *flag)
{
  if (!strcmp(flag, "--fp32"))
    o->fp32 = true;
  else if (!strcmp(flag, "--json"))
    o->json = true;
  else if (!strcmp(flag, "--profile"))
    o->profile = true;
  else
    o->samples = true;
}

static bool
is_valued_flag(const char *flag)
{
  static const char *const valued[] = {
    "--arch", "--alpha", "--res", "--model", "--labels", "--images",
    "--labels-csv", "--crop", "--kernels", "--runs", "--warmup",
    "--threads", "--duration", "--input", "--logits-out",
  };
  for (size_t b = 0; b < sizeof valued / sizeof *valued; b++)
    if (!strcmp(flag, valued[b]))
      return true;
  return false;
}

/* Sets a flag of is_valued_flag from its value. The grid lists print a
 * hint of their valid entries after a usage error, and the first of them
 * given is the one named if --model comes too. Returns 0 or the usage exit
 * code. */
static int
set_valued_flag(struct options *o, const char *flag, const char *val)
{
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
    if (!bench_parse_int(val, 0, 1000000, &o->runs))
      return usage_error(flag, "'%s' is not an integer >= 0", val);
  } else if (!strcmp(flag, "--warmup")) {
    if (!bench_parse_int(val, 0, 1000000, &o->warmup))
      return usage_error(flag, "'%s' is not an integer >= 0", val);
  } else if (!strcmp(flag, "--threads")) {
    if (!bench_parse_int(val, 1, 1024, &o->threads))
      return usage_error(flag, "'%s' is not an integer in 1 .. 1024", val);
  } else if (!strcmp(flag, "--duration")) {
    if (!parse_double(val, 0.0, 3600.0, &d))
      return usage_error(flag, "'%s' is not a number of seconds in "
                         "0 .. 3600", val);
    o->duration_s = d;
  }
  return rc;
}

/* The checks between options, after all of them are read. Returns 0 or
 * the usage exit code. */
static int
check_option_combinations(const struct options *o)
{
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

/* Returns 0, or EXIT_USAGE after printing a message naming the flag; -1 when
 * --help was printed. */
int
bench_parse_args(int argc, char **argv, struct options *o)
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
    const char *val;
    int rc = split_flag(arg, flag, sizeof flag, &val);
    if (rc)
      return rc;
    if (is_bool_flag(flag)) {
      if (val)
        return usage_error(flag, "takes no value");
      set_bool_flag(o, flag);
      continue;
    }
    if (!is_valued_flag(flag))
      return usage_error(flag, "unknown option");
    if (!val) {
      if (i + 1 >= argc)
        return usage_error(flag, "needs a value");
      val = argv[++i];
    }
    if ((rc = set_valued_flag(o, flag, val)) != 0)
      return rc;
  }
  return check_option_combinations(o);
}
