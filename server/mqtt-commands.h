/* streamsight — MQTT commands: <prefix>/<stream>/set with the body of
 * PATCH /api/v1/streams/{id}, parsed and validated by the same code
 * (api_stream_patch_from_json, registry_update). The broker is as
 * untrusted as any HTTP client.
 */
#ifndef SS_MQTT_COMMANDS_H
#define SS_MQTT_COMMANDS_H

#include <glib.h>

#include "registry.h"

G_BEGIN_DECLS

typedef enum {
  MQTT_COMMAND_IGNORED = 0, /* not a <prefix>/<level>/set topic */
  MQTT_COMMAND_APPLIED,
  MQTT_COMMAND_REJECTED,    /* *why says why */
} MqttCommandResult;

/* Applies one message (topic NUL-terminated, payload len bytes, not
 * terminated) to the registry. *id: the stream id when the topic named a
 * valid one (new string, else NULL); *why: for a rejection, a message
 * naming the topic (new string). Any thread. */
MqttCommandResult mqtt_command_apply(Registry *registry, const char *prefix,
                                     const char *topic, const void *payload,
                                     int len, char **id, char **why);

G_END_DECLS

#endif
