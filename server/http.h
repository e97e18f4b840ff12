/* streamsight — the libmicrohttpd glue: listens, collects each request
 * (method, path, query, the headers the routes read, a size-limited body),
 * hands it to routes_handle() and sends the answer.
 *
 * Threading: libmicrohttpd's internal thread pool (epoll on Linux), not a
 * thread per connection. Handlers never block for long (they copy small
 * structs under short locks), so a few threads serve many connections, and
 * the thread count stays fixed however many clients (up to the connection
 * limit) are connected, including the long-lived event streams that
 * suspend/resume will serve.
 */
#ifndef SS_HTTP_H
#define SS_HTTP_H

#include <glib.h>

#include "routes.h"

G_BEGIN_DECLS

#define HTTP_ERROR (http_error_quark())
GQuark http_error_quark(void);
typedef enum {
  HTTP_ERROR_START, /* the daemon could not start (bind failed, bad TLS) */
} HttpError;

typedef struct {
  const char *bind;            /* numeric IPv4 or IPv6 address */
  guint port;                  /* 0: an ephemeral port (http_server_port) */
  guint threads;               /* >= 1 */
  guint max_connections;       /* >= 1 */
  guint connection_timeout_s;  /* idle connections are closed after this */
  guint64 max_body_bytes;      /* larger bodies are answered 413 */
  const char *tls_cert_pem;    /* both NULL: plain HTTP */
  const char *tls_key_pem;
} HttpOptions;

typedef struct HttpServer HttpServer;

/* Starts listening. routes is borrowed and must outlive the server. The
 * options' strings are copied. */
HttpServer *http_server_start(const HttpOptions *opt, Routes *routes,
                              GError **error);
/* The port actually bound. */
guint http_server_port(const HttpServer *s);
/* Stops accepting, closes every connection, waits for handlers in progress
 * and frees the server. NULL is allowed. */
void http_server_stop(HttpServer *s);

G_END_DECLS

#endif
