/* Tests of server/config.c with files: loading one, the atomic write-back
 * of streams (reload, an empty list, a failed write, a crash before the
 * rename), and the sample config and its documentation (every accepted key
 * documented). */
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

static void
write_file(const char *path, const char *text)
{
  GError *e = NULL;
  ck_assert_msg(g_file_set_contents(path, text, -1, &e), "write %s", path);
}

/* Temporary files a write left next to path. */
static size_t
count_temps(const char *path)
{
  char *dir = g_path_get_dirname(path);
  char *base = g_path_get_basename(path);
  char *pat = g_strdup_printf("%s/.%s.tmp-*", dir, base);
  glob_t g;
  size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
  if (n)
    globfree(&g);
  g_free(pat);
  g_free(base);
  g_free(dir);
  return n;
}

/* ---- files ---- */

START_TEST(test_load_file)
{
  char *path = tmp_path("streamsight.json");
  ServerConfig *c = server_config_new();
  GError *e = NULL;
  /* Missing file in an existing directory: defaults, created later. */
  ck_assert(server_config_load_file(c, path, &e));
  ck_assert(!c->file_exists);
  ck_assert_str_eq(c->path, path);
  ck_assert(c->streams_defaulted);

  write_file(path, "{\"port\": 1234}\n");
  ck_assert(server_config_load_file(c, path, &e));
  ck_assert(c->file_exists);
  ck_assert_uint_eq(c->port, 1234);

  /* Errors carry the file name. */
  write_file(path, "{\"port\": true}");
  ck_assert(!server_config_load_file(c, path, &e));
  ck_assert_msg(g_str_has_prefix(e->message, path), "%s", e->message);
  ck_assert_msg(strstr(e->message, "port: must be") != NULL, "%s",
                e->message);
  g_clear_error(&e);

  char *dir = g_path_get_dirname(path);
  char *nodir = g_build_filename(dir, "nope", "x.json", NULL);
  ck_assert(!server_config_load_file(c, nodir, &e));
  ck_assert_msg(strstr(e->message, "neither the file nor its directory") !=
                NULL, "%s", e->message);
  g_clear_error(&e);
  g_free(nodir);
  /* A path through a file. */
  nodir = g_build_filename(path, "x.json", NULL);
  ck_assert(!server_config_load_file(c, nodir, &e));
  ck_assert_msg(g_str_has_prefix(e->message, nodir), "%s", e->message);
  g_clear_error(&e);
  ck_assert(!server_config_load_file(c, dir, &e));
  ck_assert_msg(strstr(e->message, "is a directory") != NULL, "%s",
                e->message);
  g_clear_error(&e);
  g_free(dir);
  g_free(nodir);
  server_config_free(c);
  g_free(path);
}
END_TEST

START_TEST(test_write_back_and_reload)
{
  char *path = tmp_path("streamsight.json");
  write_file(path, "{\n  \"comment\": \"kept\",\n  \"port\": 9000,\n"
                   "  \"limits\": {\"max_streams\": 8}\n}\n");
  ServerConfig *c = server_config_new();
  ck_assert(server_config_load_file(c, path, NULL));
  char *env[] = { "STREAMSIGHT_PORT=9999", NULL };
  ck_assert(server_config_apply_env(c, env, NULL));

  ConfigStore *st = config_store_new(path, c->root);
  GPtrArray *configs, *ids;
  make_streams(&configs, &ids);
  GError *e = NULL;
  ck_assert_msg(config_store_write(st, configs, ids, &e), "%s",
                e ? e->message : "");
  ck_assert_uint_eq(count_temps(path), 0);
  guint64 ok = 0, failed = 0;
  char *last = NULL;
  config_store_status(st, &ok, &failed, &last);
  ck_assert_uint_eq(ok, 1);
  ck_assert_uint_eq(failed, 0);
  ck_assert_ptr_null(last);

  /* Reload: same streams and ids, other keys as they were, no override. */
  ServerConfig *c2 = server_config_new();
  ck_assert_msg(server_config_load_file(c2, path, &e), "%s",
                e ? e->message : "");
  ck_assert_uint_eq(c2->port, 9000);
  ck_assert_uint_eq(c2->limits.max_streams, 8);
  ck_assert_str_eq(json_string_value(json_object_get(c2->root, "comment")),
                   "kept");
  ck_assert(!c2->streams_defaulted);
  ck_assert_uint_eq(c2->streams->len, 2);
  ConfigStream *s = g_ptr_array_index(c2->streams, 0);
  ck_assert_str_eq(s->id, "cam-7");
  ck_assert_str_eq(s->config.name, "Front door");
  ck_assert_str_eq(s->config.uri,
                   "rtsp://admin:p%40ss%2Fw0rd@192.168.1.20:554/stream1");
  ck_assert_int_eq(s->config.transport, STREAM_TRANSPORT_TCP);
  ck_assert(s->config.max_fps == 2.0);
  ck_assert_int_eq(s->config.top_k, 3);
  ck_assert(!s->config.enabled);
  ck_assert_int_eq(s->config.resize_mode, STREAMSIGHT_RESIZE_CROP);
  s = g_ptr_array_index(c2->streams, 1);
  ck_assert_str_eq(s->id, "stream-2");
  ck_assert_str_eq(s->config.pattern, "ball");

  /* Only options that differ from the defaults are written. */
  char *text = read_file(path);
  ck_assert_msg(strstr(text, "\"top_k\": 3") != NULL, "%s", text);
  ck_assert_msg(strstr(text, "history_len") == NULL, "%s", text);
  g_free(text);

  /* The file holds camera passwords: owner-only, whatever the mode of the
   * file it replaces and whatever the umask. */
  struct stat sb;
  const mode_t looser[] = { 0664, 0640, 0644, 0400 };
  for (guint i = 0; i < G_N_ELEMENTS(looser); i++) {
    ck_assert_int_eq(chmod(path, looser[i]), 0);
    ck_assert(config_store_write(st, configs, ids, NULL));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_msg((sb.st_mode & 0777) == 0600, "%o became %o",
                  (unsigned)looser[i], (unsigned)(sb.st_mode & 0777));
  }

  char *fresh = tmp_path("new.json");
  mode_t old_umask = umask(0);
  ConfigStore *st2 = config_store_new(fresh, NULL);
  ck_assert(config_store_write(st2, configs, ids, NULL));
  ck_assert_int_eq(stat(fresh, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 0777, 0600);

  /* The temporary file is 0600 too: a write interrupted after the data
   * reached it (as by a crash) leaves an owner-only file behind. */
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    config_store_set_fault(st2, CONFIG_FAULT_CRASH_BEFORE_RENAME);
    config_store_write(st2, configs, ids, NULL);
    _exit(0);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), CONFIG_FAULT_EXIT_CODE);
  umask(old_umask);
  char *dir = g_path_get_dirname(fresh);
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  guint temps = 0;
  while ((name = g_dir_read_name(d))) {
    if (!g_str_has_prefix(name, ".new.json.tmp-"))
      continue;
    char *full = g_build_filename(dir, name, NULL);
    ck_assert_int_eq(stat(full, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    unlink(full);
    g_free(full);
    temps++;
  }
  g_dir_close(d);
  g_free(dir);
  ck_assert_uint_eq(temps, 1);
  config_store_free(st2);
  g_free(fresh);

  free_streams(configs, ids);
  config_store_free(st);
  server_config_free(c2);
  server_config_free(c);
  g_free(path);
}
END_TEST

START_TEST(test_write_back_empty_list_persists)
{
  /* Removing every stream must come back as "no streams", not as the
   * default test stream. */
  char *path = tmp_path("streamsight.json");
  ConfigStore *st = config_store_new(path, NULL);
  GPtrArray *configs = g_ptr_array_new(), *ids = g_ptr_array_new();
  ck_assert(config_store_write(st, configs, ids, NULL));
  ServerConfig *c = server_config_new();
  ck_assert(server_config_load_file(c, path, NULL));
  ck_assert(!c->streams_defaulted);
  ck_assert_uint_eq(c->streams->len, 0);
  server_config_free(c);
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);
  config_store_free(st);
  g_free(path);
}
END_TEST

START_TEST(test_failed_write_keeps_old_file)
{
  char *path = tmp_path("streamsight.json");
  const char *old = "{\"port\": 9000, \"streams\": []}\n";
  write_file(path, old);
  ServerConfig *c = server_config_new();
  ck_assert(server_config_load_file(c, path, NULL));
  ConfigStore *st = config_store_new(path, c->root);
  GPtrArray *configs, *ids;
  make_streams(&configs, &ids);

  config_store_set_fault(st, CONFIG_FAULT_WRITE_ENOSPC);
  GError *e = NULL;
  ck_assert(!config_store_write(st, configs, ids, &e));
  ck_assert_msg(strstr(e->message, path) != NULL, "%s", e->message);
  ck_assert_msg(strstr(e->message, g_strerror(ENOSPC)) != NULL, "%s",
                e->message);
  g_clear_error(&e);
  /* A second failure: still reported (logged only once). */
  ck_assert(!config_store_write(st, configs, ids, NULL));
  char *text = read_file(path);
  ck_assert_str_eq(text, old);
  g_free(text);
  ck_assert_uint_eq(count_temps(path), 0);
  guint64 ok = 9, failed = 0;
  char *last = NULL;
  config_store_status(st, &ok, &failed, &last);
  ck_assert_uint_eq(ok, 0);
  ck_assert_uint_eq(failed, 2);
  ck_assert_ptr_nonnull(last);
  g_free(last);

  /* The disk has room again: the next write succeeds, the error clears. */
  config_store_set_fault(st, CONFIG_FAULT_NONE);
  ck_assert(config_store_write(st, configs, ids, NULL));
  config_store_status(st, &ok, &failed, &last);
  ck_assert_uint_eq(ok, 1);
  ck_assert_ptr_null(last);
  ServerConfig *c2 = server_config_new();
  ck_assert(server_config_load_file(c2, path, NULL));
  ck_assert_uint_eq(c2->streams->len, 2);

  server_config_free(c2);
  free_streams(configs, ids);
  config_store_free(st);
  server_config_free(c);
  g_free(path);
}
END_TEST

START_TEST(test_crash_during_write_keeps_old_file)
{
  char *path = tmp_path("streamsight.json");
  const char *old = "{\"port\": 9000, \"streams\": [{\"id\": \"a\", "
                    "\"name\": \"a\", \"uri\": \"test:\"}]}\n";
  write_file(path, old);
  ServerConfig *c = server_config_new();
  ck_assert(server_config_load_file(c, path, NULL));
  GPtrArray *configs, *ids;
  make_streams(&configs, &ids);

  /* The child dies after the new content is in the temporary file and
   * before the rename, like a crash or power cut at the worst moment. */
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    ConfigStore *st = config_store_new(path, c->root);
    config_store_set_fault(st, CONFIG_FAULT_CRASH_BEFORE_RENAME);
    config_store_write(st, configs, ids, NULL);
    _exit(0); /* not reached */
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), CONFIG_FAULT_EXIT_CODE);

  /* The temporary file is left behind, the config is the old one. */
  ck_assert_uint_eq(count_temps(path), 1);
  char *text = read_file(path);
  ck_assert_str_eq(text, old);
  g_free(text);
  ServerConfig *c2 = server_config_new();
  ck_assert(server_config_load_file(c2, path, NULL));
  ck_assert_uint_eq(c2->streams->len, 1);
  ck_assert_str_eq(((ConfigStream *)g_ptr_array_index(c2->streams, 0))->id,
                   "a");
  server_config_free(c2);

  /* A later write succeeds despite the leftover, which the next store
   * (the next start-up) removes: it holds credentials. */
  ConfigStore *st = config_store_new(path, c->root);
  ck_assert_uint_eq(count_temps(path), 0);
  ck_assert(config_store_write(st, configs, ids, NULL));
  c2 = server_config_new();
  ck_assert(server_config_load_file(c2, path, NULL));
  ck_assert_uint_eq(c2->streams->len, 2);
  server_config_free(c2);
  config_store_free(st);
  free_streams(configs, ids);
  server_config_free(c);
  g_free(path);
}
END_TEST

/* ---- the sample config and its documentation ---- */

static char *
source_path(const char *rel)
{
  const char *root = getenv("SS_SOURCE_ROOT");
  return g_build_filename(root ? root : ".", rel, NULL);
}

START_TEST(test_sample_config_loads)
{
  char *path = source_path("config/streamsight.json");
  ServerConfig *c = server_config_new();
  GError *e = NULL;
  ck_assert_msg(server_config_load_file(c, path, &e), "%s",
                e ? e->message : "");
  ck_assert(c->file_exists);
  ck_assert_uint_eq(c->port, 8080);
  ck_assert_uint_eq(c->streams->len, 2);
  ConfigStream *s = g_ptr_array_index(c->streams, 1);
  ck_assert_str_eq(s->id, "front-door");
  ck_assert(!s->config.enabled);
  server_config_free(c);
  g_free(path);
}
END_TEST

/* Every key the loader accepts is documented (as `key` in the README). */
static const char *const documented_keys[] = {
  "comment", "bind", "port", "threads", "http_threads", "model", "labels",
  "engine", "auth", "tls", "http", "http.cors_origins", "limits",
  "media_dirs", "streams", "auth.token",
  "tls.cert", "tls.key",
  "limits.max_streams", "limits.max_body_bytes", "limits.max_connections",
  "limits.connection_timeout_s", "limits.max_connections_per_ip",
  "limits.header_timeout_s", "limits.min_body_bytes_per_s",
  "limits.max_heads", "limits.max_head_classes", "limits.max_head_examples",
  "id", "name", "uri", "device", "pattern",
  "transport", "decode", "max_fps", "top_k", "enabled", "history_len",
  "stall_timeout_s", "backoff_initial_s", "backoff_max_s", "rtsp_latency_ms",
  "resize_mode", "realtime", "alerts", "head", "labels", "STREAMSIGHT_CONFIG", "STREAMSIGHT_PORT",
  "STREAMSIGHT_BIND", "STREAMSIGHT_THREADS", "STREAMSIGHT_MODEL",
  "STREAMSIGHT_LABELS", "STREAMSIGHT_TOKEN",
  "mqtt", "mqtt.host", "mqtt.port", "mqtt.username", "mqtt.password",
  "mqtt.client_id", "mqtt.topic_prefix", "mqtt.protocol", "mqtt.qos", "mqtt.retain_state",
  "mqtt.tls", "mqtt.tls.ca", "mqtt.tls.cert", "mqtt.tls.key",
  "mqtt.keepalive_s", "mqtt.max_rate_hz", "mqtt.queue_len",
  "mqtt.accept_commands", "mqtt.discovery.enabled", "mqtt.discovery.prefix",
  "STREAMSIGHT_MQTT_URL",
  "STREAMSIGHT_SHARD", "STREAMSIGHT_SHARDS",
};

START_TEST(test_every_key_documented)
{
  char *path = source_path("config/README.md");
  char *text = read_file(path);
  for (gsize i = 0; i < G_N_ELEMENTS(documented_keys); i++) {
    char *quoted = g_strdup_printf("| `%s` |", documented_keys[i]);
    ck_assert_msg(strstr(text, quoted) != NULL, "%s lacks a row for %s",
                  path, documented_keys[i]);
    g_free(quoted);
  }
  /* And the loader really accepts each documented stream key. */
  const char *stream_keys[] = { "device", "pattern", "transport", "decode",
                                "max_fps", "top_k", "enabled", "history_len",
                                "stall_timeout_s", "backoff_initial_s",
                                "backoff_max_s", "rtsp_latency_ms",
                                "resize_mode", "realtime", "alerts" };
  for (gsize i = 0; i < G_N_ELEMENTS(stream_keys); i++) {
    char *t = g_strdup_printf("{\"streams\": [{\"name\": \"a\", \"uri\": "
                              "\"test:\", \"%s\": null}]}", stream_keys[i]);
    char *msg = NULL;
    ServerConfig *c = load(t, &msg);
    ck_assert_msg(c != NULL, "%s: %s", stream_keys[i], msg);
    server_config_free(c);
    g_free(t);
  }
  g_free(text);
  g_free(path);
}
END_TEST

static Suite *
config_files_suite(void)
{
  Suite *s = suite_create("config-files");
  TCase *tc = tcase_create("files");
  tcase_add_test(tc, test_load_file);
  tcase_add_test(tc, test_write_back_and_reload);
  tcase_add_test(tc, test_write_back_empty_list_persists);
  tcase_add_test(tc, test_failed_write_keeps_old_file);
  tcase_add_test(tc, test_crash_during_write_keeps_old_file);
  suite_add_tcase(s, tc);

  tc = tcase_create("sample");
  tcase_add_test(tc, test_sample_config_loads);
  tcase_add_test(tc, test_every_key_documented);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(config_files_suite());
}
