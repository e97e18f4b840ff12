#define G_LOG_DOMAIN "streamsight"

#include "mqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <string.h>

#include "json-util.h"
#include "mqtt-commands.h"
#include "mqtt-discovery.h"

#ifndef SS_VERSION
#define SS_VERSION NULL
#endif

/* How long the thread waits in mosquitto_loop(): the longest a queued
 * message waits before it is written, and the stop latency. */
#define LOOP_TIMEOUT_MS 50
/* Messages handed to libmosquitto but not yet written out: beyond it the
 * rest stays in our (bounded) queue instead of libmosquitto's (unbounded)
 * one when the broker reads slowly. */
#define INFLIGHT_MAX 128
/* How long mqtt_publisher_free waits for "offline" to go out. */
#define GOODBYE_MS 1000

typedef struct {
  char *topic;
  char *payload; /* NULL with len 0: delete a retained message */
  int len;
  gboolean retain;
} Msg;

struct MqttPublisher {
  /* Immutable after new. */
  MqttConfig *cfg;
  Registry *registry;
  const struct ss_model *model;
  char *available_topic;
  char *set_pattern;        /* <prefix>/+/set */
  gint64 min_interval_us;   /* between predictions of one stream */

  GMutex lock;              /* protects everything down to stop */
  Msg *queue;               /* ring of cfg->queue_len */
  guint head, count;
  GHashTable *last_pred_us; /* stream id -> gint64*: rate limit */
  GHashTable *announced;    /* stream id -> its alert classes ('\n'-joined,
                             * alert_classes) whose discovery was queued */
  gboolean connected;
  char *last_error;
  char *last_command_error;
  gboolean stop;

  /* Atomic. */
  guint64 messages, dropped, connects, connect_failures;
  guint64 commands_applied, commands_rejected;

  /* The thread's own. */
  struct mosquitto *mosq;
  GThread *thread;
  int inflight;
  gboolean has_socket;     /* a connection attempt or session is open */
  gboolean session_up;     /* CONNACK accepted, until the next disconnect */
  gboolean refused;        /* this attempt's CONNACK refused (counted) */
  guint backoff_ms;
  gint64 next_attempt_us;
  gint64 next_state_us;
  char *lib_error;         /* libmosquitto's last error log line */
};

static void
msg_clear(Msg *m)
{
  g_free(m->topic);
  g_free(m->payload);
  memset(m, 0, sizeof *m);
}

static void
set_last_error(MqttPublisher *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Logs a connection problem once per change of text (a broker that stays
 * down, or a wrong password, would otherwise log every backoff). */
static void
set_last_error(MqttPublisher *m, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_mutex_lock(&m->lock);
  gboolean changed = g_strcmp0(msg, m->last_error) != 0;
  g_free(m->last_error);
  m->last_error = msg;
  g_mutex_unlock(&m->lock);
  if (changed)
    g_warning("mqtt %s:%u: %s", m->cfg->host, m->cfg->port, msg);
}

static char *stream_topic(MqttPublisher *m, const char *stream_id,
                          const char *leaf);

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
  msg_clear(&m->queue[(m->head + victim) % cap]);
  /* Close the gap: the older messages move up one place. */
  for (guint i = victim; i > 0; i--)
    m->queue[(m->head + i) % cap] = m->queue[(m->head + i - 1) % cap];
  memset(&m->queue[m->head], 0, sizeof(Msg));
  m->head = (m->head + 1) % cap;
  m->count--;
  __atomic_add_fetch(&m->dropped, 1, __ATOMIC_RELAXED);
}

/* Takes topic and payload. */
static void
enqueue_take(MqttPublisher *m, char *topic, char *payload, int len,
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
  enqueue_take(m, stream_topic(m, stream_id, leaf), g_memdup2(payload, len),
               (int)len, retain);
}

/* Takes json. */
static void
enqueue_json(MqttPublisher *m, char *topic, json_t *json, gboolean retain)
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
  enqueue_take(m, topic, payload, (int)len, retain);
}

static gboolean
dequeue(MqttPublisher *m, Msg *out)
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

static char *
stream_topic(MqttPublisher *m, const char *stream_id, const char *leaf)
{
  return g_strdup_printf("%s/%s/%s", m->cfg->topic_prefix, stream_id, leaf);
}

static void
enqueue_discovery(MqttPublisher *m, const char *id, const char *name)
{
  if (!m->cfg->discovery)
    return;
  for (int s = 0; s < MQTT_N_SENSORS; s++)
    enqueue_json(m, mqtt_discovery_topic(m->cfg, id, s),
                 mqtt_discovery_payload(m->cfg, id, name,
                                        model_name(m->model), SS_VERSION, s),
                 TRUE);
}

static gboolean publish_now(MqttPublisher *m, const char *topic,
                            const void *payload, int len, gboolean retain);
static void publish_json_now(MqttPublisher *m, const char *topic,
                             json_t *json, gboolean retain);

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
      publish_now(m, topic, NULL, 0, TRUE);
      g_free(topic);
    } else {
      enqueue_take(m, topic, NULL, 0, TRUE);
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
      enqueue_json(m, topic, p, TRUE);
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
        publish_now(m, topic, NULL, 0, TRUE);
      g_free(topic);
    } else if (p) {
      enqueue_json(m, topic, p, TRUE);
    } else {
      enqueue_take(m, topic, NULL, 0, TRUE);
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
  enqueue_json(m, stream_topic(m, stream_id, "prediction"),
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
  enqueue_json(m, stream_topic(m, info->id, "state"), state_json(info),
               m->cfg->retain_state);
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
      enqueue_take(m, mqtt_discovery_topic(m->cfg, stream_id, s), NULL, 0,
                   TRUE);
  enqueue_take(m, stream_topic(m, stream_id, "state"), NULL, 0, TRUE);
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

/* ---- libmosquitto callbacks (on our thread, inside mosquitto_loop) ---- */

/* libmosquitto tells the reason of a TLS failure ("certificate verify
 * failed") only in its log: keep the last error line for last_error. */
static void
cb_log(struct mosquitto *mosq, void *user, int level, const char *str)
{
  MqttPublisher *m = user;
  if (!(level & MOSQ_LOG_ERR) || !str)
    return;
  g_free(m->lib_error);
  m->lib_error = g_strndup(str, 200);
}

static void
cb_connect(struct mosquitto *mosq, void *user, int rc)
{
  MqttPublisher *m = user;
  if (rc != 0) {
    /* A wrong password lands here: clear words, and the backoff keeps it
     * from becoming a tight loop. */
    set_last_error(m, "the broker refused the connection: %s",
                   m->cfg->protocol == 5 && rc >= 128
                       ? mosquitto_reason_string(rc)
                       : mosquitto_connack_string(rc));
    __atomic_add_fetch(&m->connect_failures, 1, __ATOMIC_RELAXED);
    m->refused = TRUE;
    return;
  }
  m->session_up = TRUE;
  m->backoff_ms = 0;
  g_clear_pointer(&m->lib_error, g_free);
  m->inflight = 0;
  __atomic_add_fetch(&m->connects, 1, __ATOMIC_RELAXED);
  g_mutex_lock(&m->lock);
  m->connected = TRUE;
  g_mutex_unlock(&m->lock);
  g_message("mqtt: connected to %s:%u", m->cfg->host, m->cfg->port);
}

static void
cb_disconnect(struct mosquitto *mosq, void *user, int rc)
{
  MqttPublisher *m = user;
  gboolean was_up = m->session_up;
  m->session_up = FALSE;
  g_mutex_lock(&m->lock);
  m->connected = FALSE;
  g_mutex_unlock(&m->lock);
  if (was_up && rc != 0) {
    set_last_error(m, "connection lost: %s", mosquitto_strerror(rc));
    __atomic_add_fetch(&m->connect_failures, 1, __ATOMIC_RELAXED);
  }
}

static void
cb_publish(struct mosquitto *mosq, void *user, int mid)
{
  MqttPublisher *m = user;
  if (m->inflight > 0)
    m->inflight--;
  __atomic_add_fetch(&m->messages, 1, __ATOMIC_RELAXED);
}

/* <prefix>/<id>/set: mqtt-commands.c decides, we count. */
static void
cb_message(struct mosquitto *mosq, void *user,
           const struct mosquitto_message *msg)
{
  MqttPublisher *m = user;
  if (!m->cfg->accept_commands)
    return;
  char *id = NULL, *why = NULL;
  MqttCommandResult r = mqtt_command_apply(m->registry, m->cfg->topic_prefix,
                                           msg->topic, msg->payload,
                                           msg->payloadlen, &id, &why);
  if (r == MQTT_COMMAND_APPLIED) {
    __atomic_add_fetch(&m->commands_applied, 1, __ATOMIC_RELAXED);
    g_message("mqtt: %s/%s/set applied", m->cfg->topic_prefix, id);
  } else if (r == MQTT_COMMAND_REJECTED) {
    __atomic_add_fetch(&m->commands_rejected, 1, __ATOMIC_RELAXED);
    g_mutex_lock(&m->lock);
    g_free(m->last_command_error);
    m->last_command_error = g_steal_pointer(&why);
    g_mutex_unlock(&m->lock);
  }
  g_free(id);
  g_free(why);
}

/* ---- the thread ---- */

static gboolean
publish_now(MqttPublisher *m, const char *topic, const void *payload,
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
    publish_now(m, topic, text, (int)len, retain);
  free(text);
}

/* Every stream's state (and, after a connect, its discovery configs). */
static void
publish_streams(MqttPublisher *m, gboolean discovery)
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
    g_autofree char *topic = stream_topic(m, info->id, "state");
    publish_json_now(m, topic, state_json(info), m->cfg->retain_state);
  }
  g_ptr_array_unref(list);
}

/* Right after the broker accepted us: who we are, then everything a
 * subscriber that came while we were away needs. */
static void
on_session_start(MqttPublisher *m)
{
  publish_now(m, m->available_topic, "online", 6, TRUE);
  if (m->cfg->accept_commands)
    mosquitto_subscribe(m->mosq, NULL, m->set_pattern, m->cfg->qos);
  publish_streams(m, TRUE);
  m->next_state_us = g_get_monotonic_time() +
                     (gint64)MQTT_STATE_INTERVAL_S * G_USEC_PER_SEC;
}

/* what: reason, with libmosquitto's own last error line when it logged one
 * (the TLS library's words). */
static void
set_error_detailed(MqttPublisher *m, const char *what, const char *reason)
{
  if (m->lib_error)
    set_last_error(m, "%s: %s (%s)", what, reason, m->lib_error);
  else
    set_last_error(m, "%s: %s", what, reason);
  g_clear_pointer(&m->lib_error, g_free);
}

static void
schedule_reconnect(MqttPublisher *m)
{
  m->backoff_ms = m->backoff_ms == 0
                      ? MQTT_BACKOFF_INITIAL_MS
                      : MIN(m->backoff_ms * 2, (guint)MQTT_BACKOFF_MAX_MS);
  /* +-25 %: replicas that lost the same broker do not return in step. */
  double jitter = g_random_double_range(0.75, 1.25);
  m->next_attempt_us = g_get_monotonic_time() +
                       (gint64)(m->backoff_ms * jitter * 1000);
}

static void
try_connect(MqttPublisher *m, gboolean first)
{
  errno = 0;
  int rc = first ? mosquitto_connect_async(m->mosq, m->cfg->host,
                                           (int)m->cfg->port,
                                           (int)m->cfg->keepalive_s)
                 : mosquitto_reconnect_async(m->mosq);
  if (rc == MOSQ_ERR_SUCCESS) {
    m->has_socket = TRUE;
    return;
  }
  if (rc == MOSQ_ERR_ERRNO)
    set_last_error(m, "cannot connect: %s", g_strerror(errno));
  else if (rc == MOSQ_ERR_EAI)
    set_last_error(m, "cannot resolve the host name");
  else
    set_error_detailed(m, "cannot connect", mosquitto_strerror(rc));
  __atomic_add_fetch(&m->connect_failures, 1, __ATOMIC_RELAXED);
  schedule_reconnect(m);
}

static gboolean
stopping(MqttPublisher *m)
{
  g_mutex_lock(&m->lock);
  gboolean s = m->stop;
  g_mutex_unlock(&m->lock);
  return s;
}

static gpointer
thread_main(gpointer user)
{
  MqttPublisher *m = user;
  gboolean first = TRUE;
  gboolean was_up = FALSE;
  while (!stopping(m)) {
    gint64 now = g_get_monotonic_time();
    if (!m->has_socket) {
      if (now >= m->next_attempt_us) {
        try_connect(m, first);
        first = FALSE;
      }
      if (!m->has_socket) {
        g_usleep(LOOP_TIMEOUT_MS * 1000);
        continue;
      }
    }
    gboolean up_before = m->session_up;
    int rc = mosquitto_loop(m->mosq, LOOP_TIMEOUT_MS, 1);
    int err = errno; /* for MOSQ_ERR_ERRNO, before anything else runs */
    if (m->session_up && !was_up)
      on_session_start(m);
    was_up = m->session_up;
    if (rc != MOSQ_ERR_SUCCESS) {
      /* The attempt or the session is over: refused (the callback said
       * why), unreachable, or lost. */
      /* MQTT 5 refusals end the loop with a protocol error rather than
       * MOSQ_ERR_CONN_REFUSED: the callback counted and explained them. */
      gboolean refused = m->refused || rc == MOSQ_ERR_CONN_REFUSED;
      m->refused = FALSE;
      if (!m->session_up && !refused) {
        g_mutex_lock(&m->lock);
        gboolean had_error = m->last_error != NULL;
        g_mutex_unlock(&m->lock);
        if (rc == MOSQ_ERR_ERRNO || !had_error || m->lib_error)
          set_error_detailed(m, "connection failed",
                             rc == MOSQ_ERR_ERRNO ? g_strerror(err)
                                                  : mosquitto_strerror(rc));
        /* An attempt that failed on the way (refused port, TLS); a refused
         * CONNACK and a lost session are counted by the callbacks. */
        if (!up_before)
          __atomic_add_fetch(&m->connect_failures, 1, __ATOMIC_RELAXED);
      }
      mosquitto_disconnect(m->mosq);
      m->has_socket = FALSE;
      m->session_up = FALSE;
      was_up = FALSE;
      g_mutex_lock(&m->lock);
      m->connected = FALSE;
      g_mutex_unlock(&m->lock);
      schedule_reconnect(m);
      continue;
    }
    if (!m->session_up)
      continue;
    Msg msg;
    while (m->inflight < INFLIGHT_MAX && dequeue(m, &msg)) {
      publish_now(m, msg.topic, msg.payload, msg.len, msg.retain);
      msg_clear(&msg);
    }
    if (g_get_monotonic_time() >= m->next_state_us) {
      publish_streams(m, FALSE);
      m->next_state_us = g_get_monotonic_time() +
                         (gint64)MQTT_STATE_INTERVAL_S * G_USEC_PER_SEC;
    }
  }
  /* A clean goodbye: the broker does not send the will on a normal
   * disconnect, so say "offline" ourselves. */
  if (m->session_up) {
    int mid = 0;
    if (mosquitto_publish(m->mosq, &mid, m->available_topic, 7, "offline",
                          m->cfg->qos, TRUE) == MOSQ_ERR_SUCCESS) {
      m->inflight++;
      gint64 deadline = g_get_monotonic_time() + GOODBYE_MS * 1000;
      guint64 before = __atomic_load_n(&m->messages, __ATOMIC_RELAXED);
      while (g_get_monotonic_time() < deadline &&
             __atomic_load_n(&m->messages, __ATOMIC_RELAXED) == before &&
             mosquitto_loop(m->mosq, LOOP_TIMEOUT_MS, 1) == MOSQ_ERR_SUCCESS)
        ;
    }
    mosquitto_disconnect(m->mosq);
    mosquitto_loop(m->mosq, LOOP_TIMEOUT_MS, 1);
  }
  return NULL;
}

/* ---- life cycle ---- */

static gpointer
lib_init(gpointer unused)
{
  mosquitto_lib_init();
  return NULL;
}

static gboolean
check_readable(const char *path, const char *key, GError **error)
{
  if (!path || g_file_test(path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
              "%s: '%s' is not a readable file", key, path);
  return FALSE;
}

MqttPublisher *
mqtt_publisher_new(const MqttConfig *cfg, Registry *registry,
                   const struct ss_model *model, GError **error)
{
  static GOnce once = G_ONCE_INIT;
  g_once(&once, lib_init, NULL);
  if (!check_readable(cfg->tls_ca, "mqtt.tls.ca", error) ||
      !check_readable(cfg->tls_cert, "mqtt.tls.cert", error) ||
      !check_readable(cfg->tls_key, "mqtt.tls.key", error))
    return NULL;

  MqttPublisher *m = g_new0(MqttPublisher, 1);
  m->cfg = mqtt_config_copy(cfg);
  m->registry = registry;
  m->model = model;
  m->available_topic = mqtt_availability_topic(cfg);
  m->set_pattern = g_strdup_printf("%s/+/set", cfg->topic_prefix);
  m->min_interval_us = cfg->max_rate_hz > 0
                           ? (gint64)(G_USEC_PER_SEC / cfg->max_rate_hz)
                           : -1;
  g_mutex_init(&m->lock);
  m->queue = g_new0(Msg, m->cfg->queue_len);
  m->last_pred_us = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free);
  m->announced = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       g_free);

  m->mosq = mosquitto_new(cfg->client_id, true, m);
  if (!m->mosq) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "mqtt: cannot create the client: %s", g_strerror(errno));
    goto fail;
  }
  mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                       cfg->protocol == 5 ? MQTT_PROTOCOL_V5
                                          : MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(m->mosq, cb_connect);
  mosquitto_disconnect_callback_set(m->mosq, cb_disconnect);
  mosquitto_publish_callback_set(m->mosq, cb_publish);
  mosquitto_message_callback_set(m->mosq, cb_message);
  mosquitto_log_callback_set(m->mosq, cb_log);
  int rc = mosquitto_will_set(m->mosq, m->available_topic, 7, "offline",
                              cfg->qos, true);
  if (rc == MOSQ_ERR_SUCCESS && cfg->username)
    rc = mosquitto_username_pw_set(m->mosq, cfg->username, cfg->password);
  if (rc == MOSQ_ERR_SUCCESS && cfg->tls)
    rc = mosquitto_tls_set(m->mosq, cfg->tls_ca,
                           cfg->tls_ca ? NULL : "/etc/ssl/certs",
                           cfg->tls_cert, cfg->tls_key, NULL);
  if (rc != MOSQ_ERR_SUCCESS) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "mqtt: cannot configure the client: %s",
                mosquitto_strerror(rc));
    goto fail;
  }
  m->thread = g_thread_new("ss-mqtt", thread_main, m);
  return m;

fail:
  mqtt_publisher_free(m);
  return NULL;
}

void
mqtt_publisher_free(MqttPublisher *m)
{
  if (!m)
    return;
  if (m->thread) {
    g_mutex_lock(&m->lock);
    m->stop = TRUE;
    g_mutex_unlock(&m->lock);
    g_thread_join(m->thread);
  }
  if (m->mosq)
    mosquitto_destroy(m->mosq);
  for (guint i = 0; i < m->count; i++)
    msg_clear(&m->queue[(m->head + i) % m->cfg->queue_len]);
  g_free(m->queue);
  g_hash_table_unref(m->last_pred_us);
  g_hash_table_unref(m->announced);
  g_free(m->last_error);
  g_free(m->last_command_error);
  g_free(m->lib_error);
  g_free(m->available_topic);
  g_free(m->set_pattern);
  g_mutex_clear(&m->lock);
  mqtt_config_free(m->cfg);
  g_free(m);
}

void
mqtt_publisher_stats(MqttPublisher *m, MqttStats *out)
{
  memset(out, 0, sizeof *out);
  g_mutex_lock(&m->lock);
  out->connected = m->connected;
  out->queued = m->count;
  out->last_error = g_strdup(m->last_error);
  out->last_command_error = g_strdup(m->last_command_error);
  g_mutex_unlock(&m->lock);
  out->messages = __atomic_load_n(&m->messages, __ATOMIC_RELAXED);
  out->dropped = __atomic_load_n(&m->dropped, __ATOMIC_RELAXED);
  out->connects = __atomic_load_n(&m->connects, __ATOMIC_RELAXED);
  out->connect_failures =
      __atomic_load_n(&m->connect_failures, __ATOMIC_RELAXED);
  out->commands_applied =
      __atomic_load_n(&m->commands_applied, __ATOMIC_RELAXED);
  out->commands_rejected =
      __atomic_load_n(&m->commands_rejected, __ATOMIC_RELAXED);
  out->host = g_strdup(m->cfg->host);
  out->port = m->cfg->port;
  out->queue_capacity = m->cfg->queue_len;
  out->topic_prefix = g_strdup(m->cfg->topic_prefix);
}
