/* streamsight — a hostile "camera" for fault tests (see hostile-server.h).
 *
 * One thread accepts, one thread per connection sends. The budget (bytes,
 * rate, end time) is shared under the lock; sends use a 1 s timeout so that
 * a client that stops reading never keeps a thread past the end time.
 */
#include "hostile-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CHUNK_BYTES (16u << 10)

struct HostileServer {
  HostileOptions opt;
  int listen_fd;
  guint port;
  gint64 start_us, end_us;
  GThread *acceptor;
  GMutex lock;            /* protects what follows */
  gboolean stop;
  guint64 sent;
  guint connections;
  GPtrArray *threads;     /* GThread*, one per connection */
};

typedef struct {
  HostileServer *h;
  int fd;
} Conn;

static gboolean
stopping(HostileServer *h)
{
  gboolean s;
  g_mutex_lock(&h->lock);
  s = h->stop || h->sent >= h->opt.max_bytes ||
      g_get_monotonic_time() >= h->end_us;
  g_mutex_unlock(&h->lock);
  return s;
}

/* Takes up to want bytes from the budget, waiting for the rate; 0 when the
 * budget or the time is used up. */
static gsize
take_budget(HostileServer *h, gsize want)
{
  for (;;) {
    gint64 now = g_get_monotonic_time();
    double allowed;
    gsize n = 0;
    g_mutex_lock(&h->lock);
    if (h->stop || h->sent >= h->opt.max_bytes || now >= h->end_us) {
      g_mutex_unlock(&h->lock);
      return 0;
    }
    allowed = h->opt.rate_bytes_per_s * (double)(now - h->start_us) / 1e6;
    if ((double)h->sent + (double)want <= allowed) {
      n = (gsize)MIN((guint64)want, h->opt.max_bytes - h->sent);
      h->sent += n;
    }
    g_mutex_unlock(&h->lock);
    if (n)
      return n;
    g_usleep(10000);
  }
}

static gboolean
send_all(HostileServer *h, int fd, const char *p, gsize len)
{
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (stopping(h))
        return FALSE;
      continue;
    }
    if (n <= 0)
      return FALSE;
    p += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* HOSTILE_RTSP_SDP_MEDIA: answers request after request on the connection
 * (the CSeq echoed) until the client closes it or the server stops. */
static void
serve_sdp_media(HostileServer *h, int fd)
{
  GString *sdp = g_string_new("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=hostile\r\n"
                              "c=IN IP4 127.0.0.1\r\nt=0 0\r\n");
  char req[4096];
  for (guint i = 0; i < HOSTILE_SDP_MEDIA; i++)
    g_string_append_printf(sdp, "m=video 0 RTP/AVP 96\r\n"
                                "a=rtpmap:96 H264/90000\r\n"
                                "a=control:track%u\r\n", i);
  while (!stopping(h)) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    const char *cseq;
    guint n = 1;
    ssize_t got;
    g_autofree char *head = NULL;
    if (poll(&pfd, 1, 200) != 1)
      continue;
    got = recv(fd, req, sizeof req - 1, 0);
    if (got <= 0)
      break;
    req[got] = '\0';
    if ((cseq = strstr(req, "CSeq:")))
      n = (guint)strtoul(cseq + 5, NULL, 10);
    if (g_str_has_prefix(req, "DESCRIBE"))
      head = g_strdup_printf("RTSP/1.0 200 OK\r\nCSeq: %u\r\n"
                             "Content-Type: application/sdp\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             n, sdp->len, sdp->str);
    else
      head = g_strdup_printf("RTSP/1.0 200 OK\r\nCSeq: %u\r\nPublic: "
                             "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
                             "\r\n", n);
    g_mutex_lock(&h->lock);
    h->sent += strlen(head);
    g_mutex_unlock(&h->lock);
    if (!send_all(h, fd, head, strlen(head)))
      break;
  }
  g_string_free(sdp, TRUE);
}

static gpointer
conn_thread(gpointer p)
{
  Conn *c = p;
  HostileServer *h = c->h;
  gboolean rtsp = h->opt.kind == HOSTILE_RTSP_ENDLESS_BODY ||
                  h->opt.kind == HOSTILE_RTSP_ENDLESS_HEADERS;
  gboolean body = h->opt.kind == HOSTILE_RTSP_ENDLESS_BODY ||
                  h->opt.kind == HOSTILE_HTTP_ENDLESS_BODY;
  char req[4096];
  char *chunk = g_malloc(CHUNK_BYTES);
  GRand *rand = g_rand_new_with_seed(20261207u);
  g_autofree char *head = NULL;
  struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
  guint line = 0;

  if (h->opt.kind == HOSTILE_RTSP_SDP_MEDIA) {
    serve_sdp_media(h, c->fd);
    goto out;
  }
  /* Whatever the request (OPTIONS, DESCRIBE, GET), once some of it is in. */
  if (poll(&pfd, 1, 10000) != 1 || recv(c->fd, req, sizeof req, 0) <= 0)
    goto out;
  head = g_strdup_printf("%s 200 OK\r\nCSeq: 1\r\n%s",
                         rtsp ? "RTSP/1.0" : "HTTP/1.1",
                         body ? "Content-Type: application/octet-stream\r\n"
                                "Content-Length: 999999999\r\n\r\n"
                              : "");
  if (!send_all(h, c->fd, head, strlen(head)))
    goto out;
  for (;;) {
    gsize n = take_budget(h, CHUNK_BYTES);
    if (!n)
      break;
    if (body) {
      for (gsize i = 0; i + 4 <= n; i += 4) {
        guint32 v = g_rand_int(rand);
        memcpy(chunk + i, &v, 4);
      }
    } else {
      /* "X-Junk-NNNNNNNN: aaaa...\r\n", 64-byte lines. */
      for (gsize i = 0; i + 64 <= n; i += 64) {
        g_snprintf(chunk + i, 64, "X-Junk-%08u: %-45s", line++ % 100000000u,
                   "streamsight-hostile-header-line");
        chunk[i + 62] = '\r';
        chunk[i + 63] = '\n';
      }
    }
    if (!send_all(h, c->fd, chunk, n))
      break;
  }
out:
  close(c->fd);
  g_rand_free(rand);
  g_free(chunk);
  g_free(c);
  return NULL;
}

static gpointer
accept_thread(gpointer p)
{
  HostileServer *h = p;
  while (!stopping(h)) {
    struct pollfd pfd = { .fd = h->listen_fd, .events = POLLIN };
    struct timeval tv = { .tv_sec = 1 };
    Conn *c;
    int fd;
    if (poll(&pfd, 1, 200) != 1)
      continue;
    fd = accept(h->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c = g_new0(Conn, 1);
    c->h = h;
    c->fd = fd;
    g_mutex_lock(&h->lock);
    h->connections++;
    g_ptr_array_add(h->threads, g_thread_new("hostile", conn_thread, c));
    g_mutex_unlock(&h->lock);
  }
  close(h->listen_fd);
  h->listen_fd = -1;
  return NULL;
}

HostileServer *
hostile_server_new(const HostileOptions *o)
{
  HostileServer *h = g_new0(HostileServer, 1);
  struct sockaddr_in a = { .sin_family = AF_INET };
  socklen_t len = sizeof a;
  h->opt = *o;
  g_mutex_init(&h->lock);
  h->threads = g_ptr_array_new();
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  h->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert(h->listen_fd >= 0);
  g_assert(bind(h->listen_fd, (struct sockaddr *)&a, sizeof a) == 0);
  g_assert(listen(h->listen_fd, 16) == 0);
  g_assert(getsockname(h->listen_fd, (struct sockaddr *)&a, &len) == 0);
  h->port = ntohs(a.sin_port);
  h->start_us = g_get_monotonic_time();
  h->end_us = h->start_us + (gint64)(o->max_seconds * G_USEC_PER_SEC);
  h->acceptor = g_thread_new("hostile-accept", accept_thread, h);
  return h;
}

guint
hostile_server_port(HostileServer *h)
{
  return h->port;
}

char *
hostile_server_uri(HostileServer *h)
{
  gboolean rtsp = h->opt.kind == HOSTILE_RTSP_ENDLESS_BODY ||
                  h->opt.kind == HOSTILE_RTSP_ENDLESS_HEADERS ||
                  h->opt.kind == HOSTILE_RTSP_SDP_MEDIA;
  return rtsp ? g_strdup_printf("rtsp://127.0.0.1:%u/cam", h->port)
              : g_strdup_printf("http://127.0.0.1:%u/cam.mp4", h->port);
}

guint64
hostile_server_bytes_sent(HostileServer *h)
{
  guint64 n;
  g_mutex_lock(&h->lock);
  n = h->sent;
  g_mutex_unlock(&h->lock);
  return n;
}

guint
hostile_server_connections(HostileServer *h)
{
  guint n;
  g_mutex_lock(&h->lock);
  n = h->connections;
  g_mutex_unlock(&h->lock);
  return n;
}

void
hostile_server_free(HostileServer *h)
{
  if (!h)
    return;
  g_mutex_lock(&h->lock);
  h->stop = TRUE;
  g_mutex_unlock(&h->lock);
  g_thread_join(h->acceptor);
  /* No new connection thread after the acceptor is gone. */
  for (guint i = 0; i < h->threads->len; i++)
    g_thread_join(g_ptr_array_index(h->threads, i));
  g_ptr_array_unref(h->threads);
  g_mutex_clear(&h->lock);
  g_free(h);
}
