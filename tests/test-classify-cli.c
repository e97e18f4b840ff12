/* streamsight — `streamsight classify` itself: the "cli" TCase of the
 * classify suite (test-classify.h). Runs the built binary
 * (SS_STREAMSIGHT_EXE) on the shared models and photos
 * (STREAMSIGHT_TEST_DATA; each test skips without it) and checks its JSON
 * lines, table output, error lines and exit statuses, hostile images
 * included.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>
#include <jansson.h>

#include "cli-run.h"
#include "image-fixtures.h"
#include "test-classify.h"
#include "testutil.h"

/* ---- the command line --------------------------------------------------- */

/* Parses stdout as JSON lines; returns the number of lines. */
static int
json_lines(const char *out, json_t **objs, int cap)
{
  char **lines = g_strsplit(out, "\n", -1);
  int n = 0;
  for (int i = 0; lines[i]; i++) {
    if (!*lines[i])
      continue;
    json_error_t jerr;
    json_t *o = json_loads(lines[i], 0, &jerr);
    ck_assert_msg(o != NULL, "line %d is not JSON (%s): %s", i + 1, jerr.text,
                  lines[i]);
    ck_assert_msg(json_is_object(o), "line %d is not an object", i + 1);
    ck_assert_int_lt(n, cap);
    objs[n++] = o;
  }
  g_strfreev(lines);
  return n;
}

static void
check_predictions(json_t *o, const char *image, size_t k)
{
  ck_assert_str_eq(json_string_value(json_object_get(o, "image")), image);
  ck_assert_ptr_null(json_object_get(o, "error"));
  json_t *preds = json_object_get(o, "predictions");
  ck_assert_msg(json_is_array(preds), "%s: no predictions array", image);
  ck_assert_uint_eq(json_array_size(preds), k);
  double prev = 2.0;
  for (size_t i = 0; i < k; i++) {
    json_t *p = json_array_get(preds, i);
    json_t *idx = json_object_get(p, "index");
    json_t *label = json_object_get(p, "label");
    json_t *score = json_object_get(p, "score");
    ck_assert(json_is_integer(idx));
    ck_assert_int_ge(json_integer_value(idx), 0);
    ck_assert_int_lt(json_integer_value(idx), 1000);
    ck_assert_msg(json_is_string(label), "%s: prediction %zu has no label",
                  image, i);
    ck_assert(json_is_real(score));
    double s = json_real_value(score);
    ck_assert(s >= 0.0 && s <= 1.0 && s <= prev);
    prev = s;
  }
}

static int
top1_index(json_t *o)
{
  return (int)json_integer_value(json_object_get(
      json_array_get(json_object_get(o, "predictions"), 0), "index"));
}

START_TEST(test_cli_json_with_bad_image)
{
  char model[1024], hopper[1024], hotdog[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model) ||
      !tu_data_path("images/photos/grace_hopper.jpg", hopper,
                    sizeof hopper) ||
      !tu_data_path("images/photos/hot_dog.jpg", hotdog, sizeof hotdog))
    return;
  char *bad = g_build_filename(tu_tmp_dir(), "notes \"quoted\".jpg", NULL);
  ck_assert(g_file_set_contents(bad, "just some text\n", -1, NULL));
  char *missing = g_build_filename(tu_tmp_dir(), "missing.png", NULL);

  struct cli_run r;
  cli_run(&r, "classify", "--model", model, "--json", hopper, bad, missing,
          hotdog, NULL);
  printf("classify --json: exit %d\n%s", r.status, r.out);
  ck_assert_msg(r.status == 1, "exit status %d, want 1 (stderr: %s)",
                r.status, r.err);
  json_t *o[8];
  int n = json_lines(r.out, o, 8);
  ck_assert_int_eq(n, 4);
  check_predictions(o[0], hopper, 5);
  ck_assert_int_eq(top1_index(o[0]), 652);
  /* The bad and the missing image: an error each, the path intact (the
   * quotes in the name are escaped JSON, and parse back). */
  ck_assert_str_eq(json_string_value(json_object_get(o[1], "image")), bad);
  ck_assert_ptr_null(json_object_get(o[1], "predictions"));
  const char *e1 = json_string_value(json_object_get(o[1], "error"));
  ck_assert_msg(e1 && strstr(e1, "image"), "error line: %s", e1 ? e1 : "");
  ck_assert_str_eq(json_string_value(json_object_get(o[2], "image")),
                   missing);
  const char *e2 = json_string_value(json_object_get(o[2], "error"));
  ck_assert_msg(e2 && strstr(e2, "No such file"), "error line: %s",
                e2 ? e2 : "");
  check_predictions(o[3], hotdog, 5);
  ck_assert_int_eq(top1_index(o[3]), 934);
  for (int i = 0; i < n; i++)
    json_decref(o[i]);
  cli_run_free(&r);

  /* All good: exit 0; --top 3 gives three. */
  cli_run(&r, "classify", "--model", model, "--json", "--top", "3", hopper,
          NULL);
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_int_eq(json_lines(r.out, o, 8), 1);
  check_predictions(o[0], hopper, 3);
  json_decref(o[0]);
  cli_run_free(&r);
  g_free(bad);
  g_free(missing);
}
END_TEST

/* Hostile and unusual images (image-fixtures.c's hostile set) through the
 * binary: every one is classified or gets an error line with its reason, in
 * order, and the process exits with status 1 (never a signal). The JPEG
 * samplings that crashed the GStreamer decoder (4:4:0, 4:1:1, luma 1x4,
 * mixed, YCCK) are among them. */
START_TEST(test_cli_hostile_images)
{
  char model[1024];
  if (!tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite", model,
                    sizeof model))
    return;
  int N = 0;
  FixHostile *imgs = fix_hostile_set(&N);
  char **paths = g_new0(char *, N);
  GPtrArray *argv = g_ptr_array_new();
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  ck_assert_msg(exe && *exe, "SS_STREAMSIGHT_EXE is not set");
  g_ptr_array_add(argv, (gpointer)exe);
  g_ptr_array_add(argv, "classify");
  g_ptr_array_add(argv, "--model");
  g_ptr_array_add(argv, model);
  g_ptr_array_add(argv, "--json");
  for (int i = 0; i < N; i++) {
    paths[i] = g_build_filename(tu_tmp_dir(), imgs[i].name, NULL);
    gsize n;
    const void *d = g_bytes_get_data(imgs[i].bytes, &n);
    ck_assert(g_file_set_contents(paths[i], d, (gssize)n, NULL));
    g_ptr_array_add(argv, paths[i]);
  }
  g_ptr_array_add(argv, NULL);
  struct cli_run r = { 0 };
  int wait_status = 0;
  gint64 t0 = g_get_monotonic_time();
  ck_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT,
                         NULL, NULL, &r.out, &r.err, &wait_status, NULL));
  printf("classify of %d hostile images: %.1f s, exit %d\n%s", N,
         (g_get_monotonic_time() - t0) / 1e6,
         WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1, r.out);
  ck_assert_msg(WIFEXITED(wait_status), "the binary died of signal %d",
                WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0);
  ck_assert_int_eq(WEXITSTATUS(wait_status), 1);
  json_t **o = g_new0(json_t *, N + 1);
  ck_assert_int_eq(json_lines(r.out, o, N + 1), N);
  for (int i = 0; i < N; i++) {
    ck_assert_str_eq(json_string_value(json_object_get(o[i], "image")),
                     paths[i]);
    const char *e = json_string_value(json_object_get(o[i], "error"));
    if (imgs[i].error)
      ck_assert_msg(e && strstr(e, imgs[i].error), "%s: error '%s', want "
                    "'%s'", imgs[i].name, e ? e : "(classified)",
                    imgs[i].error);
    else
      check_predictions(o[i], paths[i], 5);
    json_decref(o[i]);
    g_free(paths[i]);
  }
  g_free(o);
  g_free(paths);
  fix_hostile_free(imgs, N);
  g_ptr_array_free(argv, TRUE);
  cli_run_free(&r);
}
END_TEST

START_TEST(test_cli_table_labels_kernels)
{
  char model[1024], hopper[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model) ||
      !tu_data_path("images/photos/grace_hopper.jpg", hopper, sizeof hopper))
    return;
  struct cli_run r;
  cli_run(&r, "classify", "--model", model, hopper, NULL);
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_msg(strstr(r.out, "military uniform") && strstr(r.out, "652"),
                "table output: %s", r.out);
  cli_run_free(&r);

  /* --labels replaces the names (1000 lines: index i -> "class-i"). */
  GString *labels = g_string_new(NULL);
  for (int i = 0; i < 1000; i++)
    g_string_append_printf(labels, "class-%d\n", i);
  char *lpath = g_build_filename(tu_tmp_dir(), "labels.txt", NULL);
  ck_assert(g_file_set_contents(lpath, labels->str, (gssize)labels->len,
                                NULL));
  g_string_free(labels, TRUE);
  cli_run(&r, "classify", "--model", model, "--labels", lpath, "--json",
          "--kernels", "ref", "--crop", "0.875", hopper, NULL);
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  json_t *o[2];
  ck_assert_int_eq(json_lines(r.out, o, 2), 1);
  check_predictions(o[0], hopper, 5);
  json_t *p0 = json_array_get(json_object_get(o[0], "predictions"), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(p0, "index")), 652);
  ck_assert_str_eq(json_string_value(json_object_get(p0, "label")),
                   "class-652");
  json_decref(o[0]);
  cli_run_free(&r);
  g_free(lpath);

  /* The default (integer engine) gives the file's uint8 probabilities:
   * every score is a whole number of 256ths; --fp32 (the float engine on
   * the same file) gives the same top-1 with a softmax of float logits. */
  cli_run(&r, "classify", "--model", model, "--json", hopper, NULL);
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_int_eq(json_lines(r.out, o, 2), 1);
  json_t *preds = json_object_get(o[0], "predictions");
  int whole = 0;
  for (size_t i = 0; i < json_array_size(preds); i++) {
    double sc = json_real_value(
        json_object_get(json_array_get(preds, i), "score"));
    whole += fabs(sc * 256.0 - round(sc * 256.0)) < 1e-4;
  }
  ck_assert_int_eq(whole, 5);
  json_decref(o[0]);
  cli_run_free(&r);
  cli_run(&r, "classify", "--model", model, "--json", "--fp32", hopper,
          NULL);
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_int_eq(json_lines(r.out, o, 2), 1);
  check_predictions(o[0], hopper, 5);
  ck_assert_int_eq(top1_index(o[0]), 652);
  preds = json_object_get(o[0], "predictions");
  whole = 0;
  for (size_t i = 0; i < json_array_size(preds); i++) {
    double sc = json_real_value(
        json_object_get(json_array_get(preds, i), "score"));
    whole += fabs(sc * 256.0 - round(sc * 256.0)) < 1e-4;
  }
  ck_assert_int_lt(whole, 5);
  json_decref(o[0]);
  cli_run_free(&r);
}
END_TEST

/* Usage and model errors: exit 2 with a message naming the flag or file. */
START_TEST(test_cli_usage_errors)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set\n");
    return;
  }
  struct cli_run r;
  cli_run(&r, "--help", NULL);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "classify") != NULL, "--help: %s", r.out);
  cli_run_free(&r);
  cli_run(&r, "--version", NULL);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(g_str_has_prefix(r.out, "streamsight "), "%s", r.out);
  cli_run_free(&r);
  cli_run(&r, "classify", "--help", NULL);
  ck_assert_int_eq(r.status, 0);
  ck_assert(strstr(r.out, "--model") && strstr(r.out, "--crop") &&
            strstr(r.out, "--fp32"));
  cli_run_free(&r);

  static const struct {
    const char *args[6];
    const char *needle;
  } cases[] = {
    { { "classify", "x.jpg" }, "--model" },
    { { "classify", "--model", "m.tflite" }, "IMAGE" },
    { { "classify", "--model", "m.tflite", "--top", "0", "x.jpg" }, "--top" },
    { { "classify", "--model", "m.tflite", "--top", "5x", "x.jpg" }, "--top" },
    { { "classify", "--model", "m.tflite", "--crop", "1.5", "x.jpg" },
      "--crop" },
    { { "classify", "--model", "m.tflite", "--crop", "0", "x.jpg" },
      "--crop" },
    { { "classify", "--model", "m.tflite", "--kernels", "sse9", "x.jpg" },
      "--kernels" },
    { { "classify", "--model", "m.tflite", "--bogus", "x.jpg" }, "--bogus" },
    { { "classify", "x.jpg", "--model" }, "--model" },
    { { "classify", "--model", "/nonexistent/m.tflite", "x.jpg" },
      "/nonexistent/m.tflite" },
    { { "frobnicate" }, "frobnicate" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    const char *const *a = cases[i].args;
    cli_run(&r, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
    printf("case %zu: exit %d: %s", i, r.status, r.err);
    ck_assert_msg(r.status == 2, "case %zu: exit %d, want 2", i, r.status);
    ck_assert_msg(strstr(r.err, cases[i].needle) != NULL,
                  "case %zu: stderr lacks '%s': %s", i, cases[i].needle,
                  r.err);
    ck_assert_msg(*r.out == '\0', "case %zu: stdout not empty: %s", i,
                  r.out);
    cli_run_free(&r);
  }

  /* A labels file that does not fit the model: exit 2, naming --labels. */
  char model[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model))
    return;
  char *lpath = g_build_filename(tu_tmp_dir(), "three-labels.txt", NULL);
  ck_assert(g_file_set_contents(lpath, "a\nb\nc\n", -1, NULL));
  cli_run(&r, "classify", "--model", model, "--labels", lpath, "x.jpg", NULL);
  printf("bad labels: exit %d: %s", r.status, r.err);
  ck_assert_int_eq(r.status, 2);
  ck_assert(strstr(r.err, "--labels") && strstr(r.err, lpath));
  cli_run_free(&r);
  g_free(lpath);
}
END_TEST

TCase *
classify_cli_tcase(void)
{
  TCase *tc = tcase_create("cli");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_cli_json_with_bad_image);
  tcase_add_test(tc, test_cli_hostile_images);
  tcase_add_test(tc, test_cli_table_labels_kernels);
  tcase_add_test(tc, test_cli_usage_errors);
  return tc;
}
