/* streamsight — `streamsight healthcheck` (serve.h): one plain HTTP GET of
 * the server's /healthz for container health checks (Docker's HEALTHCHECK),
 * so that images need no curl. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "config.h"

static void
healthcheck_usage(FILE *out)
{
  fprintf(out,
          "Usage: streamsight healthcheck [--url URL] [--timeout S]\n"
          "\n"
          "GETs URL over plain HTTP and exits 0 on a 200 answer, 1 "
          "otherwise.\n"
          "Default URL: http://127.0.0.1:$STREAMSIGHT_PORT/healthz (port "
          "8080 when\n"
          "unset; $STREAMSIGHT_BIND instead of 127.0.0.1 when it is a "
          "specific address).\n"
          "\n"
          "With $STREAMSIGHT_TOKEN set, sends it as a bearer token, so that "
          "routes\n"
          "behind the token (/readyz, /metrics) can be probed too.\n"
          "\n"
          "  -u, --url URL       http://HOST[:PORT][/PATH]\n"
          "  -t, --timeout S     give up after S seconds (default 3)\n"
          "  -h, --help          this help\n");
}

/* Connects to host:port within timeout_ms; returns the socket or -1. */
static int
connect_with_timeout(const char *host, const char *port, int timeout_ms,
                     char *why, gsize why_len)
{
  struct addrinfo hints = { 0 }, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0) {
    snprintf(why, why_len, "%s: %s", host, gai_strerror(gai));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0)
      continue;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };
      r = poll(&pfd, 1, timeout_ms) == 1 ? 0 : -1;
      int err = 0;
      socklen_t len = sizeof err;
      if (r == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
                     err != 0)) {
        errno = err;
        r = -1;
      } else if (r != 0) {
        errno = ETIMEDOUT;
      }
    }
    if (r == 0)
      break;
    snprintf(why, why_len, "connect: %s", g_strerror(errno));
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

/* Parses healthcheck's options. Returns -1 to go on, or the exit status
 * after --help or a usage error. */
static int
parse_healthcheck_args(int argc, char **argv, const char **url,
                       double *timeout_s)
{
  static const struct option longopts[] = {
    { "url", required_argument, NULL, 'u' },
    { "timeout", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "u:t:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'u': *url = optarg; break;
    case 't': {
      char *end = NULL;
      *timeout_s = g_ascii_strtod(optarg, &end);
      if (!end || *end || !(*timeout_s > 0 && *timeout_s <= 600)) {
        fprintf(stderr, "streamsight healthcheck: --timeout: must be a "
                "number of seconds in (0, 600]\n");
        return 2;
      }
      break;
    }
    case 'h': healthcheck_usage(stdout); return 0;
    default:
      fprintf(stderr, "Try 'streamsight healthcheck --help'.\n");
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "streamsight healthcheck: unexpected argument '%s'\n",
            argv[optind]);
    return 2;
  }
  return -1;
}

/* The server's own /healthz from its environment (the probe runs in the
 * container beside it): STREAMSIGHT_PORT, and STREAMSIGHT_BIND when it is a
 * specific address. Owned by the caller (g_free). */
static char *
default_healthz_url(void)
{
  const char *port = g_getenv("STREAMSIGHT_PORT");
  const char *bind = g_getenv("STREAMSIGHT_BIND");
  const char *host = "127.0.0.1";
  if (bind && *bind && strcmp(bind, "0.0.0.0") != 0 &&
      strcmp(bind, "::") != 0)
    host = bind;
  gboolean v6 = strchr(host, ':') != NULL;
  return g_strdup_printf("http://%s%s%s:%s/healthz", v6 ? "[" : "", host,
                         v6 ? "]" : "", port && *port ? port : "8080");
}

/* The GET request; owned by the caller, who wipes it before freeing (it
 * may hold the token). */
static GString *
healthcheck_request_new(const char *host, const char *port_str,
                        const char *path, const char *query)
{
  GString *req = g_string_new(NULL);
  gboolean v6 = strchr(host, ':') != NULL;
  g_string_append_printf(req,
                         "GET %s%s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                         "User-Agent: streamsight-healthcheck\r\n",
                         path && *path ? path : "/", query ? "?" : "",
                         query ? query : "", v6 ? "[" : "", host,
                         v6 ? "]" : "", port_str);
  /* The server's own token (a Kubernetes exec probe of /readyz runs with
   * the container's environment); a value that is no valid token, which
   * the server would refuse to start with, is not sent. */
  const char *token = g_getenv("STREAMSIGHT_TOKEN");
  gboolean token_ok = token && *token && strlen(token) <= CONFIG_TOKEN_MAX;
  for (const char *t = token; token_ok && *t; t++)
    token_ok = *t >= 0x21 && *t <= 0x7e;
  if (token_ok)
    g_string_append_printf(req, "Authorization: Bearer %s\r\n", token);
  g_string_append(req, "Connection: close\r\n\r\n");
  return req;
}

/* Sends all of req on the non-blocking fd by the deadline (monotonic us);
 * FALSE when it could not. */
static gboolean
send_all_by(int fd, const GString *req, gint64 deadline)
{
  gsize sent = 0;
  while (sent < req->len) {
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int left = (int)((deadline - g_get_monotonic_time()) / 1000);
    if (left <= 0 || poll(&pfd, 1, left) != 1)
      return FALSE;
    ssize_t n = send(fd, req->str + sent, req->len - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return FALSE;
    if (n > 0)
      sent += (gsize)n;
  }
  return TRUE;
}

/* Reads into buf (size bytes, NUL-terminated on return) until the first
 * line is in, the peer closes or buf is full, by the deadline: the status
 * line is all we need. FALSE on a timeout or a socket error. */
static gboolean
recv_status_line_by(int fd, char *buf, gsize size, gint64 deadline)
{
  gsize got = 0;
  gboolean ok_io = TRUE;
  while (ok_io && got < size - 1 && !memchr(buf, '\n', got)) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int left = (int)((deadline - g_get_monotonic_time()) / 1000);
    if (left <= 0 || poll(&pfd, 1, left) != 1) {
      ok_io = FALSE;
      break;
    }
    ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
    if (n == 0)
      break;
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      ok_io = FALSE;
    else if (n > 0)
      got += (gsize)n;
  }
  buf[got] = '\0';
  return ok_io;
}

/* One GET of url within timeout_s. Returns the exit status: 0 on a 200
 * answer, 1 otherwise, 2 for a URL that is not plain http://. */
static int
healthcheck_probe(const char *url, double timeout_s)
{
  char *scheme = NULL, *host = NULL, *path = NULL, *query = NULL;
  int port = -1;
  int rc = 1;
  if (!g_uri_split(url, G_URI_FLAGS_NONE, &scheme, NULL, &host, &port, &path,
                   &query, NULL, NULL) ||
      g_strcmp0(scheme, "http") != 0 || !host || !*host) {
    fprintf(stderr, "streamsight healthcheck: --url: expected "
            "http://HOST[:PORT][/PATH] (plain HTTP only)\n");
    rc = 2;
    goto out;
  }
  char port_str[16];
  snprintf(port_str, sizeof port_str, "%d", port > 0 ? port : 80);
  char why[256] = "";
  int timeout_ms = (int)(timeout_s * 1000.0);
  int fd = connect_with_timeout(host, port_str, timeout_ms, why, sizeof why);
  if (fd < 0) {
    fprintf(stderr, "streamsight healthcheck: %s: %s\n", url, why);
    goto out;
  }
  GString *req = healthcheck_request_new(host, port_str, path, query);
  /* Blocking I/O from here, bounded by the deadline through poll(). */
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  char buf[512] = "";
  gboolean ok_io = send_all_by(fd, req, deadline) &&
                   recv_status_line_by(fd, buf, sizeof buf, deadline);
  close(fd);
  memset(req->str, 0, req->len); /* it may hold the token */
  g_string_free(req, TRUE);
  int status = 0;
  if (ok_io && sscanf(buf, "HTTP/%*d.%*d %d", &status) == 1 && status == 200) {
    rc = 0;
  } else if (status > 0) {
    fprintf(stderr, "streamsight healthcheck: %s: HTTP status %d\n", url,
            status);
  } else {
    fprintf(stderr, "streamsight healthcheck: %s: no HTTP answer within "
            "%g s\n", url, timeout_s);
  }

out:
  g_free(scheme);
  g_free(host);
  g_free(path);
  g_free(query);
  return rc;
}

int
cmd_healthcheck(int argc, char **argv)
{
  const char *url = NULL;
  double timeout_s = 3.0;
  int rc = parse_healthcheck_args(argc, argv, &url, &timeout_s);
  if (rc >= 0)
    return rc;
  char *default_url = url ? NULL : default_healthz_url();
  rc = healthcheck_probe(url ? url : default_url, timeout_s);
  g_free(default_url);
  return rc;
}
