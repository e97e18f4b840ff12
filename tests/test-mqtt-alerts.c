/* MQTT alerts and commands (server/mqtt-alerts.c, mqtt-commands.c, issue
 * 14), on the broker, subscriber and server of mqtt-fixture.c:
 *   - a rule on the class the stream sees gives <stream>/alert start, the
 *     JPEG on <stream>/snapshot and a retained ON on <stream>/<class>, then
 *     end and OFF when the stream stops; the binary sensor's and camera's
 *     discovery keys against HA's documented list;
 *   - <prefix>/<stream>/set commands work when accept_commands is on and
 *     are ignored when it is off.
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
  MqttRig r;
  if (!mqtt_rig_start(&r, "alerts"))
    return;
  g_autofree char *key = mqtt_key(r.broker.port, NULL);
  Server s;
  server_start(&s, r.dir, key, 10);
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
  g_autofree char *bs = sub_wait(r.sub, bs_topic, "{", 0, 15, NULL);
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
  g_autofree char *cam = sub_wait(r.sub, cam_topic, "{", 0, 15, NULL);
  ck_assert_msg(cam != NULL, "no camera discovery");
  json_t *cj = json_loads(cam, 0, NULL);
  check_keys(cj, ha_camera_keys, "camera");
  ck_assert_str_eq(json_string_value(json_object_get(cj, "topic")),
                   PREFIX "/" STREAM "/snapshot");
  ck_assert_ptr_nonnull(json_string_value(json_object_get(cj, "unique_id")));
  json_decref(cj);

  g_autofree char *start = sub_wait(r.sub, PREFIX "/" STREAM "/alert",
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
  g_autofree char *on = sub_wait(r.sub, topic_cls, "ON", 0, 10, NULL);
  ck_assert_msg(on != NULL, "no ON on %s", topic_cls);
  g_autofree char *jpeg = sub_wait(r.sub, PREFIX "/" STREAM "/snapshot", NULL,
                                   0, 10, NULL);
  ck_assert_msg(jpeg && (guint8)jpeg[0] == 0xff && (guint8)jpeg[1] == 0xd8,
                "no JPEG on the snapshot topic");
  /* Retained: a late subscriber reads ON at once. */
  Sub *late = sub_new(r.broker.port, NULL);
  g_autofree char *on2 = sub_wait(late, topic_cls, "ON", 0, 10, &retained);
  ck_assert(on2 && retained);
  sub_free(late);

  g_free(out);
  out = NULL;
  ck_assert(http_request(s.port, "PATCH", "/api/v1/streams/" STREAM,
                         "{\"enabled\": false}", &status, &out));
  ck_assert_int_eq(status, 200);
  g_autofree char *end = sub_wait(r.sub, PREFIX "/" STREAM "/alert",
                                  "\"type\":\"end\"", 0, 30, NULL);
  ck_assert_msg(end != NULL, "no alert end published");
  g_autofree char *off = sub_wait(r.sub, topic_cls, "OFF", 0, 10, NULL);
  ck_assert_msg(off != NULL, "no OFF on %s", topic_cls);
  /* The rule removed: its entities are deleted (empty retained configs). */
  gint64 t_rm = g_get_monotonic_time();
  g_free(out);
  out = NULL;
  ck_assert(http_request(s.port, "PATCH", "/api/v1/streams/" STREAM,
                         "{\"alerts\": []}", &status, &out));
  ck_assert_int_eq(status, 200);
  g_autofree char *bs_gone = sub_wait(r.sub, bs_topic, "", t_rm, 15, NULL);
  ck_assert_msg(bs_gone != NULL, "the binary sensor was not deleted");
  g_autofree char *cam_gone = sub_wait(r.sub, cam_topic, "", t_rm, 15, NULL);
  ck_assert_msg(cam_gone != NULL, "the camera was not deleted");
  server_stop(&s, SIGTERM);
  mqtt_rig_stop(&r);
}
END_TEST

START_TEST(test_commands)
{
  MqttRig r;
  if (!mqtt_rig_start(&r, "commands"))
    return;

  /* Off (the default): a command changes nothing. */
  {
    g_autofree char *key = mqtt_key(r.broker.port, NULL);
    Server s;
    server_start(&s, r.dir, key, 5);
    g_autofree char *on = sub_wait(r.sub, PREFIX "/available", "online", 0, 30,
                                   NULL);
    ck_assert(on != NULL);
    sub_publish(r.sub, PREFIX "/" STREAM "/set", "{\"enabled\": false}");
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
  g_autofree char *key = mqtt_key(r.broker.port, "\"accept_commands\": true");
  Server s;
  server_start(&s, r.dir, key, 5);
  g_autofree char *on = sub_wait(r.sub, PREFIX "/available", "online", t0, 30,
                                 NULL);
  ck_assert(on != NULL);
  g_usleep(300 * 1000); /* its SUBSCRIBE */
  sub_publish(r.sub, PREFIX "/" STREAM "/set", "{\"max_fps\": 2}");
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
  sub_publish(r.sub, PREFIX "/" STREAM "/set", "{\"enabled\": false}");
  g_autofree char *stopped = sub_wait(r.sub, PREFIX "/" STREAM "/state",
                                      "\"stopped\"", t1, 15, NULL);
  ck_assert_msg(stopped != NULL, "no stopped state after enabled false");
  ck_assert(strstr(stopped, "\"enabled\":false"));

  /* Hostile commands are refused with PATCH's words; nothing changes. */
  const char *bad[] = { "{\"max_fps\": \"fast\"}", "{\"uri\": \"file:///\"}",
                        "not json", "{}", "[1]" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    sub_publish(r.sub, PREFIX "/" STREAM "/set", bad[i]);
  sub_publish(r.sub, PREFIX "/no-such-stream/set", "{\"enabled\": true}");
  sub_publish(r.sub, PREFIX "/BAD ID/set", "{\"enabled\": true}");
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
  mqtt_rig_stop(&r);
}
END_TEST

static Suite *
mqtt_alerts_suite(void)
{
  Suite *s = suite_create("mqtt-alerts");
  TCase *tc = tcase_create("broker");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_commands);
  tcase_add_test(tc, test_alerts);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  mosquitto_lib_init();
  int rc = tu_run_suite(mqtt_alerts_suite());
  mosquitto_lib_cleanup();
  return rc;
}
