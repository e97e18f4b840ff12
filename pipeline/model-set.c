/* streamsight — the models a server runs (model-set.h). */
#include "model-set.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"

struct ModelSet {
  GPtrArray *entries; /* ModelSetEntry*, in configuration order */
};

static void
entry_free(ModelSetEntry *e)
{
  pool_free(e->pool);
  engine_free(e->engine);
  model_unref(e->model);
  g_free(e->id);
  g_free(e->path);
  g_free(e);
}

ModelSet *
model_set_new(void)
{
  ModelSet *set = g_new0(ModelSet, 1);
  set->entries = g_ptr_array_new();
  return set;
}

void
model_set_free(ModelSet *set)
{
  if (!set)
    return;
  for (guint i = 0; i < set->entries->len; i++)
    entry_free(g_ptr_array_index(set->entries, i));
  g_ptr_array_unref(set->entries);
  g_free(set);
}

gboolean
model_set_add_take(ModelSet *set, const char *id, const char *path,
                   struct ss_model *model, struct ss_engine *engine,
                   struct ss_pool *pool, double latency_ms)
{
  g_return_val_if_fail(set && id && model && engine && pool, FALSE);
  if (model_set_find(set, id))
    return FALSE;
  ModelSetEntry *e = g_new0(ModelSetEntry, 1);
  e->id = g_strdup(id);
  e->path = g_strdup(path);
  e->model = model;
  e->engine = engine;
  e->pool = pool;
  e->latency_ms = latency_ms;
  g_ptr_array_add(set->entries, e);
  return TRUE;
}

guint
model_set_count(const ModelSet *set)
{
  return set ? set->entries->len : 0;
}

const ModelSetEntry *
model_set_get(const ModelSet *set, guint i)
{
  g_return_val_if_fail(set && i < set->entries->len, NULL);
  return g_ptr_array_index(set->entries, i);
}

const ModelSetEntry *
model_set_find(const ModelSet *set, const char *id)
{
  if (!set || set->entries->len == 0)
    return NULL;
  if (!id)
    return g_ptr_array_index(set->entries, 0);
  for (guint i = 0; i < set->entries->len; i++) {
    const ModelSetEntry *e = g_ptr_array_index(set->entries, i);
    if (strcmp(e->id, id) == 0)
      return e;
  }
  return NULL;
}

char *
model_set_ids(const ModelSet *set)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; set && i < set->entries->len; i++) {
    const ModelSetEntry *e = g_ptr_array_index(set->entries, i);
    g_string_append_printf(s, "%s%s", i ? ", " : "", e->id);
  }
  return g_string_free(s, FALSE);
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double
model_set_measure_latency(const struct ss_engine *engine, int runs)
{
  const struct ss_model *m = engine_model(engine);
  struct ss_scratch *scratch = NULL;
  if (runs < 1 || engine_scratch_new(engine, &scratch, NULL) != 0)
    return -1;
  gsize n = (gsize)model_input_width(m) * model_input_height(m) * 3;
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  float *input = g_new(float, n);
  for (gsize i = 0; i < n; i++) /* mid-grey, normalised as the model wants */
    input[i] = (128.0f - mean[i % 3]) / std[i % 3];
  float *logits = g_new(float, model_num_outputs(m));
  double *ms = g_new(double, runs);
  engine_run(engine, scratch, input, logits); /* warm-up: caches, pages */
  for (int i = 0; i < runs; i++) {
    gint64 t0 = g_get_monotonic_time();
    engine_run(engine, scratch, input, logits);
    ms[i] = (double)(g_get_monotonic_time() - t0) / 1000.0;
  }
  qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
  double median = ms[runs / 2];
  g_free(ms);
  g_free(logits);
  g_free(input);
  engine_scratch_free(scratch);
  return median;
}
