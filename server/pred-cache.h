/* streamsight — the last answers of GET .../predictions/latest and
 * .../predictions?limit= of each stream (without since/after_seq), valid
 * while the stream's latest seq is unchanged: a new prediction is the only
 * thing that changes them. Pollers (dashboards, the load benchmark) ask
 * far more often than predictions arrive.
 *
 * An entry holds a reference to the stream's results, which tells one
 * incarnation of an id from the next (a stream removed and added again).
 * Any thread; the cache has its own lock and never calls out while holding
 * it.
 */
#ifndef SS_PRED_CACHE_H
#define SS_PRED_CACHE_H

#include <glib.h>

#include "registry.h"
#include "results.h"

G_BEGIN_DECLS

/* Largest history answer kept (about 100 predictions): bigger ones are
 * rare and would hold megabytes. */
#define PRED_CACHE_MAX_BYTES (64u << 10)

typedef enum {
  PRED_CACHE_LATEST,  /* .../predictions/latest */
  PRED_CACHE_HISTORY, /* .../predictions?limit=N */
} PredCacheKind;

typedef struct PredCache PredCache;

/* registry is borrowed and must outlive the cache (entries of removed
 * streams are dropped by asking it). */
PredCache *pred_cache_new(Registry *registry);
void pred_cache_free(PredCache *c); /* NULL is allowed */

/* A malloc'd copy of the answer cached for stream id (results res, latest
 * seq seq; limit for PRED_CACHE_HISTORY), with *len, or NULL. */
char *pred_cache_get(PredCache *c, const char *id, StreamResults *res,
                     guint64 seq, PredCacheKind kind, guint limit,
                     gsize *len);

/* Keeps a copy of an answer just built for res at seq. */
void pred_cache_put(PredCache *c, const char *id, StreamResults *res,
                    guint64 seq, PredCacheKind kind, guint limit,
                    const char *body, gsize len);

G_END_DECLS

#endif
