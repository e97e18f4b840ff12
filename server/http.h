/* streamsight — the libmicrohttpd glue: listens, collects each request
 * (method, path, query, the headers the routes read, a size-limited body),
 * hands it to routes_handle() and sends the answer.
 *
 * Threading: libmicrohttpd's internal thread pool (epoll on Linux), not a
 * thread per connection. Handlers never block for long (they copy small
 * structs under short locks), so a few threads serve many connections, and
 * the thread count stays fixed however many clients (up to the connection
 * limit) are connected:
 * - event streams (SSE) are callback responses whose connection is
 *   suspended while the client's queue is empty and resumed when an event
 *   arrives (events.h), so an idle subscriber costs no thread;
 * - slow work the routes hand back (RouteWork: JPEG snapshots, image
 *   classification) runs on a few "image-job" threads at a lower CPU
 *   priority (nice HTTP_WORK_NICE) than stream inference, while its
 *   connection is suspended; more than work_queue_max waiting jobs are
 *   answered 503 busy at once.
 * libmicrohttpd's own refusals (malformed requests, headers beyond the
 * connection memory) cannot carry our JSON body in 0.9.75; they are counted
 * and logged once (limit-log.h).
 *
 * Hostile clients: connections that hold a slot without progress
 * (slowloris headers, a body trickling in, too many from one address) are
 * closed by the connection guard (http-guard.h). Everything decidable from
 * the request line and headers is decided on libmicrohttpd's first handler
 * call, before any body is read: ambiguous framing (two different
 * Content-Length headers, Content-Length with Transfer-Encoding, a
 * transfer coding other than chunked, whitespace in a header name) and
 * "%00" in the target answer 400, more than HTTP_MAX_QUERY_ARGS query
 * arguments 414, and then routes_admit() answers the size limits, 401,
 * 404 and 405; a body announced over max_body_bytes gets 413.
 */
#ifndef SS_HTTP_H
#define SS_HTTP_H

#include <glib.h>

#include "events.h"
#include "routes.h"
#include "watchdog.h"

G_BEGIN_DECLS

#define HTTP_ERROR (http_error_quark())
GQuark http_error_quark(void);
typedef enum {
  HTTP_ERROR_START, /* the daemon could not start (bind failed, bad TLS) */
} HttpError;

#define HTTP_DEFAULT_WORK_THREADS 2
#define HTTP_DEFAULT_WORK_QUEUE_MAX 32
/* An image job that waited longer than this for a thread (a machine so
 * loaded that the niced threads starve) is answered 503 busy without
 * running: the client learns at once instead of after many seconds. */
#define HTTP_WORK_MAX_WAIT_MS 5000
/* Niceness of the image-job threads: under CPU contention stream inference
 * (nice 0) gets about 10x their share (CFS weights 1024 vs 110). */
#define HTTP_WORK_NICE 10
/* Query arguments a request may have; more are answered 414 (no route reads
 * more than four; and libmicrohttpd 0.9.75 keeps each in the connection's
 * memory, which a few hundred exhaust). */
#define HTTP_MAX_QUERY_ARGS 64

typedef struct {
  const char *bind;            /* numeric IPv4 or IPv6 address */
  guint port;                  /* 0: an ephemeral port (http_server_port) */
  guint threads;               /* >= 1 */
  guint max_connections;       /* >= 1 */
  guint connection_timeout_s;  /* idle connections are closed after this */
  /* The connection guard (http-guard.h): 0 = no per-address limit, the
   * default header deadline, no body rate limit. */
  guint max_connections_per_ip;
  guint header_timeout_s;
  guint min_body_bytes_per_s;
  guint64 max_body_bytes;      /* larger bodies are answered 413 */
  /* Request target and header limits (0: defaults of config.h); they size
   * each connection's memory so that requests just over them still reach
   * the routes (414/431 with a JSON body). */
  guint64 max_uri_bytes;
  guint64 max_header_bytes;
  guint work_threads;          /* 0: HTTP_DEFAULT_WORK_THREADS */
  guint work_queue_max;        /* 0: HTTP_DEFAULT_WORK_QUEUE_MAX */
  EventHub *events;            /* borrowed; ended before the daemon stops */
  const char *tls_cert_pem;    /* both NULL: plain HTTP */
  const char *tls_key_pem;
  /* Borrowed, NULL for none: every request handler and image job runs as
   * a watched task (watchdog.h). */
  Watchdog *watchdog;
} HttpOptions;

typedef struct HttpServer HttpServer;

/* Starts listening. routes is borrowed and must outlive the server. The
 * options' strings are copied. */
HttpServer *http_server_start(const HttpOptions *opt, Routes *routes,
                              GError **error);
/* The port actually bound. */
guint http_server_port(const HttpServer *s);
/* Stops accepting, finishes the image jobs queued, ends the event streams,
 * closes every connection, waits for handlers in progress and frees the
 * server. NULL is allowed. */
void http_server_stop(HttpServer *s);

G_END_DECLS

#endif
