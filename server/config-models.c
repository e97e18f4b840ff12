/* streamsight — the config's "models" list (config-models.h). */
#include "config-models.h"

#include <string.h>

#include "config.h"
#include "json-util.h"
#include "model-set.h"

/* Longest model path accepted (config.c's PATH_MAX_LEN). */
#define MODEL_PATH_MAX 4096

static const char *const model_keys[] = { "id", "path", "labels", "engine",
                                          "comment", NULL };
static const char *const engines[] = { "auto", "float", "integer", NULL };

static void
config_model_free(gpointer p)
{
  ConfigModel *m = p;
  if (!m)
    return;
  g_free(m->id);
  g_free(m->path);
  g_free(m->labels);
  g_free(m);
}

static gboolean
id_ok(const char *id)
{
  gsize n = strlen(id);
  if (n == 0 || n > MODEL_SET_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_islower(id[i]) && !g_ascii_isdigit(id[i]) && id[i] != '_' &&
        id[i] != '-')
      return FALSE;
  return TRUE;
}

static gboolean
invalid(GError **error, GError *e)
{
  g_set_error_literal(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, e->message);
  g_error_free(e);
  return FALSE;
}

gboolean
config_models_from_json(json_t *v, GPtrArray **out, GError **error)
{
  *out = NULL;
  if (!v || json_is_null(v))
    return TRUE;
  if (!json_is_array(v) || json_array_size(v) == 0 ||
      json_array_size(v) > CONFIG_MODELS_MAX) {
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                "models: expected an array of 1..%d objects {\"id\", "
                "\"path\", \"labels\", \"engine\"}", CONFIG_MODELS_MAX);
    return FALSE;
  }
  GPtrArray *models = g_ptr_array_new_with_free_func(config_model_free);
  GError *e = NULL;
  for (size_t i = 0; i < json_array_size(v); i++) {
    json_t *o = json_array_get(v, i);
    char prefix[48];
    g_snprintf(prefix, sizeof prefix, "models[%zu].", i);
    if (!json_is_object(o)) {
      g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                  "models[%zu]: must be an object", i);
      goto fail;
    }
    ConfigModel *m = g_new0(ConfigModel, 1);
    g_ptr_array_add(models, m);
    gboolean present = FALSE;
    if (!json_util_check_keys(o, prefix, model_keys, &e) ||
        !json_util_get_string(o, prefix, "id", MODEL_SET_ID_MAX, &m->id,
                              &present, &e))
      goto fail_e;
    if (!present || !id_ok(m->id)) {
      g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                  "%sid: required, 1..%d characters of a-z, 0-9, '_' or "
                  "'-'", prefix, MODEL_SET_ID_MAX);
      goto fail;
    }
    for (guint j = 0; j + 1 < models->len; j++)
      if (strcmp(((ConfigModel *)g_ptr_array_index(models, j))->id, m->id) ==
          0) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%sid: '%s' is already used by models[%u]", prefix, m->id,
                    j);
        goto fail;
      }
    if (!json_util_get_string(o, prefix, "path", MODEL_PATH_MAX, &m->path,
                              &present, &e))
      goto fail_e;
    if (!present) {
      g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                  "%spath: required (a .tflite or .safetensors file)",
                  prefix);
      goto fail;
    }
    if (!json_util_get_string(o, prefix, "labels", MODEL_PATH_MAX, &m->labels,
                              NULL, &e) ||
        !json_util_get_enum(o, prefix, "engine", engines, &m->engine, NULL,
                            &e))
      goto fail_e;
  }
  *out = models;
  return TRUE;

fail_e:
  invalid(error, e);
fail:
  g_ptr_array_unref(models);
  return FALSE;
}

char *
config_models_ids(const GPtrArray *models)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; models && i < models->len; i++)
    g_string_append_printf(s, "%s%s", i ? ", " : "",
                           ((ConfigModel *)g_ptr_array_index(models, i))->id);
  return g_string_free(s, FALSE);
}
