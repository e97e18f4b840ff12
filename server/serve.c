/* streamsight — `streamsight serve`: load the config and the model, start the
 * inference pool, the streams and the HTTP API, run the GLib main loop until
 * SIGINT/SIGTERM, then shut down in reverse order (HTTP stopped, pipelines to
 * NULL, pool drained). `streamsight healthcheck` is healthcheck.c.
 */
#include "serve.h"

#include <glib-unix.h>
#include <gst/gst.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "config.h"
#include "model-set.h"
#include "engine.h"
#include "events.h"
#include "http.h"
#include "kernels/kernels.h"
#include "model.h"
#include "mqtt.h"
#include "pool.h"
#include "registry.h"
#include "routes.h"
#include "serve-args.h"
#include "serve-models.h"
#include "shard.h"
#include "streamsight-sink.h"
#include "watchdog.h"

/* TLS files are small; anything bigger is not a PEM certificate or key. */
#define SERVE_PEM_MAX_BYTES (1u << 20)
/* The watchdog (watchdog.h). The main loop runs short callbacks only (an
 * iteration takes milliseconds even on a loaded 2-core machine) and no
 * request handler waits on anything slower than a config file fsync, so
 * these only fire when something is wedged. */
#define SERVE_WATCHDOG_LOOP_S 30.0
#define SERVE_WATCHDOG_TASK_S 60.0
/* After SIGTERM the process is gone within this, whatever is stuck: HTTP
 * stops at once, every stream stops in parallel (registry_free gives the
 * pipelines 6 s, abandoning those a camera holds). */
#define SERVE_SHUTDOWN_S 9.0

typedef struct {
  ServerConfig *config;
  ModelSet *models;        /* owns every model, engine and pool */
  struct ss_model *model;  /* the first model's (borrowed from models) */
  struct ss_engine *engine;
  struct ss_pool *pool;
  Registry *registry;
  Shard *shard;        /* NULL: not sharded */
  ConfigStore *store;
  MqttPublisher *mqtt; /* NULL: no MQTT */
  EventHub *events;    /* also when SSE is off but MQTT is on */
  AlertHub *alerts;
  HeadStore *heads;    /* custom classifiers, beside the config file */
  Routes *routes;
  HttpServer *http;
  Watchdog *watchdog;
  GMainLoop *loop;
  int signal_received;
} Server;

/* The registry's one changed callback: the config file and the alerts
 * hub follow the streams (the event hub is the registry's stream watch:
 * it is told of each stream's changes itself). */
static void
on_registry_changed(Registry *r, gpointer user)
{
  Server *s = user;
  if (s->alerts)
    alert_hub_registry_changed(r, s->alerts);
  if (s->store)
    config_store_registry_changed(r, s->store);
}

/* The alerts hub, persisted in alerts/ beside the config file (not on a
 * sharded replica: the file's directory is shared, and replicas do not
 * share alerts). */
static void
start_alerts(Server *s)
{
  char *dir = NULL;
  if (s->config->path && !s->shard) {
    char *cfg_dir = g_path_get_dirname(s->config->path);
    dir = g_build_filename(cfg_dir, "alerts", NULL);
    g_free(cfg_dir);
  }
  AlertHubOptions ao = {
    .registry = s->registry,
    .model = s->model,
    .dir = dir,
  };
  s->alerts = alert_hub_new(&ao);
  if (s->events)
    alert_hub_add_listener(s->alerts, event_hub_on_alert, s->events);
  if (s->mqtt)
    alert_hub_add_listener(s->alerts, mqtt_publisher_alert, s->mqtt);
  g_free(dir);
}

static gboolean
on_signal(gpointer user)
{
  Server *s = user;
  if (s->signal_received++ == 0) {
    g_message("shutting down (signal received)");
    g_main_loop_quit(s->loop);
  }
  return G_SOURCE_CONTINUE;
}

/* Reads a PEM file for TLS; key names the config key in messages. */
static char *
read_pem(const char *path, const char *key)
{
  char *text = NULL;
  gsize len = 0;
  GError *e = NULL;
  if (!g_file_get_contents(path, &text, &len, &e)) {
    fprintf(stderr, "streamsight: %s: %s\n", key, e->message);
    g_error_free(e);
    return NULL;
  }
  if (len == 0 || len > SERVE_PEM_MAX_BYTES || strlen(text) != len ||
      !strstr(text, "-----BEGIN ")) {
    fprintf(stderr, "streamsight: %s: %s is not a PEM file\n", key, path);
    g_free(text);
    return NULL;
  }
  return text;
}

/* The configured models (serve-models.c); the first one's model, engine
 * and pool are the default of streams and uploads. */
static int
load_models(Server *s)
{
  s->models = model_set_new();
  if (serve_load_models(s->config, s->models) != 0)
    return 1;
  const ModelSetEntry *first = model_set_get(s->models, 0);
  s->model = first->model;
  s->engine = first->engine;
  s->pool = first->pool;
  return 0;
}
/* Says where file:// and v4l2 sources may come from, once at start-up:
 * the first thing to check when one is refused. */
static void
log_media_dirs(const MediaDirs *m)
{
  const char *const *dirs = media_dirs_list(m);
  g_autofree char *joined = g_strjoinv(", ", (char **)dirs);
  g_message("media_dirs: file:// and v4l2 sources allowed under %s (v4l2 "
            "also /dev/videoN)", dirs[0] ? joined : "no directory");
}

/* A sharded replica places streams by their ids, so every configured
 * stream needs one: a generated id ("stream-N", in the order each replica
 * adds its streams) would differ between replicas. Returns an exit
 * status. */
static int
check_shard_ids(const Server *s)
{
  const ServerConfig *c = s->config;
  if (!s->shard || c->streams_defaulted)
    return 0;
  for (guint i = 0; i < c->streams->len; i++) {
    const ConfigStream *cs = g_ptr_array_index(c->streams, i);
    if (!cs->id) {
      fprintf(stderr, "streamsight: %s: streams[%u].id: required when "
              "sharded (STREAMSIGHT_SHARD/STREAMSIGHT_SHARDS): the id "
              "decides which replica serves the stream\n", c->path, i);
      return 2;
    }
  }
  return 0;
}

/* --check-config: what the config and the environment say, without
 * loading the model or starting anything. */
static void
print_config_summary(const Server *s)
{
  const ServerConfig *c = s->config;
  guint n = c->streams->len, here = n;
  if (s->shard && c->streams_defaulted) {
    here = 0;
  } else if (s->shard) {
    here = 0;
    for (guint i = 0; i < n; i++) {
      const ConfigStream *cs = g_ptr_array_index(c->streams, i);
      here += shard_owns(s->shard, cs->id);
    }
  }
  printf("streamsight: config OK: %s, %u stream%s", c->path ? c->path
         : "built-in defaults", n, n == 1 ? "" : "s");
  if (s->shard)
    printf("; shard %u of %u: %u here, %u on other shards",
           shard_index(s->shard), shard_count(s->shard), here, n - here);
  printf("; model %s (not loaded)\n", c->model_path);
}

static int
restore_streams(Server *s)
{
  const ServerConfig *c = s->config;
  if (s->shard && c->streams_defaulted) {
    /* The built-in test stream is for one server on its own. */
    g_message("shard %u of %u: no \"streams\" in the config, so no stream "
              "here", shard_index(s->shard), shard_count(s->shard));
    return 0;
  }
  for (guint i = 0; i < c->streams->len; i++) {
    const ConfigStream *cs = g_ptr_array_index(c->streams, i);
    GError *e = NULL;
    char *id = NULL;
    /* Sharded: every stream has an id (check_shard_ids). */
    if (s->shard && !shard_owns(s->shard, cs->id)) {
      shard_add_other(s->shard, cs->id, cs->config.name);
      continue;
    }
    if (!registry_add(s->registry, cs->id, &cs->config, &id, &e)) {
      if (c->streams_defaulted)
        fprintf(stderr, "streamsight: the default test stream: %s\n",
                e->message);
      else
        fprintf(stderr, "streamsight: %s: streams[%u]: %s\n", c->path, i,
                e->message);
      g_error_free(e);
      return 2;
    }
    char *shown = stream_config_redact_uri(cs->config.uri);
    g_message("stream %s \"%s\" on %s", id, cs->config.name, shown);
    g_free(shown);
    g_free(id);
  }
  if (s->shard)
    g_message("shard %u of %u (%s): %u of the config's %u streams here, %u "
              "on other shards", shard_index(s->shard), shard_count(s->shard),
              SHARD_HASH_NAME, c->streams->len - shard_n_other(s->shard),
              c->streams->len, shard_n_other(s->shard));
  return 0;
}

/* Heads live in "heads/" beside the config file; in memory only without
 * one, and on a sharded replica (replicas share the file's directory and
 * must not write over each other's heads). */
static int
start_heads(Server *s)
{
  const ServerConfig *c = s->config;
  g_autofree char *dir =
      c->path && !s->shard ? head_store_dir_for_config(c->path) : NULL;
  HeadStoreLimits hl = {
    .max_heads = c->limits.max_heads,
    .max_classes = c->limits.max_head_classes,
    .max_examples = c->limits.max_head_examples,
  };
  GError *e = NULL;
  s->heads = head_store_new(dir, &hl, &e);
  if (!s->heads) {
    fprintf(stderr, "streamsight: %s\n", e->message);
    g_error_free(e);
    return 1;
  }
  return 0;
}

static int
start_http(Server *s)
{
  const ServerConfig *c = s->config;
  char *cert = NULL, *key = NULL;
  if (c->tls_cert_path) {
    cert = read_pem(c->tls_cert_path, "tls.cert");
    key = cert ? read_pem(c->tls_key_path, "tls.key") : NULL;
    if (!key) {
      g_free(cert);
      return 1;
    }
  }
  RoutesConfig rc = {
    .registry = s->registry,
    .engine = s->engine,
    .pool = s->pool,
    .models = s->models,
    .store = s->store,
    .events = c->limits.max_sse_clients > 0 ? s->events : NULL,
    .mqtt = s->mqtt,
    .alerts = s->alerts,
    .shard = s->shard,
    .auth_token = c->auth_token,
    .max_body_bytes = c->limits.max_body_bytes,
    .max_uri_bytes = c->limits.max_uri_bytes,
    .max_header_bytes = c->limits.max_header_bytes,
    .classifiers = HTTP_DEFAULT_WORK_THREADS,
    .decode_memory_bytes = (guint64)c->limits.decode_memory_mb << 20,
    .heads = s->heads,
    .cors_origins = (const char *const *)c->cors_origins,
  };
  s->routes = routes_new(&rc);
  HttpOptions ho = {
    .bind = c->bind,
    .port = c->port,
    .threads = c->http_threads,
    .max_connections = c->limits.max_connections,
    .connection_timeout_s = c->limits.connection_timeout_s,
    .max_connections_per_ip = c->limits.max_connections_per_ip,
    .header_timeout_s = c->limits.header_timeout_s,
    .min_body_bytes_per_s = c->limits.min_body_bytes_per_s,
    .max_body_bytes = c->limits.max_body_bytes,
    .max_uri_bytes = c->limits.max_uri_bytes,
    .max_header_bytes = c->limits.max_header_bytes,
    .work_threads = HTTP_DEFAULT_WORK_THREADS,
    .events = c->limits.max_sse_clients > 0 ? s->events : NULL,
    .tls_cert_pem = cert,
    .tls_key_pem = key,
    .watchdog = s->watchdog,
  };
  GError *e = NULL;
  s->http = http_server_start(&ho, s->routes, &e);
  if (key)
    memset(key, 0, strlen(key));
  g_free(cert);
  g_free(key);
  if (!s->http) {
    fprintf(stderr, "streamsight: %s\n", e->message);
    g_error_free(e);
    return 1;
  }
  return 0;
}

/* See server_shutdown's stuck-pipelines branch. */
static ModelSet *volatile models_left_at_exit;

static void
server_shutdown(Server *s)
{
  /* Reverse order of start-up: no request reaches the registry once HTTP
   * is stopped; streams stop before the pool they feed; the pool drains
   * before the engine goes. The changed callback is cleared first so that
   * stopping the streams is not mistaken for removing them from the file. */
  http_server_stop(s->http);
  routes_free(s->routes);
  if (s->registry)
    registry_set_changed_func(s->registry, NULL, NULL);
  /* Before the event hub and MQTT, its listeners. */
  alert_hub_free(s->alerts);
  event_hub_free(s->events);
  /* After the hub (its listener), before the registry (commands). */
  mqtt_publisher_free(s->mqtt);
  if (registry_free(s->registry) > 0) {
    /* Pipelines a camera keeps from stopping still hold their streams,
     * which point at the pool and engine: leave those to the exit. The
     * set's own struct is pointed at by nothing else once s is gone:
     * kept reachable (models_left_at_exit), so that LeakSanitizer
     * (test_stuck_pipelines) does not report what is left on purpose. */
    models_left_at_exit = s->models;
    g_message("leaving stuck pipelines behind at exit");
  } else {
    /* Streams fetch their heads from the store until they are gone. */
    head_store_free(s->heads);
    model_set_free(s->models);
  }
  config_store_free(s->store);
  shard_free(s->shard);
  server_config_free(s->config);
  watchdog_free(s->watchdog);
  if (s->loop)
    g_main_loop_unref(s->loop);
}

/* Builds the config from file, environment and flags. Returns an exit
 * status (0 = go on). */
static int
load_config(Server *s, const char *path, const char *port, const char *bind)
{
  GError *e = NULL;
  char **env = g_get_environ();
  s->config = server_config_new();
  /* The default location ($STREAMSIGHT_CONFIG: the service's state file)
   * may not exist yet: it is created on the first change. A path typed
   * after --config must exist: a typo there would otherwise start an empty
   * server that writes a new file where nobody looks. */
  const char *default_path = g_environ_getenv(env, "STREAMSIGHT_CONFIG");
  if (default_path && !*default_path)
    default_path = NULL;
  gboolean must_exist = path && g_strcmp0(path, default_path) != 0;
  if (!path)
    path = default_path;
  if (path && !server_config_load_file(s->config, path, &e))
    goto fail_e;
  if (must_exist && !s->config->file_exists) {
    fprintf(stderr, "streamsight: --config %s: no such file (write {} to it "
            "to start from the defaults, or set STREAMSIGHT_CONFIG to a "
            "path that is created on the first change)\n", path);
    g_strfreev(env);
    return 2;
  }
  if (!server_config_apply_env(s->config, env, &e))
    goto fail_e;
  s->shard = shard_new_from_env(env, &e);
  if (e)
    goto fail_e;
  /* Replicas share the config, so the topic prefix: each needs its own
   * availability topic (and last will). */
  if (s->shard && s->config->mqtt) {
    g_free(s->config->mqtt->node);
    s->config->mqtt->node = g_strdup_printf("shard-%u",
                                            shard_index(s->shard));
  }
  if (port) {
    guint64 v;
    if (!g_ascii_string_to_unsigned(port, 10, 0, 65535, &v, NULL)) {
      fprintf(stderr, "streamsight: --port: must be an integer 0..65535\n");
      g_strfreev(env);
      return 2;
    }
    s->config->port = (guint)v;
  }
  if (bind) {
    if (!config_check_bind(bind, "--bind", &e))
      goto fail_e;
    g_free(s->config->bind);
    s->config->bind = g_strdup(bind);
  }
  g_strfreev(env);
  if (!path)
    g_message("no config file (--config or STREAMSIGHT_CONFIG): built-in "
              "defaults; streams added over the API last until exit");
  else if (!s->config->file_exists)
    g_message("config %s does not exist yet: defaults; it is created when "
              "streams change", path);
  return 0;

fail_e:
  fprintf(stderr, "streamsight: %s\n", e->message);
  g_error_free(e);
  g_strfreev(env);
  return 2;
}


/* Process-wide settings, before any thread starts: jansson's hash seed,
 * kernel dispatch, SIGPIPE, malloc's mmap threshold. */
static void
serve_init_process(void)
{
  json_object_seed(0);
  kern_init();
  signal(SIGPIPE, SIG_IGN);
  /* Frame-sized blocks (video buffers, decoded uploads, JPEGs) come and go
   * with pipelines and requests. glibc raises its mmap threshold after the
   * first such block is freed, so later ones land in the per-thread heaps,
   * where pipelines rebuilt on other threads leave them fragmented: under
   * scripts/soak.sh's churn RSS grew 4-8 MiB a minute and was never given
   * back (flat with this, and with MALLOC_ARENA_MAX=2). A fixed threshold
   * (glibc's initial 128 KiB) keeps them mmapped and returned on free; they
   * are allocated per pipeline or per request, not per frame. */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

/* The registry, the head store and the configured streams, then the
 * config store that writes their changes back. Returns an exit status;
 * what was started is in s either way (server_shutdown frees it). */
static int
start_registry(Server *s)
{
  int rc;
  s->registry = registry_new(g_main_context_default(), s->engine, s->pool,
                             s->config->limits.max_streams);
  registry_set_models(s->registry, s->models);
  registry_set_media_dirs(s->registry, s->config->media_dirs);
  log_media_dirs(s->config->media_dirs);
  if ((rc = start_heads(s)) != 0)
    return rc;
  registry_set_head_source(s->registry, head_store_fetch_changed, s->heads);
  if ((rc = restore_streams(s)) != 0)
    return rc;
  /* A sharded replica's file is the camera list all replicas share (a
   * ConfigMap on Kubernetes): it is read, never written with this
   * replica's part of it. */
  if (s->config->path && s->shard)
    g_message("sharded: %s is the shared camera list and is not written; "
              "streams changed over the API last until exit",
              s->config->path);
  else if (s->config->path)
    s->store = config_store_new(s->config->path, s->config->file_exists
                                                     ? s->config->root
                                                     : NULL);
  return 0;
}

/* The MQTT publisher when the config has "mqtt"; returns 0 or 1 after
 * printing why. */
static int
start_mqtt(Server *s)
{
  const ServerConfig *c = s->config;
  if (!c->mqtt)
    return 0;
  GError *e = NULL;
  s->mqtt = mqtt_publisher_new(c->mqtt, s->registry, s->model, &e);
  if (!s->mqtt) {
    fprintf(stderr, "streamsight: %s\n", e->message);
    g_error_free(e);
    return 1;
  }
  g_message("mqtt: publishing to %s%s:%u under '%s/'",
            c->mqtt->tls ? "mqtts://" : "mqtt://", c->mqtt->host,
            c->mqtt->port, c->mqtt->topic_prefix);
  return 0;
}

/* The hub feeds SSE clients and the MQTT publisher: it runs when either
 * is on (the routes see it only with SSE on). */
static void
start_events(Server *s)
{
  if (s->config->limits.max_sse_clients == 0 && !s->mqtt)
    return;
  EventHubOptions eo = {
    .max_clients = MAX(s->config->limits.max_sse_clients, 1u),
    .listener = s->mqtt ? mqtt_publisher_listener() : NULL,
    .listener_data = s->mqtt,
  };
  s->events = event_hub_new(s->registry, s->model, &eo);
}

static void
start_watchdog(Server *s)
{
  WatchdogOptions wo = {
    .loop_stall_s = SERVE_WATCHDOG_LOOP_S,
    .task_stall_s = SERVE_WATCHDOG_TASK_S,
    .check_s = 1.0,
    .shutdown_on_signal_s = SERVE_SHUTDOWN_S,
  };
  s->watchdog = watchdog_new(g_main_context_default(), &wo);
}

/* Everything after the config, in the order each part needs the ones
 * before it: GStreamer and the sink element, the models, the registry and
 * its streams, MQTT, the event and alert hubs, the watchdog, HTTP.
 * Returns an exit status; on failure what was started is in s for
 * server_shutdown. */
static int
serve_start(Server *s)
{
  int rc;
  gst_init(NULL, NULL);
  if (!streamsight_sink_register()) {
    fprintf(stderr, "streamsight: cannot register the streamsightsink "
            "element\n");
    return 1;
  }
  if ((rc = load_models(s)) != 0)
    return rc;
  if ((rc = start_registry(s)) != 0)
    return rc;
  if ((rc = start_mqtt(s)) != 0)
    return rc;
  start_events(s);
  start_alerts(s);
  registry_set_changed_func(s->registry, on_registry_changed, s);
  start_watchdog(s);
  return start_http(s);
}

/* Says where the server listens (the line scripts and tests wait for),
 * then runs the main loop until SIGINT or SIGTERM. Returns 0. */
static int
serve_run(Server *s)
{
  s->loop = g_main_loop_new(NULL, FALSE);
  g_unix_signal_add(SIGINT, on_signal, s);
  g_unix_signal_add(SIGTERM, on_signal, s);

  const char *host = s->config->bind;
  gboolean v6 = strchr(host, ':') != NULL;
  printf("streamsight: listening on %s://%s%s%s:%u/ (%u stream%s%s)\n",
         s->config->tls_cert_path ? "https" : "http", v6 ? "[" : "", host,
         v6 ? "]" : "", http_server_port(s->http),
         registry_count(s->registry),
         registry_count(s->registry) == 1 ? "" : "s",
         s->config->auth_token ? ", bearer token required" : "");
  fflush(stdout);

  g_main_loop_run(s->loop);
  watchdog_shutdown(s->watchdog, SERVE_SHUTDOWN_S);
  return 0;
}

int
cmd_serve(int argc, char **argv)
{
  ServeArgs a;
  int rc = serve_parse_args(argc, argv, &a);
  if (rc >= 0)
    return rc;
  serve_init_process();

  /* One cleanup path: whichever step fails, server_shutdown frees what the
   * steps before it put in s (it skips what is still NULL). s lives in
   * this frame: the signal handlers and the registry's changed callback
   * point at it while the loop runs. */
  Server s = { 0 };
  rc = load_config(&s, a.config_path, a.port, a.bind);
  if (rc == 0)
    rc = check_shard_ids(&s);
  if (rc == 0 && a.check_only)
    print_config_summary(&s);
  else if (rc == 0 && (rc = serve_start(&s)) == 0)
    rc = serve_run(&s);

  server_shutdown(&s);
  if (rc == 0 && !a.check_only)
    g_message("stopped");
  return rc;
}
