/* streamsight — validation of a stream's configuration (StreamConfig). The
 * messages never quote a URI: it may hold a password.
 */
#include "stream-config.h"

#include <math.h>
#include <string.h>

#include "stream-config-internal.h"

/* The limits are in stream-config.h (STREAM_*_MAX). */
#define MAX_FPS_LIMIT STREAM_MAX_FPS_LIMIT
#define TOP_K_MAX STREAM_TOP_K_MAX
#define HISTORY_LEN_MAX STREAM_HISTORY_LEN_MAX
#define STALL_TIMEOUT_MIN_S STREAM_STALL_TIMEOUT_MIN_S
#define TIMEOUT_MAX_S STREAM_TIMEOUT_MAX_S
#define BACKOFF_MIN_S STREAM_BACKOFF_MIN_S
#define RTSP_LATENCY_MAX_MS STREAM_RTSP_LATENCY_MAX_MS
#define RESIZE_MODE_MAX STREAM_RESIZE_MODE_MAX

/* videotestsrc's pattern nicks in GStreamer 1.22 (GstVideoTestSrcPattern).
 * Listed here so that a config can be validated without loading plugins. */
static const char *const test_patterns[] = {
  "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1",
  "checkers-2", "checkers-4", "checkers-8", "circular", "blink", "smpte75",
  "zone-plate", "gamut", "chroma-zone-plate", "solid-color", "ball",
  "smpte100", "bar", "pinwheel", "spokes", "gradient", "colors",
  "smpte-rp-219", NULL,
};

/* ---- validation ---- */

static gboolean
fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
fail(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, STREAM_CONFIG_ERROR, STREAM_CONFIG_ERROR_INVALID,
                      msg);
  return FALSE;
}

static gboolean
has_control_or_space(const char *s)
{
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (*c <= 0x20 || *c == 0x7f)
      return TRUE;
  return FALSE;
}

static gboolean
has_control(const char *s)
{
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (*c < 0x20 || *c == 0x7f)
      return TRUE;
  return FALSE;
}

/* A URI's structure, for the checks that need more than the scheme. The
 * messages never quote the URI: it may hold a password. */
static gboolean
validate_uri(const StreamConfig *c, GError **error)
{
  const char *uri = c->uri;
  const char *scheme;
  gsize len;
  UriParts p;
  g_autofree char *stripped = NULL;
  g_autofree char *host = NULL, *path = NULL;
  gint port = -1;
  gsize end;

  if (!uri || !uri[0])
    return fail(error, "uri: missing");
  len = strlen(uri);
  if (len > STREAM_URI_MAX)
    return fail(error, "uri: %" G_GSIZE_FORMAT " bytes, more than %d", len,
                STREAM_URI_MAX);
  if (has_control_or_space(uri))
    return fail(error, "uri: contains a space or control character "
                       "(percent-encode it)");
  if (!g_utf8_validate(uri, (gssize)len, NULL))
    return fail(error, "uri: not valid UTF-8");
  if (!stream_config_uri_parts(uri, &p))
    return fail(error, "uri: no scheme (expected rtsp://, rtsps://, "
                       "v4l2://, file://, http://, https:// or test:)");
  scheme = stream_config_uri_scheme(uri);
  if (!scheme) {
    g_autofree char *s = g_strndup(uri, MIN(p.scheme_end, 32));
    return fail(error, "uri: unsupported scheme '%s' (expected rtsp, rtsps, "
                       "v4l2, file, http, https or test)", s);
  }
  if (strcmp(scheme, "test") == 0) {
    if (strcmp(uri + p.scheme_end, ":") != 0 &&
        strcmp(uri + p.scheme_end, "://") != 0)
      return fail(error, "uri: a test source is just \"test:\" (choose the "
                         "picture with the pattern key)");
    return TRUE;
  }
  if (!p.has_authority)
    return fail(error, "uri: expected %s://...", scheme);

  /* Structure (port, IPv6 brackets, percent-escapes) checked by GUri on the
   * URI without its userinfo, so that its messages cannot quote a password;
   * the userinfo is checked here. */
  for (gsize k = p.auth; k < p.at; k++) {
    if (uri[k] == '%' && !(g_ascii_isxdigit(uri[k + 1]) &&
                           g_ascii_isxdigit(uri[k + 2])))
      return fail(error, "uri: bad percent-escape in the user info");
    if (uri[k] == '@' || uri[k] == '[' || uri[k] == ']')
      return fail(error, "uri: unencoded '%c' in the user info "
                         "(percent-encode it)", uri[k]);
  }
  end = stream_config_uri_redact_end(uri, len, &p);
  if (end != 0 && end != p.at)
    return fail(error, "uri: unencoded '@' after the host; if it belongs to "
                       "the password, percent-encode '/', '?', '#' and '@' "
                       "there (%%2F, %%3F, %%23, %%40)");
  if (!stream_config_split_userinfo(uri, &stripped, NULL, NULL) ||
      !g_uri_split(stripped, G_URI_FLAGS_ENCODED, NULL, NULL, &host, &port,
                   &path, NULL, NULL, NULL))
    return fail(error, "uri: cannot be parsed (check the port, the brackets "
                       "of an IPv6 address and the percent-escapes)");
  if (strcmp(scheme, "rtsp") == 0 || strcmp(scheme, "rtsps") == 0 ||
      strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) {
    if (!host || !host[0])
      return fail(error, "uri: no host");
  } else if (strcmp(scheme, "file") == 0) {
    if (p.at > p.auth)
      return fail(error, "uri: a file URI has no user info");
    if (host && host[0] && g_ascii_strcasecmp(host, "localhost") != 0)
      return fail(error, "uri: file URIs on another host are not supported");
    if (!path || path[0] != '/' || !path[1])
      return fail(error, "uri: a file URI needs an absolute path "
                         "(file:///path/to/clip.mp4)");
  } else if (strcmp(scheme, "v4l2") == 0) {
    if (p.at > p.auth || (host && host[0]))
      return fail(error, "uri: a v4l2 URI has no host "
                         "(v4l2:///dev/video0)");
    if ((!path || !path[0]) && !c->device)
      return fail(error, "uri: a v4l2 URI needs a device path "
                         "(v4l2:///dev/video0) or the device key");
  }
  return TRUE;
}

static gboolean
in_range(double v, double lo, double hi)
{
  return isfinite(v) && v >= lo && v <= hi;
}

gboolean
stream_config_validate(const StreamConfig *c, GError **error)
{
  gsize n;
  g_return_val_if_fail(c != NULL, FALSE);

  if (!c->name || !c->name[0])
    return fail(error, "name: missing");
  n = strlen(c->name);
  if (n > STREAM_NAME_MAX)
    return fail(error, "name: %" G_GSIZE_FORMAT " bytes, more than %d", n,
                STREAM_NAME_MAX);
  if (!g_utf8_validate(c->name, (gssize)n, NULL))
    return fail(error, "name: not valid UTF-8");
  if (has_control(c->name))
    return fail(error, "name: contains a control character");

  if (!validate_uri(c, error))
    return FALSE;

  if (c->device) {
    n = strlen(c->device);
    if (c->device[0] != '/' || n < 2 || n > STREAM_DEVICE_MAX ||
        has_control(c->device))
      return fail(error, "device: expected an absolute device path of at "
                         "most %d bytes, e.g. /dev/video0", STREAM_DEVICE_MAX);
    if (g_strcmp0(stream_config_uri_scheme(c->uri), "v4l2") != 0)
      return fail(error, "device: only for v4l2:// streams");
  }
  if (c->pattern) {
    gboolean known = FALSE;
    for (int i = 0; test_patterns[i] && !known; i++)
      known = strcmp(c->pattern, test_patterns[i]) == 0;
    if (!known)
      return fail(error, "pattern: unknown videotestsrc pattern (e.g. "
                         "smpte, ball, snow, colors)");
    if (g_strcmp0(stream_config_uri_scheme(c->uri), "test") != 0)
      return fail(error, "pattern: only for test: streams");
  }
  if ((int)c->transport < STREAM_TRANSPORT_AUTO ||
      c->transport > STREAM_TRANSPORT_UDP)
    return fail(error, "transport: expected auto, tcp or udp");
  if ((int)c->decode < STREAM_DECODE_ALL || c->decode > STREAM_DECODE_KEYFRAMES)
    return fail(error, "decode: expected all or keyframes");
  if (!in_range(c->max_fps, 0.0, MAX_FPS_LIMIT))
    return fail(error, "max_fps: %g is out of range 0 .. %g (0 = unlimited)",
                c->max_fps, MAX_FPS_LIMIT);
  if (!stream_roi_validate(&c->roi, "roi", error))
    return FALSE;
  if (c->head) {
    size_t hl = strlen(c->head);
    gboolean ok = hl >= 1 && hl <= STREAM_HEAD_ID_MAX;
    for (size_t i = 0; ok && i < hl; i++)
      ok = g_ascii_isalnum(c->head[i]) || c->head[i] == '_' ||
           c->head[i] == '-';
    if (!ok)
      return fail(error, "head: 1 to %d letters, digits, '_' or '-'",
                  STREAM_HEAD_ID_MAX);
  }
  if ((int)c->labels < STREAM_LABELS_BOTH ||
      c->labels > STREAM_LABELS_IMAGENET)
    return fail(error, "labels: expected both, head or imagenet");
  if (c->top_k < 1 || c->top_k > TOP_K_MAX)
    return fail(error, "top_k: %d is out of range 1 .. %d", c->top_k,
                TOP_K_MAX);
  if (c->history_len < 1 || c->history_len > HISTORY_LEN_MAX)
    return fail(error, "history_len: %u is out of range 1 .. %d",
                c->history_len, HISTORY_LEN_MAX);
  if (!in_range(c->stall_timeout_s, STALL_TIMEOUT_MIN_S, TIMEOUT_MAX_S))
    return fail(error, "stall_timeout_s: %g is out of range %g .. %g",
                c->stall_timeout_s, STALL_TIMEOUT_MIN_S, TIMEOUT_MAX_S);
  if (!in_range(c->backoff_initial_s, BACKOFF_MIN_S, TIMEOUT_MAX_S))
    return fail(error, "backoff_initial_s: %g is out of range %g .. %g",
                c->backoff_initial_s, BACKOFF_MIN_S, TIMEOUT_MAX_S);
  if (!in_range(c->backoff_max_s, c->backoff_initial_s, TIMEOUT_MAX_S))
    return fail(error, "backoff_max_s: %g is out of range "
                       "backoff_initial_s (%g) .. %g",
                c->backoff_max_s, c->backoff_initial_s, TIMEOUT_MAX_S);
  if (c->rtsp_latency_ms > RTSP_LATENCY_MAX_MS)
    return fail(error, "rtsp_latency_ms: %u is out of range 0 .. %d",
                c->rtsp_latency_ms, RTSP_LATENCY_MAX_MS);
  if (c->resize_mode < 0 || c->resize_mode > RESIZE_MODE_MAX)
    return fail(error, "resize_mode: %d is out of range 0 .. %d "
                       "(stretch, crop, letterbox)",
                c->resize_mode, RESIZE_MODE_MAX);
  if (c->n_alerts > ALERT_RULES_MAX)
    return fail(error, "alerts: at most %d rules per stream (%u given)",
                ALERT_RULES_MAX, c->n_alerts);
  for (guint i = 0; i < c->n_alerts; i++) {
    char prefix[32];
    g_snprintf(prefix, sizeof prefix, "alerts[%u].", i);
    if (!alert_rule_validate(&c->alerts[i], prefix, error))
      return FALSE;
    for (guint j = 0; j < i; j++)
      if (strcmp(c->alerts[j].class_name, c->alerts[i].class_name) == 0)
        return fail(error, "alerts[%u].class: '%s' already has a rule "
                    "(alerts[%u]): one rule per class", i,
                    c->alerts[i].class_name, j);
  }
  return TRUE;
}
