/* The MQTT publisher when the broker fails (server/mqtt.c, issue 14), on the
 * broker, subscriber and server of mqtt-fixture.c:
 *   - the broker killed and restarted: the server reconnects and publishes
 *     the state again, and inference does not slow while the broker is down
 *     (frames inferred per second, down vs up, printed);
 *   - a wrong password (MQTT 3.1.1 and 5) is a clear last_error in
 *     /api/v1/stats, not a crash loop;
 *   - nothing listening on the broker's port;
 *   - TLS from a CA made here with openssl.
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

static Suite *
mqtt_faults_suite(void)
{
  Suite *s = suite_create("mqtt-faults");
  TCase *tc = tcase_create("broker");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_broker_restart);
  tcase_add_loop_test(tc, test_wrong_password, 0, 2);
  tcase_add_test(tc, test_no_broker);
  tcase_add_test(tc, test_tls);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  mosquitto_lib_init();
  int rc = tu_run_suite(mqtt_faults_suite());
  mosquitto_lib_cleanup();
  return rc;
}
