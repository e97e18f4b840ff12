/* streamsight — model object: construction, labels, accessors, counts. */
#include "model-graph.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-util.h"

struct ss_model *
model_new(int input_h, int input_w)
{
  struct ss_model *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  atomic_init(&m->refcount, 1);
  m->input_h = input_h;
  m->input_w = input_w;
  for (int i = 0; i < 3; i++) {
    m->mean[i] = 127.5f;
    m->std[i] = 127.5f;
  }
  m->output = -1;
  if (model_add_value(m, input_h, input_w, 3) != 0) {
    free(m);
    return NULL;
  }
  return m;
}

int
model_add_value(struct ss_model *m, int h, int w, int c)
{
  if (m->n_values == m->cap_values) {
    int cap = m->cap_values ? m->cap_values * 2 : 64;
    struct model_value *v = realloc(m->values, (size_t)cap * sizeof *v);
    if (!v)
      return -1;
    m->values = v;
    m->cap_values = cap;
  }
  m->values[m->n_values] = (struct model_value){ .h = h, .w = w, .c = c };
  return m->n_values++;
}

int
model_add_layer(struct ss_model *m, const struct model_layer *l)
{
  if (m->n_layers == m->cap_layers) {
    int cap = m->cap_layers ? m->cap_layers * 2 : 64;
    struct model_layer *v = realloc(m->layers, (size_t)cap * sizeof *v);
    if (!v) {
      free(l->weight);
      free(l->bias);
      model_layer_qweights_free(l->qw);
      return -1;
    }
    m->layers = v;
    m->cap_layers = cap;
  }
  m->layers[m->n_layers] = *l;
  return m->n_layers++;
}

void
model_layer_qweights_free(struct model_layer_qweights *qw)
{
  if (!qw)
    return;
  free(qw->w);
  free(qw->bias);
  free(qw->w_scale);
  free(qw);
}

static void
labels_free(char **labels, int n)
{
  if (!labels)
    return;
  for (int i = 0; i < n; i++)
    free(labels[i]);
  free(labels);
}

static void
model_free(struct ss_model *m)
{
  for (int i = 0; i < m->n_layers; i++) {
    free(m->layers[i].weight);
    free(m->layers[i].bias);
    model_layer_qweights_free(m->layers[i].qw);
  }
  free(m->layers);
  free(m->values);
  labels_free(m->labels, model_num_classes(m));
  free(m);
}

struct ss_model *
model_ref(struct ss_model *m)
{
  if (m)
    atomic_fetch_add(&m->refcount, 1);
  return m;
}

void
model_unref(struct ss_model *m)
{
  if (m && atomic_fetch_sub(&m->refcount, 1) == 1)
    model_free(m);
}

int
model_conv_out_size(int in, int k, int stride, int pad_before, int pad_after)
{
  return (in + pad_before + pad_after - k) / stride + 1;
}

void
model_conv_pads(enum model_pad_rule rule, int in, int k, int stride,
                int *pad_before, int *pad_after)
{
  if (rule == MODEL_PAD_RULE_SYMMETRIC) {
    *pad_before = *pad_after = (k - 1) / 2;
    return;
  }
  /* TensorFlow SAME: out = ceil(in / stride), the odd pixel goes after. */
  int out = (in + stride - 1) / stride;
  int total = (out - 1) * stride + k - in;
  if (total < 0)
    total = 0;
  *pad_before = total / 2;
  *pad_after = total - total / 2;
}

size_t
model_layer_weight_count(const struct model_layer *l)
{
  switch (l->kind) {
  case MODEL_LAYER_CONV: return (size_t)l->cout * l->kh * l->kw * l->cin;
  case MODEL_LAYER_DWCONV: return (size_t)l->kh * l->kw * l->cout;
  case MODEL_LAYER_FC: return (size_t)l->cout * l->cin;
  case MODEL_LAYER_ADD:
  case MODEL_LAYER_AVGPOOL: return 0;
  }
  return 0;
}

static const char *
layer_kind_name(enum model_layer_kind k)
{
  switch (k) {
  case MODEL_LAYER_CONV: return "conv";
  case MODEL_LAYER_DWCONV: return "dwconv";
  case MODEL_LAYER_ADD: return "add";
  case MODEL_LAYER_AVGPOOL: return "avgpool";
  case MODEL_LAYER_FC: return "fc";
  }
  return "?";
}

static bool
value_ok(const struct ss_model *m, int id)
{
  return id >= 0 && id < m->n_values;
}

int
model_validate(const struct ss_model *m, struct ss_error *err)
{
  if (m->input_h < 1 || m->input_w < 1 || m->input_h > 4096 ||
      m->input_w > 4096)
    return ss_error_set(err, SS_EINVAL, "input size %dx%d out of range",
                        m->input_w, m->input_h);
  if (m->n_layers == 0)
    return ss_error_set(err, SS_EFORMAT, "graph has no layers");
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    if (!value_ok(m, l->in) || !value_ok(m, l->out) ||
        (l->kind == MODEL_LAYER_ADD && !value_ok(m, l->in2)))
      return ss_error_set(err, SS_EFORMAT, "layer %d '%s': bad value id", i,
                          l->name);
    if (l->in >= l->out || (l->kind == MODEL_LAYER_ADD && l->in2 >= l->out))
      return ss_error_set(err, SS_EFORMAT,
                          "layer %d '%s': input is not computed before it", i,
                          l->name);
    const struct model_value *in = &m->values[l->in];
    const struct model_value *out = &m->values[l->out];
    int oh = 0, ow = 0;
    switch (l->kind) {
    case MODEL_LAYER_CONV:
    case MODEL_LAYER_DWCONV:
      if (l->kh < 1 || l->kw < 1 || l->stride < 1 || l->pad_top < 0 ||
          l->pad_left < 0 || l->pad_bottom < 0 || l->pad_right < 0 ||
          l->kh > 15 || l->kw > 15 || l->stride > 8 || l->pad_top >= l->kh ||
          l->pad_left >= l->kw || l->pad_bottom >= l->kh ||
          l->pad_right >= l->kw)
        return ss_error_set(err, SS_EFORMAT,
                            "layer %d '%s': bad kernel %dx%d stride %d or "
                            "padding",
                            i, l->name, l->kh, l->kw, l->stride);
      if (in->c != l->cin ||
          (l->kind == MODEL_LAYER_DWCONV && l->cin != l->cout))
        return ss_error_set(err, SS_EMISMATCH,
                            "layer %d '%s': input has %d channels, layer "
                            "expects %d",
                            i, l->name, in->c, l->cin);
      oh = model_conv_out_size(in->h, l->kh, l->stride, l->pad_top,
                               l->pad_bottom);
      ow = model_conv_out_size(in->w, l->kw, l->stride, l->pad_left,
                               l->pad_right);
      if (oh < 1 || ow < 1 || out->h != oh || out->w != ow ||
          out->c != l->cout)
        return ss_error_set(err, SS_EMISMATCH,
                            "layer %d '%s': output %dx%dx%d, expected "
                            "%dx%dx%d",
                            i, l->name, out->h, out->w, out->c, oh, ow,
                            l->cout);
      if (!l->weight || !l->bias)
        return ss_error_set(err, SS_EFORMAT, "layer %d '%s': no weights", i,
                            l->name);
      break;
    case MODEL_LAYER_FC:
      if (in->h * in->w * in->c != l->cin || out->h != 1 || out->w != 1 ||
          out->c != l->cout)
        return ss_error_set(err, SS_EMISMATCH,
                            "layer %d '%s': fully connected %d -> %d does not "
                            "fit %dx%dx%d -> %dx%dx%d",
                            i, l->name, l->cin, l->cout, in->h, in->w, in->c,
                            out->h, out->w, out->c);
      if (!l->weight || !l->bias)
        return ss_error_set(err, SS_EFORMAT, "layer %d '%s': no weights", i,
                            l->name);
      break;
    case MODEL_LAYER_ADD: {
      const struct model_value *in2 = &m->values[l->in2];
      if (in->h != in2->h || in->w != in2->w || in->c != in2->c ||
          out->h != in->h || out->w != in->w || out->c != in->c)
        return ss_error_set(err, SS_EMISMATCH,
                            "layer %d '%s': add of %dx%dx%d and %dx%dx%d", i,
                            l->name, in->h, in->w, in->c, in2->h, in2->w,
                            in2->c);
      break;
    }
    case MODEL_LAYER_AVGPOOL:
      if (out->h != 1 || out->w != 1 || out->c != in->c)
        return ss_error_set(err, SS_EMISMATCH,
                            "layer %d '%s': average pool output must be "
                            "1x1x%d",
                            i, l->name, in->c);
      break;
    default:
      return ss_error_set(err, SS_EFORMAT, "layer %d: unknown kind %d", i,
                          (int)l->kind);
    }
    if (!(l->act_min <= l->act_max))
      return ss_error_set(err, SS_EFORMAT, "layer %d '%s' (%s): bad clamp", i,
                          l->name, layer_kind_name(l->kind));
  }
  if (!value_ok(m, m->output))
    return ss_error_set(err, SS_EFORMAT, "graph has no output");
  const struct model_value *o = &m->values[m->output];
  if (o->h != 1 || o->w != 1 || o->c != m->num_outputs || o->c < 1)
    return ss_error_set(err, SS_EMISMATCH,
                        "output is %dx%dx%d, expected 1x1x%d", o->h, o->w,
                        o->c, m->num_outputs);
  if (m->class_offset < 0 || m->class_offset >= m->num_outputs)
    return ss_error_set(err, SS_EINVAL, "class offset %d out of range",
                        m->class_offset);
  return 0;
}

/* ---- labels ---- */

static int
split_lines(const char *text, size_t len, char ***out_lines, int *out_n,
            struct ss_error *err)
{
  int cap = 1024, n = 0;
  char **lines = malloc((size_t)cap * sizeof *lines);
  if (!lines)
    return ss_error_set(err, SS_ENOMEM, "out of memory reading labels");
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && text[j] != '\n')
      j++;
    size_t e = j;
    if (e > i && text[e - 1] == '\r')
      e--;
    /* A trailing empty line at the end of the file is not a label. */
    if (!(j == len && e == i)) {
      if (n == cap) {
        cap *= 2;
        char **nl = realloc(lines, (size_t)cap * sizeof *nl);
        if (!nl) {
          labels_free(lines, n);
          return ss_error_set(err, SS_ENOMEM, "out of memory reading labels");
        }
        lines = nl;
      }
      size_t l = e - i;
      if (l > 1024)
        l = 1024; /* a label, not a novel */
      lines[n] = malloc(l + 1);
      if (!lines[n]) {
        labels_free(lines, n);
        return ss_error_set(err, SS_ENOMEM, "out of memory reading labels");
      }
      memcpy(lines[n], text + i, l);
      lines[n][l] = '\0';
      if (memchr(lines[n], '\0', l)) {
        labels_free(lines, n + 1);
        return ss_error_set(err, SS_EFORMAT, "labels line %d has a NUL byte",
                            n + 1);
      }
      n++;
    }
    i = j + 1;
  }
  *out_lines = lines;
  *out_n = n;
  return 0;
}

int
model_set_labels_text(struct ss_model *m, const char *text, size_t len,
                      struct ss_error *err)
{
  char **lines = NULL;
  int n = 0;
  int rc = split_lines(text, len, &lines, &n, err);
  if (rc)
    return rc;
  int classes = model_num_classes(m);
  int skip;
  if (n == classes)
    skip = 0;
  else if (m->class_offset > 0 && n == m->num_outputs)
    skip = m->class_offset; /* "background" first, as TF's labels files */
  else {
    labels_free(lines, n);
    return ss_error_set(err, SS_EMISMATCH,
                        "labels have %d lines; the model has %d classes%s", n,
                        classes,
                        m->class_offset ? " (or that many plus background)"
                                        : "");
  }
  char **labels = malloc((size_t)classes * sizeof *labels);
  if (!labels) {
    labels_free(lines, n);
    return ss_error_set(err, SS_ENOMEM, "out of memory reading labels");
  }
  for (int i = 0; i < skip; i++)
    free(lines[i]);
  memcpy(labels, lines + skip, (size_t)classes * sizeof *labels);
  free(lines);
  labels_free(m->labels, classes);
  m->labels = labels;
  return 0;
}

int
model_set_labels_file(struct ss_model *m, const char *path,
                      struct ss_error *err)
{
  uint8_t *data;
  size_t size;
  int rc = file_read_all(path, 16u * 1024 * 1024, &data, &size, err);
  if (rc)
    return rc;
  rc = model_set_labels_text(m, (const char *)data, size, err);
  free(data);
  if (rc)
    return ss_error_prefix(err, rc, "%s", path);
  return 0;
}

/* ---- accessors ---- */

enum model_arch model_arch(const struct ss_model *m) { return m->arch; }
enum model_format model_format(const struct ss_model *m) { return m->format; }
float model_alpha(const struct ss_model *m) { return m->alpha; }
int model_input_width(const struct ss_model *m) { return m->input_w; }
int model_input_height(const struct ss_model *m) { return m->input_h; }
enum model_pad_rule model_pad_rule(const struct ss_model *m)
{
  return m->pad_rule;
}
int model_num_outputs(const struct ss_model *m) { return m->num_outputs; }
int model_class_offset(const struct ss_model *m) { return m->class_offset; }
bool model_is_quantized(const struct ss_model *m) { return m->quantized; }
const char *model_name(const struct ss_model *m) { return m->name; }
bool model_has_labels(const struct ss_model *m) { return m->labels != NULL; }

int
model_num_classes(const struct ss_model *m)
{
  return m->num_outputs - m->class_offset;
}

void
model_input_norm(const struct ss_model *m, float mean[3], float std[3])
{
  for (int i = 0; i < 3; i++) {
    mean[i] = m->mean[i];
    std[i] = m->std[i];
  }
}

const char *
model_label(const struct ss_model *m, int class_index)
{
  if (!m->labels || class_index < 0 || class_index >= model_num_classes(m))
    return NULL;
  return m->labels[class_index];
}

const char *
model_arch_name(enum model_arch arch)
{
  switch (arch) {
  case MODEL_ARCH_MOBILENET_V1: return "mobilenet_v1";
  case MODEL_ARCH_MOBILENET_V2: return "mobilenet_v2";
  case MODEL_ARCH_UNKNOWN: break;
  }
  return "unknown";
}

uint64_t
model_macs(const struct ss_model *m)
{
  uint64_t macs = 0;
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    const struct model_value *o = &m->values[l->out];
    if (l->kind == MODEL_LAYER_CONV || l->kind == MODEL_LAYER_DWCONV)
      macs += (uint64_t)o->h * o->w * model_layer_weight_count(l);
    else if (l->kind == MODEL_LAYER_FC)
      macs += model_layer_weight_count(l);
  }
  return macs;
}

uint64_t
model_params(const struct ss_model *m)
{
  uint64_t n = 0;
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    if (l->kind == MODEL_LAYER_CONV || l->kind == MODEL_LAYER_DWCONV ||
        l->kind == MODEL_LAYER_FC)
      n += model_layer_weight_count(l) + (uint64_t)l->cout;
  }
  return n;
}
