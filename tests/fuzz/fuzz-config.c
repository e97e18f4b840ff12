/* streamsight — libFuzzer harness: the server's config file parser
 * (server_config_load_text), then the write-back of what it accepted.
 *
 * A failed parse must give a CONFIG_ERROR with a message and leave the
 * defaults untouched. An accepted file is written back through a real
 * ConfigStore (config_store_write: what the server does when a stream
 * changes; into a tmpfs directory when there is one) and read again with
 * server_config_load_file: the server must accept its own output, with
 * the same settings and the same streams (reals to 10 significant digits,
 * the precision the store writes).
 * Seeds: config/streamsight.json and tests/fuzz/seeds/config/; dictionary
 * json.dict. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

/* JSON_REAL_PRECISION(10) in config.c: 10 significant digits. */
#define FUZZ_REAL_REL_TOL 1e-9

static char *store_path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  /* No gst_init: nothing here needs GStreamer, and without it GLib's quark
   * table stays in its first block (see tests/sanitizers/lsan.supp). */
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)
                         ? "/dev/shm" : g_get_tmp_dir();
  char *dir = g_build_filename(base, "streamsight-fuzz-config-XXXXXX", NULL);
  FUZZ_CHECK(g_mkdtemp(dir) != NULL, "mkdtemp %s", dir);
  store_path = g_build_filename(dir, "streamsight.json", NULL);
  g_free(dir);
  return 0;
}

static gboolean
real_eq(double a, double b)
{
  return a == b || fabs(a - b) <= FUZZ_REAL_REL_TOL * fmax(fabs(a), fabs(b));
}

static void
check_same_stream(guint i, const ConfigStream *a, const ConfigStream *b)
{
  const StreamConfig *x = &a->config, *y = &b->config;
  FUZZ_CHECK(g_strcmp0(a->id, b->id) == 0, "streams[%u].id changed", i);
  FUZZ_CHECK(g_strcmp0(x->name, y->name) == 0, "streams[%u].name", i);
  FUZZ_CHECK(g_strcmp0(x->uri, y->uri) == 0, "streams[%u].uri", i);
  FUZZ_CHECK(g_strcmp0(x->device, y->device) == 0, "streams[%u].device", i);
  FUZZ_CHECK(g_strcmp0(x->pattern, y->pattern) == 0, "streams[%u].pattern",
             i);
  FUZZ_CHECK(x->transport == y->transport && x->decode == y->decode &&
                 x->resize_mode == y->resize_mode && x->top_k == y->top_k &&
                 x->enabled == y->enabled && x->realtime == y->realtime &&
                 x->history_len == y->history_len &&
                 x->rtsp_latency_ms == y->rtsp_latency_ms,
             "streams[%u]: an enum, integer or boolean option changed", i);
  FUZZ_CHECK(real_eq(x->max_fps, y->max_fps), "streams[%u].max_fps %.17g "
             "-> %.17g", i, x->max_fps, y->max_fps);
  FUZZ_CHECK(real_eq(x->stall_timeout_s, y->stall_timeout_s) &&
                 real_eq(x->backoff_initial_s, y->backoff_initial_s) &&
                 real_eq(x->backoff_max_s, y->backoff_max_s),
             "streams[%u]: a timing option changed", i);
}

static void
check_write_back(const ServerConfig *c)
{
  GPtrArray *configs = g_ptr_array_new();
  GPtrArray *ids = g_ptr_array_new();
  for (guint i = 0; i < c->streams->len; i++) {
    ConfigStream *s = g_ptr_array_index(c->streams, i);
    g_ptr_array_add(configs, &s->config);
    g_ptr_array_add(ids, s->id);
  }
  ConfigStore *store = config_store_new(store_path, c->root);
  GError *e = NULL;
  gboolean ok = config_store_write(store, configs, ids, &e);
  FUZZ_CHECK(ok, "write-back failed: %s", e ? e->message : "?");
  config_store_free(store);
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);

  ServerConfig *again = server_config_new();
  ok = server_config_load_file(again, store_path, &e);
  if (!ok) {
    char *text = NULL;
    g_file_get_contents(store_path, &text, NULL, NULL);
    fprintf(stderr, "written back:\n%s\n", text ? text : "(unreadable)");
    g_free(text);
  }
  FUZZ_CHECK(ok, "the server rejects the file it wrote: %s",
             e ? e->message : "?");
  FUZZ_CHECK(g_strcmp0(c->bind, again->bind) == 0 &&
                 c->port == again->port && c->threads == again->threads &&
                 c->http_threads == again->http_threads,
             "bind, port or threads changed");
  FUZZ_CHECK(g_strcmp0(c->model_path, again->model_path) == 0 &&
                 g_strcmp0(c->labels_path, again->labels_path) == 0 &&
                 g_strcmp0(c->auth_token, again->auth_token) == 0 &&
                 g_strcmp0(c->tls_cert_path, again->tls_cert_path) == 0 &&
                 g_strcmp0(c->tls_key_path, again->tls_key_path) == 0,
             "a path or the token changed");
  const ConfigLimits *la = &c->limits, *lb = &again->limits;
  FUZZ_CHECK(la->max_streams == lb->max_streams &&
                 la->max_body_bytes == lb->max_body_bytes &&
                 la->max_connections == lb->max_connections &&
                 la->connection_timeout_s == lb->connection_timeout_s &&
                 la->max_sse_clients == lb->max_sse_clients &&
                 la->max_header_bytes == lb->max_header_bytes &&
                 la->max_uri_bytes == lb->max_uri_bytes,
             "limits changed");
  FUZZ_CHECK(c->streams->len == again->streams->len, "%u streams, then %u",
             c->streams->len, again->streams->len);
  for (guint i = 0; i < c->streams->len; i++)
    check_same_stream(i, g_ptr_array_index(c->streams, i),
                      g_ptr_array_index(again->streams, i));
  server_config_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ServerConfig *c = server_config_new();
  ServerConfig *defaults = server_config_new();
  GError *e = NULL;
  const json_t *root_before = c->root;
  gboolean ok = server_config_load_text(c, (const char *)data, size,
                                        "fuzz.json", &e);
  if (!ok) {
    FUZZ_CHECK(e && e->domain == CONFIG_ERROR && e->message[0],
               "failure without a CONFIG_ERROR message");
    FUZZ_CHECK(g_utf8_validate(e->message, -1, NULL),
               "error message is not UTF-8");
    g_error_free(e);
    /* A failed load changes nothing. */
    FUZZ_CHECK(g_strcmp0(c->bind, defaults->bind) == 0 &&
                   c->port == defaults->port &&
                   c->streams->len == defaults->streams->len &&
                   c->root == root_before,
               "a failed load changed the configuration");
  } else {
    FUZZ_CHECK(c->root != NULL, "accepted without a root object");
    FUZZ_CHECK(c->streams->len <= c->limits.max_streams,
               "%u streams over max_streams %u", c->streams->len,
               c->limits.max_streams);
    check_write_back(c);
  }
  server_config_free(defaults);
  server_config_free(c);
  return 0;
}
