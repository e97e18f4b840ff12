/* streamsight — the head routes (issue 12 part 4): custom classifiers
 * taught from examples.
 *
 *   POST   /api/v1/heads                      {id, model?, classes} -> 201
 *   GET    /api/v1/heads                      {"heads": [...]}
 *   GET    /api/v1/heads/{id}
 *   DELETE /api/v1/heads/{id}                 -> 204
 *   POST   /api/v1/heads/{id}/examples        {class, stream}: the stream's
 *                                             current frame, its ROI
 *                                             applied; or an uploaded image
 *                                             (raw, or multipart with a
 *                                             class field) with ?class=
 *                                             (and ?roi=) -> 201
 *   GET    /api/v1/heads/{id}/examples        {"examples": [...]}
 *   GET    /api/v1/heads/{id}/examples/{n}.jpg
 *   DELETE /api/v1/heads/{id}/examples/{n}    -> 204
 *   POST   /api/v1/heads/{id}/train           cross-validated report
 *
 * Each example is kept as a JPEG of the region the model saw plus its
 * features computed from that JPEG (so retraining from the kept JPEGs gives
 * the same features). Everything slow (snapshot, decode, crop, encode,
 * inference, training) runs as RouteWork off the HTTP threads; training a
 * few hundred examples takes tens of milliseconds, cross-validation five
 * times that, so the request simply waits for it.
 */
#include <string.h>

#include "head-store.h"
#include "image-encode.h"
#include "json-util.h"
#include "multipart.h"
#include "routes-internal.h"

/* A model a head can be taught on: its engine and its classify pool. */
typedef struct {
  const char *id;
  const struct ss_engine *engine;
  ClassifyPool *classify;
} HeadModel;

static void
resp_store_error(RouteResponse *resp, const GError *e)
{
  if (e->domain != HEAD_STORE_ERROR) {
    resp_error(resp, 500, "internal", "%s", e->message);
    return;
  }
  switch ((HeadStoreError)e->code) {
  case HEAD_STORE_ERROR_INVALID:
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    break;
  case HEAD_STORE_ERROR_NOT_FOUND:
    resp_error(resp, 404, "not_found", "%s", e->message);
    break;
  case HEAD_STORE_ERROR_EXISTS:
  case HEAD_STORE_ERROR_BUSY:
    resp_error(resp, 409, "conflict", "%s", e->message);
    break;
  case HEAD_STORE_ERROR_LIMIT:
    resp_error(resp, 409, "limit_reached", "%s", e->message);
    break;
  default:
    g_warning("heads: %s", e->message);
    resp_error(resp, 500, "internal", "%s", e->message);
  }
}

/* The model with this id (NULL: the first, the default) from the
 * server's model set (model-set.h), with its own classify pool, so that
 * features come from that model; FALSE when unknown. Without a set the one
 * model is "default". */
static gboolean
find_head_model(Routes *r, const char *model_id, HeadModel *out)
{
  if (!r->models) {
    if (model_id && strcmp(model_id, MODEL_SET_DEFAULT_ID) != 0)
      return FALSE;
    *out = (HeadModel){ MODEL_SET_DEFAULT_ID, r->engine, r->classify };
    return TRUE;
  }
  for (guint i = 0; i < model_set_count(r->models); i++) {
    const ModelSetEntry *e = model_set_get(r->models, i);
    if (!model_id || strcmp(e->id, model_id) == 0) {
      *out = (HeadModel){ e->id, e->engine, r->model_classify[i] };
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
heads_available(Routes *r, RouteResponse *resp)
{
  if (!r->heads) {
    resp_error(resp, 503, "unavailable", "heads are not enabled");
    return FALSE;
  }
  return TRUE;
}

/* The head id and example id of /api/v1/heads/{id}/examples/{n}[.jpg]:
 * the router passes only the last '*' segment. */
static gboolean
example_path_ids(const char *path, char head[ROUTES_ID_MAX + 1],
                 char eid[ROUTES_ID_MAX + 1])
{
  static const char prefix[] = "/api/v1/heads/";
  if (!g_str_has_prefix(path, prefix))
    return FALSE;
  const char *h = path + sizeof prefix - 1;
  const char *slash = strchr(h, '/');
  if (!slash || (gsize)(slash - h) > ROUTES_ID_MAX)
    return FALSE;
  memcpy(head, h, (gsize)(slash - h));
  head[slash - h] = '\0';
  static const char mid[] = "/examples/";
  if (!g_str_has_prefix(slash, mid))
    return FALSE;
  const char *e = slash + sizeof mid - 1;
  if (strlen(e) > ROUTES_ID_MAX || strchr(e, '/'))
    return FALSE;
  strcpy(eid, e);
  return TRUE;
}

/* ---- heads ---- */

void
routes_h_heads_list(Routes *r, const RouteRequest *req, const char *id,
                    RouteResponse *resp)
{
  (void)req;
  (void)id;
  if (!heads_available(r, resp))
    return;
  json_t *o = json_object();
  json_object_set_new(o, "heads", head_store_list_json(r->heads));
  routes_resp_json(resp, 200, o);
}

void
routes_h_heads_create(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp)
{
  (void)id;
  if (!heads_available(r, resp))
    return;
  json_t *body = routes_body_object(r, req, resp, "id, model and classes");
  if (!body)
    return;
  GError *e = NULL;
  if (!json_util_check_keys(body, "", (const char *[]){ "id", "model",
                                                         "classes", NULL },
                            &e)) {
    resp_error(resp, 400, "invalid_argument", "%s", e->message);
    g_error_free(e);
    json_decref(body);
    return;
  }
  const char *hid = json_string_value(json_object_get(body, "id"));
  json_t *jm = json_object_get(body, "model");
  /* Default (NULL): the server's first model, as for streams and uploads. */
  const char *model = json_string_value(jm);
  json_t *jc = json_object_get(body, "classes");
  HeadModel hm = { 0 };
  if (!hid) {
    resp_error(resp, 400, "invalid_argument", "id: a string is required");
  } else if (jm && !model) {
    resp_error(resp, 400, "invalid_argument", "model: must be a string");
  } else if (!find_head_model(r, model, &hm)) {
    resp_error(resp, 400, "invalid_argument",
               "model: unknown model (GET /api/v1/models lists them)");
  } else if (engine_feature_len(hm.engine) <= 0) {
    resp_error(resp, 400, "invalid_argument",
               "model: has no pooled features to teach a head on");
  } else if (!json_is_array(jc) || json_array_size(jc) > HEAD_MAX_CLASSES) {
    resp_error(resp, 400, "invalid_argument",
               "classes: an array of 2 to %d class names", HEAD_MAX_CLASSES);
  } else {
    const char *names[HEAD_MAX_CLASSES];
    guint n = (guint)json_array_size(jc);
    gboolean strings = TRUE;
    for (guint i = 0; i < n; i++)
      strings &= (names[i] = json_string_value(json_array_get(jc, i))) != NULL;
    if (!strings) {
      resp_error(resp, 400, "invalid_argument",
                 "classes: every class is a string");
    } else if (!head_store_create(r->heads, hid, hm.id, names, n, &e)) {
      resp_store_error(resp, e);
      g_error_free(e);
    } else {
      char *loc = g_strdup_printf("/api/v1/heads/%s", hid);
      resp_header(resp, "Location", loc);
      g_free(loc);
      routes_resp_json(resp, 201, head_store_head_json(r->heads, hid, NULL));
    }
  }
  json_decref(body);
}

void
routes_h_head_get(Routes *r, const RouteRequest *req, const char *id,
                  RouteResponse *resp)
{
  (void)req;
  if (!heads_available(r, resp))
    return;
  GError *e = NULL;
  json_t *o = head_store_head_json(r->heads, id, &e);
  if (!o) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  routes_resp_json(resp, 200, o);
}

void
routes_h_head_delete(Routes *r, const RouteRequest *req, const char *id,
                     RouteResponse *resp)
{
  (void)req;
  if (!heads_available(r, resp))
    return;
  GError *e = NULL;
  if (!head_store_delete(r->heads, id, &e)) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  routes_resp_empty(resp, 204);
}

/* ---- examples ---- */

/* Decodes an image (the decode budget held meanwhile), crops roi (NULL:
 * whole) and encodes the crop as the example's JPEG. DCT scaling keeps the
 * crop about twice the model's side, so kept examples stay small. */
static gboolean
crop_to_jpeg(const HeadModel *hm, const guint8 *data, gsize len,
             const StreamRoi *roi, guint8 **jpeg, gsize *jpeg_len,
             GError **error)
{
  const struct ss_model *m = engine_model(hm->engine);
  int side = MAX(model_input_width(m), model_input_height(m));
  ImageDecodeOptions opts = {
    .target_side = stream_roi_decode_side(roi, 2 * side),
  };
  ImageDecodeInfo info;
  if (!image_decode_probe(data, len, &opts, &info, error))
    return FALSE;
  ClassifyPool *cp = hm->classify;
  if (!classify_pool_budget_reserve(cp, info.memory_bytes, error))
    return FALSE;
  RgbImage img = { 0 };
  gboolean ok = image_decode_buffer_opts(data, len, &opts, &img, error);
  if (ok) {
    RgbImage view = roi ? stream_roi_image_view(roi, &img) : img;
    ok = image_encode_jpeg(&view, IMAGE_ENCODE_DEFAULT_QUALITY, jpeg,
                           jpeg_len, error);
    rgb_image_clear(&img);
  }
  classify_pool_budget_release(cp, info.memory_bytes);
  return ok;
}

static void
work_add_example(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  char *model = head_store_prepare_example(r->heads, w->id, w->head_class,
                                           &e);
  guint8 *frame = NULL, *jpeg = NULL;
  gsize frame_len = 0, jpeg_len = 0;
  float *features = NULL;
  HeadModel hm;
  if (!model) {
    resp_store_error(resp, e);
    goto out;
  }
  if (!find_head_model(r, model, &hm)) {
    resp_error(resp, 409, "conflict",
               "the head's model '%s' is not loaded", model);
    goto out;
  }
  const guint8 *src = w->upload.data;
  gsize src_len = w->upload.len;
  StreamRoi roi = w->upload.roi;
  gboolean has_roi = w->upload.has_roi;
  if (w->stream[0]) {
    StreamInfo info;
    if (!registry_get(r->registry, w->stream, &info, NULL)) {
      resp_error(resp, 400, "invalid_argument", "stream: no stream with id "
                 "'%s'", w->stream);
      goto out;
    }
    roi = info.config.roi;
    has_roi = !stream_roi_is_full(&roi);
    stream_info_clear(&info);
    int width, height;
    if (!snapshots_encode(r->snapshots, w->stream, 0, &frame, &frame_len,
                          &width, &height, &e)) {
      if (g_error_matches(e, SNAPSHOT_ERROR, SNAPSHOT_ERROR_NO_FRAME)) {
        resp_error(resp, 503, "unavailable", "%s", e->message);
        resp_header(resp, "Retry-After", ROUTES_RETRY_FRAME_S);
      } else if (g_error_matches(e, SNAPSHOT_ERROR,
                                 SNAPSHOT_ERROR_NOT_FOUND)) {
        resp_error(resp, 400, "invalid_argument", "stream: no stream with "
                   "id '%s'", w->stream);
      } else {
        resp_error(resp, 500, "internal", "%s", e->message);
      }
      goto out;
    }
    src = frame;
    src_len = frame_len;
  }
  if (!crop_to_jpeg(&hm, src, src_len, has_roi ? &roi : NULL, &jpeg,
                    &jpeg_len, &e)) {
    routes_resp_upload_error(r, resp, e, "head example");
    goto out;
  }
  int dim = engine_feature_len(hm.engine);
  features = g_new(float, MAX(dim, 1));
  ClassifyInfo ci;
  if (classify_pool_embed(hm.classify, jpeg, jpeg_len, NULL, features, dim,
                          &ci, &e) != dim) {
    if (e)
      routes_resp_upload_error(r, resp, e, "head example");
    else
      resp_error(resp, 500, "internal", "no features");
    goto out;
  }
  json_t *ex = NULL;
  if (!head_store_add_example(r->heads, w->id, w->head_class, jpeg, jpeg_len,
                              model_name(engine_model(hm.engine)), features,
                              dim,
                              &ex, &e)) {
    resp_store_error(resp, e);
    goto out;
  }
  resp_header(resp, "Location", json_string_value(json_object_get(ex,
                                                                  "image")));
  routes_resp_json(resp, 201, ex);
out:
  g_clear_error(&e);
  g_free(model);
  g_free(frame);
  g_free(jpeg);
  g_free(features);
}

void
routes_h_head_examples_add(Routes *r, const RouteRequest *req,
                           const char *id, RouteResponse *resp)
{
  if (!heads_available(r, resp))
    return;
  const char *cls = NULL, *stream = NULL;
  g_autofree char *form_class = NULL;
  json_t *body = NULL;
  RouteUpload up = { .roi = STREAM_ROI_FULL };
  if (req->content_type &&
      g_ascii_strncasecmp(req->content_type, "application/json", 16) == 0) {
    body = routes_body_object(r, req, resp, "class and stream");
    if (!body)
      return;
    GError *e = NULL;
    if (!json_util_check_keys(body, "", (const char *[]){ "class", "stream",
                                                           NULL },
                              &e)) {
      resp_error(resp, 400, "invalid_argument", "%s", e->message);
      g_error_free(e);
      json_decref(body);
      return;
    }
    cls = json_string_value(json_object_get(body, "class"));
    stream = json_string_value(json_object_get(body, "stream"));
    if (!stream || !*stream || strlen(stream) > ROUTES_ID_MAX) {
      resp_error(resp, 400, "invalid_argument",
                 "stream: the id of a stream is required (or upload an "
                 "image with ?class=)");
      json_decref(body);
      return;
    }
    if (!routes_stream_exists(r, stream)) {
      resp_error(resp, 400, "invalid_argument",
                 "stream: no stream with that id");
      json_decref(body);
      return;
    }
  } else {
    cls = routes_query_get(req, "class");
    /* A multipart form may carry the class as a field. */
    GError *e = NULL;
    if (!cls && !req->body_too_large &&
        multipart_is_form_data(req->content_type)) {
      if (!multipart_field(req->content_type, req->body, req->body_len,
                           "class", HEAD_NAME_MAX, &form_class, &e)) {
        resp_error(resp, 400, "invalid_argument", "%s", e->message);
        g_error_free(e);
        return;
      }
      cls = form_class;
    }
    if (!routes_upload_read(r, req, resp, &up))
      return;
  }
  if (!cls || !head_name_valid(cls)) {
    resp_error(resp, 400, "invalid_argument",
               "class: one of the head's classes is required");
    json_decref(body);
    return;
  }
  /* Cheap refusals before any image work: unknown head or class, full. */
  GError *e = NULL;
  char *model = head_store_prepare_example(r->heads, id, cls, &e);
  if (!model) {
    resp_store_error(resp, e);
    g_error_free(e);
    json_decref(body);
    return;
  }
  g_free(model);
  RouteWork *w = routes_work_new(r, work_add_example);
  g_strlcpy(w->id, id, sizeof w->id);
  g_strlcpy(w->head_class, cls, sizeof w->head_class);
  if (stream)
    g_strlcpy(w->stream, stream, sizeof w->stream);
  w->upload = up;
  json_decref(body);
  resp->work = w;
}

void
routes_h_head_examples_list(Routes *r, const RouteRequest *req,
                            const char *id, RouteResponse *resp)
{
  (void)req;
  if (!heads_available(r, resp))
    return;
  GError *e = NULL;
  json_t *arr = head_store_examples_json(r->heads, id, &e);
  if (!arr) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  json_t *o = json_object();
  json_object_set_new(o, "examples", arr);
  routes_resp_json(resp, 200, o);
}

void
routes_h_head_example_get(Routes *r, const RouteRequest *req,
                          const char *id, RouteResponse *resp)
{
  (void)id;
  if (!heads_available(r, resp))
    return;
  char head[ROUTES_ID_MAX + 1], eid[ROUTES_ID_MAX + 1];
  if (!example_path_ids(req->path, head, eid) ||
      !g_str_has_suffix(eid, ".jpg")) {
    resp_error(resp, 404, "not_found", "examples are served as {id}.jpg");
    return;
  }
  eid[strlen(eid) - 4] = '\0';
  GError *e = NULL;
  GBytes *b = head_store_example_jpeg(r->heads, head, eid, &e);
  if (!b) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data(b, &len);
  guint8 *copy = malloc(len ? len : 1);
  memcpy(copy, d, len);
  g_bytes_unref(b);
  routes_resp_bytes(resp, 200, "image/jpeg", copy, len);
}

void
routes_h_head_example_delete(Routes *r, const RouteRequest *req,
                             const char *id, RouteResponse *resp)
{
  (void)id;
  if (!heads_available(r, resp))
    return;
  char head[ROUTES_ID_MAX + 1], eid[ROUTES_ID_MAX + 1];
  GError *e = NULL;
  if (!example_path_ids(req->path, head, eid)) {
    resp_error(resp, 404, "not_found", "no example with that id");
    return;
  }
  if (!head_store_delete_example(r->heads, head, eid, &e)) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  routes_resp_empty(resp, 204);
}

/* ---- training ---- */

static void
work_train(RouteWork *w, RouteResponse *resp)
{
  Routes *r = w->r;
  GError *e = NULL;
  json_t *head = head_store_head_json(r->heads, w->id, &e);
  if (!head) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  const char *model = json_string_value(json_object_get(head, "model"));
  HeadModel hm;
  gboolean known = model && find_head_model(r, model, &hm);
  json_decref(head);
  if (!known) {
    resp_error(resp, 409, "conflict", "the head's model is not loaded");
    return;
  }
  int dim = engine_feature_len(hm.engine);
  HeadTrainSet *set = head_store_train_begin(
      r->heads, w->id, model_name(engine_model(hm.engine)), dim, &e);
  if (!set) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  /* Examples kept from another model (or with lost features) get new
   * ones from their JPEGs. */
  for (guint i = 0; i < set->n; i++) {
    if (!set->need_jpeg[i])
      continue;
    gsize len;
    const guint8 *d = g_bytes_get_data(set->need_jpeg[i], &len);
    ClassifyInfo ci;
    if (classify_pool_embed(hm.classify, d, len, NULL,
                            set->features + (gsize)i * dim, dim, &ci,
                            &e) != dim) {
      head_store_train_abort(r->heads, set);
      if (e) {
        routes_resp_upload_error(r, resp, e, "head training");
        g_error_free(e);
      } else {
        resp_error(resp, 500, "internal", "no features");
      }
      return;
    }
  }
  json_t *report = head_store_train_finish(r->heads, set, &e);
  if (!report) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  json_object_set_new(report, "id", json_string(w->id));
  routes_resp_json(resp, 200, report);
}

void
routes_h_head_train(Routes *r, const RouteRequest *req, const char *id,
                    RouteResponse *resp)
{
  (void)req;
  if (!heads_available(r, resp))
    return;
  GError *e = NULL;
  json_t *head = head_store_head_json(r->heads, id, &e);
  if (!head) {
    resp_store_error(resp, e);
    g_error_free(e);
    return;
  }
  json_decref(head);
  RouteWork *w = routes_work_new(r, work_train);
  g_strlcpy(w->id, id, sizeof w->id);
  resp->work = w;
}
