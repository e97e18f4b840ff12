/* streamsight — tests of image classification against the TFLite runtime
 * itself, on real weights and images, and of `streamsight classify`.
 *
 * Needs STREAMSIGHT_TEST_DATA (the shared folder with models/, images/ and
 * reference/); every test skips with a message without it.
 *
 * - reference: for every .tflite in models/ with a reference/tflite/
 *   <model>.dev.jsonl, the 200 dev images are classified (default engine)
 *   with the default preprocessing (central crop 0.875, bilinear without half-pixel
 *   centres); our top-1 must equal TFLite's top-1 (or a class TFLite
 *   scored the same: quantised scores tie) on >= 90% of them, and
 *   our top-1/top-5 accuracy must be within 2 points of the accuracy of the
 *   reference lines themselves.
 * - reference_exact: for every quantised .tflite among them, the integer
 *   engine (the default for such files): top-5 indices and uint8 scores
 *   (or dequantised logits) equal TFLite's on >= 99% of the images, top-1
 *   on >= 99.5%; every image that differs is printed.
 * - photos: everyday photos get the labels that photos.csv calls
 *   plausible, with mobilenet_v2_1.0_224_quant.
 * - cli (test-classify-cli.c): runs the built binary (SS_STREAMSIGHT_EXE)
 *   and checks its JSON lines, table output, error lines and exit statuses.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <gst/gst.h>
#include <jansson.h>

#include "engine.h"
#include "image-classify.h"
#include "image-decode.h"
#include "kernels/kernels.h"
#include "model.h"
#include "predict.h"
#include "preprocess.h"
#include "test-classify.h"
#include "testutil.h"

#define TOP_K 5
/* Issue 2's bars: top-1 agreement with TFLite, and accuracy distance. */
#define MIN_AGREEMENT 0.90
#define MAX_ACCURACY_GAP_POINTS 2.0

/* Under AddressSanitizer (an unoptimised build, several times slower) the
 * reference test classifies every 5th dev image only: that run is there to
 * find memory errors, and 8 models x 200 images would not fit its time
 * limit. It still checks agreement, with a bar loosened for 40 images (one
 * flip is 2.5 points); the accuracy bars are checked by the normal build. */
#ifdef SS_TEST_UNDER_ASAN
#define REF_IMAGE_STRIDE 5
#define REF_MIN_AGREEMENT 0.80
#else
#define REF_IMAGE_STRIDE 1
#define REF_MIN_AGREEMENT MIN_AGREEMENT
#endif

/* Model stems with a reference file, found in main() (sorted). */
static GPtrArray *ref_models;

static const char *
data_dir(void)
{
  return getenv("STREAMSIGHT_TEST_DATA");
}

/* A loaded model with its engine and one classifier. */
struct loaded {
  struct ss_model *model;
  struct ss_engine *engine;
  ImageClassifier *clf;
};

static void
load_model(const char *path, struct loaded *l)
{
  struct ss_error err = { 0 };
  memset(l, 0, sizeof *l);
  ck_assert_msg(model_load(path, &l->model, &err) == 0, "%s: %s", path,
                err.message);
  ck_assert_msg(engine_new(l->model, KERN_ISA_AUTO, &l->engine, &err) == 0,
                "%s: engine: %s", path, err.message);
  GError *gerr = NULL;
  l->clf = image_classifier_new(l->engine, &gerr);
  ck_assert_msg(l->clf != NULL, "%s: %s", path, gerr ? gerr->message : "");
}

static void
unload_model(struct loaded *l)
{
  image_classifier_free(l->clf);
  engine_free(l->engine);
  model_unref(l->model);
}

static int
classify_file(struct loaded *l, const char *path, struct prediction *pred)
{
  RgbImage img = { 0 };
  GError *err = NULL;
  ck_assert_msg(image_decode_file(path, &img, &err), "%s",
                err ? err->message : path);
  int n = image_classifier_run(l->clf, &img, IMAGE_CLASSIFY_DEFAULT_CROP,
                               TOP_K, pred);
  rgb_image_clear(&img);
  ck_assert_int_eq(n, TOP_K);
  for (int i = 0; i < n; i++) {
    ck_assert_int_ge(pred[i].index, 0);
    ck_assert_int_lt(pred[i].index, 1000);
    if (i > 0)
      ck_assert(pred[i].score <= pred[i - 1].score);
  }
  return n;
}

/* ---- against the TFLite reference -------------------------------------- */

/* Reference model i (ref_models): its stem, its .tflite and its TFLite
 * outputs on the dev images (both g_free). FALSE after a SKIP line when
 * there is none. */
static gboolean
ref_model_paths(int i, const char **stem, char **model_path, char **ref_path)
{
  if (!ref_models || ref_models->len == 0) {
    printf("SKIP: no model with a reference file (STREAMSIGHT_TEST_DATA "
           "unset or incomplete)\n");
    return FALSE;
  }
  *stem = g_ptr_array_index(ref_models, (guint)i);
  *model_path = g_strdup_printf("%s/models/%s.tflite", data_dir(), *stem);
  *ref_path = g_strdup_printf("%s/reference/tflite/%s.dev.jsonl", data_dir(),
                              *stem);
  return TRUE;
}

START_TEST(test_reference_agreement)
{
  const char *stem;
  char *model_path, *ref_path;
  if (!ref_model_paths(_i, &stem, &model_path, &ref_path))
    return;
  struct loaded l;
  load_model(model_path, &l);

  FILE *f = fopen(ref_path, "r");
  ck_assert_msg(f != NULL, "%s", ref_path);
  char line[8192];
  int n = 0, agree = 0, strict = 0, our1 = 0, our5 = 0, ref1 = 0, ref5 = 0;
  for (int lineno = 0; fgets(line, sizeof line, f); lineno++) {
    if (lineno % REF_IMAGE_STRIDE != 0)
      continue;
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    ck_assert_msg(o != NULL, "%s line %d: %s", ref_path, n + 1, jerr.text);
    const char *file = json_string_value(json_object_get(o, "file"));
    json_t *gt_j = json_object_get(o, "class_index_0_999");
    json_t *top5 = json_object_get(o, "top5");
    ck_assert_msg(file && json_is_integer(gt_j) && json_is_array(top5) &&
                      json_array_size(top5) >= 1,
                  "%s line %d: missing fields", ref_path, n + 1);
    int gt = (int)json_integer_value(gt_j);
    int ref_idx[TOP_K] = { 0 };
    double ref_score[TOP_K] = { 0 };
    size_t nref = json_array_size(top5) < TOP_K ? json_array_size(top5)
                                                : TOP_K;
    for (size_t i = 0; i < nref; i++) {
      json_t *e = json_array_get(top5, i);
      ref_idx[i] = (int)json_integer_value(json_object_get(e, "tf_index")) -
                   1; /* background (0) becomes -1 and never matches */
      ref_score[i] = json_number_value(json_object_get(e, "score"));
    }

    char *img_path = g_strdup_printf("%s/images/dev/%s", data_dir(), file);
    struct prediction pred[TOP_K];
    classify_file(&l, img_path, pred);
    g_free(img_path);

    n++;
    /* Quantised outputs tie often, and the reference lists tied classes by
     * lower index (its README): our top-1 agrees when TFLite gave it the
     * same score as its own top-1. */
    gboolean same = pred[0].index == ref_idx[0];
    for (size_t i = 1; i < nref && !same; i++)
      same = pred[0].index == ref_idx[i] && ref_score[i] == ref_score[0];
    agree += same;
    strict += pred[0].index == ref_idx[0];
    our1 += pred[0].index == gt;
    ref1 += ref_idx[0] == gt;
    for (int i = 0; i < TOP_K; i++)
      if (pred[i].index == gt) {
        our5++;
        break;
      }
    for (size_t i = 0; i < nref; i++)
      if (ref_idx[i] == gt) {
        ref5++;
        break;
      }
    json_decref(o);
  }
  fclose(f);
  unload_model(&l);

  ck_assert_int_ge(n, 200 / REF_IMAGE_STRIDE / 2);
  double a = 100.0 * agree / n;
  double o1 = 100.0 * our1 / n, o5 = 100.0 * our5 / n;
  double r1 = 100.0 * ref1 / n, r5 = 100.0 * ref5 / n;
  printf("%-38s images %d  top-1 agreement %.1f%% (%.1f%% without ties)  "
         "top-1 %.1f%% (TFLite %.1f%%)  top-5 %.1f%% (TFLite %.1f%%)\n",
         stem, n, a, 100.0 * strict / n, o1, r1, o5, r5);
  ck_assert_msg(a >= 100.0 * REF_MIN_AGREEMENT,
                "%s: top-1 agreement %.1f%%", stem, a);
  if (REF_IMAGE_STRIDE != 1) {
    printf("(sanitizer build: every %dth image; accuracy bars not checked)\n",
           REF_IMAGE_STRIDE);
    g_free(model_path);
    g_free(ref_path);
    return;
  }
  ck_assert_msg(o1 >= r1 - MAX_ACCURACY_GAP_POINTS &&
                    o1 <= r1 + MAX_ACCURACY_GAP_POINTS,
                "%s: top-1 %.1f%% vs TFLite %.1f%%", stem, o1, r1);
  ck_assert_msg(o5 >= r5 - MAX_ACCURACY_GAP_POINTS &&
                    o5 <= r5 + MAX_ACCURACY_GAP_POINTS,
                "%s: top-5 %.1f%% vs TFLite %.1f%%", stem, o5, r5);
  g_free(model_path);
  g_free(ref_path);
}
END_TEST

/* Indices 0..n-1 of the k largest of v, descending, ties by lower index
 * (TFLite's order in the reference lines), background included. */
static void
rank_all(const float *v, int n, int k, int *idx)
{
  for (int i = 0; i < k; i++)
    idx[i] = -1;
  for (int c = 0; c < n; c++) {
    int pos = k;
    while (pos > 0 && (idx[pos - 1] < 0 || v[c] > v[idx[pos - 1]]))
      pos--;
    if (pos >= k)
      continue;
    memmove(idx + pos + 1, idx + pos, (size_t)(k - 1 - pos) * sizeof *idx);
    idx[pos] = c;
  }
}

/* The integer engine against TFLite's own bytes: for every quantised file
 * with a reference, on the dev images, our top-5 indices and uint8 scores
 * (score * 256) must equal TFLite's on >= 99% of them and our top-1 on
 * >= 99.5% (issue 15). Every image that differs is printed with both
 * top-5s. SS_TEST_INT_TFLITE=1 runs TFLite's built-in arithmetic instead of
 * XNNPACK's (printed only: the references come from XNNPACK). */
START_TEST(test_reference_exact)
{
  const char *stem;
  char *model_path, *ref_path;
  if (!ref_model_paths(_i, &stem, &model_path, &ref_path))
    return;
  struct ss_error err = { 0 };
  struct ss_model *model = NULL;
  ck_assert_msg(model_load(model_path, &model, &err) == 0, "%s: %s", stem,
                err.message);
  if (!model_is_quantized(model)) {
    printf("%-38s float model: no integer path\n", stem);
    model_unref(model);
    g_free(model_path);
    g_free(ref_path);
    return;
  }
  const char *alt = getenv("SS_TEST_INT_TFLITE");
  const struct engine_options eo = {
    .isa = KERN_ISA_AUTO, .arith = ENGINE_ARITH_INTEGER,
    .int_tflite_builtin = alt && *alt == '1',
  };
  struct ss_engine *engine = NULL;
  ck_assert_msg(engine_new_opts(model, &eo, &engine, &err) == 0,
                "%s: integer engine: %s", stem, err.message);
  ck_assert_str_eq(engine_arith_name(engine), "integer");
  const char *isa = engine_isa_name(engine); /* static storage */
  /* A file ending in a softmax gives its uint8 probabilities (compared as
   * score * 256), one without gives dequantised logits (compared within
   * a thousandth of a step of 0.01 or more). */
  const bool probs = engine_outputs_probs(engine);
  struct ss_scratch *scratch = NULL;
  ck_assert(engine_scratch_new(engine, &scratch, &err) == 0);
  GError *gerr = NULL;
  ImageClassifier *clf = image_classifier_new(engine, &gerr);
  ck_assert_msg(clf != NULL, "%s", gerr ? gerr->message : "");
  const int w = model_input_width(model), h = model_input_height(model);
  const int no = model_num_outputs(model);
  float mean[3], std[3];
  model_input_norm(model, mean, std);
  float *input = g_new(float, (size_t)w * h * 3);
  float *out = g_new(float, no);

  FILE *f = fopen(ref_path, "r");
  ck_assert_msg(f != NULL, "%s", ref_path);
  char line[8192];
  int n = 0, top1 = 0, exact = 0, n_same_input = 0, exact_same_input = 0;
  for (int lineno = 0; fgets(line, sizeof line, f); lineno++) {
    if (lineno % REF_IMAGE_STRIDE != 0)
      continue;
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    ck_assert_msg(o != NULL, "%s line %d: %s", ref_path, lineno + 1,
                  jerr.text);
    const char *file = json_string_value(json_object_get(o, "file"));
    json_t *top5 = json_object_get(o, "top5");
    ck_assert_msg(file && json_array_size(top5) == TOP_K,
                  "%s line %d: missing fields", ref_path, lineno + 1);
    int ref_idx[TOP_K];
    double ref_s[TOP_K];
    for (int i = 0; i < TOP_K; i++) {
      json_t *e = json_array_get(top5, (size_t)i);
      ref_idx[i] = (int)json_integer_value(json_object_get(e, "tf_index"));
      ref_s[i] = json_number_value(json_object_get(e, "score"));
    }
    char *img_path = g_strdup_printf("%s/images/dev/%s", data_dir(), file);
    RgbImage img = { 0 };
    ck_assert_msg(image_decode_file(img_path, &img, &gerr), "%s",
                  gerr ? gerr->message : img_path);
    const guint8 *rgb =
        image_classifier_preprocess(clf, &img, IMAGE_CLASSIFY_DEFAULT_CROP);
    ck_assert(rgb != NULL);
    char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, rgb,
                                            (gsize)w * h * 3);
    const char *ref_sha =
        json_string_value(json_object_get(o, "input_rgb_sha256"));
    bool same_input = ref_sha && !strcmp(sha, ref_sha);
    g_free(sha);
    preprocess_normalize_rgb8(rgb, (size_t)w * h, mean, std, input);
    rgb_image_clear(&img);
    g_free(img_path);
    engine_run(engine, scratch, input, out);

    int idx[TOP_K];
    rank_all(out, no, TOP_K, idx);
    bool same = true;
    for (int i = 0; i < TOP_K; i++) {
      double d = fabs(out[idx[i]] - ref_s[i]);
      same = same && idx[i] == ref_idx[i] &&
             (probs ? lround(out[idx[i]] * 256.0) == lround(ref_s[i] * 256.0)
                    : d <= 1e-5 * (1.0 + fabs(ref_s[i])));
    }
    n++;
    top1 += idx[0] == ref_idx[0];
    exact += same;
    n_same_input += same_input;
    exact_same_input += same && same_input;
    if (!same) {
      double mul = probs ? 256.0 : 1.0;
      printf("%s %s: ours", stem, file);
      for (int i = 0; i < TOP_K; i++)
        printf(" %d:%g", idx[i], out[idx[i]] * mul);
      printf("  TFLite");
      for (int i = 0; i < TOP_K; i++)
        printf(" %d:%g", ref_idx[i], ref_s[i] * mul);
      printf("  (index:score%s)%s\n", probs ? "*256" : "",
             same_input ? "" : " input bytes differ from TFLite's");
    }
    json_decref(o);
  }
  fclose(f);
  g_free(input);
  g_free(out);
  image_classifier_free(clf);
  engine_scratch_free(scratch);
  engine_free(engine);
  model_unref(model);

  ck_assert_int_ge(n, 200 / REF_IMAGE_STRIDE / 2);
  double p1 = 100.0 * top1 / n, p5 = 100.0 * exact / n;
  printf("%-38s images %d  integer (%s, kernels %s): top-1 equal %.1f%%, "
         "top-5 and scores equal %.1f%% (%d differ); on the %d with "
         "TFLite's input bytes %d equal\n",
         stem, n, eo.int_tflite_builtin ? "TFLite built-in" : "XNNPACK", isa,
         p1, p5, n - exact, n_same_input, exact_same_input);
  if (!eo.int_tflite_builtin) {
    ck_assert_msg(p1 >= 99.5, "%s: top-1 equal on %.1f%%", stem, p1);
    ck_assert_msg(p5 >= 99.0, "%s: top-5 + scores equal on %.1f%%", stem,
                  p5);
  }
  g_free(model_path);
  g_free(ref_path);
}
END_TEST

/* ---- everyday photos ---------------------------------------------------- */

/* Photos whose top-1 is beyond doubt (the model gives them > 90%). */
static const struct {
  const char *file;
  int index;
} photo_top1[] = {
  { "hot_dog.jpg", 934 },   { "parrot.jpg", 88 },     { "burger.jpg", 933 },
  { "dragonfly.bmp", 319 }, { "grace_hopper.jpg", 652 },
};

START_TEST(test_photos)
{
  char model_path[1024], csv_path[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model_path,
                    sizeof model_path) ||
      !tu_data_path("images/photos/photos.csv", csv_path, sizeof csv_path))
    return;
  struct loaded l;
  load_model(model_path, &l);

  /* photos.csv: file,subject,plausible_imagenet_top1_unverified,... where
   * the plausible column ends with the class indices in parentheses,
   * e.g. "tabby/tiger cat/Egyptian cat (281/282/285)". Each such photo's
   * top-5 must hold one of them. */
  char *csv = NULL;
  ck_assert(g_file_get_contents(csv_path, &csv, NULL, NULL));
  char **lines = g_strsplit(csv, "\n", -1);
  int checked = 0;
  for (int i = 1; lines[i]; i++) {
    char **cols = g_strsplit(lines[i], ",", -1);
    if (g_strv_length(cols) < 3 || !strchr(cols[2], '(')) {
      g_strfreev(cols);
      continue;
    }
    const char *idx = strrchr(cols[2], '(') + 1;
    char **alts = g_strsplit(idx, "/", -1);
    char *path = g_strdup_printf("%s/images/photos/%s", data_dir(), cols[0]);
    struct prediction pred[TOP_K];
    classify_file(&l, path, pred);
    gboolean found = FALSE;
    for (int a = 0; alts[a]; a++)
      for (int k = 0; k < TOP_K; k++)
        if (pred[k].index == atoi(alts[a]))
          found = TRUE;
    printf("%-18s top-1 %3d %-30s %5.1f%%  (plausible: %s)\n", cols[0],
           pred[0].index,
           model_label(l.model, pred[0].index)
               ? model_label(l.model, pred[0].index)
               : "",
           100.0 * pred[0].score, cols[2]);
    ck_assert_msg(found, "%s: top-5 has none of %s", cols[0], cols[2]);
    checked++;
    g_free(path);
    g_strfreev(alts);
    g_strfreev(cols);
  }
  g_strfreev(lines);
  g_free(csv);
  ck_assert_int_ge(checked, 5);

  for (size_t i = 0; i < G_N_ELEMENTS(photo_top1); i++) {
    char *path = g_strdup_printf("%s/images/photos/%s", data_dir(),
                                 photo_top1[i].file);
    struct prediction pred[TOP_K];
    classify_file(&l, path, pred);
    ck_assert_msg(pred[0].index == photo_top1[i].index,
                  "%s: top-1 %d, want %d", photo_top1[i].file, pred[0].index,
                  photo_top1[i].index);
    g_free(path);
  }
  /* The Grace Hopper portrait, as BMP too: military uniform in the top-5. */
  char *path = g_strdup_printf("%s/images/photos/grace_hopper.bmp",
                               data_dir());
  struct prediction pred[TOP_K];
  classify_file(&l, path, pred);
  gboolean uniform = FALSE;
  for (int k = 0; k < TOP_K; k++)
    uniform |= pred[k].index == 652;
  ck_assert_msg(uniform, "grace_hopper.bmp: no military uniform in top-5");
  g_free(path);
  unload_model(&l);
}
END_TEST

/* Model stems in models/ that have a reference file. */
static GPtrArray *
find_ref_models(void)
{
  GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
  const char *data = data_dir();
  if (!data || !*data)
    return a;
  char *dir = g_build_filename(data, "models", NULL);
  GDir *d = g_dir_open(dir, 0, NULL);
  g_free(dir);
  if (!d)
    return a;
  const char *name;
  while ((name = g_dir_read_name(d))) {
    if (!g_str_has_suffix(name, ".tflite"))
      continue;
    char *stem = g_strndup(name, strlen(name) - strlen(".tflite"));
    char *ref = g_strdup_printf("%s/reference/tflite/%s.dev.jsonl", data,
                                stem);
    if (g_file_test(ref, G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add(a, stem);
    else
      g_free(stem);
    g_free(ref);
  }
  g_dir_close(d);
  return a;
}

static int
cmp_str_ptr(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Under AddressSanitizer: record allocation stacks with the slow unwinder.
 * GLib and GStreamer are built without frame pointers, so the fast one
 * stops at g_malloc and LeakSanitizer cannot match GLib's deliberate
 * one-time leak (the first quark block, allocated in its library
 * constructor and dropped when the quark table grows after a GStreamer
 * registry rescan) against tests/sanitizers/lsan.supp ("_dl_init"). Unused
 * without ASan. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
  return "fast_unwind_on_malloc=0";
}

int
main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  kern_init();
  gst_init(NULL, NULL);
  ref_models = find_ref_models();
  g_ptr_array_sort(ref_models, cmp_str_ptr);
  if (!data_dir() || !*data_dir())
    printf("SKIP: STREAMSIGHT_TEST_DATA is not set: the classification "
           "tests need the shared models and images\n");
  else
    printf("%u models with TFLite reference outputs\n", ref_models->len);

  Suite *s = suite_create("classify");
  TCase *tc = tcase_create("reference");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, test_reference_agreement, 0,
                      ref_models->len ? (int)ref_models->len : 1);
  suite_add_tcase(s, tc);

  tc = tcase_create("reference_exact");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, test_reference_exact, 0,
                      ref_models->len ? (int)ref_models->len : 1);
  suite_add_tcase(s, tc);

  tc = tcase_create("photos");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_photos);
  suite_add_tcase(s, tc);

  suite_add_tcase(s, classify_cli_tcase()); /* test-classify-cli.c */
  int rc = tu_run_suite(s);
  g_ptr_array_free(ref_models, TRUE);
  return rc;
}
