/* streamsight — the service routes: /healthz, /readyz (public: liveness
 * and readiness for orchestrators), /api/v1/model and the OpenAPI
 * document. */
#include "routes-internal.h"

#include <stdlib.h>
#include <string.h>

#include "json-util.h"


void
routes_h_healthz(Routes *r, const RouteRequest *req, const char *id,
                 RouteResponse *resp)
{
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string("ok"));
  routes_resp_json(resp, 200, o);
}

/* Readiness for an orchestrator: the model is loaded and the API answers.
 * Cameras are not part of it: one that is down would take the replica out
 * of its Service and stall a rollout, and it would not come back sooner.
 * The body shows each stream's state (ids and states only: the route is
 * public, like /healthz). */
void
routes_h_readyz(Routes *r, const RouteRequest *req, const char *id,
                RouteResponse *resp)
{
  if (!r->engine) {
    resp_error(resp, 503, "not_ready", "not ready: the model is not loaded");
    resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
    return;
  }
  json_t *o = json_object();
  json_t *streams = json_array();
  guint running = 0;
  GPtrArray *list = registry_list(r->registry);
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *s = g_ptr_array_index(list, i);
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(s->id));
    json_object_set_new(e, "state", json_string(stream_state_name(s->state)));
    json_object_set_new(e, "enabled", json_boolean(s->config.enabled));
    json_array_append_new(streams, e);
    running += s->state == STREAM_STATE_RUNNING;
  }
  json_object_set_new(o, "status", json_string("ready"));
  json_object_set_new(o, "model", json_util_string_or_null(
                                      model_name(engine_model(r->engine))));
  json_object_set_new(o, "streams_running", json_integer(running));
  json_object_set_new(o, "streams_total", json_integer(list->len));
  json_object_set_new(o, "streams", streams);
  g_ptr_array_unref(list);
  routes_resp_json(resp, 200, o);
}

const char *
routes_model_format_name(enum model_format f)
{
  switch (f) {
  case MODEL_FORMAT_TFLITE: return "tflite";
  case MODEL_FORMAT_SAFETENSORS: return "safetensors";
  case MODEL_FORMAT_BUILT:
  default: return "built";
  }
}

void
routes_h_model(Routes *r, const RouteRequest *req, const char *id,
               RouteResponse *resp)
{
  const struct ss_model *m = engine_model(r->engine);
  enum model_arch arch = model_arch(m);
  json_t *o = json_object();
  json_object_set_new(o, "name", json_util_string_or_null(model_name(m)));
  json_object_set_new(o, "arch", json_string(model_arch_name(arch)));
  json_object_set_new(o, "version",
                      json_string(arch == MODEL_ARCH_MOBILENET_V1   ? "V1"
                                  : arch == MODEL_ARCH_MOBILENET_V2 ? "V2"
                                                                    : "unknown"));
  float alpha = model_alpha(m);
  json_object_set_new(o, "alpha", alpha > 0 ? json_real(alpha) : json_null());
  json_t *in = json_object();
  json_object_set_new(in, "width", json_integer(model_input_width(m)));
  json_object_set_new(in, "height", json_integer(model_input_height(m)));
  json_object_set_new(in, "channels", json_integer(3));
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  json_t *jm = json_array(), *js = json_array();
  for (int i = 0; i < 3; i++) {
    json_array_append_new(jm, json_real(mean[i]));
    json_array_append_new(js, json_real(std[i]));
  }
  json_object_set_new(in, "mean", jm);
  json_object_set_new(in, "std", js);
  json_object_set_new(o, "input", in);
  json_object_set_new(o, "macs", json_integer((json_int_t)model_macs(m)));
  json_object_set_new(o, "parameters",
                      json_integer((json_int_t)model_params(m)));
  json_object_set_new(o, "num_outputs", json_integer(model_num_outputs(m)));
  json_object_set_new(o, "num_classes", json_integer(model_num_classes(m)));
  json_object_set_new(o, "class_offset", json_integer(model_class_offset(m)));
  json_object_set_new(o, "labels",
                      json_integer(model_has_labels(m) ? model_num_classes(m)
                                                       : 0));
  json_object_set_new(o, "format",
                      json_string(routes_model_format_name(model_format(m))));
  json_object_set_new(o, "quantized", json_boolean(model_is_quantized(m)));
  json_object_set_new(o, "kernels", json_string(engine_isa_name(r->engine)));
  json_object_set_new(o, "engine", json_string(engine_arith_name(r->engine)));
  json_object_set_new(o, "scratch_bytes",
                      json_integer((json_int_t)engine_scratch_bytes(
                          r->engine)));
  routes_resp_json(resp, 200, o);
}

void
routes_h_openapi(Routes *r, const RouteRequest *req, const char *id,
                 RouteResponse *resp)
{
  gsize len = 0;
  const char *doc = routes_openapi_json(&len);
  guint8 *copy = malloc(len ? len : 1);
  if (!copy) {
    resp_error(resp, 500, "internal", "out of memory");
    return;
  }
  memcpy(copy, doc, len);
  routes_resp_bytes(resp, 200, "application/json", copy, len);
  resp_header(resp, "Cache-Control", "no-cache");
}
