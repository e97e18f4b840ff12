#define G_LOG_DOMAIN "streamsight"

#include "mqtt-config.h"

#include <string.h>

#include "json-util.h"

#define HOST_MAX 255
#define CREDENTIAL_MAX 1024
#define PATH_MAX_LEN 4096

static const char *const mqtt_keys[] = {
  "host", "port", "username", "password", "client_id", "topic_prefix", "qos",
  "retain_state", "tls", "keepalive_s", "max_rate_hz", "accept_commands",
  "discovery", "queue_len", "protocol", NULL
};
/* MQTT protocol levels by name: 4 and 5 on the wire. */
static const char *const protocol_names[] = { "3.1.1", "5", NULL };
static const char *const tls_keys[] = { "ca", "cert", "key", NULL };
static const char *const discovery_keys[] = { "enabled", "prefix", NULL };

static gboolean
invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
invalid(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID, msg);
  g_free(msg);
  return FALSE;
}

/* The defaults, no host. */
static MqttConfig *
mqtt_config_new(void)
{
  MqttConfig *c = g_new0(MqttConfig, 1);
  c->topic_prefix = g_strdup(MQTT_DEFAULT_TOPIC_PREFIX);
  c->qos = 0;
  c->retain_state = TRUE;
  c->keepalive_s = MQTT_DEFAULT_KEEPALIVE_S;
  c->max_rate_hz = MQTT_DEFAULT_MAX_RATE_HZ;
  c->discovery = TRUE;
  c->discovery_prefix = g_strdup(MQTT_DEFAULT_DISCOVERY_PREFIX);
  c->queue_len = MQTT_DEFAULT_QUEUE_LEN;
  c->protocol = 4;
  return c;
}

void
mqtt_config_free(MqttConfig *c)
{
  if (!c)
    return;
  g_free(c->host);
  g_free(c->username);
  if (c->password)
    memset(c->password, 0, strlen(c->password));
  g_free(c->password);
  g_free(c->client_id);
  g_free(c->topic_prefix);
  g_free(c->tls_ca);
  g_free(c->tls_cert);
  g_free(c->tls_key);
  g_free(c->discovery_prefix);
  g_free(c->node);
  g_free(c);
}

MqttConfig *
mqtt_config_copy(const MqttConfig *c)
{
  MqttConfig *n = g_new0(MqttConfig, 1);
  *n = *c;
  n->host = g_strdup(c->host);
  n->username = g_strdup(c->username);
  n->password = g_strdup(c->password);
  n->client_id = g_strdup(c->client_id);
  n->topic_prefix = g_strdup(c->topic_prefix);
  n->tls_ca = g_strdup(c->tls_ca);
  n->tls_cert = g_strdup(c->tls_cert);
  n->tls_key = g_strdup(c->tls_key);
  n->discovery_prefix = g_strdup(c->discovery_prefix);
  n->node = g_strdup(c->node);
  return n;
}

char *
mqtt_availability_topic(const MqttConfig *c)
{
  if (c->node)
    return g_strdup_printf("%s/available/%s", c->topic_prefix, c->node);
  return g_strdup_printf("%s/available", c->topic_prefix);
}

/* A topic prefix is usable: 1..MQTT_PREFIX_MAX bytes of printable ASCII
 * without the wildcards + and #, not starting or ending with '/'. */
static gboolean
mqtt_topic_prefix_is_valid(const char *p)
{
  gsize n = p ? strlen(p) : 0;
  if (n == 0 || n > MQTT_PREFIX_MAX || p[0] == '/' || p[n - 1] == '/')
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch < 0x21 || ch > 0x7e || ch == '+' || ch == '#')
      return FALSE;
  }
  return TRUE;
}

/* A host name or numeric address: no spaces, control characters or URL
 * punctuation, so that it cannot smuggle anything into a log line. */
static gboolean
host_is_valid(const char *h)
{
  gsize n = strlen(h);
  if (n == 0 || n > HOST_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    char ch = h[i];
    if (!(g_ascii_isalnum(ch) || ch == '.' || ch == '-' || ch == '_' ||
          ch == ':'))
      return FALSE;
  }
  return TRUE;
}

/* MQTT client ids: printable ASCII without spaces. */
static gboolean
client_id_is_valid(const char *s)
{
  gsize n = strlen(s);
  if (n == 0 || n > MQTT_CLIENT_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
      return FALSE;
  return TRUE;
}

MqttConfig *
mqtt_config_from_json(json_t *obj, gboolean url_given, GError **error)
{
  MqttConfig *c = mqtt_config_new();
  gint64 i64;
  gboolean present;
  json_t *sub;

  if (!json_is_object(obj)) {
    invalid(error, "mqtt: must be an object");
    goto fail;
  }
  if (!json_util_check_keys(obj, "mqtt.", mqtt_keys, error))
    goto fail;
  if (!json_util_get_string(obj, "mqtt.", "host", HOST_MAX, &c->host,
                            &present, error))
    goto fail;
  if (present && !host_is_valid(c->host)) {
    invalid(error, "mqtt.host: must be a host name or a numeric address");
    goto fail;
  }
  if (!c->host && !url_given) {
    invalid(error, "mqtt.host: required (or set STREAMSIGHT_MQTT_URL)");
    goto fail;
  }
  i64 = 0;
  if (!json_util_get_int(obj, "mqtt.", "port", 1, 65535, &i64, NULL, error))
    goto fail;
  c->port = (guint)i64;
  if (!json_util_get_string(obj, "mqtt.", "username", CREDENTIAL_MAX,
                            &c->username, NULL, error))
    goto fail;
  /* The password is checked as a string: json-util's messages name the key
   * and the expected type, never the value. */
  if (!json_util_get_string(obj, "mqtt.", "password", CREDENTIAL_MAX,
                            &c->password, NULL, error))
    goto fail;
  if (!json_util_get_string(obj, "mqtt.", "client_id", MQTT_CLIENT_ID_MAX,
                            &c->client_id, &present, error))
    goto fail;
  if (present && !client_id_is_valid(c->client_id)) {
    invalid(error, "mqtt.client_id: must be printable ASCII without spaces");
    goto fail;
  }
  if (!json_util_get_string(obj, "mqtt.", "topic_prefix", MQTT_PREFIX_MAX,
                            &c->topic_prefix, NULL, error))
    goto fail;
  if (!mqtt_topic_prefix_is_valid(c->topic_prefix)) {
    invalid(error, "mqtt.topic_prefix: must be 1..%d printable characters "
            "without spaces, '+' or '#', not starting or ending with '/'",
            MQTT_PREFIX_MAX);
    goto fail;
  }
  i64 = c->qos;
  if (!json_util_get_int(obj, "mqtt.", "qos", 0, 2, &i64, NULL, error))
    goto fail;
  c->qos = (int)i64;
  if (!json_util_get_bool(obj, "mqtt.", "retain_state", &c->retain_state,
                          NULL, error))
    goto fail;
  i64 = c->keepalive_s;
  if (!json_util_get_int(obj, "mqtt.", "keepalive_s", 5, 3600, &i64, NULL,
                         error))
    goto fail;
  c->keepalive_s = (guint)i64;
  if (!json_util_get_number(obj, "mqtt.", "max_rate_hz", &c->max_rate_hz,
                            NULL, error))
    goto fail;
  if (!(c->max_rate_hz >= 0 && c->max_rate_hz <= 100)) {
    invalid(error, "mqtt.max_rate_hz: must be a number 0..100 (predictions "
            "per stream per second; 0: none)");
    goto fail;
  }
  int proto = 0;
  gboolean proto_set = FALSE;
  if (!json_util_get_enum(obj, "mqtt.", "protocol", protocol_names, &proto,
                          &proto_set, error))
    goto fail;
  if (proto_set)
    c->protocol = proto == 0 ? 4 : 5;
  i64 = c->queue_len;
  if (!json_util_get_int(obj, "mqtt.", "queue_len", MQTT_QUEUE_MIN,
                         MQTT_QUEUE_MAX, &i64, NULL, error))
    goto fail;
  c->queue_len = (guint)i64;
  if (!json_util_get_bool(obj, "mqtt.", "accept_commands",
                          &c->accept_commands, NULL, error))
    goto fail;

  if (!json_util_get_object(obj, "mqtt.", "tls", &sub, error))
    goto fail;
  if (sub) {
    c->tls = TRUE;
    if (!json_util_check_keys(sub, "mqtt.tls.", tls_keys, error) ||
        !json_util_get_string(sub, "mqtt.tls.", "ca", PATH_MAX_LEN,
                              &c->tls_ca, NULL, error) ||
        !json_util_get_string(sub, "mqtt.tls.", "cert", PATH_MAX_LEN,
                              &c->tls_cert, NULL, error) ||
        !json_util_get_string(sub, "mqtt.tls.", "key", PATH_MAX_LEN,
                              &c->tls_key, NULL, error))
      goto fail;
    if (!c->tls_cert != !c->tls_key) {
      invalid(error, "%s: required when %s is set",
              c->tls_cert ? "mqtt.tls.key" : "mqtt.tls.cert",
              c->tls_cert ? "mqtt.tls.cert" : "mqtt.tls.key");
      goto fail;
    }
  }

  if (!json_util_get_object(obj, "mqtt.", "discovery", &sub, error))
    goto fail;
  if (sub) {
    if (!json_util_check_keys(sub, "mqtt.discovery.", discovery_keys, error) ||
        !json_util_get_bool(sub, "mqtt.discovery.", "enabled", &c->discovery,
                            NULL, error) ||
        !json_util_get_string(sub, "mqtt.discovery.", "prefix",
                              MQTT_PREFIX_MAX, &c->discovery_prefix, NULL,
                              error))
      goto fail;
    if (!mqtt_topic_prefix_is_valid(c->discovery_prefix)) {
      invalid(error, "mqtt.discovery.prefix: must be 1..%d printable "
              "characters without spaces, '+' or '#', not starting or ending "
              "with '/'", MQTT_PREFIX_MAX);
      goto fail;
    }
  }
  if (c->port == 0)
    c->port = c->tls ? MQTT_DEFAULT_TLS_PORT : MQTT_DEFAULT_PORT;
  return c;

fail:
  mqtt_config_free(c);
  return NULL;
}

/* Percent-decoded user information, or NULL when it is not valid (control
 * characters, bad escapes). */
static char *
unescape_credential(const char *s, gssize len)
{
  char *v = g_uri_unescape_segment(s, s + len, NULL);
  if (!v)
    return NULL;
  for (const char *p = v; *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      memset(v, 0, strlen(v));
      g_free(v);
      return NULL;
    }
  }
  if (strlen(v) > CREDENTIAL_MAX) {
    g_free(v);
    return NULL;
  }
  return v;
}

gboolean
mqtt_config_apply_url(MqttConfig **pc, const char *url, GError **error)
{
  const char *what = "STREAMSIGHT_MQTT_URL";
  if (!url || !*url) {
    mqtt_config_free(*pc);
    *pc = NULL;
    return TRUE;
  }
  gboolean tls;
  const char *rest;
  if (g_str_has_prefix(url, "mqtt://")) {
    tls = FALSE;
    rest = url + strlen("mqtt://");
  } else if (g_str_has_prefix(url, "mqtts://")) {
    tls = TRUE;
    rest = url + strlen("mqtts://");
  } else {
    return invalid(error, "%s: must start with mqtt:// or mqtts://", what);
  }
  /* The authority ends at the first '/', '?' or '#'; a path is not used. */
  gsize alen = strcspn(rest, "/?#");
  if (rest[alen] && strcmp(rest + alen, "/") != 0)
    return invalid(error, "%s: must be mqtt[s]://[user[:password]@]host"
                   "[:port] (no path or query)", what);
  /* The last '@' ends the user information (a password may hold '@' only
   * percent-encoded, but be lenient). */
  const char *at = g_strrstr_len(rest, (gssize)alen, "@");
  g_autofree char *user = NULL, *pass = NULL, *host = NULL;
  const char *hp = rest;
  if (at) {
    const char *colon = memchr(rest, ':', (gsize)(at - rest));
    gssize ulen = colon ? colon - rest : at - rest;
    user = unescape_credential(rest, ulen);
    if (colon)
      pass = unescape_credential(colon + 1, at - colon - 1);
    if (!user || (colon && !pass))
      return invalid(error, "%s: the user name or password is not valid "
                     "percent-encoded text", what);
    hp = at + 1;
  }
  gsize hlen = (gsize)(rest + alen - hp);
  guint64 port = tls ? MQTT_DEFAULT_TLS_PORT : MQTT_DEFAULT_PORT;
  const char *pcolon = NULL;
  if (hlen > 0 && hp[0] == '[') {
    const char *close = memchr(hp, ']', hlen);
    if (!close)
      return invalid(error, "%s: unterminated [IPv6 address]", what);
    host = g_strndup(hp + 1, (gsize)(close - hp - 1));
    if ((gsize)(close + 1 - hp) < hlen) {
      if (close[1] != ':')
        return invalid(error, "%s: expected :port after ]", what);
      pcolon = close + 1;
    }
  } else {
    pcolon = memchr(hp, ':', hlen);
    host = g_strndup(hp, pcolon ? (gsize)(pcolon - hp) : hlen);
  }
  if (pcolon) {
    g_autofree char *ps = g_strndup(pcolon + 1,
                                    (gsize)(hp + hlen - pcolon - 1));
    if (!g_ascii_string_to_unsigned(ps, 10, 1, 65535, &port, NULL))
      return invalid(error, "%s: the port must be an integer 1..65535",
                     what);
  }
  if (!host_is_valid(host))
    return invalid(error, "%s: missing or invalid host", what);

  MqttConfig *c = *pc ? *pc : mqtt_config_new();
  g_free(c->host);
  c->host = g_steal_pointer(&host);
  c->port = (guint)port;
  if (user) {
    g_free(c->username);
    c->username = *user ? g_steal_pointer(&user) : NULL;
    if (c->password)
      memset(c->password, 0, strlen(c->password));
    g_free(c->password);
    c->password = g_steal_pointer(&pass);
  }
  c->tls = tls;
  *pc = c;
  return TRUE;
}
