/* streamsight — the model routes: POST /api/v1/embed (an uploaded image's
 * pooled features). Pure handlers over routes-internal.h; the image work
 * runs off the HTTP thread like POST /api/v1/classify's.
 */
#include <string.h>

#include "json-util.h"
#include "model.h"
#include "routes-internal.h"

/* The id of the model configured with the one-model "model" key. */
#define ROUTES_DEFAULT_MODEL_ID "default"

static void
work_embed(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  ClassifyPool *cp = routes_classify_pool(r);
  int dim = classify_pool_feature_len(cp);
  float *features = g_new(float, MAX(dim, 1));
  GError *e = NULL;
  ClassifyInfo info;
  gint64 start = g_get_monotonic_time();
  int n = classify_pool_embed(cp, w->data, w->data_len,
                              w->has_roi ? &w->roi : NULL, features, dim,
                              &info, &e);
  if (n < 0) {
    routes_resp_upload_error(r, resp, e, "embed");
    g_error_free(e);
    g_free(features);
    return;
  }
  const struct ss_model *m = engine_model(routes_engine(r));
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(ROUTES_DEFAULT_MODEL_ID));
  json_object_set_new(o, "model_name",
                      json_util_string_or_null(model_name(m)));
  json_object_set_new(o, "dim", json_integer(n));
  json_t *img = json_object();
  json_object_set_new(img, "width", json_integer(info.image_width));
  json_object_set_new(img, "height", json_integer(info.image_height));
  json_object_set_new(o, "image", img);
  if (w->has_roi) {
    json_t *roi = json_object();
    json_object_set_new(roi, "x", json_real(w->roi.x));
    json_object_set_new(roi, "y", json_real(w->roi.y));
    json_object_set_new(roi, "w", json_real(w->roi.w));
    json_object_set_new(roi, "h", json_real(w->roi.h));
    json_object_set_new(o, "roi", roi);
  }
  json_t *arr = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(arr, json_real(features[i]));
  json_object_set_new(o, "features", arr);
  json_t *lat = json_object();
  json_object_set_new(lat, "queue",
                      json_util_ms((double)(start - w->created_us) / 1000.0));
  json_object_set_new(lat, "decode", json_util_ms(info.decode_ms));
  json_object_set_new(lat, "infer", json_util_ms(info.infer_ms));
  json_object_set_new(o, "latency_ms", lat);
  g_free(features);
  routes_resp_json(resp, 200, o);
}

void
routes_h_embed(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  (void)id;
  const char *model = routes_query_get(req, "model");
  if (model && strcmp(model, ROUTES_DEFAULT_MODEL_ID) != 0) {
    /* Ids are short and printable when valid; do not echo the rest. */
    route_response_error(resp, 400, "invalid_argument",
                         "model: unknown model (GET /api/v1/models lists "
                         "them)");
    return;
  }
  if (classify_pool_feature_len(routes_classify_pool(r)) <= 0) {
    route_response_error(resp, 400, "invalid_argument",
                         "model: has no pooled features to embed with");
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
  RouteWork *w = routes_work_new(r, work_embed);
  w->data = data;
  w->data_len = len;
  w->has_roi = has_roi;
  w->roi = roi;
  resp->work = w;
}
