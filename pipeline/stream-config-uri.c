/* streamsight — the credentials inside a stream's URI: its scheme, split,
 * redact, scrub.
 *
 * URIs are parsed by hand here rather than with GUri/GstUri, because the
 * redaction must also work on strings that are not valid URIs (an unencoded
 * '/' or '#' in a password makes GUri give up, yet the password must still be
 * hidden), and because GUri's own error messages quote the offending part,
 * which may be a piece of the password.
 */
#include "stream-config.h"

#include <string.h>

#include "stream-config-internal.h"

#define REDACTED "***"

static const char *const schemes[] = {
  "rtsp", "rtsps", "v4l2", "file", "http", "https", "test", NULL,
};

/* ---- URI anatomy ---- */

static gboolean
uri_scheme_char(char ch, gboolean first)
{
  return g_ascii_isalpha(ch) ||
         (!first && (g_ascii_isdigit(ch) || ch == '+' || ch == '-' ||
                     ch == '.'));
}

/* Standard split (RFC 3986 §3.2: the authority ends at the first '/', '?' or
 * '#'; the userinfo ends at its last '@'). */
gboolean
stream_config_uri_parts(const char *uri, UriParts *p)
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
  if (!uri || !stream_config_uri_parts(uri, &p))
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
gsize
stream_config_uri_redact_end(const char *uri, gsize len, const UriParts *p)
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
  if (!stream_config_uri_parts(copy, &p)) {
    g_string_append_len(out, uri, (gssize)len);
    return;
  }
  end = stream_config_uri_redact_end(copy, len, &p);
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
  if (uri && stream_config_uri_parts(uri, &p)) {
    gsize len = strlen(uri);
    gsize end = stream_config_uri_redact_end(uri, len, &p);
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
  if (!uri || !stream_config_uri_parts(uri, &p) || !p.has_authority)
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
