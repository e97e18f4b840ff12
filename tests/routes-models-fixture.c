/* streamsight — what the test-routes-models*.c files share
 * (routes-models-fixture.h). */
#include "routes-models-fixture.h"

#include <check.h>
#include <math.h>
#include <string.h>

#include "image-fixtures.h"

ServerFixture fx;

void
setup(void)
{
  server_fixture_init(&fx, 1, 4, NULL, BODY_LIMIT);
}

void
teardown(void)
{
  server_fixture_clear(&fx);
}

/* A gradient with some texture, w x h RGB, packed. */
guint8 *
pattern(int w, int h)
{
  guint8 *px = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p = px + ((gsize)y * w + x) * 3;
      p[0] = (guint8)(x * 255 / (w - 1));
      p[1] = (guint8)(y * 255 / (h - 1));
      p[2] = (guint8)(((x / 7) ^ (y / 5)) * 37);
    }
  return px;
}

/* A lossless PNG of the sub-rectangle (x0, y0, w, h) of px (width pw). */
GBytes *
png_of(const guint8 *px, int pw, int x0, int y0, int w, int h)
{
  guint8 *rows = g_malloc((gsize)w * h * 3);
  for (int y = 0; y < h; y++)
    memcpy(rows + (gsize)y * w * 3, px + ((gsize)(y0 + y) * pw + x0) * 3,
           (gsize)w * 3);
  GBytes *b = fix_png_encode(w, h, 8, 2, rows, (gsize)w * 3, NULL, 0, FALSE);
  g_free(rows);
  return b;
}

guint
post(const char *path, const RouteParam *q, guint nq, GBytes *img,
     const char *ct, json_t **j)
{
  gsize len = 0;
  const void *data = img ? g_bytes_get_data(img, &len) : NULL;
  RouteRequest r = { .method = "POST", .path = path, .query = q,
                     .n_query = nq, .content_type = ct, .body = data,
                     .body_len = len };
  return fixture_request_full(&fx, &r, j, NULL);
}

/* The features of an answer, checked for shape and unit norm. */
float *
features_of(json_t *j, int want_dim)
{
  ck_assert_int_eq(json_integer_value(json_object_get(j, "dim")), want_dim);
  json_t *arr = json_object_get(j, "features");
  ck_assert_uint_eq(json_array_size(arr), (size_t)want_dim);
  float *f = g_new(float, want_dim);
  double norm = 0;
  for (int i = 0; i < want_dim; i++) {
    f[i] = (float)json_number_value(json_array_get(arr, (size_t)i));
    norm += (double)f[i] * f[i];
  }
  ck_assert_msg(fabs(sqrt(norm) - 1.0) < 1e-5, "|f| = %.8f", sqrt(norm));
  return f;
}

double
max_diff(const float *a, const float *b, int n)
{
  double d = 0;
  for (int i = 0; i < n; i++)
    d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

guint
req_json(const char *method, const char *path, const char *body, json_t **j)
{
  return fixture_request(&fx, method, path, NULL, NULL, body, NULL, j, NULL);
}

const char *
error_message(json_t *j)
{
  return json_string_value(
      json_object_get(json_object_get(j, "error"), "message"));
}
