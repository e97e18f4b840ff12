/* streamsight-bench — output (see bench.h): one table row per
 * configuration (with --profile, the per-step table after it) or one JSON
 * object a line (--json). bench/compare.py, bench/streams* and test-bench
 * parse both: keep the columns and keys.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

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
 * engine; for the integer one, the peak of the instruction its kernels
 * multiply with (a VNNI table does 2-4x the 16-bit multiply-add's work per
 * instruction, so against that peak its steps would read 200-600%). */
struct peak_ref {
  double gops;
  const char *key;  /* JSON "peak_kind" */
  const char *what; /* for people */
};

static struct peak_ref
engine_peak(const struct ss_engine *e, const char *kernels,
            const struct peaks *pk)
{
  if (strcmp(engine_arith_name(e), "integer"))
    return (struct peak_ref){ pk->fma, "fma", "FMA" };
  if (kernels && !strcmp(kernels, "i8-avx512vnni") && pk->dpbusd512 > 0)
    return (struct peak_ref){ pk->dpbusd512, "dpbusd512",
                              "AVX-512 VNNI vpdpbusd zmm" };
  if (kernels && !strcmp(kernels, "i8-avxvnni") && pk->dpbusd > 0)
    return (struct peak_ref){ pk->dpbusd, "dpbusd", "AVX-VNNI vpdpbusd" };
  return (struct peak_ref){ pk->madd16, "madd16",
                            "16-bit multiply-add (vpmaddwd+vpaddd)" };
}

void
bench_print_json(const struct config_desc *c, const struct options *o,
                 const struct result *r, const struct ss_engine *e,
                 const struct profile *p, const struct peaks *pk)
{
  const struct peak_ref ref = engine_peak(e, c->kernels, pk);
  const double peak = ref.gops;
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
  fputs(", \"dpbusd512_peak_gops\": ", stdout);
  json_number_or_null(pk->dpbusd512, o->profile && pk->dpbusd512 > 0, 2);
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
    printf(", \"peak_kind\": \"%s\"", ref.key);
    fputs(", \"peak_share\": ", stdout);
    /* The whole network's achieved rate (2 MACs / median latency) over the
     * measured single-core peak of peak_kind. */
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

void
bench_print_human(const struct config_desc *c, const struct options *o,
                  const struct result *r, const struct ss_engine *e,
                  const struct profile *p, const struct peaks *pk)
{
  const struct peak_ref ref = engine_peak(e, c->kernels, pk);
  const double peak = ref.gops;
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
    if (peak > 0)
      printf("  (%%peak: of the measured single-core %s peak, %.1f %s)\n",
             ref.what, peak, integer ? "GOP/s" : "GFLOP/s");
    if (peak > 0 && r->n_lat > 0 && r->median_ms > 0) {
      double g = 2.0 * (double)c->macs / (r->median_ms * 1e6);
      if (!integer)
        printf("  whole network: %.1f GFLOP/s at the median latency = "
               "%.1f%% of the measured single-core FMA peak (%.1f "
               "GFLOP/s)\n",
               g, 100.0 * g / peak, peak);
      else if (pk->madd16 > 0)
        printf("  whole network: %.1f integer GOP/s at the median latency "
               "= %.1f%% of the measured single-core 16-bit multiply-add "
               "peak (vpmaddwd+vpaddd, %.1f GOP/s)\n",
               g, 100.0 * g / pk->madd16, pk->madd16);
      if (integer && pk->dpbusd > 0)
        printf("  (%.1f%% of the AVX-VNNI vpdpbusd peak, %.1f GOP/s; FMA "
               "peak %.1f GFLOP/s)\n",
               100.0 * g / pk->dpbusd, pk->dpbusd, pk->fma);
      if (integer && pk->dpbusd512 > 0)
        printf("  (%.1f%% of the AVX-512 VNNI vpdpbusd zmm peak, %.1f "
               "GOP/s)\n",
               100.0 * g / pk->dpbusd512, pk->dpbusd512);
    } else if (peak <= 0) {
      printf("  (no AVX2/FMA on this CPU: peak not measured)\n");
    }
  }
}

void
bench_print_preamble(const struct options *o)
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
