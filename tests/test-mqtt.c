/* The MQTT publisher against a real broker (server/mqtt.c, issue 14).
 *
 * Each test starts Debian's mosquitto on a free 127.0.0.1 port with a
 * password file (and once with TLS from a CA made here with openssl), the
 * built streamsight binary on a config with one test: stream (videotestsrc)
 * and an "mqtt" key, and a libmosquitto subscriber of its own that records
 * every message. It checks:
 *   - predictions, state and Home Assistant discovery arrive with the
 *     documented payloads (discovery keys against HA's documented list);
 *     removing the stream clears its retained topics;
 *   - the last will says "offline" after SIGKILL of the server;
 *   - the broker killed and restarted: the server reconnects and publishes
 *     the state again, and inference does not slow while the broker is down
 *     (frames inferred per second, down vs up, printed);
 *   - a wrong password is a clear last_error in /api/v1/stats, not a crash
 *     loop;
 *   - <prefix>/<stream>/set commands work when accept_commands is on and
 *     are ignored when it is off;
 *   - the "mqtt" key and STREAMSIGHT_MQTT_URL parse and fail as documented.
 * Skips (with a SKIP line) without mosquitto, the built binary or the
 * shared data (the server needs a real model).
 */
#include <check.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "child-process.h"
#include "config.h"
#include "mqtt.h"
#include "mqtt-config.h"
#include "mqtt-discovery.h"
#include "prom-check.h"
#include "testutil.h"

#define USER "ssuser"
#define PASS "Pa55-SEKRIT"
#define PREFIX "streamsight"
#define STREAM "cam1"

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

typedef struct {
  Child child;
  guint port;
  char *conf;
  char *dir;
} Broker;

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

/* Writes dir/passwd with USER:PASS through mosquitto_passwd. */
static gboolean
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

/* tls_dir: NULL, or a directory holding ca.crt, server.crt, server.key.
 * persist: retained messages saved in dir every second (and so restored
 * after a SIGKILL), as a production broker keeps them. */
static void
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

static void
broker_start(Broker *b, const char *dir, const char *tls_dir, guint port)
{
  broker_start_full(b, dir, tls_dir, port, FALSE);
}

static void
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

typedef struct {
  char *topic;
  char *payload; /* NUL-terminated copy */
  int len;
  gboolean retained;
  gint64 at_us;
} Rec;

typedef struct {
  struct mosquitto *mosq;
  GMutex lock;
  GPtrArray *msgs; /* Rec* */
  gboolean connected;
} Sub;

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

static Sub *
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

static void
sub_free(Sub *s)
{
  mosquitto_disconnect(s->mosq);
  mosquitto_loop_stop(s->mosq, true);
  mosquitto_destroy(s->mosq);
  g_ptr_array_unref(s->msgs);
  g_mutex_clear(&s->lock);
  g_free(s);
}

/* The first message on topic received at or after since_us whose payload
 * contains want (NULL: any; "" matches an empty payload only), within
 * timeout_s; a new copy of its payload, or NULL. */
static char *
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

static guint
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

static void
sub_publish(Sub *s, const char *topic, const char *payload)
{
  ck_assert_int_eq(mosquitto_publish(s->mosq, NULL, topic,
                                     (int)strlen(payload), payload, 1, false),
                   MOSQ_ERR_SUCCESS);
}

/* ---- the server ---- */

typedef struct {
  Child child;
  guint port;
  char *config;
} Server;

static char model_path[1024];

/* FALSE (after a SKIP line) when something the test needs is missing. */
static gboolean
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

/* mqtt_json: the value of the "mqtt" key; shard: STREAMSIGHT_SHARD or
 * NULL. */
static void
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

static void
server_start(Server *s, const char *dir, const char *mqtt_json,
             double max_fps)
{
  server_start_sharded(s, dir, mqtt_json, max_fps, NULL);
}

static void
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

static json_t *
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

static json_t *
mqtt_stats(Server *s)
{
  json_t *j = get_json(s, "/api/v1/stats");
  json_t *m = json_incref(json_object_get(j, "mqtt"));
  json_decref(j);
  ck_assert_msg(json_is_object(m), "stats without an mqtt object");
  return m;
}

static guint64
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

static char *
mqtt_key(guint port, const char *extra)
{
  return g_strdup_printf("{\"host\": \"127.0.0.1\", \"port\": %u, "
                         "\"username\": \"" USER "\", \"password\": \"" PASS
                         "\"%s%s}", port, extra ? ", " : "",
                         extra ? extra : "");
}

static char *
new_dir(const char *name)
{
  char *dir = g_build_filename(tu_tmp_dir(), "mqtt-XXXXXX", NULL);
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  printf("%s: in %s\n", name, dir);
  return dir;
}

/* ---- Home Assistant's documented discovery keys ---- */

/* The configuration variables of an MQTT sensor
 * (https://www.home-assistant.io/integrations/sensor.mqtt/) plus the
 * discovery payload's own "origin" (https://www.home-assistant.io/
 * integrations/mqtt/#discovery-payload), as documented in 2024-2025. A key
 * outside this list would be ignored by HA (or refused by newer versions). */
static const char *const ha_sensor_keys[] = {
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
static const char *const ha_binary_sensor_keys[] = {
  "availability", "availability_mode", "availability_template",
  "availability_topic", "default_entity_id", "device", "device_class",
  "enabled_by_default", "encoding", "entity_category", "entity_picture",
  "expire_after", "force_update", "icon", "json_attributes_template",
  "json_attributes_topic", "name", "object_id", "off_delay", "origin",
  "payload_available", "payload_not_available", "payload_off", "payload_on",
  "platform", "qos", "state_topic", "unique_id", "value_template", NULL
};
static const char *const ha_camera_keys[] = {
  "availability", "availability_mode", "availability_template",
  "availability_topic", "default_entity_id", "device", "enabled_by_default",
  "encoding", "entity_category", "entity_picture", "icon", "image_encoding",
  "json_attributes_template", "json_attributes_topic", "name", "object_id",
  "origin", "payload_available", "payload_not_available", "platform", "qos",
  "topic", "unique_id", NULL
};
static const char *const ha_device_keys[] = {
  "configuration_url", "connections", "hw_version", "identifiers",
  "manufacturer", "model", "model_id", "name", "serial_number",
  "suggested_area", "sw_version", "via_device", NULL
};
static const char *const ha_origin_keys[] = { "name", "sw_version",
                                              "support_url", NULL };

static void
check_keys(json_t *obj, const char *const *known, const char *what)
{
  const char *key;
  json_t *v;
  ck_assert_msg(json_is_object(obj), "%s: not an object", what);
  json_object_foreach(obj, key, v)
    ck_assert_msg(g_strv_contains(known, key), "%s: '%s' is not a key Home "
                  "Assistant documents", what, key);
}

/* The payload is a valid HA sensor that reads what we publish: documented
 * keys only, the required ones present, unique ids and a device, the
 * availability topic we keep, and a state topic that is ours. */
static void
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

static void
check_discovery(const char *payload, const char *want_state_topic)
{
  check_discovery_avail(payload, want_state_topic, PREFIX "/available");
}

/* ---- tests ---- */

START_TEST(test_publish)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("publish");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start(&b, dir, NULL, 0);
  Sub *sub = sub_new(b.port, NULL);
  g_autofree char *key = mqtt_key(b.port, NULL);
  Server s;
  server_start(&s, dir, key, 10);

  /* Online, retained. */
  gboolean retained = FALSE;
  g_autofree char *avail = sub_wait(sub, PREFIX "/available", "online", 0,
                                    30, &retained);
  ck_assert_msg(avail != NULL, "no online on " PREFIX "/available");

  /* A prediction: the SSE event's data, with the REST API's prediction. */
  g_autofree char *pred = sub_wait(sub, PREFIX "/" STREAM "/prediction",
                                   NULL, 0, 30, NULL);
  ck_assert_msg(pred != NULL, "no prediction published");
  json_t *pj = json_loads(pred, 0, NULL);
  ck_assert_ptr_nonnull(pj);
  ck_assert_str_eq(json_string_value(json_object_get(pj, "stream_id")),
                   STREAM);
  json_t *p = json_object_get(pj, "prediction");
  json_t *classes = json_object_get(p, "classes");
  ck_assert(json_is_array(classes) && json_array_size(classes) >= 1);
  /* What the HA sensor's value_template reads. */
  ck_assert_ptr_nonnull(json_object_get(json_array_get(classes, 0),
                                        "label"));
  json_t *latest = get_json(&s, "/api/v1/streams/" STREAM
                                "/predictions/latest");
  json_t *lp = json_object_get(latest, "prediction");
  const char *k;
  json_t *v;
  json_object_foreach(lp, k, v)
    ck_assert_msg(json_object_get(p, k) != NULL, "prediction lacks '%s'", k);
  json_object_foreach(p, k, v)
    ck_assert_msg(json_object_get(lp, k) != NULL, "extra key '%s'", k);
  json_decref(latest);
  json_decref(pj);

  /* Rate limit: the stream infers up to 10 fps, MQTT gets about 1 a s. */
  gint64 t0 = g_get_monotonic_time();
  guint64 inf0 = frames_inferred(&s);
  g_usleep(5 * G_USEC_PER_SEC);
  gint64 t1 = g_get_monotonic_time();
  guint64 inf1 = frames_inferred(&s);
  guint n = sub_count(sub, PREFIX "/" STREAM "/prediction", t0, t1);
  printf("publish: %u prediction messages and %" G_GUINT64_FORMAT
         " frames inferred in %.1f s (max_rate_hz 1)\n", n, inf1 - inf0,
         (t1 - t0) / 1e6);
  ck_assert_msg(n >= 2 && n <= 7, "%u prediction messages in 5 s", n);
  ck_assert_msg(inf1 - inf0 > n, "inference ran no faster than MQTT");

  /* State and discovery are retained: a subscriber arriving now gets them
   * at once, with the running state. */
  Sub *late = sub_new(b.port, NULL);
  g_autofree char *st = sub_wait(late, PREFIX "/" STREAM "/state",
                                 "\"running\"", 0, 15, &retained);
  ck_assert_msg(st != NULL, "no retained running state");
  ck_assert(retained);
  json_t *sj = json_loads(st, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(sj, "state")),
                   "running");
  ck_assert(json_is_true(json_object_get(sj, "enabled")));
  ck_assert(json_is_number(json_object_get(sj, "fps_out")));
  ck_assert(json_object_get(sj, "last_error") != NULL);
  json_decref(sj);
  g_autofree char *av2 = sub_wait(late, PREFIX "/available", "online", 0, 5,
                                  &retained);
  ck_assert(av2 && retained);
  const char *dtopic_class =
      "homeassistant/sensor/" PREFIX "/" STREAM "_class/config";
  const char *dtopic_fps =
      "homeassistant/sensor/" PREFIX "/" STREAM "_fps/config";
  g_autofree char *dc = sub_wait(late, dtopic_class, "{", 0, 5, &retained);
  ck_assert_msg(dc && retained, "no retained discovery for the class");
  check_discovery(dc, PREFIX "/" STREAM "/prediction");
  g_autofree char *df = sub_wait(late, dtopic_fps, "{", 0, 5, &retained);
  ck_assert_msg(df && retained, "no retained discovery for the fps");
  check_discovery(df, PREFIX "/" STREAM "/state");
  sub_free(late);

  /* Stats and metrics. */
  json_t *m = mqtt_stats(&s);
  ck_assert(json_is_true(json_object_get(m, "connected")));
  ck_assert_int_gt(json_integer_value(json_object_get(m, "messages")), 5);
  ck_assert_int_eq(json_integer_value(json_object_get(m, "dropped")), 0);
  json_decref(m);
  int status = 0;
  g_autofree char *metrics = NULL;
  ck_assert(http_request(s.port, "GET", "/metrics", NULL, &status, &metrics));
  /* Valid exposition (promtool's rules) with the MQTT families in it. */
  char *why = prom_check(metrics, strlen(metrics));
  ck_assert_msg(why == NULL, "/metrics: %s", why);
  ck_assert(strstr(metrics, "\nstreamsight_mqtt_connected 1\n"));
  ck_assert(strstr(metrics, "\nstreamsight_mqtt_messages_total "));
  ck_assert(strstr(metrics, "\nstreamsight_mqtt_dropped_total 0\n"));

  /* Removing the stream deletes its retained topics. */
  gint64 t_del = g_get_monotonic_time();
  g_autofree char *del = NULL;
  ck_assert(http_request(s.port, "DELETE", "/api/v1/streams/" STREAM, NULL,
                         &status, &del));
  ck_assert_int_eq(status, 204);
  g_autofree char *e1 = sub_wait(sub, dtopic_class, "", t_del, 15, &retained);
  ck_assert_msg(e1 != NULL, "no empty payload on the discovery topic");
  g_autofree char *e2 = sub_wait(sub, PREFIX "/" STREAM "/state", "", t_del,
                                 15, NULL);
  ck_assert_msg(e2 != NULL, "no empty payload on the state topic");
  Sub *after = sub_new(b.port, NULL);
  g_usleep(500 * 1000);
  ck_assert_uint_eq(sub_count(after, dtopic_class, 0, G_MAXINT64), 0);
  ck_assert_uint_eq(sub_count(after, PREFIX "/" STREAM "/state", 0,
                              G_MAXINT64), 0);
  sub_free(after);

  /* A clean stop says offline itself. */
  gint64 t_stop = g_get_monotonic_time();
  server_stop(&s, SIGTERM);
  g_autofree char *off = sub_wait(sub, PREFIX "/available", "offline",
                                  t_stop, 10, NULL);
  ck_assert_msg(off != NULL, "no offline after SIGTERM");
  sub_free(sub);
  broker_stop(&b, SIGTERM);
}
END_TEST

START_TEST(test_last_will)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("last will (MQTT 5)");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start(&b, dir, NULL, 0);
  Sub *sub = sub_new(b.port, NULL);
  /* MQTT 5 here (the other tests speak 3.1.1): online, a prediction and
   * the will. */
  g_autofree char *key = mqtt_key(b.port, "\"protocol\": \"5\"");
  Server s;
  server_start(&s, dir, key, 5);
  g_autofree char *on = sub_wait(sub, PREFIX "/available", "online", 0, 30,
                                 NULL);
  ck_assert(on != NULL);
  g_autofree char *pred = sub_wait(sub, PREFIX "/" STREAM "/prediction",
                                   "\"classes\"", 0, 30, NULL);
  ck_assert(pred != NULL);
  gint64 t_kill = g_get_monotonic_time();
  server_stop(&s, SIGKILL);
  gboolean retained = FALSE;
  g_autofree char *off = sub_wait(sub, PREFIX "/available", "offline",
                                  t_kill, 20, NULL);
  ck_assert_msg(off != NULL, "the broker did not send the last will");
  printf("last will: offline %.2f s after SIGKILL\n",
         (g_get_monotonic_time() - t_kill) / 1e6);
  /* And it is retained for whoever comes next. */
  Sub *late = sub_new(b.port, NULL);
  g_autofree char *off2 = sub_wait(late, PREFIX "/available", NULL, 0, 5,
                                   &retained);
  ck_assert(off2 && strcmp(off2, "offline") == 0 && retained);
  sub_free(late);
  sub_free(sub);
  broker_stop(&b, SIGTERM);
}
END_TEST

/* Replicas share the config and so the prefix: each has its own
 * availability topic and will, and its entities point at it. */
START_TEST(test_sharded_availability)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("sharded");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start(&b, dir, NULL, 0);
  Sub *sub = sub_new(b.port, NULL);
  g_autofree char *key = mqtt_key(b.port, NULL);
  Server s;
  server_start_sharded(&s, dir, key, 5, "0/1");
  const char *avail = PREFIX "/available/shard-0";
  g_autofree char *on = sub_wait(sub, avail, "online", 0, 30, NULL);
  ck_assert_msg(on != NULL, "no online on %s", avail);
  g_autofree char *dc = sub_wait(
      sub, "homeassistant/sensor/" PREFIX "/" STREAM "_class/config", "{", 0,
      10, NULL);
  ck_assert(dc != NULL);
  check_discovery_avail(dc, PREFIX "/" STREAM "/prediction", avail);
  ck_assert_uint_eq(sub_count(sub, PREFIX "/available", 0, G_MAXINT64), 0);
  gint64 t_kill = g_get_monotonic_time();
  server_stop(&s, SIGKILL);
  g_autofree char *off = sub_wait(sub, avail, "offline", t_kill, 20, NULL);
  ck_assert_msg(off != NULL, "no last will on %s", avail);
  sub_free(sub);
  broker_stop(&b, SIGTERM);
}
END_TEST

/* Frames inferred per second over secs. */
static double
infer_rate(Server *s, double secs)
{
  gint64 t0 = g_get_monotonic_time();
  guint64 n0 = frames_inferred(s);
  g_usleep((gulong)(secs * G_USEC_PER_SEC));
  guint64 n1 = frames_inferred(s);
  return (double)(n1 - n0) / ((g_get_monotonic_time() - t0) / 1e6);
}

START_TEST(test_broker_restart)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("broker restart");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start_full(&b, dir, NULL, 0, TRUE);
  guint port = b.port;
  /* A small queue, so that the outage overflows it. */
  g_autofree char *key = mqtt_key(port, "\"max_rate_hz\": 50, "
                                  "\"queue_len\": 16");
  Server s;
  server_start(&s, dir, key, 10);
  Sub *sub = sub_new(port, NULL);
  g_autofree char *st = sub_wait(sub, PREFIX "/" STREAM "/state",
                                 "\"running\"", 0, 30, NULL);
  ck_assert(st != NULL);
  /* A second camera, announced to Home Assistant (retained, saved by the
   * broker), to be removed while the broker is away. */
  const char *cam2_topic =
      "homeassistant/sensor/" PREFIX "/cam2_class/config";
  int status = 0;
  g_autofree char *created = NULL;
  ck_assert(http_request(s.port, "POST", "/api/v1/streams",
                         "{\"id\": \"cam2\", \"name\": \"Back\", \"uri\": "
                         "\"test:\", \"max_fps\": 1}", &status, &created));
  ck_assert_int_eq(status, 201);
  g_autofree char *d2 = sub_wait(sub, cam2_topic, "{", 0, 20, NULL);
  ck_assert_msg(d2 != NULL, "no discovery for cam2");
  sub_free(sub);
  g_usleep(2500 * 1000); /* the broker's autosave */

  double up = infer_rate(&s, 4);
  broker_stop(&b, SIGKILL);
  gint64 t_down = g_get_monotonic_time();
  /* The server notices and says why; it keeps serving. */
  gboolean noticed = FALSE;
  while (!noticed && g_get_monotonic_time() < t_down + 20 * G_USEC_PER_SEC) {
    json_t *m = mqtt_stats(&s);
    noticed = json_is_false(json_object_get(m, "connected")) &&
              json_string_value(json_object_get(m, "last_error"));
    if (noticed)
      printf("broker down: last_error \"%s\"\n",
             json_string_value(json_object_get(m, "last_error")));
    json_decref(m);
    if (!noticed)
      g_usleep(100 * 1000);
  }
  ck_assert_msg(noticed, "stats still say connected with the broker down");
  g_autofree char *deleted = NULL;
  ck_assert(http_request(s.port, "DELETE", "/api/v1/streams/cam2", NULL,
                         &status, &deleted));
  ck_assert_int_eq(status, 204);
  double down = infer_rate(&s, 4);
  json_t *m = mqtt_stats(&s);
  json_int_t queued = json_integer_value(json_object_get(m, "queued"));
  json_int_t dropped = json_integer_value(json_object_get(m, "dropped"));
  json_decref(m);
  printf("broker restart: %.2f frames inferred/s with the broker up, %.2f "
         "down (%.0f %%); %lld messages queued, %lld dropped meanwhile\n",
         up, down, up > 0 ? 100 * down / up : 0.0, (long long)queued,
         (long long)dropped);
  ck_assert_msg(up > 1, "%.2f frames/s with the broker up", up);
  /* About 10 predictions a second for 4+ s into 16 places: the oldest
   * went, counted, and the queue stayed at its bound. */
  ck_assert_int_le(queued, 16);
  ck_assert_int_ge(dropped, 10);
  /* Loose: the machine is shared; a publisher in the frame path would
   * stall it to zero. */
  ck_assert_msg(down >= 0.5 * up, "inference slowed with the broker down: "
                "%.2f vs %.2f frames/s", down, up);

  /* Back on the same port with what it had saved: the server reconnects
   * and publishes the state again (its "time" is after the restart: not
   * the copy the broker kept). */
  Broker b2;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *restart_iso = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
  broker_start_full(&b2, dir, NULL, port, TRUE);
  gint64 t_up = g_get_monotonic_time();
  Sub *sub2 = sub_new(port, NULL);
  g_autofree char *st2 = NULL;
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (!st2 && g_get_monotonic_time() < deadline) {
    g_mutex_lock(&sub2->lock);
    for (guint i = 0; i < sub2->msgs->len && !st2; i++) {
      Rec *r = g_ptr_array_index(sub2->msgs, i);
      const char *t = strstr(r->payload, "\"time\":\"");
      if (strcmp(r->topic, PREFIX "/" STREAM "/state") == 0 && t &&
          strncmp(t + 8, restart_iso, 19) >= 0)
        st2 = g_strdup(r->payload);
    }
    g_mutex_unlock(&sub2->lock);
    if (!st2)
      g_usleep(50 * 1000);
  }
  ck_assert_msg(st2 != NULL, "no new state after the broker came back");
  /* The removal made while it was away reaches it, although the outage
   * overflowed the queue with predictions: retained messages are the last
   * to be dropped. */
  g_autofree char *gone = sub_wait(sub2, cam2_topic, "", 0, 15, NULL);
  ck_assert_msg(gone != NULL, "cam2's discovery was not deleted");
  g_autofree char *on2 = sub_wait(sub2, PREFIX "/available", "online", 0, 5,
                                  NULL);
  ck_assert(on2 != NULL);
  g_autofree char *pr2 = sub_wait(sub2, PREFIX "/" STREAM "/prediction",
                                  NULL, 0, 15, NULL);
  ck_assert(pr2 != NULL);
  printf("broker restart: state again %.2f s after the broker restarted\n",
         (g_get_monotonic_time() - t_up) / 1e6);
  m = mqtt_stats(&s);
  ck_assert(json_is_true(json_object_get(m, "connected")));
  ck_assert_int_ge(json_integer_value(json_object_get(m, "connects")), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(m, "queue_capacity")),
                   16);
  json_decref(m);
  sub_free(sub2);
  server_stop(&s, SIGTERM);
  broker_stop(&b2, SIGTERM);
}
END_TEST

/* _i: 0 MQTT 3.1.1, 1 MQTT 5 (other reason codes, other strings). */
START_TEST(test_wrong_password)
{
  if (!have_everything())
    return;
  const char *proto = _i == 0 ? "3.1.1" : "5";
  g_autofree char *dir = new_dir(_i == 0 ? "wrong password 3.1.1"
                                         : "wrong password 5");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start(&b, dir, NULL, 0);
  g_autofree char *key = g_strdup_printf(
      "{\"host\": \"127.0.0.1\", \"port\": %u, \"username\": \"" USER "\", "
      "\"password\": \"not-" PASS "\", \"protocol\": \"%s\"}", b.port, proto);
  Server s;
  server_start(&s, dir, key, 5);
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  char *err = NULL;
  while (!err && g_get_monotonic_time() < deadline) {
    json_t *m = mqtt_stats(&s);
    const char *e = json_string_value(json_object_get(m, "last_error"));
    if (e)
      err = g_strdup(e);
    ck_assert(json_is_false(json_object_get(m, "connected")));
    json_decref(m);
    if (!err)
      g_usleep(100 * 1000);
  }
  ck_assert_msg(err != NULL, "no last_error with a wrong password");
  printf("wrong password: last_error \"%s\"\n", err);
  ck_assert_msg(strstr(err, "the broker refused the connection: ") &&
                (strstr(err, "not authorised") ||
                 strstr(err, "Not authorized") ||
                 strstr(err, "Bad user name or password")), "%s", err);
  ck_assert(strstr(err, "not-" PASS) == NULL);
  g_free(err);
  /* No crash loop: the process lives on, the API answers, and the retries
   * back off. */
  json_t *m0 = mqtt_stats(&s);
  json_int_t f0 = json_integer_value(json_object_get(m0, "connect_failures"));
  json_decref(m0);
  g_usleep(6 * G_USEC_PER_SEC);
  ck_assert(child_running(&s.child));
  json_t *m1 = mqtt_stats(&s);
  json_int_t f1 = json_integer_value(json_object_get(m1, "connect_failures"));
  json_decref(m1);
  printf("wrong password: %lld connection attempts refused in 6 s\n",
         (long long)(f1 - f0));
  /* Backoff from >= 0.375 s doubling: at most 4 attempts fit in 6 s (and
   * each is counted once). */
  ck_assert_int_le(f1 - f0, 5);
  ck_assert_int_ge(f1 - f0, 1);
  json_t *st = get_json(&s, "/api/v1/streams/" STREAM);
  json_decref(st);
  server_stop(&s, SIGTERM);
  broker_stop(&b, SIGTERM);
}
END_TEST

/* Nothing listens on the broker's port: the server starts and serves all
 * the same, and says why MQTT is down. */
START_TEST(test_no_broker)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("no broker");
  g_autofree char *key = mqtt_key(free_port(), NULL);
  Server s;
  server_start(&s, dir, key, 5);
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  char *err = NULL;
  json_int_t failures = 0;
  while (g_get_monotonic_time() < deadline) {
    json_t *m = mqtt_stats(&s);
    ck_assert(json_is_false(json_object_get(m, "connected")));
    const char *e = json_string_value(json_object_get(m, "last_error"));
    failures = json_integer_value(json_object_get(m, "connect_failures"));
    g_free(err);
    err = e ? g_strdup(e) : NULL;
    json_decref(m);
    if (err && failures >= 2)
      break;
    g_usleep(100 * 1000);
  }
  printf("no broker: last_error \"%s\" after %lld attempts\n", err,
         (long long)failures);
  ck_assert_msg(err && strstr(err, "refused"), "%s", err);
  ck_assert_int_ge(failures, 2);
  g_free(err);
  /* Predictions go on. */
  guint64 n0 = frames_inferred(&s);
  g_usleep(1500 * 1000);
  ck_assert_uint_gt(frames_inferred(&s), n0);
  server_stop(&s, SIGTERM);
}
END_TEST

static json_t *
stream_get(Server *s)
{
  return get_json(s, "/api/v1/streams/" STREAM);
}

/* Alerts (issue 14 part 1): a rule on the class the stream sees gives
 * <stream>/alert start, the JPEG on <stream>/snapshot and a retained ON on
 * <stream>/<class>; the stream stopped, the alert ends: end and OFF. */
START_TEST(test_alerts)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("alerts");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start(&b, dir, NULL, 0);
  Sub *sub = sub_new(b.port, NULL);
  g_autofree char *key = mqtt_key(b.port, NULL);
  Server s;
  server_start(&s, dir, key, 10);
  json_t *latest = NULL;
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (!latest || json_is_null(json_object_get(latest, "prediction"))) {
    ck_assert_msg(g_get_monotonic_time() < deadline, "no prediction");
    json_decref(latest);
    g_usleep(100 * 1000);
    latest = get_json(&s, "/api/v1/streams/" STREAM "/predictions/latest");
  }
  json_t *top = json_array_get(json_object_get(json_object_get(latest,
                                                               "prediction"),
                                               "classes"), 0);
  g_autofree char *cls = g_strdup(json_string_value(json_object_get(top,
                                                                    "label")));
  double score = json_number_value(json_object_get(top, "score"));
  json_decref(latest);
  g_autofree char *leaf = mqtt_alert_class_leaf(cls);
  printf("alerts: rule on '%s' (score %.3f), topic leaf '%s'\n", cls, score,
         leaf);
  g_autofree char *body = g_strdup_printf(
      "{\"alerts\": [{\"class\": \"%s\", \"min_score\": %.6f, "
      "\"min_duration_s\": 0.3, \"clear_after_s\": 1}]}", cls, score * 0.5);
  int status = 0;
  g_autofree char *out = NULL;
  ck_assert(http_request(s.port, "PATCH", "/api/v1/streams/" STREAM, body,
                         &status, &out));
  ck_assert_msg(status == 200, "PATCH: %d %s", status, out);

  /* Home Assistant learns of the rule: a binary sensor on the class's
   * ON/OFF topic and a camera on the snapshot topic, same device. */
  g_autofree char *bs_topic = g_strdup_printf(
      "homeassistant/binary_sensor/" PREFIX "/" STREAM "_%s/config", leaf);
  const char *cam_topic =
      "homeassistant/camera/" PREFIX "/" STREAM "_snapshot/config";
  g_autofree char *bs = sub_wait(sub, bs_topic, "{", 0, 15, NULL);
  ck_assert_msg(bs != NULL, "no discovery on %s", bs_topic);
  json_t *bj = json_loads(bs, 0, NULL);
  check_keys(bj, ha_binary_sensor_keys, "binary_sensor");
  check_keys(json_object_get(bj, "device"), ha_device_keys, "device");
  g_autofree char *want_state = g_strdup_printf(PREFIX "/" STREAM "/%s",
                                                leaf);
  ck_assert_str_eq(json_string_value(json_object_get(bj, "state_topic")),
                   want_state);
  ck_assert_str_eq(json_string_value(json_object_get(bj, "payload_on")),
                   "ON");
  ck_assert_str_eq(json_string_value(json_object_get(bj, "payload_off")),
                   "OFF");
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(bj, "device"), "name")), "Front door");
  ck_assert_str_eq(json_string_value(json_object_get(bj,
                                                     "availability_topic")),
                   PREFIX "/available");
  json_decref(bj);
  g_autofree char *cam = sub_wait(sub, cam_topic, "{", 0, 15, NULL);
  ck_assert_msg(cam != NULL, "no camera discovery");
  json_t *cj = json_loads(cam, 0, NULL);
  check_keys(cj, ha_camera_keys, "camera");
  ck_assert_str_eq(json_string_value(json_object_get(cj, "topic")),
                   PREFIX "/" STREAM "/snapshot");
  ck_assert_ptr_nonnull(json_string_value(json_object_get(cj, "unique_id")));
  json_decref(cj);

  g_autofree char *start = sub_wait(sub, PREFIX "/" STREAM "/alert",
                                    "\"type\":\"start\"", 0, 30, NULL);
  ck_assert_msg(start != NULL, "no alert start published");
  json_t *sj = json_loads(start, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(sj, "stream_id")),
                   STREAM);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(sj, "alert"), "class")), cls);
  json_decref(sj);
  g_autofree char *topic_cls = g_strdup_printf(PREFIX "/" STREAM "/%s", leaf);
  gboolean retained = FALSE;
  g_autofree char *on = sub_wait(sub, topic_cls, "ON", 0, 10, NULL);
  ck_assert_msg(on != NULL, "no ON on %s", topic_cls);
  g_autofree char *jpeg = sub_wait(sub, PREFIX "/" STREAM "/snapshot", NULL,
                                   0, 10, NULL);
  ck_assert_msg(jpeg && (guint8)jpeg[0] == 0xff && (guint8)jpeg[1] == 0xd8,
                "no JPEG on the snapshot topic");
  /* Retained: a late subscriber reads ON at once. */
  Sub *late = sub_new(b.port, NULL);
  g_autofree char *on2 = sub_wait(late, topic_cls, "ON", 0, 10, &retained);
  ck_assert(on2 && retained);
  sub_free(late);

  g_free(out);
  out = NULL;
  ck_assert(http_request(s.port, "PATCH", "/api/v1/streams/" STREAM,
                         "{\"enabled\": false}", &status, &out));
  ck_assert_int_eq(status, 200);
  g_autofree char *end = sub_wait(sub, PREFIX "/" STREAM "/alert",
                                  "\"type\":\"end\"", 0, 30, NULL);
  ck_assert_msg(end != NULL, "no alert end published");
  g_autofree char *off = sub_wait(sub, topic_cls, "OFF", 0, 10, NULL);
  ck_assert_msg(off != NULL, "no OFF on %s", topic_cls);
  /* The rule removed: its entities are deleted (empty retained configs). */
  gint64 t_rm = g_get_monotonic_time();
  g_free(out);
  out = NULL;
  ck_assert(http_request(s.port, "PATCH", "/api/v1/streams/" STREAM,
                         "{\"alerts\": []}", &status, &out));
  ck_assert_int_eq(status, 200);
  g_autofree char *bs_gone = sub_wait(sub, bs_topic, "", t_rm, 15, NULL);
  ck_assert_msg(bs_gone != NULL, "the binary sensor was not deleted");
  g_autofree char *cam_gone = sub_wait(sub, cam_topic, "", t_rm, 15, NULL);
  ck_assert_msg(cam_gone != NULL, "the camera was not deleted");
  server_stop(&s, SIGTERM);
  sub_free(sub);
  broker_stop(&b, SIGTERM);
}
END_TEST

START_TEST(test_commands)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("commands");
  ck_assert(make_password_file(dir));
  Broker b;
  broker_start(&b, dir, NULL, 0);
  Sub *sub = sub_new(b.port, NULL);

  /* Off (the default): a command changes nothing. */
  {
    g_autofree char *key = mqtt_key(b.port, NULL);
    Server s;
    server_start(&s, dir, key, 5);
    g_autofree char *on = sub_wait(sub, PREFIX "/available", "online", 0, 30,
                                   NULL);
    ck_assert(on != NULL);
    sub_publish(sub, PREFIX "/" STREAM "/set", "{\"enabled\": false}");
    g_usleep(2 * G_USEC_PER_SEC);
    json_t *j = stream_get(&s);
    ck_assert(json_is_true(json_object_get(j, "enabled")) ||
              json_is_true(json_object_get(json_object_get(j, "options"),
                                           "enabled")));
    json_decref(j);
    json_t *m = mqtt_stats(&s);
    ck_assert_int_eq(json_integer_value(json_object_get(m,
                                                        "commands_applied")),
                     0);
    json_decref(m);
    server_stop(&s, SIGTERM);
  }

  /* On: PATCH's keys and validation. */
  gint64 t0 = g_get_monotonic_time();
  g_autofree char *key = mqtt_key(b.port, "\"accept_commands\": true");
  Server s;
  server_start(&s, dir, key, 5);
  g_autofree char *on = sub_wait(sub, PREFIX "/available", "online", t0, 30,
                                 NULL);
  ck_assert(on != NULL);
  g_usleep(300 * 1000); /* its SUBSCRIBE */
  sub_publish(sub, PREFIX "/" STREAM "/set", "{\"max_fps\": 2}");
  gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
  double max_fps = 0;
  while (g_get_monotonic_time() < deadline) {
    json_t *j = stream_get(&s);
    json_t *v = json_object_get(j, "max_fps");
    if (!v)
      v = json_object_get(json_object_get(j, "options"), "max_fps");
    max_fps = json_number_value(v);
    json_decref(j);
    if (max_fps == 2)
      break;
    g_usleep(100 * 1000);
  }
  ck_assert_msg(max_fps == 2, "max_fps is %g after the command", max_fps);

  gint64 t1 = g_get_monotonic_time();
  sub_publish(sub, PREFIX "/" STREAM "/set", "{\"enabled\": false}");
  g_autofree char *stopped = sub_wait(sub, PREFIX "/" STREAM "/state",
                                      "\"stopped\"", t1, 15, NULL);
  ck_assert_msg(stopped != NULL, "no stopped state after enabled false");
  ck_assert(strstr(stopped, "\"enabled\":false"));

  /* Hostile commands are refused with PATCH's words; nothing changes. */
  const char *bad[] = { "{\"max_fps\": \"fast\"}", "{\"uri\": \"file:///\"}",
                        "not json", "{}", "[1]" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    sub_publish(sub, PREFIX "/" STREAM "/set", bad[i]);
  sub_publish(sub, PREFIX "/no-such-stream/set", "{\"enabled\": true}");
  sub_publish(sub, PREFIX "/BAD ID/set", "{\"enabled\": true}");
  deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
  json_int_t rejected = 0;
  char *last = NULL;
  while (g_get_monotonic_time() < deadline) {
    json_t *m = mqtt_stats(&s);
    rejected = json_integer_value(json_object_get(m, "commands_rejected"));
    g_free(last);
    last = g_strdup(json_string_value(json_object_get(m,
                                                      "last_command_error")));
    json_decref(m);
    if (rejected >= 7)
      break;
    g_usleep(100 * 1000);
  }
  printf("commands: %lld rejected, last: %s\n", (long long)rejected, last);
  ck_assert_int_eq(rejected, 7);
  ck_assert(last != NULL);
  g_free(last);
  json_t *j = stream_get(&s);
  char *dump = json_dumps(j, 0);
  ck_assert(strstr(dump, "file:///") == NULL);
  free(dump);
  json_decref(j);
  json_t *m = mqtt_stats(&s);
  ck_assert_int_eq(json_integer_value(json_object_get(m, "commands_applied")),
                   2);
  json_decref(m);
  server_stop(&s, SIGTERM);
  sub_free(sub);
  broker_stop(&b, SIGTERM);
}
END_TEST

/* A CA and a server certificate for 127.0.0.1, made with openssl. */
static gboolean
make_tls(const char *dir)
{
  g_autofree char *openssl = g_find_program_in_path("openssl");
  if (!openssl) {
    printf("SKIP: tls: openssl is not installed\n");
    return FALSE;
  }
  g_autofree char *script = g_strdup_printf(
      "set -e; cd '%s'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=test CA' "
      "-keyout ca.key -out ca.crt 2>/dev/null; "
      "openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' "
      "-keyout server.key -out server.csr 2>/dev/null; "
      "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf; "
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
      "-CAcreateserial -days 2 -extfile ext.cnf -out server.crt 2>/dev/null",
      dir);
  const char *argv[] = { "/bin/sh", "-c", script, NULL };
  int status = 0;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, NULL, NULL,
                    &status, NULL) ||
      !g_spawn_check_wait_status(status, NULL)) {
    printf("openssl could not make the test certificates\n");
    return FALSE;
  }
  return TRUE;
}

START_TEST(test_tls)
{
  if (!have_everything())
    return;
  g_autofree char *dir = new_dir("tls");
  ck_assert(make_password_file(dir));
  if (!make_tls(dir))
    return;
  Broker b;
  broker_start(&b, dir, dir, 0);
  g_autofree char *ca = g_build_filename(dir, "ca.crt", NULL);
  Sub *sub = sub_new(b.port, ca);
  g_autofree char *extra = g_strdup_printf("\"tls\": {\"ca\": \"%s\"}", ca);
  g_autofree char *key = mqtt_key(b.port, extra);
  Server s;
  server_start(&s, dir, key, 5);
  g_autofree char *on = sub_wait(sub, PREFIX "/available", "online", 0, 30,
                                 NULL);
  ck_assert_msg(on != NULL, "no online over TLS");
  g_autofree char *pred = sub_wait(sub, PREFIX "/" STREAM "/prediction",
                                   "\"classes\"", 0, 30, NULL);
  ck_assert_msg(pred != NULL, "no prediction over TLS");
  server_stop(&s, SIGTERM);

  /* Without our CA the broker's certificate is refused: a clear error. */
  g_autofree char *key2 = mqtt_key(b.port, "\"tls\": {}");
  server_start(&s, dir, key2, 5);
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  char *err = NULL;
  while (!err && g_get_monotonic_time() < deadline) {
    json_t *m = mqtt_stats(&s);
    ck_assert(json_is_false(json_object_get(m, "connected")));
    const char *e = json_string_value(json_object_get(m, "last_error"));
    err = e ? g_strdup(e) : NULL;
    json_decref(m);
    if (!err)
      g_usleep(100 * 1000);
  }
  ck_assert_msg(err != NULL, "no last_error with an unknown CA");
  printf("tls: unknown CA: last_error \"%s\"\n", err);
  ck_assert_msg(strstr(err, "certificate verify failed"), "%s", err);
  g_free(err);
  server_stop(&s, SIGTERM);
  sub_free(sub);
  broker_stop(&b, SIGTERM);
}
END_TEST

/* ---- configuration ---- */

static MqttConfig *
parse(const char *text, GError **e)
{
  json_t *j = json_loads(text, 0, NULL);
  ck_assert_msg(j != NULL, "%s", text);
  MqttConfig *c = mqtt_config_from_json(j, FALSE, e);
  json_decref(j);
  return c;
}

START_TEST(test_config_defaults)
{
  GError *e = NULL;
  MqttConfig *c = parse("{\"host\": \"broker.lan\"}", &e);
  ck_assert_ptr_nonnull(c);
  ck_assert_str_eq(c->host, "broker.lan");
  ck_assert_uint_eq(c->port, 1883);
  ck_assert_str_eq(c->topic_prefix, "streamsight");
  ck_assert_str_eq(c->discovery_prefix, "homeassistant");
  ck_assert(c->discovery && c->retain_state && !c->accept_commands &&
            !c->tls);
  ck_assert(c->max_rate_hz == 1.0);
  ck_assert_int_eq(c->qos, 0);
  ck_assert_uint_eq(c->queue_len, MQTT_DEFAULT_QUEUE_LEN);
  ck_assert_int_eq(c->protocol, 4);
  mqtt_config_free(c);
  c = parse("{\"host\": \"b\", \"tls\": {}, \"qos\": 1, \"topic_prefix\": "
            "\"site/a\", \"discovery\": {\"enabled\": false, \"prefix\": "
            "\"ha\"}, \"max_rate_hz\": 0.5}", &e);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(c->port, 8883);
  ck_assert(c->tls && !c->discovery);
  ck_assert_str_eq(c->discovery_prefix, "ha");
  ck_assert_str_eq(c->topic_prefix, "site/a");
  /* The discovery node id keeps HA's character set. */
  char *t = mqtt_discovery_topic(c, "cam", MQTT_SENSOR_CLASS);
  ck_assert_str_eq(t, "ha/sensor/site_a/cam_class/config");
  g_free(t);
  mqtt_config_free(c);
}
END_TEST

typedef struct {
  const char *json;
  const char *message; /* a part of the error */
} BadCase;

static const BadCase bad_cases[] = {
  { "{}", "mqtt.host: required" },
  { "{\"host\": \"a b\"}", "mqtt.host" },
  { "{\"host\": \"h\", \"port\": 0}", "mqtt.port" },
  { "{\"host\": \"h\", \"port\": 70000}", "mqtt.port" },
  { "{\"host\": \"h\", \"qos\": 3}", "mqtt.qos" },
  { "{\"host\": \"h\", \"topic_prefix\": \"a/#\"}", "mqtt.topic_prefix" },
  { "{\"host\": \"h\", \"topic_prefix\": \"/a\"}", "mqtt.topic_prefix" },
  { "{\"host\": \"h\", \"topic_prefix\": \"\"}", "mqtt.topic_prefix" },
  { "{\"host\": \"h\", \"max_rate_hz\": -1}", "mqtt.max_rate_hz" },
  { "{\"host\": \"h\", \"keepalive_s\": 1}", "mqtt.keepalive_s" },
  { "{\"host\": \"h\", \"tls\": {\"cert\": \"c\"}}", "mqtt.tls.key" },
  { "{\"host\": \"h\", \"tls\": {\"ca\": 1}}", "mqtt.tls.ca" },
  { "{\"host\": \"h\", \"discovery\": {\"prefx\": \"x\"}}",
    "mqtt.discovery.prefx" },
  { "{\"host\": \"h\", \"pasword\": \"x\"}", "mqtt.pasword" },
  { "{\"host\": \"h\", \"password\": 12345}", "mqtt.password" },
  { "{\"host\": \"h\", \"client_id\": \"a b\"}", "mqtt.client_id" },
  { "{\"host\": \"h\", \"queue_len\": 1}", "mqtt.queue_len" },
  { "{\"host\": \"h\", \"protocol\": \"3\"}", "mqtt.protocol" },
  { "[]", "mqtt: must be an object" },
};

START_TEST(test_config_errors)
{
  const BadCase *bc = &bad_cases[_i];
  GError *e = NULL;
  MqttConfig *c = parse(bc->json, &e);
  ck_assert_msg(c == NULL, "case %d accepted: %s", _i, bc->json);
  ck_assert_msg(strstr(e->message, bc->message) != NULL,
                "case %d: '%s' lacks '%s'", _i, e->message, bc->message);
  g_error_free(e);
}
END_TEST

START_TEST(test_config_url)
{
  GError *e = NULL;
  MqttConfig *c = NULL;
  ck_assert(mqtt_config_apply_url(&c, "mqtt://u%40x:p%3Aw@broker:1884", &e));
  ck_assert_str_eq(c->host, "broker");
  ck_assert_uint_eq(c->port, 1884);
  ck_assert_str_eq(c->username, "u@x");
  ck_assert_str_eq(c->password, "p:w");
  ck_assert(!c->tls);
  /* Over a file's key: keeps the rest of it. */
  c->accept_commands = TRUE;
  ck_assert(mqtt_config_apply_url(&c, "mqtts://[::1]", &e));
  ck_assert_str_eq(c->host, "::1");
  ck_assert_uint_eq(c->port, 8883);
  ck_assert(c->tls && c->accept_commands);
  ck_assert_str_eq(c->username, "u@x"); /* no user info: kept */
  /* Empty: MQTT off. */
  ck_assert(mqtt_config_apply_url(&c, "", &e));
  ck_assert_ptr_null(c);
  const char *bad[] = { "http://h", "mqtt://", "mqtt://h:0", "mqtt://h:x",
                        "mqtt://u:SEKRIT@h/topic", "mqtt://u:SEKRIT@h b",
                        "mqtt://u:SEK%00RIT@h", "mqtt://[::1" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert_msg(!mqtt_config_apply_url(&c, bad[i], &e), "%s", bad[i]);
    ck_assert_ptr_null(c);
    ck_assert(g_str_has_prefix(e->message, "STREAMSIGHT_MQTT_URL: "));
    ck_assert_msg(strstr(e->message, "SEKRIT") == NULL, "%s", e->message);
    g_clear_error(&e);
  }
  /* Through the server's config: the variable completes the file's key. */
  ServerConfig *sc = server_config_new();
  const char *text = "{\"mqtt\": {\"topic_prefix\": \"x\"}, \"streams\": []}";
  ck_assert(server_config_load_text(sc, text, strlen(text), "t", &e));
  char *env_none[] = { NULL };
  ck_assert(!server_config_apply_env(sc, env_none, &e));
  ck_assert_msg(strstr(e->message, "mqtt.host: required"), "%s", e->message);
  g_clear_error(&e);
  char *env[] = { "STREAMSIGHT_MQTT_URL=mqtt://user:SEKRIT@10.0.0.2", NULL };
  ck_assert(server_config_apply_env(sc, env, &e));
  ck_assert_str_eq(sc->mqtt->host, "10.0.0.2");
  ck_assert_str_eq(sc->mqtt->topic_prefix, "x");
  server_config_free(sc);
  /* No key, no variable: no MQTT. */
  sc = server_config_new();
  ck_assert(server_config_apply_env(sc, env_none, &e));
  ck_assert_ptr_null(sc->mqtt);
  server_config_free(sc);
}
END_TEST

static Suite *
mqtt_suite(void)
{
  Suite *s = suite_create("mqtt");
  TCase *tc = tcase_create("config");
  tcase_add_test(tc, test_config_defaults);
  tcase_add_loop_test(tc, test_config_errors, 0, G_N_ELEMENTS(bad_cases));
  tcase_add_test(tc, test_config_url);
  suite_add_tcase(s, tc);
  tc = tcase_create("broker");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_publish);
  tcase_add_test(tc, test_last_will);
  tcase_add_test(tc, test_sharded_availability);
  tcase_add_test(tc, test_broker_restart);
  tcase_add_loop_test(tc, test_wrong_password, 0, 2);
  tcase_add_test(tc, test_commands);
  tcase_add_test(tc, test_no_broker);
  tcase_add_test(tc, test_alerts);
  tcase_add_test(tc, test_tls);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  mosquitto_lib_init();
  int rc = tu_run_suite(mqtt_suite());
  mosquitto_lib_cleanup();
  return rc;
}
