/* streamsight — the models a server runs, each with its id, its engine and
 * its inference pool (config "models": a model per stream).
 *
 * Built once at start-up (serve.c), then read-only: any thread may read it
 * without a lock. The registry looks a stream's model up by id; the routes
 * list the models (GET /api/v1/models) and embed with them. Entries live
 * until model_set_free(), which the server calls last (after the registry
 * and routes that borrow them).
 */
#ifndef SS_MODEL_SET_H
#define SS_MODEL_SET_H

#include <glib.h>

#include "engine.h"
#include "pool.h"

G_BEGIN_DECLS

/* The id of the model of the one-model "model" key. */
#define MODEL_SET_DEFAULT_ID "default"
/* Model ids: 1..64 of a-z 0-9 _ - (as stream ids). */
#define MODEL_SET_ID_MAX 64

typedef struct {
  char *id;                 /* unique in the set */
  char *path;               /* the model file as configured */
  struct ss_model *model;   /* owned reference */
  struct ss_engine *engine; /* owned */
  struct ss_pool *pool;     /* owned: this model's inference workers */
  double latency_ms;        /* one inference, median of the timed runs at
                             * load (model_set_measure_latency) */
} ModelSetEntry;

typedef struct ModelSet ModelSet;

ModelSet *model_set_new(void);
/* Frees every entry: pools first (they drain), then engines, then models.
 * NULL is allowed. */
void model_set_free(ModelSet *set);

/* Adds an entry, taking model, engine and pool (id and path are copied).
 * FALSE (nothing taken) when the id is already there. */
gboolean model_set_add_take(ModelSet *set, const char *id, const char *path,
                            struct ss_model *model, struct ss_engine *engine,
                            struct ss_pool *pool, double latency_ms);

guint model_set_count(const ModelSet *set);
/* Entry i (borrowed, lives as long as the set). */
const ModelSetEntry *model_set_get(const ModelSet *set, guint i);
/* The entry with this id, or the first one for NULL; NULL when unknown or
 * the set is empty. */
const ModelSetEntry *model_set_find(const ModelSet *set, const char *id);
/* "a, b, c": the ids, for error messages (newly allocated). */
char *model_set_ids(const ModelSet *set);

/* Times one inference of engine on a mid-grey input: one warm-up run,
 * then `runs` timed runs; returns the median wall time in ms (the median
 * resists a shared machine's hiccups), or -1 when scratch memory is
 * missing. Call before the pools start serving. */
double model_set_measure_latency(const struct ss_engine *engine, int runs);

G_END_DECLS

#endif
