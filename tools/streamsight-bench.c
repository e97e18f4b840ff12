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
 * Built networks get deterministic uniform random weights (bench-random.c),
 * so a run is repeatable. This file runs the configurations; bench.h says
 * which file does what.
 *
 * Exit status: 0 success, 1 a model/engine/IO failure, 2 a bad command line.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mobilenet.h"

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
    rc = bench_dump_logits(e, o, err);
    if (rc)
      goto out;
  }
  if (o->runs > 0) {
    rc = bench_measure_latency(e, o, &r, err);
    if (rc)
      goto out;
  }
  if (o->duration_s > 0) {
    rc = bench_measure_throughput(e, o, &r, err);
    if (rc)
      goto out;
  }
  if (o->profile) {
    rc = bench_measure_profile(e, o, &p, err);
    if (rc)
      goto out;
  }
#ifdef SS_BENCH_HAVE_PIPELINE
  if (o->images_dir) {
    rc = bench_measure_accuracy(e, o, &r, err);
    if (rc)
      goto out;
  }
#endif
  if (o->json)
    bench_print_json(&c, o, &r, e, &p, pk);
  else
    bench_print_human(&c, o, &r, e, &p, pk);
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
  int rc = bench_parse_args(argc, argv, &o);
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
  struct peaks pk = { 0 };
  if (o.profile)
    bench_measure_peaks(&pk);
  const struct peaks *peak = &pk;
  struct ss_error err = { 0 };
  if (o.model_path) {
    struct ss_model *m = NULL;
    rc = model_load(o.model_path, &m, &err);
    if (!rc && o.labels_path)
      rc = model_set_labels_file(m, o.labels_path, &err);
    if (!rc) {
      bench_print_preamble(&o);
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
  bench_print_preamble(&o);
  for (int a = 0; a < o.n_archs; a++) {
    for (int al = 0; al < o.n_alphas; al++) {
      for (int re = 0; re < o.n_res; re++) {
        struct ss_model *m = NULL;
        rc = mobilenet_build(o.archs[a], o.alphas[al], o.res[re],
                             MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err);
        if (!rc) {
          bench_fill_random_weights(m, BENCH_SEED);
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
