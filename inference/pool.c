/* streamsight — the inference pool (see pool.h).
 *
 * One mutex guards the queue and the pool's counters; workers sleep on a
 * condition variable while the queue is empty. The mutex is never held while
 * a job runs or while done() is called. Each worker owns a scratch arena and
 * a logits buffer allocated once at start; its struct is aligned to a cache
 * line so that one worker's hot fields never share a line with another's.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_CACHE_LINE 64

struct pool_worker {
  alignas(POOL_CACHE_LINE) struct ss_pool *pool;
  int index;
  pthread_t thread;
  int started;               /* pthread_create succeeded */
  struct ss_scratch *scratch; /* owned, used by this worker only */
  float *logits;             /* owned, model_num_outputs floats */
  float *features;           /* owned, engine_feature_len floats, or NULL */
};

struct ss_pool {
  const struct ss_engine *engine; /* borrowed */
  const struct ss_model *model;   /* borrowed from the engine */
  int n_threads;
  int capacity;

  /* lock protects everything below it. */
  pthread_mutex_t lock;
  pthread_cond_t not_empty;
  struct pool_job *head, *tail; /* FIFO of waiting jobs */
  int depth;
  int busy;       /* workers running a job */
  int stopping;   /* pool_free has begun: no new jobs, exit when drained */
  uint64_t done;  /* jobs whose done() has returned */

  struct pool_worker *workers; /* n_threads, cache-line aligned */
};

static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
run_job(struct pool_worker *w, struct pool_job *job, uint64_t picked_ns)
{
  struct pool_result res;
  memset(&res, 0, sizeof res);
  res.worker = w->index;
  res.queue_ns = picked_ns > job->submit_ns ? picked_ns - job->submit_ns : 0;
  const struct ss_head *h = job->head;
  int flen = engine_feature_len(w->pool->engine);
  if (h && w->features && head_dim(h) == flen &&
      engine_run_with_features(w->pool->engine, w->scratch, job->input,
                               w->logits, w->features, flen) == flen) {
    head_scores(h, w->features, res.head_probs);
    res.n_head = head_num_classes(h);
  } else {
    engine_run(w->pool->engine, w->scratch, job->input, w->logits);
  }
  /* The logits buffer doubles as the softmax scratch (predict.h allows it). */
  res.n_top = engine_outputs_probs(w->pool->engine)
                  ? predict_rank(w->pool->model, w->logits, job->top_k,
                                 res.top)
                  : predict_top_k(w->pool->model, w->logits, w->logits,
                                  job->top_k, res.top);
  res.infer_ns = now_ns() - picked_ns;
  /* done() may free the job: do not touch it afterwards. */
  job->done(job, &res);
}

static void *
worker_main(void *arg)
{
  struct pool_worker *w = arg;
  struct ss_pool *p = w->pool;

  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->head && !p->stopping)
      pthread_cond_wait(&p->not_empty, &p->lock);
    struct pool_job *job = p->head;
    if (!job)
      break; /* stopping and drained */
    p->head = job->next;
    if (!p->head)
      p->tail = NULL;
    p->depth--;
    p->busy++;
    pthread_mutex_unlock(&p->lock);

    job->next = NULL;
    run_job(w, job, now_ns());

    pthread_mutex_lock(&p->lock);
    p->busy--;
    p->done++;
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static void
pin_worker(struct pool_worker *w)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(w->index, &set);
  /* Best effort: a container may forbid the CPU; the worker then floats. */
  (void)pthread_setaffinity_np(w->thread, sizeof set, &set);
}

int
pool_new(const struct ss_engine *e, int n_threads, int queue_capacity,
         int pin, struct ss_pool **out, struct ss_error *err)
{
  if (!e || !out)
    return ss_error_set(err, SS_EINVAL, "pool_new: engine and out required");
  if (n_threads < 1 || n_threads > 1024)
    return ss_error_set(err, SS_EINVAL,
                        "pool: thread count %d is not in 1..1024", n_threads);
  if (queue_capacity < 1)
    return ss_error_set(err, SS_EINVAL,
                        "pool: queue capacity %d is not >= 1", queue_capacity);

  int rc;
  struct ss_pool *p = calloc(1, sizeof *p);
  if (!p)
    return ss_error_set(err, SS_ENOMEM, "pool: out of memory");
  p->engine = e;
  p->model = engine_model(e);
  p->n_threads = n_threads;
  p->capacity = queue_capacity;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->not_empty, NULL);

  size_t bytes = sizeof(struct pool_worker) * (size_t)n_threads;
  p->workers = aligned_alloc(POOL_CACHE_LINE, bytes);
  if (!p->workers) {
    rc = ss_error_set(err, SS_ENOMEM, "pool: out of memory for %d workers",
                      n_threads);
    goto fail_free_pool;
  }
  memset(p->workers, 0, bytes);

  const size_t n_out = (size_t)model_num_outputs(p->model);
  for (int i = 0; i < n_threads; i++) {
    struct pool_worker *w = &p->workers[i];
    w->pool = p;
    w->index = i;
    rc = engine_scratch_new(e, &w->scratch, err);
    if (rc != 0) {
      ss_error_prefix(err, rc, "pool: worker %d", i);
      goto fail_free_workers;
    }
    w->logits = aligned_alloc(POOL_CACHE_LINE,
                              (n_out * sizeof(float) + POOL_CACHE_LINE - 1) /
                                  POOL_CACHE_LINE * POOL_CACHE_LINE);
    int flen = engine_feature_len(e);
    if (flen > 0)
      w->features = malloc((size_t)flen * sizeof(float));
    if (!w->logits || (flen > 0 && !w->features)) {
      rc = ss_error_set(err, SS_ENOMEM, "pool: worker %d: out of memory", i);
      goto fail_free_workers;
    }
  }

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int do_pin = pin && cpus >= n_threads;
  for (int i = 0; i < n_threads; i++) {
    struct pool_worker *w = &p->workers[i];
    int prc = pthread_create(&w->thread, NULL, worker_main, w);
    if (prc != 0) {
      rc = ss_error_set(err, SS_ENOMEM, "pool: starting worker %d: %s", i,
                        strerror(prc));
      goto fail_stop_workers;
    }
    w->started = 1;
    char name[16];
    snprintf(name, sizeof name, "ss-infer-%d", i);
    (void)pthread_setname_np(w->thread, name);
    if (do_pin)
      pin_worker(w);
  }
  *out = p;
  return 0;

fail_stop_workers:
  pthread_mutex_lock(&p->lock);
  p->stopping = 1;
  pthread_cond_broadcast(&p->not_empty);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < n_threads; i++)
    if (p->workers[i].started)
      pthread_join(p->workers[i].thread, NULL);
fail_free_workers:
  for (int i = 0; i < n_threads; i++) {
    engine_scratch_free(p->workers[i].scratch);
    free(p->workers[i].logits);
    free(p->workers[i].features);
  }
  free(p->workers);
fail_free_pool:
  pthread_cond_destroy(&p->not_empty);
  pthread_mutex_destroy(&p->lock);
  free(p);
  return rc;
}

int
pool_submit(struct ss_pool *p, struct pool_job *job)
{
  if (!p || !job || !job->input || !job->done || job->top_k < 1 ||
      job->top_k > POOL_MAX_TOP_K)
    return SS_EINVAL;
  job->next = NULL;
  job->submit_ns = now_ns();
  pthread_mutex_lock(&p->lock);
  if (p->stopping) {
    pthread_mutex_unlock(&p->lock);
    return SS_EINVAL;
  }
  if (p->depth >= p->capacity) {
    pthread_mutex_unlock(&p->lock);
    return SS_ERANGE;
  }
  if (p->tail)
    p->tail->next = job;
  else
    p->head = job;
  p->tail = job;
  p->depth++;
  pthread_cond_signal(&p->not_empty);
  pthread_mutex_unlock(&p->lock);
  return 0;
}

void
pool_free(struct ss_pool *p)
{
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  p->stopping = 1;
  pthread_cond_broadcast(&p->not_empty);
  pthread_mutex_unlock(&p->lock);
  /* Workers leave only once the queue is empty: queued jobs still run. */
  for (int i = 0; i < p->n_threads; i++)
    pthread_join(p->workers[i].thread, NULL);
  assert(p->depth == 0 && p->busy == 0);
  for (int i = 0; i < p->n_threads; i++) {
    engine_scratch_free(p->workers[i].scratch);
    free(p->workers[i].logits);
    free(p->workers[i].features);
  }
  free(p->workers);
  pthread_cond_destroy(&p->not_empty);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

int
pool_num_threads(const struct ss_pool *p)
{
  return p->n_threads;
}

int
pool_queue_capacity(const struct ss_pool *p)
{
  return p->capacity;
}

int
pool_queue_depth(struct ss_pool *p)
{
  pthread_mutex_lock(&p->lock);
  int d = p->depth;
  pthread_mutex_unlock(&p->lock);
  return d;
}

int
pool_busy_workers(struct ss_pool *p)
{
  pthread_mutex_lock(&p->lock);
  int b = p->busy;
  pthread_mutex_unlock(&p->lock);
  return b;
}

uint64_t
pool_jobs_done(struct ss_pool *p)
{
  pthread_mutex_lock(&p->lock);
  uint64_t d = p->done;
  pthread_mutex_unlock(&p->lock);
  return d;
}

const struct ss_engine *
pool_engine(const struct ss_pool *p)
{
  return p->engine;
}
