#include "snapshot.h"

#include <gst/video/video.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(ss-snapshot-error-quark, snapshot_error)

/* The cached JPEG of one stream: valid while the stream's last sample is
 * the same frame (same buffer and PTS) and the same width is asked for. */
typedef struct {
  gconstpointer buffer; /* identity only, never dereferenced */
  GstClockTime pts;
  guint max_width;
  guint8 *jpeg;         /* malloc'd */
  gsize len;
  int width, height;
} CacheEntry;

struct Snapshots {
  Registry *registry; /* borrowed */
  GMutex lock;        /* protects cache and stats */
  GHashTable *cache;  /* id (owned) -> CacheEntry* */
  SnapshotStats stats;
};

static void
cache_entry_free(gpointer p)
{
  CacheEntry *e = p;
  free(e->jpeg);
  g_free(e);
}

Snapshots *
snapshots_new(Registry *registry)
{
  Snapshots *s = g_new0(Snapshots, 1);
  s->registry = registry;
  g_mutex_init(&s->lock);
  s->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                   cache_entry_free);
  return s;
}

void
snapshots_free(Snapshots *s)
{
  if (!s)
    return;
  g_hash_table_unref(s->cache);
  g_mutex_clear(&s->lock);
  g_free(s);
}

void
snapshots_stats(Snapshots *s, SnapshotStats *out)
{
  g_mutex_lock(&s->lock);
  *out = s->stats;
  g_mutex_unlock(&s->lock);
}

/* Drops cached frames of streams that no longer exist (stream ids are not
 * reused often, but a long-running server adds and removes many). */
static void
prune(Snapshots *s)
{
  g_mutex_lock(&s->lock);
  guint n = g_hash_table_size(s->cache);
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, s->cache);
  while (g_hash_table_iter_next(&it, &key, NULL))
    g_ptr_array_add(ids, g_strdup(key));
  g_mutex_unlock(&s->lock);
  if (n <= registry_count(s->registry)) {
    g_ptr_array_unref(ids);
    return;
  }
  for (guint i = 0; i < ids->len; i++) {
    const char *id = g_ptr_array_index(ids, i);
    StreamResults *res = registry_results(s->registry, id);
    if (res) {
      stream_results_unref(res);
      continue;
    }
    g_mutex_lock(&s->lock);
    g_hash_table_remove(s->cache, id);
    g_mutex_unlock(&s->lock);
  }
  g_ptr_array_unref(ids);
}

static gboolean
copy_out(const CacheEntry *e, guint8 **jpeg, gsize *len, int *width,
         int *height)
{
  guint8 *copy = malloc(e->len);
  if (!copy)
    return FALSE;
  memcpy(copy, e->jpeg, e->len);
  *jpeg = copy;
  *len = e->len;
  *width = e->width;
  *height = e->height;
  return TRUE;
}

gboolean
snapshot_encode_sample(GstSample *sample, guint max_width, guint8 **jpeg,
                       gsize *len, int *width, int *height, GError **error)
{
  GstCaps *caps = gst_sample_get_caps(sample);
  GstVideoInfo vi;
  if (!gst_sample_get_buffer(sample) || !caps ||
      !gst_video_info_from_caps(&vi, caps) || GST_VIDEO_INFO_WIDTH(&vi) < 1 ||
      GST_VIDEO_INFO_HEIGHT(&vi) < 1) {
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NO_FRAME,
                "no video frame to encode");
    return FALSE;
  }
  int sw = GST_VIDEO_INFO_WIDTH(&vi), sh = GST_VIDEO_INFO_HEIGHT(&vi);
  int dw = sw, dh = sh;
  if (max_width > 0 && (guint)sw > max_width) {
    dw = (int)(max_width & ~1u);
    dh = (int)((gint64)sh * dw / sw) & ~1;
    if (dh < 2)
      dh = 2;
  }
  GstCaps *to = gst_caps_new_simple("image/jpeg", "width", G_TYPE_INT, dw,
                                    "height", G_TYPE_INT, dh, NULL);
  GError *e = NULL;
  GstSample *out = gst_video_convert_sample(
      sample, to, (GstClockTime)SNAPSHOT_TIMEOUT_MS * GST_MSECOND, &e);
  gst_caps_unref(to);
  GstBuffer *obuf = out ? gst_sample_get_buffer(out) : NULL;
  GstMapInfo map;
  if (!obuf || !gst_buffer_map(obuf, &map, GST_MAP_READ)) {
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_ENCODE,
                "encoding as JPEG failed: %s", e ? e->message : "no output");
    g_clear_error(&e);
    if (out)
      gst_sample_unref(out);
    return FALSE;
  }
  guint8 *copy = malloc(map.size ? map.size : 1);
  if (copy)
    memcpy(copy, map.data, map.size);
  gsize n = map.size;
  gst_buffer_unmap(obuf, &map);
  gst_sample_unref(out);
  if (!copy) {
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_ENCODE,
                "out of memory for the JPEG");
    return FALSE;
  }
  *jpeg = copy;
  *len = n;
  *width = dw;
  *height = dh;
  return TRUE;
}

gboolean
snapshots_encode(Snapshots *s, const char *id, guint max_width,
                 guint8 **jpeg, gsize *len, int *width, int *height,
                 GError **error)
{
  StreamResults *res = registry_results(s->registry, id);
  if (!res) {
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NOT_FOUND,
                "no stream with id '%s'", id);
    return FALSE;
  }
  stream_results_unref(res);
  GstSample *sample = registry_last_sample(s->registry, id);
  GstBuffer *buf = sample ? gst_sample_get_buffer(sample) : NULL;
  GstCaps *caps = sample ? gst_sample_get_caps(sample) : NULL;
  GstVideoInfo vi;
  if (!buf || !caps || !gst_video_info_from_caps(&vi, caps) ||
      GST_VIDEO_INFO_WIDTH(&vi) < 1 || GST_VIDEO_INFO_HEIGHT(&vi) < 1) {
    if (sample)
      gst_sample_unref(sample);
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NO_FRAME,
                "stream '%s' has no frame yet (starting, stopped or "
                "reconnecting); retry shortly", id);
    return FALSE;
  }

  GstClockTime pts = GST_BUFFER_PTS(buf);
  gboolean cacheable = GST_CLOCK_TIME_IS_VALID(pts);
  if (cacheable) {
    g_mutex_lock(&s->lock);
    CacheEntry *e = g_hash_table_lookup(s->cache, id);
    gboolean hit = e && e->buffer == (gconstpointer)buf && e->pts == pts &&
                   e->max_width == max_width &&
                   copy_out(e, jpeg, len, width, height);
    if (hit)
      s->stats.cache_hits++;
    g_mutex_unlock(&s->lock);
    if (hit) {
      gst_sample_unref(sample);
      return TRUE;
    }
  }

  GError *e = NULL;
  gint64 t0 = g_get_monotonic_time();
  CacheEntry *ce = g_new0(CacheEntry, 1);
  gboolean ok = snapshot_encode_sample(sample, max_width, &ce->jpeg, &ce->len,
                                       &ce->width, &ce->height, &e);
  double ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
  gst_sample_unref(sample);
  if (!ok) {
    g_free(ce);
    g_mutex_lock(&s->lock);
    s->stats.failures++;
    g_mutex_unlock(&s->lock);
    g_set_error(error, SNAPSHOT_ERROR, e->code,
                "the frame of stream '%s': %s", id, e->message);
    g_error_free(e);
    return FALSE;
  }
  ce->buffer = buf;
  ce->pts = pts;
  ce->max_width = max_width;
  ok = copy_out(ce, jpeg, len, width, height);
  g_mutex_lock(&s->lock);
  s->stats.encodes++;
  s->stats.last_encode_ms = ms;
  if (ok && cacheable)
    g_hash_table_replace(s->cache, g_strdup(id), ce);
  else
    cache_entry_free(ce);
  g_mutex_unlock(&s->lock);
  if (!ok) {
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_ENCODE,
                "out of memory for the JPEG of stream '%s'", id);
    return FALSE;
  }
  prune(s);
  return TRUE;
}
