/* streamsight — the server config (config.h): its defaults, the file read
 * section by section (scalars, auth and TLS, http, limits, models,
 * streams), and the STREAMSIGHT_* environment overrides. A stream in JSON is
 * config-stream.c's; writing the streams back, config-store.c's. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cpu-count.h"
#include "head-store.h"
#include "head-train.h"
#include "json-util.h"
#include "config-models.h"
#include "model-set.h"
#include "uri-env.h"

G_DEFINE_QUARK(streamsight-config-error-quark, config_error)

gboolean
config_invalid(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, msg);
  g_free(msg);
  return FALSE;
}

gboolean
config_relabel(GError **error, GError *e)
{
  g_set_error_literal(error, CONFIG_ERROR,
                      e->domain == JSON_UTIL_ERROR &&
                              e->code == JSON_UTIL_ERROR_SYNTAX
                          ? CONFIG_ERROR_SYNTAX
                          : CONFIG_ERROR_INVALID,
                      e->message);
  g_error_free(e);
  return FALSE;
}

/* ---- the server config ---- */

static void
config_stream_free(gpointer p)
{
  ConfigStream *s = p;
  g_free(s->id);
  stream_config_clear(&s->config);
  g_free(s);
}

/* The default inference workers: one per CPU this process may use. */
static guint
usable_cpus(void)
{
  int n = cpu_count_usable();
  return n > CONFIG_MAX_THREADS ? CONFIG_MAX_THREADS : (guint)n;
}

/* The stream of a config without "streams": name "test" on "test:". */
static void
add_default_stream(GPtrArray *streams)
{
  ConfigStream *s = g_new0(ConfigStream, 1);
  stream_config_init(&s->config);
  s->config.name = g_strdup("test");
  s->config.uri = g_strdup("test:");
  g_ptr_array_add(streams, s);
}

ServerConfig *
server_config_new(void)
{
  ServerConfig *c = g_new0(ServerConfig, 1);
  c->bind = g_strdup(CONFIG_DEFAULT_BIND);
  c->port = CONFIG_DEFAULT_PORT;
  c->threads = usable_cpus();
  c->http_threads = CONFIG_DEFAULT_HTTP_THREADS;
  c->model_path = g_strdup(CONFIG_DEFAULT_MODEL);
  c->limits.max_streams = CONFIG_DEFAULT_MAX_STREAMS;
  c->limits.max_body_bytes = CONFIG_DEFAULT_MAX_BODY_BYTES;
  c->limits.max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
  c->limits.connection_timeout_s = CONFIG_DEFAULT_CONNECTION_TIMEOUT_S;
  c->limits.max_connections_per_ip = CONFIG_DEFAULT_MAX_CONNECTIONS_PER_IP;
  c->limits.header_timeout_s = CONFIG_DEFAULT_HEADER_TIMEOUT_S;
  c->limits.min_body_bytes_per_s = CONFIG_DEFAULT_MIN_BODY_BYTES_PER_S;
  c->limits.max_sse_clients = CONFIG_DEFAULT_MAX_SSE_CLIENTS;
  c->limits.max_header_bytes = CONFIG_DEFAULT_MAX_HEADER_BYTES;
  c->limits.max_uri_bytes = CONFIG_DEFAULT_MAX_URI_BYTES;
  c->limits.decode_memory_mb = CONFIG_DEFAULT_DECODE_MEMORY_MB;
  c->limits.max_heads = HEAD_STORE_DEFAULT_MAX_HEADS;
  c->limits.max_head_classes = HEAD_STORE_DEFAULT_MAX_CLASSES;
  c->limits.max_head_examples = HEAD_STORE_DEFAULT_MAX_EXAMPLES;
  c->streams = g_ptr_array_new_with_free_func(config_stream_free);
  add_default_stream(c->streams);
  c->streams_defaulted = TRUE;
  /* Local sources under the working directory only. Should it have
   * vanished (getcwd fails), no directory at all rather than "/". */
  c->media_dirs = media_dirs_new_cwd(NULL);
  if (!c->media_dirs)
    c->media_dirs = media_dirs_new(NULL, NULL);
  c->root = json_object();
  return c;
}

/* The strings and containers a ServerConfig owns (all but path), freed;
 * the token wiped first. */
static void
config_clear_owned(ServerConfig *c)
{
  g_free(c->bind);
  g_free(c->model_path);
  g_free(c->labels_path);
  if (c->auth_token)
    memset(c->auth_token, 0, strlen(c->auth_token));
  g_free(c->auth_token);
  g_free(c->tls_cert_path);
  g_free(c->tls_key_path);
  g_strfreev(c->cors_origins);
  if (c->streams)
    g_ptr_array_unref(c->streams);
  if (c->models)
    g_ptr_array_unref(c->models);
  media_dirs_unref(c->media_dirs);
  mqtt_config_free(c->mqtt);
}

void
server_config_free(ServerConfig *c)
{
  if (!c)
    return;
  g_free(c->path);
  config_clear_owned(c);
  json_decref(c->root);
  g_free(c);
}

gboolean
config_check_bind(const char *addr, const char *name, GError **error)
{
  struct addrinfo hints = { 0 };
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo *res = NULL;
  if (!addr || !*addr || strlen(addr) > 64 ||
      getaddrinfo(addr, NULL, &hints, &res) != 0)
    return config_invalid(error,
                          "%s: must be a numeric IPv4 or IPv6 address "
                          "(e.g. 127.0.0.1, 0.0.0.0, ::)",
                          name);
  freeaddrinfo(res);
  return TRUE;
}

static gboolean
check_token(const char *token, const char *name, GError **error)
{
  gsize n = strlen(token);
  if (n == 0 || n > CONFIG_TOKEN_MAX)
    return config_invalid(error, "%s: must be 1..%d characters", name,
                          CONFIG_TOKEN_MAX);
  for (gsize i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)token[i];
    if (ch < 0x21 || ch > 0x7e)
      return config_invalid(error, "%s: must be printable ASCII without spaces",
                            name);
  }
  return TRUE;
}

static const char *const top_keys[] = {
  "comment", "bind", "port", "threads", "http_threads", "model", "labels",
  "engine", "auth", "tls", "http", "limits", "media_dirs", "streams", "mqtt",
  "models", NULL
};
static const char *const auth_keys[] = { "token", NULL };
static const char *const tls_keys[] = { "cert", "key", NULL };
static const char *const http_keys[] = { "cors_origins", NULL };

#define PATH_MAX_LEN 4096
#define MEDIA_DIRS_MAX 64

/* "media_dirs": null (the working directory) or an array of directories
 * that must exist. Fills *out (new reference) or fails naming the key. */
static gboolean
load_media_dirs(json_t *v, MediaDirs **out, GError **error)
{
  g_autoptr(GPtrArray) dirs = g_ptr_array_new();
  GError *e = NULL;
  size_t i;
  json_t *item;
  MediaDirs *m;
  if (json_is_null(v)) {
    m = media_dirs_new_cwd(&e);
  } else {
    if (!json_is_array(v) || json_array_size(v) > MEDIA_DIRS_MAX)
      return config_invalid(error,
                            "media_dirs: must be an array of at most %d "
                            "directory paths, or null (the working directory)",
                            MEDIA_DIRS_MAX);
    json_array_foreach(v, i, item) {
      const char *d = json_string_value(item);
      if (!d || !d[0] || strlen(d) > PATH_MAX_LEN || strlen(d) !=
          json_string_length(item))
        return config_invalid(error,
                              "media_dirs[%zu]: must be a non-empty path", i);
      g_ptr_array_add(dirs, (gpointer)d);
    }
    g_ptr_array_add(dirs, NULL);
    m = media_dirs_new((const char *const *)dirs->pdata, &e);
  }
  if (!m) {
    config_invalid(error, "media_dirs%s", e->message);
    g_error_free(e);
    return FALSE;
  }
  *out = m;
  return TRUE;
}

/* A stream object of the file with the ${NAME} references of its uri
 * replaced (a copy), or the object itself when it has none (new reference
 * either way); NULL with an error naming the key and the variable. */
static json_t *
expand_uri_env(json_t *item, const char *prefix, GError **error)
{
  json_t *uri = json_is_object(item) ? json_object_get(item, "uri") : NULL;
  const char *text = json_string_value(uri);
  if (!text || !uri_env_has_refs(text))
    return json_incref(item);
  char **env = g_get_environ();
  char *out = NULL;
  GError *e = NULL;
  gboolean ok = uri_env_expand(text, env, &out, &e);
  g_strfreev(env);
  if (!ok) {
    config_invalid(error, "%suri: %s", prefix, e->message);
    g_error_free(e);
    return NULL;
  }
  json_t *copy = json_copy(item);
  json_object_set_new(copy, "uri", json_string(out));
  /* The expanded URI holds a secret: wipe this copy of it. */
  memset(out, 0, strlen(out));
  g_free(out);
  return copy;
}

/* Parses root over a scratch copy of c's values and swaps them in only when
 * everything is valid, so that a failed load leaves c as it was. */
/* A browser's Origin: http or https, a host (name, IPv4 or [IPv6]) and an
 * optional port, lower case, no path, no trailing slash: what browsers send,
 * so that it is compared as a string. */
static gboolean
check_origin(const char *o, const char *name, GError **error)
{
  const char *h = g_str_has_prefix(o, "https://") ? o + 8
                  : g_str_has_prefix(o, "http://") ? o + 7
                                                    : NULL;
  if (!h || !*h || strlen(o) > CONFIG_CORS_ORIGIN_MAX)
    return config_invalid(
        error,
        "%s: must be an origin like "
        "https://dashboard.example:8443 (http or https, a host, "
        "an optional port, at most %d characters)",
        name, CONFIG_CORS_ORIGIN_MAX);
  for (const char *p = h; *p; p++)
    if (!(g_ascii_islower(*p) || g_ascii_isdigit(*p) || strchr(".-:[]", *p)))
      return config_invalid(
          error,
          "%s: must be an origin like "
          "https://dashboard.example:8443 (lower case; no path, "
          "no trailing slash, no '*')",
          name);
  return TRUE;
}

/* "http": {"cors_origins": [...]}: the origins whose pages may call the
 * API from a browser (CORS). *origins is replaced when the key is given. */
static gboolean
load_http(json_t *root, char ***origins, GError **error)
{
  GError *e = NULL;
  json_t *sub;
  if (!json_util_get_object(root, "", "http", &sub, &e) ||
      (sub && !json_util_check_keys(sub, "http.", http_keys, &e))) {
    config_relabel(error, e);
    return FALSE;
  }
  json_t *list = sub ? json_object_get(sub, "cors_origins") : NULL;
  if (!list)
    return TRUE;
  if (json_is_null(list)) {
    g_clear_pointer(origins, g_strfreev);
    return TRUE;
  }
  if (!json_is_array(list) || json_array_size(list) > CONFIG_CORS_ORIGINS_MAX)
    return config_invalid(error,
                          "http.cors_origins: must be an array of at most "
                          "%d origins",
                          CONFIG_CORS_ORIGINS_MAX);
  GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
  size_t i;
  json_t *item;
  json_array_foreach(list, i, item) {
    char name[40];
    g_snprintf(name, sizeof name, "http.cors_origins[%zu]", i);
    if (!json_is_string(item) ||
        !check_origin(json_string_value(item), name, error)) {
      if (!json_is_string(item))
        config_invalid(error, "%s: must be a string", name);
      g_ptr_array_unref(v);
      return FALSE;
    }
    g_ptr_array_add(v, g_strdup(json_string_value(item)));
  }
  g_ptr_array_add(v, NULL);
  g_strfreev(*origins);
  *origins = (char **)g_ptr_array_free(v, FALSE);
  return TRUE;
}

/* The top level's scalars: bind, port, threads, http_threads and the
 * one-model shorthand (model, labels, engine). */
static gboolean
load_scalars(json_t *root, ServerConfig *n, GError **error)
{
  static const char *const engines[] = { "auto", "float", "integer", NULL };
  gboolean present;
  gint64 i64;
  if (!json_util_get_string(root, "", "bind", 64, &n->bind, &present, error))
    return FALSE;
  if (present && !config_check_bind(n->bind, "bind", error))
    return FALSE;
  i64 = n->port;
  if (!json_util_get_int(root, "", "port", 0, 65535, &i64, NULL, error))
    return FALSE;
  n->port = (guint)i64;
  i64 = n->threads;
  if (!json_util_get_int(root, "", "threads", 0, CONFIG_MAX_THREADS, &i64,
                         NULL, error))
    return FALSE;
  n->threads = i64 == 0 ? usable_cpus() : (guint)i64;
  i64 = n->http_threads;
  if (!json_util_get_int(root, "", "http_threads", 1, 64, &i64, NULL, error))
    return FALSE;
  n->http_threads = (guint)i64;
  return json_util_get_string(root, "", "model", PATH_MAX_LEN,
                              &n->model_path, NULL, error) &&
         json_util_get_string(root, "", "labels", PATH_MAX_LEN,
                              &n->labels_path, NULL, error) &&
         json_util_get_enum(root, "", "engine", engines, &n->engine, NULL,
                            error);
}

/* "auth" and "tls". */
static gboolean
load_auth_tls(json_t *root, ServerConfig *n, GError **error)
{
  gboolean present;
  json_t *sub;
  if (!json_util_get_object(root, "", "auth", &sub, error))
    return FALSE;
  if (sub) {
    if (!json_util_check_keys(sub, "auth.", auth_keys, error))
      return FALSE;
    /* The token is checked as a string without echoing it. */
    if (!json_util_get_string(sub, "auth.", "token", CONFIG_TOKEN_MAX,
                              &n->auth_token, &present, error))
      return FALSE;
    if (present && !check_token(n->auth_token, "auth.token", error))
      return FALSE;
  }
  if (!json_util_get_object(root, "", "tls", &sub, error))
    return FALSE;
  if (sub) {
    if (!json_util_check_keys(sub, "tls.", tls_keys, error))
      return FALSE;
    if (!json_util_get_string(sub, "tls.", "cert", PATH_MAX_LEN,
                              &n->tls_cert_path, NULL, error) ||
        !json_util_get_string(sub, "tls.", "key", PATH_MAX_LEN,
                              &n->tls_key_path, NULL, error))
      return FALSE;
  }
  return TRUE;
}

/* "limits": one row a key, in the order they are read. */
static const struct {
  const char *key;
  size_t offset; /* in ConfigLimits */
  gboolean wide; /* guint64 (else guint) */
  gint64 min, max;
} limit_rows[] = {
#define LIMIT(key, wide, min, max) \
  { #key, G_STRUCT_OFFSET(ConfigLimits, key), wide, min, max }
  LIMIT(max_streams, FALSE, 1, 4096),
  LIMIT(max_body_bytes, TRUE, 1024, (gint64)1 << 30),
  LIMIT(max_connections, FALSE, 1, 65536),
  LIMIT(connection_timeout_s, FALSE, 1, 3600),
  LIMIT(max_connections_per_ip, FALSE, 0, 65536),
  LIMIT(header_timeout_s, FALSE, 1, 3600),
  LIMIT(min_body_bytes_per_s, FALSE, 0, (gint64)1 << 30),
  LIMIT(max_sse_clients, FALSE, 0, 4096),
  LIMIT(max_header_bytes, TRUE, 1024, (gint64)1 << 20),
  LIMIT(max_uri_bytes, TRUE, 256, (gint64)1 << 20),
  LIMIT(decode_memory_mb, FALSE, 16, 65536),
  LIMIT(max_heads, FALSE, 1, 1000),
  LIMIT(max_head_classes, FALSE, 2, HEAD_MAX_CLASSES),
  LIMIT(max_head_examples, FALSE, 4, HEAD_TRAIN_MAX_EXAMPLES),
#undef LIMIT
};

static gboolean
load_limits(json_t *root, ConfigLimits *limits, GError **error)
{
  const char *keys[G_N_ELEMENTS(limit_rows) + 1];
  gboolean sse_set = FALSE;
  json_t *sub;
  if (!json_util_get_object(root, "", "limits", &sub, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS(limit_rows); i++)
    keys[i] = limit_rows[i].key;
  keys[G_N_ELEMENTS(limit_rows)] = NULL;
  if (sub && !json_util_check_keys(sub, "limits.", keys, error))
    return FALSE;
  for (guint i = 0; sub && i < G_N_ELEMENTS(limit_rows); i++) {
    char *field = (char *)limits + limit_rows[i].offset;
    gint64 v = limit_rows[i].wide ? (gint64) * (guint64 *)field
                                  : (gint64) * (guint *)field;
    gboolean present = FALSE;
    if (!json_util_get_int(sub, "limits.", limit_rows[i].key,
                           limit_rows[i].min, limit_rows[i].max, &v, &present,
                           error))
      return FALSE;
    if (limit_rows[i].wide)
      *(guint64 *)field = (guint64)v;
    else
      *(guint *)field = (guint)v;
    if (field == (char *)&limits->max_sse_clients)
      sse_set = present;
  }
  /* Event streams hold their connection: leave room for API requests. The
   * default gives them at most half of the connections. */
  if (!sse_set)
    limits->max_sse_clients = MIN(limits->max_sse_clients,
                                  limits->max_connections / 2);
  if (limits->max_sse_clients > 0 &&
      limits->max_sse_clients >= limits->max_connections)
    return config_invalid(error,
                          "limits.max_sse_clients: %u must be less than "
                          "limits.max_connections (%u), or 0 to disable event "
                          "streams",
                          limits->max_sse_clients, limits->max_connections);
  return TRUE;
}

/* "streams": validated, ids and names unique, file:// paths inside the
 * media directories; none: the default test stream. */
static gboolean
load_streams(json_t *root, ServerConfig *n, GError **error)
{
  json_t *streams = json_object_get(root, "streams");
  if (!streams || json_is_null(streams)) {
    n->streams_defaulted = TRUE;
    add_default_stream(n->streams);
    return TRUE;
  }
  if (!json_is_array(streams))
    return config_invalid(error, "streams: must be an array");
  if (json_array_size(streams) > n->limits.max_streams)
    return config_invalid(error,
                          "streams: %zu streams exceed limits.max_streams "
                          "(%u)",
                          json_array_size(streams), n->limits.max_streams);
  n->streams_defaulted = FALSE;
  size_t i;
  json_t *item;
  json_array_foreach(streams, i, item) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "streams[%zu].", i);
    /* ${NAME} in the uri: from the environment (uri-env.h). */
    json_t *expanded = expand_uri_env(item, prefix, error);
    if (!expanded)
      return FALSE;
    ConfigStream *s = g_new0(ConfigStream, 1);
    gboolean ok = config_stream_from_json(expanded, prefix, TRUE, &s->id,
                                          &s->config, error);
    json_decref(expanded);
    if (!ok) {
      g_free(s);
      return FALSE;
    }
    g_ptr_array_add(n->streams, s);
    char *local = NULL;
    GError *e = NULL;
    if (!media_dirs_resolve(n->media_dirs, &s->config, &local, &e)) {
      config_invalid(error, "%s%s", prefix, e->message);
      g_error_free(e);
      return FALSE;
    }
    g_free(local);
    for (guint j = 0; j + 1 < n->streams->len; j++) {
      ConfigStream *o = g_ptr_array_index(n->streams, j);
      if (s->id && o->id && strcmp(s->id, o->id) == 0)
        return config_invalid(error,
                              "streams[%zu].id: '%s' is already used by "
                              "streams[%u]",
                              i, s->id, j);
      if (strcmp(s->config.name, o->config.name) == 0)
        return config_invalid(error,
                              "streams[%zu].name: already used by "
                              "streams[%u]",
                              i, j);
    }
  }
  return TRUE;
}

/* Every stream names a model of the list (or of the shorthand). */
static gboolean
check_stream_models(const ServerConfig *n, GError **error)
{
  for (guint i = 0; i < n->streams->len; i++) {
    const ConfigStream *s = g_ptr_array_index(n->streams, i);
    const char *want = s->config.model;
    gboolean found = !want || (!n->models &&
                               strcmp(want, MODEL_SET_DEFAULT_ID) == 0);
    for (guint j = 0; n->models && want && !found && j < n->models->len; j++)
      found = strcmp(((ConfigModel *)g_ptr_array_index(n->models, j))->id,
                     want) == 0;
    if (!found) {
      char *ids = n->models ? config_models_ids(n->models)
                            : g_strdup(MODEL_SET_DEFAULT_ID);
      config_invalid(error,
                     "streams[%u].model: unknown model '%s' (the models "
                     "are: %s)",
                     i, want, ids);
      g_free(ids);
      return FALSE;
    }
  }
  return TRUE;
}

/* Reads every section of root into a copy of *c and commits it only when
 * all of it is valid: a bad file leaves *c as it was. Errors name the key;
 * those of the json_util readers are relabelled as config errors. */
static gboolean
load_root(ServerConfig *c, json_t *root, GError **error)
{
  GError *e = NULL;
  ServerConfig n = *c; /* the new values; strings below are replaced */
  n.bind = g_strdup(c->bind);
  n.model_path = g_strdup(c->model_path);
  n.labels_path = g_strdup(c->labels_path);
  n.auth_token = g_strdup(c->auth_token);
  n.tls_cert_path = g_strdup(c->tls_cert_path);
  n.tls_key_path = g_strdup(c->tls_key_path);
  n.cors_origins = g_strdupv(c->cors_origins);
  n.streams = g_ptr_array_new_with_free_func(config_stream_free);
  n.models = NULL;
  n.media_dirs = media_dirs_ref(c->media_dirs);
  n.mqtt = NULL;

  if (!json_util_check_keys(root, "", top_keys, &e) ||
      !load_scalars(root, &n, &e))
    goto fail_e;
  if (!config_models_from_json(json_object_get(root, "models"), &n.models,
                               error))
    goto fail;
  if (n.models && (json_object_get(root, "model") ||
                   json_object_get(root, "labels") ||
                   json_object_get(root, "engine"))) {
    config_invalid(error, "models: give either models or the one-model keys "
                          "model/labels/engine, not both");
    goto fail;
  }
  if (!load_auth_tls(root, &n, &e))
    goto fail_e;
  if (!load_http(root, &n.cors_origins, error))
    goto fail;
  if (!n.tls_cert_path != !n.tls_key_path) {
    config_invalid(error, "%s: required when %s is set",
                   n.tls_cert_path ? "tls.key" : "tls.cert",
                   n.tls_cert_path ? "tls.cert" : "tls.key");
    goto fail;
  }
  if (!load_limits(root, &n.limits, &e))
    goto fail_e;

  /* "mqtt": the host may come from STREAMSIGHT_MQTT_URL instead, checked
   * by server_config_apply_env. */
  json_t *mqtt = json_object_get(root, "mqtt");
  if (mqtt && !json_is_null(mqtt) &&
      !(n.mqtt = mqtt_config_from_json(mqtt, TRUE, &e)))
    goto fail_e;

  json_t *media = json_object_get(root, "media_dirs");
  if (media) {
    MediaDirs *m = NULL;
    if (!load_media_dirs(media, &m, error))
      goto fail;
    media_dirs_unref(n.media_dirs);
    n.media_dirs = m;
  }
  if (!load_streams(root, &n, error) || !check_stream_models(&n, error))
    goto fail;

  /* Commit: free the old strings, move the new ones in. */
  config_clear_owned(c);
  json_decref(c->root);
  n.root = json_incref(root);
  *c = n;
  return TRUE;

fail_e:
  config_relabel(error, e);
fail:
  config_clear_owned(&n);
  return FALSE;
}

gboolean
server_config_load_text(ServerConfig *c, const char *text, gsize len,
                        const char *what, GError **error)
{
  GError *e = NULL;
  json_t *root = json_util_parse_object(text, len, what, &e);
  if (!root)
    return config_relabel(error, e);
  gboolean ok = load_root(c, root, &e);
  json_decref(root);
  if (!ok) {
    g_set_error(error, CONFIG_ERROR, e->code, "%s: %s", what, e->message);
    g_error_free(e);
  }
  return ok;
}

gboolean
server_config_load_file(ServerConfig *c, const char *path, GError **error)
{
  char *text = NULL;
  gsize len = 0;
  GError *e = NULL;
  struct stat st;

  if (stat(path, &st) != 0 && errno != ENOENT) {
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_IO, "%s: %s", path,
                g_strerror(errno));
    return FALSE;
  }
  if (stat(path, &st) != 0) {
    /* A new file: fine if its directory exists (it is created on the first
     * write-back), otherwise the path is probably wrong. */
    char *dir = g_path_get_dirname(path);
    gboolean dir_ok = g_file_test(dir, G_FILE_TEST_IS_DIR);
    g_free(dir);
    if (!dir_ok) {
      g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_IO,
                  "%s: neither the file nor its directory exists", path);
      return FALSE;
    }
    g_free(c->path);
    c->path = g_strdup(path);
    c->file_exists = FALSE;
    return TRUE;
  }
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_IO,
                "%s: is a directory, not a JSON file", path);
    return FALSE;
  }
  if (!g_file_get_contents(path, &text, &len, &e)) {
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_IO, "%s", e->message);
    g_error_free(e);
    return FALSE;
  }
  if (len > CONFIG_FILE_MAX_BYTES) {
    g_free(text);
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_IO,
                "%s: larger than %u bytes", path, CONFIG_FILE_MAX_BYTES);
    return FALSE;
  }
  gboolean ok = server_config_load_text(c, text, len, path, error);
  g_free(text);
  if (ok) {
    g_free(c->path);
    c->path = g_strdup(path);
    c->file_exists = TRUE;
  }
  return ok;
}

/* Strict unsigned integer parse of an environment value. */
static gboolean
parse_env_uint(const char *s, guint64 max, guint64 *out)
{
  guint64 v;
  if (!s || !*s || !g_ascii_string_to_unsigned(s, 10, 0, max, &v, NULL))
    return FALSE;
  *out = v;
  return TRUE;
}

gboolean
server_config_apply_env(ServerConfig *c, char **envp, GError **error)
{
  const char *port = g_environ_getenv(envp, "STREAMSIGHT_PORT");
  const char *bind = g_environ_getenv(envp, "STREAMSIGHT_BIND");
  const char *threads = g_environ_getenv(envp, "STREAMSIGHT_THREADS");
  const char *model = g_environ_getenv(envp, "STREAMSIGHT_MODEL");
  const char *labels = g_environ_getenv(envp, "STREAMSIGHT_LABELS");
  const char *token = g_environ_getenv(envp, "STREAMSIGHT_TOKEN");
  const char *mqtt_url = g_environ_getenv(envp, "STREAMSIGHT_MQTT_URL");
  guint64 v_port = 0, v_threads = 0;
  MqttConfig *mqtt = NULL;

  /* Validate everything first so that a failure changes nothing. */
  if (port && !parse_env_uint(port, 65535, &v_port))
    return config_invalid(error,
                          "STREAMSIGHT_PORT: must be an integer 0..65535");
  if (bind && !config_check_bind(bind, "STREAMSIGHT_BIND", error))
    return FALSE;
  if (threads && !parse_env_uint(threads, CONFIG_MAX_THREADS, &v_threads))
    return config_invalid(error,
                          "STREAMSIGHT_THREADS: must be an integer 0..%d "
                          "(0 = one per usable CPU)",
                          CONFIG_MAX_THREADS);
  if (model && (!*model || strlen(model) > PATH_MAX_LEN))
    return config_invalid(error,
                          "STREAMSIGHT_MODEL: must be a path of 1..%d bytes",
                          PATH_MAX_LEN);
  if (labels && strlen(labels) > PATH_MAX_LEN)
    return config_invalid(error,
                          "STREAMSIGHT_LABELS: must be a path of at most %d "
                          "bytes",
                          PATH_MAX_LEN);
  if (token && *token && !check_token(token, "STREAMSIGHT_TOKEN", error))
    return FALSE;
  /* MQTT is validated on a copy: the URL replaces parts of the file's key. */
  if (c->mqtt)
    mqtt = mqtt_config_copy(c->mqtt);
  if (mqtt_url && !mqtt_config_apply_url(&mqtt, mqtt_url, error))
    goto fail_mqtt;
  if (mqtt && !mqtt->host) {
    config_invalid(error, "mqtt.host: required (or set STREAMSIGHT_MQTT_URL)");
    goto fail_mqtt;
  }

  if (port)
    c->port = (guint)v_port;
  if (bind) {
    g_free(c->bind);
    c->bind = g_strdup(bind);
  }
  if (threads)
    c->threads = v_threads == 0 ? usable_cpus() : (guint)v_threads;
  if (model) {
    g_free(c->model_path);
    c->model_path = g_strdup(model);
  }
  if (labels) {
    /* An empty value clears labels set in the file. */
    g_free(c->labels_path);
    c->labels_path = *labels ? g_strdup(labels) : NULL;
  }
  if (token) {
    /* An empty value turns authentication off. */
    g_free(c->auth_token);
    c->auth_token = *token ? g_strdup(token) : NULL;
  }
  mqtt_config_free(c->mqtt);
  c->mqtt = mqtt;
  return TRUE;

fail_mqtt:
  mqtt_config_free(mqtt);
  return FALSE;
}
