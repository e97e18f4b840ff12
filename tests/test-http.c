/* Tests of server/http.c over real sockets: a server bound to 127.0.0.1 on
 * an ephemeral port, a plain-socket HTTP/1.1 client; status lines, headers,
 * bodies, the body limit (413 by Content-Length and for chunked bodies),
 * keep-alive, the connection limit and idle timeout, the bearer token; and
 * many client threads hitting the API while streams run. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gst/video/video.h>

#include "http-client.h"
#include "http.h"
#include "image-decode.h"
#include "prom-check.h"
#include "serve.h"
#include "server-fixture.h"
#include "sse-parse.h"
#include "testutil.h"

#define BODY_LIMIT 2048
#define PREDICTION_TIMEOUT_S 20.0
/* Client threads and requests each in the concurrency test: enough to
 * overlap every handler many times on 2 cores, short enough for CI. */
#define N_CLIENTS 8
/* Under AddressSanitizer (unoptimised, several times slower) fewer
 * requests each: that run looks for memory errors, not throughput. */
#if defined(__SANITIZE_ADDRESS__)
#define SS_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_TEST_UNDER_ASAN 1
#endif
#endif
#ifdef SS_TEST_UNDER_ASAN
#define N_REQUESTS 40
#else
#define N_REQUESTS 150
#endif

static ServerFixture fx;
static HttpServer *srv;

static void
start_server(const char *token, guint max_connections, guint timeout_s)
{
  ServerFixtureOptions fo = {
    .threads = 2,
    .max_streams = 16,
    .token = token,
    .max_body_bytes = BODY_LIMIT,
    .max_sse_clients = MIN(32, max_connections / 2),
    .sse_poll_ms = 200,
  };
  server_fixture_init_opts(&fx, &fo);
  HttpOptions o = {
    .bind = "127.0.0.1",
    .port = 0,
    .threads = 2,
    .max_connections = max_connections,
    .connection_timeout_s = timeout_s,
    .max_body_bytes = BODY_LIMIT,
    .events = fx.events,
  };
  GError *e = NULL;
  srv = http_server_start(&o, fx.routes, &e);
  ck_assert_msg(srv != NULL, "start: %s", e ? e->message : "");
  ck_assert_uint_gt(http_server_port(srv), 0);
}

static void
setup(void)
{
  start_server(NULL, 64, 30);
}

static void
setup_auth(void)
{
  start_server("sekrit-Token", 64, 30);
}

static void
setup_limits(void)
{
  start_server(NULL, 2, 1);
}

static void
teardown(void)
{
  http_server_stop(srv);
  srv = NULL;
  server_fixture_clear(&fx);
}

/* ---- the client (http-client.h) on this suite's server ---- */

static int
client_connect(void)
{
  return hc_connect(http_server_port(srv));
}

/* One request on a new connection. extra: more header lines ("\r\n" each). */
static void
http_do(const char *method, const char *target, const char *extra,
        const char *body, HcAnswer *out)
{
  int fd = client_connect();
  GString *r = g_string_new(NULL);
  g_string_append_printf(r, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\n%s", method, target,
                         extra ? extra : "");
  if (body)
    g_string_append_printf(r, "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\n", strlen(body));
  g_string_append(r, "\r\n");
  if (body)
    g_string_append(r, body);
  ck_assert(hc_send_all(fd, r->str, r->len));
  g_string_free(r, TRUE);
  hc_read_answer(fd, strcmp(method, "HEAD") == 0, out);
  close(fd);
}

/* ---- smoke ---- */

START_TEST(test_smoke)
{
  HcAnswer a;
  http_do("GET", "/healthz", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  char *ct = hc_answer_header(&a, "Content-Type");
  ck_assert_str_eq(ct, "application/json");
  g_free(ct);
  json_t *j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
  json_decref(j);
  hc_answer_clear(&a);

  http_do("HEAD", "/healthz", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  ck_assert_uint_eq(a.body_len, 0);
  hc_answer_clear(&a);

  /* A stream through the API, its predictions, its removal. */
  http_do("POST", "/api/v1/streams", NULL,
          "{\"name\": \"smoke\", \"uri\": \"test:\", \"max_fps\": 15}", &a);
  ck_assert_int_eq(a.status, 201);
  char *loc = hc_answer_header(&a, "Location");
  ck_assert_ptr_nonnull(loc);
  j = hc_answer_json(&a);
  const char *id = json_string_value(json_object_get(j, "id"));
  ck_assert_ptr_nonnull(id);
  char *want = g_strdup_printf("/api/v1/streams/%s", id);
  ck_assert_str_eq(loc, want);
  json_decref(j);
  hc_answer_clear(&a);

  char *latest = g_strdup_printf("%s/predictions/latest", loc);
  gboolean got = FALSE;
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)(PREDICTION_TIMEOUT_S * 1e6);
  while (!got && g_get_monotonic_time() < deadline) {
    http_do("GET", latest, NULL, NULL, &a);
    ck_assert_int_eq(a.status, 200);
    j = hc_answer_json(&a);
    got = json_is_object(json_object_get(j, "prediction"));
    json_decref(j);
    hc_answer_clear(&a);
    if (!got)
      g_usleep(50 * 1000);
  }
  ck_assert_msg(got, "no prediction over HTTP");

  /* The query string reaches the routes. */
  char *hist = g_strdup_printf("%s/predictions?limit=abc", loc);
  http_do("GET", hist, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 400);
  hc_answer_clear(&a);
  g_free(hist);
  hist = g_strdup_printf("%s/predictions?limit=1", loc);
  http_do("GET", hist, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  j = hc_answer_json(&a);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
  json_decref(j);
  hc_answer_clear(&a);
  g_free(hist);

  http_do("DELETE", loc, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 204);
  hc_answer_clear(&a);
  http_do("GET", loc, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 404);
  j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")), "not_found");
  json_decref(j);
  hc_answer_clear(&a);

  /* 404 and 405 with Allow. */
  http_do("GET", "/nope", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 404);
  hc_answer_clear(&a);
  http_do("PUT", "/api/v1/streams", NULL, "{}", &a);
  ck_assert_int_eq(a.status, 405);
  char *allow = hc_answer_header(&a, "Allow");
  ck_assert_str_eq(allow, "GET, HEAD, POST, OPTIONS");
  g_free(allow);
  hc_answer_clear(&a);

  g_free(latest);
  g_free(want);
  g_free(loc);
}
END_TEST

START_TEST(test_keep_alive)
{
  int fd = client_connect();
  for (int i = 0; i < 5; i++) {
    const char *r = "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert(hc_send_all(fd, r, strlen(r)));
    HcAnswer a;
    hc_read_answer(fd, FALSE, &a);
    ck_assert_msg(a.status == 200, "request %d on one connection: %d", i,
                  a.status);
    json_t *j = hc_answer_json(&a);
    ck_assert(json_is_object(json_object_get(j, "pool")));
    json_decref(j);
    hc_answer_clear(&a);
  }
  close(fd);
}
END_TEST

START_TEST(test_body_limit)
{
  /* Announced too large: refused before the body is sent. */
  int fd = client_connect();
  char *r = g_strdup_printf("POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: %d\r\n"
                            "Expect: 100-continue\r\n\r\n", BODY_LIMIT + 1);
  ck_assert(hc_send_all(fd, r, strlen(r)));
  g_free(r);
  HcAnswer a;
  hc_read_answer(fd, FALSE, &a);
  ck_assert_int_eq(a.status, 413);
  json_t *j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")),
                   "payload_too_large");
  json_decref(j);
  hc_answer_clear(&a);
  close(fd);

  /* Chunked, no length up front: read, discarded, then 413. */
  fd = client_connect();
  GString *req = g_string_new("POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 4; i++) {
    g_string_append_printf(req, "%x\r\n", 1000);
    for (int k = 0; k < 1000; k++)
      g_string_append_c(req, ' ');
    g_string_append(req, "\r\n");
  }
  g_string_append(req, "0\r\n\r\n");
  ck_assert(hc_send_all(fd, req->str, req->len));
  g_string_free(req, TRUE);
  hc_read_answer(fd, FALSE, &a);
  ck_assert_int_eq(a.status, 413);
  hc_answer_clear(&a);
  close(fd);

  /* Just under the limit is read and parsed (400: not a stream). */
  char *body = g_malloc(BODY_LIMIT + 1);
  memset(body, ' ', BODY_LIMIT);
  body[0] = '{';
  body[BODY_LIMIT - 1] = '}';
  body[BODY_LIMIT] = '\0';
  http_do("POST", "/api/v1/streams", NULL, body, &a);
  ck_assert_int_eq(a.status, 400);
  j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")),
                   "invalid_argument");
  json_decref(j);
  hc_answer_clear(&a);
  g_free(body);
}
END_TEST

START_TEST(test_port_in_use)
{
  HttpOptions o = {
    .bind = "127.0.0.1", .port = http_server_port(srv), .threads = 1,
    .max_connections = 4, .connection_timeout_s = 5,
    .max_body_bytes = BODY_LIMIT,
  };
  GError *e = NULL;
  HttpServer *second = http_server_start(&o, fx.routes, &e);
  ck_assert_ptr_null(second);
  ck_assert_msg(strstr(e->message, "cannot listen on 127.0.0.1 port") != NULL,
                "%s", e->message);
  g_clear_error(&e);
  o.bind = "not-an-address";
  o.port = 0;
  second = http_server_start(&o, fx.routes, &e);
  ck_assert_ptr_null(second);
  ck_assert_msg(strstr(e->message, "not-an-address") != NULL, "%s",
                e->message);
  g_error_free(e);
}
END_TEST

START_TEST(test_token_over_http)
{
  HcAnswer a;
  http_do("GET", "/api/v1/streams", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 401);
  char *www = hc_answer_header(&a, "WWW-Authenticate");
  ck_assert_ptr_nonnull(www);
  g_free(www);
  hc_answer_clear(&a);
  http_do("GET", "/api/v1/streams", "Authorization: Bearer nope\r\n", NULL,
          &a);
  ck_assert_int_eq(a.status, 401);
  hc_answer_clear(&a);
  http_do("GET", "/api/v1/streams", "Authorization: Bearer sekrit-Token\r\n",
          NULL, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  http_do("GET", "/healthz", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
}
END_TEST

START_TEST(test_connection_limit_and_timeout)
{
  /* Two connections that send nothing fill the limit of 2: a third is
   * served at once, and the one that waited longest is closed to make room
   * (http-guard.h). */
  int a1 = client_connect();
  g_usleep(100 * 1000);
  int a2 = client_connect();
  g_usleep(200 * 1000);
  int b = client_connect();
  const char *r = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                  "Connection: close\r\n\r\n";
  ck_assert(hc_send_all(b, r, strlen(r)));
  struct timeval tv = { .tv_sec = 5 };
  setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  HcAnswer a;
  hc_read_answer(b, FALSE, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  close(b);
  char c;
  setsockopt(a1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ck_assert_int_eq(recv(a1, &c, 1, 0), 0);
  close(a1);
  ck_assert_uint_ge(limit_log_count(routes_limit_log(fx.routes),
                                    LIMIT_MAX_CONNECTIONS), 1);

  /* The other idle one is closed after the 1 s timeout. */
  setsockopt(a2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  gint64 t0 = g_get_monotonic_time();
  ck_assert_int_eq(recv(a2, &c, 1, 0), 0);
  double waited = (double)(g_get_monotonic_time() - t0) / 1e6;
  ck_assert_msg(waited < 4.0, "idle connection closed after %g s", waited);
  close(a2);
}
END_TEST

/* ==== issue 5: events, media and limits over real sockets ==== */

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

static void
sse_dechunk(SseClient *c)
{
  for (;;) {
    if (c->need_crlf) {
      if (c->raw->len < 2)
        return;
      ck_assert_msg(c->raw->str[0] == '\r' && c->raw->str[1] == '\n',
                    "bad chunk framing");
      g_string_erase(c->raw, 0, 2);
      c->need_crlf = FALSE;
    }
    if (c->chunk_left == 0) {
      char *nl = memchr(c->raw->str, '\n', c->raw->len);
      if (!nl)
        return;
      gsize size = (gsize)g_ascii_strtoull(c->raw->str, NULL, 16);
      g_string_erase(c->raw, 0, nl - c->raw->str + 1);
      if (size == 0) {
        c->ended = TRUE;
        return;
      }
      c->chunk_left = size;
    }
    gsize n = MIN(c->chunk_left, c->raw->len);
    if (n == 0)
      return;
    sse_parser_feed(&c->p, c->raw->str, n);
    g_string_erase(c->raw, 0, (gssize)n);
    c->chunk_left -= n;
    if (c->chunk_left == 0)
      c->need_crlf = TRUE;
  }
}

/* Reads what arrives within timeout_ms; FALSE once the stream ended. */
static gboolean
sse_pump(SseClient *c, int timeout_ms)
{
  if (c->ended)
    return FALSE;
  struct pollfd p = { .fd = c->fd, .events = POLLIN };
  if (poll(&p, 1, timeout_ms) != 1)
    return TRUE;
  char buf[16384];
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n <= 0) {
    c->ended = TRUE;
    return FALSE;
  }
  g_string_append_len(c->raw, buf, n);
  sse_dechunk(c);
  return !c->ended;
}

/* Connects (rcvbuf > 0: a small receive buffer, set before connecting),
 * sends GET target and reads the response head. */
static void
sse_open(SseClient *c, const char *target, const char *extra, int rcvbuf)
{
  memset(c, 0, sizeof *c);
  sse_parser_init(&c->p);
  c->raw = g_string_new(NULL);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(c->fd, 0);
  if (rcvbuf > 0)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons((uint16_t)http_server_port(srv)) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
  char *r = g_strdup_printf("GET %s HTTP/1.1\r\nHost: x\r\nAccept: "
                            "text/event-stream\r\n%s\r\n", target,
                            extra ? extra : "");
  ck_assert(hc_send_all(c->fd, r, strlen(r)));
  g_free(r);
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  char *end = NULL;
  while (!(end = strstr(c->raw->str, "\r\n\r\n")) &&
         g_get_monotonic_time() < deadline) {
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    if (poll(&p, 1, 100) != 1)
      continue;
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    g_string_append_len(c->raw, buf, n);
  }
  ck_assert_msg(end != NULL, "no response head");
  c->headers = g_strndup(c->raw->str, end - c->raw->str);
  sscanf(c->headers, "HTTP/1.%*d %d", &c->status);
  g_string_erase(c->raw, 0, end - c->raw->str + 4);
  if (c->status == 200)
    sse_dechunk(c);
}

static void
sse_close(SseClient *c)
{
  if (c->fd >= 0)
    close(c->fd);
  g_free(c->headers);
  g_string_free(c->raw, TRUE);
  sse_parser_clear(&c->p);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

/* Events named name received so far. */
static int
sse_count(SseClient *c, const char *name)
{
  int have = 0;
  for (int i = sse_parser_find(&c->p, name, 0); i >= 0;
       i = sse_parser_find(&c->p, name, (guint)i + 1))
    have++;
  return have;
}

/* Pumps until there are n events named name, or timeout_s. */
static int
sse_wait(SseClient *c, const char *name, int n, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  int have;
  while ((have = sse_count(c, name)) < n &&
         g_get_monotonic_time() < deadline && sse_pump(c, 100))
    ;
  return sse_count(c, name);
}

static json_t *
get_json(const char *target)
{
  HcAnswer a;
  http_do("GET", target, NULL, NULL, &a);
  ck_assert_msg(a.status == 200, "GET %s: %d", target, a.status);
  json_t *j = hc_answer_json(&a);
  hc_answer_clear(&a);
  return j;
}

static json_int_t
stats_int(const char *section, const char *key)
{
  json_t *j = get_json("/api/v1/stats");
  json_int_t v = json_integer_value(json_object_get(
      json_object_get(j, section), key));
  json_decref(j);
  return v;
}

/* POSTs a stream; returns its id (new string). */
static char *
http_create(const char *body)
{
  HcAnswer a;
  http_do("POST", "/api/v1/streams", NULL, body, &a);
  ck_assert_msg(a.status == 201, "POST %s: %d", body, a.status);
  json_t *j = hc_answer_json(&a);
  char *id = g_strdup(json_string_value(json_object_get(j, "id")));
  json_decref(j);
  hc_answer_clear(&a);
  return id;
}

static void
start_events_server(const char *token, guint max_sse, guint queue_len,
                    guint64 body_limit)
{
  ServerFixtureOptions fo = {
    .threads = 2,
    .max_streams = 16,
    .token = token,
    .max_body_bytes = body_limit,
    .max_uri_bytes = 1024,
    .max_header_bytes = 2048,
    .max_sse_clients = max_sse,
    .sse_queue_len = queue_len,
    .sse_heartbeat_ms = 300,
    .sse_poll_ms = 200,
  };
  server_fixture_init_opts(&fx, &fo);
  HttpOptions o = {
    .bind = "127.0.0.1",
    .port = 0,
    .threads = 2,
    .max_connections = 64,
    .connection_timeout_s = 30,
    .max_body_bytes = body_limit,
    .max_uri_bytes = 1024,
    .max_header_bytes = 2048,
    .events = fx.events,
  };
  GError *e = NULL;
  srv = http_server_start(&o, fx.routes, &e);
  ck_assert_msg(srv != NULL, "start: %s", e ? e->message : "");
}

static void
setup_events(void)
{
  start_events_server(NULL, 4, 16, 1 << 20);
}

static void
setup_events_auth(void)
{
  start_events_server("sekrit-Token", 4, 16, 1 << 20);
}

START_TEST(test_sse_delivery)
{
  char *id = http_create("{\"name\": \"sse\", \"uri\": \"test:\", "
                         "\"max_fps\": 20}");
  char *target = g_strdup_printf("/api/v1/streams/%s/events", id);
  SseClient c;
  sse_open(&c, target, NULL, 0);
  ck_assert_int_eq(c.status, 200);
  ck_assert_msg(strstr(c.headers, "Content-Type: text/event-stream") &&
                strstr(c.headers, "chunked"), "%s", c.headers);
  ck_assert_int_ge(sse_wait(&c, "prediction", 4, PREDICTION_TIMEOUT_S), 4);
  ck_assert_int_eq(c.p.retry_ms, 3000);
  ck_assert_int_eq(sse_parser_find(&c.p, "stream", 0), 0);
  json_int_t prev = 0;
  for (int i = sse_parser_find(&c.p, "prediction", 0); i >= 0;
       i = sse_parser_find(&c.p, "prediction", (guint)i + 1)) {
    SseEvent *e = g_ptr_array_index(c.p.events, i);
    json_t *j = json_loads(e->data, 0, NULL);
    ck_assert_msg(j, "data not JSON: %s", e->data);
    json_t *p = json_object_get(j, "prediction");
    json_int_t seq = json_integer_value(json_object_get(p, "seq"));
    ck_assert_int_gt(seq, prev);
    prev = seq;
    char *want = g_strdup_printf("%s:%lld", id, (long long)seq);
    ck_assert_str_eq(e->id, want);
    g_free(want);
    ck_assert_str_eq(json_string_value(json_object_get(j, "stream_id")), id);
    ck_assert(json_array_size(json_object_get(p, "classes")) == 5);
    json_decref(j);
  }
  /* Heartbeats (every 300 ms here). */
  ck_assert_int_ge(sse_wait(&c, "heartbeat", 2, 5), 2);
  SseEvent *hb = g_ptr_array_index(c.p.events,
                                   sse_parser_find(&c.p, "heartbeat", 0));
  json_t *j = json_loads(hb->data, 0, NULL);
  ck_assert(json_is_string(json_object_get(j, "time")));
  ck_assert_int_eq(json_integer_value(json_object_get(j, "dropped")), 0);
  json_decref(j);

  /* All streams, and a PATCH seen as a stream event. */
  SseClient all;
  sse_open(&all, "/api/v1/events", NULL, 0);
  ck_assert_int_eq(all.status, 200);
  ck_assert_int_ge(sse_wait(&all, "prediction", 1, PREDICTION_TIMEOUT_S), 1);
  char *path = g_strdup_printf("/api/v1/streams/%s", id);
  HcAnswer a;
  http_do("PATCH", path, NULL, "{\"max_fps\": 2}", &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  ck_assert_int_ge(sse_wait(&all, "stream", 2, 5), 2);
  /* Removing the stream ends the per-stream client. */
  http_do("DELETE", path, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 204);
  hc_answer_clear(&a);
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (sse_pump(&c, 100) && g_get_monotonic_time() < deadline)
    ;
  ck_assert_msg(c.ended, "per-stream events did not end after DELETE");
  ck_assert_int_ge(sse_parser_find(&c.p, "stream_removed", 0), 0);
  ck_assert_int_ge(sse_wait(&all, "stream_removed", 1, 5), 1);
  ck_assert(!all.ended);
  sse_close(&all);
  sse_close(&c);
  g_free(path);
  g_free(target);
  g_free(id);
}
END_TEST

static double
inferred_per_s(const char *id, double seconds)
{
  StreamInfo a, b;
  ck_assert(registry_get(fx.registry, id, &a, NULL));
  gint64 t0 = g_get_monotonic_time();
  g_usleep((gulong)(seconds * 1e6));
  ck_assert(registry_get(fx.registry, id, &b, NULL));
  double dt = (double)(g_get_monotonic_time() - t0) / 1e6;
  double r = (double)(b.stats.counters[RESULTS_INFERRED] -
                      a.stats.counters[RESULTS_INFERRED]) / dt;
  stream_info_clear(&a);
  stream_info_clear(&b);
  return r;
}

START_TEST(test_sse_slow_client)
{
  /* Two streams at full rate feed the client ~2x the frame rate. */
  char *id = http_create("{\"name\": \"f1\", \"uri\": \"test:\", "
                         "\"max_fps\": 0}");
  g_free(http_create("{\"name\": \"f2\", \"uri\": \"test:\", "
                     "\"max_fps\": 0}"));
  json_decref(fixture_wait_prediction(&fx, id, PREDICTION_TIMEOUT_S, NULL));
  double before = inferred_per_s(id, 2.0);
  /* A client that never reads, with a small receive buffer: the kernel
   * buffers fill, the server's queue (16) fills, then events drop. */
  SseClient c;
  sse_open(&c, "/api/v1/events", NULL, 4096);
  ck_assert_int_eq(c.status, 200);
  StreamInfo a;
  ck_assert(registry_get(fx.registry, id, &a, NULL));
  gint64 t0 = g_get_monotonic_time();
  gint64 deadline = t0 + 90 * G_USEC_PER_SEC;
  while (stats_int("sse", "events_dropped") < 50 &&
         g_get_monotonic_time() < deadline)
    g_usleep(200 * 1000);
  json_int_t dropped = stats_int("sse", "events_dropped");
  ck_assert_msg(dropped >= 50, "only %lld events dropped in 90 s",
                (long long)dropped);
  double during = inferred_per_s(id, 2.0);
  StreamInfo b;
  ck_assert(registry_get(fx.registry, id, &b, NULL));
  double waited = (double)(g_get_monotonic_time() - t0) / 1e6;
  printf("slow SSE client: %lld events dropped after %.1f s; stream f1 "
         "inferred %.1f/s before, %.1f/s while the client stalled (%"
         G_GUINT64_FORMAT " frames)\n", (long long)dropped, waited, before,
         during, b.stats.counters[RESULTS_INFERRED] -
                     a.stats.counters[RESULTS_INFERRED]);
  /* Inference did not wait for the client: still at the source's rate
   * (the bound leaves room for the shared, noisy 2-core machine). */
  ck_assert_msg(during >= 0.6 * before, "inference slowed: %.1f/s -> %.1f/s",
                before, during);
  stream_info_clear(&a);
  stream_info_clear(&b);
  /* Reading now: what the kernel held (older heartbeats among it), the
   * queue's worth, then heartbeats that count the drops. */
  json_int_t hb_dropped = 0;
  deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  guint seen = 0;
  while (hb_dropped < dropped && g_get_monotonic_time() < deadline &&
         sse_pump(&c, 100)) {
    for (; seen < c.p.events->len; seen++) {
      SseEvent *e = g_ptr_array_index(c.p.events, seen);
      if (strcmp(e->event, "heartbeat") != 0)
        continue;
      json_t *j = json_loads(e->data, 0, NULL);
      hb_dropped = MAX(hb_dropped,
                       json_integer_value(json_object_get(j, "dropped")));
      json_decref(j);
    }
  }
  ck_assert_msg(hb_dropped >= dropped, "heartbeats report %lld dropped, "
                "stats %lld", (long long)hb_dropped, (long long)dropped);
  /* The other clients, the API and the streams are unaffected. */
  json_t *s = get_json("/api/v1/stats");
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(s, "sse"), "clients")), 1);
  json_decref(s);
  sse_close(&c);
  g_free(id);
}
END_TEST

START_TEST(test_sse_disconnect_and_limit)
{
  SseClient c[4];
  for (int i = 0; i < 4; i++) {
    sse_open(&c[i], "/api/v1/events", NULL, 0);
    ck_assert_int_eq(c[i].status, 200);
  }
  ck_assert_int_eq(stats_int("sse", "clients"), 4);
  /* At the limit: 503, the error shape, Retry-After. */
  HcAnswer a;
  http_do("GET", "/api/v1/events", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 503);
  char *ra = hc_answer_header(&a, "Retry-After");
  ck_assert_str_eq(ra, "5");
  g_free(ra);
  json_t *j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")), "limit_reached");
  json_decref(j);
  hc_answer_clear(&a);
  /* Clients that hang up (while idle: no stream runs) are noticed and
   * cleaned up without waiting for a heartbeat's write. */
  for (int i = 0; i < 3; i++)
    sse_close(&c[i]);
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (stats_int("sse", "clients") > 1 &&
         g_get_monotonic_time() < deadline)
    g_usleep(50 * 1000);
  ck_assert_int_eq(stats_int("sse", "clients"), 1);
  sse_open(&c[0], "/api/v1/events", NULL, 0);
  ck_assert_int_eq(c[0].status, 200);
  /* Stopping the server with clients connected ends them. */
  http_server_stop(srv);
  srv = NULL;
  for (int i = 0; i < 4; i += 3) {
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (sse_pump(&c[i], 100) && g_get_monotonic_time() < deadline)
      ;
    ck_assert_msg(c[i].ended, "client %d not ended by the server's stop", i);
    sse_close(&c[i]);
  }
}
END_TEST

START_TEST(test_sse_token)
{
  SseClient c;
  sse_open(&c, "/api/v1/events", NULL, 0);
  ck_assert_int_eq(c.status, 401);
  sse_close(&c);
  sse_open(&c, "/api/v1/events?access_token=nope", NULL, 0);
  ck_assert_int_eq(c.status, 401);
  sse_close(&c);
  sse_open(&c, "/api/v1/events?access_token=sekrit-Token", NULL, 0);
  ck_assert_int_eq(c.status, 200);
  ck_assert_int_ge(sse_wait(&c, "heartbeat", 1, 5), 1);
  sse_close(&c);
  sse_open(&c, "/api/v1/events", "Authorization: Bearer sekrit-Token\r\n", 0);
  ck_assert_int_eq(c.status, 200);
  sse_close(&c);
  /* Not on the other routes. */
  HcAnswer a;
  http_do("GET", "/api/v1/streams?access_token=sekrit-Token", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 401);
  hc_answer_clear(&a);
}
END_TEST

/* An encoded image made by GStreamer's encoders (caps "image/png", ...). */
static guint8 *
make_image(const char *caps_str, int w, int h, gsize *len)
{
  gsize stride = (gsize)w * 3;
  GstBuffer *buf = gst_buffer_new_allocate(NULL, stride * (gsize)h, NULL);
  GstMapInfo map;
  ck_assert(gst_buffer_map(buf, &map, GST_MAP_WRITE));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *px = map.data + (gsize)y * stride + (gsize)x * 3;
      px[0] = (guint8)(x * 7);
      px[1] = (guint8)(y * 5);
      px[2] = (guint8)(x ^ y);
    }
  gst_buffer_unmap(buf, &map);
  GstCaps *caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING,
                                      "RGB", "width", G_TYPE_INT, w, "height",
                                      G_TYPE_INT, h, "framerate",
                                      GST_TYPE_FRACTION, 0, 1, NULL);
  GstSample *s = gst_sample_new(buf, caps, NULL, NULL);
  GstCaps *to = gst_caps_from_string(caps_str);
  GstSample *out = gst_video_convert_sample(s, to, 5 * GST_SECOND, NULL);
  ck_assert_ptr_nonnull(out);
  GstBuffer *ob = gst_sample_get_buffer(out);
  ck_assert(gst_buffer_map(ob, &map, GST_MAP_READ));
  guint8 *data = g_memdup2(map.data, map.size);
  *len = map.size;
  gst_buffer_unmap(ob, &map);
  gst_sample_unref(out);
  gst_sample_unref(s);
  gst_caps_unref(to);
  gst_caps_unref(caps);
  gst_buffer_unref(buf);
  return data;
}

/* Sends a raw request (head + body) and reads the answer. */
static void
http_raw(const char *head, const void *body, gsize len, HcAnswer *out)
{
  int fd = client_connect();
  ck_assert(hc_send_all(fd, head, strlen(head)));
  if (body)
    ck_assert(hc_send_all(fd, body, len));
  hc_read_answer(fd, FALSE, out);
  close(fd);
}

START_TEST(test_media_over_http)
{
  char *id = http_create("{\"name\": \"m\", \"uri\": \"test:\", "
                         "\"max_fps\": 5}");
  json_decref(fixture_wait_prediction(&fx, id, PREDICTION_TIMEOUT_S, NULL));
  /* Snapshot: a JPEG that decodes. */
  char *target = g_strdup_printf("/api/v1/streams/%s/snapshot.jpg?width=100",
                                 id);
  HcAnswer a;
  http_do("GET", target, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  char *ct = hc_answer_header(&a, "Content-Type");
  ck_assert_str_eq(ct, "image/jpeg");
  g_free(ct);
  const guint8 *d = (const guint8 *)a.body;
  ck_assert(a.body_len > 100 && d[0] == 0xff && d[1] == 0xd8 &&
            d[a.body_len - 2] == 0xff && d[a.body_len - 1] == 0xd9);
  RgbImage img;
  ck_assert(image_decode_buffer(d, a.body_len, &img, NULL));
  ck_assert_int_eq(img.width, 100);
  rgb_image_clear(&img);
  hc_answer_clear(&a);
  g_free(target);

  /* Classify: raw, then multipart (what curl -F sends). */
  gsize len = 0;
  guint8 *png = make_image("image/png", 64, 48, &len);
  char *head = g_strdup_printf("POST /api/v1/classify?top_k=3 HTTP/1.1\r\n"
                               "Host: x\r\nConnection: close\r\n"
                               "Content-Type: image/png\r\n"
                               "Content-Length: %zu\r\n\r\n", len);
  http_raw(head, png, len, &a);
  g_free(head);
  ck_assert_int_eq(a.status, 200);
  json_t *j = hc_answer_json(&a);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "classes")), 3);
  json_decref(j);
  hc_answer_clear(&a);
  GString *mp = g_string_new("--------------------------d74496d66958873e\r\n"
                             "Content-Disposition: form-data; name=\"image\"; "
                             "filename=\"x.png\"\r\n"
                             "Content-Type: image/png\r\n\r\n");
  g_string_append_len(mp, (const char *)png, (gssize)len);
  g_string_append(mp, "\r\n--------------------------d74496d66958873e--\r\n");
  head = g_strdup_printf("POST /api/v1/classify HTTP/1.1\r\nHost: x\r\n"
                         "Connection: close\r\nContent-Type: multipart/"
                         "form-data; boundary=------------------------"
                         "d74496d66958873e\r\nContent-Length: %zu\r\n\r\n",
                         mp->len);
  http_raw(head, mp->str, mp->len, &a);
  g_free(head);
  ck_assert_int_eq(a.status, 200);
  j = hc_answer_json(&a);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "classes")), 5);
  json_decref(j);
  hc_answer_clear(&a);
  /* Not an image: 400 with the decoder's message. */
  head = g_strdup_printf("POST /api/v1/classify HTTP/1.1\r\nHost: x\r\n"
                         "Connection: close\r\nContent-Length: 5\r\n\r\n");
  http_raw(head, "hello", 5, &a);
  g_free(head);
  ck_assert_int_eq(a.status, 400);
  j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")),
                   "invalid_image");
  json_decref(j);
  hc_answer_clear(&a);
  /* Over the body limit (1 MiB here), announced: 413 before reading. */
  head = "POST /api/v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Content-Type: image/jpeg\r\nContent-Length: 2000000\r\n\r\n";
  http_raw(head, NULL, 0, &a);
  ck_assert_int_eq(a.status, 413);
  hc_answer_clear(&a);
  json_t *s = get_json("/api/v1/stats");
  ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(
                       json_object_get(s, "http"), "image_jobs"), "done")),
                   4);
  json_decref(s);
  g_string_free(mp, TRUE);
  g_free(png);
  g_free(id);
}
END_TEST

START_TEST(test_limits_over_http)
{
  /* A request target over limits.max_uri_bytes (1024) but within the
   * connection memory: our JSON 414. */
  GString *t = g_string_new("/api/v1/streams?pad=");
  while (t->len < 1100)
    g_string_append_c(t, 'a');
  HcAnswer a;
  http_do("GET", t->str, NULL, NULL, &a);
  ck_assert_int_eq(a.status, 414);
  json_t *j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")), "uri_too_long");
  json_decref(j);
  hc_answer_clear(&a);
  /* Headers over limits.max_header_bytes (2048): our JSON 431. */
  GString *h = g_string_new("X-Pad: ");
  while (h->len < 3000)
    g_string_append_c(h, 'b');
  g_string_append(h, "\r\n");
  http_do("GET", "/api/v1/streams", h->str, NULL, &a);
  ck_assert_int_eq(a.status, 431);
  j = hc_answer_json(&a);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")),
                   "header_too_large");
  json_decref(j);
  hc_answer_clear(&a);
  /* Far beyond the connection memory: libmicrohttpd answers by itself
   * (not JSON); it is counted. */
  while (h->len < 200000)
    g_string_append(h, "X-More: cccccccccccccccccccccccccccccccccccc\r\n");
  http_do("GET", "/api/v1/streams", h->str, NULL, &a);
  ck_assert_msg(a.status == 431 || a.status == 413 || a.status == 400 ||
                a.status == 0, "status %d", a.status);
  hc_answer_clear(&a);
  gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
  while (stats_int("http", "protocol_errors") < 1 &&
         g_get_monotonic_time() < deadline)
    g_usleep(20 * 1000);
  ck_assert_int_ge(stats_int("http", "protocol_errors"), 1);
  json_t *s = get_json("/api/v1/stats");
  json_t *lim = json_object_get(s, "limit_hits");
  ck_assert_int_eq(json_integer_value(json_object_get(lim,
                                                      "limits.max_uri_bytes")),
                   1);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       lim, "limits.max_header_bytes")), 1);
  json_decref(s);
  /* The server still answers. */
  http_do("GET", "/healthz", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  /* /metrics over HTTP. */
  http_do("GET", "/metrics", NULL, NULL, &a);
  ck_assert_int_eq(a.status, 200);
  char *ct = hc_answer_header(&a, "Content-Type");
  ck_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
  g_free(ct);
  char *err = prom_check(a.body, a.body_len);
  ck_assert_msg(err == NULL, "%s", err);
  hc_answer_clear(&a);
  g_string_free(h, TRUE);
  g_string_free(t, TRUE);
}
END_TEST

/* TLS keeps working, event streams included (openssl makes a throwaway
 * certificate; curl is the client). */
START_TEST(test_tls)
{
  char *openssl = g_find_program_in_path("openssl");
  char *curl = g_find_program_in_path("curl");
  if (!openssl || !curl) {
    printf("SKIP: openssl or curl not installed\n");
    g_free(openssl);
    g_free(curl);
    return;
  }
  char *dir = g_strdup_printf("%s/tls-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *cert = g_build_filename(dir, "cert.pem", NULL);
  char *key = g_build_filename(dir, "key.pem", NULL);
  char *argv[] = { openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                   "-keyout", key, "-out", cert, "-days", "1", "-subj",
                   "/CN=127.0.0.1", NULL };
  int status = -1;
  ck_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL |
                         G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                         &status, NULL));
  ck_assert_int_eq(status, 0);
  char *cert_pem = NULL, *key_pem = NULL;
  ck_assert(g_file_get_contents(cert, &cert_pem, NULL, NULL));
  ck_assert(g_file_get_contents(key, &key_pem, NULL, NULL));
  server_fixture_init(&fx, 1, 4, NULL, 4096);
  HttpOptions o = {
    .bind = "127.0.0.1", .threads = 2, .max_connections = 16,
    .connection_timeout_s = 10, .max_body_bytes = 4096,
    .events = fx.events, .tls_cert_pem = cert_pem, .tls_key_pem = key_pem,
  };
  GError *e = NULL;
  srv = http_server_start(&o, fx.routes, &e);
  ck_assert_msg(srv != NULL, "TLS start: %s", e ? e->message : "");
  char *url = g_strdup_printf("https://127.0.0.1:%u/api/v1/model",
                              http_server_port(srv));
  char *out = NULL;
  char *cargv[] = { curl, "-sk", "--max-time", "10", url, NULL };
  ck_assert(g_spawn_sync(NULL, cargv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                         NULL, &out, NULL, &status, NULL));
  json_t *j = json_loads(out, 0, NULL);
  ck_assert_msg(j && json_is_string(json_object_get(j, "arch")),
                "over TLS: %s", out);
  json_decref(j);
  g_free(out);
  g_free(url);
  /* Events over TLS: a stream's state at once, then its predictions. */
  StreamConfig sc;
  stream_config_init(&sc);
  sc.name = g_strdup("tls");
  sc.uri = g_strdup("test:");
  ck_assert(registry_add(fx.registry, "tls", &sc, NULL, NULL));
  stream_config_clear(&sc);
  url = g_strdup_printf("https://127.0.0.1:%u/api/v1/events",
                        http_server_port(srv));
  char *sargv[] = { curl, "-skN", "--max-time", "4", url, NULL };
  ck_assert(g_spawn_sync(NULL, sargv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                         NULL, &out, NULL, &status, NULL));
  ck_assert_msg(out && strstr(out, "event: stream\n") &&
                strstr(out, "event: prediction\n"), "SSE over TLS: %s",
                out ? out : "(nothing)");
  g_free(out);
  g_free(url);
  http_server_stop(srv);
  srv = NULL;
  server_fixture_clear(&fx);
  memset(key_pem, 0, strlen(key_pem));
  g_free(key_pem);
  g_free(cert_pem);
  g_free(key);
  g_free(cert);
  g_free(dir);
  g_free(openssl);
  g_free(curl);
}
END_TEST

/* ---- concurrency ---- */

typedef struct {
  int index;
  int failures;
  char first_failure[256];
  int requests;
  int done; /* atomic */
} Client;

static void
client_fail(Client *c, const char *what, int status)
{
  if (c->failures++ == 0)
    snprintf(c->first_failure, sizeof c->first_failure,
             "client %d: %s -> %d", c->index, what, status);
}

/* Snapshots answered 503 busy during the concurrency test. */
static int snapshots_busy;

static gpointer
client_main(gpointer user)
{
  Client *c = user;
  char *name_body = g_strdup_printf("{\"name\": \"client-%d\", \"uri\": "
                                    "\"test:\", \"max_fps\": 5}", c->index);
  char *own = NULL;
  for (int i = 0; i < N_REQUESTS; i++) {
    HcAnswer a;
    int kind = (i + c->index) % 10;
    if (kind == 0) {
      http_do("GET", "/api/v1/streams", NULL, NULL, &a);
      json_t *j = hc_answer_json(&a);
      if (a.status != 200 || !json_is_array(json_object_get(j, "streams")))
        client_fail(c, "list", a.status);
      json_decref(j);
    } else if (kind == 1) {
      http_do("GET", "/api/v1/stats", NULL, NULL, &a);
      json_t *j = hc_answer_json(&a);
      if (a.status != 200 || !json_is_object(json_object_get(j, "pool")))
        client_fail(c, "stats", a.status);
      json_decref(j);
    } else if (kind == 2 || kind == 3) {
      const char *which = (i / 6) % 2 ? "stream-1" : "stream-2";
      char *p = g_strdup_printf("/api/v1/streams/%s/predictions%s", which,
                                kind == 2 ? "/latest" : "?limit=20");
      http_do("GET", p, NULL, NULL, &a);
      json_t *j = hc_answer_json(&a);
      if (a.status != 200 || !json_is_object(j))
        client_fail(c, p, a.status);
      json_decref(j);
      g_free(p);
    } else if (kind == 4) {
      /* Add or remove this client's own stream. */
      if (!own) {
        http_do("POST", "/api/v1/streams", NULL, name_body, &a);
        json_t *j = hc_answer_json(&a);
        if (a.status == 201)
          own = g_strdup(json_string_value(json_object_get(j, "id")));
        else
          client_fail(c, "create", a.status);
        json_decref(j);
      } else {
        char *p = g_strdup_printf("/api/v1/streams/%s", own);
        http_do("DELETE", p, NULL, NULL, &a);
        if (a.status != 204)
          client_fail(c, "delete", a.status);
        g_clear_pointer(&own, g_free);
        g_free(p);
      }
    } else if (kind == 5) {
      http_do("GET", "/api/v1/streams/stream-1", NULL, NULL, &a);
      if (a.status != 200)
        client_fail(c, "get", a.status);
    } else if (kind == 6) {
      http_do("GET", "/metrics", NULL, NULL, &a);
      char *err = a.status == 200 ? prom_check(a.body, a.body_len) : NULL;
      if (a.status != 200 || err)
        client_fail(c, err ? err : "metrics", a.status);
      g_free(err);
    } else if (kind == 7) {
      http_do("GET", (i / 10) % 2 ? "/api/v1/model" : "/api/v1/openapi.json",
              NULL, NULL, &a);
      json_t *j = hc_answer_json(&a);
      if (a.status != 200 || !json_is_object(j))
        client_fail(c, "model/openapi", a.status);
      json_decref(j);
    } else if (kind == 8) {
      if (own) {
        char *p = g_strdup_printf("/api/v1/streams/%s", own);
        http_do("PATCH", p, NULL, (i / 10) % 2 ? "{\"max_fps\": 3}"
                                                : "{\"top_k\": 2}", &a);
        if (a.status != 200)
          client_fail(c, "patch", a.status);
        g_free(p);
      } else {
        http_do("GET", "/api/v1/streams/stream-1/snapshot.jpg?width=80",
                NULL, NULL, &a);
        /* 503 busy is the documented answer of an overloaded machine
         * (jobs that waited HTTP_WORK_MAX_WAIT_MS); anything else must be
         * a JPEG. */
        gboolean busy = a.status == 503 && a.body &&
                        strstr(a.body, "\"busy\"") != NULL;
        if (!busy && (a.status != 200 || a.body_len < 4 ||
                      (guint8)a.body[0] != 0xff || (guint8)a.body[1] != 0xd8))
          client_fail(c, "snapshot", a.status);
        if (busy)
          g_atomic_int_inc(&snapshots_busy);
      }
    } else {
      /* A short-lived event stream: its first event, then hang up. */
      SseClient e;
      sse_open(&e, "/api/v1/streams/stream-1/events", NULL, 0);
      if (e.status != 200 || sse_wait(&e, "stream", 1, 10) < 1)
        client_fail(c, "events", e.status);
      sse_close(&e);
      memset(&a, 0, sizeof a);
    }
    hc_answer_clear(&a);
    c->requests++;
  }
  if (own) {
    char *p = g_strdup_printf("/api/v1/streams/%s", own);
    HcAnswer a;
    http_do("DELETE", p, NULL, NULL, &a);
    if (a.status != 204)
      client_fail(c, "final delete", a.status);
    hc_answer_clear(&a);
    g_free(p);
    g_free(own);
  }
  g_free(name_body);
  g_atomic_int_set(&c->done, 1);
  return NULL;
}

static guint64
frames_inferred(const char *id)
{
  StreamInfo info;
  ck_assert(registry_get(fx.registry, id, &info, NULL));
  guint64 n = info.stats.counters[RESULTS_INFERRED];
  stream_info_clear(&info);
  return n;
}

START_TEST(test_concurrent_clients)
{
  /* Two streams run throughout (ids stream-1, stream-2). */
  for (int i = 0; i < 2; i++) {
    HcAnswer a;
    char *body = g_strdup_printf("{\"name\": \"base-%d\", \"uri\": "
                                 "\"test:\", \"max_fps\": 10}", i);
    http_do("POST", "/api/v1/streams", NULL, body, &a);
    ck_assert_int_eq(a.status, 201);
    hc_answer_clear(&a);
    g_free(body);
  }
  json_t *p = fixture_wait_prediction(&fx, "stream-1", PREDICTION_TIMEOUT_S,
                                      NULL);
  ck_assert_ptr_nonnull(p);
  json_decref(p);
  guint64 before = frames_inferred("stream-1");

  /* A dashboard-like client watches every stream's events throughout. */
  SseClient watcher;
  sse_open(&watcher, "/api/v1/events", NULL, 0);
  ck_assert_int_eq(watcher.status, 200);
  ck_assert_int_ge(sse_wait(&watcher, "prediction", 1, PREDICTION_TIMEOUT_S),
                   1);
  int watched0 = sse_count(&watcher, "prediction");

  Client clients[N_CLIENTS];
  GThread *threads[N_CLIENTS];
  gint64 t0 = g_get_monotonic_time();
  for (int i = 0; i < N_CLIENTS; i++) {
    memset(&clients[i], 0, sizeof clients[i]);
    clients[i].index = i;
    threads[i] = g_thread_new("client", client_main, &clients[i]);
  }
  int total = 0, failures = 0;
  for (int i = 0; i < N_CLIENTS; i++) {
    while (!g_atomic_int_get(&clients[i].done))
      sse_pump(&watcher, 20);
    g_thread_join(threads[i]);
    total += clients[i].requests;
    failures += clients[i].failures;
    if (clients[i].failures)
      fprintf(stderr, "%s\n", clients[i].first_failure);
  }
  double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
  int watched = sse_count(&watcher, "prediction") - watched0;
  printf("concurrency: %d requests from %d clients in %.2f s (%.0f/s), "
         "%d failures; a watcher received %d predictions meanwhile\n", total,
         N_CLIENTS, secs, total / secs, failures, watched);
  ck_assert_int_gt(watched, 0);
  if (g_atomic_int_get(&snapshots_busy))
    printf("concurrency: %d snapshots answered 503 busy (overloaded "
           "machine)\n", g_atomic_int_get(&snapshots_busy));
  ck_assert(!watcher.ended);
  sse_close(&watcher);
  ck_assert_int_eq(total, N_CLIENTS * N_REQUESTS);
  ck_assert_int_eq(failures, 0);

  /* The base streams kept running and nothing of the clients is left. */
  ck_assert_uint_eq(registry_count(fx.registry), 2);
  guint64 t_wait = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (frames_inferred("stream-1") <= before &&
         g_get_monotonic_time() < (gint64)t_wait)
    g_usleep(50 * 1000);
  ck_assert_uint_gt(frames_inferred("stream-1"), before);
  guint64 ok, cerr, serr;
  routes_counts(fx.routes, &ok, &cerr, &serr);
  ck_assert_uint_le(serr, (guint64)g_atomic_int_get(&snapshots_busy));
}
END_TEST


/* ---- the binary: serve, healthcheck, SIGTERM, restart ---- */

static const char *
exe_path(void)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set (run through meson test)\n");
    return NULL;
  }
  return exe;
}

typedef struct {
  GPid pid;
  int out_fd, err_fd;
  guint port;
  GString *out, *err;
} Child;

/* Reads what is available from fd into buf within timeout_ms; FALSE at
 * EOF. */
static gboolean
pump(int fd, GString *buf, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  if (poll(&p, 1, timeout_ms) != 1)
    return TRUE;
  char chunk[1024];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n <= 0)
    return FALSE;
  g_string_append_len(buf, chunk, n);
  return TRUE;
}

/* Starts `streamsight serve --config config --port 0` with extra env
 * entries; waits for the "listening" line when wait_listen. */
static void
child_start(Child *c, const char *config, char **extra_env,
            gboolean wait_listen)
{
  memset(c, 0, sizeof *c);
  c->out = g_string_new(NULL);
  c->err = g_string_new(NULL);
  char *argv[] = { (char *)exe_path(), "serve", "--config", (char *)config,
                   "--port", "0", NULL };
  char **env = g_get_environ();
  env = g_environ_unsetenv(env, "STREAMSIGHT_CONFIG");
  env = g_environ_unsetenv(env, "STREAMSIGHT_PORT");
  env = g_environ_unsetenv(env, "STREAMSIGHT_TOKEN");
  env = g_environ_setenv(env, "STREAMSIGHT_THREADS", "1", TRUE);
  for (char **e = extra_env; e && *e; e++) {
    char **kv = g_strsplit(*e, "=", 2);
    env = g_environ_setenv(env, kv[0], kv[1] ? kv[1] : "", TRUE);
    g_strfreev(kv);
  }
  GError *err = NULL;
  ck_assert_msg(g_spawn_async_with_pipes(NULL, argv, env,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                         NULL, &c->pid, NULL, &c->out_fd,
                                         &c->err_fd, &err),
                "spawn: %s", err ? err->message : "");
  g_strfreev(env);
  if (!wait_listen)
    return;
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  const char *mark = "listening on http://127.0.0.1:";
  while (!strstr(c->out->str, mark) && g_get_monotonic_time() < deadline) {
    if (!pump(c->out_fd, c->out, 100))
      break;
    pump(c->err_fd, c->err, 0);
  }
  const char *at = strstr(c->out->str, mark);
  ck_assert_msg(at != NULL, "no listening line; stdout: %s stderr: %s",
                c->out->str, c->err->str);
  c->port = (guint)strtoul(at + strlen(mark), NULL, 10);
  ck_assert_uint_gt(c->port, 0);
}

/* Waits for the child to exit (sending sig first if not 0); returns the
 * exit status, or -1 on a timeout or a signal death. */
static int
child_finish(Child *c, int sig, double timeout_s)
{
  if (sig)
    kill(c->pid, sig);
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  int status = 0, rc = -1;
  while (g_get_monotonic_time() < deadline) {
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == c->pid) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    pump(c->out_fd, c->out, 20);
    pump(c->err_fd, c->err, 20);
  }
  if (rc == -1 && waitpid(c->pid, &status, WNOHANG) == 0) {
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &status, 0);
  }
  while (pump(c->err_fd, c->err, 0) && c->err->len < 65536)
    ;
  close(c->out_fd);
  close(c->err_fd);
  g_spawn_close_pid(c->pid);
  return rc;
}

static void
child_clear(Child *c)
{
  g_string_free(c->out, TRUE);
  g_string_free(c->err, TRUE);
}

/* GET on 127.0.0.1:port (the fixture's client targets srv). */
static void
get_port(guint port, const char *target, HcAnswer *a)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = { .tv_sec = 20 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  char *r = g_strdup_printf("%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            "\r\n", target);
  ck_assert(hc_send_all(fd, r, strlen(r)));
  g_free(r);
  hc_read_answer(fd, FALSE, a);
  close(fd);
}

START_TEST(test_binary_serve_restart)
{
  char model[1024];
  if (!exe_path() ||
      !tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model))
    return;
  char *dir = g_strdup_printf("%s/bin-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *config = g_build_filename(dir, "streamsight.json", NULL);
  char *model_env = g_strdup_printf("STREAMSIGHT_MODEL=%s", model);
  /* The config at the default location (STREAMSIGHT_CONFIG), so that it
   * may not exist yet. */
  char *config_env = g_strdup_printf("STREAMSIGHT_CONFIG=%s", config);
  char *env[] = { model_env, config_env, NULL };

  /* No file yet: defaults with the test stream. */
  Child c;
  child_start(&c, config, env, TRUE);
  HcAnswer a;
  get_port(c.port, "GET /healthz", &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  get_port(c.port, "GET /api/v1/streams/stream-1", &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);

  /* healthcheck against it: 0; against a path that 404s: 1. */
  char *url = g_strdup_printf("http://127.0.0.1:%u/healthz", c.port);
  char *hc[] = { "healthcheck", "--url", url, NULL };
  ck_assert_int_eq(cmd_healthcheck(3, hc), 0);
  char *url404 = g_strdup_printf("http://127.0.0.1:%u/nope", c.port);
  char *hc404[] = { "healthcheck", "--url", url404, NULL };
  ck_assert_int_eq(cmd_healthcheck(3, hc404), 1);

  /* A stream added over the API is in the file... */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t)c.port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  const char *body = "{\"id\": \"extra\", \"name\": \"extra\", \"uri\": "
                     "\"test:\", \"enabled\": false}";
  char *r = g_strdup_printf("POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\nContent-Length: %zu\r\n\r\n"
                            "%s", strlen(body), body);
  ck_assert(hc_send_all(fd, r, strlen(r)));
  g_free(r);
  hc_read_answer(fd, FALSE, &a);
  close(fd);
  ck_assert_int_eq(a.status, 201);
  hc_answer_clear(&a);

  /* ...SIGTERM stops the server cleanly... */
  int rc = child_finish(&c, SIGTERM, 30);
  ck_assert_msg(rc == 0, "exit %d after SIGTERM; stderr: %s", rc,
                c.err->str);
  child_clear(&c);

  /* ...and both streams come back with their ids. */
  child_start(&c, config, env, TRUE);
  get_port(c.port, "GET /api/v1/streams", &a);
  ck_assert_int_eq(a.status, 200);
  json_t *j = hc_answer_json(&a);
  json_t *arr = json_object_get(j, "streams");
  ck_assert_uint_eq(json_array_size(arr), 2);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0),
                                                     "id")), "stream-1");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 1),
                                                     "id")), "extra");
  json_decref(j);
  hc_answer_clear(&a);
  rc = child_finish(&c, SIGINT, 30);
  ck_assert_msg(rc == 0, "exit %d after SIGINT; stderr: %s", rc, c.err->str);
  child_clear(&c);

  /* Nothing answers any more: healthcheck fails. */
  ck_assert_int_eq(cmd_healthcheck(3, hc), 1);
  g_free(url404);
  g_free(url);
  g_free(model_env);
  g_free(config_env);
  g_free(config);
  g_free(dir);
}
END_TEST

START_TEST(test_binary_start_errors)
{
  if (!exe_path())
    return;
  char *dir = g_strdup_printf("%s/binerr-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *config = g_build_filename(dir, "c.json", NULL);

  /* A --config file that does not exist: exit 2, the path named (only
   * the default location, STREAMSIGHT_CONFIG, may be created later). */
  Child c;
  child_start(&c, config, NULL, FALSE);
  int rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(c.err->str, "no such file") &&
                strstr(c.err->str, config), "stderr: %s", c.err->str);
  child_clear(&c);

  /* A missing model: exit 1, and the message says how to get one. */
  g_file_set_contents(config, "{}", -1, NULL);
  char *env1[] = { "STREAMSIGHT_MODEL=/nonexistent/model.tflite", NULL };
  child_start(&c, config, env1, FALSE);
  rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(c.err->str, "/nonexistent/model.tflite") &&
                strstr(c.err->str, "scripts/install-models.sh"), "stderr: %s",
                c.err->str);
  child_clear(&c);

  /* A bad config: exit 2, the message names the file and the key. */
  g_file_set_contents(config, "{\"limits\": {\"max_stream\": 3}}", -1, NULL);
  child_start(&c, config, NULL, FALSE);
  rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(c.err->str, "limits.max_stream: unknown key (did "
                       "you mean max_streams?)") &&
                strstr(c.err->str, config), "stderr: %s", c.err->str);
  child_clear(&c);

  /* A bad environment value: exit 2, the variable is named. */
  g_file_set_contents(config, "{}", -1, NULL);
  char *env2[] = { "STREAMSIGHT_BIND=localhost", NULL };
  child_start(&c, config, env2, FALSE);
  rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(c.err->str, "STREAMSIGHT_BIND"), "stderr: %s",
                c.err->str);
  child_clear(&c);

  /* healthcheck: bad URL is a usage error; nothing listening is 1. */
  char *bad[] = { "healthcheck", "--url", "https://127.0.0.1:1/", NULL };
  ck_assert_int_eq(cmd_healthcheck(3, bad), 2);
  char *closed[] = { "healthcheck", "--url", "http://127.0.0.1:1/healthz",
                     "--timeout", "2", NULL };
  ck_assert_int_eq(cmd_healthcheck(5, closed), 1);
  g_free(config);
  g_free(dir);
}
END_TEST

static Suite *
http_suite(void)
{
  Suite *s = suite_create("http");
  TCase *tc = tcase_create("smoke");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_smoke);
  tcase_add_test(tc, test_keep_alive);
  tcase_add_test(tc, test_body_limit);
  tcase_add_test(tc, test_port_in_use);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_add_test(tc, test_token_over_http);
  suite_add_tcase(s, tc);

  tc = tcase_create("limits");
  tcase_add_checked_fixture(tc, setup_limits, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_connection_limit_and_timeout);
  suite_add_tcase(s, tc);

  tc = tcase_create("binary");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_binary_serve_restart);
  tcase_add_test(tc, test_binary_start_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("events");
  tcase_add_checked_fixture(tc, setup_events, teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_sse_delivery);
  tcase_add_test(tc, test_sse_slow_client);
  tcase_add_test(tc, test_sse_disconnect_and_limit);
  tcase_add_test(tc, test_media_over_http);
  tcase_add_test(tc, test_limits_over_http);
  suite_add_tcase(s, tc);

  tc = tcase_create("events-auth");
  tcase_add_checked_fixture(tc, setup_events_auth, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_sse_token);
  suite_add_tcase(s, tc);

  tc = tcase_create("tls");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tls);
  suite_add_tcase(s, tc);

  tc = tcase_create("concurrency");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_concurrent_clients);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(http_suite());
}
