/* streamsight — alert rules as JSON (see alert-config.h). */
#include "alert-config.h"

#include "json-util.h"

static const char *const rule_keys[] = {
  "class", "min_score", "min_duration_s", "clear_after_s", NULL,
};

static gboolean
invalid(GError **error, const char *prefix, const char *what)
{
  g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID, "%salerts%s",
              prefix, what);
  return FALSE;
}

gboolean
alert_config_from_json(json_t *v, const char *prefix, AlertRule **out,
                       guint *n, GError **error)
{
  if (!v || json_is_null(v)) {
    *out = NULL;
    *n = 0;
    return TRUE;
  }
  if (!json_is_array(v))
    return invalid(error, prefix, ": must be an array of {class, min_score, "
                   "min_duration_s, clear_after_s}");
  gsize count = json_array_size(v);
  if (count > ALERT_RULES_MAX) {
    char *m = g_strdup_printf(": at most %d rules per stream (%zu given)",
                              ALERT_RULES_MAX, count);
    invalid(error, prefix, m);
    g_free(m);
    return FALSE;
  }
  AlertRule *rules = count ? g_new0(AlertRule, count) : NULL;
  for (gsize i = 0; i < count; i++)
    alert_rule_init(&rules[i]);
  for (gsize i = 0; i < count; i++) {
    json_t *o = json_array_get(v, i);
    char *p = g_strdup_printf("%salerts[%zu].", prefix, i);
    AlertRule *r = &rules[i];
    gboolean present = FALSE;
    gboolean ok = json_is_object(o);
    if (!ok) {
      char *m = g_strdup_printf("[%zu]: must be an object", i);
      invalid(error, prefix, m);
      g_free(m);
    }
    ok = ok && json_util_check_keys(o, p, rule_keys, error) &&
         json_util_get_string(o, p, "class", ALERT_CLASS_MAX, &r->class_name,
                              &present, error) &&
         json_util_get_number(o, p, "min_score", &r->min_score, NULL, error) &&
         json_util_get_number(o, p, "min_duration_s", &r->min_duration_s,
                              NULL, error) &&
         json_util_get_number(o, p, "clear_after_s", &r->clear_after_s, NULL,
                              error);
    if (ok && !present) {
      g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                  "%sclass: required (a label of the model or a class of "
                  "the stream's head)", p);
      ok = FALSE;
    }
    GError *e = NULL;
    if (ok && !alert_rule_validate(r, p, &e)) {
      g_set_error_literal(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                          e->message);
      g_error_free(e);
      ok = FALSE;
    }
    for (gsize j = 0; ok && j < i; j++) {
      if (g_strcmp0(rules[j].class_name, r->class_name) == 0) {
        g_set_error(error, JSON_UTIL_ERROR, JSON_UTIL_ERROR_INVALID,
                    "%sclass: already has a rule (alerts[%zu]): one rule "
                    "per class", p, j);
        ok = FALSE;
      }
    }
    g_free(p);
    if (!ok) {
      alert_rules_free(rules, (guint)count);
      return FALSE;
    }
  }
  *out = rules;
  *n = (guint)count;
  return TRUE;
}

json_t *
alert_config_to_json(const AlertRule *rules, guint n)
{
  json_t *a = json_array();
  for (guint i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "class", json_string(rules[i].class_name));
    json_object_set_new(o, "min_score", json_real(rules[i].min_score));
    json_object_set_new(o, "min_duration_s",
                        json_real(rules[i].min_duration_s));
    json_object_set_new(o, "clear_after_s", json_real(rules[i].clear_after_s));
    json_array_append_new(a, o);
  }
  return a;
}
