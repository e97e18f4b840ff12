/* streamsight — heads on disk (head-store-internal.h): <dir>/<id>/head.json
 * (classes, examples, the last training's report), head.head (the trained
 * weights) and examples/<n>.jpg + <n>.features (the features of the model
 * that computed them, with a CRC). Written durably, read as hostile. */
#include "head-store-internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "file-util.h"
#include "head-train.h"
#include "json-util.h"

#define HEAD_JSON_VERSION 1
#define FEATURES_MAGIC "SSFT"
#define FEATURES_VERSION 1
/* head.json: a few hundred bytes per example. */
#define HEAD_JSON_MAX_BYTES ((gsize)8 << 20)

static char *
head_path(const HeadStore *s, const char *id, const char *name)
{
  return g_build_filename(s->dir, id, name, NULL);
}

static char *
example_path(const HeadStore *s, const char *id, guint64 eid,
             const char *ext)
{
  char name[48];
  g_snprintf(name, sizeof name, "%" G_GUINT64_FORMAT ".%s", eid, ext);
  return g_build_filename(s->dir, id, "examples", name, NULL);
}

static gboolean
write_file(const char *path, const void *data, gsize len, GError **error)
{
  return g_file_set_contents_full(path, data, (gssize)len,
                                  G_FILE_SET_CONTENTS_CONSISTENT |
                                      G_FILE_SET_CONTENTS_DURABLE,
                                  0600, error);
}

static gboolean
ensure_dirs(const HeadStore *s, const char *id, GError **error)
{
  g_autofree char *ex = g_build_filename(s->dir, id, "examples", NULL);
  if (g_mkdir_with_parents(ex, 0700) != 0) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_IO,
                "cannot create %s: %s", ex, g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

static json_t *
head_meta_json(const Head *h)
{
  json_t *o = json_object();
  json_object_set_new(o, "version", json_integer(HEAD_JSON_VERSION));
  json_object_set_new(o, "id", json_string(h->id));
  json_object_set_new(o, "model", json_string(h->model));
  json_t *classes = json_array();
  for (guint i = 0; i < h->classes->len; i++)
    json_array_append_new(classes, json_string(h->classes->pdata[i]));
  json_object_set_new(o, "classes", classes);
  json_object_set_new(o, "created_us", json_integer(h->created_us));
  json_object_set_new(o, "next_example", json_integer((json_int_t)h->next_example));
  json_t *ex = json_array();
  for (guint i = 0; i < h->examples->len; i++) {
    const Example *e = h->examples->pdata[i];
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer((json_int_t)e->id));
    json_object_set_new(j, "class", json_integer(e->cls));
    json_object_set_new(j, "time_us", json_integer(e->time_us));
    json_array_append_new(ex, j);
  }
  json_object_set_new(o, "examples", ex);
  json_object_set_new(o, "training", h->report ? json_incref(h->report)
                                               : json_null());
  json_object_set_new(o, "trained_us", json_integer(h->trained_us));
  return o;
}

gboolean
head_files_save_meta(const HeadStore *s, const Head *h, GError **error)
{
  if (!s->dir)
    return TRUE;
  if (!ensure_dirs(s, h->id, error))
    return FALSE;
  json_t *o = head_meta_json(h);
  size_t len;
  char *text = json_util_dump(o, &len);
  json_decref(o);
  g_autofree char *path = head_path(s, h->id, "head.json");
  gboolean ok = write_file(path, text, len, error);
  free(text);
  return ok;
}

static GBytes *
encode_features(const char *model_name, const float *f, int dim)
{
  size_t mlen = strlen(model_name);
  gsize size = 4 + 4 + 4 + 2 + mlen + 4 * (gsize)dim + 4;
  guint8 *d = g_malloc(size), *p = d;
  memcpy(p, FEATURES_MAGIC, 4);
  p += 4;
  guint32 v = GUINT32_TO_LE(FEATURES_VERSION);
  memcpy(p, &v, 4);
  p += 4;
  v = GUINT32_TO_LE((guint32)dim);
  memcpy(p, &v, 4);
  p += 4;
  guint16 l16 = GUINT16_TO_LE((guint16)mlen);
  memcpy(p, &l16, 2);
  p += 2;
  memcpy(p, model_name, mlen);
  p += mlen;
  for (int i = 0; i < dim; i++) {
    guint32 u;
    memcpy(&u, &f[i], 4);
    u = GUINT32_TO_LE(u);
    memcpy(p, &u, 4);
    p += 4;
  }
  v = GUINT32_TO_LE(file_crc32(d, (size_t)(p - d)));
  memcpy(p, &v, 4);
  return g_bytes_new_take(d, size);
}

/* Parses a features file (hostile): FALSE when anything is off. */
static gboolean
decode_features(const guint8 *d, gsize size, char **model_name, int *dim,
                float **features)
{
  if (size < 18 || memcmp(d, FEATURES_MAGIC, 4) != 0)
    return FALSE;
  guint32 v, crc, n;
  memcpy(&crc, d + size - 4, 4);
  if (GUINT32_FROM_LE(crc) != file_crc32(d, size - 4))
    return FALSE;
  memcpy(&v, d + 4, 4);
  memcpy(&n, d + 8, 4);
  n = GUINT32_FROM_LE(n);
  guint16 mlen;
  memcpy(&mlen, d + 12, 2);
  mlen = GUINT16_FROM_LE(mlen);
  if (GUINT32_FROM_LE(v) != FEATURES_VERSION || n < 1 || n > HEAD_MAX_DIM ||
      mlen < 1 || mlen > HEAD_MODEL_NAME_MAX ||
      size != 14 + (gsize)mlen + 4 * (gsize)n + 4)
    return FALSE;
  char *name = g_strndup((const char *)d + 14, mlen);
  if (strlen(name) != mlen) {
    g_free(name);
    return FALSE;
  }
  float *f = g_new(float, n);
  const guint8 *p = d + 14 + mlen;
  for (guint32 i = 0; i < n; i++) {
    guint32 u;
    memcpy(&u, p + 4 * i, 4);
    u = GUINT32_FROM_LE(u);
    memcpy(&f[i], &u, 4);
    if (!isfinite(f[i])) {
      g_free(name);
      g_free(f);
      return FALSE;
    }
  }
  *model_name = name;
  *dim = (int)n;
  *features = f;
  return TRUE;
}

gboolean
head_files_save_features(const HeadStore *s, const char *id, const Example *e,
              GError **error)
{
  if (!s->dir)
    return TRUE;
  GBytes *b = encode_features(e->model_name, e->features, e->dim);
  gsize len;
  const guint8 *d = g_bytes_get_data(b, &len);
  g_autofree char *path = example_path(s, id, e->id, "features");
  gboolean ok = write_file(path, d, len, error);
  g_bytes_unref(b);
  return ok;
}

void
head_files_remove_head(const HeadStore *s, const char *id)
{
  if (!s->dir)
    return;
  g_autofree char *exdir = g_build_filename(s->dir, id, "examples", NULL);
  GDir *d = g_dir_open(exdir, 0, NULL);
  if (d) {
    const char *name;
    while ((name = g_dir_read_name(d)))
      if (g_str_has_suffix(name, ".jpg") ||
          g_str_has_suffix(name, ".features") || strstr(name, ".tmp") ||
          strchr(name, '~')) {
        g_autofree char *f = g_build_filename(exdir, name, NULL);
        (void)unlink(f);
      }
    g_dir_close(d);
  }
  rmdir(exdir);
  const char *files[] = { "head.json", "head.head" };
  for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *p = head_path(s, id, files[i]);
    unlink(p);
  }
  g_autofree char *hdir = g_build_filename(s->dir, id, NULL);
  rmdir(hdir);
}

static Example *
load_example(const HeadStore *s, const char *id, json_t *j, guint n_classes)
{
  json_t *jid = json_object_get(j, "id"), *jc = json_object_get(j, "class"),
         *jt = json_object_get(j, "time_us");
  if (!json_is_integer(jid) || !json_is_integer(jc) || !json_is_integer(jt) ||
      json_integer_value(jid) < 1 || json_integer_value(jc) < 0 ||
      json_integer_value(jc) >= (json_int_t)n_classes)
    return NULL;
  Example *e = g_new0(Example, 1);
  e->id = (guint64)json_integer_value(jid);
  e->cls = (int)json_integer_value(jc);
  e->time_us = json_integer_value(jt);
  g_autofree char *jpg = example_path(s, id, e->id, "jpg");
  if (!g_file_test(jpg, G_FILE_TEST_IS_REGULAR)) {
    head_store_example_free(e);
    return NULL;
  }
  g_autofree char *fp = example_path(s, id, e->id, "features");
  uint8_t *data;
  size_t size;
  if (file_read_all(fp, 64 + HEAD_MODEL_NAME_MAX + 4 * HEAD_MAX_DIM, &data,
                    &size, NULL) == 0) {
    /* Bad features are recomputed from the JPEG at the next training. */
    if (!decode_features(data, size, &e->model_name, &e->dim, &e->features))
      g_warning("heads: %s: unreadable features, recomputed when trained",
                fp);
    free(data);
  }
  return e;
}

static gint
example_cmp(gconstpointer a, gconstpointer b)
{
  const Example *x = *(Example *const *)a, *y = *(Example *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static Head *
load_head(HeadStore *s, const char *id, GError **error)
{
  g_autofree char *path = head_path(s, id, "head.json");
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents(path, &text, &len, error))
    return NULL;
  if (len > HEAD_JSON_MAX_BYTES) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "%s: too large", path);
    return NULL;
  }
  json_error_t je;
  json_t *o = json_loadb(text, len, 0, &je);
  const char *fid = json_string_value(json_object_get(o, "id"));
  const char *model = json_string_value(json_object_get(o, "model"));
  json_t *classes = json_object_get(o, "classes");
  json_t *examples = json_object_get(o, "examples");
  json_t *next = json_object_get(o, "next_example");
  if (!json_is_object(o) ||
      json_integer_value(json_object_get(o, "version")) != HEAD_JSON_VERSION ||
      !fid || strcmp(fid, id) != 0 || !model || !head_store_id_valid(model) ||
      !json_is_array(classes) || json_array_size(classes) < 2 ||
      json_array_size(classes) > HEAD_MAX_CLASSES ||
      !json_is_array(examples) || !json_is_integer(next) ||
      json_integer_value(next) < 1) {
    json_decref(o);
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "%s: not a valid head description", path);
    return NULL;
  }
  Head *h = g_new0(Head, 1);
  h->id = g_strdup(id);
  h->serial = ++s->next_serial;
  h->model = g_strdup(model);
  h->classes = g_ptr_array_new_with_free_func(g_free);
  h->examples = g_ptr_array_new_with_free_func(head_store_example_free);
  h->created_us = json_integer_value(json_object_get(o, "created_us"));
  h->next_example = (guint64)json_integer_value(next);
  for (size_t i = 0; i < json_array_size(classes); i++) {
    const char *c = json_string_value(json_array_get(classes, i));
    if (!head_name_valid(c)) {
      json_decref(o);
      head_store_entry_free(h);
      g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                  "%s: class %zu is not a valid name", path, i);
      return NULL;
    }
    g_ptr_array_add(h->classes, g_strdup(c));
  }
  for (size_t i = 0; i < json_array_size(examples) &&
                     h->examples->len < s->max_examples;
       i++) {
    Example *e = load_example(s, id, json_array_get(examples, i),
                              h->classes->len);
    if (!e)
      continue;
    if (e->id >= h->next_example)
      h->next_example = e->id + 1;
    g_ptr_array_add(h->examples, e);
  }
  g_ptr_array_sort(h->examples, example_cmp);
  g_autofree char *hp = head_path(s, id, "head.head");
  struct ss_head *t = NULL;
  struct ss_error err = { 0 };
  if (g_file_test(hp, G_FILE_TEST_EXISTS)) {
    if (head_load(hp, &t, &err) != 0) {
      g_warning("heads: %s", err.message);
    } else if ((guint)head_num_classes(t) != h->classes->len) {
      g_warning("heads: %s: classes differ from head.json; retrain", hp);
      head_free(t);
      t = NULL;
    } else {
      for (int c = 0; t && c < head_num_classes(t); c++)
        if (strcmp(head_class_name(t, c), h->classes->pdata[c]) != 0) {
          g_warning("heads: %s: classes differ from head.json; retrain", hp);
          head_free(t);
          t = NULL;
        }
    }
  }
  h->trained = t;
  json_t *rep = json_object_get(o, "training");
  if (t && json_is_object(rep))
    h->report = json_incref(rep);
  h->trained_us = json_integer_value(json_object_get(o, "trained_us"));
  h->generation = ++s->next_serial;
  json_decref(o);
  return h;
}

GBytes *
head_files_read_jpeg(const HeadStore *s, const char *id, const Example *e,
          GError **error)
{
  if (e->jpeg)
    return g_bytes_ref(e->jpeg);
  g_autofree char *p = example_path(s, id, e->id, "jpg");
  char *data;
  gsize len;
  if (!g_file_get_contents(p, &data, &len, NULL)) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_IO,
                "example image cannot be read");
    return NULL;
  }
  return g_bytes_new_take(data, len);
}

gboolean
head_files_save_example(const HeadStore *s, const char *id, const Example *e,
                        const guint8 *jpeg, gsize len, GError **error)
{
  if (!s->dir)
    return TRUE;
  g_autofree char *jp = example_path(s, id, e->id, "jpg");
  if (!ensure_dirs(s, id, error) || !write_file(jp, jpeg, len, error) ||
      !head_files_save_features(s, id, e, error)) {
    head_files_remove_example(s, id, e->id);
    return FALSE;
  }
  return TRUE;
}

void
head_files_remove_example(const HeadStore *s, const char *id, guint64 eid)
{
  if (!s->dir)
    return;
  g_autofree char *jp = example_path(s, id, eid, "jpg");
  g_autofree char *fp = example_path(s, id, eid, "features");
  unlink(jp);
  unlink(fp);
}

gboolean
head_files_save_trained(const HeadStore *s, const char *id,
                        const struct ss_head *head, GError **error)
{
  if (!s->dir)
    return TRUE;
  g_autofree char *hp = head_path(s, id, "head.head");
  struct ss_error err = { 0 };
  if (head_save(head, hp, &err) != 0) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_IO, "%s",
                err.message);
    return FALSE;
  }
  return TRUE;
}

gboolean
head_files_load_dir(HeadStore *s, GError **error)
{
  GError *e = NULL;
  GDir *d = g_dir_open(s->dir, 0, &e);
  if (!d) {
    if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      g_error_free(e);
      return TRUE;
    }
    g_propagate_prefixed_error(error, e, "heads: ");
    return FALSE;
  }
  const char *name;
  while ((name = g_dir_read_name(d))) {
    if (!head_store_id_valid(name) ||
        g_hash_table_size(s->heads) >= s->max_heads)
      continue;
    g_autofree char *sub = g_build_filename(s->dir, name, NULL);
    if (!g_file_test(sub, G_FILE_TEST_IS_DIR))
      continue;
    GError *le = NULL;
    Head *h = load_head(s, name, &le);
    if (!h) {
      g_warning("heads: skipping %s: %s", sub, le->message);
      g_error_free(le);
      continue;
    }
    g_hash_table_insert(s->heads, h->id, h);
  }
  g_dir_close(d);
  return TRUE;
}
