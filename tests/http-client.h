/* streamsight tests — a minimal HTTP/1.1 client on plain sockets, for the
 * suites that talk to a real server (test-http, test-http-limits): connect
 * to 127.0.0.1, send bytes exactly as written (so that malformed and
 * hostile requests can be sent), read one answer. Check assertions fail the
 * test on socket errors that are not the point of the test. */
#ifndef SS_HTTP_CLIENT_H
#define SS_HTTP_CLIENT_H

#include <glib.h>
#include <jansson.h>

typedef struct {
  int status;         /* 0: no answer (closed, or timed out) */
  char *headers;      /* raw header block */
  char *body;
  gsize body_len;
} HcAnswer;

/* A connected socket to 127.0.0.1:port with 20 s send/receive timeouts. */
int hc_connect(guint port);
/* Like hc_connect, but -1 (not an assertion) when connect() fails. */
int hc_try_connect(guint port);
/* Sets the receive timeout of fd (ms). */
void hc_set_recv_timeout(int fd, guint ms);
/* Sends everything; FALSE when the peer closed or reset. */
gboolean hc_send_all(int fd, const char *data, gsize len);
/* Reads one response (Content-Length framed, or to EOF). head: the request
 * was HEAD (no body follows). out->status stays 0 without an answer. */
void hc_read_answer(int fd, gboolean head, HcAnswer *out);
void hc_answer_clear(HcAnswer *a);
/* A header's value (new string) or NULL. */
char *hc_answer_header(const HcAnswer *a, const char *name);
/* The same in a response head's header lines (CRLF-separated; NULL: no
 * headers). */
char *hc_headers_get(const char *headers, const char *name);
/* The body parsed as JSON (new reference) or NULL. */
json_t *hc_answer_json(const HcAnswer *a);
/* The "error"."code" of a JSON error answer (borrowed from j) or NULL. */
const char *hc_error_code(json_t *j);

#endif
