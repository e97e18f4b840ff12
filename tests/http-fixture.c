/* streamsight — the socket suites' server and clients (see http-fixture.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-fixture.h"

ServerFixture http_fx;
HttpServer *http_srv;

void
http_fixture_start(const char *token, guint max_connections, guint timeout_s)
{
  ServerFixtureOptions fo = {
    .threads = 2,
    .max_streams = 16,
    .token = token,
    .max_body_bytes = BODY_LIMIT,
    .max_sse_clients = MIN(32, max_connections / 2),
    .sse_poll_ms = 200,
  };
  server_fixture_init_opts(&http_fx, &fo);
  HttpOptions o = {
    .bind = "127.0.0.1",
    .port = 0,
    .threads = 2,
    .max_connections = max_connections,
    .connection_timeout_s = timeout_s,
    .max_body_bytes = BODY_LIMIT,
    .events = http_fx.events,
  };
  GError *e = NULL;
  http_srv = http_server_start(&o, http_fx.routes, &e);
  ck_assert_msg(http_srv != NULL, "start: %s", e ? e->message : "");
  ck_assert_uint_gt(http_server_port(http_srv), 0);
}

void
http_fixture_start_events(const char *token, guint max_sse,
                          guint queue_len, guint64 body_limit)
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
  server_fixture_init_opts(&http_fx, &fo);
  HttpOptions o = {
    .bind = "127.0.0.1",
    .port = 0,
    .threads = 2,
    .max_connections = 64,
    .connection_timeout_s = 30,
    .max_body_bytes = body_limit,
    .max_uri_bytes = 1024,
    .max_header_bytes = 2048,
    .events = http_fx.events,
  };
  GError *e = NULL;
  http_srv = http_server_start(&o, http_fx.routes, &e);
  ck_assert_msg(http_srv != NULL, "start: %s", e ? e->message : "");
}

void
http_fixture_stop(void)
{
  http_server_stop(http_srv);
  http_srv = NULL;
  server_fixture_clear(&http_fx);
}

/* ---- the client (http-client.h) on this server ---- */

int
client_connect(void)
{
  return hc_connect(http_server_port(http_srv));
}

/* One request on a new connection. extra: more header lines ("\r\n" each). */
void
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
gboolean
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
void
sse_open(SseClient *c, const char *target, const char *extra, int rcvbuf)
{
  memset(c, 0, sizeof *c);
  sse_parser_init(&c->p);
  c->raw = g_string_new(NULL);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(c->fd, 0);
  if (rcvbuf > 0)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in a = {
    .sin_family = AF_INET,
    .sin_port = htons((uint16_t)http_server_port(http_srv)),
  };
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

void
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
int
sse_count(SseClient *c, const char *name)
{
  int have = 0;
  for (int i = sse_parser_find(&c->p, name, 0); i >= 0;
       i = sse_parser_find(&c->p, name, (guint)i + 1))
    have++;
  return have;
}

/* Pumps until there are n events named name, or timeout_s. */
int
sse_wait(SseClient *c, const char *name, int n, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  int have;
  while ((have = sse_count(c, name)) < n &&
         g_get_monotonic_time() < deadline && sse_pump(c, 100))
    ;
  return sse_count(c, name);
}
