/* Head routes (server/routes-heads.c, head-store.c): the lifecycle of a
 * head on the server fixture (tiny random MobileNetV2 0.35/96, 1280
 * features): create, examples from uploads and from a test: stream, train,
 * the files beside the config (modes), a restart that reloads everything,
 * delete; the 400s, 404s and 409s. With STREAMSIGHT_TEST_DATA, the issue's
 * "animal vs. everything else" head trained through the API on the 200 dev
 * images with the real MobileNetV2 1.0/224, and its file used by
 * `streamsight classify --head`. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "head.h"
#include "image-decode.h"
#include "image-fixtures.h"
#include "server-fixture.h"
#include "testutil.h"

#define BODY_LIMIT (8u << 20)
#define IMG 64
/* The bar for the dev-image head: >= 85% (well above 90% expected). */
#define ANIMAL_MIN_CV_ACCURACY 0.85
#define ANIMAL_LAST_CLASS 397

static ServerFixture fx;

static void
setup(void)
{
  server_fixture_init(&fx, 1, 4, NULL, BODY_LIMIT);
}

static void
setup_two_models(void)
{
  ServerFixtureOptions o = { .threads = 1, .max_streams = 2,
                             .max_body_bytes = BODY_LIMIT,
                             .max_sse_clients = 4, .second_model = TRUE };
  server_fixture_init_opts(&fx, &o);
}

static void
setup_real(void)
{
  ServerFixtureOptions o = { .threads = 1, .max_streams = 2,
                             .max_body_bytes = BODY_LIMIT,
                             .real_model = TRUE };
  char model[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model))
    return;
  server_fixture_init_opts(&fx, &o);
}

static void
teardown(void)
{
  if (fx.routes)
    server_fixture_clear(&fx);
}

/* A PNG of stripes: horizontal (kind 0) or vertical (kind 1), in two
 * colours, with noise from seed. */
static GBytes *
stripes_png(int kind, int seed)
{
  guint8 rows[IMG * IMG * 3];
  struct tu_rng r;
  tu_rng_seed(&r, (uint64_t)seed);
  for (int y = 0; y < IMG; y++)
    for (int x = 0; x < IMG; x++) {
      int on = ((kind ? x : y) / 8) % 2;
      int noise = (int)(tu_rng_u32(&r) % 31) - 15;
      guint8 *p = rows + ((gsize)y * IMG + x) * 3;
      p[0] = (guint8)CLAMP((on ? 230 : 20) + noise, 0, 255);
      p[1] = (guint8)CLAMP((kind ? 200 : 40) + noise, 0, 255);
      p[2] = (guint8)CLAMP((on ? 20 : 230) + noise, 0, 255);
    }
  return fix_png_encode(IMG, IMG, 8, 2, rows, IMG * 3, NULL, 0, FALSE);
}

static guint
request(const char *method, const char *path, const char *ct,
        const void *body, gsize len, const RouteParam *q, guint nq,
        json_t **j, RouteResponse *resp)
{
  RouteRequest r = { .method = method, .path = path, .query = q,
                     .n_query = nq, .content_type = ct, .body = body,
                     .body_len = len };
  return fixture_request_full(&fx, &r, j, resp);
}

static guint
post_json(const char *path, const char *body, json_t **j)
{
  return request("POST", path, "application/json", body, strlen(body), NULL,
                 0, j, NULL);
}

static guint
upload(const char *head, const char *cls, GBytes *img, json_t **j)
{
  char path[128];
  g_snprintf(path, sizeof path, "/api/v1/heads/%s/examples", head);
  RouteParam q[] = { { "class", cls } };
  gsize len;
  const void *d = g_bytes_get_data(img, &len);
  return request("POST", path, "image/png", d, len, q, cls ? 1 : 0, j, NULL);
}

/* POST /api/v1/heads of head "door" (classes "open" and "closed", the
 * default model); it must be created (201). */
static void
create_door(void)
{
  json_t *j = NULL;
  ck_assert_uint_eq(post_json("/api/v1/heads",
                              "{\"id\": \"door\", \"classes\": [\"open\", "
                              "\"closed\"]}",
                              &j),
                    201);
  json_decref(j);
}

/* Three examples of "open" (horizontal stripes) and three of "closed"
 * (vertical) added to head; each must be accepted (201). */
static void
upload_stripes(const char *head)
{
  for (int kind = 0; kind < 2; kind++)
    for (int i = 0; i < 3; i++) {
      GBytes *img = stripes_png(kind, 10 * kind + i);
      json_t *j = NULL;
      ck_assert_uint_eq(upload(head, kind ? "closed" : "open", img, &j), 201);
      json_decref(j);
      g_bytes_unref(img);
    }
}

static guint
get(const char *path, json_t **j)
{
  return fixture_request(&fx, "GET", path, NULL, NULL, NULL, NULL, j, NULL);
}

static const char *
error_message(json_t *j)
{
  return json_string_value(
      json_object_get(json_object_get(j, "error"), "message"));
}

static int
example_count(const char *cls)
{
  json_t *j = NULL;
  ck_assert_uint_eq(get("/api/v1/heads/door", &j), 200);
  int n = (int)json_integer_value(
      json_object_get(json_object_get(j, "examples"), cls));
  json_decref(j);
  return n;
}

static mode_t
mode_of(const char *path)
{
  struct stat st;
  ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
  return st.st_mode & 0777;
}

START_TEST(test_create_and_errors)
{
  json_t *j = NULL;
  RouteResponse resp = { 0 };
  const char *body = "{\"id\": \"door\", \"classes\": [\"open\", \"closed\"]}";
  ck_assert_uint_eq(request("POST", "/api/v1/heads", "application/json", body,
                            strlen(body), NULL, 0, &j, &resp),
                    201);
  ck_assert_str_eq(route_response_header(&resp, "Location"),
                   "/api/v1/heads/door");
  route_response_clear(&resp);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "default");
  ck_assert(json_is_false(json_object_get(j, "trained")));
  json_decref(j);
  ck_assert_uint_eq(post_json("/api/v1/heads", body, &j), 409);
  json_decref(j);
  const struct {
    const char *body;
    const char *says;
  } bad[] = {
    { "{\"id\": \"a/b\", \"classes\": [\"x\", \"y\"]}", "id:" },
    { "{\"id\": \"\", \"classes\": [\"x\", \"y\"]}", "id:" },
    { "{\"classes\": [\"x\", \"y\"]}", "id:" },
    { "{\"id\": \"h\", \"classes\": [\"x\"]}", "classes:" },
    { "{\"id\": \"h\", \"classes\": [\"x\", \"x\"]}", "named twice" },
    { "{\"id\": \"h\", \"classes\": [\"x\", 3]}", "classes:" },
    { "{\"id\": \"h\", \"classes\": [\"x\", \"a\\nb\"]}", "classes[1]" },
    { "{\"id\": \"h\", \"classes\": \"x\"}", "classes:" },
    { "{\"id\": \"h\", \"model\": \"nope\", \"classes\": [\"x\", \"y\"]}",
      "model: unknown" },
    { "{\"id\": \"h\", \"classes\": [\"x\", \"y\"], \"extra\": 1}", "extra" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert_msg(post_json("/api/v1/heads", bad[i].body, &j) == 400,
                  "case %u accepted", i);
    ck_assert_msg(strstr(error_message(j), bad[i].says), "case %u: %s", i,
                  error_message(j));
    json_decref(j);
  }
  ck_assert_uint_eq(post_json("/api/v1/heads", "not json", &j), 400);
  json_decref(j);
  ck_assert_uint_eq(get("/api/v1/heads", &j), 200);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "heads")), 1);
  json_decref(j);
  ck_assert_uint_eq(get("/api/v1/heads/nope", &j), 404);
  json_decref(j);
  ck_assert_uint_eq(fixture_request(&fx, "DELETE", "/api/v1/heads/nope", NULL,
                                    NULL, NULL, NULL, NULL, NULL),
                    404);
  ck_assert_uint_eq(fixture_request(&fx, "POST", "/api/v1/heads/nope/train",
                                    NULL, NULL, NULL, NULL, NULL, NULL),
                    404);
}
END_TEST

START_TEST(test_lifecycle_uploads_restart)
{
  json_t *j = NULL;
  create_door();
  GBytes *img = stripes_png(0, 1);
  /* Refusals before any image work. */
  ck_assert_uint_eq(upload("door", "ajar", img, &j), 400);
  ck_assert_msg(strstr(error_message(j), "class"), "%s", error_message(j));
  json_decref(j);
  ck_assert_uint_eq(upload("door", NULL, img, &j), 400);
  json_decref(j);
  ck_assert_uint_eq(upload("nope", "open", img, &j), 404);
  json_decref(j);
  ck_assert_uint_eq(request("POST", "/api/v1/heads/door/examples",
                            "image/png", "junk", 4,
                            (RouteParam[]){ { "class", "open" } }, 1, &j,
                            NULL),
                    400);
  json_decref(j);
  g_bytes_unref(img);

  /* One example of "closed": training is a clear 400. */
  for (int kind = 0; kind < 2; kind++)
    for (int i = 0; i < (kind ? 1 : 3); i++) {
      img = stripes_png(kind, 10 * kind + i);
      ck_assert_uint_eq(upload("door", kind ? "closed" : "open", img, &j),
                        201);
      ck_assert(g_str_has_prefix(json_string_value(json_object_get(j,
                                                                   "image")),
                                 "/api/v1/heads/door/examples/"));
      json_decref(j);
      g_bytes_unref(img);
    }
  ck_assert_uint_eq(post_json("/api/v1/heads/door/train", "", &j), 400);
  ck_assert_msg(strstr(error_message(j),
                       "class 'closed' has 1 example: every class needs at "
                       "least 2"),
                "%s", error_message(j));
  json_decref(j);
  for (int i = 1; i < 3; i++) {
    img = stripes_png(1, 10 + i);
    ck_assert_uint_eq(upload("door", "closed", img, &j), 201);
    json_decref(j);
    g_bytes_unref(img);
  }
  ck_assert_int_eq(example_count("open"), 3);
  ck_assert_int_eq(example_count("closed"), 3);
  /* A multipart form with the class as a field (curl -F class=open -F
   * image=@x.png); a file part called class is not the field. */
  img = stripes_png(0, 77);
  gsize plen;
  const guint8 *pdata = g_bytes_get_data(img, &plen);
  GByteArray *form = g_byte_array_new();
  const char *form1 = "--XyZ\r\nContent-Disposition: form-data; name=\"class\"\r\n"
                   "\r\nopen\r\n--XyZ\r\nContent-Disposition: form-data; "
                   "name=\"image\"; filename=\"a.png\"\r\nContent-Type: "
                   "image/png\r\n\r\n";
  g_byte_array_append(form, (const guint8 *)form1, (guint)strlen(form1));
  g_byte_array_append(form, pdata, (guint)plen);
  g_byte_array_append(form, (const guint8 *)"\r\n--XyZ--\r\n", 11);
  ck_assert_uint_eq(request("POST", "/api/v1/heads/door/examples",
                            "multipart/form-data; boundary=XyZ", form->data,
                            form->len, NULL, 0, &j, NULL),
                    201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "class")), "open");
  json_decref(j);
  /* Without the field: the class is missing. */
  const char *form2 = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; "
                   "filename=\"a.png\"\r\n\r\nabc\r\n--XyZ--\r\n";
  ck_assert_uint_eq(request("POST", "/api/v1/heads/door/examples",
                            "multipart/form-data; boundary=XyZ", form2,
                            strlen(form2), NULL, 0, &j, NULL),
                    400);
  ck_assert_msg(strstr(error_message(j), "class"), "%s", error_message(j));
  json_decref(j);
  g_byte_array_unref(form);
  g_bytes_unref(img);
  ck_assert_uint_eq(fixture_request(&fx, "DELETE",
                                    "/api/v1/heads/door/examples/7", NULL,
                                    NULL, NULL, NULL, NULL, NULL),
                    204);
  ck_assert_int_eq(example_count("open"), 3);

  ck_assert_uint_eq(post_json("/api/v1/heads/door/train", "", &j), 200);
  json_t *cv = json_object_get(j, "cross_validation");
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "examples")), 6);
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "folds")), 3);
  json_t *conf = json_object_get(cv, "confusion");
  int total = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      total += (int)json_integer_value(
          json_array_get(json_array_get(conf, (size_t)a), (size_t)b));
  ck_assert_int_eq(total, 6);
  double acc = json_real_value(json_object_get(cv, "accuracy"));
  printf("stripes head on the random tiny model: CV accuracy %.3f\n", acc);
  ck_assert_msg(acc == 1.0, "stripes are told apart: %g", acc);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "features")), 1280);
  json_decref(j);

  /* Examples: list, image, delete. */
  ck_assert_uint_eq(get("/api/v1/heads/door/examples", &j), 200);
  json_t *ex = json_object_get(j, "examples");
  ck_assert_uint_eq(json_array_size(ex), 6);
  char first[128];
  g_strlcpy(first,
            json_string_value(json_object_get(json_array_get(ex, 0), "image")),
            sizeof first);
  json_decref(j);
  RouteResponse resp = { 0 };
  ck_assert_uint_eq(fixture_request(&fx, "GET", first, NULL, NULL, NULL, NULL,
                                    NULL, &resp),
                    200);
  ck_assert_str_eq(resp.content_type, "image/jpeg");
  RgbImage ri;
  ck_assert(image_decode_buffer((const guint8 *)resp.body, resp.body_len, &ri,
                                NULL));
  ck_assert_int_eq(ri.width, IMG);
  ck_assert_int_eq(ri.height, IMG);
  rgb_image_clear(&ri);
  route_response_clear(&resp);
  ck_assert_uint_eq(get("/api/v1/heads/door/examples/999.jpg", &j), 404);
  json_decref(j);
  ck_assert_uint_eq(get("/api/v1/heads/door/examples/1", &j), 404);
  json_decref(j);
  ck_assert_uint_eq(fixture_request(&fx, "DELETE",
                                    "/api/v1/heads/door/examples/6", NULL,
                                    NULL, NULL, NULL, NULL, NULL),
                    204);
  ck_assert_int_eq(example_count("closed"), 2);

  /* The files beside the config, private. */
  g_autofree char *dir = head_store_dir_for_config(fx.config_path);
  g_autofree char *hdir = g_build_filename(dir, "door", NULL);
  g_autofree char *hjson = g_build_filename(hdir, "head.json", NULL);
  g_autofree char *hfile = g_build_filename(hdir, "head.head", NULL);
  g_autofree char *e1 = g_build_filename(hdir, "examples", "1.jpg", NULL);
  g_autofree char *f1 = g_build_filename(hdir, "examples", "1.features",
                                         NULL);
  g_autofree char *e6 = g_build_filename(hdir, "examples", "6.jpg", NULL);
  ck_assert_int_eq(mode_of(dir), 0700);
  ck_assert_int_eq(mode_of(hdir), 0700);
  ck_assert_int_eq(mode_of(hjson), 0600);
  ck_assert_int_eq(mode_of(hfile), 0600);
  ck_assert_int_eq(mode_of(e1), 0600);
  ck_assert_int_eq(mode_of(f1), 0600);
  ck_assert(!g_file_test(e6, G_FILE_TEST_EXISTS));
  struct ss_head *h = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(head_load(hfile, &h, &err) == 0, "%s", err.message);
  ck_assert_str_eq(head_class_name(h, 1), "closed");
  ck_assert_int_eq(head_dim(h), 1280);
  head_free(h);

  /* A restart: everything comes back; a corrupt features file is
   * recomputed from its JPEG at the next training. */
  ck_assert(g_file_set_contents(f1, "garbage", -1, NULL));
  server_fixture_restart_heads(&fx);
  ck_assert_uint_eq(get("/api/v1/heads/door", &j), 200);
  ck_assert(json_is_true(json_object_get(j, "trained")));
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "training"), "iterations")) > 0,
                   1);
  json_decref(j);
  ck_assert_int_eq(example_count("open"), 3);
  ck_assert_int_eq(example_count("closed"), 2);
  ck_assert_uint_eq(fixture_request(&fx, "GET", first, NULL, NULL, NULL, NULL,
                                    NULL, NULL),
                    200);
  ck_assert_uint_eq(post_json("/api/v1/heads/door/train", "", &j), 200);
  cv = json_object_get(j, "cross_validation");
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "examples")), 5);
  json_decref(j);
  gchar *fdata = NULL;
  gsize flen = 0;
  ck_assert(g_file_get_contents(f1, &fdata, &flen, NULL));
  ck_assert(flen > 1280 * 4 && memcmp(fdata, "SSFT", 4) == 0);
  g_free(fdata);
  /* New examples after a restart get new ids. */
  img = stripes_png(1, 99);
  ck_assert_uint_eq(upload("door", "closed", img, &j), 201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "8");
  json_decref(j);
  g_bytes_unref(img);

  /* Delete: gone, files too, and after a restart. */
  ck_assert_uint_eq(fixture_request(&fx, "DELETE", "/api/v1/heads/door",
                                    NULL, NULL, NULL, NULL, NULL, NULL),
                    204);
  ck_assert_uint_eq(get("/api/v1/heads/door", &j), 404);
  json_decref(j);
  ck_assert(!g_file_test(hdir, G_FILE_TEST_EXISTS));
  server_fixture_restart_heads(&fx);
  ck_assert_uint_eq(get("/api/v1/heads", &j), 200);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "heads")), 0);
  json_decref(j);
}
END_TEST

START_TEST(test_example_from_stream)
{
  json_t *j = NULL;
  ck_assert_uint_eq(post_json("/api/v1/streams",
                              "{\"id\": \"cam\", \"name\": \"cam\", "
                              "\"uri\": \"test:\", \"max_fps\": 10}",
                              &j),
                    201);
  json_decref(j);
  create_door();
  json_t *p = fixture_wait_prediction(&fx, "cam", 60, NULL);
  ck_assert_msg(p != NULL, "no frame from the test stream");
  json_decref(p);
  ck_assert_uint_eq(post_json("/api/v1/heads/door/examples",
                              "{\"class\": \"open\", \"stream\": \"cam\"}",
                              &j),
                    201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "class")), "open");
  json_decref(j);
  RouteResponse resp = { 0 };
  ck_assert_uint_eq(fixture_request(&fx, "GET",
                                    "/api/v1/heads/door/examples/1.jpg", NULL,
                                    NULL, NULL, NULL, NULL, &resp),
                    200);
  RgbImage ri;
  ck_assert(image_decode_buffer((const guint8 *)resp.body, resp.body_len, &ri,
                                NULL));
  printf("example from the test stream: %dx%d JPEG, %zu bytes\n", ri.width,
         ri.height, (size_t)resp.body_len);
  ck_assert(ri.width >= 96 && ri.height >= 72);
  rgb_image_clear(&ri);
  route_response_clear(&resp);
  ck_assert_uint_eq(post_json("/api/v1/heads/door/examples",
                              "{\"class\": \"open\", \"stream\": \"nope\"}",
                              &j),
                    400);
  ck_assert_msg(strstr(error_message(j), "stream"), "%s", error_message(j));
  json_decref(j);
  ck_assert_uint_eq(post_json("/api/v1/heads/door/examples",
                              "{\"class\": \"ajar\", \"stream\": \"cam\"}",
                              &j),
                    400);
  json_decref(j);
  ck_assert_uint_eq(post_json("/api/v1/heads/door/examples",
                              "{\"class\": \"open\"}", &j),
                    400);
  json_decref(j);
}
END_TEST

/* Polls the stream's latest prediction until pred(j) holds (timeout_s). */
static json_t *
wait_for(const char *stream, gboolean (*pred)(json_t *), double timeout_s)
{
  char path[128];
  g_snprintf(path, sizeof path, "/api/v1/streams/%s/predictions/latest",
             stream);
  gint64 end = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  while (g_get_monotonic_time() < end) {
    json_t *j = NULL;
    if (get(path, &j) == 200) {
      json_t *p = json_object_get(j, "prediction");
      if (json_is_object(p) && pred(p)) {
        json_incref(p);
        json_decref(j);
        return p;
      }
    }
    json_decref(j);
    g_usleep(50000);
  }
  return NULL;
}

static gboolean
has_head(json_t *p)
{
  return json_object_get(p, "head") != NULL;
}

static gboolean
head_labels(json_t *p)
{
  json_t *c = json_array_get(json_object_get(p, "classes"), 0);
  const char *l = json_string_value(json_object_get(c, "label"));
  return has_head(p) && l && (!strcmp(l, "open") || !strcmp(l, "closed"));
}

static gboolean
no_head(json_t *p)
{
  return !has_head(p);
}

/* A stream with head: its predictions carry the head's classes; PATCH
 * labels "head" puts them in "classes"; PATCH head null removes them. */
START_TEST(test_stream_with_head)
{
  json_t *j = NULL;
  create_door();
  upload_stripes("door");
  /* A stream naming the head before it is trained: no head scores yet. */
  ck_assert_uint_eq(post_json("/api/v1/streams",
                              "{\"id\": \"cam\", \"name\": \"cam\", "
                              "\"uri\": \"test:\", \"max_fps\": 10, "
                              "\"head\": \"door\"}",
                              &j),
                    201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "head")), "door");
  ck_assert_str_eq(json_string_value(json_object_get(j, "labels")), "both");
  json_decref(j);
  json_t *p = wait_for("cam", no_head, 60);
  ck_assert_msg(p != NULL, "no prediction");
  json_decref(p);
  ck_assert_uint_eq(post_json("/api/v1/heads/door/train", "", &j), 200);
  json_decref(j);
  p = wait_for("cam", has_head, 60);
  ck_assert_msg(p != NULL, "no prediction with the head's classes");
  json_t *h = json_object_get(p, "head");
  ck_assert_str_eq(json_string_value(json_object_get(h, "id")), "door");
  json_t *hc = json_object_get(h, "classes");
  ck_assert_uint_eq(json_array_size(hc), 2);
  double sum = 0;
  for (int i = 0; i < 2; i++) {
    json_t *c = json_array_get(hc, (size_t)i);
    const char *l = json_string_value(json_object_get(c, "label"));
    int idx = (int)json_integer_value(json_object_get(c, "index"));
    ck_assert_str_eq(l, idx == 0 ? "open" : "closed");
    sum += json_real_value(json_object_get(c, "score"));
  }
  ck_assert_msg(fabs(sum - 1.0) < 1e-5, "head scores sum to %g", sum);
  /* ImageNet's classes beside them (labels both). */
  json_t *c0 = json_array_get(json_object_get(p, "classes"), 0);
  ck_assert_int_ge(json_integer_value(json_object_get(c0, "index")), 0);
  json_decref(p);
  /* The head's scores in /metrics. */
  RouteResponse mresp = { 0 };
  ck_assert_uint_eq(fixture_request(&fx, "GET", "/metrics", NULL, NULL, NULL,
                                    NULL, NULL, &mresp),
                    200);
  g_autofree char *mtext = g_strndup(mresp.body, mresp.body_len);
  route_response_clear(&mresp);
  ck_assert_msg(strstr(mtext, "streamsight_stream_head_score{stream=\"cam\","
                              "head=\"door\",class=\"open\"} "),
                "no head score in /metrics");

  RouteResponse resp = { 0 };
  const char *patch = "{\"labels\": \"head\"}";
  ck_assert_uint_eq(request("PATCH", "/api/v1/streams/cam",
                            "application/json", patch, strlen(patch), NULL,
                            0, &j, &resp),
                    200);
  route_response_clear(&resp);
  json_decref(j);
  p = wait_for("cam", head_labels, 60);
  ck_assert_msg(p != NULL, "labels head: classes are not the head's");
  json_decref(p);
  const char *bad[] = { "{\"labels\": \"x\"}", "{\"head\": \"a/b\"}",
                        "{\"head\": 3}" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert_msg(request("PATCH", "/api/v1/streams/cam", "application/json",
                          bad[i], strlen(bad[i]), NULL, 0, &j, NULL) == 400,
                  "%s accepted", bad[i]);
    json_decref(j);
  }
  patch = "{\"head\": null}";
  ck_assert_uint_eq(request("PATCH", "/api/v1/streams/cam",
                            "application/json", patch, strlen(patch), NULL,
                            0, &j, NULL),
                    200);
  json_decref(j);
  p = wait_for("cam", no_head, 60);
  ck_assert_msg(p != NULL, "the head stayed after PATCH head null");
  json_decref(p);
}
END_TEST

/* A head on the second model ("small", V1 0.25/64: 256 features) gets
 * that model's features, not the default model's. */
START_TEST(test_head_on_second_model)
{
  json_t *j = NULL;
  ck_assert_uint_eq(post_json("/api/v1/heads",
                              "{\"id\": \"door\", \"model\": \"small\", "
                              "\"classes\": [\"open\", \"closed\"]}",
                              &j),
                    201);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "small");
  json_decref(j);
  ck_assert_uint_eq(post_json("/api/v1/heads",
                              "{\"id\": \"d2\", \"model\": \"nope\", "
                              "\"classes\": [\"open\", \"closed\"]}",
                              &j),
                    400);
  json_decref(j);
  upload_stripes("door");
  ck_assert_uint_eq(post_json("/api/v1/heads/door/train", "", &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "features")), 256);
  ck_assert_str_eq(json_string_value(json_object_get(j, "model_name")),
                   model_name(engine_model(model_set_get(fx.models, 1)->engine)));
  json_decref(j);
}
END_TEST

/* ---- the dev images, through the API ---- */

START_TEST(test_animal_head_api)
{
  const char *data = tu_data_dir("the animal head needs the dev images");
  if (!data || !fx.routes)
    return;
  json_t *j = NULL;
  ck_assert_uint_eq(post_json("/api/v1/heads",
                              "{\"id\": \"animal\", \"classes\": "
                              "[\"animal\", \"other\"]}",
                              &j),
                    201);
  json_decref(j);
  g_autofree char *csv_path =
      g_build_filename(data, "images/dev/labels.csv", NULL);
  g_autofree char *csv = NULL;
  ck_assert(g_file_get_contents(csv_path, &csv, NULL, NULL));
  char **lines = g_strsplit(csv, "\n", -1);
  int n = 0;
  gint64 t0 = g_get_monotonic_time();
  for (int i = 1; lines[i]; i++) {
    char **f = g_strsplit(lines[i], ",", 4);
    if (g_strv_length(f) >= 3) {
      g_autofree char *p = g_build_filename(data, "images/dev", f[0], NULL);
      gchar *img = NULL;
      gsize len;
      ck_assert(g_file_get_contents(p, &img, &len, NULL));
      const char *cls = atoi(f[2]) <= ANIMAL_LAST_CLASS ? "animal" : "other";
      RouteParam q[] = { { "class", cls } };
      ck_assert_msg(request("POST", "/api/v1/heads/animal/examples",
                            "image/jpeg", img, len, q, 1, &j, NULL) == 201,
                    "%s: %s", f[0], j ? error_message(j) : "");
      json_decref(j);
      g_free(img);
      n++;
    }
    g_strfreev(f);
  }
  g_strfreev(lines);
  ck_assert_int_eq(n, 200);
  double add_s = (double)(g_get_monotonic_time() - t0) / 1e6;
  ck_assert_uint_eq(post_json("/api/v1/heads/animal/train", "", &j), 200);
  json_t *cv = json_object_get(j, "cross_validation");
  double acc = json_real_value(json_object_get(cv, "accuracy"));
  printf("animal vs. other through the API (200 dev images, %.1f s to add): "
         "5-fold CV accuracy %.1f%%, animal %.1f%%, other %.1f%%, trained in "
         "%.1f ms\n",
         add_s, 100 * acc,
         100 * json_real_value(json_object_get(
                   json_array_get(json_object_get(cv, "classes"), 0),
                   "accuracy")),
         100 * json_real_value(json_object_get(
                   json_array_get(json_object_get(cv, "classes"), 1),
                   "accuracy")),
         json_real_value(json_object_get(j, "train_ms")));
  ck_assert_int_eq(json_integer_value(json_object_get(cv, "folds")), 5);
  ck_assert_msg(acc >= ANIMAL_MIN_CV_ACCURACY, "CV accuracy %g", acc);
  json_decref(j);

  /* The head file the server wrote, used by streamsight classify. */
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  char model[1024];
  if (!exe || !tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite",
                            model, sizeof model))
    return;
  g_autofree char *dir = head_store_dir_for_config(fx.config_path);
  g_autofree char *hfile = g_build_filename(dir, "animal", "head.head", NULL);
  g_autofree char *tench =
      g_build_filename(data, "images/dev/n01440764_tench.JPEG", NULL);
  g_autofree char *img2 = g_build_filename(
      data, "images/dev/n04009552_projector.JPEG", NULL);
  const char *argv[] = { exe, "classify", "--model", model, "--head", hfile,
                         "--json", tench, img2, NULL };
  char *out = NULL, *errs = NULL;
  int ws = 0;
  ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
                         NULL, &out, &errs, &ws, NULL));
  ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s", errs);
  char **ol = g_strsplit(out, "\n", -1);
  const char *want[] = { "animal", "other" };
  for (int i = 0; i < 2; i++) {
    json_error_t je;
    json_t *o = json_loads(ol[i], 0, &je);
    ck_assert_msg(o, "%s", ol[i]);
    json_t *best = json_array_get(json_object_get(o, "predictions"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(best, "label")),
                     want[i]);
    json_decref(o);
  }
  printf("classify --head with the server's head file:\n%s", out);
  g_strfreev(ol);
  g_free(out);
  g_free(errs);
}
END_TEST

static Suite *
heads_suite(void)
{
  Suite *s = suite_create("routes-heads");
  TCase *tc = tcase_create("lifecycle");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_create_and_errors);
  tcase_add_test(tc, test_lifecycle_uploads_restart);
  tcase_add_test(tc, test_example_from_stream);
  tcase_add_test(tc, test_stream_with_head);
  suite_add_tcase(s, tc);
  tc = tcase_create("models");
  tcase_add_checked_fixture(tc, setup_two_models, teardown);
  tcase_add_test(tc, test_head_on_second_model);
  suite_add_tcase(s, tc);
  tc = tcase_create("dev-images");
  tcase_add_checked_fixture(tc, setup_real, teardown);
  tcase_add_test(tc, test_animal_head_api);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(heads_suite());
}
