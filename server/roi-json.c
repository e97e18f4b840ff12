/* streamsight — regions of interest in JSON (roi-json.h). */
#include "roi-json.h"

#include "json-util.h"

static const char *const roi_keys[] = { "x", "y", "w", "h", NULL };

gboolean
roi_json_parse(json_t *v, const char *prefix, StreamRoi *out, GError **error)
{
  if (!v || json_is_null(v)) {
    *out = STREAM_ROI_FULL;
    return TRUE;
  }
  char *field = g_strdup_printf("%sroi", prefix);
  char *inner = g_strdup_printf("%s.", field);
  gboolean ok = FALSE;
  if (!json_is_object(v)) {
    g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                "%s: expected an object {\"x\", \"y\", \"w\", \"h\"} in "
                "fractions of the frame", field);
    goto out;
  }
  if (!json_util_check_keys(v, inner, roi_keys, error))
    goto out;
  double f[4];
  for (int i = 0; i < 4; i++) {
    gboolean present = FALSE;
    if (!json_util_get_number(v, inner, roi_keys[i], &f[i], &present, error))
      goto out;
    if (!present) {
      g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                  "%s%s: required", inner, roi_keys[i]);
      goto out;
    }
  }
  StreamRoi r = { f[0], f[1], f[2], f[3] };
  GError *e = NULL;
  if (!stream_roi_validate(&r, field, &e)) {
    g_set_error_literal(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                        e->message);
    g_error_free(e);
    goto out;
  }
  *out = r;
  ok = TRUE;
out:
  g_free(inner);
  g_free(field);
  return ok;
}

json_t *
roi_json_new(const StreamRoi *r)
{
  json_t *o = json_object();
  json_object_set_new(o, "x", json_real(r->x));
  json_object_set_new(o, "y", json_real(r->y));
  json_object_set_new(o, "w", json_real(r->w));
  json_object_set_new(o, "h", json_real(r->h));
  return o;
}
