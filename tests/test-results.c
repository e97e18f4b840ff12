/* Stream results and latency statistics: history ring order and limits,
 * filters, counters, percentiles against exact ones, the 60 s window,
 * Prometheus buckets, and subscribers under concurrent publishing. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latency.h"
#include "results.h"
#include "testutil.h"

#define SEED 20261129u
#define SEC G_GINT64_CONSTANT(1000000000)
/* Log buckets are 4% wide and report their geometric centre: within 2% of
 * any sample in them; 4% leaves room for the rank landing one bucket off. */
#define BUCKET_TOL 0.04

static Prediction
make_prediction(guint64 frame_no, gint64 capture_mono_ns)
{
  Prediction p;
  memset(&p, 0, sizeof p);
  p.frame_no = frame_no;
  p.pts = GST_CLOCK_TIME_NONE;
  p.capture_mono_ns = capture_mono_ns;
  p.n_top = 1;
  p.top[0].index = (int)frame_no;
  p.top[0].score = 0.5f;
  p.queue_ms = 1.0;
  p.preprocess_ms = 0.3;
  p.infer_ms = 10.0;
  p.e2e_ms = 12.0;
  return p;
}

/* ---- history, latest, counters ---- */

START_TEST(test_latest)
{
  StreamResults *r = stream_results_new(4);
  Prediction out;
  ck_assert(!stream_results_copy_latest(r, &out));
  for (guint64 i = 1; i <= 3; i++) {
    Prediction p = make_prediction(10 * i, (gint64)i * 1000);
    stream_results_publish(r, &p);
    ck_assert_uint_eq(p.seq, i); /* assigned by publish */
    ck_assert(p.published_mono_ns > 0);
  }
  ck_assert(stream_results_copy_latest(r, &out));
  ck_assert_uint_eq(out.seq, 3);
  ck_assert_uint_eq(out.frame_no, 30);
  ck_assert_int_eq(out.top[0].index, 30);
  stream_results_unref(r);
}
END_TEST

START_TEST(test_history_ring)
{
  StreamResults *r = stream_results_new(5);
  Prediction out[16];
  ck_assert_uint_eq(stream_results_copy_history(r, 0, 0, out, 16), 0);
  for (guint64 i = 1; i <= 8; i++) {
    Prediction p = make_prediction(i, (gint64)i * 1000);
    stream_results_publish(r, &p);
  }
  /* The ring keeps the newest 5, oldest first. */
  guint n = stream_results_copy_history(r, 0, 0, out, 16);
  ck_assert_uint_eq(n, 5);
  for (guint i = 0; i < n; i++)
    ck_assert_msg(out[i].seq == 4 + i, "slot %u: seq %llu", i,
                  (unsigned long long)out[i].seq);
  /* cap keeps the newest `cap`, still oldest first */
  n = stream_results_copy_history(r, 0, 0, out, 3);
  ck_assert_uint_eq(n, 3);
  for (guint i = 0; i < n; i++)
    ck_assert_msg(out[i].seq == 6 + i, "slot %u: seq %llu", i,
                  (unsigned long long)out[i].seq);
  /* since_seq */
  n = stream_results_copy_history(r, 6, 0, out, 16);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(out[0].seq, 7);
  ck_assert_uint_eq(out[1].seq, 8);
  /* since_mono_ns: captured at or after 5000 */
  n = stream_results_copy_history(r, 0, 5000, out, 16);
  ck_assert_uint_eq(n, 4);
  ck_assert_uint_eq(out[0].seq, 5);
  /* both, and a cap */
  n = stream_results_copy_history(r, 5, 5000, out, 2);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(out[0].seq, 7);
  ck_assert_uint_eq(stream_results_copy_history(r, 8, 0, out, 16), 0);
  ck_assert_uint_eq(stream_results_copy_history(r, 0, 0, out, 0), 0);
  stream_results_unref(r);
}
END_TEST

START_TEST(test_history_len_one)
{
  StreamResults *r = stream_results_new(1);
  Prediction out[4];
  for (guint64 i = 1; i <= 3; i++) {
    Prediction p = make_prediction(i, 1);
    stream_results_publish(r, &p);
  }
  ck_assert_uint_eq(stream_results_copy_history(r, 0, 0, out, 4), 1);
  ck_assert_uint_eq(out[0].seq, 3);
  stream_results_unref(r);
}
END_TEST

START_TEST(test_counters)
{
  StreamResults *r = stream_results_new(8);
  stream_results_count(r, RESULTS_RECEIVED, 10);
  stream_results_count(r, RESULTS_DROPPED_BUSY, 3);
  stream_results_count(r, RESULTS_DROPPED_FPS, 2);
  stream_results_count(r, RESULTS_DROPPED_QUEUE, 1);
  stream_results_count(r, RESULTS_RECONNECTS, 1);
  for (int i = 0; i < 4; i++) {
    Prediction p = make_prediction((guint64)i, 1);
    stream_results_publish(r, &p);
  }
  ResultsStats st;
  gint64 now = g_get_monotonic_time() * 1000;
  stream_results_copy_stats(r, now, &st);
  ck_assert_uint_eq(st.counters[RESULTS_RECEIVED], 10);
  ck_assert_uint_eq(st.counters[RESULTS_INFERRED], 4);
  ck_assert_uint_eq(st.counters[RESULTS_DROPPED_BUSY], 3);
  ck_assert_uint_eq(st.counters[RESULTS_DROPPED_FPS], 2);
  ck_assert_uint_eq(st.counters[RESULTS_DROPPED_QUEUE], 1);
  ck_assert_uint_eq(st.counters[RESULTS_ERRORS], 0);
  ck_assert_uint_eq(st.counters[RESULTS_RECONNECTS], 1);
  ck_assert_uint_eq(st.counters[RESULTS_STALLS], 0);
  /* all within the last second: rates over a span floored at 1 s */
  ck_assert_msg(fabs(st.fps_in - 10.0) < 1e-9, "fps_in %g", st.fps_in);
  ck_assert_msg(fabs(st.fps_out - 4.0) < 1e-9, "fps_out %g", st.fps_out);
  ck_assert(st.last_prediction_wall_us > 0);
  /* each stage recorded 4 samples with exact means */
  ck_assert_uint_eq(st.since_start[LATENCY_STAGE_INFER].count, 4);
  ck_assert_msg(fabs(st.window[LATENCY_STAGE_E2E].mean_ms - 12.0) < 1e-9,
                "%g", st.window[LATENCY_STAGE_E2E].mean_ms);
  ck_assert_msg(fabs(st.window[LATENCY_STAGE_PREPROCESS].max_ms - 0.3) <
                    1e-12, "%g", st.window[LATENCY_STAGE_PREPROCESS].max_ms);
  /* 20 s later nothing is in the 10 s rate window; 61 s later nothing in
   * the 60 s latency window, but everything since start. */
  stream_results_copy_stats(r, now + 20 * SEC, &st);
  ck_assert(st.fps_in == 0.0 && st.fps_out == 0.0);
  ck_assert_uint_eq(st.window[LATENCY_STAGE_E2E].count, 4);
  stream_results_copy_stats(r, now + 61 * SEC, &st);
  ck_assert_uint_eq(st.window[LATENCY_STAGE_E2E].count, 0);
  ck_assert(st.window[LATENCY_STAGE_E2E].p99_ms == 0.0);
  ck_assert_uint_eq(st.since_start[LATENCY_STAGE_E2E].count, 4);
  ck_assert_uint_eq(st.counters[RESULTS_INFERRED], 4);

  guint64 cum[LATENCY_PROM_NBUCKETS], count;
  double sum;
  stream_results_copy_prometheus(r, LATENCY_STAGE_INFER, cum, &count, &sum);
  ck_assert_uint_eq(count, 4);
  ck_assert_msg(fabs(sum - 0.04) < 1e-12, "sum %g", sum);
  ck_assert_uint_eq(cum[3], 4); /* 10 ms <= 0.01 s */
  ck_assert_uint_eq(cum[2], 0);
  stream_results_unref(r);
}
END_TEST

/* ---- latency statistics ---- */

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank on sorted samples. */
static double
exact_percentile(const double *sorted, int n, double q)
{
  int rank = (int)ceil(q * n);
  if (rank < 1)
    rank = 1;
  return sorted[rank - 1];
}

static void
check_close(const char *what, double got, double want)
{
  ck_assert_msg(fabs(got - want) <= BUCKET_TOL * want + 1e-9,
                "%s: %g vs exact %g", what, got, want);
}

START_TEST(test_percentiles_known)
{
  /* 1, 2, ..., 1000 ms: p50 500, p90 900, p99 990, max 1000, mean 500.5 */
  LatencyStats *s = latency_stats_new();
  gint64 now = 1000 * SEC;
  for (int i = 1; i <= 1000; i++)
    latency_stats_add(s, now, (double)i);
  LatencySummary w, all;
  latency_stats_summary(s, now, TRUE, &w);
  latency_stats_summary(s, now, FALSE, &all);
  ck_assert_uint_eq(w.count, 1000);
  ck_assert_uint_eq(all.count, 1000);
  ck_assert_msg(fabs(all.mean_ms - 500.5) < 1e-9, "mean %g", all.mean_ms);
  ck_assert_msg(all.max_ms == 1000.0, "max %g", all.max_ms);
  check_close("p50", all.p50_ms, 500);
  check_close("p90", all.p90_ms, 900);
  check_close("p99", all.p99_ms, 990);
  check_close("window p90", w.p90_ms, 900);
  ck_assert(all.p99_ms <= all.max_ms);
  latency_stats_free(s);
}
END_TEST

/* Log-uniform samples from 10 µs to 10 s, against exact percentiles. */
START_TEST(test_percentiles_random)
{
  enum { N = 5000 };
  struct tu_rng rng;
  tu_rng_seed(&rng, SEED + (uint64_t)_i);
  double *v = malloc(N * sizeof(double));
  LatencyStats *s = latency_stats_new();
  gint64 now = 5 * SEC;
  double sum = 0;
  for (int i = 0; i < N; i++) {
    v[i] = pow(10.0, tu_rng_uniform(&rng, -2.0f, 4.0f));
    sum += v[i];
    latency_stats_add(s, now, v[i]);
  }
  qsort(v, N, sizeof(double), cmp_double);
  LatencySummary a;
  latency_stats_summary(s, now, FALSE, &a);
  check_close("p50", a.p50_ms, exact_percentile(v, N, 0.50));
  check_close("p90", a.p90_ms, exact_percentile(v, N, 0.90));
  check_close("p99", a.p99_ms, exact_percentile(v, N, 0.99));
  ck_assert_msg(a.max_ms == v[N - 1], "max %g vs %g", a.max_ms, v[N - 1]);
  ck_assert_msg(fabs(a.mean_ms - sum / N) < 1e-9 * sum, "mean");
  latency_stats_free(s);
  free(v);
}
END_TEST

START_TEST(test_window_expiry)
{
  LatencyStats *s = latency_stats_new();
  LatencySummary w, all;
  gint64 t0 = 3600 * SEC;
  for (int i = 0; i < 10; i++)
    latency_stats_add(s, t0, 100.0); /* old: 100 ms */
  latency_stats_add(s, t0 + 30 * SEC, 5.0);
  latency_stats_summary(s, t0 + 30 * SEC, TRUE, &w);
  ck_assert_uint_eq(w.count, 11);
  /* 54 s after t0 the first slot is inside the window (which spans the
   * last 55-60 s); at 61 s it has gone. */
  latency_stats_summary(s, t0 + 54 * SEC, TRUE, &w);
  ck_assert_uint_eq(w.count, 11);
  latency_stats_summary(s, t0 + 61 * SEC, TRUE, &w);
  ck_assert_uint_eq(w.count, 1);
  check_close("window p99 after expiry", w.p99_ms, 5.0);
  ck_assert(w.max_ms == 5.0);
  latency_stats_summary(s, t0 + 61 * SEC, FALSE, &all);
  ck_assert_uint_eq(all.count, 11);
  ck_assert(all.max_ms == 100.0);
  /* A slot reused 60 s later holds only the new epoch's samples. */
  latency_stats_add(s, t0 + 60 * SEC, 1.0);
  latency_stats_summary(s, t0 + 60 * SEC, TRUE, &w);
  ck_assert_uint_eq(w.count, 2);
  ck_assert(w.max_ms == 5.0);
  /* Far in the future: empty window, zeros. */
  latency_stats_summary(s, t0 + 1000 * SEC, TRUE, &w);
  ck_assert_uint_eq(w.count, 0);
  ck_assert(w.mean_ms == 0 && w.p50_ms == 0 && w.max_ms == 0);
  latency_stats_free(s);
}
END_TEST

START_TEST(test_prometheus)
{
  LatencyStats *s = latency_stats_new();
  const double ms[] = { 0.5, 3.0, 20.0, 20000.0, -4.0 };
  for (size_t i = 0; i < G_N_ELEMENTS(ms); i++)
    latency_stats_add(s, SEC, ms[i]);
  guint64 cum[LATENCY_PROM_NBUCKETS], count;
  double sum;
  latency_stats_prometheus(s, cum, &count, &sum);
  /* bounds 0.001 0.0025 0.005 0.01 0.025 ... 10 s; -4 counts as 0 */
  const guint64 want[LATENCY_PROM_NBUCKETS] = { 2, 2, 3, 3, 4, 4, 4,
                                                4, 4, 4, 4, 4, 4 };
  for (int i = 0; i < LATENCY_PROM_NBUCKETS; i++)
    ck_assert_msg(cum[i] == want[i], "bucket %d: %llu vs %llu", i,
                  (unsigned long long)cum[i], (unsigned long long)want[i]);
  ck_assert_uint_eq(count, 5); /* +Inf holds all five */
  ck_assert_msg(fabs(sum - 20.0235) < 1e-9, "sum %g", sum);
  latency_stats_free(s);
}
END_TEST

/* ---- subscribers ---- */

#define SUB_MAGIC 0x5ab5c71bu

struct sub_data {
  guint magic;
  gint calls; /* atomic */
  StreamResults *r;
  guint id;
  gint *bad; /* set when called after unsubscribe (magic cleared) */
};

static void
on_prediction(const Prediction *p, gpointer user)
{
  struct sub_data *d = user;
  if (d->magic != SUB_MAGIC || p->seq == 0)
    g_atomic_int_set(d->bad, 1);
  g_atomic_int_inc(&d->calls);
}

START_TEST(test_subscribe_basic)
{
  StreamResults *r = stream_results_new(4);
  gint bad = 0;
  struct sub_data a = { SUB_MAGIC, 0, r, 0, &bad };
  struct sub_data b = { SUB_MAGIC, 0, r, 0, &bad };
  a.id = stream_results_subscribe(r, on_prediction, &a);
  b.id = stream_results_subscribe(r, on_prediction, &b);
  ck_assert(a.id != 0 && b.id != 0 && a.id != b.id);
  for (int i = 0; i < 3; i++) {
    Prediction p = make_prediction((guint64)i, 1);
    stream_results_publish(r, &p);
  }
  stream_results_unsubscribe(r, a.id);
  a.magic = 0;
  Prediction p = make_prediction(9, 1);
  stream_results_publish(r, &p);
  ck_assert_int_eq(a.calls, 3);
  ck_assert_int_eq(b.calls, 4);
  stream_results_unsubscribe(r, a.id); /* unknown id: nothing happens */
  stream_results_unsubscribe(r, b.id);
  ck_assert_int_eq(bad, 0);
  stream_results_unref(r);
}
END_TEST

/* A subscriber that removes itself on its second call. */
static void
on_prediction_self_remove(const Prediction *p, gpointer user)
{
  struct sub_data *d = user;
  on_prediction(p, user);
  if (g_atomic_int_get(&d->calls) == 2)
    stream_results_unsubscribe(d->r, d->id);
}

START_TEST(test_unsubscribe_from_callback)
{
  StreamResults *r = stream_results_new(4);
  gint bad = 0;
  struct sub_data d = { SUB_MAGIC, 0, r, 0, &bad };
  d.id = stream_results_subscribe(r, on_prediction_self_remove, &d);
  for (int i = 0; i < 5; i++) {
    Prediction p = make_prediction((guint64)i, 1);
    stream_results_publish(r, &p);
  }
  ck_assert_int_eq(d.calls, 2);
  ck_assert_int_eq(bad, 0);
  stream_results_unref(r);
}
END_TEST

struct publisher {
  StreamResults *r;
  int n;
};

static gpointer
publish_thread(gpointer arg)
{
  struct publisher *pub = arg;
  for (int i = 0; i < pub->n; i++) {
    Prediction p = make_prediction((guint64)i, (gint64)i);
    stream_results_publish(pub->r, &p);
  }
  return NULL;
}

/* Publishers on 3 threads while the main thread subscribes and unsubscribes
 * heap-allocated subscribers, poisoning and freeing each right after
 * unsubscribe returns: a call after unsubscribe would see the poison (and
 * ASan/valgrind would see the use after free). */
START_TEST(test_subscribe_concurrent)
{
  enum { PUBLISHERS = 3, PER = 20000, ROUNDS = 300 };
  StreamResults *r = stream_results_new(16);
  gint bad = 0;
  struct sub_data keep = { SUB_MAGIC, 0, r, 0, &bad };
  keep.id = stream_results_subscribe(r, on_prediction, &keep);
  struct publisher pub = { r, PER };
  GThread *th[PUBLISHERS];
  for (int t = 0; t < PUBLISHERS; t++)
    th[t] = g_thread_new("publisher", publish_thread, &pub);
  gint total_calls = 0;
  for (int round = 0; round < ROUNDS; round++) {
    struct sub_data *d = g_new0(struct sub_data, 1);
    d->magic = SUB_MAGIC;
    d->r = r;
    d->bad = &bad;
    d->id = stream_results_subscribe(r, on_prediction, d);
    g_thread_yield();
    stream_results_unsubscribe(r, d->id);
    total_calls += g_atomic_int_get(&d->calls);
    d->magic = 0;
    g_free(d);
  }
  for (int t = 0; t < PUBLISHERS; t++)
    g_thread_join(th[t]);
  printf("transient subscribers saw %d predictions in %d rounds\n",
         total_calls, ROUNDS);
  ck_assert_int_eq(bad, 0);
  /* The permanent subscriber saw every publish exactly once. */
  ck_assert_int_eq(keep.calls, PUBLISHERS * PER);
  Prediction latest;
  ck_assert(stream_results_copy_latest(r, &latest));
  ck_assert_uint_eq(latest.seq, PUBLISHERS * PER);
  ResultsStats st;
  stream_results_copy_stats(r, g_get_monotonic_time() * 1000, &st);
  ck_assert_uint_eq(st.counters[RESULTS_INFERRED], PUBLISHERS * PER);
  stream_results_unsubscribe(r, keep.id);
  stream_results_unref(r);
}
END_TEST

START_TEST(test_refcount)
{
  StreamResults *r = stream_results_new(2);
  ck_assert_ptr_eq(stream_results_ref(r), r);
  stream_results_unref(r);
  Prediction p = make_prediction(1, 1);
  stream_results_publish(r, &p); /* still alive */
  /* a subscriber left subscribed is freed with the results */
  gint bad = 0;
  struct sub_data d = { SUB_MAGIC, 0, r, 0, &bad };
  stream_results_subscribe(r, on_prediction, &d);
  stream_results_unref(r);
  stream_results_unref(NULL);
  ck_assert_int_eq(bad, 0);
}
END_TEST

static Suite *
results_suite(void)
{
  Suite *s = suite_create("results");
  TCase *tc = tcase_create("history");
  tcase_add_test(tc, test_latest);
  tcase_add_test(tc, test_history_ring);
  tcase_add_test(tc, test_history_len_one);
  tcase_add_test(tc, test_counters);
  tcase_add_test(tc, test_refcount);
  suite_add_tcase(s, tc);
  tc = tcase_create("latency");
  tcase_add_test(tc, test_percentiles_known);
  tcase_add_loop_test(tc, test_percentiles_random, 0, 4);
  tcase_add_test(tc, test_window_expiry);
  tcase_add_test(tc, test_prometheus);
  suite_add_tcase(s, tc);
  tc = tcase_create("subscribers");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_subscribe_basic);
  tcase_add_test(tc, test_unsubscribe_from_callback);
  tcase_add_test(tc, test_subscribe_concurrent);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  printf("seed %u\n", SEED);
  return tu_run_suite(results_suite());
}
