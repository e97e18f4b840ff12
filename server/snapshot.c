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
  gboolean outlined;    /* drawn with the ROI outline roi */
  StreamRoi roi;
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

/* Thickness of the ROI outline: 2 px, or 1/200 of the picture's width. */
#define OUTLINE_MIN_PX 2
#define OUTLINE_WIDTH_DIV 200

/* Draws the outline of roi on an RGB picture, inside the region's edge
 * pixels so that a region at the frame's edge keeps its whole line. */
static void
draw_outline(guint8 *px, int w, int h, gsize stride, const StreamRoi *roi)
{
  /* amber: visible on sky, grass and asphalt alike */
  static const guint8 colour[3] = { 255, 214, 0 };
  int x0, y0, rw, rh;
  stream_roi_to_pixels(roi, w, h, &x0, &y0, &rw, &rh);
  int t = MAX(OUTLINE_MIN_PX, w / OUTLINE_WIDTH_DIV);
  for (int y = y0; y < y0 + rh; y++)
    for (int x = x0; x < x0 + rw; x++) {
      if (x >= x0 + t && x < x0 + rw - t && y >= y0 + t && y < y0 + rh - t)
        continue;
      memcpy(px + (gsize)y * stride + (gsize)x * 3, colour, 3);
    }
}

/* The frame as RGB at dw x dh with the outline drawn, as a new sample. */
static GstSample *
outlined_sample(GstSample *sample, int dw, int dh, const StreamRoi *roi,
                GError **error)
{
  GstCaps *rgb = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING,
                                     "RGB", "width", G_TYPE_INT, dw, "height",
                                     G_TYPE_INT, dh, NULL);
  GstSample *out = gst_video_convert_sample(
      sample, rgb, (GstClockTime)SNAPSHOT_TIMEOUT_MS * GST_MSECOND, error);
  gst_caps_unref(rgb);
  if (!out)
    return NULL;
  GstVideoInfo vi;
  GstVideoFrame f;
  GstBuffer *buf = gst_buffer_copy_deep(gst_sample_get_buffer(out));
  if (!gst_video_info_from_caps(&vi, gst_sample_get_caps(out)) ||
      !gst_video_frame_map(&f, &vi, buf, GST_MAP_READWRITE)) {
    gst_buffer_unref(buf);
    gst_sample_unref(out);
    g_set_error(error, SNAPSHOT_ERROR, SNAPSHOT_ERROR_ENCODE,
                "cannot map the converted frame");
    return NULL;
  }
  draw_outline(GST_VIDEO_FRAME_PLANE_DATA(&f, 0), GST_VIDEO_FRAME_WIDTH(&f),
               GST_VIDEO_FRAME_HEIGHT(&f),
               (gsize)GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0), roi);
  gst_video_frame_unmap(&f);
  GstSample *drawn = gst_sample_new(buf, gst_sample_get_caps(out), NULL,
                                    NULL);
  gst_buffer_unref(buf);
  gst_sample_unref(out);
  return drawn;
}

gboolean
snapshot_encode_sample_outlined(GstSample *sample, guint max_width,
                                const StreamRoi *outline, guint8 **jpeg,
                                gsize *len, int *width, int *height,
                                GError **error)
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
  GstSample *src = outline ? outlined_sample(sample, dw, dh, outline, &e)
                           : gst_sample_ref(sample);
  GstSample *out = src ? gst_video_convert_sample(
                             src, to,
                             (GstClockTime)SNAPSHOT_TIMEOUT_MS * GST_MSECOND,
                             &e)
                       : NULL;
  if (src)
    gst_sample_unref(src);
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
  return snapshots_encode_outlined(s, id, max_width, NULL, jpeg, len, width,
                                   height, error);
}

gboolean
snapshots_encode_outlined(Snapshots *s, const char *id, guint max_width,
                          const StreamRoi *outline, guint8 **jpeg, gsize *len,
                          int *width, int *height, GError **error)
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
                   e->max_width == max_width && e->outlined == !!outline &&
                   (!outline ||
                    memcmp(&e->roi, outline, sizeof *outline) == 0) &&
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
  gboolean ok = snapshot_encode_sample_outlined(sample, max_width, outline,
                                                &ce->jpeg, &ce->len,
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
  ce->outlined = outline != NULL;
  if (outline)
    ce->roi = *outline;
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
