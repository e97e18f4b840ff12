/* Tests of server/config.c: the defaults of "{}" (and the thread count
 * from the cgroup's CPU quota), every key parsed, and environment
 * overrides (variables, ${NAME} in camera URIs). Every key's validation:
 * test-config-validation.c; files and the atomic write-back, the sample
 * config: test-config-files.c. */
#include <check.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config-fixture.h"
#include "config.h"
#include "cpu-count.h"
#include "json-util.h"
#include "streamsight-sink.h"
#include "testutil.h"

/* ---- defaults ---- */

/* The default thread count follows docker --cpus / Kubernetes limits. */
START_TEST(test_cpu_quota_texts)
{
  ck_assert_int_eq(cpu_quota_from_cgroup2("max 100000\n"), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup2("200000 100000\n"), 2);
  ck_assert_int_eq(cpu_quota_from_cgroup2("150000 100000"), 2);
  ck_assert_int_eq(cpu_quota_from_cgroup2("50000 100000\n"), 1);
  ck_assert_int_eq(cpu_quota_from_cgroup2("100000"), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup2(""), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup2("x 100000"), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup2("100000 0"), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup1("-1\n", "100000\n"), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup1("300000\n", "100000\n"), 3);
  ck_assert_int_eq(cpu_quota_from_cgroup1("250000", "100000"), 3);
  ck_assert_int_eq(cpu_quota_from_cgroup1("12ab", "100000"), 0);
  ck_assert_int_eq(cpu_quota_from_cgroup1(NULL, "100000"), 0);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int usable = cpu_count_usable();
  ck_assert_int_ge(usable, 1);
  ck_assert_int_le(usable, online > 0 ? online : 1);
}
END_TEST

static void
put_file(const char *dir, const char *rel, const char *text)
{
  char *path = g_build_filename(dir, rel, NULL);
  char *parent = g_path_get_dirname(path);
  ck_assert_int_eq(g_mkdir_with_parents(parent, 0700), 0);
  ck_assert(g_file_set_contents(path, text, -1, NULL));
  g_free(parent);
  g_free(path);
}

/* The cgroup walk on trees of our own: v2 (the cgroup named in the proc file
 * and the root), v1 with the cpu controller co-mounted (the named path and
 * the mount's root, as in a Docker container without a cgroup namespace),
 * no limit, no file. */
START_TEST(test_cpu_quota_cgroup_files)
{
  char *dir = g_dir_make_tmp("ss-cgroup-XXXXXX", NULL);
  ck_assert_ptr_nonnull(dir);
  char *proc = g_build_filename(dir, "proc-cgroup", NULL);
  char *sys = g_build_filename(dir, "sys", NULL);

  put_file(dir, "proc-cgroup", "0::/a/b\n");
  put_file(dir, "sys/cpu.max", "max 100000\n");
  ck_assert_int_eq(cpu_quota_from_cgroup_files(proc, sys), 0);
  put_file(dir, "sys/a/b/cpu.max", "150000 100000\n");
  ck_assert_int_eq(cpu_quota_from_cgroup_files(proc, sys), 2);

  put_file(dir, "proc-cgroup", "9:name=systemd:/\n4:memory:/docker/abc\n"
           "3:cpu,cpuacct:/docker/abc\n0::/\n");
  put_file(dir, "sys/cpu,cpuacct/cpu.cfs_quota_us", "300000\n");
  put_file(dir, "sys/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  ck_assert_int_eq(cpu_quota_from_cgroup_files(proc, sys), 3);
  put_file(dir, "sys/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  put_file(dir, "sys/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  ck_assert_int_eq(cpu_quota_from_cgroup_files(proc, sys), 1);

  put_file(dir, "proc-cgroup", "2:cpuacct:/\n1:cpu:/\n0::/\n");
  put_file(dir, "sys/cpu/cpu.cfs_quota_us", "-1\n");
  put_file(dir, "sys/cpu/cpu.cfs_period_us", "100000\n");
  ck_assert_int_eq(cpu_quota_from_cgroup_files(proc, sys), 0);
  put_file(dir, "sys/cpu/cpu.cfs_quota_us", "200000\n");
  ck_assert_int_eq(cpu_quota_from_cgroup_files(proc, sys), 2);

  char *missing = g_build_filename(dir, "no-such-file", NULL);
  ck_assert_int_eq(cpu_quota_from_cgroup_files(missing, sys), 0);
  g_free(missing);

  char *argv[] = { "rm", "-rf", dir, NULL };
  ck_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                         NULL, NULL, NULL, NULL));
  g_free(proc);
  g_free(sys);
  g_free(dir);
}
END_TEST

START_TEST(test_empty_object_is_defaults)
{
  char *msg = NULL;
  ServerConfig *c = load("{}", &msg);
  ck_assert_msg(c != NULL, "{} rejected: %s", msg);
  ck_assert_str_eq(c->bind, "127.0.0.1");
  ck_assert_uint_eq(c->port, 8080);
  ck_assert_uint_eq(c->threads, (guint)cpu_count_usable());
  ck_assert_uint_eq(c->http_threads, CONFIG_DEFAULT_HTTP_THREADS);
  ck_assert_str_eq(c->model_path, "models/mobilenet_v2_1.0_224_quant.tflite");
  ck_assert_ptr_null(c->labels_path);
  ck_assert_int_eq(c->engine, CONFIG_ENGINE_AUTO);
  ck_assert_ptr_null(c->auth_token);
  ck_assert_ptr_null(c->tls_cert_path);
  ck_assert_ptr_null(c->tls_key_path);
  ck_assert_uint_eq(c->limits.max_streams, 32);
  ck_assert_uint_eq(c->limits.max_body_bytes, 8u << 20);
  ck_assert_uint_eq(c->limits.max_connections, 256);
  ck_assert_uint_eq(c->limits.connection_timeout_s, 30);
  ck_assert_uint_eq(c->limits.max_connections_per_ip, 128);
  ck_assert_uint_eq(c->limits.header_timeout_s, 10);
  ck_assert_uint_eq(c->limits.min_body_bytes_per_s, 4096);
  ck_assert_uint_eq(c->limits.max_sse_clients, 64);
  ck_assert_uint_eq(c->limits.max_header_bytes, 16384);
  ck_assert_uint_eq(c->limits.max_uri_bytes, 8192);
  ck_assert_uint_eq(c->limits.decode_memory_mb, 256);
  ck_assert_uint_eq(c->limits.max_heads, 16);
  ck_assert_uint_eq(c->limits.max_head_classes, 16);
  ck_assert_uint_eq(c->limits.max_head_examples, 500);
  ck_assert(c->streams_defaulted);
  ck_assert_uint_eq(c->streams->len, 1);
  ConfigStream *s = g_ptr_array_index(c->streams, 0);
  ck_assert_ptr_null(s->id);
  ck_assert_str_eq(s->config.name, "test");
  ck_assert_str_eq(s->config.uri, "test:");
  ck_assert(s->config.enabled);
  server_config_free(c);
}
END_TEST

START_TEST(test_empty_streams_means_none)
{
  ServerConfig *c = load("{\"streams\": []}", NULL);
  ck_assert_ptr_nonnull(c);
  ck_assert(!c->streams_defaulted);
  ck_assert_uint_eq(c->streams->len, 0);
  server_config_free(c);
}
END_TEST

START_TEST(test_null_means_default)
{
  ServerConfig *c = load("{\"port\": null, \"labels\": null, \"auth\": null, "
                         "\"streams\": [{\"name\": \"a\", \"uri\": \"test:\","
                         " \"max_fps\": null}]}", NULL);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(c->port, 8080);
  ck_assert_ptr_null(c->labels_path);
  ck_assert_ptr_null(c->auth_token);
  ConfigStream *s = g_ptr_array_index(c->streams, 0);
  ck_assert(s->config.max_fps == 5.0);
  server_config_free(c);
}
END_TEST

/* Unset, max_sse_clients takes at most half of the connections. */
START_TEST(test_sse_clients_default_follows_connections)
{
  char *msg = NULL;
  ServerConfig *c = load("{\"limits\": {\"max_connections\": 10}}", &msg);
  ck_assert_msg(c != NULL, "rejected: %s", msg);
  ck_assert_uint_eq(c->limits.max_sse_clients, 5);
  server_config_free(c);
  c = load("{\"limits\": {\"max_connections\": 1}}", &msg);
  ck_assert_msg(c != NULL, "rejected: %s", msg);
  ck_assert_uint_eq(c->limits.max_sse_clients, 0);
  server_config_free(c);
}
END_TEST

START_TEST(test_every_key_parsed)
{
  const char *text =
      "{\"comment\": [\"free text, ignored\"],\n"
      " \"bind\": \"::1\", \"port\": 0, \"threads\": 3, \"http_threads\": 5,\n"
      " \"model\": \"/m/x.tflite\", \"labels\": \"/m/labels.txt\",\n"
      " \"engine\": \"float\",\n"
      " \"auth\": {\"token\": \"s3cr3t-token\"},\n"
      " \"tls\": {\"cert\": \"/c.pem\", \"key\": \"/k.pem\"},\n"
      " \"limits\": {\"max_streams\": 4, \"max_body_bytes\": 2048,\n"
      "   \"max_connections\": 9, \"connection_timeout_s\": 7,\n"
      "   \"max_sse_clients\": 3, \"max_header_bytes\": 4096,\n"
      "   \"max_uri_bytes\": 512, \"max_connections_per_ip\": 0,\n"
      "   \"decode_memory_mb\": 64,\n"
      "   \"header_timeout_s\": 3, \"min_body_bytes_per_s\": 100},\n"
      " \"streams\": [{\"id\": \"cam-1\", \"name\": \"Door\",\n"
      "   \"uri\": \"rtsp://u:p%40ss@10.0.0.2:554/live\", \"transport\": "
      "\"udp\",\n"
      "   \"decode\": \"keyframes\", \"max_fps\": 2.5, \"top_k\": 3,\n"
      "   \"enabled\": false, \"history_len\": 50, \"stall_timeout_s\": 20,\n"
      "   \"backoff_initial_s\": 2, \"backoff_max_s\": 60,\n"
      "   \"rtsp_latency_ms\": 100, \"resize_mode\": \"letterbox\",\n"
      "   \"realtime\": false},\n"
      "  {\"name\": \"Pattern\", \"uri\": \"test:\", \"pattern\": \"ball\"},\n"
      "  {\"name\": \"Cam\", \"uri\": \"v4l2:///dev/video0\",\n"
      "   \"device\": \"/dev/video2\"}]}";
  char *msg = NULL;
  ServerConfig *c = load(text, &msg);
  ck_assert_msg(c != NULL, "rejected: %s", msg);
  ck_assert_str_eq(c->bind, "::1");
  ck_assert_uint_eq(c->port, 0);
  ck_assert_uint_eq(c->threads, 3);
  ck_assert_uint_eq(c->http_threads, 5);
  ck_assert_str_eq(c->model_path, "/m/x.tflite");
  ck_assert_str_eq(c->labels_path, "/m/labels.txt");
  ck_assert_int_eq(c->engine, CONFIG_ENGINE_FLOAT);
  ck_assert_str_eq(c->auth_token, "s3cr3t-token");
  ck_assert_str_eq(c->tls_cert_path, "/c.pem");
  ck_assert_str_eq(c->tls_key_path, "/k.pem");
  ck_assert_uint_eq(c->limits.max_streams, 4);
  ck_assert_uint_eq(c->limits.max_body_bytes, 2048);
  ck_assert_uint_eq(c->limits.max_connections, 9);
  ck_assert_uint_eq(c->limits.connection_timeout_s, 7);
  ck_assert_uint_eq(c->limits.max_connections_per_ip, 0);
  ck_assert_uint_eq(c->limits.header_timeout_s, 3);
  ck_assert_uint_eq(c->limits.min_body_bytes_per_s, 100);
  ck_assert_uint_eq(c->limits.max_sse_clients, 3);
  ck_assert_uint_eq(c->limits.max_header_bytes, 4096);
  ck_assert_uint_eq(c->limits.max_uri_bytes, 512);
  ck_assert_uint_eq(c->limits.decode_memory_mb, 64);
  ck_assert(!c->streams_defaulted);
  ck_assert_uint_eq(c->streams->len, 3);
  ConfigStream *s = g_ptr_array_index(c->streams, 0);
  ck_assert_str_eq(s->id, "cam-1");
  ck_assert_str_eq(s->config.name, "Door");
  ck_assert_str_eq(s->config.uri, "rtsp://u:p%40ss@10.0.0.2:554/live");
  ck_assert_int_eq(s->config.transport, STREAM_TRANSPORT_UDP);
  ck_assert_int_eq(s->config.decode, STREAM_DECODE_KEYFRAMES);
  ck_assert(s->config.max_fps == 2.5);
  ck_assert_int_eq(s->config.top_k, 3);
  ck_assert(!s->config.enabled);
  ck_assert_uint_eq(s->config.history_len, 50);
  ck_assert(s->config.stall_timeout_s == 20.0);
  ck_assert(s->config.backoff_initial_s == 2.0);
  ck_assert(s->config.backoff_max_s == 60.0);
  ck_assert_uint_eq(s->config.rtsp_latency_ms, 100);
  ck_assert_int_eq(s->config.resize_mode, STREAMSIGHT_RESIZE_LETTERBOX);
  ck_assert(!s->config.realtime);
  s = g_ptr_array_index(c->streams, 1);
  ck_assert_ptr_null(s->id);
  ck_assert_str_eq(s->config.pattern, "ball");
  s = g_ptr_array_index(c->streams, 2);
  ck_assert_str_eq(s->config.device, "/dev/video2");
  server_config_free(c);
}
END_TEST

/* ---- environment ---- */

START_TEST(test_env_overrides)
{
  ServerConfig *c = load("{\"port\": 9000, \"bind\": \"0.0.0.0\", \"model\": "
                         "\"/file\", \"labels\": \"/l\", \"threads\": 1, "
                         "\"auth\": {\"token\": \"fromfile\"}}", NULL);
  ck_assert_ptr_nonnull(c);
  char *env[] = {
    "STREAMSIGHT_PORT=9100", "STREAMSIGHT_BIND=::", "STREAMSIGHT_THREADS=7",
    "STREAMSIGHT_MODEL=/env/model.tflite", "STREAMSIGHT_LABELS=/env/l.txt",
    "STREAMSIGHT_TOKEN=envtoken", "UNRELATED=1", NULL
  };
  GError *e = NULL;
  ck_assert_msg(server_config_apply_env(c, env, &e), "%s",
                e ? e->message : "");
  ck_assert_uint_eq(c->port, 9100);
  ck_assert_str_eq(c->bind, "::");
  ck_assert_uint_eq(c->threads, 7);
  ck_assert_str_eq(c->model_path, "/env/model.tflite");
  ck_assert_str_eq(c->labels_path, "/env/l.txt");
  ck_assert_str_eq(c->auth_token, "envtoken");
  /* The file's object is untouched: overrides are never written back. */
  ck_assert_int_eq(json_integer_value(json_object_get(c->root, "port")),
                   9000);

  /* Empty token and labels turn them off; threads 0 = one per CPU. */
  char *env2[] = { "STREAMSIGHT_TOKEN=", "STREAMSIGHT_LABELS=",
                   "STREAMSIGHT_THREADS=0", NULL };
  ck_assert(server_config_apply_env(c, env2, NULL));
  ck_assert_ptr_null(c->auth_token);
  ck_assert_ptr_null(c->labels_path);
  ck_assert_uint_eq(c->threads, (guint)cpu_count_usable());
  ck_assert(server_config_apply_env(c, NULL, NULL));
  server_config_free(c);
}
END_TEST

typedef struct {
  const char *text;
  const char *expect; /* substring of the message */
} BadCase;

static const BadCase bad_env[] = {
  { "STREAMSIGHT_PORT=80x", "STREAMSIGHT_PORT: must be an integer 0..65535" },
  { "STREAMSIGHT_PORT=", "STREAMSIGHT_PORT: must be an integer" },
  { "STREAMSIGHT_PORT=-1", "STREAMSIGHT_PORT: must be an integer" },
  { "STREAMSIGHT_PORT=65536", "STREAMSIGHT_PORT: must be an integer" },
  { "STREAMSIGHT_BIND=example.com", "STREAMSIGHT_BIND: must be a numeric" },
  { "STREAMSIGHT_BIND=", "STREAMSIGHT_BIND: must be a numeric" },
  { "STREAMSIGHT_THREADS=many", "STREAMSIGHT_THREADS: must be an integer" },
  { "STREAMSIGHT_THREADS=1000", "STREAMSIGHT_THREADS: must be an integer" },
  { "STREAMSIGHT_MODEL=", "STREAMSIGHT_MODEL: must be a path" },
  { "STREAMSIGHT_TOKEN=has space", "STREAMSIGHT_TOKEN: must be printable" },
};

START_TEST(test_env_bad_values_name_the_variable)
{
  ServerConfig *c = server_config_new();
  char *env[] = { (char *)bad_env[_i].text, NULL };
  GError *e = NULL;
  ck_assert_msg(!server_config_apply_env(c, env, &e), "case %d accepted",
                _i);
  ck_assert_msg(strstr(e->message, bad_env[_i].expect) != NULL,
                "case %d: '%s' lacks '%s'", _i, e->message,
                bad_env[_i].expect);
  ck_assert_msg(strstr(e->message, "has space") == NULL, "token echoed");
  g_error_free(e);
  /* Nothing changed. */
  ck_assert_uint_eq(c->port, 8080);
  ck_assert_str_eq(c->bind, "127.0.0.1");
  ck_assert_ptr_null(c->auth_token);
  server_config_free(c);
}
END_TEST

/* ${NAME} in a config file's camera URI: the variable's value,
 * percent-encoded; missing or malformed references are errors naming the
 * key and the variable (never a value); the write-back keeps the
 * reference, not the secret; a URI given to config_stream_from_json (the
 * API's path) is never expanded. */
START_TEST(test_uri_env_references)
{
  char *msg = NULL;
  g_setenv("SS_TEST_CAM_PW", "p@ss:/w 0rd", TRUE);
  g_setenv("SS_TEST_CAM_USER", "viewer", TRUE);
  g_unsetenv("SS_TEST_UNSET");
  ServerConfig *c = load(
      "{\"streams\": [{\"id\": \"door\", \"name\": \"door\", \"uri\": "
      "\"rtsp://${SS_TEST_CAM_USER}:${SS_TEST_CAM_PW}@192.168.1.64/x\"},"
      "{\"name\": \"q\", \"uri\": \"http://10.0.0.2/v.cgi?user=admin&"
      "pwd=${SS_TEST_CAM_PW}\"}]}", &msg);
  ck_assert_msg(c != NULL, "%s", msg);
  ConfigStream *s = g_ptr_array_index(c->streams, 0);
  ck_assert_str_eq(s->config.uri,
                   "rtsp://viewer:p%40ss%3A%2Fw%200rd@192.168.1.64/x");
  s = g_ptr_array_index(c->streams, 1);
  ck_assert_str_eq(s->config.uri,
                   "http://10.0.0.2/v.cgi?user=admin&pwd=p%40ss%3A%2Fw%200rd");
  /* The file as read keeps the reference. */
  json_t *first = json_array_get(json_object_get(c->root, "streams"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(first, "uri")),
                   "rtsp://${SS_TEST_CAM_USER}:${SS_TEST_CAM_PW}@"
                   "192.168.1.64/x");

  /* Write-back: the reference again, not the password; a stream whose
   * URI no longer is the expansion is written as it is. */
  char *path = tmp_path("streamsight.json");
  ConfigStore *st = config_store_new(path, c->root);
  GPtrArray *configs = g_ptr_array_new();
  GPtrArray *ids = g_ptr_array_new();
  ConfigStream *door = g_ptr_array_index(c->streams, 0);
  g_ptr_array_add(configs, &door->config);
  g_ptr_array_add(ids, "door");
  ck_assert(config_store_write(st, configs, ids, NULL));
  char *text = read_file(path);
  ck_assert_msg(strstr(text, "${SS_TEST_CAM_PW}") && !strstr(text, "p%40ss"),
                "%s", text);
  g_free(text);
  g_setenv("SS_TEST_CAM_PW", "changed", TRUE);
  ck_assert(config_store_write(st, configs, ids, NULL));
  text = read_file(path);
  ck_assert_msg(strstr(text, "p%40ss%3A%2Fw%200rd") != NULL, "%s", text);
  g_free(text);
  config_store_free(st);
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);
  g_free(path);
  server_config_free(c);

  static const struct {
    const char *uri, *needle;
  } bad[] = {
    { "rtsp://a:${SS_TEST_UNSET}@h/x",
      "streams[0].uri: ${SS_TEST_UNSET} is not set in the environment" },
    { "rtsp://a:${SS_TEST_CAM_PW@h/x", "streams[0].uri: '${' without" },
    { "rtsp://a:${}@h/x", "streams[0].uri: ${...}: a variable name is" },
    { "rtsp://a:${1X}@h/x", "a variable name is" },
    { "rtsp://a:${A-B}@h/x", "a variable name is" },
  };
  g_setenv("SS_TEST_CAM_PW", "SEKRIT", TRUE);
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *t = g_strdup_printf("{\"streams\": [{\"name\": \"a\", \"uri\": "
                              "\"%s\"}]}", bad[i].uri);
    c = load(t, &msg);
    ck_assert_msg(c == NULL, "case %u accepted", i);
    ck_assert_msg(strstr(msg, bad[i].needle) && !strstr(msg, "SEKRIT"),
                  "case %u: %s", i, msg);
    g_free(msg);
    g_free(t);
  }

  /* The API's parser takes the text as it is: no environment read. */
  json_t *obj = json_pack("{s:s, s:s}", "name", "x", "uri",
                          "rtsp://a:${SS_TEST_CAM_PW}@h/x");
  StreamConfig sc;
  GError *e = NULL;
  if (config_stream_from_json(obj, "", TRUE, NULL, &sc, &e)) {
    ck_assert_msg(strstr(sc.uri, "SEKRIT") == NULL, "%s", sc.uri);
    stream_config_clear(&sc);
  } else {
    ck_assert_msg(strstr(e->message, "SEKRIT") == NULL, "%s", e->message);
    g_clear_error(&e);
  }
  json_decref(obj);
  g_unsetenv("SS_TEST_CAM_PW");
  g_unsetenv("SS_TEST_CAM_USER");
}
END_TEST

static Suite *
config_suite(void)
{
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("defaults");
  tcase_add_test(tc, test_empty_object_is_defaults);
  tcase_add_test(tc, test_cpu_quota_texts);
  tcase_add_test(tc, test_cpu_quota_cgroup_files);
  tcase_add_test(tc, test_empty_streams_means_none);
  tcase_add_test(tc, test_null_means_default);
  tcase_add_test(tc, test_every_key_parsed);
  tcase_add_test(tc, test_sse_clients_default_follows_connections);
  suite_add_tcase(s, tc);

  tc = tcase_create("environment");
  tcase_add_test(tc, test_env_overrides);
  tcase_add_test(tc, test_uri_env_references);
  tcase_add_loop_test(tc, test_env_bad_values_name_the_variable, 0,
                      (int)G_N_ELEMENTS(bad_env));
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(config_suite());
}
