/* streamsight — MobileNetV1 / V2 builders (Howard et al. 2017, Sandler et al.
 * 2018), following torchvision's module names and TF-slim's channel rules. */
#include "mobilenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-graph.h"

int
mobilenet_make_divisible(float v, int divisor)
{
  int nv = (int)(v + divisor / 2.0f) / divisor * divisor;
  if (nv < divisor)
    nv = divisor;
  if ((float)nv < 0.9f * v) /* never round down by more than 10% */
    nv += divisor;
  return nv;
}

struct builder {
  struct ss_model *m;
  enum model_pad_rule pad;
  int cur; /* value id of the running activation */
  int rc;
  struct ss_error *err;
};

static int
builder_oom(struct builder *b, const char *name)
{
  b->rc = ss_error_set(b->err, SS_ENOMEM, "out of memory building %s", name);
  return -1;
}

/* Adds l, whose output is oh x ow x l->cout, with zeroed weights and
 * biases (filled in later by a loader or a test), and makes its output the
 * running activation. */
static int
add_weighted(struct builder *b, struct model_layer *l, int oh, int ow)
{
  l->out = model_add_value(b->m, oh, ow, l->cout);
  l->weight = calloc(model_layer_weight_count(l), sizeof(float));
  l->bias = calloc((size_t)l->cout, sizeof(float));
  if (l->out < 0 || !l->weight || !l->bias) {
    free(l->weight);
    free(l->bias);
    return builder_oom(b, l->name);
  }
  if (model_add_layer(b->m, l) < 0) /* it frees the weights itself */
    return builder_oom(b, l->name);
  b->cur = l->out;
  return 0;
}

static int
add_conv(struct builder *b, enum model_layer_kind kind, const char *name, int k,
         int stride, int cout, bool relu6)
{
  if (b->rc)
    return -1;
  struct ss_model *m = b->m;
  const struct model_value in = m->values[b->cur];
  struct model_layer l = {
    .kind = kind, .in = b->cur, .in2 = -1, .kh = k, .kw = k,
    .stride = stride, .cin = in.c,
    .cout = kind == MODEL_LAYER_DWCONV ? in.c : cout,
    .act_min = relu6 ? 0.0f : -INFINITY, .act_max = relu6 ? 6.0f : INFINITY,
  };
  snprintf(l.name, sizeof l.name, "%s", name);
  model_conv_pads(b->pad, in.h, k, stride, &l.pad_top, &l.pad_bottom);
  model_conv_pads(b->pad, in.w, k, stride, &l.pad_left, &l.pad_right);
  int oh = model_conv_out_size(in.h, k, stride, l.pad_top, l.pad_bottom);
  int ow = model_conv_out_size(in.w, k, stride, l.pad_left, l.pad_right);
  return add_weighted(b, &l, oh, ow);
}

static int
add_simple(struct builder *b, enum model_layer_kind kind, const char *name,
           int in2, int h, int w, int c)
{
  if (b->rc)
    return -1;
  struct model_layer l = {
    .kind = kind, .in = b->cur, .in2 = in2, .kh = 1, .kw = 1, .stride = 1,
    .act_min = -INFINITY, .act_max = INFINITY,
  };
  snprintf(l.name, sizeof l.name, "%s", name);
  l.out = model_add_value(b->m, h, w, c);
  if (l.out < 0 || model_add_layer(b->m, &l) < 0)
    return builder_oom(b, name);
  b->cur = l.out;
  return 0;
}

static int
add_classifier(struct builder *b, const char *name, int num_outputs)
{
  struct model_value v = b->m->values[b->cur];
  add_simple(b, MODEL_LAYER_AVGPOOL, "pool", -1, 1, 1, v.c);
  if (b->rc)
    return -1;
  struct model_layer l = {
    .kind = MODEL_LAYER_FC, .in = b->cur, .in2 = -1, .kh = 1, .kw = 1,
    .stride = 1, .cin = v.c, .cout = num_outputs, .act_min = -INFINITY,
    .act_max = INFINITY,
  };
  snprintf(l.name, sizeof l.name, "%s", name);
  return add_weighted(b, &l, 1, 1);
}

static void
build_v1(struct builder *b, float alpha, int num_outputs)
{
  /* TF-slim's _CONV_DEFS: (stride, output channels) of each separable block */
  static const int blocks[13][2] = {
    { 1, 64 },  { 2, 128 }, { 1, 128 }, { 2, 256 }, { 1, 256 },
    { 2, 512 }, { 1, 512 }, { 1, 512 }, { 1, 512 }, { 1, 512 },
    { 1, 512 }, { 2, 1024 }, { 1, 1024 },
  };
#define V1_DEPTH(d) ((int)((d) * alpha) > 8 ? (int)((d) * alpha) : 8)
  char name[SS_NAME_MAX];
  add_conv(b, MODEL_LAYER_CONV, "features.0.0", 3, 2, V1_DEPTH(32), true);
  for (int i = 0; i < 13; i++) {
    snprintf(name, sizeof name, "features.%d.0", i + 1);
    add_conv(b, MODEL_LAYER_DWCONV, name, 3, blocks[i][0], 0, true);
    snprintf(name, sizeof name, "features.%d.3", i + 1);
    add_conv(b, MODEL_LAYER_CONV, name, 1, 1, V1_DEPTH(blocks[i][1]), true);
  }
#undef V1_DEPTH
  add_classifier(b, "classifier", num_outputs);
}

static void
build_v2(struct builder *b, float alpha, int num_outputs)
{
  /* The paper's table 2: expansion t, channels c, repeats n, stride s. */
  static const int cfg[7][4] = {
    { 1, 16, 1, 1 },  { 6, 24, 2, 2 },  { 6, 32, 3, 2 }, { 6, 64, 4, 2 },
    { 6, 96, 3, 1 },  { 6, 160, 3, 2 }, { 6, 320, 1, 1 },
  };
  char name[SS_NAME_MAX];
  int in_c = mobilenet_make_divisible(32 * alpha, 8);
  int last_c = mobilenet_make_divisible(1280 * (alpha > 1.0f ? alpha : 1.0f), 8);
  add_conv(b, MODEL_LAYER_CONV, "features.0.0", 3, 2, in_c, true);
  int f = 1;
  for (int s = 0; s < 7; s++) {
    int out_c = mobilenet_make_divisible(cfg[s][1] * alpha, 8);
    for (int i = 0; i < cfg[s][2]; i++, f++) {
      int stride = i == 0 ? cfg[s][3] : 1;
      int hidden = (int)lroundf((float)in_c * cfg[s][0]);
      int block_in = b->cur;
      int j = 0; /* index inside features.f.conv */
      if (cfg[s][0] != 1) {
        snprintf(name, sizeof name, "features.%d.conv.%d.0", f, j++);
        add_conv(b, MODEL_LAYER_CONV, name, 1, 1, hidden, true);
      }
      snprintf(name, sizeof name, "features.%d.conv.%d.0", f, j++);
      add_conv(b, MODEL_LAYER_DWCONV, name, 3, stride, 0, true);
      snprintf(name, sizeof name, "features.%d.conv.%d", f, j);
      add_conv(b, MODEL_LAYER_CONV, name, 1, 1, out_c, false);
      if (stride == 1 && in_c == out_c) {
        struct model_value v = b->m->values[b->cur];
        snprintf(name, sizeof name, "features.%d.add", f);
        add_simple(b, MODEL_LAYER_ADD, name, block_in, v.h, v.w, v.c);
      }
      in_c = out_c;
    }
  }
  snprintf(name, sizeof name, "features.%d.0", f);
  add_conv(b, MODEL_LAYER_CONV, name, 1, 1, last_c, true);
  add_classifier(b, "classifier.1", num_outputs);
}

int
mobilenet_build(enum model_arch arch, float alpha, int resolution,
                enum model_pad_rule pad, int num_outputs, struct ss_model **out,
                struct ss_error *err)
{
  if (!(alpha >= 0.1f && alpha <= 2.0f))
    return ss_error_set(err, SS_EINVAL, "width multiplier %g out of range "
                        "0.1 .. 2.0", (double)alpha);
  if (resolution < 32 || resolution > 1024)
    return ss_error_set(err, SS_EINVAL, "resolution %d out of range 32 .. 1024",
                        resolution);
  if (num_outputs < 1 || num_outputs > 100000)
    return ss_error_set(err, SS_EINVAL, "class count %d out of range",
                        num_outputs);
  if (arch != MODEL_ARCH_MOBILENET_V1 && arch != MODEL_ARCH_MOBILENET_V2)
    return ss_error_set(err, SS_EINVAL, "unknown architecture %d", (int)arch);

  struct ss_model *m = model_new(resolution, resolution);
  if (!m)
    return ss_error_set(err, SS_ENOMEM, "out of memory");
  m->arch = arch;
  m->format = MODEL_FORMAT_BUILT;
  m->alpha = alpha;
  m->pad_rule = pad;
  m->num_outputs = num_outputs;
  m->class_offset = num_outputs == 1001 ? 1 : 0;
  snprintf(m->name, sizeof m->name, "%s_%g_%d", model_arch_name(arch),
           (double)alpha, resolution);

  struct builder b = { .m = m, .pad = pad, .cur = 0, .err = err };
  if (arch == MODEL_ARCH_MOBILENET_V1)
    build_v1(&b, alpha, num_outputs);
  else
    build_v2(&b, alpha, num_outputs);
  if (b.rc) {
    model_unref(m);
    return b.rc;
  }
  m->output = b.cur;
  int rc = model_validate(m, err);
  if (rc) {
    model_unref(m);
    return rc;
  }
  *out = m;
  return 0;
}
