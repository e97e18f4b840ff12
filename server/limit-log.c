#define G_LOG_DOMAIN "streamsight"

#include "limit-log.h"

typedef struct {
  guint64 hits;          /* since start */
  guint64 suppressed;    /* hits not logged since the last line */
  gint64 last_log_us;    /* monotonic; 0 = never logged */
} LimitState;

struct LimitLog {
  GMutex lock; /* protects kinds */
  LimitState kinds[LIMIT_N_KINDS];
};

static const char *const names[LIMIT_N_KINDS] = {
  [LIMIT_MAX_STREAMS] = "limits.max_streams",
  [LIMIT_MAX_BODY] = "limits.max_body_bytes",
  [LIMIT_MAX_HEADER] = "limits.max_header_bytes",
  [LIMIT_MAX_URI] = "limits.max_uri_bytes",
  [LIMIT_MAX_SSE_CLIENTS] = "limits.max_sse_clients",
  [LIMIT_MAX_CONNECTIONS] = "limits.max_connections",
  [LIMIT_WORK_QUEUE] = "image_jobs_queued",
  [LIMIT_PROTOCOL] = "http_protocol",
  [LIMIT_MAX_CONNECTIONS_PER_IP] = "limits.max_connections_per_ip",
  [LIMIT_HEADER_TIMEOUT] = "limits.header_timeout_s",
  [LIMIT_BODY_RATE] = "limits.min_body_bytes_per_s",
  [LIMIT_QUERY_ARGS] = "query_args",
  [LIMIT_BAD_REQUEST] = "http_bad_request",
  [LIMIT_DECODE_MEMORY] = "limits.decode_memory_mb",
};

const char *
limit_name(LimitKind kind)
{
  g_assert(kind >= 0 && kind < LIMIT_N_KINDS);
  return names[kind];
}

LimitLog *
limit_log_new(void)
{
  LimitLog *l = g_new0(LimitLog, 1);
  g_mutex_init(&l->lock);
  return l;
}

void
limit_log_free(LimitLog *l)
{
  if (!l)
    return;
  g_mutex_clear(&l->lock);
  g_free(l);
}

gboolean
limit_log_hit(LimitLog *l, LimitKind kind, const char *detail)
{
  g_assert(kind >= 0 && kind < LIMIT_N_KINDS);
  gint64 now = g_get_monotonic_time();
  guint64 suppressed = 0;
  gboolean log = FALSE;
  g_mutex_lock(&l->lock);
  LimitState *s = &l->kinds[kind];
  s->hits++;
  if (s->last_log_us == 0 ||
      now - s->last_log_us >= (gint64)LIMITS_LOG_INTERVAL_S * G_USEC_PER_SEC) {
    log = TRUE;
    suppressed = s->suppressed;
    s->suppressed = 0;
    s->last_log_us = now;
  } else {
    s->suppressed++;
  }
  g_mutex_unlock(&l->lock);
  if (!log)
    return FALSE;
  if (suppressed > 0)
    g_warning("limit %s hit: %s (and %" G_GUINT64_FORMAT " more times in "
              "the last %d s, not logged)", names[kind],
              detail ? detail : "", suppressed, LIMITS_LOG_INTERVAL_S);
  else
    g_warning("limit %s hit: %s (further hits are logged at most once per "
              "%d s; counts in /api/v1/stats)", names[kind],
              detail ? detail : "", LIMITS_LOG_INTERVAL_S);
  return TRUE;
}

guint64
limit_log_count(LimitLog *l, LimitKind kind)
{
  g_assert(kind >= 0 && kind < LIMIT_N_KINDS);
  g_mutex_lock(&l->lock);
  guint64 n = l->kinds[kind].hits;
  g_mutex_unlock(&l->lock);
  return n;
}
