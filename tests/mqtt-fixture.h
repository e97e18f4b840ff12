/* streamsight — what the MQTT suites share (test-mqtt.c, test-mqtt-faults.c,
 * test-mqtt-alerts.c): Debian's mosquitto on a free 127.0.0.1 port with a
 * password file (optionally TLS), a libmosquitto subscriber that records
 * every message, the built streamsight binary on a config with one test:
 * stream and an "mqtt" key, and the checks of Home Assistant discovery
 * payloads against HA's documented keys.
 *
 * Brokers and servers are started so that they die with the test process
 * (setpriv --pdeathsig): a failed assertion leaves nothing running.
 */
#ifndef SS_MQTT_FIXTURE_H
#define SS_MQTT_FIXTURE_H

#include <glib.h>
#include <jansson.h>
#include <mosquitto.h>

#include "child-process.h"

#define USER "ssuser"
#define PASS "Pa55-SEKRIT"
#define PREFIX "streamsight"
#define STREAM "cam1"

/* Writes dir/passwd with USER:PASS through mosquitto_passwd. */
gboolean make_password_file(const char *dir);

/* ---- the broker (Debian's mosquitto, a password file) ---- */

typedef struct {
  Child child;
  guint port;
  char *conf;
  char *dir;
} Broker;

/* tls_dir: NULL, or a directory holding ca.crt, server.crt, server.key.
 * persist: retained messages saved in dir every second (and so restored
 * after a SIGKILL), as a production broker keeps them. */
void broker_start_full(Broker *b, const char *dir, const char *tls_dir,
                       guint port, gboolean persist);

void broker_start(Broker *b, const char *dir, const char *tls_dir, guint port);

void broker_stop(Broker *b, int sig);

/* ---- a libmosquitto subscriber that records everything ---- */

typedef struct {
  char *topic;
  char *payload; /* NUL-terminated copy */
  int len;
  gboolean retained;
  gint64 at_us;
} Rec;

typedef struct {
  struct mosquitto *mosq;
  GMutex lock;
  GPtrArray *msgs; /* Rec* */
  gboolean connected;
} Sub;

Sub *sub_new(guint port, const char *ca);

void sub_free(Sub *s);

/* The first message on topic received at or after since_us whose payload
 * contains want (NULL: any; "" matches an empty payload only), within
 * timeout_s; a new copy of its payload, or NULL. */
char *sub_wait(Sub *s, const char *topic, const char *want, gint64 since_us,
               double timeout_s, gboolean *retained);

guint sub_count(Sub *s, const char *topic, gint64 from_us, gint64 to_us);

void sub_publish(Sub *s, const char *topic, const char *payload);

/* ---- what most broker tests start with ---- */

typedef struct {
  char *dir; /* new_dir(name), holding the password file */
  Broker broker;
  Sub *sub;
} MqttRig;

/* A new directory with the password file, a broker on a free port (no
 * TLS, nothing persisted) and a subscriber on it. FALSE (after a SKIP
 * line, with nothing started) when something the test needs is missing
 * (have_everything). */
gboolean mqtt_rig_start(MqttRig *r, const char *name);

/* Frees the subscriber, stops the broker (SIGTERM) and frees dir. */
void mqtt_rig_stop(MqttRig *r);

/* ---- the built binary on a config with one test: stream ---- */

typedef struct {
  Child child;
  guint port;
  char *config;
} Server;

/* FALSE (after a SKIP line) when something the test needs is missing. */
gboolean have_everything(void);

/* mqtt_json: the value of the "mqtt" key; shard: STREAMSIGHT_SHARD or
 * NULL. */
void server_start_sharded(Server *s, const char *dir, const char *mqtt_json,
                          double max_fps, const char *shard);

void server_start(Server *s, const char *dir, const char *mqtt_json,
                  double max_fps);

void server_stop(Server *s, int sig);

json_t *get_json(Server *s, const char *path);

json_t *mqtt_stats(Server *s);

guint64 frames_inferred(Server *s);

char *mqtt_key(guint port, const char *extra);

char *new_dir(const char *name);

/* ---- Home Assistant's documented discovery keys ---- */

/* The keys of Home Assistant's MQTT sensor, binary sensor, camera, device
 * and origin payloads, NULL-terminated (mqtt-fixture.c says where from). */
extern const char *const ha_sensor_keys[];
extern const char *const ha_binary_sensor_keys[];
extern const char *const ha_camera_keys[];
extern const char *const ha_device_keys[];
extern const char *const ha_origin_keys[];

void check_keys(json_t *obj, const char *const *known, const char *what);

/* The payload is a valid HA sensor that reads what we publish: documented
 * keys only, the required ones present, unique ids and a device, the
 * availability topic we keep, and a state topic that is ours. */
void check_discovery_avail(const char *payload, const char *want_state_topic,
                           const char *want_avail);

void check_discovery(const char *payload, const char *want_state_topic);

#endif
