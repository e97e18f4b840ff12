/* streamsight — alerts: every stream's alert rules (StreamConfig.alerts,
 * alert-rule.h) evaluated on its predictions, the alerts they raise kept in
 * a bounded history (newest first) with the JPEG of each alert's best
 * frame, persisted in a directory beside the config file, and announced to
 * listeners (SSE "alert" events, MQTT).
 *
 * The hub subscribes to each stream's results (in step with the registry:
 * alert_hub_sync from the registry's changed callback, and every second).
 * A prediction costs a label comparison per rule and top-k entry; a frame
 * that beats its run's best score costs one deep copy of the frame (the
 * sink's last sample, which is at most a frame or two newer than the scored
 * one); the stream's region of interest is outlined on it. JPEG encoding,
 * listeners and disk writes run on the hub's own thread, never on a pool
 * worker. The same thread ticks the clock once a
 * second, so an alert of a stream that stopped sending frames ends
 * clear_after_s after the class was last seen.
 *
 * Persistence (when a directory is given): DIR/alerts.json (the history,
 * written atomically after each change) and DIR/alert-<id>.jpg. Alerts
 * still active at exit come back ended ("interrupted": true) at the time
 * their class was last seen. The history holds at most history_max alerts;
 * the JPEGs of alerts dropped from it are deleted.
 *
 * Thread-safe: any thread may call any function.
 */
#ifndef SS_ALERTS_H
#define SS_ALERTS_H

#include <glib.h>
#include <jansson.h>

#include "model.h"
#include "registry.h"

G_BEGIN_DECLS

#define ALERTS_DEFAULT_HISTORY 200
#define ALERTS_HISTORY_MAX 100000
/* Width the best frames are scaled down to: about 40 kB a JPEG. */
#define ALERTS_SNAPSHOT_WIDTH 640

typedef enum {
  ALERT_EVENT_START,
  ALERT_EVENT_END,
} AlertEventType;
const char *alert_event_name(AlertEventType t); /* "start", "end" */

/* Who else hears of alerts. Called on the hub's thread, in order, one at a
 * time: may take a little while (MQTT queues, SSE formats), must not call
 * the hub. alert: the alert's JSON as GET /api/v1/alerts shows it
 * (borrowed); jpeg: its best frame so far (borrowed, NULL if none). */
typedef void (*AlertListenerFunc)(gpointer data, AlertEventType type,
                                  const char *stream_id, const char *cls,
                                  json_t *alert, const guint8 *jpeg,
                                  gsize jpeg_len);

typedef struct {
  Registry *registry;            /* borrowed, must outlive the hub */
  const struct ss_model *model;  /* borrowed: labels */
  const char *dir;               /* copied; NULL: not persisted */
  guint history_max;             /* 0: ALERTS_DEFAULT_HISTORY */
  guint snapshot_width;          /* 0: ALERTS_SNAPSHOT_WIDTH */
} AlertHubOptions;

typedef struct AlertHub AlertHub;

/* Loads the persisted history (a damaged file is set aside as
 * alerts.json.bad and reported once with g_warning; the hub starts empty),
 * subscribes to the registry's streams and starts the hub's thread. */
AlertHub *alert_hub_new(const AlertHubOptions *opt);
/* Stops the thread (alerts still active are saved as active), unsubscribes,
 * frees. NULL is allowed. */
void alert_hub_free(AlertHub *h);

/* Adds a listener (at most 4, before any stream sees frames; data must
 * outlive the hub). */
void alert_hub_add_listener(AlertHub *h, AlertListenerFunc fn, gpointer data);

/* Subscribes to new streams, drops removed ones, picks up changed rules
 * (a changed rule starts from scratch: an alert it had going ends now). */
void alert_hub_sync(AlertHub *h);
/* A RegistryChangedFunc-shaped helper (user: the hub). */
void alert_hub_registry_changed(Registry *r, gpointer user);

/* The history, newest first, filtered: stream and cls NULL for any,
 * since_us/until_us (wall time, 0 = open) keep alerts that overlap
 * [since, until] (an active alert lasts until now); at most limit. New
 * reference: {"count": N, "alerts": [...]}. */
typedef struct {
  const char *stream;
  const char *cls;
  gint64 since_us, until_us;
  guint limit;
} AlertQuery;
json_t *alert_hub_list(AlertHub *h, const AlertQuery *q);

/* The JPEG of alert id (malloc'd copy, free()); FALSE when there is no
 * such alert (*found FALSE) or it has no snapshot yet (*found TRUE). */
gboolean alert_hub_snapshot(AlertHub *h, guint64 id, guint8 **jpeg,
                            gsize *len, gboolean *found);

/* Alerts started since the hub started, per stream and class, for
 * /metrics: calls fn for each (in no particular order). */
typedef void (*AlertCountFunc)(gpointer data, const char *stream_id,
                               const char *cls, guint64 started);
void alert_hub_counts(AlertHub *h, AlertCountFunc fn, gpointer data);

/* Waits until the hub's thread has handled everything queued so far
 * (tests). */
void alert_hub_flush(AlertHub *h);

G_END_DECLS

#endif
