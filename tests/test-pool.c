/* Inference pool: jobs give the same top-k as a direct engine_run +
 * predict_top_k, whatever the number of workers; a full queue refuses jobs;
 * pool_free runs what is queued; concurrent submitters are served. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "pool.h"
#include "predict.h"
#include "testutil.h"

#define SEED 20261128u
#define N_INPUTS 6
#define TOP_K 5

/* One engine and its reference answers, shared by the tests (read-only). */
static struct ss_engine *engine;
static int input_floats;
static float *inputs[N_INPUTS];
static struct prediction expect[N_INPUTS][TOP_K];
static int expect_n[N_INPUTS];

static void
setup_engine(void)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  /* A small model (V2 0.35 at 64 px) keeps the many-job tests quick. */
  if (mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 64,
                      MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err) != 0) {
    fprintf(stderr, "setup: %s\n", err.message);
    abort();
  }
  tu_fill_model_weights(m, SEED);
  if (engine_new(m, KERN_ISA_AUTO, &engine, &err) != 0) {
    fprintf(stderr, "setup: %s\n", err.message);
    abort();
  }
  model_unref(m);
  input_floats = 64 * 64 * 3;
  struct ss_scratch *s = NULL;
  engine_scratch_new(engine, &s, NULL);
  float *logits = malloc(1000 * sizeof(float));
  struct tu_rng r;
  tu_rng_seed(&r, SEED);
  for (int i = 0; i < N_INPUTS; i++) {
    inputs[i] = malloc((size_t)input_floats * sizeof(float));
    tu_rng_fill(&r, inputs[i], (size_t)input_floats, -1.0f, 1.0f);
    engine_run(engine, s, inputs[i], logits);
    expect_n[i] = predict_top_k(engine_model(engine), logits, logits, TOP_K,
                                expect[i]);
  }
  free(logits);
  engine_scratch_free(s);
}

/* ---- a job with a completion record ---- */

struct waiter {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
};

struct test_job {
  struct pool_job job;
  int input;               /* index into inputs[] */
  struct pool_result res;  /* copied by done() */
  int called;              /* times done() ran */
  struct waiter *w;
  /* Optional gate: done() announces it started and waits for `open`. */
  struct gate *gate;
};

struct gate {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int entered, open;
};

static void
waiter_init(struct waiter *w)
{
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->cond, NULL);
  w->done = 0;
}

static void
waiter_wait(struct waiter *w, int n)
{
  pthread_mutex_lock(&w->lock);
  while (w->done < n)
    pthread_cond_wait(&w->cond, &w->lock);
  pthread_mutex_unlock(&w->lock);
}

static void
gate_init(struct gate *g)
{
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->cond, NULL);
  g->entered = g->open = 0;
}

static void
gate_wait_entered(struct gate *g)
{
  pthread_mutex_lock(&g->lock);
  while (!g->entered)
    pthread_cond_wait(&g->cond, &g->lock);
  pthread_mutex_unlock(&g->lock);
}

static void
gate_open(struct gate *g)
{
  pthread_mutex_lock(&g->lock);
  g->open = 1;
  pthread_cond_broadcast(&g->cond);
  pthread_mutex_unlock(&g->lock);
}

static void
on_done(struct pool_job *job, const struct pool_result *res)
{
  struct test_job *tj = (struct test_job *)job;
  tj->res = *res;
  tj->called++;
  if (tj->gate) {
    struct gate *g = tj->gate;
    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
      pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
  }
  struct waiter *w = tj->w;
  pthread_mutex_lock(&w->lock);
  w->done++;
  pthread_cond_broadcast(&w->cond);
  pthread_mutex_unlock(&w->lock);
}

static void
job_init(struct test_job *tj, int input, struct waiter *w)
{
  memset(tj, 0, sizeof *tj);
  tj->job.input = inputs[input];
  tj->job.top_k = TOP_K;
  tj->job.done = on_done;
  tj->input = input;
  tj->w = w;
}

static void
check_result(const struct test_job *tj, int n_threads, int idx)
{
  const struct pool_result *r = &tj->res;
  ck_assert_msg(tj->called == 1, "job %d: done() ran %d times", idx,
                tj->called);
  ck_assert_msg(r->n_top == expect_n[tj->input], "job %d: n_top %d vs %d",
                idx, r->n_top, expect_n[tj->input]);
  for (int k = 0; k < r->n_top; k++) {
    /* Same engine, same kernels, one thread per inference: bit-identical. */
    ck_assert_msg(r->top[k].index == expect[tj->input][k].index &&
                      r->top[k].score == expect[tj->input][k].score,
                  "job %d (input %d) rank %d: class %d p=%g vs class %d p=%g",
                  idx, tj->input, k, r->top[k].index,
                  (double)r->top[k].score, expect[tj->input][k].index,
                  (double)expect[tj->input][k].score);
  }
  ck_assert_msg(r->worker >= 0 && r->worker < n_threads,
                "job %d: worker %d of %d", idx, r->worker, n_threads);
  ck_assert_msg(r->infer_ns > 0, "job %d: infer_ns 0", idx);
}

static struct ss_pool *
new_pool(int threads, int cap, int pin)
{
  struct ss_pool *p = NULL;
  struct ss_error err = { 0 };
  int rc = pool_new(engine, threads, cap, pin, &p, &err);
  ck_assert_msg(rc == 0, "pool_new(%d, %d): %s", threads, cap, err.message);
  ck_assert_int_eq(pool_num_threads(p), threads);
  ck_assert_int_eq(pool_queue_capacity(p), cap);
  return p;
}

/* ---- tests ---- */

START_TEST(test_inputs_differ)
{
  /* The comparison below can only fail if inputs rank differently. */
  int distinct = 0;
  for (int i = 1; i < N_INPUTS; i++)
    distinct += expect[i][0].index != expect[0][0].index ||
                expect[i][0].score != expect[0][0].score;
  ck_assert_msg(distinct > 0, "all inputs give the same top-1");
  ck_assert_int_eq(expect_n[0], TOP_K);
}
END_TEST

/* Loop over 1..4 workers: every job's top-k equals the direct run. */
START_TEST(test_results_match_direct)
{
  int threads = 1 + _i;
  struct ss_pool *p = new_pool(threads, 32, 0);
  enum { JOBS = 24 };
  struct test_job jobs[JOBS];
  struct waiter w;
  waiter_init(&w);
  for (int j = 0; j < JOBS; j++) {
    job_init(&jobs[j], j % N_INPUTS, &w);
    ck_assert_int_eq(pool_submit(p, &jobs[j].job), 0);
  }
  waiter_wait(&w, JOBS);
  for (int j = 0; j < JOBS; j++)
    check_result(&jobs[j], threads, j);
  pool_free(p);
  printf("%d worker(s): %d jobs match the direct run\n", threads, JOBS);
}
END_TEST

START_TEST(test_queue_full)
{
  struct ss_pool *p = new_pool(1, 2, 0);
  struct waiter w;
  struct gate g;
  waiter_init(&w);
  gate_init(&g);
  struct test_job a, b, c, d;
  job_init(&a, 0, &w);
  a.gate = &g;
  job_init(&b, 1, &w);
  job_init(&c, 2, &w);
  job_init(&d, 3, &w);
  ck_assert_int_eq(pool_submit(p, &a.job), 0);
  gate_wait_entered(&g); /* the only worker is now held inside a's done() */
  ck_assert_int_eq(pool_busy_workers(p), 1);
  ck_assert_int_eq(pool_submit(p, &b.job), 0);
  ck_assert_int_eq(pool_submit(p, &c.job), 0);
  ck_assert_int_eq(pool_queue_depth(p), 2);
  ck_assert_int_eq(pool_submit(p, &d.job), SS_ERANGE);
  ck_assert_int_eq(pool_queue_depth(p), 2);
  gate_open(&g);
  waiter_wait(&w, 3);
  pool_free(p);
  check_result(&a, 1, 0);
  check_result(&b, 1, 1);
  check_result(&c, 1, 2);
  ck_assert_int_eq(d.called, 0);
  /* b waited in the queue while a's done() held the worker. */
  ck_assert_msg(b.res.queue_ns > 0, "queue_ns %llu",
                (unsigned long long)b.res.queue_ns);
}
END_TEST

START_TEST(test_invalid)
{
  struct ss_pool *p = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(pool_new(engine, 0, 4, 0, &p, &err), SS_EINVAL);
  ck_assert_ptr_null(p);
  ck_assert_int_eq(pool_new(engine, 2, 0, 0, &p, &err), SS_EINVAL);
  ck_assert_msg(strstr(err.message, "capacity") != NULL, "%s", err.message);
  p = new_pool(1, 4, 1); /* pinning requested */
  struct waiter w;
  waiter_init(&w);
  struct test_job j;
  job_init(&j, 0, &w);
  j.job.top_k = 0;
  ck_assert_int_eq(pool_submit(p, &j.job), SS_EINVAL);
  j.job.top_k = POOL_MAX_TOP_K + 1;
  ck_assert_int_eq(pool_submit(p, &j.job), SS_EINVAL);
  j.job.top_k = TOP_K;
  ck_assert_int_eq(pool_submit(p, &j.job), 0);
  waiter_wait(&w, 1);
  check_result(&j, 1, 0);
  pool_free(p);
  pool_free(NULL);
}
END_TEST

struct free_arg {
  struct ss_pool *p;
  atomic_int started;
  atomic_int returned;
};

static void *
free_thread(void *arg)
{
  struct free_arg *fa = arg;
  atomic_store(&fa->started, 1);
  pool_free(fa->p);
  atomic_store(&fa->returned, 1);
  return NULL;
}

START_TEST(test_free_drains)
{
  enum { CAP = 64 };
  struct ss_pool *p = new_pool(1, CAP, 0);
  struct waiter w;
  struct gate g;
  waiter_init(&w);
  gate_init(&g);
  static struct test_job jobs[CAP + 1];
  job_init(&jobs[0], 0, &w);
  jobs[0].gate = &g;
  ck_assert_int_eq(pool_submit(p, &jobs[0].job), 0);
  gate_wait_entered(&g);
  int queued = 1;
  for (; queued < 8; queued++) {
    job_init(&jobs[queued], queued % N_INPUTS, &w);
    ck_assert_int_eq(pool_submit(p, &jobs[queued].job), 0);
  }
  /* pool_free on another thread: it must wait for the worker, which is held
   * by the gate; meanwhile new jobs are refused with SS_EINVAL. */
  struct free_arg fa = { p, 0, 0 };
  pthread_t th;
  pthread_create(&th, NULL, free_thread, &fa);
  /* On a loaded machine (sanitizers, parallel tests) the thread may start
   * late; the submissions below must not fill the queue before then. */
  while (!atomic_load(&fa.started))
    sched_yield();
  int rc = 0;
  for (int tries = 0; tries < 10000; tries++) {
    ck_assert_int_lt(queued, CAP + 1);
    job_init(&jobs[queued], queued % N_INPUTS, &w);
    rc = pool_submit(p, &jobs[queued].job);
    if (rc != 0)
      break;
    queued++; /* accepted before pool_free began: it will run too */
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL); /* 1 ms */
  }
  ck_assert_int_eq(rc, SS_EINVAL);
  ck_assert_int_eq(atomic_load(&fa.returned), 0);
  gate_open(&g);
  pthread_join(th, NULL);
  for (int j = 0; j < queued; j++)
    check_result(&jobs[j], 1, j);
  ck_assert_int_eq(jobs[queued].called, 0);
  printf("pool_free drained %d queued jobs\n", queued);
}
END_TEST

struct submitter {
  struct ss_pool *p;
  struct test_job *jobs;
  int n;
  int first_input;
  int full; /* times the queue was full */
};

static void *
submit_thread(void *arg)
{
  struct submitter *s = arg;
  for (int j = 0; j < s->n; j++) {
    int rc;
    while ((rc = pool_submit(s->p, &s->jobs[j].job)) == SS_ERANGE) {
      s->full++;
      nanosleep(&(struct timespec){ 0, 200000 }, NULL);
    }
    if (rc != 0)
      return (void *)1;
  }
  return NULL;
}

START_TEST(test_concurrent_submit)
{
  enum { THREADS = 4, PER = 40 };
  struct ss_pool *p = new_pool(2, 8, 0);
  struct waiter w;
  waiter_init(&w);
  static struct test_job jobs[THREADS][PER];
  struct submitter subs[THREADS];
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) {
    for (int j = 0; j < PER; j++)
      job_init(&jobs[t][j], (t + j) % N_INPUTS, &w);
    subs[t] = (struct submitter){ p, jobs[t], PER, t, 0 };
    pthread_create(&th[t], NULL, submit_thread, &subs[t]);
  }
  int full = 0;
  for (int t = 0; t < THREADS; t++) {
    void *ret;
    pthread_join(th[t], &ret);
    ck_assert_msg(ret == NULL, "submitter %d failed", t);
    full += subs[t].full;
  }
  waiter_wait(&w, THREADS * PER);
  pool_free(p);
  int per_worker[2] = { 0, 0 };
  for (int t = 0; t < THREADS; t++)
    for (int j = 0; j < PER; j++) {
      check_result(&jobs[t][j], 2, t * PER + j);
      per_worker[jobs[t][j].res.worker]++;
    }
  printf("%d jobs from %d threads, queue full %d times, workers ran %d/%d\n",
         THREADS * PER, THREADS, full, per_worker[0], per_worker[1]);
  /* With 160 jobs and a queue of 8, both workers take part. */
  ck_assert_msg(per_worker[0] > 0 && per_worker[1] > 0, "%d/%d",
                per_worker[0], per_worker[1]);
}
END_TEST

START_TEST(test_counters)
{
  struct ss_pool *p = new_pool(2, 4, 0);
  ck_assert_uint_eq(pool_jobs_done(p), 0);
  ck_assert_int_eq(pool_queue_depth(p), 0);
  struct waiter w;
  waiter_init(&w);
  struct test_job jobs[3];
  for (int j = 0; j < 3; j++) {
    job_init(&jobs[j], j, &w);
    ck_assert_int_eq(pool_submit(p, &jobs[j].job), 0);
  }
  waiter_wait(&w, 3);
  /* done() has returned for all three; the counter follows right after. */
  for (int tries = 0; tries < 1000 && pool_jobs_done(p) < 3; tries++)
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
  ck_assert_uint_eq(pool_jobs_done(p), 3);
  ck_assert_int_eq(pool_busy_workers(p), 0);
  pool_free(p);
}
END_TEST

static Suite *
pool_suite(void)
{
  Suite *s = suite_create("pool");
  TCase *tc = tcase_create("results");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_inputs_differ);
  tcase_add_loop_test(tc, test_results_match_direct, 0, 4);
  suite_add_tcase(s, tc);
  tc = tcase_create("queue");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_queue_full);
  tcase_add_test(tc, test_invalid);
  tcase_add_test(tc, test_free_drains);
  tcase_add_test(tc, test_counters);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_concurrent_submit);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  printf("seed %u\n", SEED);
  setup_engine();
  int rc = tu_run_suite(pool_suite());
  for (int i = 0; i < N_INPUTS; i++)
    free(inputs[i]);
  engine_free(engine);
  return rc;
}
