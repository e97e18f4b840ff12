/* streamsight-bench — the throughput run (see bench.h): --threads
 * independent inferences, each with its own scratch, input and logits,
 * started together and run for --duration seconds.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bench.h"

/* ---------------------------------------------------------- throughput */

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
  w->t_start = bench_now_s();
  double deadline = w->t_start + w->duration_s;
  double t = w->t_start;
  while (t < deadline) {
    engine_run(w->engine, w->scratch, w->input, w->logits);
    w->count++;
    t = bench_now_s();
  }
  w->t_end = t;
  return NULL;
}

/* N independent inferences in parallel for a fixed duration: images/s is the
 * total count over the span from the first start to the last finish. */
int
bench_measure_throughput(const struct ss_engine *e,
                         const struct options *o, struct result *r,
                         struct ss_error *err)
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
    w[i].input = bench_alloc_floats(bench_input_floats(m));
    w[i].logits = bench_alloc_floats((size_t)model_num_outputs(m));
    if (!w[i].input || !w[i].logits) {
      rc = ss_error_set(err, SS_ENOMEM, "out of memory");
      goto out_free;
    }
    rc = engine_scratch_new(e, &w[i].scratch, err);
    if (rc)
      goto out_free;
    bench_fill_random_input(w[i].input, bench_input_floats(m),
                            BENCH_SEED + 2 + i);
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
