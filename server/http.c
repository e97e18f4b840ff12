#define G_LOG_DOMAIN "streamsight"

#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "http-framing.h"
#include "http-guard.h"

G_DEFINE_QUARK(streamsight-http-error-quark, http_error)

/* Connections the daemon accepts beyond limits.max_connections: room to
 * keep accepting while the guard closes the connections it evicts. */
#define HTTP_CONNECTION_SLACK 16
/* Connection memory beyond the URI and header limits: libmicrohttpd's read
 * and write buffers live in the same pool. */
#define HTTP_POOL_HEADROOM (16u << 10)
/* Bytes asked of an event stream's reader at a time. */
#define HTTP_SSE_BLOCK (16u << 10)
/* The kernel send buffer of an event stream. Left to autotuning it grows
 * to net.ipv4.tcp_wmem's maximum (4 MiB by default): minutes of events a
 * stalled client would get late instead of seeing them dropped. With this
 * cap (the kernel doubles it) a slow client lags by at most its queue
 * (EVENTS_DEFAULT_QUEUE_LEN events) plus ~64 KiB. */
#define HTTP_SSE_SNDBUF (32 << 10)

struct HttpServer {
  struct MHD_Daemon *daemon;
  Routes *routes;              /* borrowed */
  EventHub *events;            /* borrowed */
  Watchdog *watchdog;          /* borrowed, may be NULL */
  guint64 max_body_bytes;
  guint port;
  char *tls_cert_pem;          /* kept for the daemon's lifetime */
  char *tls_key_pem;
  GMutex log_lock;             /* protects last_log */
  char *last_log;              /* last message from libmicrohttpd */
  size_t pool_bytes;           /* per-connection memory */

  GMutex work_lock;            /* protects work and work_closed */
  GThreadPool *work;
  gboolean work_closed;
  guint work_threads, work_queue_max;
  HttpGuard *guard;
  /* Atomic. */
  guint64 work_done, protocol_errors;
};

/* Per-request state, from the request line to the completion callback. */
typedef struct {
  GByteArray *body;  /* NULL until data arrives */
  gboolean headers_seen;
  gboolean too_large;
  gboolean answered;
  gboolean failed;   /* a deferred answer could not be queued */
  gboolean nul_in_target;  /* "%00" in the request target */
  gboolean too_many_args;  /* over HTTP_MAX_QUERY_ARGS (not parsed) */
  gsize uri_bytes;
  gint64 start_us;
} RequestState;

typedef struct {
  HttpServer *s;
  struct MHD_Connection *conn;
  RequestState *st;
  RouteWork *work;
  gint64 queued_us;
} WorkJob;

typedef struct {
  struct MHD_Connection *conn;
  EventClient *client;
} SseConn;

static void
request_state_free(RequestState *st)
{
  if (st->body)
    g_byte_array_unref(st->body);
  g_free(st);
}

/* libmicrohttpd's log: kept for start-up errors, debug otherwise; its own
 * error answers are counted and logged once. Its messages name sockets and
 * states, never request data. */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  HttpServer *s = cls;
  char *msg = g_strdup_vprintf(fmt, ap);
  g_strchomp(msg);
  g_debug("http: libmicrohttpd: %s", msg);
  static const char marker[] = "HTTP response code is ";
  const char *code = strstr(msg, marker);
  if (code) {
    int status = atoi(code + sizeof marker - 1);
    __atomic_add_fetch(&s->protocol_errors, 1, __ATOMIC_RELAXED);
    char detail[160];
    g_snprintf(detail, sizeof detail,
               "libmicrohttpd answered %d itself (malformed request, or "
               "request line and headers over the %zu bytes of connection "
               "memory)", status, s->pool_bytes);
    limit_log_hit(routes_limit_log(s->routes), LIMIT_PROTOCOL, detail);
  } else if (strstr(msg, "connection limit")) {
    limit_log_hit(routes_limit_log(s->routes), LIMIT_MAX_CONNECTIONS,
                  "a connection waited or was closed at the limit");
  }
  g_mutex_lock(&s->log_lock);
  g_free(s->last_log);
  s->last_log = msg;
  g_mutex_unlock(&s->log_lock);
}

typedef struct {
  RouteParam params[HTTP_MAX_QUERY_ARGS];
  guint n;
} QueryCollect;

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
              const char *value)
{
  QueryCollect *q = cls;
  if (q->n >= HTTP_MAX_QUERY_ARGS)
    return MHD_NO; /* cannot happen: on_uri refuses more */
  q->params[q->n].name = key;
  q->params[q->n].value = value;
  q->n++;
  return MHD_YES;
}

static enum MHD_Result
sum_headers(void *cls, enum MHD_ValueKind kind, const char *key,
            const char *value)
{
  gsize *n = cls;
  /* "Name: value\r\n" */
  *n += strlen(key) + (value ? strlen(value) : 0) + 4;
  return MHD_YES;
}

/* ---- event streams ---- */

/* Called by event_client_read() under the client's lock, from the reader
 * below, i.e. from libmicrohttpd's content reader callback: the one place
 * where suspending is allowed. */
static void
sse_idle(gpointer data)
{
  SseConn *sc = data;
  MHD_suspend_connection(sc->conn);
}

/* Called under the client's lock from any thread, only after sse_idle:
 * the connection is suspended and, the lock being held, still exists. */
static void
sse_wake(gpointer data)
{
  SseConn *sc = data;
  MHD_resume_connection(sc->conn);
}

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  SseConn *sc = cls;
  gssize n = event_client_read(sc->client, buf, max);
  return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void
sse_free(void *cls)
{
  SseConn *sc = cls;
  event_client_close(sc->client);
  g_free(sc);
}

/* ---- answers ---- */

static enum MHD_Result
send_response(struct MHD_Connection *conn, RouteResponse *resp)
{
  struct MHD_Response *r;
  SseConn *sc = NULL;
  if (resp->events) {
    sc = g_new0(SseConn, 1);
    sc->conn = conn;
    sc->client = resp->events;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_SSE_BLOCK,
                                          sse_read, sc, sse_free);
    if (!r) {
      g_free(sc);
      return MHD_NO; /* resp->events is closed by route_response_clear */
    }
    resp->events = NULL; /* the response owns it now (sse_free) */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    if (fd >= 0) {
      int sndbuf = HTTP_SSE_SNDBUF;
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    event_client_attach(sc->client, sse_idle, sse_wake, sc, fd);
  } else if (resp->body && resp->body_len > 0) {
    /* MHD frees the body with free() once sent. */
    r = MHD_create_response_from_buffer_with_free_callback(
        resp->body_len, resp->body, free);
    if (r)
      resp->body = NULL;
  } else {
    r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  }
  if (!r)
    return MHD_NO;
  if (resp->content_type)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type);
  for (guint i = 0; i < resp->n_headers; i++)
    MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
  enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
  MHD_destroy_response(r);
  return ret;
}

/* An image-job thread: runs the work, queues its answer on the suspended
 * connection and resumes it. */
static void
work_main(gpointer data, gpointer user)
{
  WorkJob *j = data;
  HttpServer *s = user;
  /* Below stream inference: raising one's own niceness needs no
   * privilege (and these threads run nothing else). */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HTTP_WORK_NICE);
  RouteResponse resp = { 0 };
  gint64 waited_ms = (g_get_monotonic_time() - j->queued_us) / 1000;
  if (waited_ms > HTTP_WORK_MAX_WAIT_MS) {
    route_work_free(j->work);
    limit_log_hit(routes_limit_log(s->routes), LIMIT_WORK_QUEUE,
                  "an image job waited too long for a thread (503)");
    route_response_error(&resp, 503, "busy",
                         "the image job waited %" G_GINT64_FORMAT " ms for a "
                         "thread (limit %d ms): the server is overloaded; "
                         "retry later", waited_ms, HTTP_WORK_MAX_WAIT_MS);
    route_response_add_header(&resp, "Retry-After", "2");
    routes_count_answer(s->routes, resp.status);
  } else {
    guint task = watchdog_task_begin(s->watchdog, "an image job");
    route_work_run(j->work, &resp);
    watchdog_task_end(s->watchdog, task);
  }
  g_debug("http: job -> %u (%.3f ms)", resp.status,
          (double)(g_get_monotonic_time() - j->st->start_us) / 1000.0);
  if (send_response(j->conn, &resp) != MHD_YES)
    j->st->failed = TRUE;
  route_response_clear(&resp);
  __atomic_add_fetch(&s->work_done, 1, __ATOMIC_RELAXED);
  MHD_resume_connection(j->conn);
  g_free(j);
}

static void
http_stats(gpointer user, RouteHttpStats *out)
{
  HttpServer *s = user;
  out->work_threads = s->work_threads;
  out->work_queue_max = s->work_queue_max;
  g_mutex_lock(&s->work_lock);
  out->work_queued = s->work ? g_thread_pool_unprocessed(s->work) : 0;
  g_mutex_unlock(&s->work_lock);
  out->work_done = __atomic_load_n(&s->work_done, __ATOMIC_RELAXED);
  out->protocol_errors =
      __atomic_load_n(&s->protocol_errors, __ATOMIC_RELAXED);
}

/* Hands work to an image-job thread and suspends the connection; FALSE
 * when the queue is full or the server is stopping (resp then holds the
 * 503 answer). */
static gboolean
defer(HttpServer *s, struct MHD_Connection *conn, RequestState *st,
      RouteResponse *resp)
{
  RouteWork *w = resp->work;
  gboolean ok = FALSE, closed;
  g_mutex_lock(&s->work_lock);
  closed = s->work_closed;
  if (!closed && g_thread_pool_unprocessed(s->work) < s->work_queue_max) {
    WorkJob *j = g_new0(WorkJob, 1);
    j->s = s;
    j->conn = conn;
    j->st = st;
    j->work = w;
    j->queued_us = g_get_monotonic_time();
    /* Suspended before the job can possibly finish and resume it. */
    MHD_suspend_connection(conn);
    ok = g_thread_pool_push(s->work, j, NULL);
    if (!ok) {
      MHD_resume_connection(conn);
      g_free(j);
    }
  }
  g_mutex_unlock(&s->work_lock);
  if (ok) {
    resp->work = NULL;
    return TRUE;
  }
  route_response_clear(resp);
  routes_count_answer(s->routes, 503);
  if (closed) {
    route_response_error(resp, 503, "unavailable", "the server is stopping");
  } else {
    char detail[96];
    g_snprintf(detail, sizeof detail, "%u image jobs queued: a snapshot or "
               "classify request was refused (503)", s->work_queue_max);
    limit_log_hit(routes_limit_log(s->routes), LIMIT_WORK_QUEUE, detail);
    route_response_error(resp, 503, "busy",
                         "%u image jobs (snapshots, classifications) are "
                         "already queued; retry shortly", s->work_queue_max);
    route_response_add_header(resp, "Retry-After", "1");
  }
  return FALSE;
}

/* The guard's entry of a connection (NULL when there is none). */
static HttpGuardConn *
conn_guard(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* The request as the routes see it, without the body (st's, if any, is
 * added by answer()). q receives the query arguments req points to. */
static void
request_fill(struct MHD_Connection *conn, const char *url, const char *method,
             const RequestState *st, QueryCollect *q, RouteRequest *req)
{
  q->n = 0;
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, q);
  gsize header_bytes = 0;
  MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_headers,
                            &header_bytes);
  *req = (RouteRequest){
    .method = method,
    .path = url,
    .query = q->params,
    .n_query = q->n,
    .authorization = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
    .content_type = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
    .if_none_match = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
    .last_event_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 "Last-Event-ID"),
    .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
    .body_too_large = st->too_large,
    .uri_bytes = st->uri_bytes,
    .header_bytes = header_bytes,
  };
}

static enum MHD_Result
answer(HttpServer *s, struct MHD_Connection *conn, const char *url,
       const char *method, RequestState *st)
{
  QueryCollect q;
  RouteRequest req;
  request_fill(conn, url, method, st, &q, &req);
  req.body = st->body ? st->body->data : NULL;
  req.body_len = st->body ? st->body->len : 0;
  RouteResponse resp = { 0 };
  /* Method and path only, as in the debug line below. */
  char what[80];
  g_snprintf(what, sizeof what, "%s %s", method, url);
  guint task = watchdog_task_begin(s->watchdog, what);
  routes_handle(s->routes, &req, &resp);
  watchdog_task_end(s->watchdog, task);
  st->answered = TRUE;
  if (resp.work && defer(s, conn, st, &resp))
    return MHD_YES; /* the job queues the answer and resumes */
  /* Method and path only: the query may hold secrets, the body too. */
  g_debug("http: %s %s -> %u (%.3f ms)", method, url, resp.status,
          (double)(g_get_monotonic_time() - st->start_us) / 1000.0);
  enum MHD_Result ret = send_response(conn, &resp);
  route_response_clear(&resp);
  return ret;
}

static enum MHD_Result
add_framing(void *cls, enum MHD_ValueKind kind, const char *key,
            const char *value)
{
  http_framing_add(cls, key, value);
  return MHD_YES;
}

/* The checks nothing but http.c can make, from the request line and the
 * headers: requests that a proxy in front could read differently
 * (smuggling), "%00" (a path cut short by its decoding), more query
 * arguments than a connection's memory holds. FALSE with resp holding the
 * answer (counted); *with_body tells whether a body follows. */
static gboolean
check_request(HttpServer *s, struct MHD_Connection *conn,
              const RequestState *st, gboolean *with_body,
              RouteResponse *resp)
{
  LimitLog *limits = routes_limit_log(s->routes);
  HttpFraming f = { 0 };
  MHD_get_connection_values(conn, MHD_HEADER_KIND, add_framing, &f);
  const char *why = st->nul_in_target
                        ? "the request target contains %00 (an encoded NUL)"
                        : http_framing_problem(&f, with_body);
  if (why) {
    char detail[96];
    g_snprintf(detail, sizeof detail, "a request was refused (400): %s",
               why);
    limit_log_hit(limits, LIMIT_BAD_REQUEST, detail);
    route_response_error(resp, 400, "bad_request", "%s", why);
    /* Whatever follows on this connection is not to be trusted. */
    route_response_add_header(resp, "Connection", "close");
    routes_count_answer(s->routes, 400);
    return FALSE;
  }
  if (st->too_many_args) {
    limit_log_hit(limits, LIMIT_QUERY_ARGS,
                  "a query of more than " G_STRINGIFY(HTTP_MAX_QUERY_ARGS)
                  " arguments (414)");
    route_response_error(resp, 414, "uri_too_long",
                         "query: more than %d arguments",
                         HTTP_MAX_QUERY_ARGS);
    routes_count_answer(s->routes, 414);
    return FALSE;
  }
  return TRUE;
}

/* The request line has been read: the first thing known of a request. Its
 * length (query included) is checked against limits.max_uri_bytes. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
  HttpServer *s = cls;
  RequestState *st = g_new0(RequestState, 1);
  st->start_us = g_get_monotonic_time();
  st->uri_bytes = uri ? strlen(uri) : 0;
  http_guard_request_line(s->guard, conn_guard(conn));
  if (!uri)
    return st;
  st->nul_in_target = http_target_has_nul(uri);
  const char *query;
  if (http_target_count_args(uri, &query) > HTTP_MAX_QUERY_ARGS) {
    /* libmicrohttpd 0.9.75 parses the arguments right after this callback,
     * each into a record in the connection's memory; a few hundred exhaust
     * it, and the connection then hangs without an answer until the idle
     * timeout. Ending the query string here (the text is the daemon's own
     * writable copy of the request line, and it has found the '?' before
     * calling us) leaves it nothing to parse; the first handler call
     * answers 414. */
    ((char *)query)[1] = '\0';
    st->too_many_args = TRUE;
  }
  return st;
}

/* The first call, with the headers: everything that can be decided
 * without the body is decided now, so that a request refused (bad framing,
 * size limits, no token, an unknown route or method) is answered before
 * any body is read; libmicrohttpd then discards the body and closes. */
static enum MHD_Result
first_call(HttpServer *s, struct MHD_Connection *conn, const char *url,
           const char *method, RequestState *st)
{
  RouteResponse resp = { 0 };
  gboolean with_body = FALSE;
  gboolean go = check_request(s, conn, st, &with_body, &resp);
  if (go) {
    QueryCollect q;
    RouteRequest req;
    request_fill(conn, url, method, st, &q, &req);
    go = routes_admit(s->routes, &req, &resp);
  }
  if (!go) {
    st->answered = TRUE;
    http_guard_headers_done(s->guard, conn_guard(conn), FALSE);
    g_debug("http: %s %s -> %u before the body", method, url, resp.status);
    enum MHD_Result ret = send_response(conn, &resp);
    route_response_clear(&resp);
    return ret;
  }
  /* A body announced larger than the limit is refused now too (no 100
   * Continue is sent). */
  const char *cl = MHD_lookup_connection_value(
      conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  guint64 announced;
  if (cl && g_ascii_string_to_unsigned(cl, 10, 0, G_MAXUINT64, &announced,
                                       NULL) &&
      announced > s->max_body_bytes) {
    st->too_large = TRUE;
    http_guard_headers_done(s->guard, conn_guard(conn), FALSE);
    return answer(s, conn, url, method, st);
  }
  http_guard_headers_done(s->guard, conn_guard(conn), with_body);
  return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
  HttpServer *s = cls;
  RequestState *st = *con_cls;

  if (!st) {
    /* Not through on_uri (should not happen): still serve it. */
    st = g_new0(RequestState, 1);
    st->start_us = g_get_monotonic_time();
    *con_cls = st;
  }
  if (!st->headers_seen) {
    st->headers_seen = TRUE;
    return first_call(s, conn, url, method, st);
  }

  if (*upload_data_size > 0) {
    http_guard_body(s->guard, conn_guard(conn), *upload_data_size);
    /* A chunked body, or one without Content-Length, may still exceed the
     * limit: stop keeping it and answer 413 once it has been read. */
    if (!st->too_large && !st->answered) {
      gsize have = st->body ? st->body->len : 0;
      if (have + *upload_data_size > s->max_body_bytes) {
        st->too_large = TRUE;
        g_clear_pointer(&st->body, g_byte_array_unref);
      } else {
        if (!st->body)
          st->body = g_byte_array_new();
        g_byte_array_append(st->body, (const guint8 *)upload_data,
                            (guint)*upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }

  if (st->failed)
    return MHD_NO; /* close: the deferred answer could not be queued */
  if (st->answered)
    return MHD_YES;
  http_guard_body_done(s->guard, conn_guard(conn));
  return answer(s, conn, url, method, st);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
  HttpServer *s = cls;
  RequestState *st = *con_cls;
  if (st)
    request_state_free(st);
  *con_cls = NULL;
  http_guard_request_done(s->guard, conn_guard(conn));
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
  HttpServer *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *socket_context =
        fd ? http_guard_open(s->guard, fd->connect_fd,
                             addr ? addr->client_addr : NULL)
           : NULL;
  } else {
    /* Before the daemon closes the socket (0.9.75 daemon.c). */
    http_guard_close(s->guard, *socket_context);
    *socket_context = NULL;
  }
}

HttpServer *
http_server_start(const HttpOptions *opt, Routes *routes, GError **error)
{
  struct addrinfo hints = { 0 }, *ai = NULL;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char port_str[8];
  snprintf(port_str, sizeof port_str, "%u", opt->port);
  int gai = getaddrinfo(opt->bind, port_str, &hints, &ai);
  if (gai != 0) {
    g_set_error(error, HTTP_ERROR, HTTP_ERROR_START,
                "bind address '%s': %s", opt->bind, gai_strerror(gai));
    return NULL;
  }

  HttpServer *s = g_new0(HttpServer, 1);
  g_mutex_init(&s->log_lock);
  g_mutex_init(&s->work_lock);
  s->routes = routes;
  s->events = opt->events;
  s->watchdog = opt->watchdog;
  s->max_body_bytes = opt->max_body_bytes;
  guint64 uri_max = opt->max_uri_bytes ? opt->max_uri_bytes
                                       : CONFIG_DEFAULT_MAX_URI_BYTES;
  guint64 header_max = opt->max_header_bytes ? opt->max_header_bytes
                                             : CONFIG_DEFAULT_MAX_HEADER_BYTES;
  s->pool_bytes = (size_t)(uri_max + header_max + HTTP_POOL_HEADROOM);
  s->work_threads = opt->work_threads ? opt->work_threads
                                      : HTTP_DEFAULT_WORK_THREADS;
  s->work_queue_max = opt->work_queue_max ? opt->work_queue_max
                                          : HTTP_DEFAULT_WORK_QUEUE_MAX;
  GError *e = NULL;
  HttpGuardOptions go = {
    .max_connections = MAX(opt->max_connections, 1u),
    .max_connections_per_ip = opt->max_connections_per_ip,
    .header_timeout_s = opt->header_timeout_s,
    .min_body_bytes_per_s = opt->min_body_bytes_per_s,
    .limits = routes_limit_log(routes),
  };
  s->guard = http_guard_new(&go, &e);
  if (!s->guard) {
    g_set_error(error, HTTP_ERROR, HTTP_ERROR_START,
                "cannot start the connection guard: %s", e->message);
    g_error_free(e);
    freeaddrinfo(ai);
    goto fail_free;
  }
  /* Exclusive threads: they are niced, and must never run anything but
   * our jobs (GLib's shared pool threads would carry the niceness). */
  s->work = g_thread_pool_new(work_main, s, (gint)s->work_threads, TRUE, &e);
  if (!s->work) {
    g_set_error(error, HTTP_ERROR, HTTP_ERROR_START,
                "cannot start the image-job threads: %s", e->message);
    g_error_free(e);
    freeaddrinfo(ai);
    goto fail_free;
  }

  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                       MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
  if (ai->ai_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ai->ai_addr;
    /* "::" serves IPv4 clients too. */
    flags |= IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ? MHD_USE_DUAL_STACK
                                                     : MHD_USE_IPv6;
  }
  struct MHD_OptionItem tls_opts[3] = {
    { MHD_OPTION_END, 0, NULL },
    { MHD_OPTION_END, 0, NULL },
    { MHD_OPTION_END, 0, NULL },
  };
  if (opt->tls_cert_pem && opt->tls_key_pem) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      g_set_error(error, HTTP_ERROR, HTTP_ERROR_START,
                  "TLS: this libmicrohttpd was built without TLS support");
      freeaddrinfo(ai);
      goto fail_free;
    }
    flags |= MHD_USE_TLS;
    s->tls_cert_pem = g_strdup(opt->tls_cert_pem);
    s->tls_key_pem = g_strdup(opt->tls_key_pem);
    tls_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
                                           s->tls_cert_pem };
    tls_opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
                                           s->tls_key_pem };
  }

  s->daemon = MHD_start_daemon(
      flags, (uint16_t)opt->port, NULL, NULL, on_request, s,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
      MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)MAX(opt->threads, 1u),
      /* The guard keeps to max_connections by closing the connections
       * that wait longest; the daemon's own limit, a little higher, only
       * binds when every connection is busy. */
      MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)MAX(opt->max_connections, 1u) + HTTP_CONNECTION_SLACK,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->connection_timeout_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->pool_bytes,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
      MHD_OPTION_ARRAY, tls_opts,
      MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!s->daemon) {
    g_mutex_lock(&s->log_lock);
    g_set_error(error, HTTP_ERROR, HTTP_ERROR_START,
                "cannot listen on %s port %u%s%s", opt->bind, opt->port,
                s->last_log ? ": " : "", s->last_log ? s->last_log : "");
    g_mutex_unlock(&s->log_lock);
    goto fail_free;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : opt->port;
  routes_set_http_stats(routes, http_stats, s);
  return s;

fail_free:
  if (s->work)
    g_thread_pool_free(s->work, TRUE, TRUE);
  http_guard_free(s->guard);
  g_free(s->tls_cert_pem);
  g_free(s->tls_key_pem);
  g_free(s->last_log);
  g_mutex_clear(&s->log_lock);
  g_mutex_clear(&s->work_lock);
  g_free(s);
  return NULL;
}

guint
http_server_port(const HttpServer *s)
{
  return s->port;
}

void
http_server_stop(HttpServer *s)
{
  if (!s)
    return;
  /* Suspended connections must be resumed before the daemon stops: let
   * the queued jobs answer theirs (new ones are refused from now on), and
   * end the event streams. */
  g_mutex_lock(&s->work_lock);
  s->work_closed = TRUE;
  GThreadPool *work = s->work;
  g_mutex_unlock(&s->work_lock);
  g_thread_pool_free(work, FALSE, TRUE);
  g_mutex_lock(&s->work_lock);
  s->work = NULL;
  g_mutex_unlock(&s->work_lock);
  if (s->events)
    event_hub_shutdown(s->events);
  MHD_stop_daemon(s->daemon);
  http_guard_free(s->guard); /* every connection is closed now */
  routes_set_http_stats(s->routes, NULL, s);
  if (s->tls_key_pem)
    memset(s->tls_key_pem, 0, strlen(s->tls_key_pem));
  g_free(s->tls_cert_pem);
  g_free(s->tls_key_pem);
  g_free(s->last_log);
  g_mutex_clear(&s->log_lock);
  g_mutex_clear(&s->work_lock);
  g_free(s);
}
