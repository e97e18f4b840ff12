/* streamsight — writing the Prometheus text exposition format 0.0.4
 * (GET /metrics): families with HELP and TYPE, samples with escaped label
 * values, histograms with cumulative le buckets, _sum and _count.
 *
 * Callers keep each family's samples together right after its
 * metrics_family() line, as the format requires. Metric and label names
 * are the caller's constants and must match [a-zA-Z_:][a-zA-Z0-9_:]* and
 * [a-zA-Z_][a-zA-Z0-9_]*; label values may be anything (escaped here).
 * Pure functions; any thread.
 */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include <glib.h>

G_BEGIN_DECLS

/* The Content-Type of the exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum {
  METRICS_COUNTER,   /* name must end in _total */
  METRICS_GAUGE,
  METRICS_HISTOGRAM,
} MetricsType;

/* "# HELP name help" and "# TYPE name type". help is escaped. */
void metrics_family(GString *out, const char *name, MetricsType type,
                    const char *help);

/* One sample: name{l1="v1",...} value. labels: NULL, or name/value pairs
 * ending with NULL; a pair with a NULL value is skipped. */
void metrics_sample(GString *out, const char *name,
                    const char *const *labels, double value);
/* The same for counts (printed as integers). */
void metrics_sample_u64(GString *out, const char *name,
                        const char *const *labels, guint64 value);

/* name_bucket{labels,le="b"} for each bound (cumulative counts), the +Inf
 * bucket (= count), name_sum and name_count. */
void metrics_histogram(GString *out, const char *name,
                       const char *const *labels, const double *bounds,
                       const guint64 *cumulative, guint n_bounds,
                       guint64 count, double sum);

G_END_DECLS

#endif
