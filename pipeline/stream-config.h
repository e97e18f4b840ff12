/* streamsight — a stream's configuration: what the user asked for, validated.
 *
 * Plain data, copied freely. Parsed from JSON by the server (config file,
 * POST /api/v1/streams) and written back to the config file; the URI may hold
 * credentials (user:password@, percent-encoded), which must never be logged
 * or returned: use stream_config_redact_uri() for anything shown.
 */
#ifndef SS_STREAM_CONFIG_H
#define SS_STREAM_CONFIG_H

#include <glib.h>

#include "alert-rule.h"
#include "roi.h"

G_BEGIN_DECLS

#define STREAM_NAME_MAX 128
#define STREAM_URI_MAX 2048
#define STREAM_DEVICE_MAX 256

#define STREAM_CONFIG_ERROR (stream_config_error_quark())
GQuark stream_config_error_quark(void);
typedef enum {
  STREAM_CONFIG_ERROR_INVALID, /* message: "<field>: <problem>" */
  STREAM_CONFIG_ERROR_FORBIDDEN, /* a local path outside media_dirs
                                  * (media-dirs.h), same message form */
} StreamConfigError;

/* Limits of a stream's options: stream_config_validate checks them, and
 * the config loader, the routes and the registry convert and bound with
 * these same numbers (one home). The ranges are wide on purpose: they
 * reject nonsense (negative, NaN, absurdly large), not unusual but
 * legitimate set-ups. */
#define STREAM_ID_MAX 64                /* 1..64 of a-z 0-9 _ - */
#define STREAM_MAX_FPS_LIMIT 1000.0
#define STREAM_TOP_K_MAX 10             /* POOL_MAX_TOP_K */
#define STREAM_HISTORY_LEN_MAX 10000    /* also GET .../predictions?limit= */
#define STREAM_STALL_TIMEOUT_MIN_S 0.2
#define STREAM_TIMEOUT_MAX_S 86400.0
#define STREAM_BACKOFF_MIN_S 0.01
#define STREAM_RTSP_LATENCY_MAX_MS 60000
#define STREAM_PATTERN_MAX 32

typedef enum {
  STREAM_TRANSPORT_AUTO = 0, /* RTSP: TCP first, UDP when TCP is refused */
  STREAM_TRANSPORT_TCP,
  STREAM_TRANSPORT_UDP,
} StreamTransport;

typedef enum {
  STREAM_DECODE_ALL = 0,   /* decode every frame */
  STREAM_DECODE_KEYFRAMES, /* the decoder skips non-key frames */
} StreamDecode;

/* With a head: "classes" lists ImageNet's and "head" the head's (both,
 * the default), or "classes" lists the head's (head), or the head is not
 * run (imagenet). */
typedef enum {
  STREAM_LABELS_BOTH = 0,
  STREAM_LABELS_HEAD,
  STREAM_LABELS_IMAGENET,
} StreamLabels;

/* How a frame is fitted to the model's input (the sink element's
 * StreamsightResizeMode has the same values). */
typedef enum {
  STREAM_RESIZE_STRETCH = 0, /* whole frame, aspect not kept */
  STREAM_RESIZE_CROP,        /* centre crop to the model's aspect */
  STREAM_RESIZE_LETTERBOX,   /* whole frame, padded with black */
} StreamResizeMode;
#define STREAM_RESIZE_MODE_MAX STREAM_RESIZE_LETTERBOX

/* The option names, in enum order, NULL-terminated (what the config file
 * and the API accept): transport, decode, resize_mode, labels. */
extern const char *const stream_transport_names[];
extern const char *const stream_decode_names[];
extern const char *const stream_resize_mode_names[];
extern const char *const stream_labels_names[];
/* Head ids: [A-Za-z0-9_-], 1..64 (server/head-store.h). */
#define STREAM_HEAD_ID_MAX 64

typedef struct {
  char *name;    /* display name, 1..STREAM_NAME_MAX bytes, UTF-8 */
  char *uri;     /* rtsp://, rtsps://, v4l2:///dev/videoN, file://, http(s)://, test: */
  char *device;  /* optional webcam device, overrides the v4l2 URI path */
  char *pattern; /* test: videotestsrc pattern name, e.g. "smpte", "ball" */
  StreamTransport transport;
  StreamDecode decode;
  double max_fps;          /* 0 = as fast as the pool allows; default 5 */
  int top_k;               /* 1 .. 10, default 5 */
  gboolean enabled;        /* default TRUE */
  guint history_len;       /* predictions kept, default 100, 1 .. 10000 */
  double stall_timeout_s;  /* no frame for this long = stalled; default 10 */
  double backoff_initial_s;/* default 1 */
  double backoff_max_s;    /* default 30 */
  guint rtsp_latency_ms;   /* rtspsrc latency, default 200 */
  int resize_mode;         /* StreamResizeMode, default stretch */
  gboolean realtime;       /* file/http sources: play at the clip's own rate
                            * (TRUE, default) or as fast as they decode
                            * (FALSE: batch analysis, tests). Live sources
                            * are always real time. */
  AlertRule *alerts;       /* owned, n_alerts of them (0..ALERT_RULES_MAX):
                            * when a class starts and stops (alert-rule.h) */
  guint n_alerts;
  char *model;             /* id of the stream's model (model-set.h);
                            * NULL: the first model */
  StreamRoi roi;           /* the part of the frame the model sees;
                            * default the whole frame */
  char *head;              /* id of a head (custom classifier) whose classes
                            * the predictions carry; NULL: none */
  StreamLabels labels;     /* which classes predictions list first */
} StreamConfig;

/* "auto"/"tcp"/"udp" and "all"/"keyframes" (static strings), and back;
 * the parsers return FALSE for an unknown name. */
const char *stream_transport_name(StreamTransport t);
gboolean stream_transport_from_string(const char *s, StreamTransport *out);
const char *stream_decode_name(StreamDecode d);
gboolean stream_decode_from_string(const char *s, StreamDecode *out);
/* "stretch"/"crop"/"letterbox"; "stretch" for an unknown value. */
const char *stream_resize_mode_name(int mode);
/* "both"/"head"/"imagenet"; "both" for an unknown value. */
const char *stream_labels_name(StreamLabels l);

/* Defaults (everything but name and uri). */
void stream_config_init(StreamConfig *c);
void stream_config_clear(StreamConfig *c);
void stream_config_copy(StreamConfig *dst, const StreamConfig *src);

/* Checks ranges and the URI (known scheme, length, no control characters,
 * parseable by gst_uri). Errors name the field. */
gboolean stream_config_validate(const StreamConfig *c, GError **error);

/* The URI with its credentials replaced by "***" (newly allocated): the
 * whole user info (user:pass@host becomes ***@host), and the value of every
 * "name=value" in the path or query whose name contains pass, pwd, token,
 * key, secret, auth, sig, credential, user, usr or login, or is u, p or pw,
 * case-insensitively
 * ("?password=***", "/user=***_password=***_channel=1", "?x-auth-token=***").
 * Any string is accepted: when the authority is malformed (e.g. an unencoded
 * '/' or '#' in a password) everything between "://" and the last '@' is
 * redacted, so credentials are hidden even then. */
char *stream_config_redact_uri(const char *uri);

/* Splits a URI's userinfo off: *stripped is the URI without "user:password@"
 * (newly allocated), *user and *password the percent-decoded parts (newly
 * allocated, NULL when absent). Returns FALSE, writing nothing, if the URI
 * has no "scheme://" authority. */
gboolean stream_config_split_userinfo(const char *uri, char **stripped,
                                      char **user, char **password);

/* The secret values in a URI, for stream_config_scrub(): the user info's
 * password (any length) and user name (3 bytes or more), and every value
 * that stream_config_redact_uri() hides, of 3 bytes or more; each as written
 * and, when different, percent-decoded. NULL-terminated (g_strfreev), never
 * NULL; empty for NULL or a string without a scheme. */
char **stream_config_uri_secrets(const char *uri);

/* Replaces, in text, every URI's credentials (as stream_config_redact_uri()
 * does) and every occurrence of the given secrets (NULL-terminated, NULL or
 * empty entries skipped; the longest first) by "***". For error messages
 * from GStreamer elements, which may quote the URI in any form. Newly
 * allocated. */
char *stream_config_scrub(const char *text, const char *const *secrets);

/* "rtsp", "rtsps", "v4l2", "file", "http", "https" or "test" for a URI that
 * stream_config_validate() accepts (static string), or NULL. */
const char *stream_config_uri_scheme(const char *uri);

G_END_DECLS

#endif
