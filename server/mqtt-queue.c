/* streamsight — the MQTT publisher's bounded queue, filled from any thread
 * and emptied by the publisher's thread (mqtt-internal.h). */
#define G_LOG_DOMAIN "streamsight"

#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "mqtt-internal.h"

void
mqtt_msg_clear(Msg *m)
{
  g_free(m->topic);
  g_free(m->payload);
  memset(m, 0, sizeof *m);
}

/* ---- the queue (any thread) ---- */

/* The queue is full: drops its oldest prediction, or its oldest message
 * when it holds only retained ones. Retained messages (states, discovery,
 * the empty payloads that delete a removed stream's topics) are kept
 * first: a lost prediction is superseded within a second, a lost deletion
 * would leave a removed camera in Home Assistant. m->lock held. */
static void
drop_oldest_locked(MqttPublisher *m)
{
  guint cap = m->cfg->queue_len, victim = 0;
  for (guint i = 0; i < m->count; i++) {
    if (!m->queue[(m->head + i) % cap].retain) {
      victim = i;
      break;
    }
  }
  mqtt_msg_clear(&m->queue[(m->head + victim) % cap]);
  /* Close the gap: the older messages move up one place. */
  for (guint i = victim; i > 0; i--)
    m->queue[(m->head + i) % cap] = m->queue[(m->head + i - 1) % cap];
  memset(&m->queue[m->head], 0, sizeof(Msg));
  m->head = (m->head + 1) % cap;
  m->count--;
  __atomic_add_fetch(&m->dropped, 1, __ATOMIC_RELAXED);
}

/* Takes topic and payload. */
void
mqtt_enqueue_take(MqttPublisher *m, char *topic, char *payload, int len,
                  gboolean retain)
{
  g_mutex_lock(&m->lock);
  if (m->count == m->cfg->queue_len)
    drop_oldest_locked(m);
  Msg *q = &m->queue[(m->head + m->count) % m->cfg->queue_len];
  q->topic = topic;
  q->payload = payload;
  q->len = len;
  q->retain = retain;
  m->count++;
  g_mutex_unlock(&m->lock);
}

void
mqtt_publisher_enqueue(MqttPublisher *m, const char *stream_id,
                       const char *leaf, const void *payload, gsize len,
                       gboolean retain)
{
  if (len > G_MAXINT)
    return;
  mqtt_enqueue_take(m, mqtt_stream_topic(m, stream_id, leaf),
                    g_memdup2(payload, len), (int)len, retain);
}

/* Takes json. */
void
mqtt_enqueue_json(MqttPublisher *m, char *topic, json_t *json,
                  gboolean retain)
{
  size_t len = 0;
  char *text = json_util_dump(json, &len);
  json_decref(json);
  if (!text || len > G_MAXINT) {
    free(text);
    g_free(topic);
    return;
  }
  char *payload = g_strndup(text, len);
  free(text);
  mqtt_enqueue_take(m, topic, payload, (int)len, retain);
}

gboolean
mqtt_dequeue(MqttPublisher *m, Msg *out)
{
  g_mutex_lock(&m->lock);
  gboolean any = m->count > 0;
  if (any) {
    *out = m->queue[m->head];
    memset(&m->queue[m->head], 0, sizeof(Msg));
    m->head = (m->head + 1) % m->cfg->queue_len;
    m->count--;
  }
  g_mutex_unlock(&m->lock);
  return any;
}
