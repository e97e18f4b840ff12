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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cmd-util.h"
#include "error.h"
#include "head-json.h"
#include "head-train.h"
#include "head.h"
#include "image-decode.h"

static const char CMD[] = "train";

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
          "      --kernels ISA  ref, avx2, avxvnni, avx512vnni or auto "
          "(default\n"
          "                     auto)\n"
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
  while ((c = getopt_long(argc, argv, ":m:o:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'o': o->out = optarg; break;
    case OPT_FOLDS: {
      long v;
      if (cmd_opt_long(CMD, "--folds", optarg, 2, 100, "an integer in 2..100",
                       &v))
        return CMD_EXIT_USAGE;
      o->folds = (int)v;
      break;
    }
    case OPT_L2:
      if (cmd_opt_double(CMD, "--l2", optarg, 0.0, 1e6, "a positive number",
                         &o->l2))
        return CMD_EXIT_USAGE;
      break;
    case OPT_CROP:
      if (cmd_opt_crop(CMD, optarg, &o->crop))
        return CMD_EXIT_USAGE;
      break;
    case OPT_KERNELS:
      if (cmd_opt_kernels(CMD, optarg, &o->isa))
        return CMD_EXIT_USAGE;
      break;
    case OPT_JSON: o->json = 1; break;
    case 'h': train_usage(stdout); return 0;
    default: return cmd_getopt_error(CMD, c, argv);
    }
  }
  if (!o->model)
    return cmd_usage_error(CMD, "%s", "--model FILE is required");
  if (!o->out)
    return cmd_usage_error(CMD, "%s", "--out FILE is required");
  int n = argc - optind;
  if (n < 2)
    return cmd_usage_error(CMD, "%s", "at least 2 CLASSDIRs are needed");
  if (n > HEAD_MAX_CLASSES)
    return cmd_usage_error(CMD, "%d CLASSDIRs: a head has at most %d classes", n,
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
  status = cmd_init_kernels(CMD, o.isa);
  if (status)
    return status;
  const int n_classes = argc - optind;
  char *names[HEAD_MAX_CLASSES] = { 0 };
  struct ss_error err = { 0 };
  struct cmd_model m = { 0 };
  struct ss_head *head = NULL;
  struct head_cv *cv = NULL;
  struct examples ex = { .skipped = json_array() };
  status = 2;
  for (int c = 0; c < n_classes; c++) {
    names[c] = class_of_dir(argv[optind + c]);
    if (!head_name_valid(names[c])) {
      cmd_usage_error(CMD, "%s: '%s' is not a valid class name (1 to %d letters, "
                  "digits, '_', '-', '.', inner spaces)",
                  argv[optind + c], names[c], HEAD_NAME_MAX);
      goto out;
    }
  }
  const struct engine_options eo = { .isa = o.isa, .fuse_blocks = 1 };
  if (cmd_model_load(CMD, o.model, NULL, &eo, &m) != 0)
    goto out;
  ex.dim = engine_feature_len(m.engine);
  if (ex.dim == 0) {
    fprintf(stderr, "streamsight train: --model %s: the model has no pooled "
                    "features\n", o.model);
    goto out;
  }
  if (head_new(model_name(m.model), ex.dim, n_classes,
               (const char *const *)names, &head, &err) != 0) {
    fprintf(stderr, "streamsight train: %s\n", err.message);
    goto out;
  }
  const ImageDecodeOptions dopts = {
    .target_side = MAX(model_input_width(m.model),
                       model_input_height(m.model)),
  };
  for (int c = 0; c < n_classes; c++)
    if (add_class_dir(&o, m.clf, &dopts, argv[optind + c], c, &ex) != 0)
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
  cmd_model_clear(&m);
  for (int c = 0; c < n_classes; c++)
    g_free(names[c]);
  return status;
}
