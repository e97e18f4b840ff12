/* streamsight — `streamsight train` and `streamsight classify --head`: the
 * built binary (SS_STREAMSIGHT_EXE) on generated images with the tiny
 * fixture model (always), and the "animal vs. everything else"
 * head on the 200 dev images (ImageNet classes < 398 are animals) with
 * MobileNetV2 1.0 224 quant (STREAMSIGHT_TEST_DATA; skips without it).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "cli-run.h"
#include "head.h"
#include "image-fixtures.h"
#include "testutil.h"

/* The bar: "well above 90%" is expected, >= 85% asserted. */
#define ANIMAL_MIN_CV_ACCURACY 0.85
/* ImageNet classes 0..397 are animals (fish to invertebrates). */
#define ANIMAL_LAST_CLASS 397

static char *
tiny_model(void)
{
  char path[1024];
  tu_fixture_path("tflite/tiny-float.tflite", path, sizeof path);
  return g_strdup(path);
}

/* A 24x24 JPEG of one colour with a little noise. */
static void
write_colour_jpeg(const char *path, int r, int g, int b, int seed)
{
  guint8 px[24 * 24 * 3];
  struct tu_rng rng;
  tu_rng_seed(&rng, (uint64_t)seed);
  for (int i = 0; i < 24 * 24; i++) {
    int noise = (int)(tu_rng_u32(&rng) % 21) - 10;
    px[3 * i] = (guint8)CLAMP(r + noise, 0, 255);
    px[3 * i + 1] = (guint8)CLAMP(g + noise, 0, 255);
    px[3 * i + 2] = (guint8)CLAMP(b + noise, 0, 255);
  }
  FixJpeg o = { .components = 3 };
  GBytes *jpg = fix_jpeg_encode(px, 24, 24, &o);
  gsize len;
  const guint8 *data = g_bytes_get_data(jpg, &len);
  ck_assert(g_file_set_contents(path, (const char *)data, (gssize)len, NULL));
  g_bytes_unref(jpg);
}

/* dir/<class>/ with n images of the colour. */
static char *
make_class_dir(const char *root, const char *cls, int n, int r, int g, int b)
{
  char *dir = g_build_filename(root, cls, NULL);
  g_mkdir_with_parents(dir, 0700);
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "%02d.jpg", i);
    g_autofree char *p = g_build_filename(dir, name, NULL);
    write_colour_jpeg(p, r, g, b, 100 * r + i);
  }
  return dir;
}

START_TEST(test_tiny_train_and_classify)
{
  g_autofree char *model = tiny_model();
  g_autofree char *root = g_build_filename(tu_tmp_dir(), "tiny", NULL);
  g_autofree char *red = make_class_dir(root, "red light", 4, 220, 30, 30);
  g_autofree char *blue = make_class_dir(root, "blue", 4, 30, 30, 220);
  /* A file that is not an image is skipped and listed. */
  g_autofree char *junk = g_build_filename(blue, "notes.txt", NULL);
  ck_assert(g_file_set_contents(junk, "not an image", -1, NULL));
  g_autofree char *head = g_build_filename(root, "colour.head", NULL);
  struct cli_run r;
  cli_run(&r, "train", "--model", model, "--out", head, "--json", red, blue,
          NULL);
  ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
  json_error_t jerr;
  json_t *rep = json_loads(r.out, 0, &jerr);
  ck_assert_msg(rep, "not JSON: %s", r.out);
  json_t *cv = json_object_get(rep, "cross_validation");
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "examples")), 8);
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "folds")), 4);
  ck_assert_msg(json_real_value(json_object_get(cv, "accuracy")) == 1.0,
                "%s", r.out);
  json_t *classes = json_object_get(cv, "classes");
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_array_get(classes, 0), "class")),
                   "red light");
  ck_assert_int_eq(json_array_size(json_object_get(rep, "skipped")), 1);
  ck_assert_str_eq(json_string_value(json_object_get(rep, "model")),
                   "tiny-float");
  json_decref(rep);
  cli_run_free(&r);
  ck_assert(g_file_test(head, G_FILE_TEST_IS_REGULAR));

  /* classify --head: the head's classes, best first. */
  g_autofree char *img0 = g_build_filename(red, "00.jpg", NULL);
  g_autofree char *img1 = g_build_filename(blue, "01.jpg", NULL);
  cli_run(&r, "classify", "--model", model, "--head", head, "--json", img0,
          img1, NULL);
  ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
  char **lines = g_strsplit(r.out, "\n", -1);
  const char *want[] = { "red light", "blue" };
  for (int i = 0; i < 2; i++) {
    json_t *o = json_loads(lines[i], 0, &jerr);
    ck_assert_msg(o, "line %d not JSON: %s", i, lines[i]);
    json_t *p = json_object_get(o, "predictions");
    ck_assert_int_eq(json_array_size(p), 2);
    json_t *best = json_array_get(p, 0);
    ck_assert_str_eq(json_string_value(json_object_get(best, "label")),
                     want[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(best, "index")), i);
    double s0 = json_real_value(json_object_get(best, "score"));
    double s1 = json_real_value(
        json_object_get(json_array_get(p, 1), "score"));
    ck_assert_msg(s0 > 0.5 && s0 >= s1 && fabs(s0 + s1 - 1.0) < 1e-5,
                  "scores %g %g", s0, s1);
    json_decref(o);
  }
  g_strfreev(lines);
  cli_run_free(&r);
}
END_TEST

START_TEST(test_train_errors)
{
  g_autofree char *model = tiny_model();
  g_autofree char *root = g_build_filename(tu_tmp_dir(), "errors", NULL);
  g_autofree char *a = make_class_dir(root, "a", 3, 200, 200, 30);
  g_autofree char *b = make_class_dir(root, "b", 1, 30, 200, 200);
  g_autofree char *bad = make_class_dir(root, "bad:name", 2, 30, 30, 30);
  g_autofree char *head = g_build_filename(root, "x.head", NULL);
  struct cli_run r;
  /* A class with one image: a clear error, no file. */
  cli_run(&r, "train", "--model", model, "--out", head, a, b, NULL);
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, "class 'b' has 1 example"), "%s", r.err);
  ck_assert(!g_file_test(head, G_FILE_TEST_EXISTS));
  cli_run_free(&r);
  cli_run(&r, "train", "--model", model, "--out", head, a, bad, NULL);
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "'bad:name' is not a valid class name"), "%s",
                r.err);
  cli_run_free(&r);
  cli_run(&r, "train", "--model", model, "--out", head, a, NULL);
  ck_assert_int_eq(r.status, 2);
  cli_run_free(&r);
  cli_run(&r, "train", "--model", model, a, b, NULL);
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "--out"), "%s", r.err);
  cli_run_free(&r);
  /* A head file that is not one. */
  g_autofree char *img = g_build_filename(a, "00.jpg", NULL);
  cli_run(&r, "classify", "--model", model, "--head", img, img, NULL);
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "not a head file"), "%s", r.err);
  cli_run_free(&r);
}
END_TEST

/* The dev images as two class folders of symlinks; returns the root. */
static char *
animal_dirs(const char *data, int *n_animal, int *n_other)
{
  g_autofree char *csv_path =
      g_build_filename(data, "images/dev/labels.csv", NULL);
  g_autofree char *csv = NULL;
  ck_assert_msg(g_file_get_contents(csv_path, &csv, NULL, NULL), "%s",
                csv_path);
  char *root = g_build_filename(tu_tmp_dir(), "animals", NULL);
  g_autofree char *animal = g_build_filename(root, "animal", NULL);
  g_autofree char *other = g_build_filename(root, "other", NULL);
  g_mkdir_with_parents(animal, 0700);
  g_mkdir_with_parents(other, 0700);
  *n_animal = *n_other = 0;
  char **lines = g_strsplit(csv, "\n", -1);
  for (int i = 1; lines[i]; i++) {
    char **f = g_strsplit(lines[i], ",", 4);
    if (g_strv_length(f) >= 3) {
      int cls = atoi(f[2]);
      gboolean is_animal = cls <= ANIMAL_LAST_CLASS;
      g_autofree char *src =
          g_build_filename(data, "images/dev", f[0], NULL);
      g_autofree char *dst =
          g_build_filename(is_animal ? animal : other, f[0], NULL);
      unlink(dst);
      ck_assert_msg(symlink(src, dst) == 0, "symlink %s", dst);
      (*(is_animal ? n_animal : n_other))++;
    }
    g_strfreev(f);
  }
  g_strfreev(lines);
  return root;
}

START_TEST(test_animal_head_dev_images)
{
  const char *data = tu_data_dir("the animal head needs the dev images");
  char model[1024];
  if (!data || !tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite",
                             model, sizeof model))
    return;
  int na, no;
  g_autofree char *root = animal_dirs(data, &na, &no);
  ck_assert_int_eq(na + no, 200);
  g_autofree char *animal = g_build_filename(root, "animal", NULL);
  g_autofree char *other = g_build_filename(root, "other", NULL);
  g_autofree char *head = g_build_filename(root, "animal.head", NULL);
  struct cli_run r;
  cli_run(&r, "train", "--model", model, "--out", head, "--json", animal,
          other, NULL);
  ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
  json_error_t jerr;
  json_t *rep = json_loads(r.out, 0, &jerr);
  ck_assert_msg(rep, "not JSON: %s", r.out);
  json_t *cv = json_object_get(rep, "cross_validation");
  double acc = json_real_value(json_object_get(cv, "accuracy"));
  printf("animal vs. other, %d + %d dev images, MobileNetV2 1.0 224 quant: "
         "5-fold CV accuracy %.1f%%, trained in %.1f ms\n",
         na, no, 100 * acc,
         json_real_value(json_object_get(rep, "train_ms")));
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "folds")), 5);
  ck_assert_msg(acc >= ANIMAL_MIN_CV_ACCURACY, "CV accuracy %g", acc);
  ck_assert_int_eq(json_integer_value(json_object_get(rep, "features")),
                   1280);
  json_decref(rep);
  cli_run_free(&r);

  /* The same file through classify --head: on its own training images
   * it must be right on nearly all (a linear fit of 1280 features to 200
   * points). */
  GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  g_ptr_array_add(args, g_strdup(exe));
  g_ptr_array_add(args, g_strdup("classify"));
  g_ptr_array_add(args, g_strdup("--model"));
  g_ptr_array_add(args, g_strdup(model));
  g_ptr_array_add(args, g_strdup("--head"));
  g_ptr_array_add(args, g_strdup(head));
  g_ptr_array_add(args, g_strdup("--json"));
  const char *dirs[] = { animal, other };
  for (int d = 0; d < 2; d++) {
    GDir *dir = g_dir_open(dirs[d], 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(dir)))
      g_ptr_array_add(args, g_build_filename(dirs[d], name, NULL));
    g_dir_close(dir);
  }
  g_ptr_array_add(args, NULL);
  char *out = NULL, *err = NULL;
  int ws = 0;
  ck_assert(g_spawn_sync(NULL, (char **)args->pdata, NULL, G_SPAWN_DEFAULT,
                         NULL, NULL, &out, &err, &ws, NULL));
  ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s", err);
  char **lines = g_strsplit(out, "\n", -1);
  int right = 0, total = 0;
  for (int i = 0; lines[i]; i++) {
    if (!*lines[i])
      continue;
    json_t *o = json_loads(lines[i], 0, &jerr);
    ck_assert_msg(o, "not JSON: %s", lines[i]);
    const char *img = json_string_value(json_object_get(o, "image"));
    json_t *best = json_array_get(json_object_get(o, "predictions"), 0);
    const char *label = json_string_value(json_object_get(best, "label"));
    gboolean is_animal = strstr(img, "/animal/") != NULL;
    right += strcmp(label, is_animal ? "animal" : "other") == 0;
    total++;
    json_decref(o);
  }
  printf("classify --head on the training images: %d/%d right\n", right,
         total);
  ck_assert_int_eq(total, 200);
  ck_assert_msg(right >= 190, "%d/200 right", right);
  g_strfreev(lines);
  g_free(out);
  g_free(err);
  g_ptr_array_free(args, TRUE);

  /* Another model: a clear error. */
  char v1[1024];
  if (tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite", v1,
                   sizeof v1)) {
    g_autofree char *img = g_build_filename(
        data, "images/dev/n01440764_tench.JPEG", NULL);
    cli_run(&r, "classify", "--model", v1, "--head", head, img, NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "trained on model "
                                "'mobilenet_v2_1.0_224_quant', not "
                                "'mobilenet_v1_0.25_128_quant'"),
                  "%s", r.err);
    cli_run_free(&r);
  }
}
END_TEST

static Suite *
train_suite(void)
{
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("cli");
  tcase_add_test(tc, test_tiny_train_and_classify);
  tcase_add_test(tc, test_train_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("dev-images");
  tcase_add_test(tc, test_animal_head_dev_images);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(train_suite());
}
