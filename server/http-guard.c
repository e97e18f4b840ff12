#define G_LOG_DOMAIN "streamsight"

#include "http-guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

typedef enum {
  PHASE_HEADERS, /* request line and headers on their way: deadline */
  PHASE_BODY,    /* body on its way: minimum rate */
  PHASE_HANDLER, /* in a handler, or its answer being sent: not watched */
  PHASE_IDLE,    /* kept alive between requests */
} Phase;

struct HttpGuardConn {
  GList link;         /* in HttpGuard.conns; data points here */
  int fd;
  char *ip;           /* the client's address, or NULL (not IP) */
  Phase phase;
  gint64 since_us;    /* monotonic: when the phase started */
  guint64 body_bytes; /* in PHASE_BODY */
  gboolean dropped;   /* shut down; the daemon closes it soon */
};

struct HttpGuard {
  HttpGuardOptions o;
  gint64 header_timeout_us;
  GMutex lock;        /* protects everything below and every conn */
  GCond cond;
  GQueue conns;       /* oldest first */
  guint live;         /* open and not dropped */
  GHashTable *per_ip; /* char *ip -> live count (GUINT_TO_POINTER) */
  gboolean stop;
  GThread *thread;
};

/* Hits found under the lock, counted (and maybe logged) after it. */
typedef struct {
  guint n[LIMIT_N_KINDS];
} Hits;

static void
hits_report(HttpGuard *g, const Hits *h)
{
  static const char *const detail[LIMIT_N_KINDS] = {
    [LIMIT_MAX_CONNECTIONS] = "closed the connection waiting longest "
                              "(idle, or still sending its headers) to "
                              "make room",
    [LIMIT_MAX_CONNECTIONS_PER_IP] = "one address over its connection "
                                     "limit: closed its connection waiting "
                                     "longest, or the new one",
    [LIMIT_HEADER_TIMEOUT] = "closed a connection whose request headers "
                             "were not complete in time (slowloris?)",
    [LIMIT_BODY_RATE] = "closed a connection whose request body arrived "
                        "too slowly",
  };
  for (int k = 0; k < LIMIT_N_KINDS; k++)
    for (guint i = 0; i < h->n[k]; i++)
      limit_log_hit(g->o.limits, (LimitKind)k, detail[k]);
}

/* Under the lock: adds delta to ip's live connections; returns the count. */
static guint
per_ip_add(HttpGuard *g, const char *ip, int delta)
{
  guint n = GPOINTER_TO_UINT(g_hash_table_lookup(g->per_ip, ip));
  g_assert(delta > 0 || n > 0);
  n = (guint)((int)n + delta);
  if (n == 0)
    g_hash_table_remove(g->per_ip, ip);
  else /* an existing key stays; the copy is freed */
    g_hash_table_insert(g->per_ip, g_strdup(ip), GUINT_TO_POINTER(n));
  return n;
}

/* Under the lock: c no longer counts against the limits. */
static void
conn_forget(HttpGuard *g, HttpGuardConn *c)
{
  g->live--;
  if (c->ip)
    per_ip_add(g, c->ip, -1);
}

/* Under the lock. */
static void
conn_drop(HttpGuard *g, HttpGuardConn *c, Hits *h, LimitKind why)
{
  if (c->dropped)
    return;
  /* The daemon reads the end of the stream (or an error) and closes the
   * connection itself; the descriptor stays its own. */
  shutdown(c->fd, SHUT_RDWR);
  c->dropped = TRUE;
  conn_forget(g, c);
  h->n[why]++;
}

/* Under the lock: the connection waiting longest without a request in
 * progress, of address ip (NULL: any), other than except; or NULL. */
static HttpGuardConn *
oldest_waiting(HttpGuard *g, const char *ip, const HttpGuardConn *except)
{
  HttpGuardConn *best = NULL;
  for (GList *l = g->conns.head; l; l = l->next) {
    HttpGuardConn *c = l->data;
    if (c == except || c->dropped ||
        (c->phase != PHASE_HEADERS && c->phase != PHASE_IDLE))
      continue;
    if (ip && (!c->ip || strcmp(c->ip, ip) != 0))
      continue;
    if (!best || c->since_us < best->since_us)
      best = c;
  }
  return best;
}

static gpointer
sweep_main(gpointer data)
{
  HttpGuard *g = data;
  g_mutex_lock(&g->lock);
  while (!g->stop) {
    gint64 until = g_get_monotonic_time() + HTTP_GUARD_SWEEP_MS * 1000;
    while (!g->stop && g_cond_wait_until(&g->cond, &g->lock, until))
      ;
    if (g->stop)
      break;
    Hits h = { 0 };
    gint64 now = g_get_monotonic_time();
    for (GList *l = g->conns.head; l; l = l->next) {
      HttpGuardConn *c = l->data;
      if (c->dropped)
        continue;
      gint64 elapsed = now - c->since_us;
      if (c->phase == PHASE_HEADERS && elapsed > g->header_timeout_us) {
        conn_drop(g, c, &h, LIMIT_HEADER_TIMEOUT);
      } else if (c->phase == PHASE_BODY && g->o.min_body_bytes_per_s &&
                 elapsed > g->header_timeout_us) {
        /* The average rate since the grace period ended. */
        double due = (double)g->o.min_body_bytes_per_s *
                     (double)(elapsed - g->header_timeout_us) / 1e6;
        if ((double)c->body_bytes < due)
          conn_drop(g, c, &h, LIMIT_BODY_RATE);
      }
    }
    g_mutex_unlock(&g->lock);
    hits_report(g, &h);
    g_mutex_lock(&g->lock);
  }
  g_mutex_unlock(&g->lock);
  return NULL;
}

HttpGuard *
http_guard_new(const HttpGuardOptions *o, GError **error)
{
  HttpGuard *g = g_new0(HttpGuard, 1);
  g->o = *o;
  g_assert(g->o.limits != NULL);
  g->o.max_connections = MAX(g->o.max_connections, 1u);
  guint ht = o->header_timeout_s ? o->header_timeout_s
                                 : HTTP_GUARD_DEFAULT_HEADER_TIMEOUT_S;
  g->header_timeout_us = (gint64)ht * G_USEC_PER_SEC;
  g_mutex_init(&g->lock);
  g_cond_init(&g->cond);
  g_queue_init(&g->conns);
  g->per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g->thread = g_thread_try_new("http-guard", sweep_main, g, error);
  if (!g->thread) {
    g_hash_table_unref(g->per_ip);
    g_cond_clear(&g->cond);
    g_mutex_clear(&g->lock);
    g_free(g);
    return NULL;
  }
  return g;
}

void
http_guard_free(HttpGuard *g)
{
  if (!g)
    return;
  g_mutex_lock(&g->lock);
  g->stop = TRUE;
  g_cond_signal(&g->cond);
  g_mutex_unlock(&g->lock);
  g_thread_join(g->thread);
  g_assert(g->conns.length == 0);
  g_hash_table_unref(g->per_ip);
  g_cond_clear(&g->cond);
  g_mutex_clear(&g->lock);
  g_free(g);
}

/* The client's address as text, IPv4-mapped IPv6 addresses (a dual-stack
 * listener) as IPv4; FALSE for other families. */
static gboolean
addr_text(const struct sockaddr *addr, char out[INET6_ADDRSTRLEN])
{
  if (!addr)
    return FALSE;
  if (addr->sa_family == AF_INET) {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)addr;
    return inet_ntop(AF_INET, &a4->sin_addr, out, INET6_ADDRSTRLEN) != NULL;
  }
  if (addr->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
      return inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], out,
                       INET6_ADDRSTRLEN) != NULL;
    return inet_ntop(AF_INET6, &a6->sin6_addr, out, INET6_ADDRSTRLEN) != NULL;
  }
  return FALSE;
}

HttpGuardConn *
http_guard_open(HttpGuard *g, int fd, const struct sockaddr *addr)
{
  HttpGuardConn *c = g_new0(HttpGuardConn, 1);
  c->fd = fd;
  c->phase = PHASE_HEADERS;
  c->since_us = g_get_monotonic_time();
  c->link.data = c;
  char ip[INET6_ADDRSTRLEN];
  gboolean has_ip = addr_text(addr, ip);
  Hits h = { 0 };

  g_mutex_lock(&g->lock);
  g_queue_push_tail_link(&g->conns, &c->link);
  g->live++;
  if (has_ip) {
    c->ip = g_strdup(ip);
    guint n = per_ip_add(g, ip, 1);
    if (g->o.max_connections_per_ip && n > g->o.max_connections_per_ip) {
      HttpGuardConn *v = oldest_waiting(g, ip, c);
      conn_drop(g, v ? v : c, &h, LIMIT_MAX_CONNECTIONS_PER_IP);
    }
  }
  if (g->live > g->o.max_connections) {
    /* With nothing to evict the new connection stays: the daemon's own
     * limit keeps further clients in the listen backlog. */
    HttpGuardConn *v = oldest_waiting(g, NULL, c);
    if (v)
      conn_drop(g, v, &h, LIMIT_MAX_CONNECTIONS);
  }
  g_mutex_unlock(&g->lock);
  hits_report(g, &h);
  return c;
}

void
http_guard_close(HttpGuard *g, HttpGuardConn *c)
{
  if (!c)
    return;
  g_mutex_lock(&g->lock);
  g_queue_unlink(&g->conns, &c->link);
  if (!c->dropped)
    conn_forget(g, c);
  g_mutex_unlock(&g->lock);
  g_free(c->ip);
  g_free(c);
}

static void
conn_phase(HttpGuard *g, HttpGuardConn *c, Phase phase, gboolean restart)
{
  if (!c)
    return;
  g_mutex_lock(&g->lock);
  if (restart || c->phase != phase)
    c->since_us = g_get_monotonic_time();
  c->phase = phase;
  c->body_bytes = 0;
  g_mutex_unlock(&g->lock);
}

void
http_guard_request_line(HttpGuard *g, HttpGuardConn *c)
{
  /* The first request keeps the deadline that started at accept. */
  if (!c)
    return;
  g_mutex_lock(&g->lock);
  if (c->phase != PHASE_HEADERS) {
    c->phase = PHASE_HEADERS;
    c->since_us = g_get_monotonic_time();
  }
  g_mutex_unlock(&g->lock);
}

void
http_guard_headers_done(HttpGuard *g, HttpGuardConn *c, gboolean with_body)
{
  conn_phase(g, c, with_body ? PHASE_BODY : PHASE_HANDLER, TRUE);
}

void
http_guard_body(HttpGuard *g, HttpGuardConn *c, gsize n)
{
  if (!c)
    return;
  g_mutex_lock(&g->lock);
  c->body_bytes += n;
  g_mutex_unlock(&g->lock);
}

void
http_guard_body_done(HttpGuard *g, HttpGuardConn *c)
{
  conn_phase(g, c, PHASE_HANDLER, FALSE);
}

void
http_guard_request_done(HttpGuard *g, HttpGuardConn *c)
{
  conn_phase(g, c, PHASE_IDLE, TRUE);
}
