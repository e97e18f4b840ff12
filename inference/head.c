/* streamsight — a head: linear softmax over pooled features, and its file.
 * See head.h for the format and the rules. */
#include "head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "file-util.h"

#define HEAD_MAGIC "SSHD"

struct ss_head {
  char *model;
  int dim;
  int n_classes;
  char **names; /* n_classes */
  float *w;     /* n_classes x dim, row-major */
  float *b;     /* n_classes */
};

bool
head_name_valid(const char *name)
{
  if (!name)
    return false;
  size_t len = strlen(name);
  if (len == 0 || len > HEAD_NAME_MAX || name[0] == '.' || name[0] == ' ' ||
      name[len - 1] == ' ')
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
          c == ' '))
      return false;
  }
  return true;
}

/* Model names come from file stems: any printable ASCII, bounded. */
static bool
model_name_valid(const char *name)
{
  if (!name)
    return false;
  size_t len = strlen(name);
  if (len == 0 || len > HEAD_MODEL_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
      return false;
  return true;
}

void
head_free(struct ss_head *h)
{
  if (!h)
    return;
  if (h->names)
    for (int i = 0; i < h->n_classes; i++)
      free(h->names[i]);
  free(h->names);
  free(h->model);
  free(h->w);
  free(h->b);
  free(h);
}

int
head_new(const char *model, int dim, int n_classes,
         const char *const *class_names, struct ss_head **out,
         struct ss_error *err)
{
  if (!model_name_valid(model))
    return ss_error_set(err, SS_EINVAL,
                        "model name: 1 to %d printable ASCII characters",
                        HEAD_MODEL_NAME_MAX);
  if (dim < 1 || dim > HEAD_MAX_DIM)
    return ss_error_set(err, SS_EINVAL, "feature length %d: not in 1..%d", dim,
                        HEAD_MAX_DIM);
  if (n_classes < 2 || n_classes > HEAD_MAX_CLASSES)
    return ss_error_set(err, SS_EINVAL, "%d classes: a head has 2 to %d",
                        n_classes, HEAD_MAX_CLASSES);
  if (!class_names)
    return ss_error_set(err, SS_EINVAL, "no class names");
  for (int i = 0; i < n_classes; i++) {
    if (!head_name_valid(class_names[i]))
      return ss_error_set(err, SS_EINVAL,
                          "class %d: '%.80s' is not a valid name (1 to %d "
                          "letters, digits, '_', '-', '.', inner spaces)",
                          i, class_names[i] ? class_names[i] : "(null)",
                          HEAD_NAME_MAX);
    for (int j = 0; j < i; j++)
      if (strcmp(class_names[i], class_names[j]) == 0)
        return ss_error_set(err, SS_EINVAL, "class '%s' is named twice",
                            class_names[i]);
  }
  struct ss_head *h = calloc(1, sizeof *h);
  if (!h)
    return ss_error_set(err, SS_ENOMEM, "head: out of memory");
  h->dim = dim;
  h->n_classes = n_classes;
  h->model = strdup(model);
  h->names = calloc((size_t)n_classes, sizeof *h->names);
  h->w = calloc((size_t)n_classes * (size_t)dim, sizeof *h->w);
  h->b = calloc((size_t)n_classes, sizeof *h->b);
  if (!h->model || !h->names || !h->w || !h->b)
    goto fail_free_head;
  for (int i = 0; i < n_classes; i++)
    if (!(h->names[i] = strdup(class_names[i])))
      goto fail_free_head;
  *out = h;
  return 0;

fail_free_head:
  head_free(h);
  return ss_error_set(err, SS_ENOMEM, "head: out of memory");
}

int
head_copy(const struct ss_head *h, struct ss_head **out, struct ss_error *err)
{
  struct ss_head *c;
  int rc = head_new(h->model, h->dim, h->n_classes,
                    (const char *const *)h->names, &c, err);
  if (rc)
    return rc;
  memcpy(c->w, h->w, (size_t)h->n_classes * (size_t)h->dim * sizeof *h->w);
  memcpy(c->b, h->b, (size_t)h->n_classes * sizeof *h->b);
  *out = c;
  return 0;
}

const char *head_model(const struct ss_head *h) { return h->model; }
int head_dim(const struct ss_head *h) { return h->dim; }
int head_num_classes(const struct ss_head *h) { return h->n_classes; }
float *head_weights(struct ss_head *h) { return h->w; }
float *head_bias(struct ss_head *h) { return h->b; }
const float *head_weights_const(const struct ss_head *h) { return h->w; }
const float *head_bias_const(const struct ss_head *h) { return h->b; }

const char *
head_class_name(const struct ss_head *h, int i)
{
  return i >= 0 && i < h->n_classes ? h->names[i] : NULL;
}

int
head_class_index(const struct ss_head *h, const char *name)
{
  if (!name)
    return -1;
  for (int i = 0; i < h->n_classes; i++)
    if (strcmp(h->names[i], name) == 0)
      return i;
  return -1;
}

int
head_check_model(const struct ss_head *h, const char *model_name, int dim,
                 struct ss_error *err)
{
  if (!model_name || strcmp(model_name, h->model) != 0)
    return ss_error_set(err, SS_EMISMATCH,
                        "the head was trained on model '%s', not '%.255s'",
                        h->model, model_name ? model_name : "(none)");
  if (dim != h->dim)
    return ss_error_set(err, SS_EMISMATCH,
                        "the head takes %d features, model '%s' gives %d",
                        h->dim, h->model, dim);
  return 0;
}

void
head_scores(const struct ss_head *h, const float *f, float *probs)
{
  const int n = h->n_classes, d = h->dim;
  float max = -INFINITY;
  for (int k = 0; k < n; k++) {
    const float *w = h->w + (size_t)k * (size_t)d;
    /* Four partial sums: independent chains the compiler can pipeline. */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int j = 0;
    for (; j + 4 <= d; j += 4) {
      s0 += w[j] * f[j];
      s1 += w[j + 1] * f[j + 1];
      s2 += w[j + 2] * f[j + 2];
      s3 += w[j + 3] * f[j + 3];
    }
    for (; j < d; j++)
      s0 += w[j] * f[j];
    probs[k] = (s0 + s1) + (s2 + s3) + h->b[k];
    if (probs[k] > max)
      max = probs[k];
  }
  float sum = 0;
  for (int k = 0; k < n; k++) {
    probs[k] = expf(probs[k] - max);
    sum += probs[k];
  }
  for (int k = 0; k < n; k++)
    probs[k] /= sum;
}

int
head_rank(const struct ss_head *h, const float *probs, int k,
          struct prediction *out)
{
  const int n = head_num_classes(h);
  if (k > n)
    k = n;
  int written = 0;
  /* Selection by repeated maximum: n is at most HEAD_MAX_CLASSES. */
  for (int r = 0; r < k; r++) {
    int best = -1;
    for (int c = 0; c < n; c++) {
      int taken = 0;
      for (int j = 0; j < written; j++)
        taken |= out[j].index == c;
      if (!taken && (best < 0 || probs[c] > probs[best]))
        best = c;
    }
    out[written++] = (struct prediction){ .index = best, .score = probs[best] };
  }
  return written;
}

/* ---- the file ---- */

static uint8_t *
put_u32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
  return p + 4;
}

static uint8_t *
put_str(uint8_t *p, const char *s)
{
  size_t len = strlen(s);
  p[0] = (uint8_t)len;
  p[1] = (uint8_t)(len >> 8);
  memcpy(p + 2, s, len);
  return p + 2 + len;
}

static uint8_t *
put_f32(uint8_t *p, float f)
{
  uint32_t v;
  memcpy(&v, &f, sizeof v);
  return put_u32(p, v);
}

int
head_encode(const struct ss_head *h, uint8_t **out_data, size_t *out_size,
            struct ss_error *err)
{
  size_t nw = (size_t)h->n_classes * (size_t)h->dim;
  size_t size = 16 + 2 + strlen(h->model);
  for (int i = 0; i < h->n_classes; i++)
    size += 2 + strlen(h->names[i]);
  size += 4 * (nw + (size_t)h->n_classes) + 4;
  uint8_t *data = malloc(size);
  if (!data)
    return ss_error_set(err, SS_ENOMEM, "head: out of memory");
  uint8_t *p = data;
  memcpy(p, HEAD_MAGIC, 4);
  p = put_u32(p + 4, HEAD_FILE_VERSION);
  p = put_u32(p, (uint32_t)h->dim);
  p = put_u32(p, (uint32_t)h->n_classes);
  p = put_str(p, h->model);
  for (int i = 0; i < h->n_classes; i++)
    p = put_str(p, h->names[i]);
  for (size_t i = 0; i < nw; i++)
    p = put_f32(p, h->w[i]);
  for (int i = 0; i < h->n_classes; i++)
    p = put_f32(p, h->b[i]);
  p = put_u32(p, file_crc32(data, (size_t)(p - data)));
  if ((size_t)(p - data) != size) {
    free(data);
    return ss_error_set(err, SS_EINVAL, "head: internal size mismatch");
  }
  *out_data = data;
  *out_size = size;
  return 0;
}

/* A cursor over hostile bytes: every read checks what is left. */
struct reader {
  const uint8_t *p;
  size_t left;
};

static bool
get_u32(struct reader *r, uint32_t *v)
{
  if (r->left < 4)
    return false;
  *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
       (uint32_t)r->p[3] << 24;
  r->p += 4;
  r->left -= 4;
  return true;
}

/* A length-prefixed string of at most max bytes, NUL-terminated into buf
 * (max + 1 bytes). */
static bool
get_str(struct reader *r, char *buf, size_t max)
{
  if (r->left < 2)
    return false;
  size_t len = (size_t)r->p[0] | (size_t)r->p[1] << 8;
  if (len > max || r->left - 2 < len)
    return false;
  memcpy(buf, r->p + 2, len);
  buf[len] = '\0';
  if (strlen(buf) != len) /* an embedded NUL */
    return false;
  r->p += 2 + len;
  r->left -= 2 + len;
  return true;
}

static bool
get_f32s(struct reader *r, float *out, size_t n)
{
  if (r->left / 4 < n)
    return false;
  for (size_t i = 0; i < n; i++) {
    uint32_t v = 0;
    get_u32(r, &v);
    memcpy(&out[i], &v, sizeof v);
    if (!isfinite(out[i]))
      return false;
  }
  return true;
}

int
head_load_buffer(const uint8_t *data, size_t size, struct ss_head **out,
                 struct ss_error *err)
{
  if (!data || size < 20 || memcmp(data, HEAD_MAGIC, 4) != 0)
    return ss_error_set(err, SS_EFORMAT, "not a head file (no 'SSHD' magic)");
  uint32_t stored_crc = (uint32_t)data[size - 4] |
                        (uint32_t)data[size - 3] << 8 |
                        (uint32_t)data[size - 2] << 16 |
                        (uint32_t)data[size - 1] << 24;
  struct reader r = { data + 4, size - 8 };
  uint32_t version, dim, n;
  get_u32(&r, &version);
  if (version != HEAD_FILE_VERSION)
    return ss_error_set(err, SS_EUNSUPPORTED,
                        "head file version %u (this build reads %d)", version,
                        HEAD_FILE_VERSION);
  if (file_crc32(data, size - 4) != stored_crc)
    return ss_error_set(err, SS_EFORMAT,
                        "head file is corrupt (CRC mismatch or truncated)");
  if (!get_u32(&r, &dim) || !get_u32(&r, &n))
    return ss_error_set(err, SS_EFORMAT, "head file: truncated header");
  if (dim < 1 || dim > HEAD_MAX_DIM || n < 2 || n > HEAD_MAX_CLASSES)
    return ss_error_set(err, SS_EFORMAT,
                        "head file: %u features x %u classes is out of range "
                        "(1..%d x 2..%d)",
                        dim, n, HEAD_MAX_DIM, HEAD_MAX_CLASSES);
  char model[HEAD_MODEL_NAME_MAX + 1];
  if (!get_str(&r, model, HEAD_MODEL_NAME_MAX))
    return ss_error_set(err, SS_EFORMAT, "head file: bad model name");
  char names[HEAD_MAX_CLASSES][HEAD_NAME_MAX + 1];
  const char *name_ptrs[HEAD_MAX_CLASSES];
  for (uint32_t i = 0; i < n; i++) {
    if (!get_str(&r, names[i], HEAD_NAME_MAX))
      return ss_error_set(err, SS_EFORMAT, "head file: bad class name %u", i);
    name_ptrs[i] = names[i];
  }
  /* The rest must be exactly the parameters. */
  size_t nw = (size_t)n * dim;
  if (r.left != 4 * (nw + n))
    return ss_error_set(err, SS_EFORMAT,
                        "head file: %zu bytes of weights, %zu expected",
                        r.left, 4 * (nw + n));
  struct ss_head *h;
  int rc = head_new(model, (int)dim, (int)n, name_ptrs, &h, err);
  if (rc) {
    if (err)
      err->code = SS_EFORMAT;
    return ss_error_prefix(err, SS_EFORMAT, "head file");
  }
  if (!get_f32s(&r, h->w, nw) || !get_f32s(&r, h->b, n)) {
    head_free(h);
    return ss_error_set(err, SS_EFORMAT, "head file: a weight is not finite");
  }
  *out = h;
  return 0;
}

int
head_save(const struct ss_head *h, const char *path, struct ss_error *err)
{
  uint8_t *data;
  size_t size;
  int rc = head_encode(h, &data, &size, err);
  if (rc)
    return rc;
  rc = file_write_atomic(path, data, size, 0600, err);
  free(data);
  return rc;
}

int
head_load(const char *path, struct ss_head **out, struct ss_error *err)
{
  uint8_t *data;
  size_t size;
  int rc = file_read_all(path, HEAD_FILE_MAX_BYTES, &data, &size, err);
  if (rc)
    return rc;
  rc = head_load_buffer(data, size, out, err);
  free(data);
  if (rc)
    return ss_error_prefix(err, rc, "%s", path);
  return 0;
}
