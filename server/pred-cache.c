#include "pred-cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  StreamResults *res;   /* reference: identifies the stream's incarnation */
  guint64 latest_seq;
  char *latest_body;    /* g_malloc'd, NULL = none */
  gsize latest_len;
  guint64 hist_seq;
  guint hist_limit;
  char *hist_body;
  gsize hist_len;
} PredCacheEntry;

struct PredCache {
  Registry *registry; /* borrowed */
  GMutex lock;
  GHashTable *entries; /* stream id -> PredCacheEntry*; protected by lock */
};

static void
entry_free(gpointer p)
{
  PredCacheEntry *c = p;
  stream_results_unref(c->res);
  g_free(c->latest_body);
  g_free(c->hist_body);
  g_free(c);
}

PredCache *
pred_cache_new(Registry *registry)
{
  PredCache *c = g_new0(PredCache, 1);
  c->registry = registry;
  g_mutex_init(&c->lock);
  c->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     entry_free);
  return c;
}

void
pred_cache_free(PredCache *c)
{
  if (!c)
    return;
  g_hash_table_unref(c->entries);
  g_mutex_clear(&c->lock);
  g_free(c);
}

char *
pred_cache_get(PredCache *pc, const char *id, StreamResults *res, guint64 seq,
               PredCacheKind kind, guint limit, gsize *len)
{
  char *copy = NULL;
  g_mutex_lock(&pc->lock);
  PredCacheEntry *c = g_hash_table_lookup(pc->entries, id);
  if (c && c->res == res) {
    const char *body = NULL;
    if (kind == PRED_CACHE_LATEST && c->latest_body &&
        c->latest_seq == seq) {
      body = c->latest_body;
      *len = c->latest_len;
    } else if (kind == PRED_CACHE_HISTORY && c->hist_body &&
               c->hist_seq == seq && c->hist_limit == limit) {
      body = c->hist_body;
      *len = c->hist_len;
    }
    if (body && (copy = malloc(*len ? *len : 1)))
      memcpy(copy, body, *len);
  }
  g_mutex_unlock(&pc->lock);
  return copy;
}

/* Entries of removed streams hold their results: drop those whose id now
 * names other results (or none). Called without the lock. */
static void
prune(PredCache *pc)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  g_mutex_lock(&pc->lock);
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, pc->entries);
  while (g_hash_table_iter_next(&it, &key, NULL))
    g_ptr_array_add(ids, g_strdup(key));
  g_mutex_unlock(&pc->lock);
  for (guint i = 0; i < ids->len; i++) {
    const char *k = g_ptr_array_index(ids, i);
    StreamResults *cur = registry_results(pc->registry, k);
    g_mutex_lock(&pc->lock);
    PredCacheEntry *e = g_hash_table_lookup(pc->entries, k);
    if (e && e->res != cur)
      g_hash_table_remove(pc->entries, k);
    g_mutex_unlock(&pc->lock);
    stream_results_unref(cur);
  }
  g_ptr_array_unref(ids);
}

void
pred_cache_put(PredCache *pc, const char *id, StreamResults *res, guint64 seq,
               PredCacheKind kind, guint limit, const char *body, gsize len)
{
  gboolean added = FALSE;
  g_mutex_lock(&pc->lock);
  PredCacheEntry *c = g_hash_table_lookup(pc->entries, id);
  if (!c || c->res != res) {
    c = g_new0(PredCacheEntry, 1);
    c->res = stream_results_ref(res);
    g_hash_table_replace(pc->entries, g_strdup(id), c);
    added = TRUE;
  }
  if (kind == PRED_CACHE_LATEST) {
    g_free(c->latest_body);
    c->latest_body = g_memdup2(body, len);
    c->latest_len = len;
    c->latest_seq = seq;
  } else {
    g_free(c->hist_body);
    c->hist_body = g_memdup2(body, len);
    c->hist_len = len;
    c->hist_seq = seq;
    c->hist_limit = limit;
  }
  guint n = g_hash_table_size(pc->entries);
  g_mutex_unlock(&pc->lock);
  /* Registry calls are made without the lock (lock order). Pruned when
   * there are more entries than streams. */
  if (added && n > registry_count(pc->registry))
    prune(pc);
}
