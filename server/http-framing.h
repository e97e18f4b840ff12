/* streamsight — what a request line and its headers say before the body:
 * checks on the raw text, without libmicrohttpd, so that they can be tested
 * one by one (http.c feeds them from the daemon's callbacks).
 *
 * Refused (400 in http.c) is whatever a proxy in front could read
 * differently from this server, which is how request smuggling works: two
 * different Content-Length headers, Content-Length together with
 * Transfer-Encoding, a transfer coding other than a single "chunked",
 * whitespace in a header name ("Content-Length : 5" frames nothing for
 * libmicrohttpd but may for a proxy); and "%00" in the target, which the
 * decoding turns into a NUL that cuts the path short ("/healthz%00x" would
 * be served as /healthz).
 *
 * Threads: pure functions on the caller's data.
 */
#ifndef SS_HTTP_FRAMING_H
#define SS_HTTP_FRAMING_H

#include <glib.h>

G_BEGIN_DECLS

/* The framing headers seen so far; zero-initialise, then add each header. */
typedef struct {
  guint n_length;          /* Content-Length headers */
  gboolean lengths_differ;
  const char *length;      /* the first one (borrowed) */
  guint n_encoding;        /* Transfer-Encoding headers */
  const char *encoding;    /* the first one (borrowed) */
  gboolean bad_name;       /* whitespace in a header name */
} HttpFraming;

/* name and value are borrowed until http_framing_problem() returns. */
void http_framing_add(HttpFraming *f, const char *name, const char *value);
/* NULL when the framing is unambiguous (*with_body then tells whether a
 * body follows: chunked, or a Content-Length above 0); otherwise why not, a
 * static string for the 400 answer. */
const char *http_framing_problem(const HttpFraming *f, gboolean *with_body);

/* The raw request target (before decoding): TRUE when it holds "%00".
 * *n_args receives the number of query arguments libmicrohttpd would parse
 * (each '&'-separated part after '?'; 0 without a query), and *query (if
 * not NULL) the '?' or NULL. */
gboolean http_target_has_nul(const char *target);
guint http_target_count_args(const char *target, const char **query);

G_END_DECLS

#endif
