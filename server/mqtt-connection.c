/* streamsight — the MQTT publisher's connection: libmosquitto's callbacks,
 * connecting and reconnecting with backoff, and the thread that runs the
 * session and empties the queue (mqtt-internal.h). */
#define G_LOG_DOMAIN "streamsight"

#include <errno.h>
#include <string.h>

#include "mqtt-commands.h"
#include "mqtt-internal.h"

/* How long the thread waits in mosquitto_loop(): the longest a queued
 * message waits before it is written, and the stop latency. */
#define LOOP_TIMEOUT_MS 50
/* Messages handed to libmosquitto but not yet written out: beyond it the
 * rest stays in our (bounded) queue instead of libmosquitto's (unbounded)
 * one when the broker reads slowly. */
#define INFLIGHT_MAX 128
/* How long mqtt_publisher_free waits for "offline" to go out. */
#define GOODBYE_MS 1000

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

/* Sets the callbacks above on mosq. */
void
mqtt_connection_set_callbacks(struct mosquitto *mosq)
{
  mosquitto_connect_callback_set(mosq, cb_connect);
  mosquitto_disconnect_callback_set(mosq, cb_disconnect);
  mosquitto_publish_callback_set(mosq, cb_publish);
  mosquitto_message_callback_set(mosq, cb_message);
  mosquitto_log_callback_set(mosq, cb_log);
}

/* ---- the thread ---- */

/* Right after the broker accepted us: who we are, then everything a
 * subscriber that came while we were away needs. */
static void
on_session_start(MqttPublisher *m)
{
  mqtt_publish_now(m, m->available_topic, "online", 6, TRUE);
  if (m->cfg->accept_commands)
    mosquitto_subscribe(m->mosq, NULL, m->set_pattern, m->cfg->qos);
  mqtt_publish_streams(m, TRUE);
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

gpointer
mqtt_connection_main(gpointer user)
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
    while (m->inflight < INFLIGHT_MAX && mqtt_dequeue(m, &msg)) {
      mqtt_publish_now(m, msg.topic, msg.payload, msg.len, msg.retain);
      mqtt_msg_clear(&msg);
    }
    if (g_get_monotonic_time() >= m->next_state_us) {
      mqtt_publish_streams(m, FALSE);
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
