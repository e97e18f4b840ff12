/* streamsight — the connection guard: which HTTP connections may stay.
 *
 * libmicrohttpd 0.9.75 knows a connection limit and an idle timeout, and
 * neither stops slowloris: a client that sends one header line every few
 * seconds is never idle, and a few hundred such connections fill the limit
 * while real clients wait in the listen backlog. The guard follows every
 * connection through its phases and closes (shutdown(2) of its socket; the
 * daemon then sees the end of the stream and frees it) those that hold a
 * slot without making progress:
 * - a request whose line and headers are not complete header_timeout_s
 *   after the connection opened (or after its request line arrived, for a
 *   later request on a kept-alive connection);
 * - a body arriving slower than min_body_bytes_per_s on average, counted
 *   after its first header_timeout_s seconds (so a large upload on a slow
 *   link has size / rate seconds, a stalled one is closed);
 * - at max_connections, the connection that has waited longest without a
 *   request in progress (kept-alive and idle, or still sending its
 *   headers), to make room for the new one: the daemon's own limit is set
 *   a little higher so that it keeps accepting while the guard evicts;
 * - over max_connections_per_ip from one address, that address's longest
 *   waiting connection, or the new one when all of that address's
 *   connections are busy.
 * Connections in a handler (an event stream, an image job, a response
 * being sent) are never closed by the guard: the idle timeout covers those.
 * Every closing is counted in the limit log.
 *
 * Threads: every function may be called from any thread (libmicrohttpd's
 * workers); one internal thread checks the deadlines every
 * HTTP_GUARD_SWEEP_MS. A connection's socket is only shut down while its
 * entry exists, and the entry is removed (http_guard_close) before the
 * daemon closes the socket, so a descriptor number reused by a later
 * connection is never touched.
 */
#ifndef SS_HTTP_GUARD_H
#define SS_HTTP_GUARD_H

#include <glib.h>
#include <sys/socket.h>

#include "limit-log.h"

G_BEGIN_DECLS

#define HTTP_GUARD_SWEEP_MS 250
/* Defaults (config.h documents the keys). */
#define HTTP_GUARD_DEFAULT_HEADER_TIMEOUT_S 10
#define HTTP_GUARD_DEFAULT_MIN_BODY_BYTES_PER_S 4096

typedef struct {
  guint max_connections;        /* >= 1 */
  guint max_connections_per_ip; /* 0: no per-address limit */
  guint header_timeout_s;       /* 0: HTTP_GUARD_DEFAULT_HEADER_TIMEOUT_S */
  guint min_body_bytes_per_s;   /* 0: no body rate limit */
  LimitLog *limits;             /* borrowed; the hits are counted here */
} HttpGuardOptions;

typedef struct HttpGuard HttpGuard;
typedef struct HttpGuardConn HttpGuardConn;

/* Starts the deadline thread; NULL with error when it cannot start. */
HttpGuard *http_guard_new(const HttpGuardOptions *o, GError **error);
/* Stops the thread and frees the guard; every connection must have been
 * closed (http_guard_close) first. NULL is allowed. */
void http_guard_free(HttpGuard *g);

/* A connection was accepted on fd from addr (may be NULL: not IP): its
 * headers' deadline starts now. May close older connections (or this one)
 * to stay within the limits. Returns the entry, owned by the guard until
 * http_guard_close(). */
HttpGuardConn *http_guard_open(HttpGuard *g, int fd,
                               const struct sockaddr *addr);
/* The connection is about to be closed by the daemon; c is freed. */
void http_guard_close(HttpGuard *g, HttpGuardConn *c);

/* A request line arrived. On a kept-alive connection this starts the
 * headers' deadline of the new request (the first request's started when
 * the connection opened). */
void http_guard_request_line(HttpGuard *g, HttpGuardConn *c);
/* The headers are complete: with_body, the body's rate is watched from now
 * on; otherwise (or once the body is in: http_guard_body_done) the request
 * is in its handler and is not watched. */
void http_guard_headers_done(HttpGuard *g, HttpGuardConn *c,
                             gboolean with_body);
/* n more body bytes arrived. */
void http_guard_body(HttpGuard *g, HttpGuardConn *c, gsize n);
void http_guard_body_done(HttpGuard *g, HttpGuardConn *c);
/* The request is over (answered or abandoned): the connection idles,
 * kept alive, until its next request line or the idle timeout. */
void http_guard_request_done(HttpGuard *g, HttpGuardConn *c);

G_END_DECLS

#endif
