/* The MQTT publisher against a real broker (server/mqtt.c, issue 14).
 *
 * Each broker test starts Debian's mosquitto on a free 127.0.0.1 port with a
 * password file, the built streamsight binary on a config with one test:
 * stream (videotestsrc) and an "mqtt" key, and a libmosquitto subscriber of
 * its own that records every message (mqtt-fixture.c). It checks:
 *   - predictions, state and Home Assistant discovery arrive with the
 *     documented payloads (discovery keys against HA's documented list);
 *     removing the stream clears its retained topics;
 *   - the last will says "offline" after SIGKILL of the server;
 *   - replicas of one config (sharding) each keep their own availability;
 *   - the "mqtt" key and STREAMSIGHT_MQTT_URL parse and fail as documented.
 * The broker's faults: test-mqtt-faults.c; alerts and commands:
 * test-mqtt-alerts.c.
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

#include "config.h"
#include "mqtt-config.h"
#include "mqtt-discovery.h"
#include "mqtt-fixture.h"
#include "mqtt.h"
#include "prom-check.h"
#include "testutil.h"

START_TEST(test_publish)
{
  MqttRig r;
  if (!mqtt_rig_start(&r, "publish"))
    return;
  g_autofree char *key = mqtt_key(r.broker.port, NULL);
  Server s;
  server_start(&s, r.dir, key, 10);

  /* Online, retained. */
  gboolean retained = FALSE;
  g_autofree char *avail = sub_wait(r.sub, PREFIX "/available", "online", 0,
                                    30, &retained);
  ck_assert_msg(avail != NULL, "no online on " PREFIX "/available");

  /* A prediction: the SSE event's data, with the REST API's prediction. */
  g_autofree char *pred = sub_wait(r.sub, PREFIX "/" STREAM "/prediction",
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
  guint n = sub_count(r.sub, PREFIX "/" STREAM "/prediction", t0, t1);
  printf("publish: %u prediction messages and %" G_GUINT64_FORMAT
         " frames inferred in %.1f s (max_rate_hz 1)\n", n, inf1 - inf0,
         (t1 - t0) / 1e6);
  ck_assert_msg(n >= 2 && n <= 7, "%u prediction messages in 5 s", n);
  ck_assert_msg(inf1 - inf0 > n, "inference ran no faster than MQTT");

  /* State and discovery are retained: a subscriber arriving now gets them
   * at once, with the running state. */
  Sub *late = sub_new(r.broker.port, NULL);
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
  g_autofree char *e1 = sub_wait(r.sub, dtopic_class, "", t_del, 15, &retained);
  ck_assert_msg(e1 != NULL, "no empty payload on the discovery topic");
  g_autofree char *e2 = sub_wait(r.sub, PREFIX "/" STREAM "/state", "", t_del,
                                 15, NULL);
  ck_assert_msg(e2 != NULL, "no empty payload on the state topic");
  Sub *after = sub_new(r.broker.port, NULL);
  g_usleep(500 * 1000);
  ck_assert_uint_eq(sub_count(after, dtopic_class, 0, G_MAXINT64), 0);
  ck_assert_uint_eq(sub_count(after, PREFIX "/" STREAM "/state", 0,
                              G_MAXINT64), 0);
  sub_free(after);

  /* A clean stop says offline itself. */
  gint64 t_stop = g_get_monotonic_time();
  server_stop(&s, SIGTERM);
  g_autofree char *off = sub_wait(r.sub, PREFIX "/available", "offline",
                                  t_stop, 10, NULL);
  ck_assert_msg(off != NULL, "no offline after SIGTERM");
  mqtt_rig_stop(&r);
}
END_TEST

START_TEST(test_last_will)
{
  MqttRig r;
  if (!mqtt_rig_start(&r, "last will (MQTT 5)"))
    return;
  /* MQTT 5 here (the other tests speak 3.1.1): online, a prediction and
   * the will. */
  g_autofree char *key = mqtt_key(r.broker.port, "\"protocol\": \"5\"");
  Server s;
  server_start(&s, r.dir, key, 5);
  g_autofree char *on = sub_wait(r.sub, PREFIX "/available", "online", 0, 30,
                                 NULL);
  ck_assert(on != NULL);
  g_autofree char *pred = sub_wait(r.sub, PREFIX "/" STREAM "/prediction",
                                   "\"classes\"", 0, 30, NULL);
  ck_assert(pred != NULL);
  gint64 t_kill = g_get_monotonic_time();
  server_stop(&s, SIGKILL);
  gboolean retained = FALSE;
  g_autofree char *off = sub_wait(r.sub, PREFIX "/available", "offline",
                                  t_kill, 20, NULL);
  ck_assert_msg(off != NULL, "the broker did not send the last will");
  printf("last will: offline %.2f s after SIGKILL\n",
         (g_get_monotonic_time() - t_kill) / 1e6);
  /* And it is retained for whoever comes next. */
  Sub *late = sub_new(r.broker.port, NULL);
  g_autofree char *off2 = sub_wait(late, PREFIX "/available", NULL, 0, 5,
                                   &retained);
  ck_assert(off2 && strcmp(off2, "offline") == 0 && retained);
  sub_free(late);
  mqtt_rig_stop(&r);
}
END_TEST

/* Replicas share the config and so the prefix: each has its own
 * availability topic and will, and its entities point at it. */
START_TEST(test_sharded_availability)
{
  MqttRig r;
  if (!mqtt_rig_start(&r, "sharded"))
    return;
  g_autofree char *key = mqtt_key(r.broker.port, NULL);
  Server s;
  server_start_sharded(&s, r.dir, key, 5, "0/1");
  const char *avail = PREFIX "/available/shard-0";
  g_autofree char *on = sub_wait(r.sub, avail, "online", 0, 30, NULL);
  ck_assert_msg(on != NULL, "no online on %s", avail);
  g_autofree char *dc = sub_wait(
      r.sub, "homeassistant/sensor/" PREFIX "/" STREAM "_class/config", "{", 0,
      10, NULL);
  ck_assert(dc != NULL);
  check_discovery_avail(dc, PREFIX "/" STREAM "/prediction", avail);
  ck_assert_uint_eq(sub_count(r.sub, PREFIX "/available", 0, G_MAXINT64), 0);
  gint64 t_kill = g_get_monotonic_time();
  server_stop(&s, SIGKILL);
  g_autofree char *off = sub_wait(r.sub, avail, "offline", t_kill, 20, NULL);
  ck_assert_msg(off != NULL, "no last will on %s", avail);
  mqtt_rig_stop(&r);
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
