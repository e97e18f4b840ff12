#include "metrics.h"

#include <math.h>

static const char *const type_names[] = {
  [METRICS_COUNTER] = "counter",
  [METRICS_GAUGE] = "gauge",
  [METRICS_HISTOGRAM] = "histogram",
};

void
metrics_family(GString *out, const char *name, MetricsType type,
               const char *help)
{
  g_string_append_printf(out, "# HELP %s ", name);
  /* HELP escapes backslash and newline only. */
  for (const char *p = help; *p; p++) {
    if (*p == '\\')
      g_string_append(out, "\\\\");
    else if (*p == '\n')
      g_string_append(out, "\\n");
    else
      g_string_append_c(out, *p);
  }
  g_string_append_printf(out, "\n# TYPE %s %s\n", name, type_names[type]);
}

/* Appends v escaped as a label value (backslash, double quote, newline). */
static void
metrics_escape_label(GString *out, const char *v)
{
  for (const char *p = v; *p; p++) {
    if (*p == '\\')
      g_string_append(out, "\\\\");
    else if (*p == '"')
      g_string_append(out, "\\\"");
    else if (*p == '\n')
      g_string_append(out, "\\n");
    else
      g_string_append_c(out, *p);
  }
}

static void
append_labels(GString *out, const char *const *labels, const char *le)
{
  gboolean any = FALSE;
  for (const char *const *l = labels; l && l[0]; l += 2) {
    if (!l[1])
      continue;
    g_string_append(out, any ? "," : "{");
    g_string_append_printf(out, "%s=\"", l[0]);
    metrics_escape_label(out, l[1]);
    g_string_append_c(out, '"');
    any = TRUE;
  }
  if (le) {
    g_string_append(out, any ? "," : "{");
    g_string_append_printf(out, "le=\"%s\"", le);
    any = TRUE;
  }
  if (any)
    g_string_append_c(out, '}');
}

static void
append_double(GString *out, double v)
{
  if (isnan(v)) {
    g_string_append(out, "NaN");
  } else if (isinf(v)) {
    g_string_append(out, v > 0 ? "+Inf" : "-Inf");
  } else {
    /* 15 significant digits: exact for counts up to 10^15, and no float
     * noise (0.1 stays 0.1). */
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append(out, g_ascii_formatd(buf, sizeof buf, "%.15g", v));
  }
}

void
metrics_sample(GString *out, const char *name, const char *const *labels,
               double value)
{
  g_string_append(out, name);
  append_labels(out, labels, NULL);
  g_string_append_c(out, ' ');
  append_double(out, value);
  g_string_append_c(out, '\n');
}

void
metrics_sample_u64(GString *out, const char *name, const char *const *labels,
                   guint64 value)
{
  g_string_append(out, name);
  append_labels(out, labels, NULL);
  g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", value);
}

void
metrics_histogram(GString *out, const char *name, const char *const *labels,
                  const double *bounds, const guint64 *cumulative,
                  guint n_bounds, guint64 count, double sum)
{
  char *bucket = g_strdup_printf("%s_bucket", name);
  for (guint i = 0; i < n_bounds; i++) {
    char le[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(le, sizeof le, "%.15g", bounds[i]);
    g_string_append(out, bucket);
    append_labels(out, labels, le);
    g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", cumulative[i]);
  }
  g_string_append(out, bucket);
  append_labels(out, labels, "+Inf");
  g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", count);
  g_free(bucket);
  char *s = g_strdup_printf("%s_sum", name);
  metrics_sample(out, s, labels, sum);
  g_free(s);
  s = g_strdup_printf("%s_count", name);
  metrics_sample_u64(out, s, labels, count);
  g_free(s);
}
