/* streamsight — the MQTT suites' broker, subscriber and server (see
 * mqtt-fixture.h).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqtt-fixture.h"
#include "prom-check.h"
#include "testutil.h"

/* Starts argv (NULL-terminated, at most 8 entries) so that it dies with
 * this process: a failed assertion must not leave a broker or a server
 * running (setpriv --pdeathsig, util-linux; exec keeps the pid). */
static void
spawn_tied(Child *c, char **argv, char **envp, const char *log)
{
  char *full[16];
  guint n = 0;
  g_autofree char *setpriv = g_find_program_in_path("setpriv");
  if (setpriv) {
    full[n++] = setpriv;
    full[n++] = "--pdeathsig";
    full[n++] = "KILL";
    full[n++] = "--";
  }
  for (guint i = 0; argv[i] && n + 1 < G_N_ELEMENTS(full); i++)
    full[n++] = argv[i];
  full[n] = NULL;
  ck_assert(child_spawn(c, full, envp, log));
}

/* ---- the broker ---- */

static const char *
mosquitto_exe(void)
{
  static const char *const paths[] = { "/usr/sbin/mosquitto",
                                       "/usr/bin/mosquitto", NULL };
  for (int i = 0; paths[i]; i++)
    if (g_file_test(paths[i], G_FILE_TEST_IS_EXECUTABLE))
      return paths[i];
  return NULL;
}

gboolean
make_password_file(const char *dir)
{
  g_autofree char *path = g_build_filename(dir, "passwd", NULL);
  const char *argv[] = { "mosquitto_passwd", "-b", "-c", path, USER, PASS,
                         NULL };
  int status = 0;
  g_autoptr(GError) e = NULL;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                    NULL, NULL, NULL, &status, &e) ||
      !g_spawn_check_wait_status(status, NULL)) {
    printf("mosquitto_passwd failed: %s\n", e ? e->message : "exit status");
    return FALSE;
  }
  chmod(path, 0600);
  return TRUE;
}

void
broker_start_full(Broker *b, const char *dir, const char *tls_dir,
                  guint port, gboolean persist)
{
  memset(b, 0, sizeof *b);
  b->dir = g_strdup(dir);
  b->port = port ? port : free_port();
  b->conf = g_build_filename(dir, "mosquitto.conf", NULL);
  GString *c = g_string_new(NULL);
  /* Started as root, mosquitto drops to user "mosquitto", which cannot
   * read our 0700 temporary directory: stay who we are. */
  g_string_append_printf(c, "user %s\n", g_get_user_name());
  g_string_append_printf(c, "listener %u 127.0.0.1\n", b->port);
  g_string_append_printf(c, "allow_anonymous false\npassword_file %s/passwd\n"
                         "persistence %s\n", dir, persist ? "true" : "false");
  if (persist)
    g_string_append_printf(c, "persistence_location %s/\nautosave_interval 1\n",
                           dir);
  if (tls_dir)
    g_string_append_printf(c, "cafile %s/ca.crt\ncertfile %s/server.crt\n"
                           "keyfile %s/server.key\n", tls_dir, tls_dir,
                           tls_dir);
  ck_assert(g_file_set_contents(b->conf, c->str, -1, NULL));
  g_string_free(c, TRUE);
  g_autofree char *log = g_build_filename(dir, "broker.log", NULL);
  char *argv[] = { (char *)mosquitto_exe(), "-c", b->conf, NULL };
  spawn_tied(&b->child, argv, NULL, log);
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  int fd = -1;
  while ((fd = connect_port(b->port, 1)) < 0 &&
         g_get_monotonic_time() < deadline && child_running(&b->child))
    g_usleep(50 * 1000);
  if (fd < 0) {
    g_autofree char *tail = child_log_tail(&b->child);
    ck_abort_msg("mosquitto did not start on port %u:\n%s", b->port, tail);
  }
  close(fd);
}

void
broker_start(Broker *b, const char *dir, const char *tls_dir, guint port)
{
  broker_start_full(b, dir, tls_dir, port, FALSE);
}

void
broker_stop(Broker *b, int sig)
{
  if (b->child.pid > 0)
    child_finish(&b->child, sig, 10);
  child_clear(&b->child);
  g_free(b->conf);
  g_free(b->dir);
  memset(b, 0, sizeof *b);
}

/* ---- a subscriber that records everything ---- */

static void
rec_free(gpointer p)
{
  Rec *r = p;
  g_free(r->topic);
  g_free(r->payload);
  g_free(r);
}

static void
sub_on_connect(struct mosquitto *mosq, void *user, int rc)
{
  Sub *s = user;
  if (rc == 0)
    mosquitto_subscribe(mosq, NULL, "#", 1);
  g_mutex_lock(&s->lock);
  s->connected = rc == 0;
  g_mutex_unlock(&s->lock);
}

static void
sub_on_message(struct mosquitto *mosq, void *user,
               const struct mosquitto_message *m)
{
  Sub *s = user;
  Rec *r = g_new0(Rec, 1);
  r->topic = g_strdup(m->topic);
  r->payload = g_strndup(m->payload ? m->payload : "", (gsize)m->payloadlen);
  r->len = m->payloadlen;
  r->retained = m->retain;
  r->at_us = g_get_monotonic_time();
  g_mutex_lock(&s->lock);
  g_ptr_array_add(s->msgs, r);
  g_mutex_unlock(&s->lock);
}

Sub *
sub_new(guint port, const char *ca)
{
  Sub *s = g_new0(Sub, 1);
  g_mutex_init(&s->lock);
  s->msgs = g_ptr_array_new_with_free_func(rec_free);
  s->mosq = mosquitto_new(NULL, true, s);
  ck_assert_ptr_nonnull(s->mosq);
  mosquitto_connect_callback_set(s->mosq, sub_on_connect);
  mosquitto_message_callback_set(s->mosq, sub_on_message);
  mosquitto_username_pw_set(s->mosq, USER, PASS);
  if (ca)
    ck_assert_int_eq(mosquitto_tls_set(s->mosq, ca, NULL, NULL, NULL, NULL),
                     MOSQ_ERR_SUCCESS);
  mosquitto_reconnect_delay_set(s->mosq, 1, 2, false);
  ck_assert_int_eq(mosquitto_connect_async(s->mosq, "127.0.0.1", (int)port,
                                           30), MOSQ_ERR_SUCCESS);
  ck_assert_int_eq(mosquitto_loop_start(s->mosq), MOSQ_ERR_SUCCESS);
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  gboolean up = FALSE;
  while (!up && g_get_monotonic_time() < deadline) {
    g_mutex_lock(&s->lock);
    up = s->connected;
    g_mutex_unlock(&s->lock);
    if (!up)
      g_usleep(20 * 1000);
  }
  ck_assert_msg(up, "the test subscriber could not connect");
  g_usleep(200 * 1000); /* the SUBACK, so that nothing is missed */
  return s;
}

void
sub_free(Sub *s)
{
  mosquitto_disconnect(s->mosq);
  mosquitto_loop_stop(s->mosq, true);
  mosquitto_destroy(s->mosq);
  g_ptr_array_unref(s->msgs);
  g_mutex_clear(&s->lock);
  g_free(s);
}

char *
sub_wait(Sub *s, const char *topic, const char *want, gint64 since_us,
         double timeout_s, gboolean *retained)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  do {
    char *found = NULL;
    g_mutex_lock(&s->lock);
    for (guint i = 0; i < s->msgs->len && !found; i++) {
      Rec *r = g_ptr_array_index(s->msgs, i);
      if (r->at_us < since_us || strcmp(r->topic, topic) != 0)
        continue;
      if (want && (*want ? strstr(r->payload, want) == NULL : r->len != 0))
        continue;
      found = g_strdup(r->payload);
      if (retained)
        *retained = r->retained;
    }
    g_mutex_unlock(&s->lock);
    if (found)
      return found;
    g_usleep(50 * 1000);
  } while (g_get_monotonic_time() < deadline);
  return NULL;
}

guint
sub_count(Sub *s, const char *topic, gint64 from_us, gint64 to_us)
{
  guint n = 0;
  g_mutex_lock(&s->lock);
  for (guint i = 0; i < s->msgs->len; i++) {
    Rec *r = g_ptr_array_index(s->msgs, i);
    n += strcmp(r->topic, topic) == 0 && r->at_us >= from_us &&
         r->at_us < to_us;
  }
  g_mutex_unlock(&s->lock);
  return n;
}

void
sub_publish(Sub *s, const char *topic, const char *payload)
{
  ck_assert_int_eq(mosquitto_publish(s->mosq, NULL, topic,
                                     (int)strlen(payload), payload, 1, false),
                   MOSQ_ERR_SUCCESS);
}

/* ---- the server ---- */

static char model_path[1024];

gboolean
have_everything(void)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set (run through meson test)\n");
    return FALSE;
  }
  if (!mosquitto_exe()) {
    printf("SKIP: mosquitto is not installed (scripts/install-deps.sh "
           "--test)\n");
    return FALSE;
  }
  g_autofree char *pw = g_find_program_in_path("mosquitto_passwd");
  if (!pw) {
    printf("SKIP: mosquitto_passwd is not installed\n");
    return FALSE;
  }
  return tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite",
                      model_path, sizeof model_path);
}

void
server_start_sharded(Server *s, const char *dir, const char *mqtt_json,
                     double max_fps, const char *shard)
{
  memset(s, 0, sizeof *s);
  s->config = g_build_filename(dir, "streamsight.json", NULL);
  g_autofree char *text = g_strdup_printf(
      "{\"threads\": 1, \"mqtt\": %s, \"streams\": [{\"id\": \"" STREAM "\", "
      "\"name\": \"Front door\", \"uri\": \"test:\", \"max_fps\": %g}]}\n",
      mqtt_json, max_fps);
  ck_assert(g_file_set_contents(s->config, text, -1, NULL));
  chmod(s->config, 0600);
  char **envp = g_get_environ();
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_CONFIG");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_PORT");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_TOKEN");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_MQTT_URL");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_SHARD");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_SHARDS");
  if (shard)
    envp = g_environ_setenv(envp, "STREAMSIGHT_SHARD", shard, TRUE);
  envp = g_environ_setenv(envp, "STREAMSIGHT_MODEL", model_path, TRUE);
  /* A log per start: wait_listening reads the port from it. */
  static int starts;
  g_autofree char *name = g_strdup_printf("server-%d.log", ++starts);
  g_autofree char *log = g_build_filename(dir, name, NULL);
  char *argv[] = { getenv("SS_STREAMSIGHT_EXE"), "serve", "--config",
                   s->config, "--port", "0", NULL };
  spawn_tied(&s->child, argv, envp, log);
  g_strfreev(envp);
  s->port = wait_listening(&s->child, 60);
  if (!s->port) {
    g_autofree char *tail = child_log_tail(&s->child);
    ck_abort_msg("the server did not start:\n%s", tail);
  }
}

void
server_start(Server *s, const char *dir, const char *mqtt_json,
             double max_fps)
{
  server_start_sharded(s, dir, mqtt_json, max_fps, NULL);
}

void
server_stop(Server *s, int sig)
{
  if (s->child.pid > 0) {
    int rc = child_finish(&s->child, sig, 30);
    if (sig == SIGTERM)
      ck_assert_int_eq(rc, 0);
  }
  g_autofree char *log = s->child.log ? g_strdup(s->child.log) : NULL;
  child_clear(&s->child);
  /* The password never reaches the log. */
  g_autofree char *text = NULL;
  if (log && g_file_get_contents(log, &text, NULL, NULL))
    ck_assert_msg(strstr(text, PASS) == NULL, "the log shows the password");
  g_free(s->config);
  memset(s, 0, sizeof *s);
}

json_t *
get_json(Server *s, const char *path)
{
  int status = 0;
  g_autofree char *body = NULL;
  ck_assert_msg(http_request(s->port, "GET", path, NULL, &status, &body),
                "GET %s: no answer", path);
  ck_assert_msg(status == 200, "GET %s: %d %s", path, status, body);
  ck_assert_msg(strstr(body, PASS) == NULL, "GET %s shows the password",
                path);
  json_t *j = json_loads(body, 0, NULL);
  ck_assert_ptr_nonnull(j);
  return j;
}

json_t *
mqtt_stats(Server *s)
{
  json_t *j = get_json(s, "/api/v1/stats");
  json_t *m = json_incref(json_object_get(j, "mqtt"));
  json_decref(j);
  ck_assert_msg(json_is_object(m), "stats without an mqtt object");
  return m;
}

guint64
frames_inferred(Server *s)
{
  json_t *j = get_json(s, "/api/v1/streams/" STREAM);
  json_t *c = json_object_get(json_object_get(j, "stats"), "counters");
  if (!c)
    c = json_object_get(j, "counters");
  json_t *v = json_object_get(c, "frames_inferred");
  ck_assert_msg(json_is_integer(v), "no frames_inferred in the stream");
  guint64 n = (guint64)json_integer_value(v);
  json_decref(j);
  return n;
}

char *
mqtt_key(guint port, const char *extra)
{
  return g_strdup_printf("{\"host\": \"127.0.0.1\", \"port\": %u, "
                         "\"username\": \"" USER "\", \"password\": \"" PASS
                         "\"%s%s}", port, extra ? ", " : "",
                         extra ? extra : "");
}

char *
new_dir(const char *name)
{
  char *dir = g_build_filename(tu_tmp_dir(), "mqtt-XXXXXX", NULL);
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  printf("%s: in %s\n", name, dir);
  return dir;
}

/* ---- what most broker tests start with ---- */

gboolean
mqtt_rig_start(MqttRig *r, const char *name)
{
  memset(r, 0, sizeof *r);
  if (!have_everything())
    return FALSE;
  r->dir = new_dir(name);
  ck_assert(make_password_file(r->dir));
  broker_start(&r->broker, r->dir, NULL, 0);
  r->sub = sub_new(r->broker.port, NULL);
  return TRUE;
}

void
mqtt_rig_stop(MqttRig *r)
{
  sub_free(r->sub);
  broker_stop(&r->broker, SIGTERM);
  g_free(r->dir);
  memset(r, 0, sizeof *r);
}

/* ---- Home Assistant's documented discovery keys ---- */

/* The configuration variables of an MQTT sensor
 * (https://www.home-assistant.io/integrations/sensor.mqtt/) plus the
 * discovery payload's own "origin" (https://www.home-assistant.io/
 * integrations/mqtt/#discovery-payload), as documented in 2024-2025. A key
 * outside this list would be ignored by HA (or refused by newer versions). */
const char *const ha_sensor_keys[] = {
  "availability", "availability_mode", "availability_template",
  "availability_topic", "device", "device_class", "default_entity_id",
  "enabled_by_default", "encoding", "entity_category", "entity_picture",
  "expire_after", "force_update", "icon", "json_attributes_template",
  "json_attributes_topic", "last_reset_value_template", "name", "object_id",
  "options", "origin", "payload_available", "payload_not_available",
  "platform", "qos", "state_class", "state_topic",
  "suggested_display_precision", "unique_id", "unit_of_measurement",
  "value_template", NULL
};
/* https://www.home-assistant.io/integrations/binary_sensor.mqtt/ and
 * https://www.home-assistant.io/integrations/camera.mqtt/ (+ origin). */
const char *const ha_binary_sensor_keys[] = {
  "availability", "availability_mode", "availability_template",
  "availability_topic", "default_entity_id", "device", "device_class",
  "enabled_by_default", "encoding", "entity_category", "entity_picture",
  "expire_after", "force_update", "icon", "json_attributes_template",
  "json_attributes_topic", "name", "object_id", "off_delay", "origin",
  "payload_available", "payload_not_available", "payload_off", "payload_on",
  "platform", "qos", "state_topic", "unique_id", "value_template", NULL
};
const char *const ha_camera_keys[] = {
  "availability", "availability_mode", "availability_template",
  "availability_topic", "default_entity_id", "device", "enabled_by_default",
  "encoding", "entity_category", "entity_picture", "icon", "image_encoding",
  "json_attributes_template", "json_attributes_topic", "name", "object_id",
  "origin", "payload_available", "payload_not_available", "platform", "qos",
  "topic", "unique_id", NULL
};
const char *const ha_device_keys[] = {
  "configuration_url", "connections", "hw_version", "identifiers",
  "manufacturer", "model", "model_id", "name", "serial_number",
  "suggested_area", "sw_version", "via_device", NULL
};
const char *const ha_origin_keys[] = { "name", "sw_version",
                                              "support_url", NULL };

void
check_keys(json_t *obj, const char *const *known, const char *what)
{
  const char *key;
  json_t *v;
  ck_assert_msg(json_is_object(obj), "%s: not an object", what);
  json_object_foreach(obj, key, v)
    ck_assert_msg(g_strv_contains(known, key), "%s: '%s' is not a key Home "
                  "Assistant documents", what, key);
}

void
check_discovery_avail(const char *payload, const char *want_state_topic,
                      const char *want_avail)
{
  json_t *d = json_loads(payload, 0, NULL);
  ck_assert_msg(d != NULL, "discovery payload is not JSON: %s", payload);
  check_keys(d, ha_sensor_keys, "discovery");
  check_keys(json_object_get(d, "device"), ha_device_keys, "device");
  check_keys(json_object_get(d, "origin"), ha_origin_keys, "origin");
  ck_assert_str_eq(json_string_value(json_object_get(d, "state_topic")),
                   want_state_topic);
  const char *uid = json_string_value(json_object_get(d, "unique_id"));
  ck_assert(uid && strstr(uid, STREAM));
  json_t *ids = json_object_get(json_object_get(d, "device"), "identifiers");
  ck_assert(json_is_array(ids) && json_array_size(ids) >= 1);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(d, "device"), "name")), "Front door");
  ck_assert_str_eq(json_string_value(json_object_get(d,
                                                     "availability_topic")),
                   want_avail);
  ck_assert_str_eq(json_string_value(json_object_get(d, "payload_available")),
                   "online");
  ck_assert_str_eq(json_string_value(json_object_get(
                       d, "payload_not_available")), "offline");
  ck_assert_ptr_nonnull(json_string_value(json_object_get(d,
                                                          "value_template")));
  json_decref(d);
}

void
check_discovery(const char *payload, const char *want_state_topic)
{
  check_discovery_avail(payload, want_state_topic, PREFIX "/available");
}
