/* streamsight — one alert's record and the files alerts are kept in
 * (alerts.c's history, persisted beside the config file):
 *
 *   DIR/alerts.json       {"version": 1, "next_id": N, "alerts": [...]},
 *                         newest first, each as GET /api/v1/alerts shows it
 *   DIR/alert-<id>.jpg    the JPEG of the alert's best frame
 *
 * Records are reference counted under their owner's lock (alerts.c: the
 * hub's); the file functions take no lock and may be called from any
 * thread.
 */
#ifndef SS_ALERT_STORE_H
#define SS_ALERT_STORE_H

#include <glib.h>
#include <gst/gst.h>
#include <jansson.h>

#include "roi.h"

G_BEGIN_DECLS

typedef struct {
  int refs;           /* owner's lock */
  guint64 id;         /* immutable, as are stream_id and cls */
  char *stream_id, *cls;
  double min_score;
  gint64 start_us, end_us, last_seen_us, peak_us; /* wall; end 0: active */
  double peak_score;
  gboolean interrupted; /* active when the server stopped */
  StreamRoi roi;      /* the stream's region when the alert started,
                       * outlined on the snapshot; the whole frame: none */
  GstSample *best;    /* deep copy of the best frame; NULL once encoded at
                       * the end (or for a loaded record) */
  gboolean best_new;  /* best changed since the last encode */
  guint8 *jpeg;       /* malloc'd or NULL */
  gsize jpeg_len;
} AlertRecord;

/* A new record holding one reference; strings copied. */
AlertRecord *alert_record_new(guint64 id, const char *stream_id,
                              const char *cls);
/* Owner's lock held. unref frees at the last reference. */
AlertRecord *alert_record_ref(AlertRecord *a);
void alert_record_unref(AlertRecord *a);
/* The record as the API shows it (new reference). Owner's lock held. */
json_t *alert_record_to_json(const AlertRecord *a);

/* DIR/alert-<id>.jpg (new string). */
char *alert_store_jpeg_path(const char *dir, guint64 id);
/* Replaces path with data atomically and durably (mode 0600); a failure is
 * logged once per call (g_warning) and leaves the old file. */
void alert_store_write(const char *path, const void *data, gsize len);
/* Writes DIR/alerts.json from history (AlertRecord*, newest first): the
 * caller builds the JSON under its lock (alert_store_index_json), then
 * writes it without (alert_store_write_index). */
json_t *alert_store_index_json(guint64 next_id, GQueue *history);
void alert_store_write_index(const char *dir, json_t *index); /* steals */

/* Creates dir (0700) and reads DIR/alerts.json into history (newest
 * first, at most max records; the JPEGs of those beyond max are added to
 * to_delete as guint64 ids) and *next_id (past every loaded id). A damaged
 * index is set aside as alerts.json.bad and reported (g_warning); damaged
 * entries are skipped; a record that was active when the server stopped
 * comes back ended when its class was last seen, interrupted. FALSE when
 * dir cannot be created (nothing can be kept). */
gboolean alert_store_load(const char *dir, guint max, GQueue *history,
                          guint64 *next_id, GArray *to_delete);

G_END_DECLS

#endif
