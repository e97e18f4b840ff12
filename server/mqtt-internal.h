/* streamsight — what the files of the MQTT publisher share (not an API):
 * mqtt.c (creation, stop, stats), mqtt-queue.c (the bounded queue any
 * thread fills), mqtt-publish.c (payloads, the event hub's listener, and
 * publishing on the thread) and mqtt-connection.c (libmosquitto's
 * callbacks, connecting and reconnecting, the thread). See mqtt.h.
 */
#ifndef SS_MQTT_INTERNAL_H
#define SS_MQTT_INTERNAL_H

#include <mosquitto.h>

#include "mqtt.h"

G_BEGIN_DECLS

typedef struct {
  char *topic;
  char *payload; /* NULL with len 0: delete a retained message */
  int len;
  gboolean retain;
} Msg;

struct MqttPublisher {
  /* Immutable after new. */
  MqttConfig *cfg;
  Registry *registry;
  const struct ss_model *model;
  char *available_topic;
  char *set_pattern;        /* <prefix>/+/set */
  gint64 min_interval_us;   /* between predictions of one stream */

  GMutex lock;              /* protects everything down to stop */
  Msg *queue;               /* ring of cfg->queue_len */
  guint head, count;
  GHashTable *last_pred_us; /* stream id -> gint64*: rate limit */
  GHashTable *announced;    /* stream id -> its alert classes ('\n'-joined,
                             * alert_classes) whose discovery was queued */
  gboolean connected;
  char *last_error;
  char *last_command_error;
  gboolean stop;

  /* Atomic. */
  guint64 messages, dropped, connects, connect_failures;
  guint64 commands_applied, commands_rejected;

  /* The thread's own. */
  struct mosquitto *mosq;
  GThread *thread;
  int inflight;
  gboolean has_socket;     /* a connection attempt or session is open */
  gboolean session_up;     /* CONNACK accepted, until the next disconnect */
  gboolean refused;        /* this attempt's CONNACK refused (counted) */
  guint backoff_ms;
  gint64 next_attempt_us;
  gint64 next_state_us;
  char *lib_error;         /* libmosquitto's last error log line */
};

/* mqtt-queue.c (any thread) */

void mqtt_msg_clear(Msg *m);
/* Queues a message; takes topic and payload. */
void mqtt_enqueue_take(MqttPublisher *m, char *topic, char *payload, int len,
                       gboolean retain);
/* Queues json's text; takes topic and json. */
void mqtt_enqueue_json(MqttPublisher *m, char *topic, json_t *json,
                       gboolean retain);
/* Moves the oldest message into *out; FALSE when the queue is empty. */
gboolean mqtt_dequeue(MqttPublisher *m, Msg *out);

/* mqtt-publish.c */

/* <prefix>/<stream_id>/<leaf>, newly allocated. */
char *mqtt_stream_topic(MqttPublisher *m, const char *stream_id,
                        const char *leaf);
/* The thread's own, connected: hands a message to libmosquitto. */
gboolean mqtt_publish_now(MqttPublisher *m, const char *topic,
                          const void *payload, int len, gboolean retain);
/* The thread's own, connected: every stream's state (and, after a connect,
 * its discovery configs). */
void mqtt_publish_streams(MqttPublisher *m, gboolean discovery);

/* mqtt-connection.c */

/* Sets libmosquitto's callbacks on mosq (whose user data is the
 * publisher). */
void mqtt_connection_set_callbacks(struct mosquitto *mosq);
/* The publisher's thread (user: the publisher): connects, reconnects,
 * publishes the queue, says goodbye when told to stop. */
gpointer mqtt_connection_main(gpointer user);

G_END_DECLS

#endif /* SS_MQTT_INTERNAL_H */
