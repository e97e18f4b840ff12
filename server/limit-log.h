/* streamsight — the server's explicit input limits, counted and logged once.
 *
 * Every limit a client can hit (the body size, the header and URI sizes, the
 * number of streams, of event-stream clients, of queued image jobs, of
 * connections in all and per address, the header and body deadlines, the
 * number of query arguments, requests refused as ambiguous, and the errors
 * libmicrohttpd answers by itself) is counted here, and logged at
 * most once per LIMITS_LOG_INTERVAL_S per kind, with how many hits the
 * previous interval suppressed: a client hammering a limit cannot flood the
 * log, and an operator still learns that the limit is being hit.
 *
 * Thread-safe: any thread may call any function.
 */
#ifndef SS_LIMIT_LOG_H
#define SS_LIMIT_LOG_H

#include <glib.h>

G_BEGIN_DECLS

/* Minimum time between two log lines about the same limit. */
#define LIMITS_LOG_INTERVAL_S 60

typedef enum {
  LIMIT_MAX_STREAMS = 0,  /* limits.max_streams: POST /streams -> 409 */
  LIMIT_MAX_BODY,         /* limits.max_body_bytes -> 413 */
  LIMIT_MAX_HEADER,       /* limits.max_header_bytes -> 431 */
  LIMIT_MAX_URI,          /* limits.max_uri_bytes -> 414 */
  LIMIT_MAX_SSE_CLIENTS,  /* limits.max_sse_clients -> 503 */
  LIMIT_MAX_CONNECTIONS,  /* limits.max_connections (kept in the backlog) */
  LIMIT_WORK_QUEUE,       /* image jobs queued (snapshot, classify) -> 503 */
  LIMIT_PROTOCOL,         /* libmicrohttpd's own 4xx (malformed, too big) */
  LIMIT_MAX_CONNECTIONS_PER_IP, /* limits.max_connections_per_ip */
  LIMIT_HEADER_TIMEOUT,   /* limits.header_timeout_s: connection dropped */
  LIMIT_BODY_RATE,        /* limits.min_body_bytes_per_s: connection dropped */
  LIMIT_QUERY_ARGS,       /* more than HTTP_MAX_QUERY_ARGS arguments -> 414 */
  LIMIT_BAD_REQUEST,      /* NUL in the target, ambiguous framing -> 400 */
  LIMIT_DECODE_MEMORY,    /* limits.decode_memory_mb: classify -> 503 */
  LIMIT_N_KINDS
} LimitKind;

/* The config key or a short name: "limits.max_body_bytes", ... */
const char *limit_name(LimitKind kind);

typedef struct LimitLog LimitLog;

LimitLog *limit_log_new(void);
void limit_log_free(LimitLog *l); /* NULL is allowed */

/* Counts one hit of kind; logs a warning with detail (a short text without
 * request data, e.g. "body of 9000000 bytes > 8388608") when the last line
 * about this kind is older than LIMITS_LOG_INTERVAL_S. Returns TRUE when it
 * logged. */
gboolean limit_log_hit(LimitLog *l, LimitKind kind, const char *detail);

/* Hits of kind since start. */
guint64 limit_log_count(LimitLog *l, LimitKind kind);

G_END_DECLS

#endif
