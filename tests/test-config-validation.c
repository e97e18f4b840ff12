/* Tests of server/config.c: every key's validation with the key path in the
 * message (and the nearest key suggested for a typo), secrets never echoed,
 * a failed load changes nothing; a stream's options written as JSON and
 * read back. */
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

static Suite *
config_validation_suite(void)
{
  Suite *s = suite_create("config-validation");
  TCase *tc = tcase_create("validation");
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
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(config_validation_suite());
}
