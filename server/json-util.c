#include "json-util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

G_DEFINE_QUARK(streamsight-json-util-error-quark, json_util_error)

json_t *
json_util_parse_object(const char *text, size_t len, const char *what,
                       GError **error)
{
  json_error_t jerr;
  json_t *v = json_loadb(text, len, JSON_UTIL_DECODE_FLAGS, &jerr);
  if (!v) {
    /* jansson reports "'[' or '{' expected near '/'" for a leading comment
     * and "... near '/'" for one further in. */
    gboolean comment = strstr(jerr.text, "near '/'") != NULL ||
                       strstr(jerr.text, "near '#'") != NULL;
    /* jansson quotes the input bytes near the error, which may be invalid
     * UTF-8 or a cut sequence; the message goes into JSON bodies and logs
     * (found by tests/fuzz/fuzz-config). */
    char *shown = g_utf8_make_valid(jerr.text, -1);
    g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_SYNTAX,
                "%s: line %d column %d: %s%s", what, jerr.line, jerr.column,
                shown, comment ? " (comments are not allowed in JSON)" : "");
    g_free(shown);
    return NULL;
  }
  if (!json_is_object(v)) {
    g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                "%s: must be a JSON object", what);
    json_decref(v);
    return NULL;
  }
  return v;
}

/* Levenshtein distance of a and b, both at most 64 bytes (longer: a large
 * number). */
static guint
edit_distance(const char *a, const char *b)
{
  gsize la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return G_MAXUINT;
  guint row[65];
  for (gsize j = 0; j <= lb; j++)
    row[j] = (guint)j;
  for (gsize i = 1; i <= la; i++) {
    guint diag = row[0];
    row[0] = (guint)i;
    for (gsize j = 1; j <= lb; j++) {
      guint up = row[j];
      guint best = MIN(up, row[j - 1]) + 1;
      row[j] = MIN(best, diag + (a[i - 1] != b[j - 1]));
      diag = up;
    }
  }
  return row[lb];
}

const char *
json_util_nearest_key(const char *key, const char *const *known)
{
  const char *best = NULL;
  guint best_d = G_MAXUINT;
  for (const char *const *k = known; *k; k++) {
    guint d = edit_distance(key, *k);
    if (d < best_d) {
      best_d = d;
      best = *k;
    }
  }
  /* A typo, not another word: at most 2 edits, and at most half the
   * key's length (so "d" does not suggest "id"). */
  gsize len = strlen(key);
  return best && best_d <= 2 && best_d * 2 <= len ? best : NULL;
}

gboolean
json_util_check_keys(json_t *obj, const char *prefix,
                     const char *const *known, GError **error)
{
  const char *key;
  json_t *value;
  json_object_foreach(obj, key, value) {
    gboolean ok = FALSE;
    for (const char *const *k = known; *k; k++) {
      if (strcmp(*k, key) == 0) {
        ok = TRUE;
        break;
      }
    }
    if (!ok) {
      /* The key comes from the user: show at most 64 bytes of it, with
       * control characters replaced. */
      char shown[65];
      gsize n = 0;
      for (const char *p = key; *p && n < sizeof shown - 1; p++)
        shown[n++] = (unsigned char)*p < 0x20 ? '?' : *p;
      /* Keys are UTF-8 (jansson checks): end on a whole character. */
      const char *valid_end = shown;
      g_utf8_validate(shown, (gssize)n, &valid_end);
      n = (gsize)(valid_end - shown);
      shown[n] = '\0';
      const char *near = json_util_nearest_key(key, known);
      g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                  "%s%s: unknown key%s%s%s", prefix, shown,
                  near ? " (did you mean " : "", near ? near : "",
                  near ? "?)" : "");
      return FALSE;
    }
  }
  return TRUE;
}

/* The value of key, NULL when absent or null. */
static json_t *
lookup(json_t *obj, const char *key, gboolean *present)
{
  json_t *v = json_object_get(obj, key);
  if (v && json_is_null(v))
    v = NULL;
  if (present)
    *present = v != NULL;
  return v;
}

static gboolean
fail(GError **error, const char *prefix, const char *key, const char *what)
{
  g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
              "%s%s: %s", prefix, key, what);
  return FALSE;
}

gboolean
json_util_get_int(json_t *obj, const char *prefix, const char *key,
                  gint64 min, gint64 max, gint64 *out, gboolean *present,
                  GError **error)
{
  json_t *v = lookup(obj, key, present);
  if (!v)
    return TRUE;
  gint64 x = json_is_integer(v) ? (gint64)json_integer_value(v) : 0;
  if (!json_is_integer(v) || x < min || x > max) {
    char what[96];
    snprintf(what, sizeof what, "must be an integer %" G_GINT64_FORMAT
             "..%" G_GINT64_FORMAT, min, max);
    if (present)
      *present = FALSE;
    return fail(error, prefix, key, what);
  }
  *out = x;
  return TRUE;
}

gboolean
json_util_get_number(json_t *obj, const char *prefix, const char *key,
                     double *out, gboolean *present, GError **error)
{
  json_t *v = lookup(obj, key, present);
  if (!v)
    return TRUE;
  if (!json_is_number(v) || !isfinite(json_number_value(v))) {
    if (present)
      *present = FALSE;
    return fail(error, prefix, key, "must be a number");
  }
  *out = json_number_value(v);
  return TRUE;
}

gboolean
json_util_get_bool(json_t *obj, const char *prefix, const char *key,
                   gboolean *out, gboolean *present, GError **error)
{
  json_t *v = lookup(obj, key, present);
  if (!v)
    return TRUE;
  if (!json_is_boolean(v)) {
    if (present)
      *present = FALSE;
    return fail(error, prefix, key, "must be true or false");
  }
  *out = json_is_true(v);
  return TRUE;
}

gboolean
json_util_get_string(json_t *obj, const char *prefix, const char *key,
                     gsize max_len, char **out, gboolean *present,
                     GError **error)
{
  json_t *v = lookup(obj, key, present);
  if (!v)
    return TRUE;
  char what[96];
  if (!json_is_string(v)) {
    snprintf(what, sizeof what, "must be a string");
    goto fail_what;
  }
  const char *s = json_string_value(v);
  gsize len = json_string_length(v);
  if (len == 0) {
    snprintf(what, sizeof what, "must not be empty");
    goto fail_what;
  }
  if (len > max_len) {
    snprintf(what, sizeof what, "must be at most %zu bytes", (size_t)max_len);
    goto fail_what;
  }
  for (gsize i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) {
      snprintf(what, sizeof what, "must not contain control characters");
      goto fail_what;
    }
  }
  g_free(*out);
  *out = g_strndup(s, len);
  return TRUE;

fail_what:
  if (present)
    *present = FALSE;
  return fail(error, prefix, key, what);
}

gboolean
json_util_get_enum(json_t *obj, const char *prefix, const char *key,
                   const char *const *choices, int *out, gboolean *present,
                   GError **error)
{
  json_t *v = lookup(obj, key, present);
  if (!v)
    return TRUE;
  if (json_is_string(v)) {
    for (int i = 0; choices[i]; i++) {
      if (strcmp(choices[i], json_string_value(v)) == 0) {
        *out = i;
        return TRUE;
      }
    }
  }
  GString *what = g_string_new("must be one of ");
  for (int i = 0; choices[i]; i++)
    g_string_append_printf(what, "%s\"%s\"", i ? ", " : "", choices[i]);
  if (present)
    *present = FALSE;
  fail(error, prefix, key, what->str);
  g_string_free(what, TRUE);
  return FALSE;
}

gboolean
json_util_get_object(json_t *obj, const char *prefix, const char *key,
                     json_t **out, GError **error)
{
  json_t *v = lookup(obj, key, NULL);
  if (v && !json_is_object(v))
    return fail(error, prefix, key, "must be an object");
  *out = v;
  return TRUE;
}

void
json_util_format_time(gint64 wall_us, char out[JSON_UTIL_TIME_LEN])
{
  time_t secs = (time_t)(wall_us / G_USEC_PER_SEC);
  int ms = (int)((wall_us % G_USEC_PER_SEC) / 1000);
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  struct tm tm;
  if (!gmtime_r(&secs, &tm)) {
    g_strlcpy(out, "1970-01-01T00:00:00.000Z", JSON_UTIL_TIME_LEN);
    return;
  }
  /* Years beyond 9999 do not occur; the wide buffer only quiets the
   * compiler's worst case. */
  char buf[96];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, ms);
  g_strlcpy(out, buf, JSON_UTIL_TIME_LEN);
}

json_t *
json_util_time_or_null(gint64 wall_us)
{
  if (wall_us <= 0)
    return json_null();
  char buf[JSON_UTIL_TIME_LEN];
  json_util_format_time(wall_us, buf);
  return json_string(buf);
}

json_t *
json_util_string_or_null(const char *s)
{
  /* json_string() refuses invalid UTF-8 (NULL): show null rather than drop
   * the key. */
  json_t *v = s ? json_string(s) : NULL;
  return v ? v : json_null();
}

json_t *
json_util_ms(double ms)
{
  if (!isfinite(ms))
    return json_null();
  return json_real(round(ms * 1000.0) / 1000.0);
}

char *
json_util_dump(const json_t *v, size_t *len)
{
  /* 7 significant digits: what a float32 score holds, and microseconds of
   * any latency under 10 s; no float noise in the output. */
  char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(7));
  if (s && len)
    *len = strlen(s);
  return s;
}
