#define G_LOG_DOMAIN "streamsight"

#include "mqtt-commands.h"

#include <string.h>

#include "api-json.h"
#include "config.h"
#include "json-util.h"
#include "mqtt.h"

MqttCommandResult
mqtt_command_apply(Registry *registry, const char *prefix, const char *topic,
                   const void *payload, int len, char **out_id, char **why)
{
  *out_id = NULL;
  *why = NULL;
  gsize plen = strlen(prefix);
  if (!topic || strncmp(topic, prefix, plen) != 0 || topic[plen] != '/')
    return MQTT_COMMAND_IGNORED;
  const char *id0 = topic + plen + 1;
  const char *slash = strchr(id0, '/');
  if (!slash || strcmp(slash, "/set") != 0)
    return MQTT_COMMAND_IGNORED;
  char *id = g_strndup(id0, (gsize)(slash - id0));
  if (!config_stream_id_is_valid(id)) {
    /* Not echoed: it may hold anything. */
    *why = g_strdup_printf("%s/.../set: not a stream id", prefix);
    g_free(id);
    return MQTT_COMMAND_REJECTED;
  }
  *out_id = id;
  if (len <= 0 || len > MQTT_COMMAND_MAX_BYTES) {
    *why = g_strdup_printf("%s/%s/set: the payload must be a JSON object of "
                           "1..%d bytes", prefix, id, MQTT_COMMAND_MAX_BYTES);
    return MQTT_COMMAND_REJECTED;
  }
  GError *e = NULL;
  json_t *obj = json_util_parse_object(payload, (size_t)len, "payload", &e);
  StreamPatch p = { 0 };
  gboolean ok = obj && api_stream_patch_from_json(obj, &p, &e) &&
                registry_update(registry, id, &p, &e);
  json_decref(obj);
  stream_patch_clear(&p);
  if (!ok) {
    *why = g_strdup_printf("%s/%s/set: %s", prefix, id, e->message);
    g_error_free(e);
    return MQTT_COMMAND_REJECTED;
  }
  return MQTT_COMMAND_APPLIED;
}
