#define G_LOG_DOMAIN "streamsight"

#include "mqtt-discovery.h"

#include <string.h>

#include "mqtt.h"

typedef struct {
  const char *object;      /* object id suffix */
  const char *name;        /* entity name (HA prefixes the device name) */
  const char *topic;       /* state topic below <prefix>/<stream>/ */
  const char *value_template;
  const char *unit;        /* or NULL */
  const char *icon;
} SensorDef;

/* classes[0].label is null without labels: fall back to the index (the
 * second argument of default() makes it apply to null too). */
static const SensorDef sensors[MQTT_N_SENSORS] = {
  [MQTT_SENSOR_CLASS] = {
    "class", "Top class", "prediction",
    "{{ value_json.prediction.classes[0].label | "
    "default(value_json.prediction.classes[0].index, true) }}",
    NULL, "mdi:cctv" },
  [MQTT_SENSOR_FPS] = {
    "fps", "Inferred fps", "state",
    "{{ value_json.fps_out | round(1) }}", "fps", "mdi:speedometer" },
};

/* HA node and object ids: [a-zA-Z0-9_-]. Stream ids already are. */
static char *
node_id(const char *prefix)
{
  char *n = g_strdup(prefix);
  for (char *p = n; *p; p++)
    if (!(g_ascii_isalnum(*p) || *p == '_' || *p == '-'))
      *p = '_';
  return n;
}

/* Availability, device and origin: what every entity of a stream shares. */
static void
add_common(json_t *o, const MqttConfig *c, const char *stream_id,
           const char *name, const char *model_name, const char *version)
{
  g_autofree char *node = node_id(c->topic_prefix);
  g_autofree char *avail = mqtt_availability_topic(c);
  json_object_set_new(o, "availability_topic",
                      json_string(avail));
  json_object_set_new(o, "payload_available", json_string("online"));
  json_object_set_new(o, "payload_not_available", json_string("offline"));
  if (c->qos > 0)
    json_object_set_new(o, "qos", json_integer(c->qos));
  json_t *dev = json_object();
  json_t *ids = json_array();
  json_array_append_new(ids, json_sprintf("%s_%s", node, stream_id));
  json_object_set_new(dev, "identifiers", ids);
  json_object_set_new(dev, "name", json_string(name ? name : stream_id));
  json_object_set_new(dev, "manufacturer", json_string("streamsight"));
  if (model_name)
    json_object_set_new(dev, "model", json_string(model_name));
  if (version)
    json_object_set_new(dev, "sw_version", json_string(version));
  json_object_set_new(o, "device", dev);
  json_t *origin = json_object();
  json_object_set_new(origin, "name", json_string("streamsight"));
  if (version)
    json_object_set_new(origin, "sw_version", json_string(version));
  json_object_set_new(o, "origin", origin);
}

char *
mqtt_discovery_topic(const MqttConfig *c, const char *stream_id,
                     MqttSensor sensor)
{
  g_assert(sensor >= 0 && sensor < MQTT_N_SENSORS);
  g_autofree char *node = node_id(c->topic_prefix);
  return g_strdup_printf("%s/sensor/%s/%s_%s/config", c->discovery_prefix,
                         node, stream_id, sensors[sensor].object);
}

json_t *
mqtt_discovery_payload(const MqttConfig *c, const char *stream_id,
                       const char *name, const char *model_name,
                       const char *version, MqttSensor sensor)
{
  g_assert(sensor >= 0 && sensor < MQTT_N_SENSORS);
  const SensorDef *d = &sensors[sensor];
  g_autofree char *node = node_id(c->topic_prefix);
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(d->name));
  json_object_set_new(o, "unique_id", json_sprintf("%s_%s_%s", node,
                                                   stream_id, d->object));
  json_object_set_new(o, "object_id", json_sprintf("%s_%s_%s", node,
                                                   stream_id, d->object));
  json_object_set_new(o, "state_topic", json_sprintf("%s/%s/%s",
                                                     c->topic_prefix,
                                                     stream_id, d->topic));
  json_object_set_new(o, "value_template", json_string(d->value_template));
  if (sensor == MQTT_SENSOR_CLASS) {
    json_object_set_new(o, "json_attributes_topic",
                        json_sprintf("%s/%s/prediction", c->topic_prefix,
                                     stream_id));
    json_object_set_new(o, "json_attributes_template",
                        json_string("{{ value_json.prediction | tojson }}"));
  }
  if (d->unit) {
    json_object_set_new(o, "unit_of_measurement", json_string(d->unit));
    json_object_set_new(o, "state_class", json_string("measurement"));
  }
  json_object_set_new(o, "icon", json_string(d->icon));
  add_common(o, c, stream_id, name, model_name, version);
  return o;
}

char *
mqtt_discovery_alert_topic(const MqttConfig *c, const char *stream_id,
                           const char *cls)
{
  g_autofree char *node = node_id(c->topic_prefix);
  if (!cls)
    return g_strdup_printf("%s/camera/%s/%s_snapshot/config",
                           c->discovery_prefix, node, stream_id);
  g_autofree char *leaf = mqtt_alert_class_leaf(cls);
  return g_strdup_printf("%s/binary_sensor/%s/%s_%s/config",
                         c->discovery_prefix, node, stream_id, leaf);
}

json_t *
mqtt_discovery_alert_payload(const MqttConfig *c, const char *stream_id,
                             const char *name, const char *model_name,
                             const char *version, const char *cls)
{
  g_autofree char *node = node_id(c->topic_prefix);
  json_t *o = json_object();
  if (!cls) {
    json_object_set_new(o, "name", json_string("Alert snapshot"));
    json_object_set_new(o, "unique_id", json_sprintf("%s_%s_snapshot", node,
                                                     stream_id));
    json_object_set_new(o, "object_id", json_sprintf("%s_%s_snapshot", node,
                                                     stream_id));
    json_object_set_new(o, "topic", json_sprintf("%s/%s/snapshot",
                                                 c->topic_prefix, stream_id));
    json_object_set_new(o, "icon", json_string("mdi:cctv"));
  } else {
    g_autofree char *leaf = mqtt_alert_class_leaf(cls);
    json_object_set_new(o, "name", json_sprintf("Alert %s", cls));
    json_object_set_new(o, "unique_id", json_sprintf("%s_%s_%s", node,
                                                     stream_id, leaf));
    json_object_set_new(o, "object_id", json_sprintf("%s_%s_%s", node,
                                                     stream_id, leaf));
    json_object_set_new(o, "state_topic", json_sprintf("%s/%s/%s",
                                                       c->topic_prefix,
                                                       stream_id, leaf));
    json_object_set_new(o, "payload_on", json_string("ON"));
    json_object_set_new(o, "payload_off", json_string("OFF"));
    json_object_set_new(o, "icon", json_string("mdi:bell-ring"));
  }
  add_common(o, c, stream_id, name, model_name, version);
  return o;
}
