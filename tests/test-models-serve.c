/* Several models in the built binary (serve.c's loading, issue 12): a
 * config with "models" (the two in-tree safetensors models) and a stream on
 * each; GET /api/v1/models with the latency measured at load; each
 * stream's predictions from its own model; an unknown model refused over
 * the API and in the config file; the write-back keeps the models and each
 * stream's model. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child-process.h"
#include "testutil.h"

#define START_TIMEOUT_S 60
#define PREDICTION_TIMEOUT_S 60

static const char *
exe_path(void)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  ck_assert_msg(exe && *exe, "SS_STREAMSIGHT_EXE is not set");
  return exe;
}

static char *
write_config(const char *dir, const char *name, const char *streams)
{
  char v2[1024], v1[1024];
  tu_fixture_path("golden/mobilenet_v2_0.25_64.safetensors", v2, sizeof v2);
  tu_fixture_path("golden/mobilenet_v1_0.25_80.safetensors", v1, sizeof v1);
  char *path = g_build_filename(dir, name, NULL);
  char *text = g_strdup_printf(
      "{\"threads\": 1,\n"
      " \"models\": [{\"id\": \"wide\", \"path\": \"%s\"},\n"
      "            {\"id\": \"cheap\", \"path\": \"%s\", \"engine\": "
      "\"float\"}],\n"
      " \"streams\": [%s]}\n", v2, v1, streams);
  ck_assert(g_file_set_contents(path, text, -1, NULL));
  g_free(text);
  return path;
}

static char **
clean_env(void)
{
  char **envp = g_get_environ();
  const char *drop[] = { "STREAMSIGHT_CONFIG", "STREAMSIGHT_PORT",
                         "STREAMSIGHT_BIND", "STREAMSIGHT_TOKEN",
                         "STREAMSIGHT_MODEL", "STREAMSIGHT_LABELS",
                         "STREAMSIGHT_THREADS", "STREAMSIGHT_MQTT_URL" };
  for (gsize i = 0; i < G_N_ELEMENTS(drop); i++)
    envp = g_environ_unsetenv(envp, drop[i]);
  return envp;
}

static json_t *
get_json(guint port, const char *target, int want_status)
{
  int status = 0;
  char *body = NULL;
  ck_assert_msg(http_request(port, "GET", target, NULL, &status, &body),
                "GET %s: no answer", target);
  ck_assert_msg(status == want_status, "GET %s: %d %s", target, status,
                body ? body : "");
  json_t *j = json_loads(body ? body : "", 0, NULL);
  g_free(body);
  ck_assert_ptr_nonnull(j);
  return j;
}

/* The latest prediction of a stream (new reference), waiting for it. */
static json_t *
wait_prediction(guint port, const char *id)
{
  char *target = g_strdup_printf("/api/v1/streams/%s/predictions/latest", id);
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)PREDICTION_TIMEOUT_S * G_USEC_PER_SEC;
  json_t *p = NULL;
  while (!p && g_get_monotonic_time() < deadline) {
    json_t *j = get_json(port, target, 200);
    json_t *pred = json_object_get(j, "prediction");
    if (json_is_object(pred))
      p = json_incref(pred);
    json_decref(j);
    if (!p)
      g_usleep(100 * 1000);
  }
  g_free(target);
  ck_assert_msg(p != NULL, "no prediction of %s", id);
  return p;
}

START_TEST(test_two_models)
{
  char *dir = g_strdup_printf("%s/models-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *config = write_config(
      dir, "streamsight.json",
      "{\"id\": \"a\", \"name\": \"a\", \"uri\": \"test:\", \"pattern\": "
      "\"ball\"},\n"
      "  {\"id\": \"b\", \"name\": \"b\", \"uri\": \"test:\", \"pattern\": "
      "\"ball\", \"model\": \"cheap\"}");
  char *log = g_build_filename(dir, "log.txt", NULL);
  char **envp = clean_env();
  char *argv[] = { (char *)exe_path(), "serve", "--config", config, "--port",
                   "0", NULL };
  Child srv;
  ck_assert(child_spawn(&srv, argv, envp, log));
  g_strfreev(envp);
  guint port = wait_listening(&srv, START_TIMEOUT_S);
  if (!port) {
    g_autofree char *tail = child_log_tail(&srv);
    child_finish(&srv, SIGKILL, 5);
    ck_abort_msg("the server did not start:\n%s", tail);
  }

  json_t *j = get_json(port, "/api/v1/models", 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 2);
  const struct {
    const char *id, *arch;
    int side, dim;
  } want[] = { { "wide", "mobilenet_v2", 64, 1280 },
               { "cheap", "mobilenet_v1", 80, 256 } };
  for (int i = 0; i < 2; i++) {
    json_t *m = json_array_get(json_object_get(j, "models"), (size_t)i);
    ck_assert_str_eq(json_string_value(json_object_get(m, "id")), want[i].id);
    ck_assert_str_eq(json_string_value(json_object_get(m, "arch")),
                     want[i].arch);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(m, "input"), "width")), want[i].side);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "feature_dim")),
                     want[i].dim);
    ck_assert(json_number_value(json_object_get(m, "latency_ms")) > 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "engine")), "float");
    printf("%s: %s %dx%d, %d features, %.3f ms at load\n", want[i].id,
           want[i].arch, want[i].side, want[i].side, want[i].dim,
           json_number_value(json_object_get(m, "latency_ms")));
  }
  json_decref(j);

  const struct { const char *stream, *model; int side; } st[] = {
    { "a", "wide", 64 }, { "b", "cheap", 80 },
  };
  for (int i = 0; i < 2; i++) {
    json_t *p = wait_prediction(port, st[i].stream);
    ck_assert_str_eq(json_string_value(json_object_get(p, "model_id")),
                     st[i].model);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(p, "input"), "width")), st[i].side);
    json_decref(p);
  }

  int status = 0;
  char *body = NULL;
  ck_assert(http_request(port, "POST", "/api/v1/streams",
                         "{\"name\": \"c\", \"uri\": \"test:\", \"model\": "
                         "\"nope\"}", &status, &body));
  ck_assert_int_eq(status, 400);
  ck_assert_msg(strstr(body, "model: unknown model (the models are: wide, "
                             "cheap)"), "%s", body);
  g_free(body);
  ck_assert(http_request(port, "POST", "/api/v1/streams",
                         "{\"id\": \"c\", \"name\": \"c\", \"uri\": \"test:\", "
                         "\"enabled\": false, \"model\": \"cheap\"}", &status,
                         NULL));
  ck_assert_int_eq(status, 201);

  int rc = child_finish(&srv, SIGTERM, 30);
  if (rc != 0) {
    g_autofree char *tail = child_log_tail(&srv);
    ck_abort_msg("exit %d:\n%s", rc, tail);
  }
  child_clear(&srv);

  /* The write-back keeps the models and each stream's model. */
  json_t *file = json_load_file(config, 0, NULL);
  ck_assert_ptr_nonnull(file);
  ck_assert_uint_eq(json_array_size(json_object_get(file, "models")), 2);
  json_t *streams = json_object_get(file, "streams");
  ck_assert_uint_eq(json_array_size(streams), 3);
  for (size_t i = 0; i < 3; i++) {
    json_t *s = json_array_get(streams, i);
    const char *id = json_string_value(json_object_get(s, "id"));
    json_t *m = json_object_get(s, "model");
    if (strcmp(id, "a") == 0)
      ck_assert(m == NULL);
    else
      ck_assert_str_eq(json_string_value(m), "cheap");
  }
  json_decref(file);

  /* A stream naming a model the list does not have: exit 2 at load. */
  char *bad = write_config(dir, "bad.json",
                           "{\"name\": \"x\", \"uri\": \"test:\", "
                           "\"model\": \"gone\"}");
  char *blog = g_build_filename(dir, "bad-log.txt", NULL);
  envp = clean_env();
  char *argv2[] = { (char *)exe_path(), "serve", "--config", bad, "--port",
                    "0", NULL };
  ck_assert(child_spawn(&srv, argv2, envp, blog));
  g_strfreev(envp);
  rc = child_finish(&srv, 0, 60);
  g_autofree char *tail = child_log_tail(&srv);
  ck_assert_msg(rc == 2, "exit %d:\n%s", rc, tail);
  ck_assert_msg(strstr(tail, "streams[0].model: unknown model 'gone' (the "
                             "models are: wide, cheap)"), "%s", tail);
  child_clear(&srv);

  g_free(blog);
  g_free(bad);
  g_free(log);
  g_free(config);
  g_free(dir);
}
END_TEST

static Suite *
models_serve_suite(void)
{
  Suite *s = suite_create("models-serve");
  TCase *tc = tcase_create("serve");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_two_models);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(models_serve_suite());
}
