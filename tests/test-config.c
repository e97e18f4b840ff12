/* Tests of server/config.c: every key's validation with the key path in the
 * message, environment overrides, the defaults of "{}", and the atomic
 * write-back of streams (reload, failed write, crash before the rename). */
#include <check.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "json-util.h"
#include "cpu-count.h"
#include "streamsight-sink.h"
#include "testutil.h"

/* Loads text over the defaults; returns the config or NULL with *msg set
 * (caller frees). */
static ServerConfig *
load(const char *text, char **msg)
{
  ServerConfig *c = server_config_new();
  GError *e = NULL;
  if (!server_config_load_text(c, text, strlen(text), "test.json", &e)) {
    if (msg)
      *msg = g_strdup(e->message);
    g_error_free(e);
    server_config_free(c);
    return NULL;
  }
  if (msg)
    *msg = NULL;
  return c;
}

/* A unique file path in the test's temporary directory. */
static char *
tmp_path(const char *name)
{
  static int n;
  char *dir = g_strdup_printf("%s/cfg-%d-%d", tu_tmp_dir(), (int)getpid(),
                              n++);
  g_mkdir_with_parents(dir, 0700);
  char *p = g_build_filename(dir, name, NULL);
  g_free(dir);
  return p;
}

static void
write_file(const char *path, const char *text)
{
  GError *e = NULL;
  ck_assert_msg(g_file_set_contents(path, text, -1, &e), "write %s", path);
}

static char *
read_file(const char *path)
{
  char *text = NULL;
  ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "read %s",
                path);
  return text;
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

/* ---- every key's validation ---- */

typedef struct {
  const char *text;
  const char *expect; /* substring of the message */
} BadCase;

#define S1(extra) "{\"streams\": [{\"name\": \"a\", \"uri\": \"test:\"" extra "}]}"

static const BadCase bad_cases[] = {
  /* syntax */
  { "{\"port\": 80,}", "test.json: line 1" },
  { "// comment\n{}", "comments are not allowed" },
  { "{\"port\": 80 /* x */}", "comments are not allowed" },
  { "[]", "must be a JSON object" },
  { "{\"port\": 1, \"port\": 2}", "duplicate" },
  { "", "test.json: line" },
  /* top level */
  { "{\"prot\": 80}", "prot: unknown key (did you mean port?)" },
  { "{\"http\": {\"cors_origin\": []}}",
    "http.cors_origin: unknown key (did you mean cors_origins?)" },
  { "{\"http\": {\"cors_origins\": \"https://a.example\"}}",
    "http.cors_origins: must be an array" },
  { "{\"http\": {\"cors_origins\": [\"*\"]}}",
    "http.cors_origins[0]: must be an origin" },
  { "{\"http\": {\"cors_origins\": [\"https://a.example/\"]}}",
    "http.cors_origins[0]: must be an origin" },
  { "{\"http\": {\"cors_origins\": [\"https://a.example\", "
    "\"HTTPS://B.EXAMPLE\"]}}", "http.cors_origins[1]: must be an origin" },
  { "{\"http\": {\"cors_origins\": [7]}}",
    "http.cors_origins[0]: must be a string" },
  { "{\"limits\": {\"max_stream\": 3}}",
    "limits.max_stream: unknown key (did you mean max_streams?)" },
  { "{\"port\": -1}", "port: must be an integer 0..65535" },
  { "{\"port\": 65536}", "port: must be an integer 0..65535" },
  { "{\"port\": \"80\"}", "port: must be an integer 0..65535" },
  { "{\"port\": 80.5}", "port: must be an integer 0..65535" },
  { "{\"bind\": \"localhost\"}", "bind: must be a numeric IPv4 or IPv6" },
  { "{\"engine\": \"fast\"}",
    "engine: must be one of \"auto\", \"float\", \"integer\"" },
  { "{\"engine\": 1}", "engine: must be one of" },
  { "{\"bind\": \"1.2.3.4.5\"}", "bind: must be a numeric" },
  { "{\"bind\": 5}", "bind: must be a string" },
  { "{\"bind\": \"\"}", "bind: must not be empty" },
  { "{\"threads\": -1}", "threads: must be an integer 0..256" },
  { "{\"threads\": 257}", "threads: must be an integer 0..256" },
  { "{\"threads\": true}", "threads: must be an integer" },
  { "{\"http_threads\": 0}", "http_threads: must be an integer 1..64" },
  { "{\"model\": \"\"}", "model: must not be empty" },
  { "{\"model\": 3}", "model: must be a string" },
  { "{\"model\": \"a\\u0001b\"}", "model: must not contain control" },
  { "{\"labels\": []}", "labels: must be a string" },
  { "{\"auth\": []}", "auth: must be an object" },
  { "{\"auth\": {\"tokn\": \"x\"}}", "auth.tokn: unknown key" },
  { "{\"auth\": {\"token\": \"a b\"}}", "auth.token: must be printable ASCII" },
  { "{\"auth\": {\"token\": \"\"}}", "auth.token: must not be empty" },
  { "{\"auth\": {\"token\": 12}}", "auth.token: must be a string" },
  { "{\"tls\": \"on\"}", "tls: must be an object" },
  { "{\"tls\": {\"cert\": \"/c\"}}", "tls.key: required when tls.cert" },
  { "{\"tls\": {\"key\": \"/k\"}}", "tls.cert: required when tls.key" },
  { "{\"tls\": {\"cert\": 1, \"key\": \"/k\"}}", "tls.cert: must be a string" },
  { "{\"tls\": {\"ca\": \"/x\"}}", "tls.ca: unknown key" },
  { "{\"limits\": 3}", "limits: must be an object" },
  { "{\"limits\": {\"max_streams\": 0}}",
    "limits.max_streams: must be an integer 1..4096" },
  { "{\"limits\": {\"max_body_bytes\": 10}}",
    "limits.max_body_bytes: must be an integer 1024.." },
  { "{\"limits\": {\"max_connections\": 0}}",
    "limits.max_connections: must be an integer 1..65536" },
  { "{\"limits\": {\"connection_timeout_s\": 0}}",
    "limits.connection_timeout_s: must be an integer 1..3600" },
  { "{\"limits\": {\"max_connections_per_ip\": -1}}",
    "limits.max_connections_per_ip: must be an integer 0..65536" },
  { "{\"limits\": {\"header_timeout_s\": 0}}",
    "limits.header_timeout_s: must be an integer 1..3600" },
  { "{\"limits\": {\"max_heads\": 0}}",
    "limits.max_heads: must be an integer 1..1000" },
  { "{\"limits\": {\"max_head_classes\": 65}}",
    "limits.max_head_classes: must be an integer 2..64" },
  { "{\"limits\": {\"max_head_examples\": 3}}",
    "limits.max_head_examples: must be an integer 4..100000" },
  { "{\"limits\": {\"decode_memory_mb\": 8}}",
    "limits.decode_memory_mb: must be an integer 16..65536" },
  { "{\"limits\": {\"min_body_bytes_per_s\": 1.5}}",
    "limits.min_body_bytes_per_s: must be an integer 0.." },
  { "{\"limits\": {\"max_sse_clients\": -1}}",
    "limits.max_sse_clients: must be an integer 0..4096" },
  { "{\"limits\": {\"max_sse_clients\": 10, \"max_connections\": 10}}",
    "limits.max_sse_clients: 10 must be less than limits.max_connections "
    "(10)" },
  { "{\"limits\": {\"max_header_bytes\": 100}}",
    "limits.max_header_bytes: must be an integer 1024..1048576" },
  { "{\"limits\": {\"max_uri_bytes\": 2097152}}",
    "limits.max_uri_bytes: must be an integer 256..1048576" },
  /* streams */
  { "{\"streams\": {}}", "streams: must be an array" },
  { "{\"streams\": [1]}", "streams[0]: must be an object" },
  { "{\"streams\": [{\"uri\": \"test:\"}]}", "streams[0].name: required" },
  { "{\"streams\": [{\"name\": \"a\"}]}", "streams[0].uri: required" },
  { "{\"streams\": [{\"name\": \"a\", \"uri\": \"test:\"}, {\"name\": \"b\", "
    "\"uri\": \"test:\", \"max_fps\": -1}]}", "streams[1].max_fps:" },
  { "{\"streams\": [{\"name\": \"a\", \"uri\": \"test:\"}, {\"name\": \"a\", "
    "\"uri\": \"test:\"}]}", "streams[1].name: already used by streams[0]" },
  { "{\"streams\": [{\"id\": \"x\", \"name\": \"a\", \"uri\": \"test:\"}, "
    "{\"id\": \"x\", \"name\": \"b\", \"uri\": \"test:\"}]}",
    "streams[1].id: 'x' is already used by streams[0]" },
  { "{\"limits\": {\"max_streams\": 1}, \"streams\": [{\"name\": \"a\", "
    "\"uri\": \"test:\"}, {\"name\": \"b\", \"uri\": \"test:\"}]}",
    "streams: 2 streams exceed limits.max_streams (1)" },
  { S1(", \"fps\": 3"), "streams[0].fps: unknown key" },
  { S1(", \"max_fsp\": 3"),
    "streams[0].max_fsp: unknown key (did you mean max_fps?)" },
  { S1(", \"id\": \"Bad Id\""), "streams[0].id: must be 1..64 characters" },
  { S1(", \"id\": 7"), "streams[0].id: must be a string" },
  { "{\"streams\": [{\"name\": 5, \"uri\": \"test:\"}]}",
    "streams[0].name: must be a string" },
  { "{\"streams\": [{\"name\": \"\", \"uri\": \"test:\"}]}",
    "streams[0].name: must not be empty" },
  { "{\"streams\": [{\"name\": \"a\", \"uri\": \"ftp://h/x\"}]}",
    "streams[0].uri: unsupported scheme" },
  { "{\"streams\": [{\"name\": \"a\", \"uri\": \"test:x\"}]}",
    "streams[0].uri:" },
  { S1(", \"max_fps\": \"5\""), "streams[0].max_fps: must be a number" },
  { S1(", \"max_fps\": 5000"), "streams[0].max_fps:" },
  { S1(", \"top_k\": 0"), "streams[0].top_k: must be an integer 1..10" },
  { S1(", \"top_k\": 11"), "streams[0].top_k: must be an integer 1..10" },
  { S1(", \"top_k\": 2.5"), "streams[0].top_k: must be an integer 1..10" },
  { S1(", \"enabled\": \"yes\""), "streams[0].enabled: must be true or false" },
  { S1(", \"realtime\": 0"), "streams[0].realtime: must be true or false" },
  { S1(", \"transport\": \"tcp4\""),
    "streams[0].transport: must be one of \"auto\", \"tcp\", \"udp\"" },
  { S1(", \"decode\": \"some\""), "streams[0].decode: must be one of" },
  { S1(", \"resize_mode\": \"fit\""), "streams[0].resize_mode: must be one of" },
  { S1(", \"resize_mode\": 1"), "streams[0].resize_mode: must be one of" },
  { S1(", \"history_len\": 0"),
    "streams[0].history_len: must be an integer 1..10000" },
  { S1(", \"history_len\": 10001"),
    "streams[0].history_len: must be an integer 1..10000" },
  { S1(", \"stall_timeout_s\": 0"), "streams[0].stall_timeout_s:" },
  { S1(", \"stall_timeout_s\": \"10\""),
    "streams[0].stall_timeout_s: must be a number" },
  { S1(", \"backoff_initial_s\": 0"), "streams[0].backoff_initial_s:" },
  { S1(", \"backoff_initial_s\": 10, \"backoff_max_s\": 5"),
    "streams[0].backoff_max_s:" },
  { S1(", \"rtsp_latency_ms\": -1"),
    "streams[0].rtsp_latency_ms: must be an integer 0..60000" },
  { S1(", \"pattern\": \"nope\""), "streams[0].pattern:" },
  { S1(", \"pattern\": 3"), "streams[0].pattern: must be a string" },
  { S1(", \"device\": \"/dev/video0\""), "streams[0].device:" },
  /* alert rules */
  { S1(", \"alerts\": {}"), "streams[0].alerts: must be an array" },
  { S1(", \"alerts\": [3]"), "streams[0].alerts[0]: must be an object" },
  { S1(", \"alerts\": [{}]"), "streams[0].alerts[0].class: required" },
  { S1(", \"alerts\": [{\"class\": \"cat\", \"when\": 1}]"),
    "streams[0].alerts[0].when: unknown key" },
  { S1(", \"alerts\": [{\"class\": \"cat\", \"min_score\": 0}]"),
    "streams[0].alerts[0].min_score: must be a number in (0, 1]" },
  { S1(", \"alerts\": [{\"class\": \"cat\", \"min_score\": \"0.5\"}]"),
    "streams[0].alerts[0].min_score: must be a number" },
  { S1(", \"alerts\": [{\"class\": \"cat\"}, {\"class\": \"dog\", "
       "\"min_duration_s\": -1}]"),
    "streams[0].alerts[1].min_duration_s: must be a number of seconds" },
  { S1(", \"alerts\": [{\"class\": \"cat\", \"clear_after_s\": 1e9}]"),
    "streams[0].alerts[0].clear_after_s: must be a number of seconds" },
  { S1(", \"alerts\": [{\"class\": \"cat\"}, {\"class\": \"cat\"}]"),
    "streams[0].alerts[1].class: already has a rule (alerts[0])" },
  { S1(", \"alerts\": [{\"class\": \"\"}]"),
    "streams[0].alerts[0].class: must not be empty" },
  { S1(", \"alerts\": [{\"class\": 1}, {\"class\": 2}, {\"class\": 3}, "
       "{\"class\": 4}, {\"class\": 5}, {\"class\": 6}, {\"class\": 7}, "
       "{\"class\": 8}, {\"class\": 9}, {\"class\": 10}, {\"class\": 11}, "
       "{\"class\": 12}, {\"class\": 13}, {\"class\": 14}, {\"class\": 15}, "
       "{\"class\": 16}, {\"class\": 17}]"),
    "streams[0].alerts: at most 16 rules per stream (17 given)" },
};

START_TEST(test_bad_values_name_the_key)
{
  const BadCase *bc = &bad_cases[_i];
  char *msg = NULL;
  ServerConfig *c = load(bc->text, &msg);
  ck_assert_msg(c == NULL, "case %d accepted: %s", _i, bc->text);
  ck_assert_msg(strstr(msg, bc->expect) != NULL,
                "case %d: message '%s' lacks '%s'", _i, msg, bc->expect);
  /* Every message starts with the source's name. */
  ck_assert_msg(g_str_has_prefix(msg, "test.json: "), "case %d: '%s'", _i,
                msg);
  g_free(msg);
}
END_TEST

START_TEST(test_cors_origins)
{
  ServerConfig *c = load("{\"http\": {\"cors_origins\": [\"https://a.example:8443\", "
                         "\"http://[::1]:8080\", \"http://10.0.0.5\"]}}", NULL);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(g_strv_length(c->cors_origins), 3);
  ck_assert_str_eq(c->cors_origins[0], "https://a.example:8443");
  ck_assert_str_eq(c->cors_origins[1], "http://[::1]:8080");
  server_config_free(c);
  c = load("{}", NULL);
  ck_assert_ptr_null(c->cors_origins);
  server_config_free(c);
}
END_TEST

/* A key far from every known one gets no suggestion. */
START_TEST(test_unknown_key_without_suggestion)
{
  char *msg = NULL;
  ServerConfig *c = load("{\"zzzzzz\": 1}", &msg);
  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(msg, "zzzzzz: unknown key") != NULL, "%s", msg);
  ck_assert_msg(strstr(msg, "did you mean") == NULL, "%s", msg);
  g_free(msg);
  static const char *const known[] = { "port", "bind", "max_fps", "id",
                                       NULL };
  ck_assert_str_eq(json_util_nearest_key("max_fsp", known), "max_fps");
  ck_assert_str_eq(json_util_nearest_key("prt", known), "port");
  ck_assert_ptr_null(json_util_nearest_key("d", known));
  ck_assert_ptr_null(json_util_nearest_key("fps", known));
}
END_TEST

START_TEST(test_errors_never_echo_secrets)
{
  /* A URI that fails validation, with a password in it. */
  char *msg = NULL;
  ServerConfig *c = load("{\"streams\": [{\"name\": \"a\", \"uri\": "
                         "\"rtsp://admin:hunter2@[::1/x\"}]}", &msg);
  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(msg, "streams[0].uri") != NULL, "%s", msg);
  ck_assert_msg(strstr(msg, "hunter2") == NULL, "password echoed: %s", msg);
  g_free(msg);
  c = load("{\"auth\": {\"token\": \"bad token value\"}}", &msg);
  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(msg, "bad token") == NULL, "token echoed: %s", msg);
  g_free(msg);
}
END_TEST

/* media_dirs: where file:// and v4l2 sources may be; checked at load with
 * the stream's key named, the same refusal for every path outside. */
START_TEST(test_media_dirs)
{
  char *msg = NULL;
  char *inside = tmp_path("x");
  char *dir = g_path_get_dirname(inside);
  char *real = realpath(dir, NULL);
  char *cwd = g_get_current_dir();
  char *real_cwd = realpath(cwd, NULL);

  /* Default: the working directory. */
  ServerConfig *c = load("{}", &msg);
  ck_assert_ptr_nonnull(c);
  ck_assert_str_eq(media_dirs_list(c->media_dirs)[0], real_cwd);
  ck_assert_ptr_null(media_dirs_list(c->media_dirs)[1]);
  server_config_free(c);
  c = load("{\"media_dirs\": null}", &msg);
  ck_assert_str_eq(media_dirs_list(c->media_dirs)[0], real_cwd);
  server_config_free(c);

  /* A file under a listed directory (it need not exist yet); v4l2. */
  char *t = g_strdup_printf(
      "{\"media_dirs\": [\"%s\"], \"streams\": [{\"name\": \"a\", "
      "\"uri\": \"file://%s/clip.mp4\"}, {\"name\": \"b\", \"uri\": "
      "\"v4l2:///dev/video0\"}]}", dir, dir);
  c = load(t, &msg);
  ck_assert_msg(c != NULL, "%s", msg);
  ck_assert_str_eq(media_dirs_list(c->media_dirs)[0], real);
  server_config_free(c);
  g_free(t);

  /* Outside: refused, naming the stream's key, whether the path exists
   * (a text file, a directory) or not. */
  const char *outside[] = { "/etc/passwd", "/etc", "/no/such/clip.mp4" };
  char *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(outside); i++) {
    t = g_strdup_printf(
        "{\"media_dirs\": [\"%s\"], \"streams\": [{\"name\": \"a\", "
        "\"uri\": \"test:\"}, {\"name\": \"b\", \"uri\": "
        "\"file://%s\"}]}", dir, outside[i]);
    ck_assert_ptr_null(load(t, &msg));
    ck_assert_msg(g_str_has_prefix(msg, "test.json: streams[1].uri: local "
                                        "files are allowed only under"),
                  "%s", msg);
    if (!first)
      first = g_strdup(msg);
    ck_assert_str_eq(msg, first);
    g_free(msg);
    g_free(t);
  }
  g_free(first);
  /* Not listed: the working directory only. */
  ck_assert_ptr_null(load("{\"streams\": [{\"name\": \"a\", \"uri\": "
                          "\"file:///etc/passwd\"}]}", &msg));
  ck_assert_msg(strstr(msg, "streams[0].uri: local files") != NULL, "%s", msg);
  g_free(msg);
  /* An empty list: no file at all, webcams still. */
  ck_assert_ptr_null(load("{\"media_dirs\": [], \"streams\": [{\"name\": "
                          "\"a\", \"uri\": \"file:///tmp/x.mp4\"}]}", &msg));
  g_free(msg);
  c = load("{\"media_dirs\": [], \"streams\": [{\"name\": \"a\", "
           "\"uri\": \"v4l2://\", \"device\": \"/dev/video1\"}]}", &msg);
  ck_assert_msg(c != NULL, "%s", msg);
  server_config_free(c);
  ck_assert_ptr_null(load("{\"media_dirs\": [], \"streams\": [{\"name\": "
                          "\"a\", \"uri\": \"v4l2://\", \"device\": "
                          "\"/dev/sda\"}]}", &msg));
  ck_assert_msg(strstr(msg, "streams[0].device: v4l2 devices are allowed "
                            "only as /dev/videoN"), "%s", msg);
  g_free(msg);

  /* The key's own errors. */
  const BadCase bad[] = {
    { "{\"media_dirs\": \"/tmp\"}", "test.json: media_dirs: must be an "
                                      "array" },
    { "{\"media_dirs\": [3]}", "test.json: media_dirs[0]: must be a "
                               "non-empty path" },
    { "{\"media_dirs\": [\"\"]}", "media_dirs[0]: must be a non-empty" },
    { "{\"media_dirs\": [\"/tmp\", \"/no/such/dir\"]}",
      "test.json: media_dirs[1]: '/no/such/dir' is not an existing "
      "directory" },
    { "{\"media_dirs\": [\"/etc/passwd\"]}", "media_dirs[0]: '/etc/passwd'"
                                              " is not an existing" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert_ptr_null(load(bad[i].text, &msg));
    ck_assert_msg(strstr(msg, bad[i].expect) != NULL, "'%s' lacks '%s'", msg,
                  bad[i].expect);
    g_free(msg);
  }
  free(real_cwd);
  g_free(cwd);
  free(real);
  g_free(dir);
  g_free(inside);
}
END_TEST

START_TEST(test_failed_load_changes_nothing)
{
  ServerConfig *c = load("{\"port\": 9000, \"streams\": [{\"name\": \"x\", "
                         "\"uri\": \"test:\"}]}", NULL);
  ck_assert_ptr_nonnull(c);
  const char *bad = "{\"port\": 9001, \"model\": \"/other\", \"streams\": "
                    "[{\"name\": \"y\", \"uri\": \"test:\", \"top_k\": 0}]}";
  GError *e = NULL;
  ck_assert(!server_config_load_text(c, bad, strlen(bad), "b", &e));
  g_error_free(e);
  ck_assert_uint_eq(c->port, 9000);
  ck_assert_str_eq(c->model_path, CONFIG_DEFAULT_MODEL);
  ck_assert_uint_eq(c->streams->len, 1);
  ck_assert_str_eq(((ConfigStream *)g_ptr_array_index(c->streams, 0))
                       ->config.name, "x");
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

/* Two streams as the registry would hand them over. */
static void
make_streams(GPtrArray **configs, GPtrArray **ids)
{
  *configs = g_ptr_array_new();
  *ids = g_ptr_array_new_with_free_func(g_free);
  StreamConfig *a = g_new0(StreamConfig, 1);
  stream_config_init(a);
  a->name = g_strdup("Front door");
  a->uri = g_strdup("rtsp://admin:p%40ss%2Fw0rd@192.168.1.20:554/stream1");
  a->transport = STREAM_TRANSPORT_TCP;
  a->max_fps = 2.0;
  a->top_k = 3;
  a->enabled = FALSE;
  a->resize_mode = STREAMSIGHT_RESIZE_CROP;
  StreamConfig *b = g_new0(StreamConfig, 1);
  stream_config_init(b);
  b->name = g_strdup("test");
  b->uri = g_strdup("test:");
  b->pattern = g_strdup("ball");
  b->n_alerts = 2;
  b->alerts = g_new0(AlertRule, 2);
  alert_rule_init(&b->alerts[0]);
  b->alerts[0].class_name = g_strdup("person");
  b->alerts[0].min_score = 0.75;
  b->alerts[0].min_duration_s = 0.5;
  b->alerts[0].clear_after_s = 4;
  alert_rule_init(&b->alerts[1]);
  b->alerts[1].class_name = g_strdup("tabby cat");
  g_ptr_array_add(*configs, a);
  g_ptr_array_add(*configs, b);
  g_ptr_array_add(*ids, g_strdup("cam-7"));
  g_ptr_array_add(*ids, g_strdup("stream-2"));
}

static void
free_streams(GPtrArray *configs, GPtrArray *ids)
{
  for (guint i = 0; i < configs->len; i++) {
    stream_config_clear(g_ptr_array_index(configs, i));
    g_free(g_ptr_array_index(configs, i));
  }
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);
}

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

START_TEST(test_stream_json_round_trip)
{
  GPtrArray *configs, *ids;
  make_streams(&configs, &ids);
  for (guint i = 0; i < configs->len; i++) {
    const StreamConfig *src = g_ptr_array_index(configs, i);
    for (int only_changed = 0; only_changed < 2; only_changed++) {
      json_t *o = json_object();
      json_object_set_new(o, "name", json_string(src->name));
      json_object_set_new(o, "uri", json_string(src->uri));
      config_stream_options_to_json(o, src, only_changed);
      StreamConfig back;
      char *id = NULL;
      GError *e = NULL;
      ck_assert_msg(config_stream_from_json(o, "", FALSE, &id, &back, &e),
                    "stream %u: %s", i, e ? e->message : "");
      ck_assert_ptr_null(id);
      ck_assert_str_eq(back.name, src->name);
      ck_assert_str_eq(back.uri, src->uri);
      ck_assert_int_eq(back.transport, src->transport);
      ck_assert_int_eq(back.decode, src->decode);
      ck_assert(back.max_fps == src->max_fps);
      ck_assert_int_eq(back.top_k, src->top_k);
      ck_assert_int_eq(back.enabled, src->enabled);
      ck_assert_int_eq(back.realtime, src->realtime);
      ck_assert_uint_eq(back.history_len, src->history_len);
      ck_assert(back.stall_timeout_s == src->stall_timeout_s);
      ck_assert(back.backoff_initial_s == src->backoff_initial_s);
      ck_assert(back.backoff_max_s == src->backoff_max_s);
      ck_assert_uint_eq(back.rtsp_latency_ms, src->rtsp_latency_ms);
      ck_assert_int_eq(back.resize_mode, src->resize_mode);
      ck_assert_msg(alert_rules_equal(back.alerts, back.n_alerts,
                                      src->alerts, src->n_alerts),
                    "stream %u: alert rules differ", i);
      ck_assert_str_eq(back.pattern ? back.pattern : "",
                       src->pattern ? src->pattern : "");
      stream_config_clear(&back);
      json_decref(o);
    }
  }
  /* "id" is refused where the server chooses ids. */
  json_t *o = json_pack("{s:s, s:s, s:s}", "id", "x", "name", "n", "uri",
                        "test:");
  StreamConfig back;
  GError *e = NULL;
  ck_assert(!config_stream_from_json(o, "", FALSE, NULL, &back, &e));
  ck_assert_msg(strstr(e->message, "id:") != NULL, "%s", e->message);
  g_error_free(e);
  json_decref(o);
  free_streams(configs, ids);
}
END_TEST

/* Every option away from its default, written (all of them, then only the
 * changed ones) and read back in both shapes (flat, as the config file
 * has it, and nested under "options", as the API documents it): the same
 * values, and the keys in the one order of config.c's stream_options. */
START_TEST(test_stream_json_every_option)
{
  static const char *const order[] = {
    "device", "pattern", "model", "transport", "decode", "resize_mode",
    "max_fps", "top_k", "enabled", "realtime", "history_len",
    "stall_timeout_s", "backoff_initial_s", "backoff_max_s",
    "rtsp_latency_ms", "roi", "head", "labels", "alerts", NULL,
  };
  StreamConfig src;
  stream_config_init(&src);
  src.name = g_strdup("Garage");
  src.uri = g_strdup("v4l2:///dev/video0");
  src.device = g_strdup("/dev/video2");
  src.model = g_strdup("small-1");
  src.transport = STREAM_TRANSPORT_UDP;
  src.decode = STREAM_DECODE_KEYFRAMES;
  src.resize_mode = STREAMSIGHT_RESIZE_LETTERBOX;
  src.max_fps = 0.5;
  src.top_k = 7;
  src.enabled = FALSE;
  src.realtime = FALSE;
  src.history_len = 9;
  src.stall_timeout_s = 4.5;
  src.backoff_initial_s = 2;
  src.backoff_max_s = 45;
  src.rtsp_latency_ms = 1200;
  src.roi = (StreamRoi){ 0.25, 0.5, 0.5, 0.25 };
  src.head = g_strdup("parcels");
  src.labels = STREAM_LABELS_HEAD;
  src.n_alerts = 1;
  src.alerts = g_new0(AlertRule, 1);
  alert_rule_init(&src.alerts[0]);
  src.alerts[0].class_name = g_strdup("parcel");
  GError *e = NULL;
  ck_assert_msg(stream_config_validate(&src, &e), "%s", e ? e->message : "");

  for (int only_changed = 0; only_changed < 2; only_changed++) {
    json_t *opts = json_object();
    config_stream_options_to_json(opts, &src, only_changed);
    /* All but pattern (for test: URIs only) differ from the defaults: both
     * forms write every key in order, pattern as null in the full one. */
    ck_assert_uint_eq(json_object_size(opts),
                      G_N_ELEMENTS(order) - 1 - (only_changed ? 1 : 0));
    const char *key;
    json_t *v;
    int i = 0;
    json_object_foreach(opts, key, v) {
      if (only_changed && strcmp(order[i], "pattern") == 0)
        i++;
      ck_assert_str_eq(key, order[i++]);
    }
    for (int nested = 0; nested < 2; nested++) {
      json_t *o = json_pack("{s:s, s:s}", "name", src.name, "uri", src.uri);
      if (nested)
        json_object_set(o, "options", opts);
      else
        json_object_update(o, opts);
      StreamConfig back;
      ck_assert_msg(config_stream_from_json(o, "", FALSE, NULL, &back, &e),
                    "%s", e ? e->message : "");
      json_t *again = json_object();
      config_stream_options_to_json(again, &back, only_changed);
      ck_assert_msg(json_equal(again, opts), "only_changed %d nested %d",
                    only_changed, nested);
      ck_assert_str_eq(back.device, src.device);
      ck_assert_str_eq(back.model, src.model);
      ck_assert_str_eq(back.head, src.head);
      ck_assert_int_eq(back.labels, src.labels);
      ck_assert_int_eq(back.decode, src.decode);
      ck_assert_int_eq(back.transport, src.transport);
      ck_assert_int_eq(back.resize_mode, src.resize_mode);
      ck_assert(back.max_fps == src.max_fps);
      ck_assert_int_eq(back.top_k, src.top_k);
      ck_assert(!back.enabled && !back.realtime);
      ck_assert_uint_eq(back.history_len, src.history_len);
      ck_assert(back.stall_timeout_s == src.stall_timeout_s);
      ck_assert(back.backoff_initial_s == src.backoff_initial_s);
      ck_assert(back.backoff_max_s == src.backoff_max_s);
      ck_assert_uint_eq(back.rtsp_latency_ms, src.rtsp_latency_ms);
      ck_assert(back.roi.x == src.roi.x && back.roi.y == src.roi.y &&
                back.roi.w == src.roi.w && back.roi.h == src.roi.h);
      ck_assert(alert_rules_equal(back.alerts, back.n_alerts, src.alerts,
                                  src.n_alerts));
      stream_config_clear(&back);
      json_decref(again);
      json_decref(o);
    }
    json_decref(opts);
  }
  /* Defaults are left out of the only-changed form. */
  StreamConfig d;
  stream_config_init(&d);
  json_t *none = json_object();
  config_stream_options_to_json(none, &d, TRUE);
  ck_assert_uint_eq(json_object_size(none), 0);
  json_decref(none);
  stream_config_clear(&d);
  stream_config_clear(&src);
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

  tc = tcase_create("validation");
  tcase_add_test(tc, test_media_dirs);
  tcase_add_loop_test(tc, test_bad_values_name_the_key, 0,
                      (int)G_N_ELEMENTS(bad_cases));
  tcase_add_test(tc, test_unknown_key_without_suggestion);
  tcase_add_test(tc, test_cors_origins);
  tcase_add_test(tc, test_errors_never_echo_secrets);
  tcase_add_test(tc, test_failed_load_changes_nothing);
  tcase_add_test(tc, test_stream_json_round_trip);
  tcase_add_test(tc, test_stream_json_every_option);
  suite_add_tcase(s, tc);

  tc = tcase_create("environment");
  tcase_add_test(tc, test_env_overrides);
  tcase_add_test(tc, test_uri_env_references);
  tcase_add_loop_test(tc, test_env_bad_values_name_the_variable, 0,
                      (int)G_N_ELEMENTS(bad_env));
  suite_add_tcase(s, tc);

  tc = tcase_create("files");
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
  return tu_run_suite(config_suite());
}
