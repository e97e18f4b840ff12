/* Several models on one server: GET /api/v1/models, a model per stream
 * (its predictions, stats and history), embed and heads with ?model= or
 * "model"; one model listed as "default"; the models of a config file.
 * The "models", "one-model" and "models-config" TCases of the
 * routes-models suite (routes-models-fixture.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config-models.h"
#include "model.h"
#include "routes-models-fixture.h"
#include "server-fixture.h"

/* ---- several models: GET /api/v1/models, a model per stream ---- */

static void
setup_two(void)
{
  ServerFixtureOptions o = { .threads = 1, .max_streams = 4,
                             .max_body_bytes = BODY_LIMIT,
                             .max_sse_clients = 4, .second_model = TRUE };
  server_fixture_init_opts(&fx, &o);
}

static json_t *
model_entry(json_t *list, const char *id)
{
  json_t *arr = json_object_get(list, "models");
  for (size_t i = 0; i < json_array_size(arr); i++)
    if (g_strcmp0(json_string_value(json_object_get(json_array_get(arr, i),
                                                    "id")), id) == 0)
      return json_array_get(arr, i);
  return NULL;
}

START_TEST(test_models_list)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("GET", "/api/v1/models", NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 2);
  const struct {
    const char *id, *arch;
    double alpha;
    int side, dim;
    const struct ss_engine *engine;
  } want[] = {
    { "default", "mobilenet_v2", 0.35, 96, 1280,
      model_set_get(fx.models, 0)->engine },
    { "small", "mobilenet_v1", 0.25, 64, 256,
      model_set_get(fx.models, 1)->engine },
  };
  for (int i = 0; i < 2; i++) {
    json_t *m = model_entry(j, want[i].id);
    ck_assert_msg(m != NULL, "no model %s", want[i].id);
    const struct ss_model *sm = engine_model(want[i].engine);
    ck_assert_str_eq(json_string_value(json_object_get(m, "arch")),
                     want[i].arch);
    ck_assert(fabs(json_number_value(json_object_get(m, "alpha")) -
                   want[i].alpha) < 1e-6);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(m, "input"), "width")), want[i].side);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "feature_dim")),
                     want[i].dim);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "macs")),
                     (json_int_t)model_macs(sm));
    ck_assert_int_eq(json_integer_value(json_object_get(m, "params")),
                     (json_int_t)model_params(sm));
    ck_assert_str_eq(json_string_value(json_object_get(m, "engine")), "float");
    ck_assert(json_number_value(json_object_get(m, "latency_ms")) > 0);
    ck_assert(json_is_true(json_object_get(m, "default")) == (i == 0));
    printf("model %s: %s %.2f/%d, %lld MACs, %lld params, %d features, "
           "%.2f ms at load\n", want[i].id, want[i].arch, want[i].alpha,
           want[i].side, (long long)model_macs(sm),
           (long long)model_params(sm), want[i].dim,
           json_number_value(json_object_get(m, "latency_ms")));
  }
  json_decref(j);
}
END_TEST

/* Two streams on two models: each prediction says which model made it,
 * with that model's input size; an unknown model is a 400; embed takes
 * ?model=. */
START_TEST(test_models_streams)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"big\", \"name\": \"big\", \"uri\": "
                             "\"test:\", \"pattern\": \"ball\"}", &j), 201);
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"id\": \"cheap\", \"name\": \"cheap\", "
                             "\"uri\": \"test:\", \"pattern\": \"ball\", "
                             "\"model\": \"small\"}", &j), 201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "small");
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"name\": \"x\", \"uri\": \"test:\", "
                             "\"model\": \"nope\"}", &j), 400);
  ck_assert_msg(strstr(error_message(j), "model: unknown model (the models "
                                         "are: default, small)"),
                "%s", error_message(j));
  json_decref(j);

  const struct { const char *id, *model; int side; } st[] = {
    { "big", "default", 96 }, { "cheap", "small", 64 },
  };
  for (int i = 0; i < 2; i++) {
    json_t *p = fixture_wait_prediction(&fx, st[i].id, 60, NULL);
    ck_assert_msg(p != NULL, "no prediction of %s", st[i].id);
    ck_assert_str_eq(json_string_value(json_object_get(p, "model_id")),
                     st[i].model);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(p, "input"), "width")), st[i].side);
    json_decref(p);
  }
  /* So do the stats, per stream. */
  ck_assert_uint_eq(req_json("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *sts = json_object_get(j, "streams");
  for (size_t i = 0; i < json_array_size(sts); i++) {
    json_t *o = json_array_get(sts, i);
    const char *sid = json_string_value(json_object_get(o, "id"));
    ck_assert_str_eq(json_string_value(json_object_get(o, "model")),
                     strcmp(sid, "cheap") == 0 ? "small" : "default");
  }
  ck_assert_uint_eq(json_array_size(sts), 2);
  json_decref(j);
  /* The history says it too. */
  RouteParam lim[] = { { "limit", "2" } };
  RouteRequest r = { .method = "GET",
                     .path = "/api/v1/streams/cheap/predictions",
                     .query = lim, .n_query = 1 };
  ck_assert_uint_eq(fixture_request_full(&fx, &r, &j, NULL), 200);
  json_t *hist = json_object_get(j, "predictions");
  ck_assert_uint_ge(json_array_size(hist), 1);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_array_get(hist, 0), "model_id")), "small");
  json_decref(j);

  guint8 *px = pattern(IMG_W, IMG_H);
  GBytes *png = png_of(px, IMG_W, 0, 0, IMG_W, IMG_H);
  RouteParam ms[] = { { "model", "small" } };
  ck_assert_uint_eq(post("/api/v1/embed", ms, 1, png, "image/png", &j), 200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "small");
  g_free(features_of(j, 256));
  json_decref(j);
  ck_assert_uint_eq(post("/api/v1/embed", NULL, 0, png, "image/png", &j),
                    200);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                   "default");
  g_free(features_of(j, 1280));
  json_decref(j);
  RouteParam bad[] = { { "model", "nope" } };
  ck_assert_uint_eq(post("/api/v1/embed", bad, 1, png, "image/png", &j), 400);
  ck_assert(strstr(error_message(j), "the models are: default, small"));
  json_decref(j);
  /* A head can be taught on either model; an unknown one is refused. */
  ck_assert_uint_eq(req_json("POST", "/api/v1/heads",
                             "{\"id\": \"gate\", \"model\": \"small\", "
                             "\"classes\": [\"open\", \"shut\"]}", &j), 201);
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/heads",
                             "{\"id\": \"door\", \"model\": \"nope\", "
                             "\"classes\": [\"open\", \"shut\"]}", &j), 400);
  json_decref(j);
  g_bytes_unref(png);
  g_free(px);
}
END_TEST

/* One model (no set): listed as "default", no latency measured. */
START_TEST(test_models_one)
{
  json_t *j = NULL;
  ck_assert_uint_eq(req_json("GET", "/api/v1/models", NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
  json_t *m = model_entry(j, "default");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(json_integer_value(json_object_get(m, "feature_dim")),
                   1280);
  json_decref(j);
  ck_assert_uint_eq(req_json("POST", "/api/v1/streams",
                             "{\"name\": \"x\", \"uri\": \"test:\", "
                             "\"model\": \"other\"}", &j), 400);
  ck_assert(strstr(error_message(j), "model: unknown model"));
  json_decref(j);
}
END_TEST

static const struct {
  const char *json;
  const char *want; /* NULL: valid */
} model_configs[] = {
  { "{\"models\": [{\"id\": \"a\", \"path\": \"a.tflite\"}, {\"id\": "
    "\"b\", \"path\": \"b.tflite\", \"labels\": \"l.txt\", \"engine\": "
    "\"float\"}], \"streams\": [{\"name\": \"s\", \"uri\": \"test:\", "
    "\"model\": \"b\"}]}", NULL },
  { "{\"streams\": [{\"name\": \"s\", \"uri\": \"test:\", \"model\": "
    "\"default\"}]}", NULL },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"a.tflite\"}], \"streams\": "
    "[{\"name\": \"s\", \"uri\": \"test:\", \"model\": \"b\"}]}",
    "streams[0].model: unknown model 'b' (the models are: a)" },
  { "{\"streams\": [{\"name\": \"s\", \"uri\": \"test:\", \"model\": "
    "\"b\"}]}", "streams[0].model: unknown model 'b' (the models are: "
    "default)" },
  { "{\"streams\": [{\"name\": \"s\", \"uri\": \"test:\", \"model\": "
    "\"B!\"}]}", "streams[0].model: expected a model id" },
  { "{\"models\": []}", "models: expected an array of 1..16" },
  { "{\"models\": [{\"path\": \"a.tflite\"}]}", "models[0].id: required" },
  { "{\"models\": [{\"id\": \"a\"}]}", "models[0].path: required" },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"x\"}, {\"id\": \"a\", "
    "\"path\": \"y\"}]}", "models[1].id: 'a' is already used by models[0]" },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"x\", \"size\": 1}]}",
    "models[0].size: unknown key" },
  { "{\"models\": [{\"id\": \"a\", \"path\": \"x\", \"engine\": \"gpu\"}]}",
    "models[0].engine: must be one of" },
  { "{\"model\": \"m.tflite\", \"models\": [{\"id\": \"a\", \"path\": "
    "\"x\"}]}", "models: give either models or the one-model keys" },
};

START_TEST(test_models_config)
{
  ServerConfig *c = server_config_new();
  GError *e = NULL;
  gboolean ok = server_config_load_text(c, model_configs[_i].json,
                                        strlen(model_configs[_i].json),
                                        "test", &e);
  if (!model_configs[_i].want) {
    ck_assert_msg(ok, "%s: %s", model_configs[_i].json, e ? e->message : "");
  } else {
    ck_assert_msg(!ok, "%s: accepted", model_configs[_i].json);
    ck_assert_msg(strstr(e->message, model_configs[_i].want), "%s: %s",
                  model_configs[_i].json, e->message);
    g_error_free(e);
  }
  if (ok && _i == 0) {
    ck_assert_uint_eq(c->models->len, 2);
    const ConfigModel *b = g_ptr_array_index(c->models, 1);
    ck_assert_str_eq(b->id, "b");
    ck_assert_str_eq(b->labels, "l.txt");
    ck_assert_int_eq(b->engine, CONFIG_ENGINE_FLOAT);
    const ConfigStream *st = g_ptr_array_index(c->streams, 0);
    ck_assert_str_eq(st->config.model, "b");
  }
  server_config_free(c);
}
END_TEST

TCase *
routes_models_models_tcase(void)
{
  TCase *tc = tcase_create("models");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, setup_two, teardown);
  tcase_add_test(tc, test_models_list);
  tcase_add_test(tc, test_models_streams);
  return tc;
}

TCase *
routes_models_one_model_tcase(void)
{
  TCase *tc = tcase_create("one-model");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_models_one);
  return tc;
}

TCase *
routes_models_config_tcase(void)
{
  TCase *tc = tcase_create("models-config");
  tcase_add_loop_test(tc, test_models_config, 0,
                      (int)(sizeof model_configs / sizeof model_configs[0]));
  return tc;
}
