/* streamsight — what the socket suites of server/http.c share
 * (test-http.c, test-http-events.c): the server fixture (server-fixture.h)
 * behind a real http_server on 127.0.0.1, an ephemeral port; one request per
 * connection with the plain-socket client of http-client.h; an event-stream
 * client that de-chunks into an SSE parser.
 *
 * One server at a time: a suite's checked fixture starts it before each
 * test (http_fixture_start*) and stops it after (http_fixture_stop).
 */
#ifndef SS_HTTP_FIXTURE_H
#define SS_HTTP_FIXTURE_H

#include <glib.h>

#include "http-client.h"
#include "http.h"
#include "server-fixture.h"
#include "sse-parse.h"

#define BODY_LIMIT 2048
#define PREDICTION_TIMEOUT_S 20.0

/* The running server of this test (NULL outside a fixture). */
extern ServerFixture http_fx;
extern HttpServer *http_srv;

/* Starts the fixture and the server: bearer token (or NULL), connection
 * limit, idle timeout; body limit BODY_LIMIT, SSE clients up to half the
 * connections. */
void http_fixture_start(const char *token, guint max_connections,
                        guint timeout_s);
/* The same for the event-stream suites: max_sse SSE clients with queues of
 * queue_len events, 300 ms heartbeats; body_limit bytes; URI and header
 * limits of 1024 and 2048 bytes. */
void http_fixture_start_events(const char *token, guint max_sse,
                               guint queue_len, guint64 body_limit);
/* Stops what either start made. */
void http_fixture_stop(void);

/* A new connection to http_srv (asserts). */
int client_connect(void);
/* One request on a new connection. extra: more header lines ("\r\n" each).
 * out is cleared by the caller (hc_answer_clear). */
void http_do(const char *method, const char *target, const char *extra,
             const char *body, HcAnswer *out);

/* An event-stream client on a socket: the response headers, then the
 * chunked body de-chunked into an SSE parser. */
typedef struct {
  int fd;
  int status;
  char *headers;
  GString *raw;      /* body bytes not yet de-chunked */
  gsize chunk_left;  /* bytes left in the current chunk */
  gboolean need_crlf;
  gboolean ended;    /* last chunk or EOF */
  SseParser p;
} SseClient;

/* Connects (rcvbuf > 0: a small receive buffer, set before connecting),
 * sends GET target and reads the response head. */
void sse_open(SseClient *c, const char *target, const char *extra,
              int rcvbuf);
/* Reads what arrives within timeout_ms; FALSE once the stream ended. */
gboolean sse_pump(SseClient *c, int timeout_ms);
/* Events named name received so far. */
int sse_count(SseClient *c, const char *name);
/* Pumps until there are n events named name, or timeout_s; returns the
 * count. */
int sse_wait(SseClient *c, const char *name, int n, double timeout_s);
void sse_close(SseClient *c);

#endif
