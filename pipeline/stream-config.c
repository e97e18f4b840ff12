/* streamsight — a stream's configuration: defaults, validation, and the
 * handling of credentials inside URIs (split, redact, scrub).
 *
 * URIs are parsed by hand here rather than with GUri/GstUri, because the
 * redaction must also work on strings that are not valid URIs (an unencoded
 * '/' or '#' in a password makes GUri give up, yet the password must still be
 * hidden), and because GUri's own error messages quote the offending part,
 * which may be a piece of the password.
 */
#include "stream-config.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK(ss-stream-config-error-quark, stream_config_error)

#define REDACTED "***"

/* The limits are in stream-config.h (STREAM_*_MAX). */
#define MAX_FPS_LIMIT STREAM_MAX_FPS_LIMIT
#define TOP_K_MAX STREAM_TOP_K_MAX
#define HISTORY_LEN_MAX STREAM_HISTORY_LEN_MAX
#define STALL_TIMEOUT_MIN_S STREAM_STALL_TIMEOUT_MIN_S
#define TIMEOUT_MAX_S STREAM_TIMEOUT_MAX_S
#define BACKOFF_MIN_S STREAM_BACKOFF_MIN_S
#define RTSP_LATENCY_MAX_MS STREAM_RTSP_LATENCY_MAX_MS
#define RESIZE_MODE_MAX STREAM_RESIZE_MODE_MAX

const char *const stream_transport_names[] = { "auto", "tcp", "udp", NULL };
const char *const stream_decode_names[] = { "all", "keyframes", NULL };
const char *const stream_resize_mode_names[] = { "stretch", "crop",
                                                 "letterbox", NULL };
const char *const stream_labels_names[] = { "both", "head", "imagenet",
                                            NULL };
G_STATIC_ASSERT(STREAM_TRANSPORT_UDP == 2 && STREAM_DECODE_KEYFRAMES == 1 &&
                STREAM_RESIZE_LETTERBOX == 2 && STREAM_LABELS_IMAGENET == 2);

/* videotestsrc's pattern nicks in GStreamer 1.22 (GstVideoTestSrcPattern).
 * Listed here so that a config can be validated without loading plugins. */
static const char *const test_patterns[] = {
  "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1",
  "checkers-2", "checkers-4", "checkers-8", "circular", "blink", "smpte75",
  "zone-plate", "gamut", "chroma-zone-plate", "solid-color", "ball",
  "smpte100", "bar", "pinwheel", "spokes", "gradient", "colors",
  "smpte-rp-219", NULL,
};

static const char *const schemes[] = {
  "rtsp", "rtsps", "v4l2", "file", "http", "https", "test", NULL,
};

const char *
stream_transport_name(StreamTransport t)
{
  return (unsigned)t <= STREAM_TRANSPORT_UDP ? stream_transport_names[t]
                                             : "auto";
}

gboolean
stream_transport_from_string(const char *s, StreamTransport *out)
{
  static const StreamTransport all[] = {
    STREAM_TRANSPORT_AUTO, STREAM_TRANSPORT_TCP, STREAM_TRANSPORT_UDP,
  };
  for (guint i = 0; s && i < G_N_ELEMENTS(all); i++)
    if (strcmp(s, stream_transport_name(all[i])) == 0) {
      *out = all[i];
      return TRUE;
    }
  return FALSE;
}

const char *
stream_decode_name(StreamDecode d)
{
  return (unsigned)d <= STREAM_DECODE_KEYFRAMES ? stream_decode_names[d]
                                                : "all";
}

const char *
stream_resize_mode_name(int mode)
{
  return mode >= 0 && mode <= STREAM_RESIZE_MODE_MAX
             ? stream_resize_mode_names[mode]
             : "stretch";
}

const char *
stream_labels_name(StreamLabels l)
{
  return (unsigned)l <= STREAM_LABELS_IMAGENET ? stream_labels_names[l]
                                               : "both";
}

gboolean
stream_decode_from_string(const char *s, StreamDecode *out)
{
  if (g_strcmp0(s, "all") == 0) {
    *out = STREAM_DECODE_ALL;
    return TRUE;
  }
  if (g_strcmp0(s, "keyframes") == 0) {
    *out = STREAM_DECODE_KEYFRAMES;
    return TRUE;
  }
  return FALSE;
}

void
stream_config_init(StreamConfig *c)
{
  memset(c, 0, sizeof *c);
  c->transport = STREAM_TRANSPORT_AUTO;
  c->decode = STREAM_DECODE_ALL;
  c->max_fps = 5.0;
  c->top_k = 5;
  c->enabled = TRUE;
  c->history_len = 100;
  c->stall_timeout_s = 10.0;
  c->backoff_initial_s = 1.0;
  c->backoff_max_s = 30.0;
  c->rtsp_latency_ms = 200;
  c->resize_mode = 0;
  c->realtime = TRUE;
  c->roi = STREAM_ROI_FULL;
}

void
stream_config_clear(StreamConfig *c)
{
  if (!c)
    return;
  g_free(c->name);
  g_free(c->uri);
  g_free(c->device);
  g_free(c->pattern);
  g_free(c->head);
  c->head = NULL;
  g_free(c->model);
  c->name = c->uri = c->device = c->pattern = NULL;
  alert_rules_free(c->alerts, c->n_alerts);
  c->alerts = NULL;
  c->n_alerts = 0;
}

void
stream_config_copy(StreamConfig *dst, const StreamConfig *src)
{
  if (dst == src)
    return;
  *dst = *src;
  dst->name = g_strdup(src->name);
  dst->uri = g_strdup(src->uri);
  dst->device = g_strdup(src->device);
  dst->pattern = g_strdup(src->pattern);
  dst->head = g_strdup(src->head);
  dst->model = g_strdup(src->model);
  dst->alerts = alert_rules_copy(src->alerts, src->n_alerts);
  dst->n_alerts = dst->alerts ? src->n_alerts : 0;
}

/* ---- URI anatomy ---- */

/* Offsets into a URI: [0, scheme_end) is the scheme; when has_authority,
 * [auth, auth_end) is the authority (after "://"), of which [auth, at) is
 * the userinfo when at > auth ("at" points at the '@', or equals auth). */
typedef struct {
  gsize scheme_end;
  gboolean has_authority;
  gsize auth, auth_end, at;
} UriParts;

static gboolean
uri_scheme_char(char ch, gboolean first)
{
  return g_ascii_isalpha(ch) ||
         (!first && (g_ascii_isdigit(ch) || ch == '+' || ch == '-' ||
                     ch == '.'));
}

/* Standard split (RFC 3986 §3.2: the authority ends at the first '/', '?' or
 * '#'; the userinfo ends at its last '@'). */
static gboolean
uri_parts(const char *uri, UriParts *p)
{
  gsize i = 0;
  memset(p, 0, sizeof *p);
  while (uri[i] && uri_scheme_char(uri[i], i == 0))
    i++;
  if (i == 0 || uri[i] != ':')
    return FALSE;
  p->scheme_end = i;
  if (strncmp(uri + i, "://", 3) != 0)
    return TRUE;
  p->has_authority = TRUE;
  p->auth = i + 3;
  p->auth_end = p->auth + strcspn(uri + p->auth, "/?#");
  p->at = p->auth;
  for (gsize k = p->auth; k < p->auth_end; k++)
    if (uri[k] == '@')
      p->at = k;
  return TRUE;
}

const char *
stream_config_uri_scheme(const char *uri)
{
  UriParts p;
  if (!uri || !uri_parts(uri, &p))
    return NULL;
  for (int i = 0; schemes[i]; i++)
    if (strlen(schemes[i]) == p.scheme_end &&
        g_ascii_strncasecmp(uri, schemes[i], p.scheme_end) == 0)
      return schemes[i];
  return NULL;
}

static gint
longest_first(gconstpointer a, gconstpointer b)
{
  gsize la = strlen(*(const char *const *)a);
  gsize lb = strlen(*(const char *const *)b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Replaces every occurrence of each secret in out, the longest first: a
 * secret inside another one must not break the longer one up before it is
 * found. secrets may be NULL. */
static void
replace_secrets(GString *out, const char *const *secrets)
{
  g_autoptr(GPtrArray) sorted = NULL;
  if (!secrets)
    return;
  sorted = g_ptr_array_new();
  for (int k = 0; secrets[k]; k++)
    if (secrets[k][0])
      g_ptr_array_add(sorted, (gpointer)secrets[k]);
  g_ptr_array_sort(sorted, longest_first);
  for (guint k = 0; k < sorted->len; k++)
    g_string_replace(out, g_ptr_array_index(sorted, k), REDACTED, 0);
}

/* Where the part to redact ends (the '@'), or 0 when there is none. Beyond
 * the standard rule, an '@' anywhere after "://" counts: with an unencoded
 * '/', '?' or '#' in the password the standard authority ends early, and the
 * rest of the password would show. Over-redacting a rare '@' in a path is the
 * price. */
static gsize
uri_redact_end(const char *uri, gsize len, const UriParts *p)
{
  if (!p->has_authority)
    return 0;
  if (p->at > p->auth)
    return p->at;
  for (gsize k = len; k > p->auth; k--)
    if (uri[k - 1] == '@')
      return k - 1;
  return 0;
}

/* ---- credentials outside the user info ----
 *
 * Cameras take credentials in the query (Dahua, Hikvision, Amcrest:
 * "?user=admin&password=...", Foscam "?usr=..&pwd=..", signed URLs
 * "?token=", "&sig=") and some in the path (XMEye:
 * "/user=admin_password=..._channel=1_stream=0.sdp"). Everything after the
 * authority is read as "name=value" pairs: a name is a run of letters,
 * digits, '-', '.', '_' or '%' right before an '='; a value runs to the next
 * '&', ';' or '#' (in the path also '/' and '?'), or to an '_' that starts
 * the next "name=" (the XMEye separator). A value is secret when its name
 * contains one of the words below, case-insensitively ("x-auth-token",
 * "api_key", "Password"), or is one of the short names below. The words are broad on purpose: hiding a harmless
 * "keyframes=1" costs little, showing a token costs a camera. */

static const char *const secret_words[] = {
  "pass", "pwd", "token", "key", "secret", "auth", "sig", "credential",
  NULL,
};
/* User names are hidden too, as the whole user info is. */
static const char *const user_words[] = {
  "user", "usr", "login", NULL,
};
/* Short names some DVRs use ("?u=admin&p=..."), matched whole only. */
static const char *const secret_names[] = { "p", "pw", NULL };
static const char *const user_names[] = { "u", NULL };

static gboolean
name_is(const char *name, gsize n, const char *const *names)
{
  for (int w = 0; names[w]; w++)
    if (strlen(names[w]) == n && g_ascii_strncasecmp(name, names[w], n) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
name_char(char ch)
{
  return g_ascii_isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
         ch == '%';
}

static gboolean
name_has_word(const char *name, gsize n, const char *const *words)
{
  for (int w = 0; words[w]; w++) {
    gsize wl = strlen(words[w]);
    for (gsize k = 0; k + wl <= n; k++)
      if (g_ascii_strncasecmp(name + k, words[w], wl) == 0)
        return TRUE;
  }
  return FALSE;
}

/* Does an "_name=" start at uri[i] (i < len, uri[i] == '_')? */
static gboolean
next_pair_at(const char *uri, gsize i, gsize len)
{
  gsize k = i + 1;
  while (k < len && name_char(uri[k]) && uri[k] != '_')
    k++;
  return k > i + 1 && k < len && uri[k] == '=';
}

typedef enum {
  VALUE_SECRET = 1, /* a password, token, key... */
  VALUE_USER,       /* a user name */
} ValueKind;

/* Calls fn for every secret value in uri[from, len) (after the authority,
 * or after the scheme's ':' when there is none). */
typedef void (*SecretValueFunc)(const char *uri, gsize v0, gsize v1,
                                ValueKind kind, gpointer data);

static void
for_each_secret_value(const char *uri, gsize from, gsize len,
                      SecretValueFunc fn, gpointer data)
{
  gboolean in_query = FALSE;
  gsize i = from;
  while (i < len) {
    gsize n0 = i, v0, v1;
    ValueKind kind = 0;
    while (i < len && name_char(uri[i]))
      i++;
    if (i >= len)
      break;
    if (uri[i] != '=' || i == n0) {
      if (uri[i] == '?')
        in_query = TRUE;
      if (i == n0)
        i++;
      continue;
    }
    if (name_has_word(uri + n0, i - n0, secret_words) ||
        name_is(uri + n0, i - n0, secret_names))
      kind = VALUE_SECRET;
    else if (name_has_word(uri + n0, i - n0, user_words) ||
             name_is(uri + n0, i - n0, user_names))
      kind = VALUE_USER;
    v0 = v1 = i + 1;
    while (v1 < len) {
      char ch = uri[v1];
      if (ch == '&' || ch == ';' || ch == '#' ||
          (!in_query && (ch == '/' || ch == '?')) ||
          (ch == '_' && next_pair_at(uri, v1, len)))
        break;
      v1++;
    }
    if (kind && v1 > v0)
      fn(uri, v0, v1, kind, data);
    i = v1;
    if (i < len && uri[i] == '_')
      i++; /* the next name starts right after the separator */
  }
}

/* Where the name=value pairs start: after the authority, or after the
 * scheme's ':' for URIs without one. */
static gsize
pairs_start(const UriParts *p)
{
  return p->has_authority ? p->auth_end : p->scheme_end + 1;
}

typedef struct {
  GString *out;
  const char *uri;
  gsize done; /* uri[0, done) has been appended */
} RedactState;

static void
redact_value(const char *uri, gsize v0, gsize v1, ValueKind kind,
             gpointer data)
{
  RedactState *st = data;
  (void)kind;
  g_string_append_len(st->out, uri + st->done, (gssize)(v0 - st->done));
  g_string_append(st->out, REDACTED);
  st->done = v1;
}

/* Redacts the URI occupying uri[0, len) into out: the user info, and the
 * values of secret-named parameters. */
static void
append_redacted(GString *out, const char *uri, gsize len)
{
  g_autofree char *copy = g_strndup(uri, len);
  UriParts p;
  gsize end, rest;
  RedactState st = { .out = out, .uri = copy };
  if (!uri_parts(copy, &p)) {
    g_string_append_len(out, uri, (gssize)len);
    return;
  }
  end = uri_redact_end(copy, len, &p);
  if (end) {
    g_string_append_len(out, copy, (gssize)p.auth);
    g_string_append(out, REDACTED);
    st.done = end;
  }
  /* With a stray '@' after the authority, everything up to it is already
   * hidden. */
  rest = MAX(pairs_start(&p), st.done);
  g_string_append_len(out, copy + st.done, (gssize)(rest - st.done));
  st.done = rest;
  if (rest < len)
    for_each_secret_value(copy, rest, len, redact_value, &st);
  g_string_append_len(out, copy + st.done, (gssize)(len - st.done));
}

static void
add_secret(GPtrArray *arr, const char *raw, gsize n)
{
  g_autofree char *text = g_strndup(raw, n);
  g_autofree char *decoded = g_uri_unescape_string(text, NULL);
  for (guint i = 0; i < arr->len; i++)
    if (strcmp(g_ptr_array_index(arr, i), text) == 0)
      goto decoded;
  g_ptr_array_add(arr, g_strdup(text));
decoded:
  if (!decoded || !decoded[0] || strcmp(decoded, text) == 0)
    return;
  for (guint i = 0; i < arr->len; i++)
    if (strcmp(g_ptr_array_index(arr, i), decoded) == 0)
      return;
  g_ptr_array_add(arr, g_steal_pointer(&decoded));
}

static void
collect_value(const char *uri, gsize v0, gsize v1, ValueKind kind,
              gpointer data)
{
  /* Short values are left out: scrubbing every "1" from an error message
   * would make it unreadable, and the URI itself is still redacted. */
  if (v1 - v0 >= 3)
    add_secret(data, uri + v0, v1 - v0);
  (void)kind;
}

char **
stream_config_uri_secrets(const char *uri)
{
  GPtrArray *arr = g_ptr_array_new();
  UriParts p;
  if (uri && uri_parts(uri, &p)) {
    gsize len = strlen(uri);
    gsize end = uri_redact_end(uri, len, &p);
    if (end) {
      const char *colon = memchr(uri + p.auth, ':', end - p.auth);
      gsize user_end = colon ? (gsize)(colon - uri) : end;
      /* A password of any length (as before); a user name from 3 bytes, so
       * that "ad" does not mangle ordinary words. */
      if (colon && end > user_end + 1)
        add_secret(arr, colon + 1, end - user_end - 1);
      if (user_end - p.auth >= 3)
        add_secret(arr, uri + p.auth, user_end - p.auth);
    }
    for_each_secret_value(uri, MAX(pairs_start(&p), end), len,
                          collect_value, arr);
  }
  g_ptr_array_add(arr, NULL);
  return (char **)g_ptr_array_free(arr, FALSE);
}

char *
stream_config_redact_uri(const char *uri)
{
  GString *out;
  g_auto(GStrv) secrets = NULL;
  if (!uri)
    return NULL;
  out = g_string_new(NULL);
  append_redacted(out, uri, strlen(uri));
  /* A secret's value (or its decoded form) may also stand in a part of the
   * URI that is not a secret, e.g. "/t0k!en/..?token=t0k%21en": hide it
   * there too, or the answer shows what the redaction hid. Not below 3
   * bytes (a user-info password "p" would take every 'p' with it). */
  secrets = stream_config_uri_secrets(uri);
  for (int k = 0; secrets[k]; k++)
    if (strlen(secrets[k]) < 3)
      secrets[k][0] = '\0'; /* replace_secrets skips empty entries */
  replace_secrets(out, (const char *const *)secrets);
  return g_string_free(out, FALSE);
}

gboolean
stream_config_split_userinfo(const char *uri, char **stripped, char **user,
                             char **password)
{
  UriParts p;
  g_autofree char *raw_user = NULL, *raw_pw = NULL;
  if (!uri || !uri_parts(uri, &p) || !p.has_authority)
    return FALSE;
  if (p.at > p.auth) {
    const char *colon = memchr(uri + p.auth, ':', p.at - p.auth);
    if (colon) {
      raw_user = g_strndup(uri + p.auth, (gsize)(colon - (uri + p.auth)));
      raw_pw = g_strndup(colon + 1, (gsize)(uri + p.at - colon - 1));
    } else {
      raw_user = g_strndup(uri + p.auth, p.at - p.auth);
    }
  }
  if (stripped) {
    GString *s = g_string_new_len(uri, (gssize)p.auth);
    g_string_append(s, uri + (p.at > p.auth ? p.at + 1 : p.auth));
    *stripped = g_string_free(s, FALSE);
  }
  if (user) {
    /* g_uri_unescape_string fails on "%zz" or "%00": keep the raw text then,
     * which is what a server would see anyway. */
    *user = raw_user ? g_uri_unescape_string(raw_user, NULL) : NULL;
    if (raw_user && !*user)
      *user = g_strdup(raw_user);
  }
  if (password) {
    *password = raw_pw ? g_uri_unescape_string(raw_pw, NULL) : NULL;
    if (raw_pw && !*password)
      *password = g_strdup(raw_pw);
  }
  return TRUE;
}

/* Does text[i] start a URI ("scheme://")? Returns the scheme's length. */
static gsize
scheme_at(const char *text, gsize i)
{
  gsize k = i;
  if (i > 0 && uri_scheme_char(text[i - 1], FALSE))
    return 0; /* the middle of a word */
  while (text[k] && uri_scheme_char(text[k], k == i))
    k++;
  if (k > i && strncmp(text + k, "://", 3) == 0)
    return k - i;
  return 0;
}


char *
stream_config_scrub(const char *text, const char *const *secrets)
{
  GString *out;
  gsize i = 0;
  if (!text)
    return NULL;
  out = g_string_new(NULL);
  /* 1. Every URI-looking token (up to whitespace or a quote) redacted. */
  while (text[i]) {
    gsize n = scheme_at(text, i);
    if (n) {
      gsize end = i + strcspn(text + i, " \t\r\n\"'<>");
      append_redacted(out, text + i, end - i);
      i = end;
    } else {
      g_string_append_c(out, text[i++]);
    }
  }
  /* 2. Known secrets anywhere (also percent-encoded forms, passed in by the
   * caller). */
  replace_secrets(out, secrets);
  return g_string_free(out, FALSE);
}

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
  if (!uri_parts(uri, &p))
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
  end = uri_redact_end(uri, len, &p);
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
