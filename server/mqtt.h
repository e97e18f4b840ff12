/* streamsight — the MQTT publisher: predictions, stream states, Home
 * Assistant discovery and (optionally) commands, with libmosquitto.
 *
 * Topics (prefix: mqtt.topic_prefix, "streamsight" by default):
 *   <prefix>/available            "online" / "offline", retained; the last
 *                                 will is "offline" (.../available/shard-K
 *                                 on a sharded replica)
 *   <prefix>/<stream>/prediction  the SSE prediction event's data
 *                                 (event_prediction_json), at most
 *                                 mqtt.max_rate_hz per stream
 *   <prefix>/<stream>/state       {"stream_id", "name", "state", "enabled",
 *                                 "max_fps", "last_error", "reconnects",
 *                                 "fps_in", "fps_out", "time"}, retained
 *                                 (mqtt.retain_state); on every change and
 *                                 every MQTT_STATE_INTERVAL_S
 *   <prefix>/<stream>/set         in: {"enabled": false}, {"max_fps": 2}
 *                                 (PATCH's body), when accept_commands
 *   <discovery>/sensor/..., binary_sensor/..., camera/...
 *                                 Home Assistant discovery (mqtt-discovery.h):
 *                                 the sensors of every stream, and the
 *                                 entities of its alert rules, following
 *                                 rule changes
 * A removed stream's state and discovery topics get an empty retained
 * payload, which deletes them from the broker (and the entities from HA).
 *
 * Never in the path of a frame: predictions and stream changes arrive
 * through the event hub's listener (events.h) on pool workers and the hub's
 * threads, which only format and append to a bounded queue (mqtt.queue_len;
 * when it is full the oldest prediction is dropped and counted, retained
 * messages last). One thread of ours owns
 * the libmosquitto client: it connects (non-blocking), reconnects with
 * exponential backoff and jitter, drains the queue while connected, and
 * after every (re)connect publishes "online", the discovery configs and
 * every stream's state again.
 */
#ifndef SS_MQTT_H
#define SS_MQTT_H

#include <glib.h>
#include <jansson.h>

#include "alerts.h"
#include "events.h"
#include "model.h"
#include "mqtt-config.h"
#include "registry.h"

G_BEGIN_DECLS

/* Every stream's state is published again this often (fps changes). */
#define MQTT_STATE_INTERVAL_S 10
/* Reconnect delays: doubled from the first to the cap, +-25 % jitter. */
#define MQTT_BACKOFF_INITIAL_MS 500
#define MQTT_BACKOFF_MAX_MS 30000
/* Largest command payload read from <prefix>/<stream>/set. */
#define MQTT_COMMAND_MAX_BYTES 4096

typedef struct MqttPublisher MqttPublisher;

typedef struct {
  gboolean connected;
  guint64 messages;          /* handed to the broker's connection */
  guint64 dropped;           /* dropped from the full queue */
  guint queued;              /* waiting now */
  guint queue_capacity;      /* mqtt.queue_len */
  guint64 connects;          /* successful connections */
  guint64 connect_failures;  /* refused, unreachable, lost */
  guint64 commands_applied;
  guint64 commands_rejected;
  char *last_error;          /* new string or NULL; no credentials */
  char *last_command_error;  /* new string or NULL */
  char *host;                /* new string */
  guint port;
  char *topic_prefix;        /* new string */
} MqttStats;

/* Starts the publisher's thread, which connects in the background (a broker
 * that is down is not an error here: it shows in the stats). cfg is copied;
 * registry (commands, states) and model (names, labels) are borrowed and
 * must outlive the publisher. Fails only on an unusable configuration (a
 * TLS file that cannot be read). Call mqtt_publisher_listener's functions
 * from the event hub (EventHubOptions.listener). */
MqttPublisher *mqtt_publisher_new(const MqttConfig *cfg, Registry *registry,
                                  const struct ss_model *model,
                                  GError **error);
/* Publishes "offline" (waits up to about a second for it to go out),
 * disconnects and frees. Stop the event hub first. NULL is allowed. */
void mqtt_publisher_free(MqttPublisher *m);

/* The listener to hand to event_hub_new with the publisher as data. */
const EventHubListener *mqtt_publisher_listener(void);

/* Queues one message for <prefix>/<stream_id>/<leaf> (payload copied, len
 * bytes). Any thread; never blocks on the broker. */
void mqtt_publisher_enqueue(MqttPublisher *m, const char *stream_id,
                            const char *leaf, const void *payload, gsize len,
                            gboolean retain);

/* An AlertListenerFunc (alerts.h; data: the publisher), mqtt-alerts.c:
 *   <prefix>/<stream>/alert     {"stream_id", "type": "start"|"end",
 *                               "alert": {...as GET /api/v1/alerts...}}
 *   <prefix>/<stream>/snapshot  the JPEG of the alert's best frame,
 *                               retained (a camera entity's image)
 *   <prefix>/<stream>/<class>   "ON" while an alert on class is going on,
 *                               "OFF" after, retained; the class's
 *                               characters other than [A-Za-z0-9_-] become
 *                               '_' (mqtt_alert_class_leaf) */
void mqtt_publisher_alert(gpointer data, AlertEventType type,
                          const char *stream_id,
                          const char *cls, json_t *alert, const guint8 *jpeg,
                          gsize jpeg_len);
/* The topic level for a class (new string): "tabby cat" -> "tabby_cat". */
char *mqtt_alert_class_leaf(const char *cls);

/* Any thread. */
void mqtt_publisher_stats(MqttPublisher *m, MqttStats *out);
/* The "mqtt" object of GET /api/v1/stats (new reference), and the
 * streamsight_mqtt_* families of /metrics appended to out. */
json_t *mqtt_publisher_stats_json(MqttPublisher *m);
void mqtt_publisher_metrics(MqttPublisher *m, GString *out);

G_END_DECLS

#endif
