/* streamsight — a server with the limits a test of test-http-limits.c
 * exercises, and the requests and checks those tests make on it
 * (http-limits-fixture.h). */
#include "http-limits-fixture.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-client.h"
#include "http.h"
#include "prom-check.h"
#include "server-fixture.h"

static ServerFixture fx;
static HttpServer *srv;

void
start(const LimitsServer *ls)
{
  guint max_conn = ls->max_connections ? ls->max_connections : 64;
  guint64 max_body = ls->max_body_bytes ? ls->max_body_bytes : 64u << 10;
  ServerFixtureOptions fo = {
    .threads = 1,
    .max_streams = 4,
    .token = ls->token,
    .max_body_bytes = max_body,
    .max_sse_clients = 8,
    .sse_poll_ms = 200,
  };
  server_fixture_init_opts(&fx, &fo);
  HttpOptions o = {
    .bind = "127.0.0.1",
    .port = 0,
    .threads = 2,
    .max_connections = max_conn,
    .connection_timeout_s = 30,
    .max_connections_per_ip = ls->max_connections_per_ip,
    .header_timeout_s = ls->header_timeout_s,
    .min_body_bytes_per_s = ls->min_body_bytes_per_s,
    .max_body_bytes = max_body,
    .events = fx.events,
  };
  GError *e = NULL;
  srv = http_server_start(&o, fx.routes, &e);
  ck_assert_msg(srv != NULL, "start: %s", e ? e->message : "");
}

void
stop(void)
{
  http_server_stop(srv);
  srv = NULL;
  server_fixture_clear(&fx);
}

guint
port(void)
{
  return http_server_port(srv);
}

/* One request on a new connection; raw is sent as is. */
void
raw_request(const char *raw, HcAnswer *out)
{
  int fd = hc_connect(port());
  hc_set_recv_timeout(fd, 10000);
  ck_assert(hc_send_all(fd, raw, strlen(raw)));
  hc_read_answer(fd, FALSE, out);
  close(fd);
}

void
get(const char *path, const char *extra, HcAnswer *out)
{
  char *raw = g_strdup_printf("GET %s HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n%s\r\n", path,
                              extra ? extra : "");
  raw_request(raw, out);
  g_free(raw);
}

/* limit_hits[name] from GET /api/v1/stats, checked against /metrics. */
gint64
limit_hits(const char *name, const char *extra)
{
  HcAnswer a;
  get("/api/v1/stats", extra, &a);
  ck_assert_int_eq(a.status, 200);
  json_t *j = hc_answer_json(&a);
  json_t *v = json_object_get(json_object_get(j, "limit_hits"), name);
  ck_assert_msg(json_is_integer(v), "limit_hits.%s missing", name);
  gint64 n = json_integer_value(v);
  json_decref(j);
  hc_answer_clear(&a);

  get("/metrics", extra, &a);
  ck_assert_int_eq(a.status, 200);
  char *labels = g_strdup_printf("limit=\"%s\"", name);
  double m = -1;
  ck_assert_msg(prom_find(a.body, "streamsight_limit_hits_total", labels, &m),
                "no streamsight_limit_hits_total{%s}", labels);
  /* /metrics is read after stats: never fewer. */
  ck_assert_msg(m >= (double)n, "metrics %g < stats %" G_GINT64_FORMAT, m, n);
  g_free(labels);
  hc_answer_clear(&a);
  return n;
}

/* Whether the peer closed fd within ms (recv returns 0 or an error other
 * than a timeout). Data, if any, is discarded. */
gboolean
closed_within(int fd, guint ms)
{
  gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
  char buf[4096];
  while (g_get_monotonic_time() < end) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int left = (int)((end - g_get_monotonic_time()) / 1000);
    if (poll(&p, 1, MAX(left, 1)) <= 0)
      continue;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      return TRUE;
  }
  return FALSE;
}

void
raise_fd_limit(guint need)
{
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)need);
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  ck_assert_msg(rl.rlim_cur >= need,
                "this test needs %u file descriptors (ulimit -n is %lu)",
                need, (unsigned long)rl.rlim_cur);
}
