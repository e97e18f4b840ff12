/* streamsight — `streamsight classify`: decode still images (libjpeg-turbo,
 * libspng and our BMP reader: pipeline/image-decode.h), preprocess them as
 * the model expects (central crop + bilinear, the TF
 * evaluation convention), run the engine and print the top classes.
 *
 * Output, one line per image with --json:
 *   {"image": PATH, "predictions": [{"index": I, "label": L, "score": S}...]}
 *   {"image": PATH, "error": "message"}
 * where index is the ImageNet class 0-999 whatever the file's class offset;
 * otherwise a readable table on stdout and errors on stderr. With --head
 * FILE (streamsight train), the predictions are the head's classes instead:
 * index is the class number, label its name.
 */
#include "cmd-classify.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd-util.h"
#include "error.h"
#include "head-json.h"
#include "head.h"
#include "image-decode.h"
#include "predict.h"

#define CLASSIFY_DEFAULT_TOP 5
/* JSON scores: float32 carries about 7 significant digits. */
#define CLASSIFY_SCORE_DIGITS 7

static const char CMD[] = "classify";

struct classify_opts {
  const char *model;
  const char *labels;
  const char *head;
  int top;
  int crop_set;
  float crop;
  enum kern_isa isa;
  int json;
  int fp32;
};

static void
classify_usage(FILE *out)
{
  fprintf(out,
          "Usage: streamsight classify --model FILE [OPTION...] IMAGE...\n"
          "\n"
          "Classifies still images (JPEG, PNG, BMP) and prints the best "
          "classes.\n"
          "\n"
          "  -m, --model FILE     model file (.tflite or .safetensors)\n"
          "  -l, --labels FILE    class names, one per line (replaces the "
          "model's)\n"
          "      --head FILE      a head (streamsight train) trained on this "
          "model:\n"
          "                       print its classes instead of ImageNet's\n"
          "  -k, --top K          classes to print per image (default %d)\n"
          "      --crop F         central crop fraction in (0, 1] before "
          "resizing\n"
          "                       (default %.3f, the TF evaluation crop; "
          "1 with --head)\n"
          "      --kernels ISA    ref, avx2, avxvnni, avx512vnni or auto "
          "(default\n"
          "                       auto)\n"
          "      --json           one JSON object per image and line\n"
          "      --fp32           quantised models: run the float engine on "
          "the\n"
          "                       dequantised weights instead of the "
          "integer one\n"
          "                       (which gives TFLite's own scores)\n"
          "  -h, --help           this help\n"
          "\n"
          "Exit status: 0 if every image was classified, 1 if some failed, "
          "2 for\n"
          "usage or model errors.\n",
          CLASSIFY_DEFAULT_TOP, (double)IMAGE_CLASSIFY_DEFAULT_CROP);
}

/* Parses the options; returns -1 to go on, or an exit status. */
static int
parse_opts(int argc, char **argv, struct classify_opts *o)
{
  enum { OPT_CROP = 256, OPT_KERNELS, OPT_JSON, OPT_FP32, OPT_HEAD };
  static const struct option longopts[] = {
    { "model", required_argument, NULL, 'm' },
    { "labels", required_argument, NULL, 'l' },
    { "head", required_argument, NULL, OPT_HEAD },
    { "top", required_argument, NULL, 'k' },
    { "crop", required_argument, NULL, OPT_CROP },
    { "kernels", required_argument, NULL, OPT_KERNELS },
    { "json", no_argument, NULL, OPT_JSON },
    { "fp32", no_argument, NULL, OPT_FP32 },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  *o = (struct classify_opts){ .top = CLASSIFY_DEFAULT_TOP,
                               .crop = IMAGE_CLASSIFY_DEFAULT_CROP,
                               .isa = KERN_ISA_AUTO };
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":m:l:k:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'l': o->labels = optarg; break;
    case OPT_HEAD: o->head = optarg; break;
    case 'k': {
      long v;
      if (cmd_opt_long(CMD, "--top", optarg, 1, 100000, "a positive integer",
                       &v))
        return CMD_EXIT_USAGE;
      o->top = (int)v;
      break;
    }
    case OPT_CROP:
      if (cmd_opt_crop(CMD, optarg, &o->crop))
        return CMD_EXIT_USAGE;
      o->crop_set = 1;
      break;
    case OPT_KERNELS:
      if (cmd_opt_kernels(CMD, optarg, &o->isa))
        return CMD_EXIT_USAGE;
      break;
    case OPT_JSON: o->json = 1; break;
    case OPT_FP32: o->fp32 = 1; break;
    case 'h': classify_usage(stdout); return 0;
    default: return cmd_getopt_error(CMD, c, argv);
    }
  }
  if (!o->model)
    return cmd_usage_error(CMD, "%s", "--model FILE is required");
  if (optind >= argc)
    return cmd_usage_error(CMD, "%s", "no IMAGE given");
  /* A head was taught on whole images (streamsight train's default). */
  if (o->head && !o->crop_set)
    o->crop = HEAD_IMAGE_CROP;
  return -1;
}

/* Prints one JSON line (steals obj). */
static void
print_json_line(json_t *obj)
{
  char *s = json_dumps(obj, JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(CLASSIFY_SCORE_DIGITS));
  json_decref(obj);
  if (s) {
    puts(s);
    free(s);
  }
}

static void
report_error(const struct classify_opts *o, const char *path,
             const char *message)
{
  if (o->json) {
    json_t *obj = json_object();
    json_object_set_new(obj, "image", json_string(path));
    json_object_set_new(obj, "error", json_string(message));
    print_json_line(obj);
  } else {
    fprintf(stderr, "%s: error: %s\n", path, message);
  }
}

/* The name of class index: the head's when there is one. */
static const char *
class_label(const struct ss_model *m, const struct ss_head *h, int index)
{
  return h ? head_class_name(h, index) : model_label(m, index);
}

static void
report_predictions(const struct classify_opts *o, const struct ss_model *m,
                   const struct ss_head *h, const char *path,
                   const struct prediction *p, int n)
{
  if (o->json) {
    json_t *obj = json_object();
    json_t *arr = json_array();
    json_object_set_new(obj, "image", json_string(path));
    for (int i = 0; i < n; i++) {
      const char *label = class_label(m, h, p[i].index);
      json_t *e = json_object();
      json_object_set_new(e, "index", json_integer(p[i].index));
      json_object_set_new(e, "label", label ? json_string(label) : json_null());
      json_object_set_new(e, "score", json_real((double)p[i].score));
      json_array_append_new(arr, e);
    }
    json_object_set_new(obj, "predictions", arr);
    print_json_line(obj);
    return;
  }
  printf("%s\n", path);
  for (int i = 0; i < n; i++) {
    const char *label = class_label(m, h, p[i].index);
    printf("  %d. %5.1f%%  %4d  %s\n", i + 1, 100.0 * (double)p[i].score,
           p[i].index, label ? label : "");
  }
}

int
cmd_classify(int argc, char **argv)
{
  struct classify_opts o;
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;

  status = cmd_init_kernels(CMD, o.isa);
  if (status)
    return status;
  GError *gerr = NULL;
  struct ss_error err = { 0 };
  struct cmd_model m;
  struct prediction *pred = NULL;
  struct ss_head *head = NULL;
  float *features = NULL, *probs = NULL;
  const struct engine_options eo = {
    .isa = o.isa, .fuse_blocks = 1,
    .arith = o.fp32 ? ENGINE_ARITH_FLOAT : ENGINE_ARITH_AUTO,
  };
  if (cmd_model_load(CMD, o.model, o.labels, &eo, &m) != 0)
    return CMD_EXIT_USAGE;
  const struct ss_model *model = m.model;
  const struct ss_engine *engine = m.engine;
  ImageClassifier *clf = m.clf;
  status = CMD_EXIT_USAGE;
  int classes = model_num_classes(model);
  if (o.head) {
    if (head_load(o.head, &head, &err) != 0 ||
        head_check_model(head, model_name(model), engine_feature_len(engine),
                         &err) != 0) {
      fprintf(stderr, "streamsight classify: --head %s: %s\n", o.head,
              err.message);
      goto out;
    }
    classes = head_num_classes(head);
    features = g_new(float, head_dim(head));
    probs = g_new(float, classes);
  }
  int k = o.top < classes ? o.top : classes;
  pred = g_new(struct prediction, k > 0 ? k : 1);

  /* Huge JPEGs are DCT-scaled towards the model input (image-decode.h). */
  const ImageDecodeOptions dopts = {
    .target_side = MAX(model_input_width(model), model_input_height(model)),
  };
  int failed = 0;
  for (int i = optind; i < argc; i++) {
    const char *path = argv[i];
    RgbImage img = { 0 };
    if (!image_decode_file_opts(path, &dopts, &img, &gerr)) {
      report_error(&o, path, gerr->message);
      g_clear_error(&gerr);
      failed++;
      continue;
    }
    int n;
    if (head) {
      n = image_classifier_embed(clf, &img, o.crop, features, head_dim(head));
      if (n == head_dim(head)) {
        head_scores(head, features, probs);
        n = head_rank(head, probs, k, pred);
      } else {
        n = -1;
      }
    } else {
      n = image_classifier_run(clf, &img, o.crop, k, pred);
    }
    rgb_image_clear(&img);
    if (n < 0) {
      report_error(&o, path, "image could not be preprocessed");
      failed++;
      continue;
    }
    report_predictions(&o, model, head, path, pred, n);
    fflush(stdout);
  }
  status = failed ? 1 : 0;

out:
  g_free(pred);
  g_free(features);
  g_free(probs);
  head_free(head);
  cmd_model_clear(&m);
  return status;
}
