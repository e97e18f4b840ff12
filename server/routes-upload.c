/* streamsight — an uploaded image (POST /api/v1/classify, /api/v1/embed,
 * a head's examples): reading it and its ?roi= from the request, and the
 * parts of the answer every upload route gives alike. */
#include "routes-internal.h"

#include <string.h>

#include "image-decode.h"
#include "json-util.h"
#include "multipart.h"
#include "roi.h"

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

static gboolean
upload_image(Routes *r, const RouteRequest *req, RouteResponse *resp,
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

static gboolean
query_roi(const RouteRequest *req, RouteResponse *resp, gboolean *has,
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

gboolean
routes_upload_read(Routes *r, const RouteRequest *req, RouteResponse *resp,
                   RouteUpload *up)
{
  *up = (RouteUpload){ .roi = STREAM_ROI_FULL };
  /* ?roi= first: a bad query is refused before the body is looked at. */
  return query_roi(req, resp, &up->has_roi, &up->roi) &&
         upload_image(r, req, resp, &up->data, &up->len);
}

const StreamRoi *
routes_upload_roi(const RouteUpload *up)
{
  return up->has_roi ? &up->roi : NULL;
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

json_t *
routes_upload_image_json(const ClassifyInfo *info)
{
  json_t *img = json_object();
  json_object_set_new(img, "width", json_integer(info->image_width));
  json_object_set_new(img, "height", json_integer(info->image_height));
  return img;
}

json_t *
routes_upload_latency_json(const RouteWork *w, gint64 start_us,
                           const ClassifyInfo *info)
{
  json_t *lat = json_object();
  json_object_set_new(lat, "queue", json_util_ms(
                                        (double)(start_us - w->created_us) /
                                        1000.0));
  json_object_set_new(lat, "decode", json_util_ms(info->decode_ms));
  json_object_set_new(lat, "infer", json_util_ms(info->infer_ms));
  return lat;
}
