/* Teach a camera on a real clip, end to end (issue 12 "Proof"): the built
 * binary watches videos/one-by-one-person-detection.mp4 served by the RTSP
 * test server, through an ROI on the walkway; examples of "person" and
 * "empty" are captured through the API from the stream at clip times picked
 * by looking at the frames (tests/fixtures/person-intervals.json); the head
 * is trained; a second viewing of the whole clip on a fresh stream with the
 * head and an alert rule on "person" gives alerts, compared with the
 * hand-made intervals when a person is in the ROI.
 *
 * Prints: the examples, the cross-validated accuracy, frames right (the
 * head's answer against the intervals, frames within margin_s of a boundary
 * not scored), alerts matched to intervals, false alerts, and each alert's
 * start/end against its interval. Needs STREAMSIGHT_TEST_DATA (skips
 * without it) and takes the clip's length twice over in real time, minus
 * the part after the last example (about 3.5 minutes).
 */
#include <check.h>
#include <gst/gst.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child-process.h"
#include "rtsp-test-server.h"
#include "testutil.h"

#define MODEL "models/mobilenet_v2_1.0_224_quant.tflite"
#define LABELS "models/labels.txt"
#define VIDEO "videos/one-by-one-person-detection.mp4"
#define HEAD "walkway"
/* Real time with margins for a loaded 2-core machine. */
#define CLIP_SLACK_S 90.0

static guint port;

static json_t *
api(const char *method, const char *target, json_t *body, int *status)
{
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  char *out = NULL;
  int st = 0;
  gboolean ok = http_request(port, method, target, text, &st, &out);
  free(text);
  json_decref(body);
  ck_assert_msg(ok, "%s %s: no answer", method, target);
  if (status)
    *status = st;
  json_t *j = out && *out ? json_loads(out, 0, NULL) : NULL;
  if (!status && (st < 200 || st >= 300))
    ck_abort_msg("%s %s: %d %s", method, target, st, out ? out : "");
  g_free(out);
  return j;
}

/* The latest prediction's frame number (0 before the first). */
static gint64
latest_frame(const char *stream)
{
  char *path = g_strdup_printf("/api/v1/streams/%s/predictions/latest",
                               stream);
  json_t *j = api("GET", path, NULL, NULL);
  g_free(path);
  json_t *p = json_object_get(j, "prediction");
  gint64 f = json_is_object(p) ? json_integer_value(json_object_get(p,
                                                                    "frame"))
                               : 0;
  json_decref(j);
  return f;
}

/* Waits until the stream's latest analysed frame is at or past clip time
 * t_s (frame N is at (N - 1) / fps). FALSE after timeout_s. */
static gboolean
wait_clip_time(const char *stream, double t_s, int fps, double timeout_s)
{
  gint64 want = (gint64)ceil(t_s * fps - 1e-6) + 1;
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  while (g_get_monotonic_time() < deadline) {
    if (latest_frame(stream) >= want)
      return TRUE;
    g_usleep(40 * 1000);
  }
  return FALSE;
}

/* The score of class cls in a prediction of a stream with labels "head":
 * its "classes" are the head's. */
static double
head_score(json_t *pred, const char *cls)
{
  json_t *classes = json_object_get(pred, "classes");
  for (gsize i = 0; i < json_array_size(classes); i++) {
    json_t *c = json_array_get(classes, i);
    const char *label = json_string_value(json_object_get(c, "label"));
    if (label && strcmp(label, cls) == 0)
      return json_number_value(json_object_get(c, "score"));
  }
  return 0.0;
}

typedef struct {
  double start, end;
} Span;

static gint64
parse_time_us(const char *iso)
{
  GDateTime *dt = iso ? g_date_time_new_from_iso8601(iso, NULL) : NULL;
  if (!dt)
    return 0;
  gint64 us = g_date_time_to_unix(dt) * G_USEC_PER_SEC +
              g_date_time_get_microsecond(dt);
  g_date_time_unref(dt);
  return us;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  double t;
  const char *cls;
} Example;

static int
cmp_example(const void *a, const void *b)
{
  return cmp_double(&((const Example *)a)->t, &((const Example *)b)->t);
}

static void
add_examples(json_t *times, const char *cls, Example *all, guint *n,
             guint cap)
{
  for (gsize i = 0; i < json_array_size(times) && *n < cap; i++) {
    all[*n].t = json_number_value(json_array_get(times, i));
    all[*n].cls = cls;
    (*n)++;
  }
}

START_TEST(test_real_clip)
{
  char video[1024], model[1024], labels[1024];
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  if (!exe || !tu_data_path(VIDEO, video, sizeof video) ||
      !tu_data_path(MODEL, model, sizeof model) ||
      !tu_data_path(LABELS, labels, sizeof labels)) {
    printf("SKIP: needs STREAMSIGHT_TEST_DATA with " VIDEO " and " MODEL
           ", and SS_STREAMSIGHT_EXE (run through meson test)\n");
    return;
  }
  const char *sanitized = getenv("SS_SANITIZED");
  if (sanitized && *sanitized && strcmp(sanitized, "none") != 0) {
    printf("SKIP: a sanitizer build (%s) cannot keep up with a real-time "
           "clip; run the release build (tests/meson.build says why)\n",
           sanitized);
    return;
  }
  const char *root = getenv("SS_SOURCE_ROOT");
  char *fixture = g_build_filename(root ? root : ".", "tests", "fixtures",
                                   "person-intervals.json", NULL);
  json_error_t je;
  json_t *fx = json_load_file(fixture, 0, &je);
  ck_assert_msg(fx != NULL, "%s: %s", fixture, je.text);
  int fps = (int)json_integer_value(json_object_get(fx, "fps"));
  double duration = json_number_value(json_object_get(fx, "duration_s"));
  double margin = json_number_value(json_object_get(fx, "margin_s"));
  json_t *roi = json_object_get(fx, "roi");
  json_t *ivs = json_object_get(fx, "intervals");
  guint n_iv = (guint)json_array_size(ivs);
  Span *iv = g_new0(Span, n_iv);
  for (guint i = 0; i < n_iv; i++) {
    iv[i].start = json_number_value(json_object_get(json_array_get(ivs, i),
                                                    "start_s"));
    iv[i].end = json_number_value(json_object_get(json_array_get(ivs, i),
                                                  "end_s"));
  }

  /* Two cameras showing the clip from its start when a client connects:
   * one to teach from, one to watch with what was taught. */
  char *launch = g_strdup_printf(
      "( filesrc location=\"%s\" ! qtdemux ! h264parse ! "
      "rtph264pay name=pay0 pt=96 config-interval=-1 )", video);
  RtspTestServerOptions ro = { .launch = launch, .path = "/clip" };
  GError *e = NULL;
  RtspTestServer *cam_a = rtsp_test_server_new(&ro, &e);
  ck_assert_msg(cam_a != NULL, "rtsp: %s", e ? e->message : "");
  RtspTestServer *cam_b = rtsp_test_server_new(&ro, &e);
  ck_assert_msg(cam_b != NULL, "rtsp: %s", e ? e->message : "");

  char *dir = g_strdup_printf("%s/clip-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *cfg_path = g_build_filename(dir, "streamsight.json", NULL);
  json_t *cfg = json_pack("{s:i, s:s, s:s, s:[]}", "threads", 2, "model",
                          model, "labels", labels, "streams");
  ck_assert_int_eq(json_dump_file(cfg, cfg_path, 0), 0);
  json_decref(cfg);
  char *log = g_build_filename(dir, "server.log", NULL);
  char *argv[] = { (char *)exe, "serve", "--config", cfg_path, "--port", "0",
                   NULL };
  char **envp = g_get_environ();
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_CONFIG");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_TOKEN");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_PORT");
  Child srv;
  ck_assert(child_spawn(&srv, argv, envp, log));
  g_strfreev(envp);
  port = wait_listening(&srv, 60);
  ck_assert_msg(port != 0, "the server did not start");

  /* ---- teach ---- */
  char *uri_a = rtsp_test_server_uri(cam_a, NULL);
  json_t *s = json_pack("{s:s, s:s, s:s, s:f, s:O, s:s, s:i}", "id", "teach",
                        "name", "Walkway (teaching)", "uri", uri_a, "max_fps",
                        (double)fps, "roi", roi, "transport", "tcp",
                        "history_len", 100);
  json_decref(api("POST", "/api/v1/streams", s, NULL));
  json_decref(api("POST", "/api/v1/heads",
                  json_pack("{s:s, s:[s,s]}", "id", HEAD, "classes",
                            "person", "empty"), NULL));
  json_t *ex = json_object_get(fx, "examples");
  Example exs[128];
  guint n_ex = 0;
  add_examples(json_object_get(ex, "person"), "person", exs, &n_ex, 128);
  add_examples(json_object_get(ex, "empty"), "empty", exs, &n_ex, 128);
  qsort(exs, n_ex, sizeof exs[0], cmp_example);
  guint n_person = 0, n_empty = 0;
  for (guint i = 0; i < n_ex; i++) {
    double t = exs[i].t;
    ck_assert_msg(wait_clip_time("teach", t, fps, t + CLIP_SLACK_S),
                  "the teaching stream never reached %.1f s", t);
    json_decref(api("POST", "/api/v1/heads/" HEAD "/examples",
                    json_pack("{s:s, s:s}", "class", exs[i].cls, "stream",
                              "teach"), NULL));
    if (strcmp(exs[i].cls, "empty") == 0)
      n_empty++;
    else
      n_person++;
  }
  printf("examples: %u person, %u empty, captured from the stream at the "
         "fixture's clip times\n", n_person, n_empty);
  json_t *report = api("POST", "/api/v1/heads/" HEAD "/train", NULL, NULL);
  char *rep = json_dumps(report, JSON_COMPACT);
  printf("train: %s\n", rep);
  free(rep);
  json_decref(report);
  json_decref(api("DELETE", "/api/v1/streams/teach", NULL, NULL));

  /* ---- watch ---- */
  char *uri_b = rtsp_test_server_uri(cam_b, NULL);
  s = json_pack("{s:s, s:s, s:s, s:f, s:O, s:s, s:s, s:s, s:i, s:[{s:s, s:f, "
                "s:f, s:f}]}", "id", "walk", "name", "Walkway", "uri", uri_b,
                "max_fps", 5.0, "roi", roi, "transport", "tcp", "head", HEAD,
                "labels", "head", "history_len", 2000, "alerts", "class",
                "person", "min_score", 0.6, "min_duration_s", 1.0,
                "clear_after_s", 2.0);
  json_decref(api("POST", "/api/v1/streams", s, NULL));
  /* The whole clip (the last analysed frame is within 1/max_fps of its
   * end), then 3 s for the last alert to clear. */
  gboolean done = wait_clip_time("walk", duration - 0.5, fps,
                                 duration + CLIP_SLACK_S);
  ck_assert_msg(done, "the watching stream did not reach the clip's end");
  g_usleep(3 * G_USEC_PER_SEC);

  json_t *hist = api("GET", "/api/v1/streams/walk/predictions?limit=2000",
                     NULL, NULL);
  json_t *preds = json_object_get(hist, "predictions");
  guint scored = 0, right = 0, n_pred = 0, right_all = 0;
  double *offsets = g_new(double, json_array_size(preds) + 1);
  guint64 first_frame = 0;
  for (gsize i = 0; i < json_array_size(preds); i++) {
    json_t *p = json_array_get(preds, i);
    gint64 frame = json_integer_value(json_object_get(p, "frame"));
    double t = (double)(frame - 1) / fps;
    if (t > duration)
      break; /* a replay after the end of the clip */
    if (!first_frame)
      first_frame = (guint64)frame;
    gint64 wall = parse_time_us(json_string_value(json_object_get(
        p, "capture_time")));
    offsets[n_pred++] = (double)wall / 1e6 - t;
    gboolean truth = FALSE, near = FALSE;
    for (guint k = 0; k < n_iv; k++) {
      if (t >= iv[k].start && t <= iv[k].end)
        truth = TRUE;
      if (fabs(t - iv[k].start) < margin || fabs(t - iv[k].end) < margin)
        near = TRUE;
    }
    gboolean said = head_score(p, "person") >= 0.5;
    right_all += said == truth;
    if (near)
      continue;
    scored++;
    right += said == truth;
  }
  ck_assert_uint_gt(n_pred, 100);
  /* Wall clock of clip time 0: the median offset. */
  qsort(offsets, n_pred, sizeof offsets[0], cmp_double);
  double t0 = offsets[n_pred / 2];

  json_t *al = api("GET", "/api/v1/alerts?stream=walk&limit=1000", NULL, NULL);
  json_t *alerts = json_object_get(al, "alerts");
  guint n_alerts = (guint)json_array_size(alerts);
  guint *hits = g_new0(guint, n_iv);
  guint false_alerts = 0;
  /* Newest first: walk from the oldest. */
  for (gsize i = n_alerts; i-- > 0;) {
    json_t *a = json_array_get(alerts, i);
    double start = parse_time_us(json_string_value(json_object_get(
                       a, "start_time"))) / 1e6 - t0;
    const char *end_s = json_string_value(json_object_get(a, "end_time"));
    double end = (end_s ? parse_time_us(end_s)
                        : parse_time_us(json_string_value(json_object_get(
                              a, "last_seen_time")))) / 1e6 - t0;
    int match = -1;
    for (guint k = 0; k < n_iv && match < 0; k++)
      if (start <= iv[k].end && end >= iv[k].start)
        match = (int)k;
    if (match < 0) {
      false_alerts++;
      printf("alert %lld: %.1f-%.1f s, peak %.2f: FALSE (no person)\n",
             (long long)json_integer_value(json_object_get(a, "id")), start,
             end, json_number_value(json_object_get(a, "peak_score")));
    } else {
      hits[match]++;
      printf("alert %lld: %.1f-%.1f s, peak %.2f: person %d (%.1f-%.1f s), "
             "start %+.1f s, end %+.1f s\n",
             (long long)json_integer_value(json_object_get(a, "id")), start,
             end, json_number_value(json_object_get(a, "peak_score")),
             match + 1, iv[match].start, iv[match].end,
             start - iv[match].start, end - iv[match].end);
    }
  }
  guint matched = 0, split = 0;
  for (guint k = 0; k < n_iv; k++) {
    matched += hits[k] > 0;
    split += hits[k] > 1 ? hits[k] - 1 : 0;
  }
  printf("real clip: frames right %u/%u (%.1f%%; with the %u frames within "
         "%.1f s of a boundary %u/%u, %.1f%%); alerts %u: %u of %u intervals "
         "matched, %u extra alerts inside an interval, %u false alerts\n",
         right, scored, 100.0 * right / MAX(scored, 1), n_pred - scored,
         margin, right_all, n_pred, 100.0 * right_all / MAX(n_pred, 1),
         n_alerts, matched, n_iv, split, false_alerts);

  /* What a camera owner needs: every visit alerted once, nothing else. */
  ck_assert_msg(right >= scored * 0.9, "frames right %u/%u", right, scored);
  ck_assert_msg(matched >= n_iv - 1, "only %u of %u visits alerted", matched,
                n_iv);
  ck_assert_msg(false_alerts <= 1, "%u false alerts", false_alerts);
  ck_assert_msg(split <= 1, "%u visits split into several alerts", split);

  json_decref(al);
  json_decref(hist);
  g_free(hits);
  g_free(offsets);
  ck_assert_int_eq(child_finish(&srv, SIGTERM, 30), 0);
  child_clear(&srv);
  rtsp_test_server_free(cam_a);
  rtsp_test_server_free(cam_b);
  g_free(uri_a);
  g_free(uri_b);
  g_free(log);
  g_free(cfg_path);
  g_free(dir);
  g_free(launch);
  g_free(iv);
  g_free(fixture);
  json_decref(fx);
}
END_TEST

static Suite *
real_clip_suite(void)
{
  Suite *s = suite_create("real-clip");
  TCase *tc = tcase_create("clip");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_real_clip);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  /* The figures are the point of this test: unbuffered, so that they are
   * in the log even when a check fails after them. */
  setvbuf(stdout, NULL, _IONBF, 0);
  gst_init(NULL, NULL);
  return tu_run_suite(real_clip_suite());
}
