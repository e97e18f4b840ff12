/* streamsight — GET /api/v1/streams/{id}/snapshot.jpg: the latest frame of
 * a stream (the sink keeps it: enable-last-sample) encoded as JPEG on
 * demand with gst_video_convert_sample, optionally scaled down.
 *
 * Each encode is bounded by SNAPSHOT_TIMEOUT_MS; the last result per stream
 * is cached, so a dashboard polling a stream faster than its frames change
 * costs one encode per frame, not one per request. Encodes run on the
 * HTTP server's image-job threads (http.c), never on a streaming or
 * inference thread.
 *
 * Thread-safe: any thread may call any function.
 */
#ifndef SS_SNAPSHOT_H
#define SS_SNAPSHOT_H

#include <glib.h>
#include <gst/gst.h>

#include "registry.h"
#include "roi.h"

G_BEGIN_DECLS

#define SNAPSHOT_ERROR (snapshot_error_quark())
GQuark snapshot_error_quark(void);
typedef enum {
  SNAPSHOT_ERROR_NOT_FOUND, /* no stream with that id */
  SNAPSHOT_ERROR_NO_FRAME,  /* the stream has no frame yet */
  SNAPSHOT_ERROR_ENCODE,    /* conversion failed or timed out */
} SnapshotError;

/* Longest an encode may take before it is abandoned. */
#define SNAPSHOT_TIMEOUT_MS 2000
/* ?width= bounds. */
#define SNAPSHOT_MIN_WIDTH 16
#define SNAPSHOT_MAX_WIDTH 7680

typedef struct {
  guint64 encodes;      /* JPEGs produced */
  guint64 cache_hits;   /* answered from the cache */
  guint64 failures;     /* SNAPSHOT_ERROR_ENCODE */
  double last_encode_ms;
} SnapshotStats;

typedef struct Snapshots Snapshots;

/* registry is borrowed and must outlive the object. */
Snapshots *snapshots_new(Registry *registry);
void snapshots_free(Snapshots *s); /* NULL is allowed */

/* Encodes the latest frame of stream id; max_width: 0 keeps the frame's
 * size, else a wider frame is scaled down to that width (aspect kept,
 * even sizes). On success *jpeg is a malloc'd buffer (free()) of *len
 * bytes and *width and *height its size. */
gboolean snapshots_encode(Snapshots *s, const char *id, guint max_width,
                          guint8 **jpeg, gsize *len, int *width, int *height,
                          GError **error);

/* The same with the outline of a region of interest drawn on the picture
 * (NULL: none), e.g. the stream's roi for ?roi=1. Cached per outline. */
gboolean snapshots_encode_outlined(Snapshots *s, const char *id,
                                   guint max_width, const StreamRoi *outline,
                                   guint8 **jpeg, gsize *len, int *width,
                                   int *height, GError **error);

void snapshots_stats(Snapshots *s, SnapshotStats *out);

/* Encodes one frame (borrowed) as JPEG the same way, without a cache (alert
 * snapshots, alerts.h), with the outline of a region of interest drawn on
 * the picture (NULL: none), e.g. the stream's roi for snapshot.jpg?roi=1:
 * SNAPSHOT_ERROR_NO_FRAME when sample holds no video frame, _ENCODE
 * otherwise. On success *jpeg is malloc'd (free()). */
gboolean snapshot_encode_sample_outlined(GstSample *sample, guint max_width,
                                         const StreamRoi *outline,
                                         guint8 **jpeg, gsize *len,
                                         int *width, int *height,
                                         GError **error);

G_END_DECLS

#endif
