/* streamsight — helper of bench/streams.sh: one inference's CPU when
 * inferences come at a camera's pace rather than back to back.
 *
 *   streams-infer-paced MODEL [--runs N] [--interval-ms MS] [--fp32] [--json]
 *
 * Loads MODEL (.tflite or .safetensors) as the server does (a quantised
 * file on the integer engine, or with --fp32 on the float one, as a model's
 * `engine: "float"` in the config), then runs the
 * engine on one thread N times back to back (what streamsight-bench's unit
 * cost measures) and N times at one run per MS milliseconds (the server's
 * situation at 1 stream: one inference per 66.7 ms camera frame, the core
 * idle or decoding in between), and prints the mean thread CPU time of one
 * engine_run() in each case. The difference is what idling between
 * inferences costs the engine (caches and TLBs refilled, the vCPU
 * descheduled), which the server pays and a hot loop does not. Inputs are
 * a fixed normalised ramp; the figures do not depend on pixel values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "error.h"
#include "kernels/kernels.h"
#include "model.h"

#define DEFAULT_RUNS 60
#define DEFAULT_INTERVAL_MS (1000.0 / 15.0) /* the bench cameras' 15 fps */
#define WARMUP_RUNS 3

static double
thread_cpu_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double
mono_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Sleeps until CLOCK_MONOTONIC reaches due_ms (no-op if past). */
static void
sleep_until_ms(double due_ms)
{
  struct timespec t;
  t.tv_sec = (time_t)(due_ms / 1e3);
  t.tv_nsec = (long)((due_ms - (double)t.tv_sec * 1e3) * 1e6);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
    ;
}

/* Mean thread CPU ms of one engine_run over runs; interval_ms 0 = back to
 * back, else one run per interval on a fixed schedule. */
static double
measure(const struct ss_engine *e, struct ss_scratch *s, const float *input,
        float *logits, int runs, double interval_ms)
{
  double total = 0.0, due = mono_ms();
  for (int r = 0; r < runs; r++) {
    if (interval_ms > 0.0) {
      due += interval_ms;
      sleep_until_ms(due);
    }
    double t0 = thread_cpu_ms();
    engine_run(e, s, input, logits);
    total += thread_cpu_ms() - t0;
  }
  return total / runs;
}

static int
usage(const char *argv0, int rc)
{
  fprintf(rc ? stderr : stdout,
          "usage: %s MODEL [--runs N] [--interval-ms MS] [--fp32] [--json]\n"
          "  mean thread CPU of one inference back to back and at one run\n"
          "  per MS ms (default %d runs, %.1f ms); --fp32: a quantised\n"
          "  file on the float engine instead of the integer one\n",
          argv0, DEFAULT_RUNS, DEFAULT_INTERVAL_MS);
  return rc;
}

int
main(int argc, char **argv)
{
  const char *path = NULL;
  int runs = DEFAULT_RUNS, json = 0, fp32 = 0;
  double interval_ms = DEFAULT_INTERVAL_MS;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc) {
      interval_ms = atof(argv[++i]);
    } else if (!strcmp(argv[i], "--fp32")) {
      fp32 = 1;
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      return usage(argv[0], 0);
    } else if (argv[i][0] != '-' && !path) {
      path = argv[i];
    } else {
      return usage(argv[0], 2);
    }
  }
  if (!path || runs < 1 || !(interval_ms > 0.0) || interval_ms > 10000.0)
    return usage(argv[0], 2);

  struct ss_error err;
  struct ss_model *m = NULL;
  struct ss_engine *e = NULL;
  struct ss_scratch *s = NULL;
  float *input = NULL, *logits = NULL;
  int rc = 1;

  kern_init();
  if (model_load(path, &m, &err) != 0) {
    fprintf(stderr, "%s: %s\n", path, err.message);
    return 1;
  }
  const struct engine_options eo = {
    .isa = KERN_ISA_AUTO, .fuse_blocks = 1,
    .arith = fp32 ? ENGINE_ARITH_FLOAT : ENGINE_ARITH_AUTO,
  };
  if (engine_new_opts(m, &eo, &e, &err) != 0 ||
      engine_scratch_new(e, &s, &err) != 0) {
    fprintf(stderr, "engine: %s\n", err.message);
    goto out;
  }
  size_t n_in = (size_t)model_input_width(m) * model_input_height(m) * 3;
  input = malloc(n_in * sizeof *input);
  logits = malloc((size_t)model_num_outputs(m) * sizeof *logits);
  if (!input || !logits) {
    fprintf(stderr, "out of memory\n");
    goto out;
  }
  for (size_t i = 0; i < n_in; i++)
    input[i] = (float)(i % 256) / 127.5f - 1.0f;

  for (int r = 0; r < WARMUP_RUNS; r++)
    engine_run(e, s, input, logits);
  double hot = measure(e, s, input, logits, runs, 0.0);
  double paced = measure(e, s, input, logits, runs, interval_ms);
  if (json)
    printf("{\"runs\": %d, \"interval_ms\": %.3f, \"hot_cpu_ms\": %.3f, "
           "\"paced_cpu_ms\": %.3f}\n",
           runs, interval_ms, hot, paced);
  else
    printf("inference CPU: %.3f ms back to back, %.3f ms at one run per "
           "%.1f ms (%d runs each)\n",
           hot, paced, interval_ms, runs);
  rc = 0;
out:
  free(input);
  free(logits);
  engine_scratch_free(s);
  engine_free(e);
  model_unref(m);
  return rc;
}
