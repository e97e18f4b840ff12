/* streamsight — `streamsight train`: teach a head (inference/head.h) from
 * folders of example images, one folder per class (the folder's name is
 * the class), on one model's pooled features; print its cross-validated
 * accuracy and write the head file that `streamsight classify --head` and
 * streams use.
 */
#include "cmd-train.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "engine.h"
#include "error.h"
#include "head-json.h"
#include "head-train.h"
#include "head.h"
#include "image-classify.h"
#include "image-decode.h"
#include "kernels/kernels.h"
#include "model.h"

struct train_opts {
  const char *model;
  const char *out;
  int folds;
  double l2;
  float crop;
  enum kern_isa isa;
  int json;
};

static void
train_usage(FILE *out)
{
  fprintf(out,
          "Usage: streamsight train --model FILE --out FILE [OPTION...] "
          "CLASSDIR...\n"
          "\n"
          "Teaches a head (a linear classifier over the model's features) "
          "from\n"
          "example images, one folder per class: the folder's name is the "
          "class\n"
          "(letters, digits, '_', '-', '.', inner spaces). Every class needs "
          "at\n"
          "least 2 images. Prints the cross-validated accuracy and writes "
          "the head.\n"
          "\n"
          "  -m, --model FILE   model file (.tflite or .safetensors)\n"
          "  -o, --out FILE     the head file to write\n"
          "      --folds K      cross-validation folds (default %d)\n"
          "      --l2 X         L2 regularisation (default %g)\n"
          "      --crop F       central crop fraction in (0, 1] (default "
          "%.3g:\n"
          "                     the whole image, as streams see frames)\n"
          "      --kernels ISA  ref, avx2 or auto (default auto)\n"
          "      --json         the report as one JSON object\n"
          "  -h, --help         this help\n"
          "\n"
          "Exit status: 0 when the head was written (unreadable images are "
          "skipped\n"
          "and listed), 1 if it could not be trained, 2 for usage or model "
          "errors.\n",
          HEAD_TRAIN_DEFAULT_FOLDS, HEAD_TRAIN_DEFAULT_L2,
          (double)HEAD_IMAGE_CROP);
}

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "streamsight train: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'streamsight train --help'.\n");
  return 2;
}

static int
parse_opts(int argc, char **argv, struct train_opts *o)
{
  enum { OPT_FOLDS = 256, OPT_L2, OPT_CROP, OPT_KERNELS, OPT_JSON };
  static const struct option longopts[] = {
    { "model", required_argument, NULL, 'm' },
    { "out", required_argument, NULL, 'o' },
    { "folds", required_argument, NULL, OPT_FOLDS },
    { "l2", required_argument, NULL, OPT_L2 },
    { "crop", required_argument, NULL, OPT_CROP },
    { "kernels", required_argument, NULL, OPT_KERNELS },
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  *o = (struct train_opts){ .folds = HEAD_TRAIN_DEFAULT_FOLDS,
                            .l2 = HEAD_TRAIN_DEFAULT_L2,
                            .crop = HEAD_IMAGE_CROP,
                            .isa = KERN_ISA_AUTO };
  optind = 1;
  opterr = 0;
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, ":m:o:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'o': o->out = optarg; break;
    case OPT_FOLDS: {
      errno = 0;
      long v = strtol(optarg, &end, 10);
      if (errno || end == optarg || *end || v < 2 || v > 100)
        return usage_error("--folds: '%s' is not an integer in 2..100",
                           optarg);
      o->folds = (int)v;
      break;
    }
    case OPT_L2: {
      errno = 0;
      double v = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(v > 0.0 && v <= 1e6))
        return usage_error("--l2: '%s' is not a positive number", optarg);
      o->l2 = v;
      break;
    }
    case OPT_CROP: {
      errno = 0;
      double v = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(v > 0.0 && v <= 1.0))
        return usage_error("--crop: '%s' is not a fraction in (0, 1]",
                           optarg);
      o->crop = (float)v;
      break;
    }
    case OPT_KERNELS:
      if (kern_isa_from_name(optarg, &o->isa) != 0)
        return usage_error("--kernels: '%s' is not one of ref, avx2, auto",
                           optarg);
      break;
    case OPT_JSON: o->json = 1; break;
    case 'h': train_usage(stdout); return 0;
    case ':':
      return usage_error("%s needs an argument", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (!o->model)
    return usage_error("%s", "--model FILE is required");
  if (!o->out)
    return usage_error("%s", "--out FILE is required");
  int n = argc - optind;
  if (n < 2)
    return usage_error("%s", "at least 2 CLASSDIRs are needed");
  if (n > HEAD_MAX_CLASSES)
    return usage_error("%d CLASSDIRs: a head has at most %d classes", n,
                       HEAD_MAX_CLASSES);
  return -1;
}

/* The examples gathered so far: features (n x dim) and classes. */
struct examples {
  int dim;
  int n, cap;
  float *x;
  int *y;
  json_t *skipped; /* [{"image", "error"}] */
};

static void
skip_image(struct examples *ex, const char *path, const char *why)
{
  json_t *e = json_object();
  json_object_set_new(e, "image", json_string(path));
  json_object_set_new(e, "error", json_string(why));
  json_array_append_new(ex->skipped, e);
}

/* Decodes and embeds every regular, non-hidden file of dir (in name order,
 * so the result does not depend on the file system) as class y. */
static int
add_class_dir(const struct train_opts *o, ImageClassifier *clf,
              const ImageDecodeOptions *dopts, const char *dir, int y,
              struct examples *ex)
{
  struct dirent **list;
  int n = scandir(dir, &list, NULL, alphasort);
  if (n < 0) {
    fprintf(stderr, "streamsight train: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    const char *name = list[i]->d_name;
    g_autofree char *path = g_build_filename(dir, name, NULL);
    struct stat st;
    if (name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (ex->n >= HEAD_TRAIN_MAX_EXAMPLES) {
      fprintf(stderr, "streamsight train: more than %d images\n",
              HEAD_TRAIN_MAX_EXAMPLES);
      rc = -1;
      break;
    }
    RgbImage img = { 0 };
    GError *gerr = NULL;
    if (!image_decode_file_opts(path, dopts, &img, &gerr)) {
      skip_image(ex, path, gerr->message);
      g_clear_error(&gerr);
      continue;
    }
    if (ex->n == ex->cap) {
      ex->cap = ex->cap ? 2 * ex->cap : 64;
      ex->x = g_renew(float, ex->x, (gsize)ex->cap * ex->dim);
      ex->y = g_renew(int, ex->y, ex->cap);
    }
    int got = image_classifier_embed(clf, &img, o->crop,
                                     ex->x + (size_t)ex->n * ex->dim, ex->dim);
    rgb_image_clear(&img);
    if (got != ex->dim) {
      skip_image(ex, path, "image could not be preprocessed");
      continue;
    }
    ex->y[ex->n++] = y;
  }
  for (int i = 0; i < n; i++)
    free(list[i]);
  free(list);
  return rc;
}

/* The class name of a folder: its last path component. */
static char *
class_of_dir(const char *dir)
{
  g_autofree char *trimmed = g_strdup(dir);
  size_t len = strlen(trimmed);
  while (len > 1 && trimmed[len - 1] == '/')
    trimmed[--len] = '\0';
  return g_path_get_basename(trimmed);
}

static void
print_text_report(const struct ss_head *h, const struct head_cv *cv,
                  const struct head_train_stats *st, double train_ms,
                  const struct examples *ex, const char *out)
{
  size_t ns = json_array_size(ex->skipped);
  for (size_t i = 0; i < ns; i++) {
    json_t *e = json_array_get(ex->skipped, i);
    fprintf(stderr, "%s: skipped: %s\n",
            json_string_value(json_object_get(e, "image")),
            json_string_value(json_object_get(e, "error")));
  }
  int k = head_num_classes(h);
  int correct = (int)(cv->accuracy * cv->n + 0.5);
  printf("%d-fold cross-validated accuracy: %.1f%% (%d/%d)\n", cv->folds,
         100.0 * cv->accuracy, correct, cv->n);
  for (int c = 0; c < k; c++)
    printf("  %-24s %5.1f%%  (%d/%d)\n", head_class_name(h, c),
           100.0 * cv->class_accuracy[c], cv->confusion[c * k + c],
           cv->class_count[c]);
  printf("confusion (rows: true class, columns: predicted):\n");
  for (int c = 0; c < k; c++) {
    printf("  %-24s", head_class_name(h, c));
    for (int p = 0; p < k; p++)
      printf(" %5d", cv->confusion[c * k + p]);
    printf("\n");
  }
  printf("trained in %.1f ms (%d examples x %d features x %d classes, "
         "%d iterations)\n",
         train_ms, ex->n, ex->dim, k, st->iterations);
  printf("wrote %s (model %s)\n", out, head_model(h));
}

int
cmd_train(int argc, char **argv)
{
  struct train_opts o;
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  kern_init();
  json_object_seed(0);
  if (o.isa != KERN_ISA_AUTO && !kern_ops_get(o.isa)) {
    fprintf(stderr, "streamsight train: --kernels: not available on this "
                    "CPU or build\n");
    return 2;
  }
  const int n_classes = argc - optind;
  char *names[HEAD_MAX_CLASSES] = { 0 };
  struct ss_error err = { 0 };
  struct ss_model *model = NULL;
  struct ss_engine *engine = NULL;
  ImageClassifier *clf = NULL;
  struct ss_head *head = NULL;
  struct head_cv *cv = NULL;
  struct examples ex = { .skipped = json_array() };
  GError *gerr = NULL;
  status = 2;
  for (int c = 0; c < n_classes; c++) {
    names[c] = class_of_dir(argv[optind + c]);
    if (!head_name_valid(names[c])) {
      usage_error("%s: '%s' is not a valid class name (1 to %d letters, "
                  "digits, '_', '-', '.', inner spaces)",
                  argv[optind + c], names[c], HEAD_NAME_MAX);
      goto out;
    }
  }
  if (model_load(o.model, &model, &err) != 0) {
    fprintf(stderr, "streamsight train: --model %s: %s\n", o.model,
            err.message);
    goto out;
  }
  const struct engine_options eo = { .isa = o.isa, .fuse_blocks = 1 };
  if (engine_new_opts(model, &eo, &engine, &err) != 0) {
    fprintf(stderr, "streamsight train: --model %s: %s\n", o.model,
            err.message);
    goto out;
  }
  ex.dim = engine_feature_len(engine);
  if (ex.dim == 0) {
    fprintf(stderr, "streamsight train: --model %s: the model has no pooled "
                    "features\n", o.model);
    goto out;
  }
  if (head_new(model_name(model), ex.dim, n_classes,
               (const char *const *)names, &head, &err) != 0) {
    fprintf(stderr, "streamsight train: %s\n", err.message);
    goto out;
  }
  clf = image_classifier_new(engine, &gerr);
  if (!clf) {
    fprintf(stderr, "streamsight train: %s\n", gerr->message);
    g_clear_error(&gerr);
    goto out;
  }
  const ImageDecodeOptions dopts = {
    .target_side = MAX(model_input_width(model), model_input_height(model)),
  };
  for (int c = 0; c < n_classes; c++)
    if (add_class_dir(&o, clf, &dopts, argv[optind + c], c, &ex) != 0)
      goto out;

  status = 1;
  struct head_train_options to = { .l2 = o.l2 };
  if (head_cross_validate(head, ex.x, ex.y, ex.n, o.folds, &to, &cv, &err)) {
    fprintf(stderr, "streamsight train: %s\n", err.message);
    goto out;
  }
  struct head_train_stats st;
  gint64 t0 = g_get_monotonic_time();
  if (head_train(head, ex.x, ex.y, ex.n, &to, &st, &err) != 0) {
    fprintf(stderr, "streamsight train: %s\n", err.message);
    goto out;
  }
  double train_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
  if (head_save(head, o.out, &err) != 0) {
    fprintf(stderr, "streamsight train: --out: %s\n", err.message);
    goto out;
  }
  if (o.json) {
    json_t *r = json_object();
    json_object_set_new(r, "head", json_string(o.out));
    json_object_set_new(r, "model", json_string(head_model(head)));
    json_object_set_new(r, "features", json_integer(ex.dim));
    json_object_set_new(r, "cross_validation", head_cv_to_json(head, cv));
    json_object_set_new(r, "train_ms", json_real(train_ms));
    json_object_set_new(r, "iterations", json_integer(st.iterations));
    json_object_set_new(r, "skipped", json_incref(ex.skipped));
    char *s = json_dumps(r, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(r);
    if (s)
      puts(s);
    free(s);
  } else {
    print_text_report(head, cv, &st, train_ms, &ex, o.out);
  }
  status = 0;

out:
  head_cv_free(cv);
  head_free(head);
  g_free(ex.x);
  g_free(ex.y);
  json_decref(ex.skipped);
  image_classifier_free(clf);
  engine_free(engine);
  model_unref(model);
  for (int c = 0; c < n_classes; c++)
    g_free(names[c]);
  return status;
}
