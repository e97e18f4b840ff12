#include "server-fixture.h"

#include <check.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>

#include "image-decode.h"
#include "kernels/kernels.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "streamsight-sink.h"
#include "testutil.h"

#define FIXTURE_SEED 20261128u

static gpointer
loop_main(gpointer user)
{
  ServerFixture *f = user;
  /* Waits for the context when another thread holds it (the registry runs
   * stream start-up directly while the context is free). */
  g_main_loop_run(f->loop);
  return NULL;
}

static void
on_registry_changed(Registry *r, gpointer user)
{
  ServerFixture *f = user;
  /* The event hub is the registry's stream watch (events.h). */
  if (f->alerts)
    alert_hub_registry_changed(r, f->alerts);
  config_store_registry_changed(r, f->store);
}

/* Streams fetch heads through the fixture, so that a restart of the
 * store (server_fixture_restart_heads, with no stream running) leaves no
 * stale pointer in them. */
static struct ss_head *
fixture_head_fetch(gpointer user, const char *id, guint64 *generation)
{
  ServerFixture *f = user;
  return head_store_fetch_changed(f->heads, id, generation);
}

static void
make_routes(ServerFixture *f)
{
  g_autofree char *dir = head_store_dir_for_config(f->config_path);
  GError *e = NULL;
  f->heads = head_store_new(dir, NULL, &e);
  ck_assert_msg(f->heads != NULL, "heads: %s", e ? e->message : "");
  RoutesConfig rc = {
    .registry = f->registry,
    .engine = f->engine,
    .pool = f->pool,
    .models = f->models,
    .store = f->store,
    .events = f->events,
    .alerts = f->alerts,
    .auth_token = f->token,
    .max_body_bytes = f->max_body_bytes,
    .max_uri_bytes = f->max_uri_bytes,
    .max_header_bytes = f->max_header_bytes,
    .classifiers = 2,
    .heads = f->heads,
  };
  f->routes = routes_new(&rc);
}

void
server_fixture_restart_heads(ServerFixture *f)
{
  routes_free(f->routes);
  head_store_free(f->heads);
  make_routes(f);
}

void
server_fixture_init_opts(ServerFixture *f, const ServerFixtureOptions *o)
{
  struct ss_error err = { 0 };
  memset(f, 0, sizeof *f);
  kern_init();
  gst_init(NULL, NULL);
  ck_assert(streamsight_sink_register());

  if (o->real_model) {
    char path[1024], labels[1024];
    ck_assert(tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", path,
                           sizeof path));
    ck_assert_msg(model_load(path, &f->model, &err) == 0, "model: %s",
                  err.message);
    if (!model_has_labels(f->model) &&
        tu_data_path("models/labels.txt", labels, sizeof labels))
      ck_assert_msg(model_set_labels_file(f->model, labels, &err) == 0,
                    "labels: %s", err.message);
  } else {
    ck_assert_msg(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                                  MODEL_PAD_RULE_TF_SAME, 1001, &f->model,
                                  &err) == 0, "build: %s", err.message);
    tu_fill_model_weights(f->model, FIXTURE_SEED);
  }
  ck_assert_msg(engine_new(f->model, KERN_ISA_AUTO, &f->engine, &err) == 0,
                "engine: %s", err.message);
  ck_assert_msg(pool_new(f->engine, o->threads,
                         (int)o->max_streams + o->threads, 0, &f->pool,
                         &err) == 0, "pool: %s", err.message);

  f->ctx = g_main_context_new();
  f->loop = g_main_loop_new(f->ctx, FALSE);
  f->registry = registry_new(f->ctx, f->engine, f->pool, o->max_streams);
  if (o->second_model) {
    struct ss_model *m2 = NULL;
    struct ss_engine *e2 = NULL;
    struct ss_pool *p2 = NULL;
    ck_assert(mobilenet_build(MODEL_ARCH_MOBILENET_V1, 0.25f, 64,
                              MODEL_PAD_RULE_TF_SAME, 1001, &m2, &err) == 0);
    tu_fill_model_weights(m2, FIXTURE_SEED + 1);
    ck_assert(engine_new(m2, KERN_ISA_AUTO, &e2, &err) == 0);
    ck_assert(pool_new(e2, o->threads, (int)o->max_streams + o->threads, 0,
                       &p2, &err) == 0);
    /* The set owns the engines and pools from here (and a reference to
     * each model); the fixture keeps borrowing the first ones. */
    f->models = model_set_new();
    model_set_add_take(f->models, MODEL_SET_DEFAULT_ID, NULL,
                       model_ref(f->model), f->engine, f->pool,
                       model_set_measure_latency(f->engine, 3));
    model_set_add_take(f->models, "small", NULL, m2, e2, p2,
                       model_set_measure_latency(e2, 3));
    registry_set_models(f->registry, f->models);
  }
  if (o->media_dirs) {
    GError *me = NULL;
    MediaDirs *m = media_dirs_new(o->media_dirs, &me);
    ck_assert_msg(m != NULL, "media_dirs: %s", me ? me->message : "");
    registry_set_media_dirs(f->registry, m);
    media_dirs_unref(m);
  }
  f->loop_thread = g_thread_new("fixture-loop", loop_main, f);

  char *dir = g_strdup_printf("%s/srv-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  f->config_path = g_build_filename(dir, "streamsight.json", NULL);
  g_free(dir);
  f->store = config_store_new(f->config_path, NULL);
  if (o->max_sse_clients > 0) {
    EventHubOptions eo = {
      .max_clients = o->max_sse_clients,
      .queue_len = o->sse_queue_len,
      .heartbeat_ms = o->sse_heartbeat_ms,
      .poll_ms = o->sse_poll_ms,
    };
    f->events = event_hub_new(f->registry, f->model, &eo);
  }
  if (o->alerts) {
    char *cfg_dir = g_path_get_dirname(f->config_path);
    char *alerts_dir = g_build_filename(cfg_dir, "alerts", NULL);
    AlertHubOptions ao = {
      .registry = f->registry,
      .model = f->model,
      .dir = alerts_dir,
      .history_max = o->alerts_history,
    };
    f->alerts = alert_hub_new(&ao);
    if (f->events)
      alert_hub_add_listener(f->alerts, event_hub_on_alert, f->events);
    g_free(alerts_dir);
    g_free(cfg_dir);
  }
  registry_set_changed_func(f->registry, on_registry_changed, f);
  registry_set_head_source(f->registry, fixture_head_fetch, f);
  f->token = o->token;
  f->max_body_bytes = o->max_body_bytes;
  f->max_uri_bytes = o->max_uri_bytes;
  f->max_header_bytes = o->max_header_bytes;
  make_routes(f);
}

void
server_fixture_init(ServerFixture *f, int threads, guint max_streams,
                    const char *token, guint64 max_body_bytes)
{
  ServerFixtureOptions o = {
    .threads = threads,
    .max_streams = max_streams,
    .token = token,
    .max_body_bytes = max_body_bytes,
    .max_sse_clients = 8,
  };
  server_fixture_init_opts(f, &o);
}

static gboolean
quit_loop(gpointer user)
{
  g_main_loop_quit(user);
  return G_SOURCE_REMOVE;
}

void
server_fixture_clear(ServerFixture *f)
{
  routes_free(f->routes);
  registry_set_changed_func(f->registry, NULL, NULL);
  alert_hub_free(f->alerts);
  event_hub_free(f->events);
  /* registry_free runs the teardown itself with the context not running
   * elsewhere. */
  g_main_context_invoke(f->ctx, quit_loop, f->loop);
  g_thread_join(f->loop_thread);
  registry_free(f->registry);
  head_store_free(f->heads); /* after the streams that fetch from it */
  g_main_loop_unref(f->loop);
  g_main_context_unref(f->ctx);
  if (f->models) {
    model_set_free(f->models);
  } else {
    pool_free(f->pool);
    engine_free(f->engine);
  }
  model_unref(f->model);
  config_store_free(f->store);
  g_free(f->config_path);
  memset(f, 0, sizeof *f);
}

guint
fixture_request(ServerFixture *f, const char *method, const char *path,
                const char *query_name, const char *query_value,
                const char *body, const char *authorization,
                json_t **json_out, RouteResponse *resp_out)
{
  RouteParam q = { query_name, query_value };
  RouteRequest req = {
    .method = method,
    .path = path,
    .query = query_name ? &q : NULL,
    .n_query = query_name ? 1 : 0,
    .authorization = authorization,
    .content_type = body ? "application/json" : NULL,
    .body = (const guint8 *)body,
    .body_len = body ? strlen(body) : 0,
  };
  return fixture_request_full(f, &req, json_out, resp_out);
}

guint
fixture_request_full(ServerFixture *f, const RouteRequest *req,
                     json_t **json_out, RouteResponse *resp_out)
{
  RouteResponse resp = { 0 };
  routes_handle(f->routes, req, &resp);
  if (resp.work) {
    RouteWork *w = resp.work;
    resp.work = NULL;
    ck_assert_uint_eq(resp.status, 0);
    route_work_run(w, &resp);
  }
  guint status = resp.status;
  if (json_out) {
    *json_out = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL)
                          : NULL;
  }
  if (resp_out)
    *resp_out = resp;
  else
    route_response_clear(&resp);
  return status;
}

json_t *
fixture_wait_prediction(ServerFixture *f, const char *id, double timeout_s,
                        const char *authorization)
{
  char *path = g_strdup_printf("/api/v1/streams/%s/predictions/latest", id);
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  json_t *found = NULL;
  while (!found && g_get_monotonic_time() < deadline) {
    json_t *j = NULL;
    guint st = fixture_request(f, "GET", path, NULL, NULL, NULL,
                               authorization, &j, NULL);
    ck_assert_uint_eq(st, 200);
    json_t *p = json_object_get(j, "prediction");
    if (p && json_is_object(p))
      found = json_incref(p);
    json_decref(j);
    if (!found)
      g_usleep(50 * 1000);
  }
  g_free(path);
  return found;
}

guint8 *
fixture_make_image(const char *caps_str, int w, int h, gsize *len)
{
  gsize stride = (gsize)w * 3;
  GstBuffer *buf = gst_buffer_new_allocate(NULL, stride * (gsize)h, NULL);
  GstMapInfo map;
  ck_assert(gst_buffer_map(buf, &map, GST_MAP_WRITE));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *px = map.data + (gsize)y * stride + (gsize)x * 3;
      px[0] = (guint8)(x * 255 / MAX(w - 1, 1));
      px[1] = (guint8)(y * 255 / MAX(h - 1, 1));
      px[2] = (guint8)((x + y) & 0xff);
    }
  gst_buffer_unmap(buf, &map);
  GstCaps *caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING,
                                      "RGB", "width", G_TYPE_INT, w, "height",
                                      G_TYPE_INT, h, "framerate",
                                      GST_TYPE_FRACTION, 0, 1, NULL);
  GstSample *s = gst_sample_new(buf, caps, NULL, NULL);
  GstCaps *to = gst_caps_from_string(caps_str);
  GError *e = NULL;
  GstSample *out = gst_video_convert_sample(s, to, 5 * GST_SECOND, &e);
  ck_assert_msg(out != NULL, "encode %s: %s", caps_str, e ? e->message : "");
  GstBuffer *ob = gst_sample_get_buffer(out);
  ck_assert(gst_buffer_map(ob, &map, GST_MAP_READ));
  guint8 *data = g_memdup2(map.data, map.size);
  *len = map.size;
  gst_buffer_unmap(ob, &map);
  gst_sample_unref(out);
  gst_sample_unref(s);
  gst_caps_unref(to);
  gst_caps_unref(caps);
  gst_buffer_unref(buf);
  return data;
}

void
fixture_check_roi_outline(const RouteResponse *resp, const char *what)
{
  RgbImage img;
  ck_assert_msg(image_decode_buffer((const guint8 *)resp->body,
                                    resp->body_len, &img, NULL),
                "%s: not an image", what);
  int w = img.width, h = img.height;
  const guint8 *edge = img.pixels + (gsize)(h / 2) * img.stride +
                       (gsize)(w / 4 + 1) * 3; /* on the left line */
  const guint8 *mid = img.pixels + (gsize)(h / 2) * img.stride +
                      (gsize)(w / 2) * 3;
  const guint8 *out = img.pixels + (gsize)(h / 8) * img.stride +
                      (gsize)(w / 8) * 3;
  printf("%s %dx%d: line %d,%d,%d inside %d,%d,%d outside %d,%d,%d\n", what,
         w, h, edge[0], edge[1], edge[2], mid[0], mid[1], mid[2], out[0],
         out[1], out[2]);
  /* amber 255,214,0 through JPEG: within 40 levels */
  ck_assert(edge[0] > 215 && edge[1] > 174 && edge[2] < 60);
  ck_assert(mid[0] < 30 && mid[1] < 30 && mid[2] < 30);
  ck_assert(out[0] < 30 && out[1] < 30 && out[2] < 30);
  rgb_image_clear(&img);
}

char *
fixture_route_path(const char *pattern)
{
  char **parts = g_strsplit(pattern, "*", -1);
  char *path = g_strjoinv("x", parts);
  g_strfreev(parts);
  return path;
}
