/* streamsight — the MQTT publisher's figures as /api/v1/stats and /metrics
 * show them (mqtt.h has the counters). */
#define G_LOG_DOMAIN "streamsight"

#include <string.h>

#include "json-util.h"
#include "metrics.h"
#include "mqtt.h"

static void
mqtt_stats_clear(MqttStats *s)
{
  g_free(s->last_error);
  g_free(s->last_command_error);
  g_free(s->host);
  g_free(s->topic_prefix);
  memset(s, 0, sizeof *s);
}

json_t *
mqtt_publisher_stats_json(MqttPublisher *m)
{
  MqttStats s;
  mqtt_publisher_stats(m, &s);
  json_t *o = json_object();
  json_object_set_new(o, "host", json_util_string_or_null(s.host));
  json_object_set_new(o, "port", json_integer(s.port));
  json_object_set_new(o, "topic_prefix",
                      json_util_string_or_null(s.topic_prefix));
  json_object_set_new(o, "connected", json_boolean(s.connected));
  json_object_set_new(o, "messages", json_integer((json_int_t)s.messages));
  json_object_set_new(o, "dropped", json_integer((json_int_t)s.dropped));
  json_object_set_new(o, "queued", json_integer(s.queued));
  json_object_set_new(o, "queue_capacity", json_integer(s.queue_capacity));
  json_object_set_new(o, "connects", json_integer((json_int_t)s.connects));
  json_object_set_new(o, "connect_failures",
                      json_integer((json_int_t)s.connect_failures));
  json_object_set_new(o, "commands_applied",
                      json_integer((json_int_t)s.commands_applied));
  json_object_set_new(o, "commands_rejected",
                      json_integer((json_int_t)s.commands_rejected));
  json_object_set_new(o, "last_error",
                      json_util_string_or_null(s.last_error));
  json_object_set_new(o, "last_command_error",
                      json_util_string_or_null(s.last_command_error));
  mqtt_stats_clear(&s);
  return o;
}

void
mqtt_publisher_metrics(MqttPublisher *m, GString *out)
{
  MqttStats s;
  mqtt_publisher_stats(m, &s);
  metrics_family(out, "streamsight_mqtt_connected", METRICS_GAUGE,
                 "1 while the MQTT broker has accepted the connection.");
  metrics_sample(out, "streamsight_mqtt_connected", NULL, s.connected);
  metrics_family(out, "streamsight_mqtt_messages_total", METRICS_COUNTER,
                 "MQTT messages written to the broker's connection.");
  metrics_sample_u64(out, "streamsight_mqtt_messages_total", NULL,
                     s.messages);
  metrics_family(out, "streamsight_mqtt_dropped_total", METRICS_COUNTER,
                 "MQTT messages dropped from the full outbound queue.");
  metrics_sample_u64(out, "streamsight_mqtt_dropped_total", NULL, s.dropped);
  metrics_family(out, "streamsight_mqtt_queued", METRICS_GAUGE,
                 "MQTT messages waiting for the broker.");
  metrics_sample(out, "streamsight_mqtt_queued", NULL, s.queued);
  metrics_family(out, "streamsight_mqtt_connect_failures_total",
                 METRICS_COUNTER,
                 "MQTT connections refused, failed or lost.");
  metrics_sample_u64(out, "streamsight_mqtt_connect_failures_total", NULL,
                     s.connect_failures);
  mqtt_stats_clear(&s);
}
