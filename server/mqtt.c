/* streamsight — the MQTT publisher's life cycle: creation (checks, the
 * libmosquitto client, the thread), stop, stats. See mqtt.h. */
#define G_LOG_DOMAIN "streamsight"

#include "mqtt.h"

#include <errno.h>
#include <string.h>

#include "mqtt-internal.h"

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
  mqtt_connection_set_callbacks(m->mosq);
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
  m->thread = g_thread_new("ss-mqtt", mqtt_connection_main, m);
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
    mqtt_msg_clear(&m->queue[(m->head + i) % m->cfg->queue_len]);
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
