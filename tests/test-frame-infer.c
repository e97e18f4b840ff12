/* Frame path end to end: appsrc -> streamsightsink -> FrameInfer -> pool ->
 * StreamResults with a small built MobileNetV2 (0.35, 96 px, random
 * weights). Predictions are published with sane fields and match a direct
 * engine run; every received frame is accounted for exactly once:
 * received == inferred + dropped_busy + dropped_fps + dropped_queue + errors.
 *
 * Uses gstreamer-check's bundled Check (no tests/testutil here).
 */
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "frame-infer.h"
#include "mobilenet.h"
#include "pool.h"
#include "predict.h"
#include "results.h"
#include "streamsight-sink.h"
#include "testutil.h"

#define SEED 20261201u
#define TOP_K 5

static struct ss_engine *engine;
static struct ss_model *model; /* borrowed from the engine */

static struct tu_rng rng; /* the frames' noise */

static void
setup_model(void)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  if (mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                      MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err) != 0) {
    fprintf(stderr, "build: %s\n", err.message);
    abort();
  }
  tu_fill_model_weights(m, SEED);
  if (engine_new(m, KERN_ISA_AUTO, &engine, &err) != 0) {
    fprintf(stderr, "engine: %s\n", err.message);
    abort();
  }
  model_unref(m);
  model = engine_model(engine);
}

static struct ss_pool *
new_pool(int threads, int cap)
{
  struct ss_pool *p = NULL;
  struct ss_error err = { 0 };
  fail_unless(pool_new(engine, threads, cap, 0, &p, &err) == 0, "%s",
              err.message);
  return p;
}

/* ---- a stream: appsrc -> streamsightsink, attached to a FrameInfer ---- */

typedef struct {
  GstElement *pipe, *src, *sink;
  GstVideoInfo info;
} Stream;

static void
stream_start(Stream *s, FrameInfer *fi, GstVideoFormat format, int w, int h)
{
  gst_video_info_set_format(&s->info, format, w, h);
  s->info.fps_n = 30;
  s->info.fps_d = 1;
  GError *err = NULL;
  s->pipe = gst_parse_launch(
      "appsrc name=src is-live=true format=time ! streamsightsink name=sink "
      "sync=false",
      &err);
  fail_unless(s->pipe != NULL, "%s", err ? err->message : "?");
  s->src = gst_bin_get_by_name(GST_BIN(s->pipe), "src");
  s->sink = gst_bin_get_by_name(GST_BIN(s->pipe), "sink");
  GstCaps *caps = gst_video_info_to_caps(&s->info);
  g_object_set(s->src, "caps", caps, NULL);
  gst_caps_unref(caps);
  frame_infer_attach(fi, STREAMSIGHT_SINK(s->sink));
  fail_unless(gst_element_set_state(s->pipe, GST_STATE_PLAYING) !=
              GST_STATE_CHANGE_FAILURE);
}

static void
stream_push(Stream *s, GstBuffer *buf, int i)
{
  GST_BUFFER_PTS(buf) = (GstClockTime)i * GST_SECOND / 30;
  GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
  fail_unless_equals_int(gst_app_src_push_buffer(GST_APP_SRC(s->src), buf),
                         GST_FLOW_OK);
}

/* EOS, wait for it to reach the sink, and tear down. */
static void
stream_stop(Stream *s)
{
  gst_app_src_end_of_stream(GST_APP_SRC(s->src));
  GstBus *bus = gst_element_get_bus(s->pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered(
      bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless(msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(s->pipe, GST_STATE_NULL);
  gst_object_unref(s->src);
  gst_object_unref(s->sink);
  gst_object_unref(s->pipe); /* the sink's reference on fi goes here */
}

static GstBuffer *
noise_frame(const GstVideoInfo *info)
{
  GstBuffer *buf = gst_buffer_new_allocate(NULL, info->size, NULL);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8)tu_rng_uniform(&rng, 0.0f, 255.99f);
  gst_buffer_unmap(buf, &map);
  return buf;
}

static void
wait_idle(FrameInfer *fi)
{
  for (int i = 0; i < 5000 && frame_infer_busy(fi); i++)
    g_usleep(1000);
  fail_if(frame_infer_busy(fi), "a frame is still in flight after 5 s");
}

static void
check_accounting(StreamResults *r, guint64 received, ResultsStats *st)
{
  stream_results_copy_stats(r, g_get_monotonic_time() * 1000, st);
  const guint64 *c = st->counters;
  printf("received %" G_GUINT64_FORMAT ": inferred %" G_GUINT64_FORMAT
         ", dropped busy %" G_GUINT64_FORMAT " fps %" G_GUINT64_FORMAT
         " queue %" G_GUINT64_FORMAT ", errors %" G_GUINT64_FORMAT "\n",
         c[RESULTS_RECEIVED], c[RESULTS_INFERRED], c[RESULTS_DROPPED_BUSY],
         c[RESULTS_DROPPED_FPS], c[RESULTS_DROPPED_QUEUE], c[RESULTS_ERRORS]);
  fail_unless_equals_uint64(c[RESULTS_RECEIVED], received);
  fail_unless_equals_uint64(c[RESULTS_INFERRED] + c[RESULTS_DROPPED_BUSY] +
                                c[RESULTS_DROPPED_FPS] +
                                c[RESULTS_DROPPED_QUEUE] + c[RESULTS_ERRORS],
                            received);
}

/* ---- subscriber that checks every prediction ---- */

typedef struct {
  gint count;
  guint64 last_frame_no;
  gint bad;
  char why[256];
} Checker;

static void
on_prediction(const Prediction *p, gpointer user)
{
  Checker *c = user;
  const char *why = NULL;
  if (p->frame_no <= c->last_frame_no)
    why = "frame_no not increasing";
  else if (p->n_top != TOP_K)
    why = "n_top";
  else if (p->capture_wall_us <= 0 || p->capture_mono_ns <= 0)
    why = "capture times";
  else if (!GST_CLOCK_TIME_IS_VALID(p->pts))
    why = "pts";
  else if (p->infer_ms <= 0 || p->queue_ms < 0 || p->preprocess_ms <= 0)
    why = "stage latencies";
  /* e2e spans preprocess + queue + inference (µs clocks: 0.01 ms slack) */
  else if (p->e2e_ms + 0.01 < p->preprocess_ms + p->queue_ms + p->infer_ms)
    why = "e2e shorter than its stages";
  for (int k = 1; k < p->n_top && !why; k++)
    if (p->top[k].score > p->top[k - 1].score)
      why = "scores not descending";
  if (why && !c->bad) {
    g_snprintf(c->why, sizeof c->why,
               "frame %" G_GUINT64_FORMAT ": %s (e2e %.3f pre %.3f q %.3f "
               "inf %.3f)",
               p->frame_no, why, p->e2e_ms, p->preprocess_ms, p->queue_ms,
               p->infer_ms);
    c->bad = 1;
  }
  c->last_frame_no = p->frame_no;
  c->count++;
}

/* ---- tests ---- */

GST_START_TEST(test_end_to_end)
{
  enum { FRAMES = 60 };
  struct ss_pool *pool = new_pool(2, 4);
  StreamResults *r = stream_results_new(128);
  FrameInfer *fi = frame_infer_new(pool, model, r, 0.0, TOP_K);
  Checker chk = { 0 };
  guint sub = stream_results_subscribe(r, on_prediction, &chk);
  Stream s;
  stream_start(&s, fi, GST_VIDEO_FORMAT_I420, 320, 240);
  tu_rng_seed(&rng, SEED);
  GstBuffer *frames[4];
  for (int i = 0; i < 4; i++)
    frames[i] = noise_frame(&s.info);
  /* Bursts of 3 frames, 3 ms apart: the 2nd and 3rd of a burst arrive
   * microseconds after the 1st, long before its inference (about 1 ms)
   * ends, so they find the stream's frame in flight. */
  for (int i = 0; i < FRAMES; i++) {
    stream_push(&s, gst_buffer_copy(frames[i % 4]), i);
    if (i % 3 == 2)
      g_usleep(3000);
  }
  stream_stop(&s);
  wait_idle(fi);

  ResultsStats st;
  check_accounting(r, FRAMES, &st);
  fail_unless(st.counters[RESULTS_INFERRED] >= 1);
  fail_unless(st.counters[RESULTS_DROPPED_BUSY] >= 1,
              "no frame was dropped as busy");
  fail_unless_equals_int(chk.count, (int)st.counters[RESULTS_INFERRED]);
  fail_if(chk.bad, "%s", chk.why);
  Prediction latest;
  fail_unless(stream_results_copy_latest(r, &latest));
  fail_unless_equals_uint64(latest.frame_no, chk.last_frame_no);
  fail_unless_equals_uint64(st.since_start[LATENCY_STAGE_E2E].count,
                            st.counters[RESULTS_INFERRED]);
  printf("e2e p50 %.2f ms, infer p50 %.2f ms, preprocess p50 %.3f ms\n",
         st.since_start[LATENCY_STAGE_E2E].p50_ms,
         st.since_start[LATENCY_STAGE_INFER].p50_ms,
         st.since_start[LATENCY_STAGE_PREPROCESS].p50_ms);

  stream_results_unsubscribe(r, sub);
  for (int i = 0; i < 4; i++)
    gst_buffer_unref(frames[i]);
  frame_infer_unref(fi);
  stream_results_unref(r);
  pool_free(pool);
}
GST_END_TEST;

/* A solid BGRx frame: the tensor is the normalised colour everywhere, so the
 * published top-k must equal a direct engine run on that tensor. */
GST_START_TEST(test_prediction_matches_engine)
{
  const guint8 rgb[3] = { 30, 120, 200 };
  struct ss_pool *pool = new_pool(1, 2);
  StreamResults *r = stream_results_new(4);
  FrameInfer *fi = frame_infer_new(pool, model, r, 0.0, TOP_K);
  Stream s;
  stream_start(&s, fi, GST_VIDEO_FORMAT_BGRx, 160, 120);
  GstBuffer *buf = gst_buffer_new_allocate(NULL, s.info.size, NULL);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i + 3 < map.size; i += 4) {
    map.data[i] = rgb[2];
    map.data[i + 1] = rgb[1];
    map.data[i + 2] = rgb[0];
    map.data[i + 3] = 0;
  }
  gst_buffer_unmap(buf, &map);
  stream_push(&s, buf, 0);
  stream_stop(&s);
  wait_idle(fi);

  Prediction got;
  fail_unless(stream_results_copy_latest(r, &got));
  int n = model_input_width(model) * model_input_height(model);
  float mean[3], std[3];
  model_input_norm(model, mean, std);
  float *input = g_new(float, (gsize)n * 3);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 3; c++)
      input[i * 3 + c] = (rgb[c] - mean[c]) / std[c];
  float *logits = g_new(float, model_num_outputs(model));
  struct ss_scratch *scratch = NULL;
  fail_unless(engine_scratch_new(engine, &scratch, NULL) == 0);
  engine_run(engine, scratch, input, logits);
  struct prediction want[TOP_K];
  int nw = predict_top_k(model, logits, logits, TOP_K, want);
  fail_unless_equals_int(got.n_top, nw);
  for (int k = 0; k < nw; k++) {
    /* The sink computes x * (1/std) - mean/std, the test (x - mean) / std:
     * inputs differ in the last bit, scores by far less than 1e-4. */
    fail_unless(got.top[k].index == want[k].index &&
                    fabsf(got.top[k].score - want[k].score) < 1e-4f,
                "rank %d: class %d p=%g vs class %d p=%g", k,
                got.top[k].index, (double)got.top[k].score, want[k].index,
                (double)want[k].score);
  }
  engine_scratch_free(scratch);
  g_free(logits);
  g_free(input);
  frame_infer_unref(fi);
  stream_results_unref(r);
  pool_free(pool);
}
GST_END_TEST;

GST_START_TEST(test_fps_budget)
{
  enum { FRAMES = 40 };
  struct ss_pool *pool = new_pool(2, 4);
  StreamResults *r = stream_results_new(16);
  FrameInfer *fi = frame_infer_new(pool, model, r, 10.0, TOP_K);
  Stream s;
  stream_start(&s, fi, GST_VIDEO_FORMAT_NV12, 64, 48);
  tu_rng_seed(&rng, SEED + 1);
  GstBuffer *frame = noise_frame(&s.info);
  gint64 t0 = g_get_monotonic_time();
  for (int i = 0; i < FRAMES; i++) {
    stream_push(&s, gst_buffer_copy(frame), i);
    g_usleep(5000);
  }
  double span_s = (g_get_monotonic_time() - t0) / 1e6;
  stream_stop(&s);
  wait_idle(fi);
  ResultsStats st;
  check_accounting(r, FRAMES, &st);
  /* At most one frame per 100 ms (+1 for the first) gets past the budget. */
  guint64 passed = st.counters[RESULTS_INFERRED] +
                   st.counters[RESULTS_DROPPED_BUSY] +
                   st.counters[RESULTS_DROPPED_QUEUE];
  printf("%.2f s at 10 fps: %" G_GUINT64_FORMAT " frames passed\n", span_s,
         passed);
  fail_unless(passed >= 1 && passed <= (guint64)(span_s * 10) + 1);
  fail_unless(st.counters[RESULTS_DROPPED_FPS] >= FRAMES - passed);
  /* Lifting the budget at run time lets every frame through again
   * (one at a time). */
  frame_infer_set_max_fps(fi, 0);
  frame_infer_set_top_k(fi, 2);
  stream_start(&s, fi, GST_VIDEO_FORMAT_NV12, 64, 48);
  stream_push(&s, gst_buffer_copy(frame), 0);
  stream_stop(&s);
  wait_idle(fi);
  Prediction p;
  fail_unless(stream_results_copy_latest(r, &p));
  fail_unless_equals_int(p.n_top, 2);
  gst_buffer_unref(frame);
  frame_infer_unref(fi);
  stream_results_unref(r);
  pool_free(pool);
}
GST_END_TEST;

/* A job that holds the pool's only worker until the gate opens. */
typedef struct {
  struct pool_job job;
  GMutex lock;
  GCond cond;
  gboolean entered, open;
} GateJob;

static void
gate_done(struct pool_job *job, const struct pool_result *res)
{
  GateJob *g = (GateJob *)job;
  g_mutex_lock(&g->lock);
  g->entered = TRUE;
  g_cond_broadcast(&g->cond);
  while (!g->open)
    g_cond_wait(&g->cond, &g->lock);
  g_mutex_unlock(&g->lock);
}

/* Two streams on a pool whose worker is held and whose queue holds one job:
 * the first stream's frame is queued, the second's is dropped_queue. */
GST_START_TEST(test_queue_full)
{
  struct ss_pool *pool = new_pool(1, 1);
  GateJob g;
  memset(&g, 0, sizeof g);
  g_mutex_init(&g.lock);
  g_cond_init(&g.cond);
  float *input = g_new0(float, (gsize)model_input_width(model) *
                                   model_input_height(model) * 3);
  g.job.input = input;
  g.job.top_k = 1;
  g.job.done = gate_done;
  fail_unless(pool_submit(pool, &g.job) == 0);
  g_mutex_lock(&g.lock);
  while (!g.entered)
    g_cond_wait(&g.cond, &g.lock);
  g_mutex_unlock(&g.lock);

  StreamResults *ra = stream_results_new(4), *rb = stream_results_new(4);
  FrameInfer *fa = frame_infer_new(pool, model, ra, 0.0, TOP_K);
  FrameInfer *fb = frame_infer_new(pool, model, rb, 0.0, TOP_K);
  Stream a, b;
  stream_start(&a, fa, GST_VIDEO_FORMAT_I420, 64, 48);
  stream_start(&b, fb, GST_VIDEO_FORMAT_I420, 64, 48);
  tu_rng_seed(&rng, SEED + 2);
  GstBuffer *frame = noise_frame(&a.info);
  stream_push(&a, gst_buffer_copy(frame), 0);
  /* a's frame is queued once a is busy; then b's cannot be. */
  for (int i = 0; i < 5000 && pool_queue_depth(pool) < 1; i++)
    g_usleep(1000);
  fail_unless_equals_int(pool_queue_depth(pool), 1);
  stream_push(&b, gst_buffer_copy(frame), 0);
  stream_stop(&b);
  fail_if(frame_infer_busy(fb)); /* released at once, not in flight */
  /* a is still in flight: its next frame is dropped busy */
  stream_push(&a, gst_buffer_copy(frame), 1);
  stream_stop(&a);

  g_mutex_lock(&g.lock);
  g.open = TRUE;
  g_cond_broadcast(&g.cond);
  g_mutex_unlock(&g.lock);
  wait_idle(fa);

  ResultsStats st;
  check_accounting(rb, 1, &st);
  fail_unless_equals_uint64(st.counters[RESULTS_DROPPED_QUEUE], 1);
  check_accounting(ra, 2, &st);
  fail_unless_equals_uint64(st.counters[RESULTS_INFERRED], 1);
  fail_unless_equals_uint64(st.counters[RESULTS_DROPPED_BUSY], 1);
  Prediction p;
  fail_unless(stream_results_copy_latest(ra, &p));
  /* it waited behind the held worker */
  fail_unless(p.queue_ms > 0.0);

  gst_buffer_unref(frame);
  frame_infer_unref(fa);
  frame_infer_unref(fb);
  stream_results_unref(ra);
  stream_results_unref(rb);
  pool_free(pool);
  g_free(input);
  g_mutex_clear(&g.lock);
  g_cond_clear(&g.cond);
}
GST_END_TEST;

/* Tearing the stream down (and dropping our reference) while a frame is in
 * flight: the job's own reference keeps the FrameInfer and its tensor alive
 * until the worker is done. */
GST_START_TEST(test_teardown_in_flight)
{
  struct ss_pool *pool = new_pool(1, 2);
  StreamResults *r = stream_results_new(4);
  FrameInfer *fi = frame_infer_new(pool, model, r, 0.0, TOP_K);
  Stream s;
  stream_start(&s, fi, GST_VIDEO_FORMAT_I420, 320, 240);
  tu_rng_seed(&rng, SEED + 3);
  stream_push(&s, noise_frame(&s.info), 0);
  stream_stop(&s);
  frame_infer_unref(fi); /* possibly the in-flight job's ref remains */
  pool_free(pool);       /* drains: the job completes and frees fi */
  ResultsStats st;
  check_accounting(r, 1, &st);
  fail_unless_equals_uint64(st.counters[RESULTS_INFERRED], 1);
  stream_results_unref(r);
}
GST_END_TEST;

static Suite *
frame_infer_suite(void)
{
  Suite *s = suite_create("frame-infer");
  TCase *tc = tcase_create("end-to-end");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_end_to_end);
  tcase_add_test(tc, test_prediction_matches_engine);
  tcase_add_test(tc, test_fps_budget);
  tcase_add_test(tc, test_queue_full);
  tcase_add_test(tc, test_teardown_in_flight);
  suite_add_tcase(s, tc);
  return s;
}

int
main(int argc, char **argv)
{
  gst_check_init(&argc, &argv);
  if (!streamsight_sink_register()) {
    fprintf(stderr, "streamsight_sink_register failed\n");
    return 1;
  }
  kern_init();
  printf("seed %u\n", SEED);
  setup_model();
  int rc = gst_check_run_suite(frame_infer_suite(), "frame-infer", __FILE__);
  engine_free(engine);
  return rc;
}
