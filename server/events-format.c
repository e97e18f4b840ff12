/* streamsight — the SSE text of each event the hub sends. */
#define G_LOG_DOMAIN "streamsight"

#include <stdlib.h>

#include "api-json.h"
#include "events-internal.h"
#include "json-util.h"

/* ---- formatting ---- */

char *
event_format(const char *event, const char *id, json_t *data)
{
  size_t len = 0;
  char *json = json_util_dump(data, &len);
  json_decref(data);
  if (!json)
    return NULL;
  GString *s = g_string_sized_new(len + 64);
  g_string_append_printf(s, "event: %s\n", event);
  if (id)
    g_string_append_printf(s, "id: %s\n", id);
  g_string_append(s, "data: ");
  g_string_append_len(s, json, (gssize)len);
  g_string_append(s, "\n\n");
  free(json);
  char *r = g_ref_string_new_len(s->str, (gssize)s->len);
  g_string_free(s, TRUE);
  return r;
}

json_t *
event_prediction_json(const struct ss_model *m, const char *stream_id,
                      const Prediction *p)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(stream_id));
  json_object_set_new(o, "prediction", api_prediction_to_json(m, p));
  return o;
}

char *
event_format_prediction(EventHub *h, const char *stream_id,
                        const Prediction *p)
{
  json_t *o = event_prediction_json(h->model, stream_id, p);
  char id[96];
  g_snprintf(id, sizeof id, "%s:%" G_GUINT64_FORMAT, stream_id, p->seq);
  return event_format("prediction", id, o);
}

char *
event_format_stream(const StreamInfo *info)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(info->id));
  json_object_set_new(o, "stream", api_stream_to_json(info));
  return event_format("stream", NULL, o);
}

char *
event_format_removed(const char *stream_id)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(stream_id));
  return event_format("stream_removed", NULL, o);
}
