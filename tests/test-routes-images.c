/* Tests of server/routes*.c: the image routes: a stream's snapshot.jpg
 * (sizes, ETag, ?roi=1) and POST /api/v1/classify (raw and multipart
 * uploads, ?top_k=, ?roi=, bad images), file:// sources outside media_dirs,
 * and the real model on real photos when STREAMSIGHT_TEST_DATA has them.
 * Pure functions on a real registry (routes-fixture.h). */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gst/video/video.h>

#include "api-json.h"
#include "image-classify.h"
#include "image-decode.h"
#include "prom-check.h"
#include "routes-fixture.h"
#include "sse-parse.h"
#include "testutil.h"

/* ---- snapshot ---- */

static gboolean
jpeg_markers_ok(const guint8 *d, gsize n)
{
  return n > 4 && d[0] == 0xff && d[1] == 0xd8 && d[n - 2] == 0xff &&
         d[n - 1] == 0xd9;
}

START_TEST(test_snapshot)
{
  char *id = create("{\"name\": \"snap\", \"uri\": \"test:\", \"max_fps\": "
                    "5}");
  json_decref(wait_prediction(id));
  wait_running(id);
  StreamInfo info;
  ck_assert(registry_get(fx.registry, id, &info, NULL));
  ck_assert_int_gt(info.width, 0);
  char *path = g_strdup_printf("/api/v1/streams/%s/snapshot.jpg", id);
  RouteResponse resp;
  ck_assert_uint_eq(fixture_request(&fx, "GET", path, NULL, NULL, NULL, NULL,
                                    NULL, &resp), 200);
  ck_assert_str_eq(resp.content_type, "image/jpeg");
  ck_assert(jpeg_markers_ok((guint8 *)resp.body, resp.body_len));
  RgbImage img;
  GError *e = NULL;
  ck_assert_msg(image_decode_buffer((guint8 *)resp.body, resp.body_len, &img,
                                    &e), "decode: %s", e ? e->message : "");
  ck_assert_int_eq(img.width, info.width);
  ck_assert_int_eq(img.height, info.height);
  rgb_image_clear(&img);
  route_response_clear(&resp);

  /* Scaled down. */
  ck_assert_uint_eq(fixture_request(&fx, "GET", path, "width", "64", NULL,
                                    NULL, NULL, &resp), 200);
  ck_assert(image_decode_buffer((guint8 *)resp.body, resp.body_len, &img,
                                NULL));
  ck_assert_int_eq(img.width, 64);
  ck_assert_int_eq(img.height, (info.height * 64 / info.width) & ~1);
  ck_assert_str_eq(route_response_header(&resp, "X-Image-Width"), "64");
  rgb_image_clear(&img);
  route_response_clear(&resp);
  stream_info_clear(&info);

  /* ETag: the same frame again is 304 without a body; another ETag, or a
   * new frame, is 200 with the image. Frames change at 5 fps, so a few
   * tries see the same frame twice. */
  gboolean saw_304 = FALSE;
  for (int tries = 0; tries < 20 && !saw_304; tries++) {
    ck_assert_uint_eq(fixture_request(&fx, "GET", path, NULL, NULL, NULL,
                                      NULL, NULL, &resp), 200);
    char *etag = g_strdup(route_response_header(&resp, "ETag"));
    ck_assert_msg(etag && etag[0] == '"' && strlen(etag) == 18, "ETag %s",
                  etag ? etag : "(none)");
    ck_assert_str_eq(route_response_header(&resp, "Cache-Control"),
                     "private, no-cache");
    route_response_clear(&resp);
    RouteRequest rq = { .method = "GET", .path = path,
                        .if_none_match = etag };
    guint st = fixture_request_full(&fx, &rq, NULL, &resp);
    const char *again = route_response_header(&resp, "ETag");
    ck_assert_ptr_nonnull(again);
    if (st == 304) {
      ck_assert_str_eq(again, etag);
      ck_assert_uint_eq(resp.body_len, 0);
      saw_304 = TRUE;
    } else {
      ck_assert_uint_eq(st, 200);
      ck_assert_str_ne(again, etag); /* a new frame */
      ck_assert(jpeg_markers_ok((guint8 *)resp.body, resp.body_len));
    }
    route_response_clear(&resp);
    /* Another ETag never matches. */
    RouteRequest other = { .method = "GET", .path = path,
                           .if_none_match = "\"0000000000000000\", W/\"x\"" };
    ck_assert_uint_eq(fixture_request_full(&fx, &other, NULL, &resp), 200);
    ck_assert(jpeg_markers_ok((guint8 *)resp.body, resp.body_len));
    route_response_clear(&resp);
    g_free(etag);
  }
  ck_assert_msg(saw_304, "no 304 in 20 tries");

  json_t *j = NULL;
  const char *bad[] = { "0", "15", "7681", "abc", "" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    ck_assert_msg(fixture_request(&fx, "GET", path, "width", bad[i], NULL,
                                  NULL, &j, NULL) == 400, "width=%s", bad[i]);
    ck_assert(strstr(check_error(j, "invalid_argument"), "width:") != NULL);
    json_decref(j);
  }
  ck_assert_uint_eq(req("GET", "/api/v1/streams/nope/snapshot.jpg", NULL,
                        &j), 404);
  check_error(j, "not_found");
  json_decref(j);
  /* No frame yet: 503 with Retry-After. */
  char *off = create("{\"name\": \"off\", \"uri\": \"test:\", \"enabled\": "
                     "false}");
  char *opath = g_strdup_printf("/api/v1/streams/%s/snapshot.jpg", off);
  ck_assert_uint_eq(fixture_request(&fx, "GET", opath, NULL, NULL, NULL,
                                    NULL, &j, &resp), 503);
  ck_assert(strstr(check_error(j, "unavailable"), "no frame") != NULL);
  ck_assert_str_eq(route_response_header(&resp, "Retry-After"), "1");
  route_response_clear(&resp);
  json_decref(j);
  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  ck_assert_int_ge(json_integer_value(json_object_get(
                       json_object_get(j, "snapshots"), "encodes")), 1);
  json_decref(j);
  g_free(opath);
  g_free(off);
  g_free(path);
  g_free(id);
}
END_TEST

/* ---- classify ---- */

static void
check_classes(json_t *j, int k, int n_classes)
{
  json_t *classes = json_object_get(j, "classes");
  ck_assert_uint_eq(json_array_size(classes), (size_t)k);
  double prev = 2;
  for (int i = 0; i < k; i++) {
    json_t *c = json_array_get(classes, i);
    json_int_t idx = json_integer_value(json_object_get(c, "index"));
    double s = json_number_value(json_object_get(c, "score"));
    ck_assert_msg(idx >= 0 && idx < n_classes && s >= 0 && s <= prev,
                  "class %d: index %lld score %g", i, (long long)idx, s);
    prev = s;
  }
}

START_TEST(test_classify)
{
  gsize png_len = 0, jpg_len = 0;
  guint8 *png = fixture_make_image("image/png", 160, 120, &png_len);
  guint8 *jpg = fixture_make_image("image/jpeg", 80, 60, &jpg_len);
  json_t *j = NULL;

  /* Raw PNG, default top 5. */
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, png,
                             png_len, "image/png", NULL, &j, NULL), 200);
  check_classes(j, 5, 1000);
  json_t *img = json_object_get(j, "image");
  ck_assert_int_eq(json_integer_value(json_object_get(img, "width")), 160);
  ck_assert_int_eq(json_integer_value(json_object_get(img, "height")), 120);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "input"), "width")), 96);
  ck_assert(json_number_value(json_object_get(json_object_get(j, "latency_ms"),
                                              "infer")) > 0);
  /* The same as classifying it directly. */
  {
    ImageClassifier *c = image_classifier_new(fx.engine, NULL);
    RgbImage ri;
    ck_assert(image_decode_buffer(png, png_len, &ri, NULL));
    struct prediction top[5];
    ck_assert_int_eq(image_classifier_run(c, &ri, IMAGE_CLASSIFY_DEFAULT_CROP,
                                          5, top), 5);
    for (int i = 0; i < 5; i++)
      ck_assert_int_eq(json_integer_value(json_object_get(
                           json_array_get(json_object_get(j, "classes"), i),
                           "index")), top[i].index);
    rgb_image_clear(&ri);
    image_classifier_free(c);
  }
  json_decref(j);

  /* JPEG, no content type, top_k=2. */
  RouteParam k2[] = { { "top_k", "2" } };
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", k2, 1, jpg, jpg_len,
                             NULL, NULL, &j, NULL), 200);
  check_classes(j, 2, 1000);
  json_decref(j);

  /* What `curl --data-binary @photo.jpg` sends: the form type, and the image
   * (recognised by its first bytes). */
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, jpg, jpg_len,
                             "application/x-www-form-urlencoded", NULL, &j,
                             NULL), 200);
  check_classes(j, 5, 1000);
  json_decref(j);

  /* multipart/form-data: a text field first, then the file. */
  GString *mp = g_string_new(NULL);
  g_string_append(mp, "--XyZ\r\nContent-Disposition: form-data; "
                  "name=\"note\"\r\n\r\nhello\r\n--XyZ\r\n"
                  "Content-Disposition: form-data; name=\"image\"; "
                  "filename=\"g.png\"\r\nContent-Type: image/png\r\n\r\n");
  g_string_append_len(mp, (const char *)png, (gssize)png_len);
  g_string_append(mp, "\r\n--XyZ--\r\n");
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, mp->str,
                             mp->len, "multipart/form-data; boundary=XyZ",
                             NULL, &j, NULL), 200);
  check_classes(j, 5, 1000);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(j, "image"), "width")), 160);
  json_decref(j);
  /* Quoted boundary, LF line ends, no filename but an image part. */
  GString *mp2 = g_string_new("preamble\n--b 1\nContent-Type: "
                              "image/png\n\n");
  g_string_append_len(mp2, (const char *)png, (gssize)png_len);
  g_string_append(mp2, "\n--b 1--\n");
  ck_assert_uint_eq(req_full("POST", "/api/v1/classify", NULL, 0, mp2->str,
                             mp2->len, "multipart/form-data; boundary=\"b 1\"",
                             NULL, &j, NULL), 200);
  json_decref(j);

  /* Errors. */
  typedef struct {
    const char *body;
    gsize len;
    const char *ctype;
    const char *top_k;
    guint status;
    const char *code;
    const char *msg;
  } BadClassify;
  const BadClassify bad[] = {
    { "", 0, "image/png", NULL, 400, "invalid_image", "empty" },
    { "hello, not an image at all", G_MAXSIZE, "image/jpeg", NULL, 400,
      "invalid_image", "" },
    { (const char *)png, png_len / 2, "image/png", NULL, 400,
      "invalid_image", "" },
    { "{}", G_MAXSIZE, "application/json", NULL, 415, "unsupported_media_type",
      "multipart/form-data" },
    { "x", G_MAXSIZE, "text/plain", NULL, 415, "unsupported_media_type", "" },
    { "image=x.jpg", G_MAXSIZE, "application/x-www-form-urlencoded", NULL, 415,
      "unsupported_media_type", "multipart/form-data" },
    { (const char *)png, png_len, "image/png", "0", 400, "invalid_argument",
      "top_k: must be an integer 1..10" },
    { (const char *)png, png_len, "image/png", "11", 400, "invalid_argument",
      "top_k:" },
    { "--a\r\n\r\nx\r\n--a--\r\n", G_MAXSIZE, "multipart/form-data", NULL, 400,
      "invalid_argument", "boundary" },
    { "--a\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nx\r\n"
      "--a--\r\n", G_MAXSIZE, "multipart/form-data; boundary=a", NULL, 400,
      "invalid_argument", "no file part" },
    { "--a\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nxx",
      G_MAXSIZE, "multipart/form-data; boundary=a", NULL, 400, "invalid_argument",
      "truncated" },
    { "nothing", G_MAXSIZE, "multipart/form-data; boundary=a", NULL, 400,
      "invalid_argument", "no boundary delimiter" },
    { "--a\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\n"
      "garbage\r\n--a--\r\n", G_MAXSIZE, "multipart/form-data; boundary=a", NULL,
      400, "invalid_image", "" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    RouteParam q[] = { { "top_k", bad[i].top_k } };
    RouteResponse resp;
    gsize len = bad[i].len == G_MAXSIZE ? strlen(bad[i].body) : bad[i].len;
    guint st = req_full("POST", "/api/v1/classify", q, bad[i].top_k ? 1 : 0,
                        bad[i].body, len, bad[i].ctype, NULL, &j, &resp);
    ck_assert_msg(st == bad[i].status, "case %zu: %u", i, st);
    const char *msg = check_error(j, bad[i].code);
    ck_assert_msg(strstr(msg, bad[i].msg) != NULL, "case %zu: '%s' lacks "
                  "'%s'", i, msg, bad[i].msg);
    json_decref(j);
    route_response_clear(&resp);
  }
  RouteRequest big = { .method = "POST", .path = "/api/v1/classify",
                       .content_type = "image/png", .body_too_large = TRUE };
  ck_assert_uint_eq(fixture_request_full(&fx, &big, &j, NULL), 413);
  check_error(j, "payload_too_large");
  json_decref(j);
  ck_assert_uint_eq(req("GET", "/api/v1/classify", NULL, &j), 405);
  json_decref(j);

  ck_assert_uint_eq(req("GET", "/api/v1/stats", NULL, &j), 200);
  json_t *cl = json_object_get(j, "classify");
  ck_assert_int_eq(json_integer_value(json_object_get(cl, "requests")), 5);
  ck_assert_int_ge(json_integer_value(json_object_get(cl, "bad_images")), 3);
  ck_assert_int_le(json_integer_value(json_object_get(cl, "classifiers")), 2);
  json_decref(j);
  g_string_free(mp, TRUE);
  g_string_free(mp2, TRUE);
  g_free(png);
  g_free(jpg);
}
END_TEST

/* media_dirs: POST of a file:// or v4l2 path outside is 403 with one
 * message for a missing file, a directory, a readable file, a ".." or a
 * symlink escape; inside (and /dev/videoN) is 201. */
START_TEST(test_media_dirs_forbidden)
{
  g_autofree char *root = g_strdup_printf("%s/md-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(root));
  g_autofree char *media = g_build_filename(root, "media", NULL);
  g_autofree char *out = g_build_filename(root, "out", NULL);
  g_autofree char *out_dir = g_build_filename(out, "dir", NULL);
  g_autofree char *text = g_build_filename(out, "secret.txt", NULL);
  g_autofree char *clip = g_build_filename(media, "clip.mp4", NULL);
  g_autofree char *link = g_build_filename(media, "link.mp4", NULL);
  ck_assert_int_eq(g_mkdir_with_parents(media, 0700), 0);
  ck_assert_int_eq(g_mkdir_with_parents(out_dir, 0700), 0);
  ck_assert(g_file_set_contents(text, "hello", -1, NULL));
  ck_assert(g_file_set_contents(clip, "not a clip", -1, NULL));
  ck_assert_int_eq(symlink(text, link), 0);
  const char *const dirs[] = { media, NULL };
  ServerFixtureOptions o = {
    .threads = 1, .max_streams = 8, .max_body_bytes = BODY_LIMIT,
    .media_dirs = dirs,
  };
  server_fixture_init_opts(&fx, &o);

  g_autofree char *u_missing = g_strdup_printf("file://%s/missing.mp4", out);
  g_autofree char *u_dir = g_strdup_printf("file://%s", out_dir);
  g_autofree char *u_text = g_strdup_printf("file://%s", text);
  g_autofree char *u_dotdot =
      g_strdup_printf("file://%s/../out/secret.txt", media);
  g_autofree char *u_link = g_strdup_printf("file://%s", link);
  const char *refused[] = { u_missing, u_dir, u_text, u_dotdot, u_link,
                            "file:///etc/passwd", "v4l2:///dev/null" };
  g_autofree char *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
    json_t *j = NULL;
    g_autofree char *body = g_strdup_printf(
        "{\"name\": \"n%u\", \"uri\": \"%s\"}", i, refused[i]);
    ck_assert_uint_eq(req("POST", "/api/v1/streams", body, &j), 403);
    const char *msg = check_error(j, "forbidden");
    ck_assert_msg(strstr(msg, "media_dirs") && !strstr(msg, root), "%s",
                  msg);
    if (i < 6) { /* the file:// ones: one message */
      if (!first)
        first = g_strdup(msg);
      ck_assert_msg(strcmp(msg, first) == 0, "%s: '%s' vs '%s'", refused[i],
                    msg, first);
    }
    json_decref(j);
  }
  ck_assert_uint_eq(registry_count(fx.registry), 0);

  g_autofree char *inside = g_strdup_printf(
      "{\"name\": \"clip\", \"uri\": \"file://%s\", \"enabled\": false}",
      clip);
  g_free(create(inside));
  g_free(create("{\"name\": \"cam\", \"uri\": \"v4l2:///dev/video0\", "
                "\"enabled\": false}"));
  ck_assert_uint_eq(registry_count(fx.registry), 2);
  server_fixture_clear(&fx);
}
END_TEST

/* With the real MobileNetV2 1.0/224 and labels (STREAMSIGHT_TEST_DATA):
 * real photos get the label a person would give them. */
START_TEST(test_classify_real_photos)
{
  char model[1024];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model))
    return;
  ServerFixtureOptions o = {
    .threads = 1, .max_streams = 2, .max_body_bytes = 16u << 20,
    .real_model = TRUE,
  };
  server_fixture_init_opts(&fx, &o);
  static const struct {
    const char *file;
    int index;
    const char *label;
  } photos[] = {
    { "images/photos/hot_dog.jpg", 934, "hotdog" },
    { "images/photos/grace_hopper.jpg", 652, "military uniform" },
    { "images/photos/parrot.jpg", 88, "macaw" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(photos); i++) {
    char path[1024];
    if (!tu_data_path(photos[i].file, path, sizeof path))
      continue;
    char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &data, &len, NULL));
    json_t *j = NULL;
    RouteParam q[] = { { "top_k", "3" } };
    ck_assert_uint_eq(req_full("POST", "/api/v1/classify", q, 1, data, len,
                               "image/jpeg", NULL, &j, NULL), 200);
    json_t *top = json_array_get(json_object_get(j, "classes"), 0);
    printf("classify %s: %s (%.3f)\n", photos[i].file,
           json_string_value(json_object_get(top, "label")),
           json_number_value(json_object_get(top, "score")));
    ck_assert_int_eq(json_integer_value(json_object_get(top, "index")),
                     photos[i].index);
    /* Label files differ in synonyms ("hotdog, hot dog, red hot"). */
    ck_assert(g_str_has_prefix(json_string_value(json_object_get(top,
                                                                 "label")),
                               photos[i].label));
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                     "mobilenet_v2_1.0_224_quant");
    json_decref(j);
    g_free(data);
  }
  server_fixture_clear(&fx);
}
END_TEST

static Suite *
routes_images_suite(void)
{
  Suite *s = suite_create("routes-images");
  TCase *tc;

  tc = tcase_create("images");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_snapshot);
  tcase_add_test(tc, test_classify);
  suite_add_tcase(s, tc);

  tc = tcase_create("media-dirs");
  tcase_add_test(tc, test_media_dirs_forbidden);
  suite_add_tcase(s, tc);

  tc = tcase_create("real-model");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_classify_real_photos);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(routes_images_suite());
}
