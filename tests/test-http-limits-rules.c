/* The rules of server/http.c's hostile-client defences, without a server:
 * request framing and targets (http-framing.h) case by case, and the
 * connection guard (http-guard.h) on socket pairs with made-up addresses.
 * The "rules" TCase of the http-limits suite (http-limits-fixture.h). */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-framing.h"
#include "http-guard.h"
#include "http-limits-fixture.h"

/* ---- the same rules, one by one (http-framing.h) ---- */

typedef struct {
  const char *headers[4][2]; /* name, value; up to 4 */
  const char *problem;       /* a word of the reason, or NULL: accepted */
  gboolean with_body;
} FramingCase;

static const FramingCase framing_cases[] = {
  { { { "Host", "x" } }, NULL, FALSE },
  { { { "Content-Length", "0" } }, NULL, FALSE },
  { { { "content-length", "12" } }, NULL, TRUE },
  { { { "Content-Length", "12" }, { "Content-Length", "12" } }, NULL, TRUE },
  { { { "Content-Length", "12" }, { "Content-Length", "13" } },
    "conflicting", FALSE },
  { { { "Content-Length", "12" }, { "Content-Length", "12" },
      { "Content-Length", "7" } }, "conflicting", FALSE },
  { { { "Transfer-Encoding", "chunked" } }, NULL, TRUE },
  { { { "Transfer-Encoding", " CHUNKED " } }, NULL, TRUE },
  { { { "Transfer-Encoding", "chunked" }, { "Content-Length", "3" } },
    "both", FALSE },
  { { { "Content-Length", "3" }, { "transfer-encoding", "chunked" } },
    "both", FALSE },
  { { { "Transfer-Encoding", "gzip, chunked" } }, "unsupported", FALSE },
  { { { "Transfer-Encoding", "chunkedx" } }, "unsupported", FALSE },
  { { { "Transfer-Encoding", "identity" } }, "unsupported", FALSE },
  { { { "Transfer-Encoding", "chunked" }, { "Transfer-Encoding", "chunked" } },
    "unsupported", FALSE },
  { { { "Content-Length ", "3" } }, "whitespace", FALSE },
  { { { "X-Odd\tName", "1" } }, "whitespace", FALSE },
};

START_TEST(test_framing_rules)
{
  const FramingCase *fc = &framing_cases[_i];
  HttpFraming f = { 0 };
  for (int k = 0; k < 4 && fc->headers[k][0]; k++)
    http_framing_add(&f, fc->headers[k][0], fc->headers[k][1]);
  gboolean with_body = !fc->with_body; /* must be overwritten when accepted */
  const char *why = http_framing_problem(&f, &with_body);
  if (fc->problem) {
    ck_assert_msg(why && strstr(why, fc->problem), "case %d: %s", _i,
                  why ? why : "accepted");
  } else {
    ck_assert_msg(why == NULL, "case %d refused: %s", _i, why);
    ck_assert_int_eq(with_body, fc->with_body);
  }
}
END_TEST

START_TEST(test_target_rules)
{
  const char *q = NULL;
  ck_assert_uint_eq(http_target_count_args("/a", &q), 0);
  ck_assert_ptr_null(q);
  ck_assert_uint_eq(http_target_count_args("/a?", &q), 0);
  ck_assert_uint_eq(http_target_count_args("/a?x=1", &q), 1);
  ck_assert_str_eq(q, "?x=1");
  ck_assert_uint_eq(http_target_count_args("/a?x=1&y&&z=", NULL), 4);
  ck_assert(http_target_has_nul("/healthz%00"));
  ck_assert(http_target_has_nul("/a?b=%00"));
  ck_assert(!http_target_has_nul("/a%2500")); /* the text "%00", no NUL */
  ck_assert(!http_target_has_nul("/a%0a"));
  ck_assert(!http_target_has_nul(NULL));
}
END_TEST

/* ---- the guard alone, on socket pairs with made-up addresses ---- */

/* Whether the guard shut down our end: the peer reads the end of stream. */
static gboolean
peer_closed(int peer)
{
  char c;
  return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static gboolean
peer_closed_within(int peer, guint ms)
{
  gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
  while (!peer_closed(peer)) {
    if (g_get_monotonic_time() > end)
      return FALSE;
    g_usleep(20 * 1000);
  }
  return TRUE;
}

START_TEST(test_guard_evicts)
{
  LimitLog *ll = limit_log_new();
  HttpGuardOptions o = { .max_connections = 3, .max_connections_per_ip = 2,
                         .header_timeout_s = 60, .limits = ll };
  HttpGuard *g = http_guard_new(&o, NULL);
  ck_assert_ptr_nonnull(g);
  struct sockaddr_in a = { .sin_family = AF_INET }, b = a;
  inet_pton(AF_INET, "10.0.0.1", &a.sin_addr);
  inet_pton(AF_INET, "10.0.0.2", &b.sin_addr);
  struct sockaddr_in6 a_mapped = { .sin6_family = AF_INET6 };
  inet_pton(AF_INET6, "::ffff:10.0.0.1", &a_mapped.sin6_addr);
  const struct sockaddr *from[5] = {
    (struct sockaddr *)&a, (struct sockaddr *)&b,
    (struct sockaddr *)&a_mapped, (struct sockaddr *)&a,
    (struct sockaddr *)&b,
  };
  int sp[5][2];
  HttpGuardConn *c[5];
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
    c[i] = http_guard_open(g, sp[i][0], from[i]);
    if (i == 1)
      http_guard_headers_done(g, c[1], FALSE); /* busy from now on */
    if (i == 2)
      for (int k = 0; k < 3; k++)
        ck_assert_msg(!peer_closed(sp[k][1]), "%d closed early", k);
    g_usleep(2000); /* distinct ages */
  }
  /* The 4th is a's third (the mapped address counts as a): a's oldest
   * waiting one, the 1st, made room. The 5th is the 4th open: the oldest
   * waiting one overall (the 2nd is busy), the 3rd, made room. */
  ck_assert(peer_closed(sp[0][1]));
  ck_assert(!peer_closed(sp[1][1]));
  ck_assert(peer_closed(sp[2][1]));
  ck_assert(!peer_closed(sp[3][1]));
  ck_assert(!peer_closed(sp[4][1]));
  ck_assert_uint_eq(limit_log_count(ll, LIMIT_MAX_CONNECTIONS_PER_IP), 1);
  ck_assert_uint_eq(limit_log_count(ll, LIMIT_MAX_CONNECTIONS), 1);
  for (int i = 0; i < 5; i++) {
    http_guard_close(g, c[i]);
    close(sp[i][0]);
    close(sp[i][1]);
  }
  /* Everything closed: a new connection of a's fits again. */
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[0]), 0);
  c[0] = http_guard_open(g, sp[0][0], from[0]);
  ck_assert(!peer_closed(sp[0][1]));
  http_guard_close(g, c[0]);
  close(sp[0][0]);
  close(sp[0][1]);
  http_guard_free(g);
  limit_log_free(ll);
}
END_TEST

START_TEST(test_guard_deadlines)
{
  LimitLog *ll = limit_log_new();
  HttpGuardOptions o = { .max_connections = 10, .header_timeout_s = 1,
                         .min_body_bytes_per_s = 1000, .limits = ll };
  HttpGuard *g = http_guard_new(&o, NULL);
  int sp[4][2];
  HttpGuardConn *c[4];
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
    c[i] = http_guard_open(g, sp[i][0], NULL); /* not IP: no per-address */
  }
  /* 0: headers never end. 1: a body that never comes. 2: a body at more
   * than the rate. 3: in its handler (an event stream). */
  http_guard_headers_done(g, c[1], TRUE);
  http_guard_headers_done(g, c[2], TRUE);
  http_guard_headers_done(g, c[3], FALSE);
  /* Far ahead of the rate for the whole test, however slowly it runs. */
  http_guard_body(g, c[2], 1u << 20);
  /* Past the 1 s header deadline and into the body rate (the deadline
   * thread checks every 250 ms; generous for a loaded machine). */
  ck_assert(peer_closed_within(sp[0][1], 5000));
  ck_assert(peer_closed_within(sp[1][1], 5000));
  ck_assert(!peer_closed(sp[2][1]));
  ck_assert(!peer_closed(sp[3][1]));
  ck_assert_uint_eq(limit_log_count(ll, LIMIT_HEADER_TIMEOUT), 1);
  ck_assert_uint_eq(limit_log_count(ll, LIMIT_BODY_RATE), 1);
  /* The body is in; the request answered; the connection idles kept
   * alive: no deadline until its next request line, which starts one. */
  http_guard_body_done(g, c[2]);
  http_guard_request_done(g, c[2]);
  g_usleep(1500 * 1000);
  ck_assert(!peer_closed(sp[2][1]));
  gint64 t0 = g_get_monotonic_time();
  http_guard_request_line(g, c[2]);
  ck_assert(peer_closed_within(sp[2][1], 5000));
  ck_assert_int_ge(g_get_monotonic_time() - t0, 900 * 1000);
  ck_assert_uint_eq(limit_log_count(ll, LIMIT_HEADER_TIMEOUT), 2);
  for (int i = 0; i < 4; i++) {
    http_guard_close(g, c[i]);
    close(sp[i][0]);
    close(sp[i][1]);
  }
  http_guard_free(g);
  limit_log_free(ll);
}
END_TEST

TCase *
http_limits_rules_tcase(void)
{
  TCase *tc = tcase_create("rules");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_framing_rules, 0,
                      (int)G_N_ELEMENTS(framing_cases));
  tcase_add_test(tc, test_target_rules);
  tcase_add_test(tc, test_guard_evicts);
  tcase_add_test(tc, test_guard_deadlines);
  return tc;
}
