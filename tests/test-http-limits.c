/* Hostile clients against server/http.c and its connection guard, over real
 * sockets (issue 11): slowloris, unauthenticated uploads, a slow body, too
 * many connections from one address, too many query arguments, request
 * smuggling basics; and every route of the table refusing a request
 * without the token before reading its body.
 *
 * Each test starts its own server (server-fixture.h plus http.c) on an
 * ephemeral port of 127.0.0.1 with the limits it exercises, and reads the
 * counts back through GET /api/v1/stats and /metrics as a user would.
 *
 * Here: the hostile TCase and the suite; that server and the requests on
 * it are http-limits-fixture.c's, the rules TCase (framing, targets and the
 * guard, without a server) is in test-http-limits-rules.c. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-client.h"
#include "http-limits-fixture.h"
#include "server-fixture.h"
#include "testutil.h"

#define TOKEN "sekrit-Token"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

/* Slowloris: connections, how long, and the answer time every health
 * check must beat. The 2 s is the acceptance bar of issue 11; on an idle
 * machine the answers take milliseconds. */
#define SLOW_CONNECTIONS 300
#define SLOW_DURATION_S 20
#define SLOW_LINE_EVERY_MS 3000
#define SLOW_RECONNECT_MS 250
#define HEALTHZ_MAX_S 2.0

/* ---- slowloris ---- */

typedef struct {
  guint port;
  gint64 end_us;
  guint opened, closed_by_server, answered;
} Slowloris;

/* A slow client: the request line and one header, then (by the caller) one
 * more header line every SLOW_LINE_EVERY_MS, never the empty line. */
static int
slow_open(Slowloris *sl)
{
  int fd = hc_try_connect(sl->port);
  if (fd < 0)
    return -1;
  static const char start[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  if (!hc_send_all(fd, start, sizeof start - 1)) {
    close(fd);
    return -1;
  }
  sl->opened++;
  return fd;
}

static gpointer
slowloris_main(gpointer data)
{
  Slowloris *sl = data;
  int fds[SLOW_CONNECTIONS];
  gint64 next[SLOW_CONNECTIONS];
  struct pollfd p[SLOW_CONNECTIONS];
  for (int i = 0; i < SLOW_CONNECTIONS; i++) {
    fds[i] = slow_open(sl);
    /* Spread the header lines over the period. */
    next[i] = g_get_monotonic_time() +
              (gint64)(i % 30) * SLOW_LINE_EVERY_MS * 1000 / 30;
  }
  while (g_get_monotonic_time() < sl->end_us) {
    for (int i = 0; i < SLOW_CONNECTIONS; i++) {
      p[i].fd = fds[i];
      p[i].events = POLLIN;
      p[i].revents = 0;
    }
    poll(p, SLOW_CONNECTIONS, 100);
    gint64 now = g_get_monotonic_time();
    for (int i = 0; i < SLOW_CONNECTIONS; i++) {
      if (fds[i] < 0)
        p[i].revents = 0;
      gboolean reopen = FALSE;
      if (fds[i] >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[512];
        ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
          sl->answered++; /* must not happen: the headers never end */
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          sl->closed_by_server++;
          reopen = TRUE;
        }
      }
      if (fds[i] >= 0 && !reopen && now >= next[i]) {
        char line[48];
        int len = g_snprintf(line, sizeof line, "X-Slow-%d: %" G_GINT64_FORMAT
                             "\r\n", i, now);
        reopen = !hc_send_all(fds[i], line, (gsize)len);
        next[i] = now + SLOW_LINE_EVERY_MS * 1000;
      }
      if (reopen && fds[i] >= 0) {
        close(fds[i]);
        fds[i] = -1;
        /* The attacker comes back soon (at once would only burn CPU on
         * both sides: each new connection evicts another). */
        next[i] = now + SLOW_RECONNECT_MS * 1000;
      } else if (fds[i] < 0 && now >= next[i]) {
        fds[i] = slow_open(sl);
        next[i] = now + SLOW_LINE_EVERY_MS * 1000;
      }
    }
  }
  for (int i = 0; i < SLOW_CONNECTIONS; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  return NULL;
}

START_TEST(test_slowloris)
{
  /* Clients, server connections (limit + slack), and the rest. */
  raise_fd_limit(2 * SLOW_CONNECTIONS + 200);
  /* Defaults but a shorter header deadline (the test is bounded), and no
   * per-address limit: everything comes from 127.0.0.1, and the global
   * limit is the one a distributed attack meets. */
  LimitsServer ls = { .max_connections = 256, .header_timeout_s = 5 };
  start(&ls);

  Slowloris sl = {
    .port = port(),
    .end_us = g_get_monotonic_time() + SLOW_DURATION_S * G_USEC_PER_SEC,
  };
  GThread *t = g_thread_new("slowloris", slowloris_main, &sl);
  g_usleep(G_USEC_PER_SEC); /* let them connect */

  double worst = 0, sum = 0;
  guint n = 0;
  while (g_get_monotonic_time() < sl.end_us - G_USEC_PER_SEC) {
    gint64 t0 = g_get_monotonic_time();
    int fd = hc_connect(port());
    hc_set_recv_timeout(fd, 10000);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n";
    ck_assert(hc_send_all(fd, req, sizeof req - 1));
    HcAnswer a;
    hc_read_answer(fd, FALSE, &a);
    close(fd);
    double dt = (double)(g_get_monotonic_time() - t0) / 1e6;
    ck_assert_msg(a.status == 200, "healthz under slowloris: status %d "
                  "after %.3f s", a.status, dt);
    hc_answer_clear(&a);
    ck_assert_msg(dt < HEALTHZ_MAX_S, "healthz under slowloris took %.3f s",
                  dt);
    worst = MAX(worst, dt);
    sum += dt;
    n++;
    g_usleep(500 * 1000);
  }
  g_thread_join(t);
  g_print("slowloris: %u slow connections opened (%u closed by the server, "
          "%u answered); %u health checks, mean %.1f ms, worst %.1f ms\n",
          sl.opened, sl.closed_by_server, sl.answered, n, sum / n * 1e3,
          worst * 1e3);
  ck_assert_uint_ge(n, SLOW_DURATION_S);
  ck_assert_uint_ge(sl.opened, SLOW_CONNECTIONS);
  ck_assert_msg(sl.answered == 0, "a slow client got an answer");
  ck_assert_uint_gt(sl.closed_by_server, 0);

  /* Counted: evictions at the limit (300 > 256), and maybe header
   * deadlines (a slow connection evicted first is not counted twice). */
  gint64 evicted = limit_hits("limits.max_connections", NULL);
  gint64 timed_out = limit_hits("limits.header_timeout_s", NULL);
  g_print("slowloris: %" G_GINT64_FORMAT " evicted at the limit, %"
          G_GINT64_FORMAT " past the header deadline\n", evicted, timed_out);
  ck_assert_int_gt(evicted, 0);
  ck_assert_int_ge(evicted + timed_out, (gint64)sl.closed_by_server);

  /* And the server serves normally afterwards. */
  HcAnswer a;
  get("/api/v1/model", NULL, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  stop();
}
END_TEST

/* ---- bodies are not read before the request is admitted ---- */

static gsize
rss_bytes(void)
{
  char *status = NULL;
  ck_assert(g_file_get_contents("/proc/self/status", &status, NULL, NULL));
  const char *l = strstr(status, "VmRSS:");
  ck_assert_ptr_nonnull(l);
  gsize kb = (gsize)g_ascii_strtoull(l + 6, NULL, 10);
  g_free(status);
  return kb * 1024;
}

#define UPLOADS 50
#define UPLOAD_BYTES (8u << 20)

START_TEST(test_unauthenticated_upload)
{
  raise_fd_limit(UPLOADS + 200);
  LimitsServer ls = { .token = TOKEN, .max_body_bytes = 16u << 20 };
  start(&ls);
  gsize rss0 = rss_bytes();

  /* Headers only: the 401 must come without a byte of the body. */
  int fds[UPLOADS];
  char *head = g_strdup_printf("POST /api/v1/classify HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: image/jpeg\r\n"
                               "Content-Length: %u\r\n%s\r\n", UPLOAD_BYTES,
                               "");
  for (int i = 0; i < UPLOADS; i++) {
    fds[i] = hc_connect(port());
    ck_assert(hc_send_all(fds[i], head, strlen(head)));
  }
  g_free(head);
  for (int i = 0; i < UPLOADS; i++) {
    HcAnswer a;
    hc_set_recv_timeout(fds[i], 10000);
    hc_read_answer(fds[i], FALSE, &a);
    ck_assert_msg(a.status == 401, "upload %d: %d before its body", i,
                  a.status);
    json_t *j = hc_answer_json(&a);
    ck_assert_str_eq(hc_error_code(j), "unauthorized");
    json_decref(j);
    hc_answer_clear(&a);
  }
  /* Then the bodies: the server has closed, so they cannot all go
   * through (the kernel buffers a few MB at most, then the peer resets). */
  char *body = g_malloc0(UPLOAD_BYTES);
  for (int i = 0; i < UPLOADS; i++)
    ck_assert_msg(!hc_send_all(fds[i], body, UPLOAD_BYTES),
                  "upload %d: the server took all %u bytes of an "
                  "unauthenticated body", i, UPLOAD_BYTES);
  g_free(body);
  gsize rss1 = rss_bytes();
  for (int i = 0; i < UPLOADS; i++)
    close(fds[i]);
  g_print("unauthenticated uploads: %d x %u bytes, process RSS %zu -> "
          "%zu MiB\n", UPLOADS, UPLOAD_BYTES, rss0 >> 20, rss1 >> 20);
  /* Our own 8 MiB buffer aside, nothing of the bodies was kept (50 of
   * them read would be 400 MiB). */
  ck_assert_msg(rss1 < rss0 + (40u << 20), "RSS grew from %zu to %zu MiB",
                rss0 >> 20, rss1 >> 20);

  /* Expect: 100-continue gets the 401 instead of the go-ahead. */
  int fd = hc_connect(port());
  hc_set_recv_timeout(fd, 10000);
  const char *req = "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n";
  ck_assert(hc_send_all(fd, req, strlen(req)));
  HcAnswer a;
  hc_read_answer(fd, FALSE, &a);
  ck_assert_int_eq(a.status, 401);
  hc_answer_clear(&a);
  close(fd);

  /* With the token, a body over the limit is refused the same way (413),
   * and one within it is read (the classify answer needs it). */
  fd = hc_connect(port());
  hc_set_recv_timeout(fd, 10000);
  char *big = g_strdup_printf("POST /api/v1/classify HTTP/1.1\r\nHost: x\r\n"
                              AUTH "Content-Type: image/jpeg\r\n"
                              "Content-Length: %u\r\n\r\n", 32u << 20);
  ck_assert(hc_send_all(fd, big, strlen(big)));
  g_free(big);
  hc_read_answer(fd, FALSE, &a);
  ck_assert_int_eq(a.status, 413);
  hc_answer_clear(&a);
  close(fd);
  raw_request("POST /api/v1/classify HTTP/1.1\r\nHost: x\r\n" AUTH
              "Content-Type: image/jpeg\r\nContent-Length: 4\r\n"
              "Connection: close\r\n\r\nnope", &a);
  ck_assert_int_eq(a.status, 400); /* read, and not an image */
  hc_answer_clear(&a);
  stop();
}
END_TEST

/* ---- every non-public route needs the token, before its body ---- */

START_TEST(test_route_table_needs_token)
{
  LimitsServer ls = { .token = TOKEN };
  start(&ls);
  guint checked = 0;
  for (guint i = 0; i < routes_table_size(); i++) {
    const char *method, *pattern;
    gboolean pub;
    routes_table_entry(i, &method, &pattern, &pub);
    char *path = fixture_route_path(pattern);
    gboolean body = strcmp(method, "POST") == 0 ||
                    strcmp(method, "PATCH") == 0 ||
                    strcmp(method, "PUT") == 0;
    /* A body is announced but not sent: the answer must not wait for it. */
    char *raw = g_strdup_printf("%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n",
                                method, path,
                                body ? "Content-Type: application/json\r\n"
                                       "Content-Length: 100000\r\n"
                                     : "Connection: close\r\n");
    int fd = hc_connect(port());
    hc_set_recv_timeout(fd, 10000);
    ck_assert(hc_send_all(fd, raw, strlen(raw)));
    HcAnswer a;
    hc_read_answer(fd, strcmp(method, "HEAD") == 0, &a);
    close(fd);
    if (pub) {
      ck_assert_msg(a.status != 401 && a.status != 0,
                    "%s %s is public but answered %d", method, path,
                    a.status);
    } else {
      ck_assert_msg(a.status == 401, "%s %s without a token: %d", method,
                    path, a.status);
      json_t *j = hc_answer_json(&a);
      ck_assert_str_eq(hc_error_code(j), "unauthorized");
      json_decref(j);
      char *www = hc_answer_header(&a, "WWW-Authenticate");
      ck_assert_ptr_nonnull(www);
      g_free(www);
      checked++;
    }
    hc_answer_clear(&a);
    g_free(raw);
    g_free(path);
  }
  ck_assert_uint_ge(checked, 10);
  /* Unknown routes and methods too reveal nothing without the token. */
  HcAnswer a;
  raw_request("PUT /api/v1/nothing HTTP/1.1\r\nHost: x\r\n"
              "Content-Length: 100000\r\n\r\n", &a);
  ck_assert_int_eq(a.status, 401);
  hc_answer_clear(&a);
  /* With it, an unknown route or method is refused before its body. */
  raw_request("PUT /api/v1/nothing HTTP/1.1\r\nHost: x\r\n" AUTH
              "Content-Length: 100000\r\n\r\n", &a);
  ck_assert_int_eq(a.status, 404);
  hc_answer_clear(&a);
  raw_request("PUT /api/v1/classify HTTP/1.1\r\nHost: x\r\n" AUTH
              "Content-Length: 100000\r\n\r\n", &a);
  ck_assert_int_eq(a.status, 405);
  hc_answer_clear(&a);
  stop();
}
END_TEST

/* ---- malformed and ambiguous requests ---- */

typedef struct {
  const char *raw;
  int status;
  const char *code;
} BadCase;

static const BadCase bad_cases[] = {
  /* Decoded, %00 would end the path ("/healthz") early. */
  { "GET /healthz%00.json HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request" },
  { "GET /api/v1/stats?x=%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400,
    "bad_request" },
  { "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    "Content-Length: 40\r\n\r\n{}", 400, "bad_request" },
  { "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400,
    "bad_request" },
  { "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
    "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400,
    "bad_request" },
  { "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    "2\r\n{}\r\n0\r\n\r\n", 400, "bad_request" },
  { "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n"
    "\r\n{}", 400, "bad_request" },
};

START_TEST(test_malformed_requests)
{
  LimitsServer ls = { 0 };
  start(&ls);
  for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
    HcAnswer a;
    raw_request(bad_cases[i].raw, &a);
    ck_assert_msg(a.status == bad_cases[i].status, "case %zu: %d", i,
                  a.status);
    json_t *j = hc_answer_json(&a);
    ck_assert_msg(j != NULL, "case %zu: no JSON body", i);
    ck_assert_str_eq(hc_error_code(j), bad_cases[i].code);
    json_decref(j);
    hc_answer_clear(&a);
  }
  ck_assert_int_eq(limit_hits("http_bad_request", NULL),
                   (gint64)G_N_ELEMENTS(bad_cases));

  /* Two equal Content-Length headers are one length (RFC 9110 8.6), and
   * "chunked" alone is fine: these reach the route (400: no name). */
  HcAnswer a;
  raw_request("POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
              "Connection: close\r\nContent-Length: 2\r\n"
              "Content-Length: 2\r\n\r\n{}", &a);
  ck_assert_int_eq(a.status, 400);
  json_t *j = hc_answer_json(&a);
  ck_assert_str_eq(hc_error_code(j), "invalid_argument");
  json_decref(j);
  hc_answer_clear(&a);
  raw_request("POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
              "Connection: close\r\nTransfer-Encoding: Chunked\r\n\r\n"
              "2\r\n{}\r\n0\r\n\r\n", &a);
  ck_assert_int_eq(a.status, 400);
  j = hc_answer_json(&a);
  ck_assert_str_eq(hc_error_code(j), "invalid_argument");
  json_decref(j);
  hc_answer_clear(&a);

  /* 600 query arguments (4 KiB, within the URI limit): 414 with JSON,
   * where libmicrohttpd alone never answered. 64 are fine. */
  for (int n = 64; n <= 600; n += 536) {
    GString *r = g_string_new("GET /api/v1/model?");
    for (int k = 0; k < n; k++)
      g_string_append_printf(r, "%sp%d=v", k ? "&" : "", k);
    g_string_append(r, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_request(r->str, &a);
    g_string_free(r, TRUE);
    if (n == 64) {
      ck_assert_int_eq(a.status, 200);
    } else {
      ck_assert_int_eq(a.status, 414);
      j = hc_answer_json(&a);
      ck_assert_str_eq(hc_error_code(j), "uri_too_long");
      json_decref(j);
    }
    hc_answer_clear(&a);
  }
  ck_assert_int_eq(limit_hits("query_args", NULL), 1);
  /* The server is still fine. */
  get("/healthz", NULL, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  stop();
}
END_TEST

/* ---- deadlines: headers, bodies; event streams are exempt ---- */

static int
sse_open(void)
{
  int fd = hc_connect(port());
  hc_set_recv_timeout(fd, 10000);
  static const char req[] = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n";
  ck_assert(hc_send_all(fd, req, sizeof req - 1));
  char buf[1024];
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  ck_assert_int_gt(n, 12);
  buf[n] = '\0';
  ck_assert_msg(g_str_has_prefix(buf, "HTTP/1.1 200"), "events: %.40s", buf);
  return fd;
}

START_TEST(test_deadlines)
{
  LimitsServer ls = { .header_timeout_s = 1, .min_body_bytes_per_s = 2000,
                      .max_body_bytes = 1u << 20 };
  start(&ls);
  /* A connection that sends nothing is closed after the 1 s header
   * deadline, long before the 30 s idle timeout. */
  int silent = hc_connect(port());
  gint64 t0 = g_get_monotonic_time();
  ck_assert(closed_within(silent, 5000));
  double waited = (double)(g_get_monotonic_time() - t0) / 1e6;
  ck_assert_msg(waited >= 0.9, "closed after %.2f s", waited);
  close(silent);

  /* An event stream outlives the header deadline, and so does a kept-alive
   * connection between requests. */
  int sse = sse_open();
  int ka = hc_connect(port());
  hc_set_recv_timeout(ka, 10000);
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ck_assert(hc_send_all(ka, req, sizeof req - 1));
  HcAnswer a;
  hc_read_answer(ka, FALSE, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  ck_assert(!closed_within(sse, 2500));
  ck_assert(hc_send_all(ka, req, sizeof req - 1));
  hc_read_answer(ka, FALSE, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  close(ka);
  close(sse);
  ck_assert_int_eq(limit_hits("limits.header_timeout_s", NULL), 1);

  /* A body trickling at 200 B/s (limit 2000 B/s after a 1 s grace) is
   * closed; one at about 10 kB/s gets its answer. */
  int slow = hc_connect(port());
  static const char head[] = "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 20002\r\n\r\n{";
  ck_assert(hc_send_all(slow, head, sizeof head - 1));
  char pad[1000];
  memset(pad, ' ', sizeof pad);
  gboolean dropped = FALSE;
  t0 = g_get_monotonic_time();
  for (int i = 0; i < 60 && !dropped; i++) {
    dropped = !hc_send_all(slow, pad, 100) || closed_within(slow, 500);
  }
  ck_assert_msg(dropped, "a body at 200 B/s was not closed in 30 s");
  waited = (double)(g_get_monotonic_time() - t0) / 1e6;
  ck_assert_msg(waited < 10, "slow body closed after %.1f s", waited);
  close(slow);
  ck_assert_int_eq(limit_hits("limits.min_body_bytes_per_s", NULL), 1);

  int ok = hc_connect(port());
  hc_set_recv_timeout(ok, 10000);
  ck_assert(hc_send_all(ok, head, sizeof head - 1));
  for (int i = 0; i < 20; i++) {
    ck_assert(hc_send_all(ok, pad, sizeof pad));
    g_usleep(100 * 1000);
  }
  ck_assert(hc_send_all(ok, "}", 1));
  hc_read_answer(ok, FALSE, &a);
  ck_assert_int_eq(a.status, 400); /* read in full: "name" is missing */
  json_t *j = hc_answer_json(&a);
  ck_assert_str_eq(hc_error_code(j), "invalid_argument");
  json_decref(j);
  hc_answer_clear(&a);
  close(ok);
  ck_assert_int_eq(limit_hits("limits.min_body_bytes_per_s", NULL), 1);
  stop();
}
END_TEST

/* ---- per-address limit ---- */

START_TEST(test_per_address_limit)
{
  LimitsServer ls = { .max_connections_per_ip = 3 };
  start(&ls);
  /* Three silent connections: a fourth is served, and the one waiting
   * longest is closed to make room. */
  int w[3];
  for (int i = 0; i < 3; i++) {
    w[i] = hc_connect(port());
    g_usleep(50 * 1000);
  }
  HcAnswer a;
  get("/healthz", NULL, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  ck_assert(closed_within(w[0], 3000));
  ck_assert(!closed_within(w[1], 200));
  for (int i = 0; i < 3; i++)
    close(w[i]);
  g_usleep(300 * 1000); /* the server sees them close */

  /* Three busy ones (event streams): a fourth is refused, closed without
   * an answer, and the three stay. */
  int sse[3];
  for (int i = 0; i < 3; i++)
    sse[i] = sse_open();
  int extra = hc_connect(port());
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  hc_send_all(extra, req, sizeof req - 1); /* may fail: already closed */
  hc_set_recv_timeout(extra, 5000);
  hc_read_answer(extra, FALSE, &a);
  ck_assert_int_eq(a.status, 0);
  hc_answer_clear(&a);
  close(extra);
  for (int i = 0; i < 3; i++)
    ck_assert(!closed_within(sse[i], 100));
  for (int i = 0; i < 3; i++)
    close(sse[i]);
  g_usleep(300 * 1000);
  ck_assert_int_eq(limit_hits("limits.max_connections_per_ip", NULL), 2);
  stop();
}
END_TEST

static Suite *
suite(void)
{
  Suite *s = suite_create("http-limits");
  TCase *tc = http_limits_rules_tcase(); /* test-http-limits-rules.c */
  suite_add_tcase(s, tc);

  tc = tcase_create("hostile");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_malformed_requests);
  tcase_add_test(tc, test_route_table_needs_token);
  tcase_add_test(tc, test_unauthenticated_upload);
  tcase_add_test(tc, test_deadlines);
  tcase_add_test(tc, test_per_address_limit);
  tcase_add_test(tc, test_slowloris);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(suite());
}
