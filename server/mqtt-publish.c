/* streamsight — what the MQTT publisher says: the payloads (state,
 * discovery, alert entities), the event hub's listener that queues them,
 * and publishing them at once on the publisher's thread. */
#define G_LOG_DOMAIN "streamsight"

#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "mqtt-discovery.h"
#include "mqtt-internal.h"

#ifndef SS_VERSION
#define SS_VERSION NULL
#endif

static void publish_json_now(MqttPublisher *m, const char *topic,
                             json_t *json, gboolean retain);

/* ---- payloads ---- */

static json_t *
state_json(const StreamInfo *info)
{
  json_t *o = json_object();
  char t[JSON_UTIL_TIME_LEN];
  json_util_format_time(g_get_real_time(), t);
  json_object_set_new(o, "stream_id", json_string(info->id));
  json_object_set_new(o, "name", json_util_string_or_null(info->name));
  json_object_set_new(o, "state",
                      json_string(stream_state_name(info->state)));
  json_object_set_new(o, "enabled", json_boolean(info->config.enabled));
  json_object_set_new(o, "max_fps", json_real(info->config.max_fps));
  json_object_set_new(o, "last_error",
                      json_util_string_or_null(info->last_error));
  json_object_set_new(o, "reconnects",
                      json_integer((json_int_t)info->reconnects));
  json_object_set_new(o, "fps_in", json_real(info->stats.fps_in));
  json_object_set_new(o, "fps_out", json_real(info->stats.fps_out));
  json_object_set_new(o, "time", json_string(t));
  return o;
}

char *
mqtt_stream_topic(MqttPublisher *m, const char *stream_id, const char *leaf)
{
  return g_strdup_printf("%s/%s/%s", m->cfg->topic_prefix, stream_id, leaf);
}

static void
enqueue_discovery(MqttPublisher *m, const char *id, const char *name)
{
  if (!m->cfg->discovery)
    return;
  for (int s = 0; s < MQTT_N_SENSORS; s++)
    mqtt_enqueue_json(m, mqtt_discovery_topic(m->cfg, id, s),
                      mqtt_discovery_payload(m->cfg, id, name,
                                             model_name(m->model),
                                             SS_VERSION, s),
                      TRUE);
}


/* The classes of a stream's alert rules, '\n'-joined ("" for none): what
 * its alert entities are (class names hold no control characters). */
static char *
alert_classes(const StreamInfo *info)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < info->config.n_alerts; i++)
    g_string_append_printf(s, "%s%s", i ? "\n" : "",
                           info->config.alerts[i].class_name);
  return g_string_free(s, FALSE);
}

/* Brings a stream's alert entities from what was announced (old) to what
 * its rules are now (now): classes gone get an empty retained config (HA
 * deletes the entity), current ones their config; the snapshot camera
 * exists while any rule does. publish: now (our thread, connected), else
 * queued. */
static void
alert_discovery(MqttPublisher *m, const char *id, const char *name,
                const char *old, const char *now, gboolean publish)
{
  if (!m->cfg->discovery)
    return;
  g_auto(GStrv) olds = g_strsplit(old, "\n", -1);
  g_auto(GStrv) nows = g_strsplit(now, "\n", -1);
  for (guint i = 0; olds[i]; i++) {
    if (!*olds[i] || g_strv_contains((const char *const *)nows, olds[i]))
      continue;
    char *topic = mqtt_discovery_alert_topic(m->cfg, id, olds[i]);
    if (publish) {
      mqtt_publish_now(m, topic, NULL, 0, TRUE);
      g_free(topic);
    } else {
      mqtt_enqueue_take(m, topic, NULL, 0, TRUE);
    }
  }
  for (guint i = 0; nows[i] && *now; i++) {
    char *topic = mqtt_discovery_alert_topic(m->cfg, id, nows[i]);
    json_t *p = mqtt_discovery_alert_payload(m->cfg, id, name,
                                             model_name(m->model),
                                             SS_VERSION, nows[i]);
    if (publish) {
      publish_json_now(m, topic, p, TRUE);
      g_free(topic);
    } else {
      mqtt_enqueue_json(m, topic, p, TRUE);
    }
  }
  if (*now || *old) {
    char *topic = mqtt_discovery_alert_topic(m->cfg, id, NULL);
    json_t *p = *now ? mqtt_discovery_alert_payload(m->cfg, id, name,
                                                    model_name(m->model),
                                                    SS_VERSION, NULL)
                     : NULL;
    if (publish) {
      if (p)
        publish_json_now(m, topic, p, TRUE);
      else
        mqtt_publish_now(m, topic, NULL, 0, TRUE);
      g_free(topic);
    } else if (p) {
      mqtt_enqueue_json(m, topic, p, TRUE);
    } else {
      mqtt_enqueue_take(m, topic, NULL, 0, TRUE);
    }
  }
}

/* ---- the hub's listener ---- */

static void
on_prediction(gpointer data, const char *stream_id, const Prediction *p)
{
  MqttPublisher *m = data;
  if (m->min_interval_us < 0)
    return; /* max_rate_hz 0: no predictions */
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&m->lock);
  gint64 *last = g_hash_table_lookup(m->last_pred_us, stream_id);
  gboolean due = !last || now - *last >= m->min_interval_us;
  if (due) {
    if (!last) {
      last = g_new(gint64, 1);
      g_hash_table_insert(m->last_pred_us, g_strdup(stream_id), last);
    }
    *last = now;
  }
  g_mutex_unlock(&m->lock);
  if (!due)
    return;
  mqtt_enqueue_json(m, mqtt_stream_topic(m, stream_id, "prediction"),
                    event_prediction_json(m->model, stream_id, p), FALSE);
}

static void
on_stream(gpointer data, const StreamInfo *info)
{
  MqttPublisher *m = data;
  char *now = alert_classes(info);
  g_mutex_lock(&m->lock);
  const char *had = g_hash_table_lookup(m->announced, info->id);
  gboolean is_new = had == NULL;
  gboolean changed = is_new || strcmp(had, now) != 0;
  char *old = g_strdup(had ? had : "");
  if (changed)
    g_hash_table_insert(m->announced, g_strdup(info->id), g_strdup(now));
  g_mutex_unlock(&m->lock);
  if (is_new)
    enqueue_discovery(m, info->id, info->name);
  if (changed)
    alert_discovery(m, info->id, info->name, old, now, FALSE);
  g_free(old);
  g_free(now);
  mqtt_enqueue_json(m, mqtt_stream_topic(m, info->id, "state"),
                    state_json(info), m->cfg->retain_state);
}

static void
on_removed(gpointer data, const char *stream_id)
{
  MqttPublisher *m = data;
  g_mutex_lock(&m->lock);
  char *old = g_strdup(g_hash_table_lookup(m->announced, stream_id));
  g_hash_table_remove(m->announced, stream_id);
  g_hash_table_remove(m->last_pred_us, stream_id);
  g_mutex_unlock(&m->lock);
  if (old)
    alert_discovery(m, stream_id, NULL, old, "", FALSE);
  g_free(old);
  /* Empty retained payloads delete what the broker keeps for the stream. */
  if (m->cfg->discovery)
    for (int s = 0; s < MQTT_N_SENSORS; s++)
      mqtt_enqueue_take(m, mqtt_discovery_topic(m->cfg, stream_id, s), NULL,
                        0, TRUE);
  mqtt_enqueue_take(m, mqtt_stream_topic(m, stream_id, "state"), NULL, 0,
                    TRUE);
}

static const EventHubListener listener = {
  .prediction = on_prediction,
  .stream = on_stream,
  .removed = on_removed,
};

const EventHubListener *
mqtt_publisher_listener(void)
{
  return &listener;
}

/* ---- publishing (the thread, connected) ---- */

gboolean
mqtt_publish_now(MqttPublisher *m, const char *topic, const void *payload,
                 int len, gboolean retain)
{
  int rc = mosquitto_publish(m->mosq, NULL, topic, len, payload, m->cfg->qos,
                             retain);
  if (rc != MOSQ_ERR_SUCCESS)
    return FALSE;
  m->inflight++;
  return TRUE;
}

static void
publish_json_now(MqttPublisher *m, const char *topic, json_t *json,
                 gboolean retain)
{
  size_t len = 0;
  char *text = json_util_dump(json, &len);
  json_decref(json);
  if (text && len <= G_MAXINT)
    mqtt_publish_now(m, topic, text, (int)len, retain);
  free(text);
}

void
mqtt_publish_streams(MqttPublisher *m, gboolean discovery)
{
  GPtrArray *list = registry_list(m->registry);
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    if (discovery && m->cfg->discovery) {
      for (int s = 0; s < MQTT_N_SENSORS; s++) {
        g_autofree char *topic = mqtt_discovery_topic(m->cfg, info->id, s);
        publish_json_now(m, topic,
                         mqtt_discovery_payload(m->cfg, info->id, info->name,
                                                model_name(m->model),
                                                SS_VERSION, s),
                         TRUE);
      }
      char *now = alert_classes(info);
      alert_discovery(m, info->id, info->name, "", now, TRUE);
      g_mutex_lock(&m->lock);
      g_hash_table_insert(m->announced, g_strdup(info->id), now);
      g_mutex_unlock(&m->lock);
    }
    g_autofree char *topic = mqtt_stream_topic(m, info->id, "state");
    publish_json_now(m, topic, state_json(info), m->cfg->retain_state);
  }
  g_ptr_array_unref(list);
}
