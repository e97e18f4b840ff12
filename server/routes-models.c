/* streamsight — the model routes: GET /api/v1/models (the models the
 * server runs, with what each costs) and POST /api/v1/embed (an uploaded
 * image's pooled features). Pure handlers over routes-internal.h; the image
 * work runs off the HTTP thread like POST /api/v1/classify's.
 */
#include <string.h>

#include "json-util.h"
#include "model.h"
#include "roi-json.h"
#include "routes-internal.h"

/* The model of index i: its id, engine and classify pool (index 0 is the
 * default model, the only one without a model set). */
typedef struct {
  const char *id;
  const char *path; /* NULL when unknown (tests without a model set) */
  const struct ss_engine *engine;
  ClassifyPool *classify;
  double latency_ms; /* -1: not measured */
} RouteModel;

static guint
n_models(Routes *r)
{
  return r->models ? model_set_count(r->models) : 1;
}

static RouteModel
route_model(Routes *r, guint i)
{
  if (!r->models)
    return (RouteModel){ MODEL_SET_DEFAULT_ID, NULL, r->engine, r->classify,
                         -1 };
  const ModelSetEntry *e = model_set_get(r->models, i);
  return (RouteModel){ e->id, e->path, e->engine, r->model_classify[i],
                       e->latency_ms };
}

/* The index of the model with this id (NULL: the first), or -1. */
static int
find_model(Routes *r, const char *id)
{
  if (!id)
    return 0;
  for (guint i = 0; i < n_models(r); i++)
    if (strcmp(route_model(r, i).id, id) == 0)
      return (int)i;
  return -1;
}

static json_t *
model_to_json(Routes *r, guint i)
{
  RouteModel rm = route_model(r, i);
  const struct ss_model *m = engine_model(rm.engine);
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(rm.id));
  json_object_set_new(o, "default", json_boolean(i == 0));
  json_object_set_new(o, "name", json_util_string_or_null(model_name(m)));
  json_object_set_new(o, "path", json_util_string_or_null(rm.path));
  json_object_set_new(o, "arch",
                      json_string(model_arch_name(model_arch(m))));
  json_object_set_new(o, "alpha", model_alpha(m) > 0
                                      ? json_real(model_alpha(m))
                                      : json_null());
  json_t *in = json_object();
  json_object_set_new(in, "width", json_integer(model_input_width(m)));
  json_object_set_new(in, "height", json_integer(model_input_height(m)));
  json_object_set_new(o, "input", in);
  json_object_set_new(o, "macs", json_integer((json_int_t)model_macs(m)));
  json_object_set_new(o, "params", json_integer((json_int_t)model_params(m)));
  json_object_set_new(o, "classes", json_integer(model_num_classes(m)));
  json_object_set_new(o, "labels", json_boolean(model_has_labels(m)));
  json_object_set_new(o, "feature_dim",
                      json_integer(engine_feature_len(rm.engine)));
  json_object_set_new(o, "quantized", json_boolean(model_is_quantized(m)));
  json_object_set_new(o, "engine", json_string(engine_arith_name(rm.engine)));
  json_object_set_new(o, "kernels", json_string(engine_isa_name(rm.engine)));
  json_object_set_new(o, "latency_ms", rm.latency_ms >= 0
                                           ? json_util_ms(rm.latency_ms)
                                           : json_null());
  return o;
}

void
routes_h_models(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  (void)req;
  (void)id;
  json_t *arr = json_array();
  for (guint i = 0; i < n_models(r); i++)
    json_array_append_new(arr, model_to_json(r, i));
  json_t *o = json_object();
  json_object_set_new(o, "count", json_integer(n_models(r)));
  json_object_set_new(o, "models", arr);
  routes_resp_json(resp, 200, o);
}

static void
work_embed(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  RouteModel rm = route_model(r, w->model_index);
  int dim = classify_pool_feature_len(rm.classify);
  float *features = g_new(float, MAX(dim, 1));
  GError *e = NULL;
  ClassifyInfo info;
  gint64 start = g_get_monotonic_time();
  int n = classify_pool_embed(rm.classify, w->upload.data, w->upload.len,
                              routes_upload_roi(&w->upload), features, dim,
                              &info, &e);
  if (n < 0) {
    routes_resp_upload_error(r, resp, e, "embed");
    g_error_free(e);
    g_free(features);
    return;
  }
  const struct ss_model *m = engine_model(rm.engine);
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(rm.id));
  json_object_set_new(o, "model_name",
                      json_util_string_or_null(model_name(m)));
  json_object_set_new(o, "dim", json_integer(n));
  json_object_set_new(o, "image", routes_upload_image_json(&info));
  if (w->upload.has_roi)
    json_object_set_new(o, "roi", roi_json_new(&w->upload.roi));
  json_t *arr = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(arr, json_real(features[i]));
  json_object_set_new(o, "features", arr);
  json_object_set_new(o, "latency_ms",
                      routes_upload_latency_json(w, start, &info));
  g_free(features);
  routes_resp_json(resp, 200, o);
}

void
routes_h_embed(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  (void)id;
  int mi = find_model(r, routes_query_get(req, "model"));
  if (mi < 0) {
    /* The id is not echoed: the list of valid ones says enough. */
    char *ids = r->models ? model_set_ids(r->models)
                          : g_strdup(MODEL_SET_DEFAULT_ID);
    route_response_error(resp, 400, "invalid_argument",
                         "model: unknown model (the models are: %s; GET "
                         "/api/v1/models lists them)", ids);
    g_free(ids);
    return;
  }
  if (engine_feature_len(route_model(r, (guint)mi).engine) <= 0) {
    route_response_error(resp, 400, "invalid_argument",
                         "model: has no pooled features to embed with");
    return;
  }
  RouteUpload up;
  if (!routes_upload_read(r, req, resp, &up))
    return;
  RouteWork *w = routes_work_new(r, work_embed);
  w->model_index = (guint)mi;
  w->upload = up;
  resp->work = w;
}
