/* streamsight — heads, their examples and weights, beside the config file
 * (head-store.h): the store in memory, its limits and training; the files
 * are head-store-files.c's. */
#include "head-store-internal.h"

#include <string.h>

#include "head-json.h"
#include "head-train.h"
#include "json-util.h"

G_DEFINE_QUARK(head-store-error-quark, head_store_error)

void
head_store_example_free(gpointer p)
{
  Example *e = p;
  g_free(e->model_name);
  g_free(e->features);
  if (e->jpeg)
    g_bytes_unref(e->jpeg);
  g_free(e);
}

void
head_store_entry_free(gpointer p)
{
  Head *h = p;
  g_free(h->id);
  g_free(h->model);
  g_ptr_array_unref(h->classes);
  g_ptr_array_unref(h->examples);
  head_free(h->trained);
  json_decref(h->report);
  g_free(h);
}

gboolean
head_store_id_valid(const char *id)
{
  if (!id)
    return FALSE;
  size_t len = strlen(id);
  if (len == 0 || len > HEAD_STORE_ID_MAX)
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if (!g_ascii_isalnum(id[i]) && id[i] != '_' && id[i] != '-')
      return FALSE;
  return TRUE;
}

char *
head_store_dir_for_config(const char *config_path)
{
  g_autofree char *dir = g_path_get_dirname(config_path);
  return g_build_filename(dir, "heads", NULL);
}

HeadStore *
head_store_new(const char *dir, const HeadStoreLimits *limits, GError **error)
{
  HeadStore *s = g_new0(HeadStore, 1);
  s->dir = g_strdup(dir);
  s->max_heads = limits && limits->max_heads ? limits->max_heads
                                             : HEAD_STORE_DEFAULT_MAX_HEADS;
  s->max_classes = limits && limits->max_classes
                       ? MIN(limits->max_classes, HEAD_MAX_CLASSES)
                       : HEAD_STORE_DEFAULT_MAX_CLASSES;
  s->max_examples = limits && limits->max_examples
                        ? limits->max_examples
                        : HEAD_STORE_DEFAULT_MAX_EXAMPLES;
  g_mutex_init(&s->lock);
  s->heads = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                   head_store_entry_free);
  if (dir && !head_files_load_dir(s, error)) {
    head_store_free(s);
    return NULL;
  }
  return s;
}

void
head_store_free(HeadStore *s)
{
  if (!s)
    return;
  g_hash_table_unref(s->heads);
  g_mutex_clear(&s->lock);
  g_free(s->dir);
  g_free(s);
}

/* ---- heads ---- */

static Head *
find_locked(HeadStore *s, const char *id, GError **error)
{
  Head *h = id ? g_hash_table_lookup(s->heads, id) : NULL;
  if (!h)
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_NOT_FOUND,
                "no head with that id");
  return h;
}

gboolean
head_store_create(HeadStore *s, const char *id, const char *model,
                  const char *const *classes, guint n, GError **error)
{
  if (!head_store_id_valid(id)) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "id: 1 to %d letters, digits, '_' or '-'", HEAD_STORE_ID_MAX);
    return FALSE;
  }
  if (!head_store_id_valid(model)) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "model: not a model id");
    return FALSE;
  }
  if (n < 2 || n > s->max_classes) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "classes: %u given, 2 to %u allowed "
                "(limits.max_head_classes)",
                n, s->max_classes);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    if (!head_name_valid(classes[i])) {
      g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                  "classes[%u]: 1 to %d letters, digits, '_', '-', '.' or "
                  "inner spaces",
                  i, HEAD_NAME_MAX);
      return FALSE;
    }
    for (guint j = 0; j < i; j++)
      if (strcmp(classes[i], classes[j]) == 0) {
        g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                    "classes[%u]: '%s' is named twice", i, classes[i]);
        return FALSE;
      }
  }
  g_mutex_lock(&s->lock);
  gboolean ok = FALSE;
  if (g_hash_table_contains(s->heads, id)) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_EXISTS,
                "a head with id '%s' exists", id);
    goto out;
  }
  if (g_hash_table_size(s->heads) >= s->max_heads) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_LIMIT,
                "already %u heads (limits.max_heads)", s->max_heads);
    goto out;
  }
  Head *h = g_new0(Head, 1);
  h->id = g_strdup(id);
  h->serial = ++s->next_serial;
  h->model = g_strdup(model);
  h->classes = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add(h->classes, g_strdup(classes[i]));
  h->examples = g_ptr_array_new_with_free_func(head_store_example_free);
  h->created_us = g_get_real_time();
  h->next_example = 1;
  h->generation = 1;
  if (!head_files_save_meta(s, h, error)) {
    head_files_remove_head(s, id);
    head_store_entry_free(h);
    goto out;
  }
  g_hash_table_insert(s->heads, h->id, h);
  ok = TRUE;
out:
  g_mutex_unlock(&s->lock);
  return ok;
}

gboolean
head_store_delete(HeadStore *s, const char *id, GError **error)
{
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  if (h) {
    head_files_remove_head(s, h->id);
    g_hash_table_remove(s->heads, id);
  }
  g_mutex_unlock(&s->lock);
  return h != NULL;
}

static json_t *
head_json_locked(const Head *h)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(h->id));
  json_object_set_new(o, "model", json_string(h->model));
  json_t *classes = json_array();
  json_t *counts = json_object();
  for (guint c = 0; c < h->classes->len; c++) {
    json_array_append_new(classes, json_string(h->classes->pdata[c]));
    int n = 0;
    for (guint i = 0; i < h->examples->len; i++)
      n += ((const Example *)h->examples->pdata[i])->cls == (int)c;
    json_object_set_new(counts, h->classes->pdata[c], json_integer(n));
  }
  json_object_set_new(o, "classes", classes);
  json_object_set_new(o, "created", json_util_time_or_null(h->created_us));
  json_object_set_new(o, "examples", counts);
  json_object_set_new(o, "trained", json_boolean(h->trained != NULL));
  json_object_set_new(o, "trained_at",
                      h->trained ? json_util_time_or_null(h->trained_us)
                                 : json_null());
  json_object_set_new(o, "training", h->report ? json_deep_copy(h->report)
                                               : json_null());
  return o;
}

static gint
str_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *
head_store_list_json(HeadStore *s)
{
  json_t *arr = json_array();
  g_mutex_lock(&s->lock);
  GPtrArray *ids = g_ptr_array_new();
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, s->heads);
  while (g_hash_table_iter_next(&it, &k, &v))
    g_ptr_array_add(ids, k);
  g_ptr_array_sort(ids, str_cmp);
  for (guint i = 0; i < ids->len; i++)
    json_array_append_new(arr, head_json_locked(g_hash_table_lookup(
                                   s->heads, ids->pdata[i])));
  g_mutex_unlock(&s->lock);
  g_ptr_array_free(ids, TRUE);
  return arr;
}

json_t *
head_store_head_json(HeadStore *s, const char *id, GError **error)
{
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  json_t *o = h ? head_json_locked(h) : NULL;
  g_mutex_unlock(&s->lock);
  return o;
}

static int
class_index_locked(const Head *h, const char *name)
{
  for (guint c = 0; name && c < h->classes->len; c++)
    if (strcmp(h->classes->pdata[c], name) == 0)
      return (int)c;
  return -1;
}

/* The index of class_name among h's classes for one more example, which h
 * must have room for; -1 with the error otherwise. */
static int
example_class_locked(const HeadStore *s, const Head *h,
                     const char *class_name, GError **error)
{
  int cls = class_index_locked(h, class_name);
  if (cls < 0) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "class: not one of the head's classes");
    return -1;
  }
  if (h->examples->len >= s->max_examples) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_LIMIT,
                "the head has %u examples already "
                "(limits.max_head_examples)",
                s->max_examples);
    return -1;
  }
  return cls;
}

char *
head_store_prepare_example(HeadStore *s, const char *id,
                           const char *class_name, GError **error)
{
  char *model = NULL;
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  if (!h)
    goto out;
  /* Without class_name only the room is checked: any class passes. */
  if (example_class_locked(s, h, class_name ? class_name : h->classes->pdata[0],
                           error) < 0)
    goto out;
  model = g_strdup(h->model);
out:
  g_mutex_unlock(&s->lock);
  return model;
}

static json_t *
example_json(const Head *h, const Example *e)
{
  json_t *o = json_object();
  char eid[24];
  g_snprintf(eid, sizeof eid, "%" G_GUINT64_FORMAT, e->id);
  json_object_set_new(o, "id", json_string(eid));
  json_object_set_new(o, "class", json_string(h->classes->pdata[e->cls]));
  json_object_set_new(o, "time", json_util_time_or_null(e->time_us));
  char *url = g_strdup_printf("/api/v1/heads/%s/examples/%s.jpg", h->id, eid);
  json_object_set_new(o, "image", json_string(url));
  g_free(url);
  return o;
}

gboolean
head_store_add_example(HeadStore *s, const char *id, const char *class_name,
                       const guint8 *jpeg, gsize len, const char *model_name,
                       const float *features, int dim, json_t **out_json,
                       GError **error)
{
  if (!jpeg || len == 0 || len > HEAD_STORE_MAX_JPEG_BYTES || dim < 1 ||
      dim > HEAD_MAX_DIM || !model_name) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID,
                "example: empty or over %zu bytes",
                (size_t)HEAD_STORE_MAX_JPEG_BYTES);
    return FALSE;
  }
  gboolean ok = FALSE;
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  if (!h)
    goto out;
  int cls = example_class_locked(s, h, class_name, error);
  if (cls < 0)
    goto out;
  Example *e = g_new0(Example, 1);
  e->id = h->next_example;
  e->cls = cls;
  e->time_us = g_get_real_time();
  e->model_name = g_strdup(model_name);
  e->dim = dim;
  e->features = g_memdup2(features, sizeof(float) * (gsize)dim);
  if (!s->dir) {
    e->jpeg = g_bytes_new(jpeg, len);
  } else if (!head_files_save_example(s, h->id, e, jpeg, len, error)) {
    head_store_example_free(e);
    goto out;
  }
  h->next_example++;
  g_ptr_array_add(h->examples, e);
  if (!head_files_save_meta(s, h, error)) {
    /* Keep memory and disk in step: the example is gone from both. */
    head_files_remove_example(s, h->id, e->id);
    g_ptr_array_remove_index(h->examples, h->examples->len - 1);
    goto out;
  }
  if (out_json)
    *out_json = example_json(h, e);
  ok = TRUE;
out:
  g_mutex_unlock(&s->lock);
  return ok;
}

json_t *
head_store_examples_json(HeadStore *s, const char *id, GError **error)
{
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  json_t *arr = NULL;
  if (h) {
    arr = json_array();
    for (guint i = 0; i < h->examples->len; i++)
      json_array_append_new(arr, example_json(h, h->examples->pdata[i]));
  }
  g_mutex_unlock(&s->lock);
  return arr;
}

/* Example eid ("17") of h, or NULL. */
static guint
find_example_locked(const Head *h, const char *eid, GError **error)
{
  guint64 n = 0;
  gboolean ok = eid && *eid && strlen(eid) <= 19;
  for (const char *p = eid; ok && *p; p++)
    ok = g_ascii_isdigit(*p);
  if (ok)
    n = g_ascii_strtoull(eid, NULL, 10);
  for (guint i = 0; ok && i < h->examples->len; i++)
    if (((const Example *)h->examples->pdata[i])->id == n)
      return i;
  g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_NOT_FOUND,
              "no example with that id");
  return G_MAXUINT;
}

GBytes *
head_store_example_jpeg(HeadStore *s, const char *id, const char *example_id,
                        GError **error)
{
  GBytes *b = NULL;
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  guint i = h ? find_example_locked(h, example_id, error) : G_MAXUINT;
  if (i != G_MAXUINT)
    b = head_files_read_jpeg(s, h->id, h->examples->pdata[i], error);
  g_mutex_unlock(&s->lock);
  return b;
}

gboolean
head_store_delete_example(HeadStore *s, const char *id,
                          const char *example_id, GError **error)
{
  gboolean ok = FALSE;
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  guint i = h ? find_example_locked(h, example_id, error) : G_MAXUINT;
  if (i != G_MAXUINT) {
    const Example *e = h->examples->pdata[i];
    head_files_remove_example(s, h->id, e->id);
    g_ptr_array_remove_index(h->examples, i);
    GError *e2 = NULL;
    if (!head_files_save_meta(s, h, &e2)) {
      g_warning("heads: %s: %s", h->id, e2->message);
      g_error_free(e2);
    }
    ok = TRUE;
  }
  g_mutex_unlock(&s->lock);
  return ok;
}

/* ---- training ---- */

static void
train_set_free(HeadTrainSet *set)
{
  if (!set)
    return;
  for (guint i = 0; set->need_jpeg && i < set->n; i++)
    if (set->need_jpeg[i])
      g_bytes_unref(set->need_jpeg[i]);
  g_free(set->need_jpeg);
  g_free(set->id);
  g_free(set->model_name);
  g_free(set->example_ids);
  g_free(set->classes);
  g_free(set->features);
  head_free(set->head);
  g_free(set);
}

HeadTrainSet *
head_store_train_begin(HeadStore *s, const char *id, const char *model_name,
                       int dim, GError **error)
{
  HeadTrainSet *set = NULL;
  g_mutex_lock(&s->lock);
  Head *h = find_locked(s, id, error);
  if (!h)
    goto out;
  if (h->busy) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_BUSY,
                "the head is being trained");
    goto out;
  }
  struct ss_error err = { 0 };
  struct ss_head *shape = NULL;
  if (head_new(model_name, dim, (int)h->classes->len,
               (const char *const *)h->classes->pdata, &shape, &err) != 0) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID, "%s",
                err.message);
    goto out;
  }
  set = g_new0(HeadTrainSet, 1);
  set->id = g_strdup(h->id);
  set->serial = h->serial;
  set->model_name = g_strdup(model_name);
  set->dim = dim;
  set->head = shape;
  set->n = h->examples->len;
  set->example_ids = g_new(guint64, MAX(set->n, 1));
  set->classes = g_new(int, MAX(set->n, 1));
  set->features = g_new0(float, (gsize)MAX(set->n, 1) * (gsize)dim);
  set->need_jpeg = g_new0(GBytes *, MAX(set->n, 1));
  for (guint i = 0; i < set->n; i++) {
    const Example *e = h->examples->pdata[i];
    set->example_ids[i] = e->id;
    set->classes[i] = e->cls;
    if (e->model_name && strcmp(e->model_name, model_name) == 0 &&
        e->dim == dim) {
      memcpy(set->features + (gsize)i * dim, e->features,
             sizeof(float) * (gsize)dim);
    } else {
      set->need_jpeg[i] = head_files_read_jpeg(s, h->id, e, error);
      if (!set->need_jpeg[i]) {
        train_set_free(set);
        set = NULL;
        goto out;
      }
    }
  }
  h->busy = TRUE;
out:
  g_mutex_unlock(&s->lock);
  return set;
}

static void
clear_busy(HeadStore *s, const HeadTrainSet *set)
{
  g_mutex_lock(&s->lock);
  Head *h = g_hash_table_lookup(s->heads, set->id);
  if (h && h->serial == set->serial)
    h->busy = FALSE;
  g_mutex_unlock(&s->lock);
}

void
head_store_train_abort(HeadStore *s, HeadTrainSet *set)
{
  if (!set)
    return;
  clear_busy(s, set);
  train_set_free(set);
}

json_t *
head_store_train_finish(HeadStore *s, HeadTrainSet *set, GError **error)
{
  struct ss_error err = { 0 };
  struct head_cv *cv = NULL;
  struct head_train_stats st;
  json_t *report = NULL;
  /* Unlocked: the set is ours. */
  if (head_cross_validate(set->head, set->features, set->classes,
                          (int)set->n, HEAD_TRAIN_DEFAULT_FOLDS, NULL, &cv,
                          &err) != 0) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID, "%s",
                err.message);
    goto out;
  }
  gint64 t0 = g_get_monotonic_time();
  if (head_train(set->head, set->features, set->classes, (int)set->n, NULL,
                 &st, &err) != 0) {
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_INVALID, "%s",
                err.message);
    goto out;
  }
  double train_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
  report = json_object();
  json_object_set_new(report, "model_name", json_string(set->model_name));
  json_object_set_new(report, "features", json_integer(set->dim));
  json_object_set_new(report, "cross_validation",
                      head_cv_to_json(set->head, cv));
  json_object_set_new(report, "train_ms", json_util_ms(train_ms));
  json_object_set_new(report, "iterations", json_integer(st.iterations));

  g_mutex_lock(&s->lock);
  Head *h = g_hash_table_lookup(s->heads, set->id);
  if (!h || h->serial != set->serial) {
    g_mutex_unlock(&s->lock);
    g_set_error(error, HEAD_STORE_ERROR, HEAD_STORE_ERROR_NOT_FOUND,
                "the head was deleted while it was trained");
    json_decref(report);
    report = NULL;
    goto out;
  }
  /* Keep the features computed for this training, for the next one. */
  for (guint i = 0; i < set->n; i++) {
    if (!set->need_jpeg[i])
      continue;
    for (guint j = 0; j < h->examples->len; j++) {
      Example *e = h->examples->pdata[j];
      if (e->id != set->example_ids[i])
        continue;
      g_free(e->model_name);
      g_free(e->features);
      e->model_name = g_strdup(set->model_name);
      e->dim = set->dim;
      e->features = g_memdup2(set->features + (gsize)i * set->dim,
                              sizeof(float) * (gsize)set->dim);
      GError *fe = NULL;
      if (!head_files_save_features(s, h->id, e, &fe)) {
        g_warning("heads: %s: %s", h->id, fe->message);
        g_error_free(fe);
      }
    }
  }
  gboolean saved = head_files_save_trained(s, h->id, set->head, error);
  if (saved) {
    head_free(h->trained);
    h->trained = set->head;
    set->head = NULL;
    json_decref(h->report);
    h->report = json_incref(report);
    h->trained_us = g_get_real_time();
    h->generation = ++s->next_serial; /* unique across heads and deletes */
    saved = head_files_save_meta(s, h, error);
  }
  h->busy = FALSE;
  g_mutex_unlock(&s->lock);
  if (!saved) {
    json_decref(report);
    report = NULL;
  }
  head_cv_free(cv);
  train_set_free(set);
  return report;
out:
  head_cv_free(cv);
  clear_busy(s, set);
  train_set_free(set);
  return report;
}

struct ss_head *
head_store_fetch_changed(gpointer user, const char *id, guint64 *generation)
{
  HeadStore *s = user;
  struct ss_head *c = NULL;
  /* Called on streaming threads, which never wait: while the store is
   * busy (an example or a training being written, with fsyncs), the
   * stream keeps its head and asks again at the next frame. */
  if (!g_mutex_trylock(&s->lock))
    return NULL;
  Head *h = id ? g_hash_table_lookup(s->heads, id) : NULL;
  guint64 gen = h && h->trained ? h->generation : 0;
  if (gen != 0 && gen != *generation && head_copy(h->trained, &c, NULL) != 0)
    c = NULL;
  *generation = gen;
  g_mutex_unlock(&s->lock);
  return c;
}
