/* streamsight — alerts on MQTT (see mqtt.h: mqtt_publisher_alert). */
#include "mqtt.h"

#include <stdlib.h>
#include <string.h>

#include "json-util.h"

char *
mqtt_alert_class_leaf(const char *cls)
{
  /* '+', '#' and '/' have a meaning in topics; spaces and the rest of
   * punctuation make topics awkward to type in automations. */
  char *leaf = g_strdup(cls);
  for (char *p = leaf; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
      *p = '_';
  return leaf;
}

void
mqtt_publisher_alert(gpointer data, AlertEventType type, const char *stream_id,
                     const char *cls, json_t *alert, const guint8 *jpeg,
                     gsize jpeg_len)
{
  MqttPublisher *m = data;
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(stream_id));
  json_object_set_new(o, "type",
                      json_string(alert_event_name(type)));
  json_object_set(o, "alert", alert);
  size_t len = 0;
  char *text = json_util_dump(o, &len);
  json_decref(o);
  if (text)
    mqtt_publisher_enqueue(m, stream_id, "alert", text, len, FALSE);
  free(text);
  if (jpeg && jpeg_len)
    mqtt_publisher_enqueue(m, stream_id, "snapshot", jpeg, jpeg_len, TRUE);
  char *leaf = mqtt_alert_class_leaf(cls);
  const char *state = type == ALERT_EVENT_START ? "ON" : "OFF";
  mqtt_publisher_enqueue(m, stream_id, leaf, state, strlen(state), TRUE);
  g_free(leaf);
}
