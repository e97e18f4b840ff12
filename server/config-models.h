/* streamsight — the config's "models": [{"id", "path", "labels", "engine"}]
 * (a model per stream; the one-model "model"/"labels"/"engine" keys stay as
 * the shorthand for one model with id "default"). */
#ifndef SS_CONFIG_MODELS_H
#define SS_CONFIG_MODELS_H

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* One model of the list. All strings owned. */
typedef struct {
  char *id;     /* 1..64 of a-z 0-9 _ - */
  char *path;   /* the model file */
  char *labels; /* NULL: labels from the file, or labels.txt beside it */
  int engine;   /* CONFIG_ENGINE_* (config.h) */
} ConfigModel;

/* Parses the "models" array (1..CONFIG_MODELS_MAX objects, unique ids)
 * into a new array of ConfigModel* (*out; NULL for an absent or null key).
 * Errors are CONFIG_ERROR_INVALID naming the entry: "models[1].id: ...". */
#define CONFIG_MODELS_MAX 16
gboolean config_models_from_json(json_t *v, GPtrArray **out, GError **error);

/* The ids, "a, b" (newly allocated). */
char *config_models_ids(const GPtrArray *models);

G_END_DECLS

#endif
