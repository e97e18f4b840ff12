/* streamsight — the alert routes (routes-internal.h): the history of the
 * alerts hub (alerts.h), filtered, and the JPEGs of alerts' best frames. */
#include "routes-internal.h"

#include <string.h>

#include "metrics.h"

static gboolean
hub_or_503(Routes *r, RouteResponse *resp)
{
  if (r->alerts)
    return TRUE;
  resp_error(resp, 503, "unavailable", "alerts are not available");
  return FALSE;
}

void
routes_h_alerts_list(Routes *r, const RouteRequest *req, const char *id,
                   RouteResponse *resp)
{
  if (!hub_or_503(r, resp))
    return;
  AlertQuery q = { .limit = ROUTES_ALERTS_LIMIT_DEFAULT };
  guint64 limit = 0;
  const char *s = routes_query_get(req, "limit");
  if (s) {
    if (!g_ascii_string_to_unsigned(s, 10, 1, ROUTES_ALERTS_LIMIT_MAX, &limit,
                                    NULL)) {
      resp_error(resp, 400, "invalid_argument",
                           "limit: must be an integer 1..%d",
                           ROUTES_ALERTS_LIMIT_MAX);
      return;
    }
    q.limit = (guint)limit;
  }
  /* Filters are compared, never echoed: an unknown stream or class simply
   * matches nothing. Lengths are bounded so nothing unusual is copied. */
  q.stream = routes_query_get(req, "stream");
  if (q.stream && (!*q.stream || strlen(q.stream) > 64)) {
    resp_error(resp, 400, "invalid_argument",
                         "stream: must be a stream id (1..64 characters)");
    return;
  }
  q.cls = routes_query_get(req, "class");
  if (q.cls && (!*q.cls || strlen(q.cls) > ALERT_CLASS_MAX)) {
    resp_error(resp, 400, "invalid_argument",
                         "class: must be 1..%d bytes", ALERT_CLASS_MAX);
    return;
  }
  static const char *const times[] = { "since", "until" };
  gint64 *outs[] = { &q.since_us, &q.until_us };
  for (int i = 0; i < 2; i++) {
    s = routes_query_get(req, times[i]);
    if (s && !routes_parse_iso8601_us(s, outs[i])) {
      resp_error(resp, 400, "invalid_argument",
                           "%s: must be an ISO-8601 time with a zone, e.g. "
                           "2026-12-07T10:00:00Z", times[i]);
      return;
    }
  }
  if (q.since_us && q.until_us && q.until_us < q.since_us) {
    resp_error(resp, 400, "invalid_argument",
                         "until: must not be before since");
    return;
  }
  routes_resp_json(resp, 200, alert_hub_list(r->alerts, &q));
}

void
routes_h_alert_snapshot(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp)
{
  if (!hub_or_503(r, resp))
    return;
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned(id, 10, 1, G_MAXINT64, &n, NULL)) {
    resp_error(resp, 404, "not_found",
                         "no such alert (alert ids are positive integers)");
    return;
  }
  guint8 *jpeg = NULL;
  gsize len = 0;
  gboolean found = FALSE;
  if (!alert_hub_snapshot(r->alerts, n, &jpeg, &len, &found)) {
    if (found)
      resp_error(resp, 404, "not_found",
                           "alert %" G_GUINT64_FORMAT " has no snapshot (its "
                           "frame could not be kept or encoded)", n);
    else
      resp_error(resp, 404, "not_found",
                           "no alert with id %" G_GUINT64_FORMAT " (it may "
                           "have left the history)", n);
    return;
  }
  routes_resp_bytes(resp, 200, "image/jpeg", jpeg, len);
  /* An active alert's snapshot is replaced when it ends. */
  resp_header(resp, "Cache-Control", "no-store");
}

static void
add_count(gpointer data, const char *stream_id, const char *cls,
          guint64 started)
{
  const char *labels[] = { "stream", stream_id, "class", cls, NULL };
  metrics_sample_u64(data, "streamsight_alerts_total", labels, started);
}

void
routes_alerts_metrics(Routes *r, GString *out)
{
  metrics_family(out, "streamsight_alerts_total", METRICS_COUNTER,
                 "Alerts started since the server started, per stream and "
                 "class.");
  alert_hub_counts(r->alerts, add_count, out);
}
