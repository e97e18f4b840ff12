/* streamsight — alert records and their files (see alert-store.h). */
#define G_LOG_DOMAIN "streamsight"

#include "alert-store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert-rule.h"
#include "config.h"
#include "json-util.h"

#define ALERTS_INDEX_FILE "alerts.json"
#define ALERTS_INDEX_VERSION 1
/* A persisted JPEG larger than this is not ours: not loaded. */
#define ALERTS_JPEG_MAX_BYTES (4u << 20)
/* The persisted index is read up to this size (200 alerts are ~80 kB; the
 * largest history, 100000, about 40 MB). */
#define ALERTS_INDEX_MAX_BYTES (64u << 20)

AlertRecord *
alert_record_new(guint64 id, const char *stream_id, const char *cls)
{
  AlertRecord *a = g_new0(AlertRecord, 1);
  a->refs = 1;
  a->id = id;
  a->stream_id = g_strdup(stream_id);
  a->cls = g_strdup(cls);
  a->roi = STREAM_ROI_FULL;
  return a;
}

AlertRecord *
alert_record_ref(AlertRecord *a)
{
  a->refs++;
  return a;
}

void
alert_record_unref(AlertRecord *a)
{
  if (--a->refs > 0)
    return;
  g_free(a->stream_id);
  g_free(a->cls);
  if (a->best)
    gst_sample_unref(a->best);
  free(a->jpeg);
  g_free(a);
}

static void
set_time(json_t *o, const char *key, gint64 us)
{
  json_object_set_new(o, key, json_util_time_or_null(us));
}

json_t *
alert_record_to_json(const AlertRecord *a)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer((json_int_t)a->id));
  json_object_set_new(o, "stream_id", json_string(a->stream_id));
  json_object_set_new(o, "class", json_string(a->cls));
  json_object_set_new(o, "state", json_string(a->end_us ? "ended" : "active"));
  set_time(o, "start_time", a->start_us);
  set_time(o, "end_time", a->end_us);
  set_time(o, "last_seen_time", a->last_seen_us);
  gint64 end = a->end_us ? a->end_us : a->last_seen_us;
  json_object_set_new(o, "duration_s",
                      json_real(end > a->start_us
                                    ? (double)(end - a->start_us) / 1e6
                                    : 0.0));
  json_object_set_new(o, "peak_score", json_real(a->peak_score));
  set_time(o, "peak_time", a->peak_us);
  json_object_set_new(o, "min_score", json_real(a->min_score));
  json_object_set_new(o, "interrupted", json_boolean(a->interrupted));
  if (a->jpeg) {
    char *url = g_strdup_printf("/api/v1/alerts/%" G_GUINT64_FORMAT
                                "/snapshot.jpg", a->id);
    json_object_set_new(o, "snapshot", json_string(url));
    g_free(url);
  } else {
    json_object_set_new(o, "snapshot", json_null());
  }
  return o;
}


char *
alert_store_jpeg_path(const char *dir, guint64 id)
{
  char name[48];
  g_snprintf(name, sizeof name, "alert-%" G_GUINT64_FORMAT ".jpg", id);
  return g_build_filename(dir, name, NULL);
}

void
alert_store_write(const char *path, const void *data, gsize len)
{
  GError *e = NULL;
  if (!g_file_set_contents_full(path, data, (gssize)len,
                                G_FILE_SET_CONTENTS_CONSISTENT |
                                    G_FILE_SET_CONTENTS_DURABLE,
                                0600, &e)) {
    g_warning("alerts: %s", e->message);
    g_error_free(e);
  }
}

json_t *
alert_store_index_json(guint64 next_id, GQueue *history)
{
  json_t *root = json_object();
  json_object_set_new(root, "version", json_integer(ALERTS_INDEX_VERSION));
  json_object_set_new(root, "next_id", json_integer((json_int_t)next_id));
  json_t *arr = json_array();
  for (GList *l = history->head; l; l = l->next)
    json_array_append_new(arr, alert_record_to_json(l->data));
  json_object_set_new(root, "alerts", arr);
  return root;
}

void
alert_store_write_index(const char *dir, json_t *index)
{
  size_t len = 0;
  char *text = json_util_dump(index, &len);
  json_decref(index);
  if (!text)
    return;
  char *path = g_build_filename(dir, ALERTS_INDEX_FILE, NULL);
  alert_store_write(path, text, len);
  g_free(path);
  free(text);
}

static gint64
time_field(json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  if (!s || strlen(s) > 64)
    return 0;
  GDateTime *dt = g_date_time_new_from_iso8601(s, NULL);
  if (!dt)
    return 0;
  gint64 us = g_date_time_to_unix(dt) * G_USEC_PER_SEC +
              g_date_time_get_microsecond(dt);
  g_date_time_unref(dt);
  return us > 0 ? us : 0;
}

/* One persisted alert, checked field by field (the file is ours, but a
 * damaged or hand-edited one must not crash the server). */
static AlertRecord *
record_from_json(const char *dir, json_t *o)
{
  json_t *id = json_object_get(o, "id");
  const char *stream = json_string_value(json_object_get(o, "stream_id"));
  const char *cls = json_string_value(json_object_get(o, "class"));
  json_t *peak = json_object_get(o, "peak_score");
  json_t *min = json_object_get(o, "min_score");
  gint64 start = time_field(o, "start_time");
  if (!json_is_integer(id) || json_integer_value(id) < 1 || !stream ||
      !config_stream_id_is_valid(stream) || !cls || !*cls ||
      strlen(cls) > ALERT_CLASS_MAX || !g_utf8_validate(cls, -1, NULL) ||
      !json_is_number(peak) || !json_is_number(min) || !start)
    return NULL;
  AlertRecord *a = alert_record_new((guint64)json_integer_value(id), stream,
                                    cls);
  a->min_score = CLAMP(json_number_value(min), 0.0, 1.0);
  a->peak_score = CLAMP(json_number_value(peak), 0.0, 1.0);
  a->start_us = start;
  a->last_seen_us = MAX(time_field(o, "last_seen_time"), start);
  a->peak_us = time_field(o, "peak_time");
  a->end_us = time_field(o, "end_time");
  a->interrupted = json_is_true(json_object_get(o, "interrupted"));
  if (!a->end_us) {
    /* Active when the server stopped: it ended then, unseen. */
    a->end_us = a->last_seen_us;
    a->interrupted = TRUE;
  }
  a->end_us = MAX(a->end_us, a->start_us);
  char *path = alert_store_jpeg_path(dir, a->id);
  gchar *data = NULL;
  gsize len = 0;
  if (g_file_get_contents(path, &data, &len, NULL) && len > 2 &&
      len <= ALERTS_JPEG_MAX_BYTES && (guint8)data[0] == 0xff &&
      (guint8)data[1] == 0xd8) {
    a->jpeg = malloc(len);
    if (a->jpeg) {
      memcpy(a->jpeg, data, len);
      a->jpeg_len = len;
    }
  }
  g_free(data);
  g_free(path);
  return a;
}

gboolean
alert_store_load(const char *dir, guint max, GQueue *history,
                 guint64 *next_id, GArray *to_delete)
{
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    g_warning("alerts: cannot create %s: %s; alerts are not persisted", dir,
              g_strerror(errno));
    return FALSE;
  }
  char *path = g_build_filename(dir, ALERTS_INDEX_FILE, NULL);
  gchar *text = NULL;
  gsize len = 0;
  GError *e = NULL;
  if (!g_file_get_contents(path, &text, &len, &e)) {
    if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      g_warning("alerts: %s", e->message);
    g_error_free(e);
    g_free(path);
    return TRUE;
  }
  json_t *root = len <= ALERTS_INDEX_MAX_BYTES
                     ? json_util_parse_object(text, len, path, &e)
                     : NULL;
  g_free(text);
  json_t *arr = root ? json_object_get(root, "alerts") : NULL;
  json_t *next = root ? json_object_get(root, "next_id") : NULL;
  if (!json_is_array(arr) || !json_is_integer(next) ||
      json_integer_value(next) < 1) {
    char *bad = g_strdup_printf("%s.bad", path);
    if (e)
      g_warning("alerts: %s; set aside as %s, starting with no alerts",
                e->message, bad);
    else
      g_warning("alerts: %s: not an alert history; set aside as %s, "
                "starting with no alerts", path, bad);
    g_clear_error(&e);
    if (rename(path, bad) != 0)
      g_warning("alerts: cannot rename %s: %s", path, g_strerror(errno));
    g_free(bad);
    json_decref(root);
    g_free(path);
    return TRUE;
  }
  *next_id = (guint64)json_integer_value(next);
  guint skipped = 0;
  for (gsize i = 0; i < json_array_size(arr); i++) {
    AlertRecord *a = record_from_json(dir, json_array_get(arr, i));
    if (!a) {
      skipped++;
      continue;
    }
    if (a->id >= *next_id)
      *next_id = a->id + 1;
    if (g_queue_get_length(history) >= max) {
      g_array_append_val(to_delete, a->id);
      alert_record_unref(a);
      continue;
    }
    g_queue_push_tail(history, a);
  }
  if (skipped)
    g_warning("alerts: %s: %u damaged entries skipped", path, skipped);
  json_decref(root);
  g_free(path);
  return TRUE;
}

