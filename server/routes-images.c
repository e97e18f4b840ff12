/* streamsight — the image routes: a stream's snapshot (JPEG, encoded off
 * the HTTP thread) and POST /api/v1/classify (an uploaded image, decoded
 * and classified by the classify pool off the HTTP thread). */
#include "routes-internal.h"

#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "roi.h"
#include "static-files.h"

/* POST /api/v1/classify: ?top_k= default. */
#define ROUTES_CLASSIFY_TOP_K_DEFAULT 5
/* Encode failures are logged at most this often (they are not a limit a
 * client hits, but a missing plugin would fail every request). */
#define ROUTES_ENCODE_WARN_INTERVAL_US (60 * G_USEC_PER_SEC)

/* A strong ETag of a JPEG: FNV-1a 64 of its bytes, quoted. The same
 * frame encoded at the same width gives the same bytes (the encode is
 * cached per frame), so a client polling faster than frames change gets
 * 304 without the image. */
static void
snapshot_etag(const guint8 *d, gsize n, char out[20])
{
  guint64 h = 0xcbf29ce484222325ull;
  for (gsize i = 0; i < n; i++)
    h = (h ^ d[i]) * 0x100000001b3ull;
  g_snprintf(out, 20, "\"%016" G_GINT64_MODIFIER "x\"", h);
}

static void
work_snapshot(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  guint8 *jpeg = NULL;
  gsize len = 0;
  int width = 0, height = 0;
  StreamRoi roi = STREAM_ROI_FULL;
  if (w->draw_roi) {
    StreamInfo info;
    if (registry_get(r->registry, w->id, &info, NULL)) {
      roi = info.config.roi;
      stream_info_clear(&info);
    }
  }
  if (!snapshots_encode_outlined(r->snapshots, w->id, w->max_width,
                                 w->draw_roi ? &roi : NULL, &jpeg, &len,
                                 &width, &height, &e)) {
    if (g_error_matches(e, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NOT_FOUND)) {
      routes_resp_stream_not_found(w->r, resp, w->id);
    } else if (g_error_matches(e, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NO_FRAME)) {
      resp_error(resp, 503, "unavailable", "%s", e->message);
      resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
    } else {
      gint64 now = g_get_monotonic_time();
      gint64 last = __atomic_load_n(&r->last_encode_warn_us,
                                    __ATOMIC_RELAXED);
      if (last == 0 || now - last >= ROUTES_ENCODE_WARN_INTERVAL_US) {
        __atomic_store_n(&r->last_encode_warn_us, now, __ATOMIC_RELAXED);
        g_warning("http: snapshot: %s", e->message);
      }
      resp_error(resp, 503, "unavailable", "%s", e->message);
      resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
    }
    g_error_free(e);
    return;
  }
  char etag[20];
  snapshot_etag(jpeg, len, etag);
  if (static_files_etag_match(w->if_none_match, etag)) {
    free(jpeg);
    routes_resp_empty(resp, 304);
  } else {
    routes_resp_bytes(resp, 200, "image/jpeg", jpeg, len);
  }
  resp_header(resp, "ETag", etag);
  /* Kept by the browser only to revalidate (private: a camera image). */
  resp_header(resp, "Cache-Control", "private, no-cache");
  char v[32];
  g_snprintf(v, sizeof v, "%d", width);
  resp_header(resp, "X-Image-Width", v);
  g_snprintf(v, sizeof v, "%d", height);
  resp_header(resp, "X-Image-Height", v);
}

void
routes_h_snapshot(Routes *r, const RouteRequest *req, const char *id,
           RouteResponse *resp)
{
  guint64 width = 0;
  const char *s = routes_query_get(req, "width");
  if (s && !g_ascii_string_to_unsigned(s, 10, SNAPSHOT_MIN_WIDTH,
                                       SNAPSHOT_MAX_WIDTH, &width, NULL)) {
    resp_error(resp, 400, "invalid_argument",
               "width: must be an integer %d..%d (pixels; the frame is "
               "scaled down to it)", SNAPSHOT_MIN_WIDTH, SNAPSHOT_MAX_WIDTH);
    return;
  }
  const char *roi = routes_query_get(req, "roi");
  if (roi && strcmp(roi, "0") != 0 && strcmp(roi, "1") != 0) {
    resp_error(resp, 400, "invalid_argument",
               "roi: must be 1 (draw the stream's region of interest) or 0");
    return;
  }
  if (!routes_stream_exists(r, id)) {
    routes_resp_stream_not_found(r, resp, id);
    return;
  }
  RouteWork *w = routes_work_new(r, work_snapshot);
  g_strlcpy(w->id, id, sizeof w->id);
  w->max_width = (guint)width;
  w->draw_roi = roi && strcmp(roi, "1") == 0;
  if (req->if_none_match &&
      strlen(req->if_none_match) <= ROUTES_IF_NONE_MATCH_MAX)
    g_strlcpy(w->if_none_match, req->if_none_match,
              sizeof w->if_none_match);
  resp->work = w;
}

static void
work_classify(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  struct prediction top[POOL_MAX_TOP_K];
  ClassifyInfo info;
  gint64 start = g_get_monotonic_time();
  int n = classify_pool_run_roi(r->classify, w->upload.data, w->upload.len,
                                routes_upload_roi(&w->upload), w->top_k, top,
                                &info, &e);
  if (n < 0) {
    routes_resp_upload_error(r, resp, e, "classify");
    g_error_free(e);
    return;
  }
  const struct ss_model *m = engine_model(r->engine);
  json_t *o = json_object();
  json_object_set_new(o, "model", json_util_string_or_null(model_name(m)));
  json_t *in = json_object();
  json_object_set_new(in, "width", json_integer(model_input_width(m)));
  json_object_set_new(in, "height", json_integer(model_input_height(m)));
  json_object_set_new(o, "input", in);
  json_object_set_new(o, "image", routes_upload_image_json(&info));
  json_t *classes = json_array();
  for (int i = 0; i < n; i++) {
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(top[i].index));
    json_object_set_new(c, "label",
                        json_util_string_or_null(model_label(m, top[i].index)));
    json_object_set_new(c, "score", json_real(top[i].score));
    json_array_append_new(classes, c);
  }
  json_object_set_new(o, "classes", classes);
  json_object_set_new(o, "latency_ms",
                      routes_upload_latency_json(w, start, &info));
  routes_resp_json(resp, 200, o);
}

void
routes_h_classify(Routes *r, const RouteRequest *req, const char *id,
           RouteResponse *resp)
{
  guint64 k = ROUTES_CLASSIFY_TOP_K_DEFAULT;
  const char *s = routes_query_get(req, "top_k");
  if (s && !g_ascii_string_to_unsigned(s, 10, 1, POOL_MAX_TOP_K, &k, NULL)) {
    resp_error(resp, 400, "invalid_argument", "top_k: must be an integer "
               "1..%d", POOL_MAX_TOP_K);
    return;
  }
  RouteUpload up;
  if (!routes_upload_read(r, req, resp, &up))
    return;
  RouteWork *w = routes_work_new(r, work_classify);
  w->top_k = (int)k;
  w->upload = up;
  resp->work = w;
}
