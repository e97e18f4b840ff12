/* streamsight — small jansson helpers shared by the config file and the HTTP
 * routes: typed field readers whose errors name the key path, time
 * formatting, compact serialisation.
 *
 * All functions are pure (no globals) and may be called from any thread.
 */
#ifndef SS_JSON_UTIL_H
#define SS_JSON_UTIL_H

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

#define JSON_UTIL_ERROR (json_util_error_quark())
GQuark json_util_error_quark(void);
typedef enum {
  JSON_UTIL_ERROR_SYNTAX,  /* not JSON */
  JSON_UTIL_ERROR_INVALID, /* JSON, but a key is missing, unknown or wrong */
} JsonUtilError;

/* Flags every decoder of external input uses: duplicate keys are an error
 * (a typo must not hide behind a later key), and nothing after the value. */
#define JSON_UTIL_DECODE_FLAGS (JSON_REJECT_DUPLICATES)

/* Parses text as a JSON object (len bytes, need not be NUL-terminated).
 * what: names the source in messages ("request body", a file name). The
 * message has line and column, and a hint when the text looks like it holds
 * comments. Returns a new reference or NULL. */
json_t *json_util_parse_object(const char *text, size_t len, const char *what,
                               GError **error);

/* Fails with "<prefix><key>: unknown key" for the first key of obj not in
 * known (a NULL-terminated list), followed by " (did you mean <k>?)" when
 * a known key is a typo away. prefix is "" or ends with '.', e.g.
 * "streams[2]." */
/* The key of known (NULL-terminated) nearest to key when it is within 2
 * edits (insert, delete, replace) and at most half key's length, else
 * NULL. */
const char *json_util_nearest_key(const char *key, const char *const *known);

gboolean json_util_check_keys(json_t *obj, const char *prefix,
                              const char *const *known, GError **error);

/* Typed readers. A key that is absent or JSON null leaves *out untouched and
 * succeeds (null means "the default"); *present (if not NULL) says whether a
 * value was read. Errors read "<prefix><key>: must be ...". */
gboolean json_util_get_int(json_t *obj, const char *prefix, const char *key,
                           gint64 min, gint64 max, gint64 *out,
                           gboolean *present, GError **error);
/* Any finite JSON number (range checks left to the caller). */
gboolean json_util_get_number(json_t *obj, const char *prefix,
                              const char *key, double *out, gboolean *present,
                              GError **error);
gboolean json_util_get_bool(json_t *obj, const char *prefix, const char *key,
                            gboolean *out, gboolean *present, GError **error);
/* A string of 1..max_len bytes without control characters; *out is replaced
 * by a new copy (the old value is freed). */
gboolean json_util_get_string(json_t *obj, const char *prefix, const char *key,
                              gsize max_len, char **out, gboolean *present,
                              GError **error);
/* A string that must be one of choices (NULL-terminated); *out is its index. */
gboolean json_util_get_enum(json_t *obj, const char *prefix, const char *key,
                            const char *const *choices, int *out,
                            gboolean *present, GError **error);
/* An object (borrowed, NULL when absent or null). */
gboolean json_util_get_object(json_t *obj, const char *prefix, const char *key,
                              json_t **out, GError **error);

/* ISO-8601 UTC with milliseconds, e.g. "2026-11-27T23:30:46.123Z", from
 * microseconds since the epoch (g_get_real_time()). */
#define JSON_UTIL_TIME_LEN 32
void json_util_format_time(gint64 wall_us, char out[JSON_UTIL_TIME_LEN]);
/* New references: the time, or JSON null for wall_us <= 0; the string, or
 * null when s is NULL or not valid UTF-8; a number of milliseconds rounded to microseconds. */
json_t *json_util_time_or_null(gint64 wall_us);
json_t *json_util_string_or_null(const char *s);
json_t *json_util_ms(double ms);

/* Compact serialisation. Returns a malloc'd string (free() it, or hand it
 * to MHD with free as the free callback) and its length, or NULL. */
char *json_util_dump(const json_t *v, size_t *len);

G_END_DECLS

#endif
