#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

G_DEFINE_QUARK(streamsight-http-error-quark, http_error)

/* Query arguments kept per request; more are ignored (no route reads more
 * than two). */
#define HTTP_MAX_QUERY 16

struct HttpServer {
  struct MHD_Daemon *daemon;
  Routes *routes;              /* borrowed */
  guint64 max_body_bytes;
  guint port;
  char *tls_cert_pem;          /* kept for the daemon's lifetime */
  char *tls_key_pem;
  GMutex log_lock;             /* protects last_log */
  char *last_log;              /* last message from libmicrohttpd */
};

/* Per-request state, from the first call of the access handler to the
 * completion callback. */
typedef struct {
  GByteArray *body; /* NULL until data arrives */
  gboolean too_large;
  gboolean answered;
  gint64 start_us;
} RequestState;

static void
request_state_free(RequestState *st)
{
  if (st->body)
    g_byte_array_unref(st->body);
  g_free(st);
}

/* libmicrohttpd's log: kept for start-up errors, debug otherwise. Its
 * messages name sockets and states, never request data. */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  HttpServer *s = cls;
  char *msg = g_strdup_vprintf(fmt, ap);
  g_strchomp(msg);
  g_debug("http: libmicrohttpd: %s", msg);
  g_mutex_lock(&s->log_lock);
  g_free(s->last_log);
  s->last_log = msg;
  g_mutex_unlock(&s->log_lock);
}

typedef struct {
  RouteParam params[HTTP_MAX_QUERY];
  guint n;
} QueryCollect;

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
              const char *value)
{
  QueryCollect *q = cls;
  if (q->n >= HTTP_MAX_QUERY)
    return MHD_NO;
  q->params[q->n].name = key;
  q->params[q->n].value = value;
  q->n++;
  return MHD_YES;
}

static enum MHD_Result
send_response(struct MHD_Connection *conn, RouteResponse *resp)
{
  struct MHD_Response *r;
  if (resp->body && resp->body_len > 0) {
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

static enum MHD_Result
answer(HttpServer *s, struct MHD_Connection *conn, const char *url,
       const char *method, RequestState *st)
{
  QueryCollect q = { .n = 0 };
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
  RouteRequest req = {
    .method = method,
    .path = url,
    .query = q.params,
    .n_query = q.n,
    .authorization = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
    .content_type = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
    .if_none_match = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
    .body = st->body ? st->body->data : NULL,
    .body_len = st->body ? st->body->len : 0,
    .body_too_large = st->too_large,
  };
  RouteResponse resp = { 0 };
  routes_handle(s->routes, &req, &resp);
  /* Method and path only: the query may hold secrets, the body too. */
  g_debug("http: %s %s -> %u (%.3f ms)", method, url, resp.status,
          (double)(g_get_monotonic_time() - st->start_us) / 1000.0);
  enum MHD_Result ret = send_response(conn, &resp);
  route_response_clear(&resp);
  st->answered = TRUE;
  return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
  HttpServer *s = cls;
  RequestState *st = *con_cls;

  if (!st) {
    /* First call: headers only. A body announced larger than the limit is
     * refused now, before it is read (libmicrohttpd then closes the
     * connection instead of reading the rest, and sends no 100 Continue). */
    st = g_new0(RequestState, 1);
    st->start_us = g_get_monotonic_time();
    *con_cls = st;
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    guint64 announced;
    if (cl && g_ascii_string_to_unsigned(cl, 10, 0, G_MAXUINT64, &announced,
                                         NULL) &&
        announced > s->max_body_bytes) {
      st->too_large = TRUE;
      return answer(s, conn, url, method, st);
    }
    return MHD_YES;
  }

  if (*upload_data_size > 0) {
    /* A chunked body, or one without Content-Length, may still exceed the
     * limit: stop keeping it and answer 413 once it has been read. */
    if (!st->too_large) {
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

  if (st->answered)
    return MHD_YES;
  return answer(s, conn, url, method, st);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
  RequestState *st = *con_cls;
  if (st)
    request_state_free(st);
  *con_cls = NULL;
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
  s->routes = routes;
  s->max_body_bytes = opt->max_body_bytes;

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
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX(opt->max_connections, 1u),
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->connection_timeout_s,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
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
  return s;

fail_free:
  g_free(s->tls_cert_pem);
  g_free(s->tls_key_pem);
  g_free(s->last_log);
  g_mutex_clear(&s->log_lock);
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
  MHD_stop_daemon(s->daemon);
  if (s->tls_key_pem)
    memset(s->tls_key_pem, 0, strlen(s->tls_key_pem));
  g_free(s->tls_cert_pem);
  g_free(s->tls_key_pem);
  g_free(s->last_log);
  g_mutex_clear(&s->log_lock);
  g_free(s);
}
