/* streamsight — the server's configuration: one JSON file, validated key by
 * key, plus environment overrides; and the write-back of the streams changed
 * over the API.
 *
 * Precedence, lowest first: built-in defaults, the config file, the
 * environment (STREAMSIGHT_PORT, _BIND, _THREADS, _MODEL, _LABELS, _TOKEN,
 * _MQTT_URL),
 * command-line flags (--port, --bind; applied by serve.c). Every key is
 * documented in config/README.md; unknown keys are errors, and every error
 * names the key path ("streams[2].max_fps: must be a number >= 0 ...") or the
 * variable ("STREAMSIGHT_PORT: ...").
 */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include <glib.h>
#include <jansson.h>

#include "mqtt-config.h"
#include "registry.h"
#include "stream-config.h"

G_BEGIN_DECLS

#define CONFIG_ERROR (config_error_quark())
GQuark config_error_quark(void);
typedef enum {
  CONFIG_ERROR_IO,      /* the file could not be read or written */
  CONFIG_ERROR_SYNTAX,  /* not JSON */
  CONFIG_ERROR_INVALID, /* a key or variable has a bad value */
} ConfigError;

#define CONFIG_DEFAULT_BIND "127.0.0.1"
#define CONFIG_DEFAULT_PORT 8080
#define CONFIG_DEFAULT_MODEL "models/mobilenet_v2_1.0_224_quant.tflite"
#define CONFIG_DEFAULT_HTTP_THREADS 2
#define CONFIG_DEFAULT_MAX_STREAMS 32
#define CONFIG_DEFAULT_MAX_BODY_BYTES (8u << 20)
#define CONFIG_DEFAULT_MAX_CONNECTIONS 256
#define CONFIG_DEFAULT_CONNECTION_TIMEOUT_S 30
#define CONFIG_DEFAULT_MAX_CONNECTIONS_PER_IP 128
#define CONFIG_DEFAULT_HEADER_TIMEOUT_S 10
#define CONFIG_DEFAULT_MIN_BODY_BYTES_PER_S 4096
#define CONFIG_DEFAULT_MAX_SSE_CLIENTS 64
#define CONFIG_DEFAULT_MAX_HEADER_BYTES (16u << 10)
#define CONFIG_DEFAULT_MAX_URI_BYTES (8u << 10)
/* Memory all uploads being decoded at once may take (POST /classify): fits
 * a 512 MB container beside the model and the streams. */
#define CONFIG_DEFAULT_DECODE_MEMORY_MB 256
#define CONFIG_MAX_THREADS 256
#define CONFIG_FILE_MAX_BYTES (16u << 20)
/* Longest accepted bearer token (bytes of printable ASCII). */
#define CONFIG_TOKEN_MAX 256
/* http.cors_origins: how many, and the longest. */
#define CONFIG_CORS_ORIGINS_MAX 16
#define CONFIG_CORS_ORIGIN_MAX 255

typedef struct {
  guint max_streams;          /* registry limit, 1..4096 */
  guint64 max_body_bytes;     /* request bodies, 1 KiB .. 1 GiB (413 above) */
  guint max_connections;      /* open HTTP connections, 1..65536 */
  guint connection_timeout_s; /* idle HTTP connection timeout, 1..3600 */
  guint max_connections_per_ip; /* from one address, 0..65536 (0: no limit) */
  guint header_timeout_s;     /* request line + headers deadline, 1..3600 */
  guint min_body_bytes_per_s; /* request body rate, 0..1 GiB/s (0: none) */
  guint max_sse_clients;      /* event-stream clients, 0..4096 and less than
                               * max_connections (0: no event streams) */
  guint64 max_header_bytes;   /* request header lines, 1 KiB .. 1 MiB (431) */
  guint64 max_uri_bytes;      /* request target, 256 .. 1 MiB (414) */
  guint decode_memory_mb;     /* uploads decoded at once, 16..65536 MB */
  guint max_heads;            /* custom classifiers, 1..1000 */
  guint max_head_classes;     /* classes of one head, 2..64 */
  guint max_head_examples;    /* examples of one head, 4..100000 */
} ConfigLimits;

/* One stream of the file: its id (NULL: the registry generates one) and its
 * validated configuration. */
typedef struct {
  char *id;
  StreamConfig config;
} ConfigStream;

/* "engine": which arithmetic runs the model (engine.h, enum engine_arith,
 * in the same order): integer for a quantised TFLite file (TFLite's exact
 * scores) and float otherwise, or float / integer forced. */
enum {
  CONFIG_ENGINE_AUTO = 0,
  CONFIG_ENGINE_FLOAT,
  CONFIG_ENGINE_INTEGER,
};

/* Plain data with one owner. All strings owned. */
typedef struct {
  char *path;          /* the config file, NULL when running without one */
  gboolean file_exists;/* FALSE: defaults; the file is created on write-back */
  char *bind;          /* numeric IPv4/IPv6 address */
  guint port;          /* 0 = ephemeral */
  guint threads;       /* inference workers, resolved (never 0) */
  guint http_threads;  /* libmicrohttpd's thread pool */
  char *model_path;
  char *labels_path;   /* NULL: labels from the model file, if any */
  int engine;          /* CONFIG_ENGINE_*: the arithmetic the model runs */
  GPtrArray *models;   /* ConfigModel* (config-models.h) of "models", or
                        * NULL: the one model above, id "default" */
  char *auth_token;    /* NULL: no authentication */
  char *tls_cert_path; /* both NULL, or both set */
  char *tls_key_path;
  char **cors_origins; /* http.cors_origins, NULL-terminated; NULL: no
                        * cross-origin access (no CORS headers) */
  ConfigLimits limits;
  MediaDirs *media_dirs; /* where file:// and v4l2 sources may be
                          * (media-dirs.h); default: the working directory */
  GPtrArray *streams;  /* ConfigStream*, in file order */
  gboolean streams_defaulted; /* no "streams" key: the default test stream */
  MqttConfig *mqtt;    /* NULL: no MQTT (no "mqtt" key, no
                        * STREAMSIGHT_MQTT_URL) */
  json_t *root;        /* the file's object as read (for write-back) */
} ServerConfig;

/* Built-in defaults (threads = usable CPUs, see cpu-count.h, one stream "test" on "test:"). */
ServerConfig *server_config_new(void);
void server_config_free(ServerConfig *c); /* NULL is allowed */

/* Reads path over the defaults. A missing file in an existing directory is
 * not an error: the defaults are used and file_exists is FALSE. */
gboolean server_config_load_file(ServerConfig *c, const char *path,
                                 GError **error);
/* Parses text (len bytes) over the defaults; what names it in messages. */
gboolean server_config_load_text(ServerConfig *c, const char *text, gsize len,
                                 const char *what, GError **error);
/* Applies STREAMSIGHT_PORT, _BIND, _THREADS, _MODEL, _LABELS, _TOKEN and
 * _MQTT_URL (mqtt-config.h) from
 * envp (as from g_get_environ(); NULL = none). Values are validated as the
 * keys are; errors name the variable and never echo the token. */
gboolean server_config_apply_env(ServerConfig *c, char **envp,
                                 GError **error);
/* Checks an address / port given on the command line or in the environment.
 * name: what to call it in errors. */
gboolean config_check_bind(const char *addr, const char *name,
                           GError **error);

/* ---- errors of the config readers (config*.c) ---- */

/* Sets CONFIG_ERROR_INVALID with the formatted message; returns FALSE. */
gboolean config_invalid(GError **error, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* Re-labels a json-util error e (taken) as a config error, same message:
 * CONFIG_ERROR_SYNTAX for a syntax error, else _INVALID. Returns FALSE. */
gboolean config_relabel(GError **error, GError *e);

/* ---- streams as JSON (config-stream.c; shared by the file and the API) */

/* Parses one stream object: name and uri required, every option optional
 * (defaults from stream_config_init), "id" allowed when allow_id. The
 * options sit beside name and uri or in an "options" object (not both for
 * one key). Unknown
 * keys are errors. prefix: "" or e.g. "streams[2]." for the messages. Then
 * stream_config_validate() runs (its message gets the prefix). On success
 * *out is initialised (stream_config_clear it) and *out_id is a new string
 * or NULL when no id was given. */
gboolean config_stream_from_json(json_t *obj, const char *prefix,
                                 gboolean allow_id, char **out_id,
                                 StreamConfig *out, GError **error);
/* Sets the option keys of c on obj (everything but id, name and uri).
 * only_changed: skip the options that equal the defaults. */
void config_stream_options_to_json(json_t *obj, const StreamConfig *c,
                                   gboolean only_changed);
/* A stream id: 1..64 of [a-z0-9_-] (so also a safe MQTT topic level). */
gboolean config_stream_id_is_valid(const char *id);

/* ---- write-back (config-store.c) ---- */

/* Keeps the streams in the config file in step with the registry. Writes are
 * atomic: a temporary file in the same directory, created with mode 0600
 * (the file holds camera credentials; an older file's looser mode is not
 * kept), fsync, rename over the file, fsync of the directory. Every key but
 * "streams" is written back as it was read (environment overrides are not). A failed write leaves the old file
 * as it was, is logged once (until a write succeeds again) and is reported
 * by config_store_status(). Thread-safe. */
typedef struct ConfigStore ConfigStore;

/* path: the config file; root: the file's object as read (copied), or NULL
 * for a file that does not exist yet. Removes the temporary files that
 * interrupted writes (a crash, SIGKILL) left beside the file, and warns
 * when the file is readable by group or others. */
ConfigStore *config_store_new(const char *path, json_t *root);
void config_store_free(ConfigStore *s); /* NULL is allowed */

/* Writes the given streams: configs (StreamConfig*) and ids (char*, or NULL
 * for none) are parallel arrays, as registry_copy_configs() fills them. */
gboolean config_store_write(ConfigStore *s, GPtrArray *configs,
                            GPtrArray *ids, GError **error);
/* A RegistryChangedFunc: user is the ConfigStore. */
void config_store_registry_changed(Registry *r, gpointer user);

/* Path (borrowed, lives as long as s), writes done, and the error of the
 * last write (new string) or NULL if it succeeded or none was tried. */
const char *config_store_path(ConfigStore *s);
void config_store_status(ConfigStore *s, guint64 *writes_ok,
                         guint64 *writes_failed, char **last_error);

/* Test hooks: make the next writes fail as if the disk were full, or exit
 * the process (_exit(CONFIG_FAULT_EXIT_CODE)) after the temporary file is
 * written and synced but before the rename, as a crash would. */
typedef enum {
  CONFIG_FAULT_NONE = 0,
  CONFIG_FAULT_WRITE_ENOSPC,
  CONFIG_FAULT_CRASH_BEFORE_RENAME,
} ConfigFault;
#define CONFIG_FAULT_EXIT_CODE 86
void config_store_set_fault(ConfigStore *s, ConfigFault fault);

G_END_DECLS

#endif
