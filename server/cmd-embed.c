/* streamsight — `streamsight embed`: the pooled features of still images
 * (engine_run_features: the classifier's input, L2-normalised), one JSON
 * line per image:
 *   {"path": PATH, "dim": N, "features": [f0, f1, ...]}
 *   {"path": PATH, "error": "message"}
 * The image (or its --roi) is resized whole to the model input, without a
 * central crop, as POST /api/v1/embed and a stream's frames are; the
 * features of a file equal the route's for the same upload.
 */
#include "cmd-embed.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd-util.h"
#include "image-decode.h"
#include "roi.h"

/* float32 carries about 7 significant digits. */
#define EMBED_DIGITS 7

static const char CMD[] = "embed";

struct embed_opts {
  const char *model;
  gboolean has_roi;
  StreamRoi roi;
  enum kern_isa isa;
};

static void
embed_usage(FILE *out)
{
  fprintf(out,
          "Usage: streamsight embed --model FILE [OPTION...] IMAGE...\n"
          "\n"
          "Prints the model's pooled features (the classifier's input, L2 "
          "norm 1;\n"
          "MobileNetV2: 1280 values, V1: 1024 x alpha) of still images "
          "(JPEG, PNG,\n"
          "BMP), one JSON object per image and line:\n"
          "  {\"path\": ..., \"dim\": N, \"features\": [...]}\n"
          "\n"
          "  -m, --model FILE     model file (.tflite or .safetensors)\n"
          "      --roi X,Y,W,H    region of each image to embed, in "
          "fractions of\n"
          "                       its width and height (default the whole "
          "image)\n"
          "      --kernels ISA    ref, avx2, avxvnni, avx512vnni or auto "
          "(default\n"
          "                       auto)\n"
          "  -h, --help           this help\n"
          "\n"
          "Exit status: 0 if every image was embedded, 1 if some failed, 2 "
          "for\n"
          "usage or model errors.\n");
}

/* Parses the options; returns -1 to go on, or an exit status. */
static int
parse_opts(int argc, char **argv, struct embed_opts *o)
{
  enum { OPT_ROI = 256, OPT_KERNELS };
  static const struct option longopts[] = {
    { "model", required_argument, NULL, 'm' },
    { "roi", required_argument, NULL, OPT_ROI },
    { "kernels", required_argument, NULL, OPT_KERNELS },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  *o = (struct embed_opts){ .isa = KERN_ISA_AUTO };
  optind = 1;
  opterr = 0;
  int c;
  GError *e = NULL;
  while ((c = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case OPT_ROI:
      if (!stream_roi_parse(optarg, "--roi", &o->roi, &e)) {
        int rc = cmd_usage_error(CMD, "%s", e->message);
        g_error_free(e);
        return rc;
      }
      o->has_roi = TRUE;
      break;
    case OPT_KERNELS:
      if (cmd_opt_kernels(CMD, optarg, &o->isa))
        return CMD_EXIT_USAGE;
      break;
    case 'h': embed_usage(stdout); return 0;
    default: return cmd_getopt_error(CMD, c, argv);
    }
  }
  if (!o->model)
    return cmd_usage_error(CMD, "%s", "--model FILE is required");
  if (optind >= argc)
    return cmd_usage_error(CMD, "%s", "no IMAGE given");
  return -1;
}

/* Prints one JSON line (steals obj). */
static void
print_json_line(json_t *obj)
{
  char *s = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_COMPACT |
                                JSON_REAL_PRECISION(EMBED_DIGITS));
  json_decref(obj);
  if (s) {
    puts(s);
    free(s);
  }
  fflush(stdout);
}

static void
report_error(const char *path, const char *message)
{
  json_t *obj = json_object();
  json_object_set_new(obj, "path", json_string(path));
  json_object_set_new(obj, "error", json_string(message));
  print_json_line(obj);
}

int
cmd_embed(int argc, char **argv)
{
  struct embed_opts o;
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;

  status = cmd_init_kernels(CMD, o.isa);
  if (status)
    return status;
  GError *gerr = NULL;
  struct cmd_model m;
  float *features = NULL;
  const struct engine_options eo = { .isa = o.isa, .fuse_blocks = 1 };
  if (cmd_model_load(CMD, o.model, NULL, &eo, &m) != 0)
    return CMD_EXIT_USAGE;
  struct ss_model *model = m.model;
  ImageClassifier *clf = m.clf;
  status = CMD_EXIT_USAGE;
  int dim = engine_feature_len(m.engine);
  if (dim <= 0) {
    fprintf(stderr, "streamsight embed: --model %s: no pooled features (no "
                    "classifier over a pooled vector)\n", o.model);
    goto out;
  }
  features = g_new(float, dim);
  const StreamRoi *roi = o.has_roi ? &o.roi : NULL;
  const ImageDecodeOptions dopts = {
    .target_side = stream_roi_decode_side(
        roi, MAX(model_input_width(model), model_input_height(model))),
  };
  int failed = 0;
  for (int i = optind; i < argc; i++) {
    const char *path = argv[i];
    RgbImage img = { 0 };
    if (!image_decode_file_opts(path, &dopts, &img, &gerr)) {
      report_error(path, gerr->message);
      g_clear_error(&gerr);
      failed++;
      continue;
    }
    const RgbImage view = roi ? stream_roi_image_view(roi, &img) : img;
    int n = image_classifier_embed(clf, &view, 1.0f, features, dim);
    rgb_image_clear(&img);
    if (n < 0) {
      report_error(path, "image could not be preprocessed");
      failed++;
      continue;
    }
    json_t *obj = json_object();
    json_object_set_new(obj, "path", json_string(path));
    json_object_set_new(obj, "dim", json_integer(n));
    json_t *arr = json_array();
    for (int j = 0; j < n; j++)
      json_array_append_new(arr, json_real((double)features[j]));
    json_object_set_new(obj, "features", arr);
    print_json_line(obj);
  }
  status = failed ? 1 : 0;

out:
  g_free(features);
  cmd_model_clear(&m);
  return status;
}
