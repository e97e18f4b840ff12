/* streamsight — the image routes: a stream's snapshot (JPEG, encoded off
 * the HTTP thread) and POST /api/v1/classify (an uploaded image, decoded
 * and classified by the classify pool off the HTTP thread). */
#include "routes-internal.h"

#include <stdlib.h>
#include <string.h>

#include "image-decode.h"
#include "json-util.h"
#include "multipart.h"
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

void
routes_resp_upload_error(Routes *r, RouteResponse *resp, const GError *e,
                         const char *what)
{
  if (g_error_matches(e, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE)) {
    resp_error(resp, 413, "payload_too_large", "%s", e->message);
  } else if (g_error_matches(e, IMAGE_DECODE_ERROR,
                             IMAGE_DECODE_ERROR_UNSUPPORTED)) {
    resp_error(resp, 415, "unsupported_image", "%s", e->message);
  } else if (e->domain == IMAGE_DECODE_ERROR) {
    resp_error(resp, 400, "invalid_image", "%s", e->message);
  } else if (g_error_matches(e, CLASSIFY_POOL_ERROR,
                             CLASSIFY_POOL_ERROR_BUSY)) {
    limit_log_hit(r->limits, LIMIT_DECODE_MEMORY, e->message);
    resp_error(resp, 503, "unavailable", "%s", e->message);
    resp_header(resp, "Retry-After", ROUTES_RETRY_DECODE_S);
  } else {
    g_warning("http: %s: %s", what, e->message);
    resp_error(resp, 500, "internal", "%s", e->message);
  }
}

static void
work_classify(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  struct prediction top[POOL_MAX_TOP_K];
  ClassifyInfo info;
  gint64 start = g_get_monotonic_time();
  int n = classify_pool_run_roi(r->classify, w->data, w->data_len,
                                w->has_roi ? &w->roi : NULL, w->top_k, top,
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
  json_t *img = json_object();
  json_object_set_new(img, "width", json_integer(info.image_width));
  json_object_set_new(img, "height", json_integer(info.image_height));
  json_object_set_new(o, "image", img);
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
  json_t *lat = json_object();
  json_object_set_new(lat, "queue",
                      json_util_ms((double)(start - w->created_us) / 1000.0));
  json_object_set_new(lat, "decode", json_util_ms(info.decode_ms));
  json_object_set_new(lat, "infer", json_util_ms(info.infer_ms));
  json_object_set_new(o, "latency_ms", lat);
  routes_resp_json(resp, 200, o);
}

/* Does the body start like a JPEG, PNG or BMP file? */
static gboolean
looks_like_image(const guint8 *d, gsize n)
{
  return (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) ||
         (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) ||
         (n >= 2 && d[0] == 'B' && d[1] == 'M');
}

/* Raw bodies of these types (or none) are taken as the image itself. So is
 * an application/x-www-form-urlencoded body that starts like an image file:
 * `curl --data-binary @photo.jpg` sends that type unless told otherwise. */
static gboolean
raw_image_body(const char *ct, const guint8 *body, gsize len)
{
  if (!ct || !*ct)
    return TRUE;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (g_ascii_strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
    return body && looks_like_image(body, len);
  return g_ascii_strncasecmp(ct, "image/", 6) == 0 ||
         g_ascii_strncasecmp(ct, "application/octet-stream", 24) == 0;
}

gboolean
routes_upload_image(Routes *r, const RouteRequest *req, RouteResponse *resp,
                    const guint8 **out_data, gsize *out_len)
{
  if (req->body_too_large) {
    routes_resp_too_large(r, resp);
    return FALSE;
  }
  const guint8 *data = req->body;
  gsize len = req->body_len;
  if (multipart_is_form_data(req->content_type)) {
    GError *e = NULL;
    if (!multipart_first_file(req->content_type, req->body, req->body_len,
                              &data, &len, NULL, &e)) {
      resp_error(resp, 400, "invalid_argument", "%s", e->message);
      g_error_free(e);
      return FALSE;
    }
  } else if (!raw_image_body(req->content_type, req->body, req->body_len)) {
    resp_error(resp, 415, "unsupported_media_type",
               "Content-Type: send the image itself (image/jpeg, image/png, "
               "application/octet-stream) or multipart/form-data with a file "
               "part");
    return FALSE;
  }
  if (!data || len == 0) {
    resp_error(resp, 400, "invalid_image",
               "request body: empty (expected a JPEG or PNG image)");
    return FALSE;
  }
  *out_data = data;
  *out_len = len;
  return TRUE;
}

gboolean
routes_query_roi(const RouteRequest *req, RouteResponse *resp, gboolean *has,
                 StreamRoi *roi)
{
  const char *s = routes_query_get(req, "roi");
  *has = FALSE;
  if (!s)
    return TRUE;
  GError *e = NULL;
  if (!stream_roi_parse(s, "roi", roi, &e)) {
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    g_error_free(e);
    return FALSE;
  }
  *has = TRUE;
  return TRUE;
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
  gboolean has_roi;
  StreamRoi roi;
  if (!routes_query_roi(req, resp, &has_roi, &roi))
    return;
  const guint8 *data;
  gsize len;
  if (!routes_upload_image(r, req, resp, &data, &len))
    return;
  RouteWork *w = routes_work_new(r, work_classify);
  w->top_k = (int)k;
  w->data = data;
  w->data_len = len;
  w->has_roi = has_roi;
  w->roi = roi;
  resp->work = w;
}
