/* streamsight — safetensors loader for PyTorch/torchvision MobileNets.
 *
 * File format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON
 *   { "__metadata__": { string: string, ... },
 *     name: { "dtype": "F32", "shape": [d0, ...], "data_offsets": [b, e] }, ... }
 * and then the data section; offsets are relative to its start. Everything is
 * checked before use: the header length against the file, every tensor's
 * offsets against the data section and its byte size against its shape.
 *
 * The graph comes from mobilenet_build() and the tensors are bound to it by
 * name. A convolution "P.I" takes its batch-norm from "P.(I+1)" and the norm
 * is folded into the weights here:
 *   w' = w * g / sqrt(v + eps),  b' = beta + (b - mean) * g / sqrt(v + eps)
 * (b is the convolution's own bias, usually absent). Layouts are converted
 * from PyTorch's to the graph's (model-graph.h):
 *   conv      [cout][cin][kh][kw] -> [cout][kh][kw][cin]
 *   depthwise [c][1][kh][kw]      -> [kh][kw][c]
 *   linear    [out][in]           -> [out][in]
 */
#include "safetensors-load.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "mobilenet.h"
#include "model-graph.h"

/* The safetensors specification caps the header at 100 MB. */
#define ST_HEADER_MAX_BYTES (100u * 1024 * 1024)
/* MobileNetV2 has 314 tensors with its batch-norms: this is a wide margin. */
#define ST_TENSORS_MAX 65536
#define ST_RANK_MAX 8
/* PyTorch's BatchNorm2d default. */
#define ST_BN_EPS_DEFAULT 1e-5
#define ST_RESOLUTION_DEFAULT 224

/* ImageNet statistics in 0..255 pixel units (torchvision's transforms use
 * the same values divided by 255). */
static const float imagenet_mean[3] = { 123.675f, 116.28f, 103.53f };
static const float imagenet_std[3] = { 58.395f, 57.12f, 57.375f };

/* Width multipliers tried, in order, when the metadata does not give one:
 * TF-slim's V1 set and torchvision/Keras's V2 set. */
static const float alpha_candidates[] = { 0.25f, 0.35f, 0.5f, 0.75f,
                                          1.0f,  1.3f,  1.4f };

enum st_dtype {
  ST_DTYPE_F32 = 0,
  ST_DTYPE_F16,
  ST_DTYPE_BF16,
  ST_DTYPE_OTHER, /* a valid safetensors dtype that we do not convert */
};

static const struct {
  const char *name;
  enum st_dtype dtype;
  size_t size;
} dtype_table[] = {
  { "F32", ST_DTYPE_F32, 4 },     { "F16", ST_DTYPE_F16, 2 },
  { "BF16", ST_DTYPE_BF16, 2 },   { "F64", ST_DTYPE_OTHER, 8 },
  { "I64", ST_DTYPE_OTHER, 8 },   { "I32", ST_DTYPE_OTHER, 4 },
  { "I16", ST_DTYPE_OTHER, 2 },   { "I8", ST_DTYPE_OTHER, 1 },
  { "U64", ST_DTYPE_OTHER, 8 },   { "U32", ST_DTYPE_OTHER, 4 },
  { "U16", ST_DTYPE_OTHER, 2 },   { "U8", ST_DTYPE_OTHER, 1 },
  { "BOOL", ST_DTYPE_OTHER, 1 },  { "F8_E4M3", ST_DTYPE_OTHER, 1 },
  { "F8_E5M2", ST_DTYPE_OTHER, 1 },
};

struct st_tensor {
  const char *name;       /* borrowed from the JSON header */
  const char *dtype_name; /* borrowed from dtype_table */
  enum st_dtype dtype;
  int rank;
  int64_t shape[ST_RANK_MAX];
  size_t numel;
  const uint8_t *data; /* inside the caller's buffer, numel elements */
  bool used;
};

struct st_file {
  json_t *header;   /* owned */
  json_t *metadata; /* borrowed from header, or NULL */
  struct st_tensor *tensors; /* owned, sorted by name */
  size_t n_tensors;
};

int
safetensors_sniff(const uint8_t *data, size_t size)
{
  return size >= 9 && data[8] == '{';
}

/* ---- element access ---- */

static uint64_t
read_le64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* Element i of a float tensor, converted to float. Data is little-endian and
 * not necessarily aligned. */
static float
tensor_get(const struct st_tensor *t, size_t i)
{
  switch (t->dtype) {
  case ST_DTYPE_F32: {
    const uint8_t *p = t->data + 4 * i;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
  }
  case ST_DTYPE_F16: {
    const uint8_t *p = t->data + 2 * i;
    return half_to_f32((uint16_t)(p[0] | p[1] << 8));
  }
  case ST_DTYPE_BF16: {
    const uint8_t *p = t->data + 2 * i;
    return bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
  }
  case ST_DTYPE_OTHER:
    break;
  }
  assert(!"tensor_get on a dtype tensor_check() refuses");
  return NAN;
}

/* ---- header parsing ---- */

static void
st_file_clear(struct st_file *f)
{
  free(f->tensors);
  json_decref(f->header);
  memset(f, 0, sizeof *f);
}

static int
tensor_cmp(const void *a, const void *b)
{
  return strcmp(((const struct st_tensor *)a)->name,
                ((const struct st_tensor *)b)->name);
}

static struct st_tensor *
st_find(const struct st_file *f, const char *name)
{
  struct st_tensor key = { .name = name };
  return bsearch(&key, f->tensors, f->n_tensors, sizeof key, tensor_cmp);
}

/* Formats a shape as "[a,b,c]" into buf. */
static const char *
shape_str(const int64_t *shape, int rank, char *buf, size_t cap)
{
  size_t n = 0;
  n += (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < rank && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "",
                          (long long)shape[i]);
  if (n < cap)
    snprintf(buf + n, cap - n, "]");
  return buf;
}

static int
parse_tensor(const char *name, json_t *entry, const uint8_t *data,
             size_t data_size, struct st_tensor *t, struct ss_error *err)
{
  if (!json_is_object(entry))
    return ss_error_set(err, SS_EFORMAT, "tensor '%s': entry is not an object",
                        name);
  t->name = name;

  json_t *dtype = json_object_get(entry, "dtype");
  if (!json_is_string(dtype))
    return ss_error_set(err, SS_EFORMAT, "tensor '%s': no \"dtype\" string",
                        name);
  size_t elem_size = 0;
  for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++) {
    if (strcmp(json_string_value(dtype), dtype_table[i].name) == 0) {
      t->dtype = dtype_table[i].dtype;
      t->dtype_name = dtype_table[i].name;
      elem_size = dtype_table[i].size;
    }
  }
  if (!elem_size)
    return ss_error_set(err, SS_EFORMAT, "tensor '%s': unknown dtype '%.40s'",
                        name, json_string_value(dtype));

  /* Offsets first, so that a truncated file reports the offset that no
   * longer fits rather than a size. */
  json_t *offsets = json_object_get(entry, "data_offsets");
  json_t *jb = json_array_get(offsets, 0), *je = json_array_get(offsets, 1);
  if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
      !json_is_integer(jb) || !json_is_integer(je))
    return ss_error_set(err, SS_EFORMAT,
                        "tensor '%s': \"data_offsets\" is not an array of two "
                        "integers",
                        name);
  json_int_t begin = json_integer_value(jb), end = json_integer_value(je);
  if (begin < 0 || end < 0)
    return ss_error_set(err, SS_EFORMAT,
                        "tensor '%s': negative data offset %lld", name,
                        (long long)(begin < 0 ? begin : end));
  if ((unsigned long long)end > data_size)
    return ss_error_set(err, SS_EFORMAT,
                        "tensor '%s': end offset %lld > data size %zu", name,
                        (long long)end, data_size);
  if (begin > end)
    return ss_error_set(err, SS_EFORMAT,
                        "tensor '%s': begin offset %lld > end offset %lld",
                        name, (long long)begin, (long long)end);
  size_t bytes = (size_t)(end - begin);

  json_t *shape = json_object_get(entry, "shape");
  if (!json_is_array(shape))
    return ss_error_set(err, SS_EFORMAT, "tensor '%s': no \"shape\" array",
                        name);
  if (json_array_size(shape) > ST_RANK_MAX)
    return ss_error_set(err, SS_ERANGE, "tensor '%s': rank %zu > %d", name,
                        json_array_size(shape), ST_RANK_MAX);
  t->rank = (int)json_array_size(shape);
  /* The element count is compared with the byte count below; `huge` keeps
   * the product from overflowing on the way. */
  size_t numel = 1;
  bool huge = false;
  for (int i = 0; i < t->rank; i++) {
    json_t *d = json_array_get(shape, (size_t)i);
    if (!json_is_integer(d) || json_integer_value(d) < 0 ||
        json_integer_value(d) > INT32_MAX)
      return ss_error_set(err, SS_EFORMAT,
                          "tensor '%s': shape dimension %d is not an integer "
                          "in 0 .. %d",
                          name, i, INT32_MAX);
    t->shape[i] = json_integer_value(d);
    if (t->shape[i] != 0 && numel > SIZE_MAX / 16 / (size_t)t->shape[i])
      huge = true;
    else
      numel *= (size_t)t->shape[i];
  }
  t->numel = numel;
  if (huge || bytes != numel * elem_size) {
    char s[128];
    shape_str(t->shape, t->rank, s, sizeof s);
    if (huge)
      return ss_error_set(err, SS_EFORMAT,
                          "tensor '%s': data_offsets [%lld, %lld] hold %zu "
                          "bytes; %s %s is far larger",
                          name, (long long)begin, (long long)end, bytes,
                          t->dtype_name, s);
    return ss_error_set(err, SS_EFORMAT,
                        "tensor '%s': data_offsets [%lld, %lld] hold %zu "
                        "bytes; %s %s needs %zu",
                        name, (long long)begin, (long long)end, bytes,
                        t->dtype_name, s, numel * elem_size);
  }
  t->data = data + begin;
  return 0;
}

static int
st_parse(const uint8_t *buf, size_t size, struct st_file *f,
         struct ss_error *err)
{
  memset(f, 0, sizeof *f);
  if (size < 8)
    return ss_error_set(err, SS_EFORMAT,
                        "file is %zu bytes, shorter than the 8-byte header "
                        "length",
                        size);
  uint64_t n = read_le64(buf);
  if (n > size - 8)
    return ss_error_set(err, SS_EFORMAT,
                        "header length %llu > file size - 8 (%zu): truncated "
                        "or not a safetensors file",
                        (unsigned long long)n, size - 8);
  if (n > ST_HEADER_MAX_BYTES)
    return ss_error_set(err, SS_ERANGE, "header length %llu > %u bytes",
                        (unsigned long long)n, ST_HEADER_MAX_BYTES);
  if (n < 2 || buf[8] != '{')
    return ss_error_set(err, SS_EFORMAT,
                        "header (offset 8, %llu bytes) does not start with "
                        "'{'",
                        (unsigned long long)n);

  json_error_t jerr;
  f->header = json_loadb((const char *)buf + 8, (size_t)n,
                         JSON_REJECT_DUPLICATES, &jerr);
  if (!f->header)
    return ss_error_set(err, SS_EFORMAT,
                        "header is not valid JSON: %s (header byte %d)",
                        jerr.text, jerr.position);
  int rc = 0;
  if (!json_is_object(f->header)) {
    rc = ss_error_set(err, SS_EFORMAT, "header is not a JSON object");
    goto fail_clear;
  }

  size_t count = json_object_size(f->header);
  f->metadata = json_object_get(f->header, "__metadata__");
  if (f->metadata) {
    count--;
    const char *key;
    json_t *v;
    if (!json_is_object(f->metadata)) {
      rc = ss_error_set(err, SS_EFORMAT, "__metadata__ is not an object");
      goto fail_clear;
    }
    json_object_foreach(f->metadata, key, v) {
      if (!json_is_string(v)) {
        rc = ss_error_set(err, SS_EFORMAT,
                          "__metadata__ '%.80s': value is not a string", key);
        goto fail_clear;
      }
    }
  }
  if (count == 0) {
    rc = ss_error_set(err, SS_EFORMAT, "header lists no tensors");
    goto fail_clear;
  }
  if (count > ST_TENSORS_MAX) {
    rc = ss_error_set(err, SS_ERANGE, "header lists %zu tensors (> %d)",
                      count, ST_TENSORS_MAX);
    goto fail_clear;
  }
  f->tensors = calloc(count, sizeof *f->tensors);
  if (!f->tensors) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory for %zu tensors", count);
    goto fail_clear;
  }

  const uint8_t *data = buf + 8 + n;
  size_t data_size = size - 8 - (size_t)n;
  const char *key;
  json_t *entry;
  json_object_foreach(f->header, key, entry) {
    if (strcmp(key, "__metadata__") == 0)
      continue;
    assert(f->n_tensors < count);
    rc = parse_tensor(key, entry, data, data_size, &f->tensors[f->n_tensors],
                      err);
    if (rc)
      goto fail_clear;
    f->n_tensors++;
  }
  qsort(f->tensors, f->n_tensors, sizeof *f->tensors, tensor_cmp);
  return 0;

fail_clear:
  st_file_clear(f);
  return rc;
}

/* ---- metadata ---- */

static const char *
meta_get(const struct st_file *f, const char *key)
{
  return f->metadata ? json_string_value(json_object_get(f->metadata, key))
                     : NULL;
}

/* Reads metadata key as a number in [lo, hi]. Returns 1 when present, 0 when
 * absent, negative on a malformed value. */
static int
meta_number(const struct st_file *f, const char *key, double lo, double hi,
            double *out, struct ss_error *err)
{
  const char *s = meta_get(f, key);
  if (!s)
    return 0;
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
    return ss_error_set(err, SS_EFORMAT,
                        "__metadata__ '%s' is '%.40s': expected a number in "
                        "%g .. %g",
                        key, s, lo, hi);
  *out = v;
  return 1;
}

/* ---- binding ---- */

/* Looks up "<prefix>.<suffix>". Returns NULL when absent. */
static struct st_tensor *
find_part(const struct st_file *f, const char *prefix, const char *suffix)
{
  char name[SS_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s.%s", prefix, suffix);
  return st_find(f, name);
}

/* Checks a tensor the graph needs: present, convertible, of the expected
 * shape, and finite. */
static int
tensor_check(const struct st_file *f, const char *prefix, const char *suffix,
             const int64_t *shape, int rank, struct st_tensor **out,
             struct ss_error *err)
{
  struct st_tensor *t = find_part(f, prefix, suffix);
  if (!t)
    return ss_error_set(err, SS_EMISMATCH, "tensor '%s.%s' is missing",
                        prefix, suffix);
  if (t->dtype == ST_DTYPE_OTHER)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "tensor '%s': dtype %s is not supported (F32, F16, "
                        "BF16)",
                        t->name, t->dtype_name);
  bool same = t->rank == rank;
  for (int i = 0; same && i < rank; i++)
    same = t->shape[i] == shape[i];
  if (!same) {
    char got[128], want[128];
    return ss_error_set(err, SS_EMISMATCH,
                        "tensor '%s': shape %s, expected %s", t->name,
                        shape_str(t->shape, t->rank, got, sizeof got),
                        shape_str(shape, rank, want, sizeof want));
  }
  for (size_t i = 0; i < t->numel; i++) {
    float v = tensor_get(t, i);
    if (!isfinite(v))
      return ss_error_set(err, SS_EFORMAT,
                          "tensor '%s': element %zu is not finite (%g)",
                          t->name, i, (double)v);
  }
  t->used = true;
  *out = t;
  return 0;
}

/* The PyTorch shape of a layer's weight. Returns the rank. */
static int
layer_torch_shape(const struct model_layer *l, int64_t shape[4])
{
  switch (l->kind) {
  case MODEL_LAYER_CONV:
    shape[0] = l->cout, shape[1] = l->cin, shape[2] = l->kh, shape[3] = l->kw;
    return 4;
  case MODEL_LAYER_DWCONV:
    shape[0] = l->cout, shape[1] = 1, shape[2] = l->kh, shape[3] = l->kw;
    return 4;
  case MODEL_LAYER_FC:
    shape[0] = l->cout, shape[1] = l->cin;
    return 2;
  case MODEL_LAYER_ADD:
  case MODEL_LAYER_AVGPOOL:
    break;
  }
  return 0;
}

/* The batch-norm module following a convolution: "P.I" -> "P.(I+1)". False
 * when the name does not end in an index. */
static bool
bn_prefix(const char *conv, char *out, size_t cap)
{
  const char *dot = strrchr(conv, '.');
  if (!dot || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1) ||
      strlen(dot + 1) > 6)
    return false;
  int idx = atoi(dot + 1);
  int n = snprintf(out, cap, "%.*s.%d", (int)(dot - conv), conv, idx + 1);
  return n > 0 && (size_t)n < cap;
}

/* Fills l->weight and l->bias from the file, folding batch-norm. */
static int
bind_layer(const struct st_file *f, struct model_layer *l, double eps,
           struct ss_error *err)
{
  int64_t wshape[4];
  int rank = layer_torch_shape(l, wshape);
  if (rank == 0)
    return 0;
  const int64_t cshape[1] = { l->cout };
  struct st_tensor *w, *bias = NULL;
  int rc = tensor_check(f, l->name, "weight", wshape, rank, &w, err);
  if (rc)
    return rc;

  char bn[SS_NAME_MAX + 16] = "";
  struct st_tensor *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
  bool has_bn = l->kind != MODEL_LAYER_FC &&
                bn_prefix(l->name, bn, sizeof bn) && find_part(f, bn, "weight");
  if (has_bn) {
    if ((rc = tensor_check(f, bn, "weight", cshape, 1, &g, err)) ||
        (rc = tensor_check(f, bn, "bias", cshape, 1, &beta, err)) ||
        (rc = tensor_check(f, bn, "running_mean", cshape, 1, &mean, err)) ||
        (rc = tensor_check(f, bn, "running_var", cshape, 1, &var, err)))
      return rc;
    if (find_part(f, l->name, "bias") &&
        (rc = tensor_check(f, l->name, "bias", cshape, 1, &bias, err)))
      return rc;
  } else {
    if (bn[0] && !find_part(f, l->name, "bias"))
      return ss_error_set(err, SS_EMISMATCH,
                          "tensor '%s.weight' is missing (the batch-norm of "
                          "'%s'), and there is no '%s.bias'",
                          bn, l->name, l->name);
    if ((rc = tensor_check(f, l->name, "bias", cshape, 1, &bias, err)))
      return rc;
  }

  size_t per_out = (size_t)(l->kh * l->kw) * (size_t)l->cin;
  for (int o = 0; o < l->cout; o++) {
    double scale = 1.0, shift = bias ? tensor_get(bias, (size_t)o) : 0.0;
    if (has_bn) {
      double v = (double)tensor_get(var, (size_t)o) + eps;
      if (!(v > 0.0))
        return ss_error_set(err, SS_EFORMAT,
                            "tensor '%s.running_var': element %d is %g, "
                            "negative",
                            bn, o, (double)tensor_get(var, (size_t)o));
      scale = tensor_get(g, (size_t)o) / sqrt(v);
      shift = tensor_get(beta, (size_t)o) +
              (shift - tensor_get(mean, (size_t)o)) * scale;
    }
    l->bias[o] = (float)shift;
    switch (l->kind) {
    case MODEL_LAYER_CONV: /* [o][ci][y][x] -> [o][y][x][ci] */
      for (int ci = 0; ci < l->cin; ci++)
        for (int y = 0; y < l->kh; y++)
          for (int x = 0; x < l->kw; x++) {
            size_t src = (((size_t)o * l->cin + ci) * l->kh + y) * l->kw + x;
            size_t dst = (size_t)o * per_out +
                         ((size_t)y * l->kw + x) * l->cin + ci;
            l->weight[dst] = (float)(tensor_get(w, src) * scale);
          }
      break;
    case MODEL_LAYER_DWCONV: /* [c][1][y][x] -> [y][x][c] */
      for (int y = 0; y < l->kh; y++)
        for (int x = 0; x < l->kw; x++) {
          size_t src = ((size_t)o * l->kh + y) * l->kw + x;
          size_t dst = ((size_t)y * l->kw + x) * l->cout + o;
          l->weight[dst] = (float)(tensor_get(w, src) * scale);
        }
      break;
    case MODEL_LAYER_FC:
      for (int ci = 0; ci < l->cin; ci++)
        l->weight[(size_t)o * l->cin + ci] =
            tensor_get(w, (size_t)o * l->cin + ci);
      break;
    case MODEL_LAYER_ADD:
    case MODEL_LAYER_AVGPOOL:
      break;
    }
  }
  return 0;
}

/* Number of the graph's weight tensors that are absent from the file or have
 * another shape: 0 means the file fits this architecture. */
static int
count_mismatches(const struct ss_model *m, const struct st_file *f)
{
  int bad = 0;
  for (int i = 0; i < m->n_layers; i++) {
    int64_t shape[4];
    int rank = layer_torch_shape(&m->layers[i], shape);
    if (rank == 0)
      continue;
    const struct st_tensor *t = find_part(f, m->layers[i].name, "weight");
    bool same = t && t->rank == rank;
    for (int d = 0; same && d < rank; d++)
      same = t->shape[d] == shape[d];
    bad += !same;
  }
  return bad;
}

static int
choose_arch(const struct st_file *f, enum model_arch *out,
            struct ss_error *err)
{
  const char *arch = meta_get(f, "arch");
  if (arch) {
    if (strcmp(arch, "mobilenet_v1") == 0)
      *out = MODEL_ARCH_MOBILENET_V1;
    else if (strcmp(arch, "mobilenet_v2") == 0)
      *out = MODEL_ARCH_MOBILENET_V2;
    else
      return ss_error_set(err, SS_EUNSUPPORTED,
                          "__metadata__ 'arch' is '%.40s': expected "
                          "mobilenet_v1 or mobilenet_v2",
                          arch);
    return 0;
  }
  if (st_find(f, "features.1.conv.0.0.weight"))
    *out = MODEL_ARCH_MOBILENET_V2;
  else if (st_find(f, "features.1.3.weight"))
    *out = MODEL_ARCH_MOBILENET_V1;
  else
    return ss_error_set(err, SS_EMISMATCH,
                        "no __metadata__ 'arch', and neither "
                        "'features.1.conv.0.0.weight' (MobileNetV2) nor "
                        "'features.1.3.weight' (MobileNetV1) is present");
  return 0;
}

static int
choose_classes(const struct st_file *f, enum model_arch arch, int *out,
               struct ss_error *err)
{
  double v;
  int rc = meta_number(f, "num_classes", 1, 100000, &v, err);
  if (rc < 0)
    return rc;
  if (rc == 1) {
    if (v != floor(v))
      return ss_error_set(err, SS_EFORMAT,
                          "__metadata__ 'num_classes' is not an integer");
    *out = (int)v;
    return 0;
  }
  const char *name = arch == MODEL_ARCH_MOBILENET_V1 ? "classifier.weight"
                                                     : "classifier.1.weight";
  const struct st_tensor *t = st_find(f, name);
  if (!t)
    return ss_error_set(err, SS_EMISMATCH, "tensor '%s' is missing", name);
  if (t->rank != 2 || t->shape[0] < 1 || t->shape[0] > 100000)
    return ss_error_set(err, SS_EMISMATCH,
                        "tensor '%s': expected [classes (1 .. 100000), "
                        "features]",
                        name);
  *out = (int)t->shape[0];
  return 0;
}

/* Builds the graph: alpha from the metadata, or the candidate whose shapes
 * fit the file best (on a tie, the first). */
static int
build_graph(const struct st_file *f, enum model_arch arch, int resolution,
            int classes, struct ss_model **out, bool *alpha_inferred,
            struct ss_error *err)
{
  double a;
  int rc = meta_number(f, "alpha", 0.1, 2.0, &a, err);
  if (rc < 0)
    return rc;
  *alpha_inferred = rc == 0;
  if (rc == 1)
    return mobilenet_build(arch, (float)a, resolution, MODEL_PAD_RULE_SYMMETRIC,
                           classes, out, err);

  struct ss_model *best = NULL;
  int best_bad = 0;
  for (size_t i = 0; i < sizeof alpha_candidates / sizeof *alpha_candidates;
       i++) {
    struct ss_model *m;
    rc = mobilenet_build(arch, alpha_candidates[i], resolution,
                         MODEL_PAD_RULE_SYMMETRIC, classes, &m, err);
    if (rc) {
      model_unref(best);
      return rc;
    }
    int bad = count_mismatches(m, f);
    if (!best || bad < best_bad) {
      model_unref(best);
      best = m;
      best_bad = bad;
    } else {
      model_unref(m);
    }
    if (bad == 0)
      break;
  }
  *out = best;
  return 0;
}

int
model_load_safetensors_buffer(const uint8_t *data, size_t size,
                              const char *name, int resolution,
                              struct ss_model **out, struct ss_error *err)
{
  struct st_file f;
  int rc = st_parse(data, size, &f, err);
  if (rc)
    return rc;

  enum model_arch arch = MODEL_ARCH_UNKNOWN;
  int classes = 0;
  double eps = ST_BN_EPS_DEFAULT, res_meta;
  if ((rc = choose_arch(&f, &arch, err)) ||
      (rc = choose_classes(&f, arch, &classes, err)))
    goto fail_clear_file;
  if ((rc = meta_number(&f, "bn_eps", 1e-12, 1.0, &eps, err)) < 0)
    goto fail_clear_file;
  if (resolution <= 0) {
    rc = meta_number(&f, "resolution", 32, 1024, &res_meta, err);
    if (rc < 0)
      goto fail_clear_file;
    if (rc == 1 && res_meta != floor(res_meta)) {
      rc = ss_error_set(err, SS_EFORMAT,
                        "__metadata__ 'resolution' is not an integer");
      goto fail_clear_file;
    }
    resolution = rc == 1 ? (int)res_meta : ST_RESOLUTION_DEFAULT;
  }

  struct ss_model *m;
  bool alpha_inferred;
  rc = build_graph(&f, arch, resolution, classes, &m, &alpha_inferred, err);
  if (rc)
    goto fail_clear_file;

  for (int i = 0; i < m->n_layers; i++) {
    rc = bind_layer(&f, &m->layers[i], eps, err);
    if (rc) {
      if (alpha_inferred)
        ss_error_prefix(err, rc, "%s %g (width multiplier inferred)",
                        model_arch_name(arch), (double)m->alpha);
      goto fail_unref;
    }
  }
  for (size_t i = 0; i < f.n_tensors; i++) {
    const char *tname = f.tensors[i].name;
    size_t len = strlen(tname);
    static const char nbt[] = ".num_batches_tracked";
    if (f.tensors[i].used ||
        (len >= sizeof nbt - 1 &&
         strcmp(tname + len - (sizeof nbt - 1), nbt) == 0))
      continue;
    rc = ss_error_set(err, SS_EMISMATCH,
                      "unexpected tensor '%s' (not part of %s %g)", tname,
                      model_arch_name(arch), (double)m->alpha);
    goto fail_unref;
  }

  m->format = MODEL_FORMAT_SAFETENSORS;
  m->class_offset = 0;
  m->quantized = false;
  for (int c = 0; c < 3; c++) {
    m->mean[c] = imagenet_mean[c];
    m->std[c] = imagenet_std[c];
  }
  if (name && *name)
    snprintf(m->name, sizeof m->name, "%s", name);
  rc = model_validate(m, err);
  if (rc)
    goto fail_unref;
  st_file_clear(&f);
  *out = m;
  return 0;

fail_unref:
  model_unref(m);
fail_clear_file:
  st_file_clear(&f);
  return rc;
}
