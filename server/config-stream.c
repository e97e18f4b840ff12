/* streamsight — a stream in JSON, as the config file and the API's bodies
 * and answers have it (config.h: config_stream_from_json,
 * config_stream_options_to_json): one table of the options, read and
 * written in its order. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "alert-config.h"
#include "json-util.h"
#include "model-set.h"
#include "roi-json.h"

/* The options' limits (STREAM_*_MAX) and names are stream-config.h's: the
 * stream's own validation checks the same numbers again. */

static gboolean
id_is_valid(const char *id)
{
  gsize n = strlen(id);
  if (n == 0 || n > STREAM_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    char ch = id[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-'))
      return FALSE;
  }
  return TRUE;
}

gboolean
config_stream_id_is_valid(const char *id)
{
  return id_is_valid(id);
}

/* The stream options a config entry or an API body may set beyond id, name
 * and uri, read in this order into a StreamConfig: one row a key, its C type,
 * where it lives and its bounds (integers), longest length (strings) or
 * names (enums). Ranges that are not bounds here, and the semantic checks,
 * are stream_config_validate()'s. */
typedef enum {
  OPT_STRING,   /* char *, at most .max bytes */
  OPT_MODEL_ID, /* char *, a model id (id_is_valid) */
  OPT_ENUM,     /* an enum (int-sized) over .names */
  OPT_NUMBER,   /* double */
  OPT_INT,      /* int in .min .. .max */
  OPT_UINT,     /* guint in .min .. .max */
  OPT_BOOL,     /* gboolean */
  OPT_ROI,      /* StreamRoi (roi-json.h) */
  OPT_ALERTS,   /* AlertRule *, with n_alerts beside it (alert-config.h) */
} OptionType;

typedef struct {
  const char *key;
  OptionType type;
  size_t offset;
  gint64 min, max;
  const char *const *names;
} StreamOption;

#define OPT(key, type, field, min, max, names)                                 \
  { key, type, offsetof(StreamConfig, field), min, max, names }

/* Every option a stream has beside id, name and uri: read in this order,
 * and written in it (config_stream_options_to_json: the API's answers and
 * the config file's write-back). */
static const StreamOption stream_options[] = {
  OPT("device", OPT_STRING, device, 0, STREAM_DEVICE_MAX, NULL),
  OPT("pattern", OPT_STRING, pattern, 0, STREAM_PATTERN_MAX, NULL),
  OPT("model", OPT_MODEL_ID, model, 0, MODEL_SET_ID_MAX, NULL),
  OPT("transport", OPT_ENUM, transport, 0, 0, stream_transport_names),
  OPT("decode", OPT_ENUM, decode, 0, 0, stream_decode_names),
  OPT("resize_mode", OPT_ENUM, resize_mode, 0, 0, stream_resize_mode_names),
  OPT("max_fps", OPT_NUMBER, max_fps, 0, 0, NULL),
  OPT("top_k", OPT_INT, top_k, 1, POOL_MAX_TOP_K, NULL),
  OPT("enabled", OPT_BOOL, enabled, 0, 0, NULL),
  OPT("realtime", OPT_BOOL, realtime, 0, 0, NULL),
  OPT("history_len", OPT_UINT, history_len, 1, STREAM_HISTORY_LEN_MAX, NULL),
  OPT("stall_timeout_s", OPT_NUMBER, stall_timeout_s, 0, 0, NULL),
  OPT("backoff_initial_s", OPT_NUMBER, backoff_initial_s, 0, 0, NULL),
  OPT("backoff_max_s", OPT_NUMBER, backoff_max_s, 0, 0, NULL),
  OPT("rtsp_latency_ms", OPT_UINT, rtsp_latency_ms, 0,
      STREAM_RTSP_LATENCY_MAX_MS, NULL),
  OPT("roi", OPT_ROI, roi, 0, 0, NULL),
  OPT("head", OPT_STRING, head, 0, STREAM_HEAD_ID_MAX, NULL),
  OPT("labels", OPT_ENUM, labels, 0, 0, stream_labels_names),
  OPT("alerts", OPT_ALERTS, alerts, 0, 0, NULL),
};

#undef OPT

/* The enum fields are written through an int. */
G_STATIC_ASSERT(sizeof(StreamTransport) == sizeof(int));
G_STATIC_ASSERT(sizeof(StreamDecode) == sizeof(int));
G_STATIC_ASSERT(sizeof(StreamLabels) == sizeof(int));

/* The keys of a stream object: "id", "name", "uri" (with_ids) and then the
 * options', NULL-terminated, in keys (room for 3 + the options + 1). */
#define STREAM_KEYS_ROOM (3 + G_N_ELEMENTS(stream_options) + 1)
static const char *const *
stream_keys_fill(const char *keys[STREAM_KEYS_ROOM], gboolean with_ids)
{
  size_t n = 0;
  if (with_ids) {
    keys[n++] = "id";
    keys[n++] = "name";
    keys[n++] = "uri";
  }
  for (size_t i = 0; i < G_N_ELEMENTS(stream_options); i++)
    keys[n++] = stream_options[i].key;
  keys[n] = NULL;
  return keys;
}

/* Reads the stream_options present in obj into c (absent ones keep c's
 * values); the first bad one is the error. */
static gboolean
options_from_json(json_t *obj, const char *prefix, StreamConfig *c,
                  GError **error)
{
  for (size_t i = 0; i < G_N_ELEMENTS(stream_options); i++) {
    const StreamOption *o = &stream_options[i];
    void *field = (char *)c + o->offset;
    gboolean present;
    gint64 v;
    switch (o->type) {
    case OPT_STRING:
      if (!json_util_get_string(obj, prefix, o->key, (gsize)o->max, field,
                                NULL, error))
        return FALSE;
      break;
    case OPT_MODEL_ID:
      if (!json_util_get_string(obj, prefix, o->key, (gsize)o->max, field,
                                &present, error))
        return FALSE;
      if (present && !id_is_valid(*(char **)field))
        return config_invalid(
            error,
            "%s%s: expected a model id (1..%d of a-z, 0-9, '_' "
            "or '-'; GET /api/v1/models lists them)",
            prefix, o->key, (int)o->max);
      break;
    case OPT_ENUM:
      if (!json_util_get_enum(obj, prefix, o->key, o->names, field, NULL,
                              error))
        return FALSE;
      break;
    case OPT_NUMBER:
      if (!json_util_get_number(obj, prefix, o->key, field, NULL, error))
        return FALSE;
      break;
    case OPT_INT:
      v = *(int *)field;
      if (!json_util_get_int(obj, prefix, o->key, o->min, o->max, &v, NULL,
                             error))
        return FALSE;
      *(int *)field = (int)v;
      break;
    case OPT_UINT:
      v = *(guint *)field;
      if (!json_util_get_int(obj, prefix, o->key, o->min, o->max, &v, NULL,
                             error))
        return FALSE;
      *(guint *)field = (guint)v;
      break;
    case OPT_BOOL:
      if (!json_util_get_bool(obj, prefix, o->key, field, NULL, error))
        return FALSE;
      break;
    case OPT_ROI:
      if (!roi_json_parse(json_object_get(obj, o->key), prefix, field, error))
        return FALSE;
      break;
    case OPT_ALERTS:
      if (!alert_config_from_json(json_object_get(obj, o->key), prefix,
                                  field, &c->n_alerts, error))
        return FALSE;
      break;
    }
  }
  return TRUE;
}

/* Option o of c in JSON (new reference), or NULL when only_changed and it
 * has d's (the default) value. */
static json_t *
option_to_json(const StreamOption *o, const StreamConfig *c,
               const StreamConfig *d, gboolean only_changed)
{
  const void *field = (const char *)c + o->offset;
  const void *dflt = (const char *)d + o->offset;
  gboolean changed = TRUE;
  json_t *v = NULL;
  switch (o->type) {
  case OPT_STRING:
  case OPT_MODEL_ID:
    changed = g_strcmp0(*(char *const *)field, *(char *const *)dflt) != 0;
    v = json_util_string_or_null(*(char *const *)field);
    break;
  case OPT_ENUM: {
    int e = *(const int *)field;
    changed = e != *(const int *)dflt;
    /* Out of range is not expected (validated); the first name then. */
    guint n = g_strv_length((char **)o->names);
    v = json_string(o->names[e >= 0 && (guint)e < n ? e : 0]);
    break;
  }
  case OPT_NUMBER:
    changed = *(const double *)field != *(const double *)dflt;
    v = json_real(*(const double *)field);
    break;
  case OPT_INT:
    changed = *(const int *)field != *(const int *)dflt;
    v = json_integer(*(const int *)field);
    break;
  case OPT_UINT:
    changed = *(const guint *)field != *(const guint *)dflt;
    v = json_integer(*(const guint *)field);
    break;
  case OPT_BOOL:
    changed = !*(const gboolean *)field != !*(const gboolean *)dflt;
    v = json_boolean(*(const gboolean *)field);
    break;
  case OPT_ROI:
    changed = !stream_roi_is_full(field);
    v = roi_json_new(field);
    break;
  case OPT_ALERTS:
    changed = c->n_alerts != 0;
    v = alert_config_to_json(c->alerts, c->n_alerts);
    break;
  }
  if (only_changed && !changed) {
    json_decref(v);
    return NULL;
  }
  return v;
}

static gboolean
stream_from_flat_json(json_t *obj, const char *prefix, gboolean allow_id,
                      char **out_id, StreamConfig *out, GError **error)
{
  GError *e = NULL;
  StreamConfig c;
  char *id = NULL;
  gboolean present;

  if (!json_is_object(obj)) {
    gsize n = strlen(prefix);
    /* "streams[2]." -> "streams[2]: must be an object" */
    return config_invalid(error, "%.*s: must be an object",
                          (int)(n && prefix[n - 1] == '.' ? n - 1 : n), prefix);
  }
  const char *keys[STREAM_KEYS_ROOM];
  if (!json_util_check_keys(obj, prefix, stream_keys_fill(keys, TRUE), &e))
    return config_relabel(error, e);

  stream_config_init(&c);
  if (json_object_get(obj, "id") && !allow_id) {
    config_invalid(error, "%sid: ids are chosen by the server here", prefix);
    goto fail;
  }
  if (!json_util_get_string(obj, prefix, "id", STREAM_ID_MAX, &id, &present,
                            &e))
    goto fail_e;
  if (present && !id_is_valid(id)) {
    config_invalid(error,
                   "%sid: must be 1..%d characters of a-z, 0-9, '_' or '-'",
                   prefix, STREAM_ID_MAX);
    goto fail;
  }
  if (!json_util_get_string(obj, prefix, "name", STREAM_NAME_MAX, &c.name,
                            &present, &e))
    goto fail_e;
  if (!present) {
    config_invalid(error, "%sname: required", prefix);
    goto fail;
  }
  if (!json_util_get_string(obj, prefix, "uri", STREAM_URI_MAX, &c.uri,
                            &present, &e))
    goto fail_e;
  if (!present) {
    config_invalid(error, "%suri: required", prefix);
    goto fail;
  }
  if (!options_from_json(obj, prefix, &c, &e))
    goto fail_e;

  /* Ranges and the semantic checks (URI scheme and syntax, device,
   * pattern) belong to the pipeline side; its messages are
   * "<field>: <problem>" and never quote the URI. */
  if (!stream_config_validate(&c, &e)) {
    config_invalid(error, "%s%s", prefix, e->message);
    g_clear_error(&e);
    goto fail;
  }
  *out = c;
  if (out_id)
    *out_id = id;
  else
    g_free(id);
  return TRUE;

fail_e:
  config_relabel(error, e);
fail:
  g_free(id);
  stream_config_clear(&c);
  return FALSE;
}

/* The options may be nested, {"name", "uri", "options": {...}} (the API's
 * documented shape), or sit beside name and uri (the config file's shape):
 * a nested object is flattened into a copy first. */
gboolean
config_stream_from_json(json_t *obj, const char *prefix, gboolean allow_id,
                        char **out_id, StreamConfig *out, GError **error)
{
  json_t *opts = json_is_object(obj) ? json_object_get(obj, "options") : NULL;
  if (!opts)
    return stream_from_flat_json(obj, prefix, allow_id, out_id, out, error);
  /* null is "the defaults", as for every other key. */
  if (!json_is_object(opts) && !json_is_null(opts))
    return config_invalid(error, "%soptions: must be an object", prefix);

  GError *e = NULL;
  gboolean ok;
  if (json_is_object(opts)) {
    char *opts_prefix = g_strdup_printf("%soptions.", prefix);
    const char *keys[STREAM_KEYS_ROOM];
    ok = json_util_check_keys(opts, opts_prefix, stream_keys_fill(keys, FALSE),
                              &e);
    g_free(opts_prefix);
    if (!ok)
      return config_relabel(error, e);
  }
  json_t *flat = json_copy(obj);
  json_object_del(flat, "options");
  const char *key;
  json_t *value;
  json_object_foreach(opts, key, value) {
    if (json_object_get(flat, key)) {
      json_decref(flat);
      return config_invalid(error, "%soptions.%s: also given outside options",
                            prefix, key);
    }
    json_object_set(flat, key, value);
  }
  ok = stream_from_flat_json(flat, prefix, allow_id, out_id, out, error);
  json_decref(flat);
  return ok;
}

void
config_stream_options_to_json(json_t *obj, const StreamConfig *c,
                              gboolean only_changed)
{
  StreamConfig d;
  stream_config_init(&d);
  for (size_t i = 0; i < G_N_ELEMENTS(stream_options); i++) {
    json_t *v = option_to_json(&stream_options[i], c, &d, only_changed);
    if (v)
      json_object_set_new(obj, stream_options[i].key, v);
  }
  stream_config_clear(&d);
}
