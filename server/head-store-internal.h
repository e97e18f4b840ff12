/* streamsight — what head-store.c (heads, examples, training) and
 * head-store-files.c (their files) share: the store's structs, under the
 * store's lock unless said otherwise. Not for other modules. */
#ifndef SS_HEAD_STORE_INTERNAL_H
#define SS_HEAD_STORE_INTERNAL_H

#include "head-store.h"

#include <jansson.h>

#include "head.h"

G_BEGIN_DECLS

typedef struct {
  guint64 id;
  int cls;
  gint64 time_us;   /* wall clock */
  char *model_name; /* the features' model; NULL when they are missing */
  int dim;
  float *features;
  GBytes *jpeg;     /* in memory (no directory), else NULL: on disk */
} Example;

typedef struct {
  char *id;
  guint64 serial;
  char *model;
  GPtrArray *classes; /* char* */
  gint64 created_us;
  GPtrArray *examples; /* Example*, by id */
  guint64 next_example;
  struct ss_head *trained; /* NULL: never trained */
  json_t *report;          /* the last training's, or NULL */
  gint64 trained_us;
  guint64 generation;      /* bumped whenever trained changes */
  gboolean busy;           /* being trained */
} Head;

struct HeadStore {
  char *dir; /* NULL: memory only */
  guint max_heads, max_classes, max_examples;
  /* Protected by lock. */
  GMutex lock;
  GHashTable *heads; /* id -> Head* */
  guint64 next_serial;
};

void head_store_example_free(gpointer p);
void head_store_entry_free(gpointer p); /* a Head */
/* A head id or model id: 1..HEAD_STORE_ID_MAX of [A-Za-z0-9_-]. */
gboolean head_store_id_valid(const char *id);

/* ---- files (head-store-files.c): each a no-op without a directory ---- */

/* Reads every <dir>/<id>/ into s->heads (up to max_heads), skipping with a
 * warning what is not a valid head; a missing directory is none. FALSE
 * when the directory cannot be read. */
gboolean head_files_load_dir(HeadStore *s, GError **error);
/* Writes <id>/head.json. */
gboolean head_files_save_meta(const HeadStore *s, const Head *h,
                              GError **error);
/* Writes examples/<n>.features from e's features. */
gboolean head_files_save_features(const HeadStore *s, const char *id,
                                  const Example *e, GError **error);
/* Writes examples/<n>.jpg and .features; on failure neither is left. */
gboolean head_files_save_example(const HeadStore *s, const char *id,
                                 const Example *e, const guint8 *jpeg,
                                 gsize len, GError **error);
void head_files_remove_example(const HeadStore *s, const char *id,
                               guint64 eid);
/* Removes a head's files: only the names the store writes. */
void head_files_remove_head(const HeadStore *s, const char *id);
/* Writes <id>/head.head. */
gboolean head_files_save_trained(const HeadStore *s, const char *id,
                                 const struct ss_head *head, GError **error);
/* The example's JPEG (from memory without a directory); NULL with an
 * error when it cannot be read. */
GBytes *head_files_read_jpeg(const HeadStore *s, const char *id,
                             const Example *e, GError **error);

G_END_DECLS

#endif
