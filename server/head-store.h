/* streamsight — the server's heads (inference/head.h): their classes, the
 * examples they are taught from (each a cropped JPEG plus its features on
 * the head's model) and their trained weights, kept beside the config file
 * and loaded back at start.
 *
 * On disk, under the store's directory (the config file's directory +
 * "heads/", 0700; files 0600, each written atomically):
 *   <id>/head.json                  id, model, classes, examples (id,
 *                                   class, time), the last training report
 *   <id>/head.head                  the trained weights (head file format)
 *   <id>/examples/<n>.jpg           example n's image
 *   <id>/examples/<n>.features      its features: "SSFT", u32 version 1,
 *                                   u32 dim, u16 len + model name, f32 x dim,
 *                                   u32 CRC-32
 * Everything read back is validated; an example whose features are
 * missing, corrupt or from another model keeps its JPEG and gets new
 * features at the next training (head_store_train_begin lists it). A head
 * whose head.json is unreadable is skipped with a warning.
 *
 * Without a directory (no config file) heads live in memory only.
 *
 * Thread-safe: one mutex guards the heads; it is never held while training
 * or computing features (the routes do that off the HTTP threads). A store
 * outlives its users (the Routes).
 */
#ifndef SS_HEAD_STORE_H
#define SS_HEAD_STORE_H

#include <glib.h>
#include <jansson.h>

#include "head.h"

G_BEGIN_DECLS

#define HEAD_STORE_ERROR (head_store_error_quark())
GQuark head_store_error_quark(void);
typedef enum {
  HEAD_STORE_ERROR_INVALID,   /* bad id, class, model or too few examples */
  HEAD_STORE_ERROR_NOT_FOUND, /* no such head or example */
  HEAD_STORE_ERROR_EXISTS,    /* a head with that id exists */
  HEAD_STORE_ERROR_LIMIT,     /* limits.max_heads or max_head_examples */
  HEAD_STORE_ERROR_BUSY,      /* the head is being trained */
  HEAD_STORE_ERROR_IO,        /* a file could not be written */
} HeadStoreError;

#define HEAD_STORE_DEFAULT_MAX_HEADS 16
#define HEAD_STORE_DEFAULT_MAX_CLASSES 16
#define HEAD_STORE_DEFAULT_MAX_EXAMPLES 500
/* A kept example's JPEG (they are crops scaled near the model's side). */
#define HEAD_STORE_MAX_JPEG_BYTES ((gsize)4 << 20)
/* Head ids: [A-Za-z0-9_-], 1..64 bytes (path segments, directory names). */
#define HEAD_STORE_ID_MAX 64

typedef struct {
  guint max_heads;    /* 0: HEAD_STORE_DEFAULT_MAX_HEADS */
  guint max_classes;  /* 0: default; at most HEAD_MAX_CLASSES */
  guint max_examples; /* per head; 0: default */
} HeadStoreLimits;

typedef struct HeadStore HeadStore;

/* dir: where heads are kept (created when the first head is), or NULL for
 * memory only. Loads the heads found there. */
HeadStore *head_store_new(const char *dir, const HeadStoreLimits *limits,
                          GError **error);
void head_store_free(HeadStore *s); /* NULL is allowed */

/* The directory beside a config file: "<dir of config_path>/heads". A new
 * string (g_free). */
char *head_store_dir_for_config(const char *config_path);

/* Creates an untrained head; classes: n distinct head_name_valid names
 * (2..max_classes); model: the model id its examples' features come from. */
gboolean head_store_create(HeadStore *s, const char *id, const char *model,
                           const char *const *classes, guint n,
                           GError **error);
gboolean head_store_delete(HeadStore *s, const char *id, GError **error);

/* JSON (new references): the list [{head}...] by id, and one head:
 *   {"id", "model", "classes", "created", "examples": {class: count},
 *    "trained", "training": report or null}. */
json_t *head_store_list_json(HeadStore *s);
json_t *head_store_head_json(HeadStore *s, const char *id, GError **error);

/* The model id of head id (a new string), for computing an example's
 * features; checks that class (when not NULL) is one of its classes and
 * that there is room for another example. */
char *head_store_prepare_example(HeadStore *s, const char *id,
                                 const char *class_name, GError **error);

/* Adds an example: its JPEG (copied) and features (dim floats from model
 * model_name). *out_json (may be NULL) receives the example's JSON
 * {"id", "class", "time", "image"}. */
gboolean head_store_add_example(HeadStore *s, const char *id,
                                const char *class_name, const guint8 *jpeg,
                                gsize len, const char *model_name,
                                const float *features, int dim,
                                json_t **out_json, GError **error);
json_t *head_store_examples_json(HeadStore *s, const char *id,
                                 GError **error);
GBytes *head_store_example_jpeg(HeadStore *s, const char *id,
                                const char *example_id, GError **error);
gboolean head_store_delete_example(HeadStore *s, const char *id,
                                   const char *example_id, GError **error);

/* Training, in two steps so that features and training run unlocked:
 * _begin marks the head busy (HEAD_STORE_ERROR_BUSY if it already is) and
 * copies its examples; those whose features are not from model_name (dim
 * long) carry their JPEG in need_jpeg[i] and must get features (written
 * to features + i * dim) before _finish, which trains (cross-validation
 * then the full fit), installs the weights, persists and returns the
 * report (a new reference) or NULL with the error (every class needs 2
 * examples: INVALID). _finish always clears the busy mark and frees set. */
typedef struct {
  char *id;
  guint64 serial;     /* the head's identity (a deleted and recreated head
                       * of the same id is another) */
  char *model_name;
  int dim;
  guint n;            /* examples */
  guint64 *example_ids;
  int *classes;
  float *features;    /* n x dim */
  GBytes **need_jpeg; /* n: NULL, or the JPEG whose features are missing */
  struct ss_head *head; /* the shape (names) to train */
} HeadTrainSet;

HeadTrainSet *head_store_train_begin(HeadStore *s, const char *id,
                                     const char *model_name, int dim,
                                     GError **error);
json_t *head_store_train_finish(HeadStore *s, HeadTrainSet *set,
                                GError **error);
/* Frees a set without training (clears the busy mark). */
void head_store_train_abort(HeadStore *s, HeadTrainSet *set);


/* A FrameHeadFetch (frame-infer.h) over the store (user): the trained
 * copy of head id when its generation differs from *generation. Never
 * waits: when the store's lock is taken it returns NULL with *generation
 * unchanged (asked again at the next frame). Any thread. */
struct ss_head *head_store_fetch_changed(gpointer user, const char *id,
                                         guint64 *generation);

G_END_DECLS

#endif
