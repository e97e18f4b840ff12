/* Tests of server/http.c over real sockets: a server bound to 127.0.0.1 on
 * an ephemeral port (http-fixture.c), a plain-socket HTTP/1.1 client;
 * status lines, headers, bodies, the body limit (413 by Content-Length and
 * for chunked bodies), keep-alive, the connection limit and idle timeout,
 * the bearer token, TLS; and many client threads hitting the API while
 * streams run. Event streams, media and limits over sockets:
 * test-http-events.c; the built binary: test-http-binary.c. */
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

#include "http-fixture.h"
#include "prom-check.h"
#include "testutil.h"

/* Client threads and requests each in the concurrency test: enough to
 * overlap every handler many times on 2 cores, short enough for CI. */
#define N_CLIENTS 8
/* Under AddressSanitizer (unoptimised, several times slower) fewer
 * requests each: that run looks for memory errors, not throughput. */
#ifdef SS_TEST_UNDER_ASAN
#define N_REQUESTS 40
#else
#define N_REQUESTS 150
#endif

static void
setup(void)
{
  http_fixture_start(NULL, 64, 30);
}

static void
setup_auth(void)
{
  http_fixture_start("sekrit-Token", 64, 30);
}

static void
setup_limits(void)
{
  http_fixture_start(NULL, 2, 1);
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
    .bind = "127.0.0.1", .port = http_server_port(http_srv), .threads = 1,
    .max_connections = 4, .connection_timeout_s = 5,
    .max_body_bytes = BODY_LIMIT,
  };
  GError *e = NULL;
  HttpServer *second = http_server_start(&o, http_fx.routes, &e);
  ck_assert_ptr_null(second);
  ck_assert_msg(strstr(e->message, "cannot listen on 127.0.0.1 port") != NULL,
                "%s", e->message);
  g_clear_error(&e);
  o.bind = "not-an-address";
  o.port = 0;
  second = http_server_start(&o, http_fx.routes, &e);
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
  ck_assert_uint_ge(limit_log_count(routes_limit_log(http_fx.routes),
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
  server_fixture_init(&http_fx, 1, 4, NULL, 4096);
  HttpOptions o = {
    .bind = "127.0.0.1", .threads = 2, .max_connections = 16,
    .connection_timeout_s = 10, .max_body_bytes = 4096,
    .events = http_fx.events, .tls_cert_pem = cert_pem, .tls_key_pem = key_pem,
  };
  GError *e = NULL;
  http_srv = http_server_start(&o, http_fx.routes, &e);
  ck_assert_msg(http_srv != NULL, "TLS start: %s", e ? e->message : "");
  char *url = g_strdup_printf("https://127.0.0.1:%u/api/v1/model",
                              http_server_port(http_srv));
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
  ck_assert(registry_add(http_fx.registry, "tls", &sc, NULL, NULL));
  stream_config_clear(&sc);
  url = g_strdup_printf("https://127.0.0.1:%u/api/v1/events",
                        http_server_port(http_srv));
  char *sargv[] = { curl, "-skN", "--max-time", "4", url, NULL };
  ck_assert(g_spawn_sync(NULL, sargv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                         NULL, &out, NULL, &status, NULL));
  ck_assert_msg(out && strstr(out, "event: stream\n") &&
                strstr(out, "event: prediction\n"), "SSE over TLS: %s",
                out ? out : "(nothing)");
  g_free(out);
  g_free(url);
  http_server_stop(http_srv);
  http_srv = NULL;
  server_fixture_clear(&http_fx);
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
  ck_assert(registry_get(http_fx.registry, id, &info, NULL));
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
  json_t *p = fixture_wait_prediction(&http_fx, "stream-1",
                                      PREDICTION_TIMEOUT_S, NULL);
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
  ck_assert_uint_eq(registry_count(http_fx.registry), 2);
  guint64 t_wait = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (frames_inferred("stream-1") <= before &&
         g_get_monotonic_time() < (gint64)t_wait)
    g_usleep(50 * 1000);
  ck_assert_uint_gt(frames_inferred("stream-1"), before);
  guint64 ok, cerr, serr;
  routes_counts(http_fx.routes, &ok, &cerr, &serr);
  ck_assert_uint_le(serr, (guint64)g_atomic_int_get(&snapshots_busy));
}
END_TEST

static Suite *
http_suite(void)
{
  Suite *s = suite_create("http");
  TCase *tc = tcase_create("smoke");
  tcase_add_checked_fixture(tc, setup, http_fixture_stop);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_smoke);
  tcase_add_test(tc, test_keep_alive);
  tcase_add_test(tc, test_body_limit);
  tcase_add_test(tc, test_port_in_use);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_auth, http_fixture_stop);
  tcase_add_test(tc, test_token_over_http);
  suite_add_tcase(s, tc);

  tc = tcase_create("limits");
  tcase_add_checked_fixture(tc, setup_limits, http_fixture_stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_connection_limit_and_timeout);
  suite_add_tcase(s, tc);

  tc = tcase_create("tls");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tls);
  suite_add_tcase(s, tc);

  tc = tcase_create("concurrency");
  tcase_add_checked_fixture(tc, setup, http_fixture_stop);
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
