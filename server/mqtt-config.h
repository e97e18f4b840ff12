/* streamsight — the "mqtt" key of the config file and STREAMSIGHT_MQTT_URL:
 * where the MQTT publisher (mqtt.h) connects and what it publishes.
 *
 * No "mqtt" key and no STREAMSIGHT_MQTT_URL: no MQTT at all. The URL
 * (mqtt://user:pass@host:1883, mqtts://... for TLS, port 8883 by default)
 * overrides host, port, username, password and TLS of the file's key, or
 * stands alone with the defaults for the rest; an empty URL turns MQTT off.
 * config/README.md documents every key.
 *
 * Messages name the key ("mqtt.qos: must be ...") or the variable, and never
 * contain the password.
 */
#ifndef SS_MQTT_CONFIG_H
#define SS_MQTT_CONFIG_H

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

#define MQTT_DEFAULT_PORT 1883
#define MQTT_DEFAULT_TLS_PORT 8883
#define MQTT_DEFAULT_TOPIC_PREFIX "streamsight"
#define MQTT_DEFAULT_DISCOVERY_PREFIX "homeassistant"
#define MQTT_DEFAULT_KEEPALIVE_S 60
#define MQTT_DEFAULT_MAX_RATE_HZ 1.0
/* Topic prefixes: MQTT allows 65535 bytes, brokers and HA far less. */
#define MQTT_PREFIX_MAX 128
/* MQTT 3.1.1 servers must accept 23 bytes; mosquitto takes more. */
#define MQTT_CLIENT_ID_MAX 128

/* Messages waiting for the broker (predictions and states of every
 * stream); beyond it the oldest is dropped and counted. */
#define MQTT_DEFAULT_QUEUE_LEN 1024
#define MQTT_QUEUE_MIN 8
#define MQTT_QUEUE_MAX 65536

/* Plain data with one owner; strings owned, NULL when unset. */
typedef struct {
  char *host;
  guint port;              /* 1..65535; 0 in the file = the default */
  char *username;
  char *password;          /* never logged or shown */
  char *client_id;         /* NULL: libmosquitto makes a random one */
  char *topic_prefix;
  int qos;                 /* 0..2 */
  gboolean retain_state;   /* <prefix>/<stream>/state retained */
  gboolean tls;            /* tls key present or mqtts:// */
  char *tls_ca;            /* NULL with tls: the system's CAs */
  char *tls_cert;          /* client certificate: both or neither */
  char *tls_key;
  guint keepalive_s;       /* 5..3600 */
  double max_rate_hz;      /* predictions per stream per second, 0..100
                            * (0: no prediction messages) */
  gboolean accept_commands;/* <prefix>/<stream>/set */
  gboolean discovery;      /* Home Assistant discovery */
  char *discovery_prefix;
  guint queue_len;         /* outbound queue, MQTT_QUEUE_MIN..MAX */
  int protocol;            /* 4 (MQTT 3.1.1, default) or 5 */
  char *node;              /* not from the file: "shard-K" on a sharded
                            * replica (serve.c), NULL otherwise */
} MqttConfig;

void mqtt_config_free(MqttConfig *c); /* NULL is allowed */
MqttConfig *mqtt_config_copy(const MqttConfig *c);

/* Parses the "mqtt" object over the defaults; errors (JSON_UTIL_ERROR)
 * name "mqtt.<key>". Returns a new config or NULL. host is required unless
 * url_given (STREAMSIGHT_MQTT_URL will give it). */
MqttConfig *mqtt_config_from_json(json_t *obj, gboolean url_given,
                                  GError **error);

/* Applies a mqtt:// or mqtts:// URL over *c (NULL: over the defaults; *c is
 * then created). An empty url frees *c (MQTT off). Errors name
 * STREAMSIGHT_MQTT_URL and never echo the URL (it holds the password). */
gboolean mqtt_config_apply_url(MqttConfig **c, const char *url,
                               GError **error);

/* Where this process says online/offline (new string):
 * <prefix>/available, or <prefix>/available/<node> on a sharded replica,
 * so that each replica's last will marks only its own cameras' entities
 * unavailable. */
char *mqtt_availability_topic(const MqttConfig *c);

G_END_DECLS

#endif
