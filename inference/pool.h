/* streamsight — the inference pool: N worker threads sharing one read-only
 * engine, each with its own scratch arena allocated once.
 *
 * One job is one frame. pool_submit() never blocks: the queue is bounded and
 * a full queue is reported to the caller, which drops the frame (latest frame
 * wins upstream). A job's done() runs on the worker thread that ran it; it
 * must be short and must not call pool_submit() or pool_free().
 */
#ifndef SS_POOL_H
#define SS_POOL_H

#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "head.h"
#include "predict.h"

#define POOL_MAX_TOP_K 10

struct ss_pool;

struct pool_result {
  int n_top;
  struct prediction top[POOL_MAX_TOP_K];
  uint64_t queue_ns; /* submit -> a worker picked it up */
  uint64_t infer_ns; /* engine_run + ranking (+ the head) */
  /* With a job's head: its softmax, head_num_classes values (class
   * order); n_head 0 without one, or when the head does not fit the
   * model (head_check_model fails: the frame gets no head scores). */
  int n_head;
  float head_probs[HEAD_MAX_CLASSES];
  int worker;        /* index of the worker that ran it */
};

struct pool_job {
  /* Set by the caller; borrowed by the pool until done() has been called. */
  const float *input; /* model input, height x width x 3, normalised */
  int top_k;          /* 1 .. POOL_MAX_TOP_K */
  /* A head over the model's features (NULL: none), borrowed until done():
   * the worker runs engine_run_with_features and the head's product. */
  const struct ss_head *head;
  void (*done)(struct pool_job *job, const struct pool_result *result);
  void *user;
  /* Set by pool_submit. */
  uint64_t submit_ns; /* CLOCK_MONOTONIC */
  struct pool_job *next; /* queue link, private to the pool */
};

/* Starts n_threads workers (>= 1) for engine e (borrowed: it must outlive the
 * pool), with room for queue_capacity waiting jobs (>= 1). When pin is true
 * and there are at least as many online CPUs as workers, worker i is pinned
 * to CPU i. */
int pool_new(const struct ss_engine *e, int n_threads, int queue_capacity,
             int pin, struct ss_pool **out, struct ss_error *err);

/* Queues a job. Returns 0, or SS_ERANGE when the queue is full, or SS_EINVAL
 * when the pool is shutting down; the job is not queued then. Any thread. */
int pool_submit(struct ss_pool *p, struct pool_job *job);

/* Stops accepting jobs, runs those already queued (their done() is called),
 * joins the workers and frees the pool. NULL is allowed. */
void pool_free(struct ss_pool *p);

/* The engine the pool runs (borrowed). */
const struct ss_engine *pool_engine(const struct ss_pool *p);

/* Snapshot figures, any thread. */
int pool_num_threads(const struct ss_pool *p);
int pool_queue_depth(struct ss_pool *p);
int pool_queue_capacity(const struct ss_pool *p);
int pool_busy_workers(struct ss_pool *p);
uint64_t pool_jobs_done(struct ss_pool *p); /* jobs whose done() returned */

#endif
