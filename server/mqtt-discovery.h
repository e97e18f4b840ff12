/* streamsight — Home Assistant MQTT discovery payloads for one stream
 * (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
 *
 * Each stream is one HA device ("identifiers": ["<prefix>_<stream>"]) with
 * two sensors:
 *   <discovery_prefix>/sensor/<node>/<stream>_class/config  the top class
 *       (state_topic <prefix>/<stream>/prediction, value_template the label
 *       of classes[0]; the whole prediction as attributes)
 *   <discovery_prefix>/sensor/<node>/<stream>_fps/config    frames inferred
 *       per second (state_topic <prefix>/<stream>/state)
 * node is the topic prefix with every character outside [A-Za-z0-9_-]
 * replaced by '_'. Both use the process's availability topic
 * (mqtt_availability_topic: per replica when sharded). An
 * empty retained payload on the same topics removes the entities.
 *
 * Pure functions; any thread.
 */
#ifndef SS_MQTT_DISCOVERY_H
#define SS_MQTT_DISCOVERY_H

#include <glib.h>
#include <jansson.h>

#include "mqtt-config.h"

G_BEGIN_DECLS

typedef enum {
  MQTT_SENSOR_CLASS = 0, /* the top class of the latest prediction */
  MQTT_SENSOR_FPS,       /* frames inferred per second */
  MQTT_N_SENSORS,
} MqttSensor;

/* The config topic of one sensor of stream_id (new string). */
char *mqtt_discovery_topic(const MqttConfig *c, const char *stream_id,
                           MqttSensor sensor);

/* The config payload (new reference). name: the stream's name (the HA
 * device name); model_name: the model's (device model), NULL if unknown;
 * version: ours (sw_version). */
json_t *mqtt_discovery_payload(const MqttConfig *c, const char *stream_id,
                               const char *name, const char *model_name,
                               const char *version, MqttSensor sensor);

/* The entities of a stream's alert rules (the alerts are published by
 * mqtt-alerts.c):
 *   <discovery_prefix>/binary_sensor/<node>/<stream>_<leaf>/config  per
 *       rule class: on while an alert on it is going on (state_topic
 *       <prefix>/<stream>/<leaf>, ON/OFF; leaf: mqtt_alert_class_leaf)
 *   <discovery_prefix>/camera/<node>/<stream>_snapshot/config  the JPEG of
 *       the latest alert's best frame (topic <prefix>/<stream>/snapshot)
 * cls NULL: the camera. Same device, availability and origin as the
 * sensors. */
char *mqtt_discovery_alert_topic(const MqttConfig *c, const char *stream_id,
                                 const char *cls);
json_t *mqtt_discovery_alert_payload(const MqttConfig *c,
                                     const char *stream_id, const char *name,
                                     const char *model_name,
                                     const char *version, const char *cls);

G_END_DECLS

#endif
