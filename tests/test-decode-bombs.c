/* streamsight — decode bombs against the classify path (issue 11 parts 3
 * and 4): the decode memory budget of server/classify-pool.c, and the real
 * binary under bombs posted at once (peak RSS, every answer a clear 4xx or a
 * 503 with Retry-After, the server still up), and a normal upload behind
 * scan bombs.
 *
 * The binary tests need SS_STREAMSIGHT_EXE (meson sets it) and a real model
 * from STREAMSIGHT_TEST_DATA; they skip with a message without either.
 * Bounds are generous on purpose (the machine is shared): 600 MB of peak
 * RSS (the budget is 256 MB), 10 s for the upload behind the bombs.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "child-process.h"
#include "classify-pool.h"
#include "engine.h"
#include "http-client.h"
#include "image-fixtures.h"
#include "kernels/kernels.h"
#include "mobilenet.h"
#include "testutil.h"

/* ---- the budget, in the pool ------------------------------------------- */

START_TEST(test_pool_budget)
{
  struct ss_model *model = NULL;
  struct ss_engine *engine = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                                MODEL_PAD_RULE_TF_SAME, 1001, &model,
                                &err) == 0,
                "%s", err.message);
  ck_assert(engine_new(model, KERN_ISA_AUTO, &engine, &err) == 0);
  const guint64 budget = (guint64)32 << 20;
  ClassifyPool *p = classify_pool_new(engine, 2, budget);
  GBytes *png = fix_png_blank(2000, 1500, 8, 2); /* ~9 MB to decode */
  gsize n;
  const guint8 *d = g_bytes_get_data(png, &n);
  struct prediction top[5];
  ClassifyInfo info;
  GError *e = NULL;

  /* Fits: classified, and the budget is free again. */
  ck_assert_int_eq(classify_pool_run(p, d, n, 5, top, &info, &e), 5);
  ClassifyPoolStats st;
  classify_pool_stats(p, &st);
  ck_assert_uint_eq(st.decode_bytes_in_use, 0);
  ck_assert_uint_eq(st.decode_budget_bytes, budget);

  /* Someone holds most of the budget: the upload waits, then BUSY. */
  ck_assert(classify_pool_budget_reserve(p, budget - ((guint64)4 << 20),
                                         NULL));
  gint64 t0 = g_get_monotonic_time();
  ck_assert_int_eq(classify_pool_run(p, d, n, 5, top, &info, &e), -1);
  double waited = (g_get_monotonic_time() - t0) / 1e6;
  printf("budget full: refused after %.2f s: %s\n", waited, e->message);
  ck_assert(g_error_matches(e, CLASSIFY_POOL_ERROR, CLASSIFY_POOL_ERROR_BUSY));
  ck_assert_ptr_nonnull(strstr(e->message, "limits.decode_memory_mb"));
  ck_assert_double_ge(waited, CLASSIFY_POOL_BUDGET_WAIT_MS / 1000.0 - 0.1);
  g_clear_error(&e);
  classify_pool_stats(p, &st);
  ck_assert_uint_eq(st.budget_refusals, 1);
  /* Given back: it goes through. */
  classify_pool_budget_release(p, budget - ((guint64)4 << 20));
  ck_assert_int_eq(classify_pool_run(p, d, n, 5, top, &info, &e), 5);

  /* More than the whole budget: too large at once, never waited for. */
  GBytes *bomb = fix_bmp_rle_bomb(4000, 3000, TRUE); /* 36 MB > 32 MB */
  d = g_bytes_get_data(bomb, &n);
  t0 = g_get_monotonic_time();
  ck_assert_int_eq(classify_pool_run(p, d, n, 5, top, &info, &e), -1);
  ck_assert_msg(g_error_matches(e, IMAGE_DECODE_ERROR,
                                IMAGE_DECODE_ERROR_TOO_LARGE),
                "%s", e->message);
  ck_assert_double_lt((g_get_monotonic_time() - t0) / 1e6, 1.0);
  g_clear_error(&e);
  classify_pool_stats(p, &st);
  ck_assert_uint_eq(st.decode_bytes_in_use, 0);
  ck_assert_uint_eq(st.bad_images, 1);

  /* The same asked of the budget directly (what the heads examples route
   * does): too large at once, not BUSY after the wait. */
  t0 = g_get_monotonic_time();
  ck_assert(!classify_pool_budget_reserve(p, budget + 1, &e));
  ck_assert_msg(g_error_matches(e, IMAGE_DECODE_ERROR,
                                IMAGE_DECODE_ERROR_TOO_LARGE),
                "%s", e->message);
  ck_assert_ptr_nonnull(strstr(e->message, "limits.decode_memory_mb"));
  ck_assert_double_lt((g_get_monotonic_time() - t0) / 1e6, 1.0);
  g_clear_error(&e);
  classify_pool_stats(p, &st);
  ck_assert_uint_eq(st.budget_refusals, 1);
  ck_assert_uint_eq(st.decode_bytes_in_use, 0);

  g_bytes_unref(bomb);
  g_bytes_unref(png);
  classify_pool_free(p);
  engine_free(engine);
  model_unref(model);
}
END_TEST

/* ---- the real binary ---------------------------------------------------- */

typedef struct {
  Child child;
  guint port;
  char *dir;
} Server;

/* Starts `streamsight serve` with no streams and the smallest real model;
 * FALSE (skipped) without the binary or the model. */
static gboolean
server_start(Server *s)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  char model[1024];
  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set (run through meson test)\n");
    return FALSE;
  }
  if (!tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite", model,
                    sizeof model))
    return FALSE;
  memset(s, 0, sizeof *s);
  s->dir = g_build_filename(tu_tmp_dir(), "bombs-XXXXXX", NULL);
  ck_assert_ptr_nonnull(g_mkdtemp(s->dir));
  char *config = g_build_filename(s->dir, "streamsight.json", NULL);
  ck_assert(g_file_set_contents(
      config, "{\"streams\": [], \"limits\": {\"decode_memory_mb\": 256}}\n",
      -1, NULL));
  char *log = g_build_filename(s->dir, "server.log", NULL);
  char **env = g_get_environ();
  env = g_environ_unsetenv(env, "STREAMSIGHT_CONFIG");
  env = g_environ_unsetenv(env, "STREAMSIGHT_PORT");
  env = g_environ_unsetenv(env, "STREAMSIGHT_TOKEN");
  env = g_environ_setenv(env, "STREAMSIGHT_MODEL", model, TRUE);
  env = g_environ_setenv(env, "STREAMSIGHT_THREADS", "1", TRUE);
  char *argv[] = { (char *)exe, "serve", "--config", config, "--port", "0",
                   NULL };
  ck_assert(child_spawn(&s->child, argv, env, log));
  s->port = wait_listening(&s->child, 60);
  if (!s->port) {
    char *tail = child_log_tail(&s->child);
    ck_abort_msg("the server did not start:\n%s", tail);
  }
  g_strfreev(env);
  g_free(log);
  g_free(config);
  return TRUE;
}

static void
server_stop(Server *s)
{
  ck_assert_int_eq(child_finish(&s->child, SIGTERM, 30), 0);
  child_clear(&s->child);
  g_free(s->dir);
}

/* A field of /proc/PID/status in kB (VmHWM: peak RSS). */
static guint64
proc_status_kb(pid_t pid, const char *field)
{
  char *path = g_strdup_printf("/proc/%d/status", (int)pid);
  char *text = NULL;
  ck_assert(g_file_get_contents(path, &text, NULL, NULL));
  const char *at = strstr(text, field);
  ck_assert_msg(at != NULL, "%s: no %s", path, field);
  guint64 kb = g_ascii_strtoull(at + strlen(field) + 1, NULL, 10);
  g_free(text);
  g_free(path);
  return kb;
}

typedef struct {
  guint port;
  const char *name;
  GBytes *body;
  int status;
  char *code;        /* error.code, or NULL */
  char *message;     /* error.message, or NULL */
  gboolean retry_after;
  double seconds;
} Post;

static gpointer
post_main(gpointer user)
{
  Post *p = user;
  gsize n;
  const char *d = g_bytes_get_data(p->body, &n);
  gint64 t0 = g_get_monotonic_time();
  int fd = hc_connect(p->port);
  hc_set_recv_timeout(fd, 120 * 1000);
  char *head = g_strdup_printf("POST /api/v1/classify HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Content-Length: %zu\r\nConnection: close\r\n"
                               "\r\n",
                               n);
  HcAnswer a = { 0 };
  if (hc_send_all(fd, head, strlen(head)) && hc_send_all(fd, d, n))
    hc_read_answer(fd, FALSE, &a);
  close(fd);
  g_free(head);
  p->seconds = (g_get_monotonic_time() - t0) / 1e6;
  p->status = a.status;
  json_t *j = hc_answer_json(&a);
  json_t *err = j ? json_object_get(j, "error") : NULL;
  if (err) {
    p->code = g_strdup(json_string_value(json_object_get(err, "code")));
    p->message = g_strdup(json_string_value(json_object_get(err, "message")));
  }
  char *ra = hc_answer_header(&a, "Retry-After");
  p->retry_after = ra != NULL;
  g_free(ra);
  json_decref(j);
  hc_answer_clear(&a);
  return NULL;
}

static void
posts_run(Post *posts, int n)
{
  GThread **th = g_new(GThread *, n);
  for (int i = 0; i < n; i++)
    th[i] = g_thread_new("post", post_main, &posts[i]);
  for (int i = 0; i < n; i++)
    g_thread_join(th[i]);
  g_free(th);
  for (int i = 0; i < n; i++)
    printf("  %-28s %d %s (%.2f s)%s %s\n", posts[i].name, posts[i].status,
           posts[i].code ? posts[i].code : "", posts[i].seconds,
           posts[i].retry_after ? " Retry-After" : "",
           posts[i].message ? posts[i].message : "");
}

static void
posts_clear(Post *posts, int n)
{
  for (int i = 0; i < n; i++) {
    g_free(posts[i].code);
    g_free(posts[i].message);
  }
}

static json_int_t
limit_hits(guint port, const char *key)
{
  int status = 0;
  char *body = NULL;
  ck_assert(http_request(port, "GET", "/api/v1/stats", NULL, &status, &body));
  ck_assert_int_eq(status, 200);
  json_t *j = json_loads(body, 0, NULL);
  ck_assert_ptr_nonnull(j);
  json_int_t v = json_integer_value(
      json_object_get(json_object_get(j, "limit_hits"), key));
  json_decref(j);
  g_free(body);
  return v;
}

/* The reported bombs, several at once, then twenty RLE bombs at once:
 * each answer is 413 (over the budget or the scan limit), 200 (fits the
 * budget) or 503 with Retry-After (the budget stayed busy 2 s); peak RSS
 * stays far below the sum of what they claim. */
START_TEST(test_bombs_at_once)
{
  Server s;
  if (!server_start(&s))
    return;
  guint64 base_kb = proc_status_kb(s.child.pid, "VmRSS:");
  Post posts[] = {
    { .name = "rle4 16384x6100 (120 B)",
      .body = fix_bmp_rle_bomb(16384, 6100, TRUE) },
    { .name = "rle4 9000x9000", .body = fix_bmp_rle_bomb(9000, 9000, TRUE) },
    { .name = "png rgba16 8000x8000",
      .body = fix_png_blank(8000, 8000, 16, 6) },
    { .name = "png rgba16 16384x6100",
      .body = fix_png_blank(16384, 6100, 16, 6) },
    { .name = "jpeg 16384x6096 5000 scans",
      .body = fix_jpeg_scan_bomb(16384, 6096, 5000) },
    { .name = "jpeg 16384x4096 5000 scans",
      .body = fix_jpeg_scan_bomb(16384, 4096, 5000) },
    { .name = "jpeg 16384x4096 5000 scans (2)",
      .body = fix_jpeg_scan_bomb(16384, 4096, 5000) },
  };
  enum { N = G_N_ELEMENTS(posts) };
  for (int i = 0; i < N; i++)
    posts[i].port = s.port;
  printf("bombs at once (server RSS %" G_GUINT64_FORMAT " MB before):\n",
         base_kb >> 10);
  posts_run(posts, N);
  int busy = 0;
  for (int i = 0; i < N; i++) {
    Post *p = &posts[i];
    ck_assert_msg(p->status == 200 || p->status == 413 || p->status == 503,
                  "%s: status %d", p->name, p->status);
    if (p->status == 503) {
      ck_assert_msg(p->retry_after, "%s: 503 without Retry-After", p->name);
      ck_assert_str_eq(p->code, "unavailable");
      ck_assert_ptr_nonnull(strstr(p->message, "decode memory busy"));
      busy++;
    }
  }
  /* Over the budget by their header alone. */
  ck_assert_int_eq(posts[0].status, 413);
  ck_assert_ptr_nonnull(strstr(posts[0].message, "MB to decode"));
  ck_assert_int_eq(posts[3].status, 413);
  ck_assert_ptr_nonnull(strstr(posts[3].message, "MB to decode"));
  /* 16384 x 6096 grey, DCT-scaled 1/4 for the 128 px model: 219 MB, within
   * the budget; refused by the scan limit (32 for its size). */
  ck_assert_int_eq(posts[4].status, 413);
  /* The scan bombs that fit the budget: refused by the scan limit (or 503
   * while the budget was busy). */
  for (int i = 5; i < 7; i++)
    ck_assert_msg(posts[i].status == 413 || posts[i].status == 503,
                  "%s: %d", posts[i].name, posts[i].status);
  posts_clear(posts, N);
  for (int i = 0; i < N; i++)
    g_bytes_unref(posts[i].body);

  /* Twenty RLE bombs of 8000 x 8000 (192 MB each decoded, 3.8 GB in all)
   * at once. */
  Post many[20];
  GBytes *rle = fix_bmp_rle_bomb(8000, 8000, TRUE);
  for (int i = 0; i < 20; i++)
    many[i] = (Post){ .port = s.port, .name = "rle4 8000x8000", .body = rle };
  printf("twenty rle bombs at once:\n");
  posts_run(many, 20);
  int ok = 0, jobs_busy = 0;
  for (int i = 0; i < 20; i++) {
    ck_assert_msg(many[i].status == 200 || many[i].status == 503,
                  "rle bomb %d: %d", i, many[i].status);
    ok += many[i].status == 200;
    /* 503: the decode budget stayed full for 2 s ("unavailable"), or the
     * job waited too long for one of the 2 image threads ("busy", http.c;
     * counted as image_jobs_queued). */
    if (many[i].status == 503) {
      ck_assert(many[i].retry_after);
      ck_assert_msg(strcmp(many[i].code, "unavailable") == 0 ||
                        strcmp(many[i].code, "busy") == 0,
                    "503 %s", many[i].code);
      busy += strcmp(many[i].code, "unavailable") == 0;
      jobs_busy += strcmp(many[i].code, "busy") == 0;
    }
  }
  ck_assert_int_ge(ok, 1);
  posts_clear(many, 20);
  g_bytes_unref(rle);

  guint64 hwm_kb = proc_status_kb(s.child.pid, "VmHWM:");
  printf("peak RSS %" G_GUINT64_FORMAT " MB (before: %" G_GUINT64_FORMAT
         " MB); 503: %d for the decode budget, %d for the job queue\n",
         hwm_kb >> 10, base_kb >> 10, busy, jobs_busy);
  ck_assert_msg(hwm_kb < 600 * 1024, "peak RSS %" G_GUINT64_FORMAT " MB",
                hwm_kb >> 10);
  /* Every decode-budget 503 counted where the server counts its limits. */
  ck_assert_int_eq(limit_hits(s.port, "limits.decode_memory_mb"), busy);
  int status = 0;
  ck_assert(http_request(s.port, "GET", "/healthz", NULL, &status, NULL));
  ck_assert_int_eq(status, 200);
  server_stop(&s);
}
END_TEST

/* The hostile set (image-fixtures.c) posted one by one: each classified
 * (200) or refused with its 4xx and reason; the server stays up. */
START_TEST(test_hostile_set)
{
  Server s;
  if (!server_start(&s))
    return;
  int n = 0;
  FixHostile *set = fix_hostile_set(&n);
  for (int i = 0; i < n; i++) {
    Post p = { .port = s.port, .name = set[i].name, .body = set[i].bytes };
    post_main(&p);
    printf("  %-24s %d %s %s\n", p.name, p.status, p.code ? p.code : "",
           p.message ? p.message : "");
    ck_assert_msg(p.status == set[i].http_status, "%s: %d, want %d (%s)",
                  p.name, p.status, set[i].http_status,
                  p.message ? p.message : "");
    if (set[i].error)
      ck_assert_msg(p.message && strstr(p.message, set[i].error),
                    "%s: '%s' lacks '%s'", p.name,
                    p.message ? p.message : "", set[i].error);
    if (p.status == 415)
      ck_assert_str_eq(p.code, "unsupported_image");
    posts_clear(&p, 1);
  }
  fix_hostile_free(set, n);
  int status = 0;
  ck_assert(http_request(s.port, "GET", "/healthz", NULL, &status, NULL));
  ck_assert_int_eq(status, 200);
  server_stop(&s);
}
END_TEST

/* A normal upload posted right behind two scan bombs (each fits the
 * budget) answers within 10 s. */
START_TEST(test_upload_behind_scan_bombs)
{
  Server s;
  if (!server_start(&s))
    return;
  guint8 px[320 * 240 * 3];
  for (gsize i = 0; i < sizeof px; i++)
    px[i] = (guint8)(i * 7 + i / 960);
  FixJpeg o = { .components = 3 };
  Post posts[] = {
    { .name = "scan bomb 1", .body = fix_jpeg_scan_bomb(16384, 4096, 5000) },
    { .name = "scan bomb 2", .body = fix_jpeg_scan_bomb(16384, 4096, 5000) },
    { .name = "normal 320x240", .body = fix_jpeg_encode(px, 320, 240, &o) },
  };
  GThread *th[3];
  for (int i = 0; i < 3; i++) {
    posts[i].port = s.port;
    th[i] = g_thread_new("post", post_main, &posts[i]);
    g_usleep(50 * 1000); /* the bombs go first */
  }
  for (int i = 0; i < 3; i++)
    g_thread_join(th[i]);
  for (int i = 0; i < 3; i++)
    printf("  %-16s %d %s (%.2f s) %s\n", posts[i].name, posts[i].status,
           posts[i].code ? posts[i].code : "", posts[i].seconds,
           posts[i].message ? posts[i].message : "");
  ck_assert_int_eq(posts[2].status, 200);
  ck_assert_msg(posts[2].seconds < 10.0, "the upload behind the bombs took "
                "%.1f s", posts[2].seconds);
  for (int i = 0; i < 2; i++)
    ck_assert_msg(posts[i].status == 413 || posts[i].status == 503,
                  "%s: %d", posts[i].name, posts[i].status);
  posts_clear(posts, 3);
  for (int i = 0; i < 3; i++)
    g_bytes_unref(posts[i].body);
  server_stop(&s);
}
END_TEST

static Suite *
bombs_suite(void)
{
  Suite *s = suite_create("decode-bombs");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_pool_budget);
  suite_add_tcase(s, tc);
  tc = tcase_create("server");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_hostile_set);
  tcase_add_test(tc, test_bombs_at_once);
  tcase_add_test(tc, test_upload_behind_scan_bombs);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  kern_init();
  return tu_run_suite(bombs_suite());
}
