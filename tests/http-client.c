#include "http-client.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int
hc_try_connect(guint port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  struct timeval tv = { .tv_sec = 20 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int
hc_connect(guint port)
{
  int fd = hc_try_connect(port);
  ck_assert_msg(fd >= 0, "connect: %s", g_strerror(errno));
  return fd;
}

void
hc_set_recv_timeout(int fd, guint ms)
{
  struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

gboolean
hc_send_all(int fd, const char *data, gsize len)
{
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

void
hc_answer_clear(HcAnswer *a)
{
  g_free(a->headers);
  g_free(a->body);
  memset(a, 0, sizeof *a);
}

char *
hc_answer_header(const HcAnswer *a, const char *name)
{
  return hc_headers_get(a->headers, name);
}

char *
hc_headers_get(const char *headers, const char *name)
{
  if (!headers)
    return NULL;
  char **lines = g_strsplit(headers, "\r\n", -1);
  char *v = NULL;
  gsize n = strlen(name);
  for (char **l = lines; *l && !v; l++)
    if (g_ascii_strncasecmp(*l, name, n) == 0 && (*l)[n] == ':')
      v = g_strstrip(g_strdup(*l + n + 1));
  g_strfreev(lines);
  return v;
}

void
hc_read_answer(int fd, gboolean head, HcAnswer *out)
{
  memset(out, 0, sizeof *out);
  GString *buf = g_string_new(NULL);
  char chunk[4096];
  char *end = NULL;
  while (!(end = strstr(buf->str, "\r\n\r\n"))) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      g_string_free(buf, TRUE);
      return;
    }
    g_string_append_len(buf, chunk, n);
  }
  gsize head_len = (gsize)(end - buf->str);
  out->headers = g_strndup(buf->str, head_len);
  sscanf(out->headers, "HTTP/1.%*d %d", &out->status);
  char *cl = hc_answer_header(out, "Content-Length");
  gssize want = cl ? (gssize)g_ascii_strtoll(cl, NULL, 10) : -1;
  g_free(cl);
  if (head)
    want = 0;
  GString *body = g_string_new_len(end + 4, (gssize)(buf->len - head_len - 4));
  while (want < 0 || (gssize)body->len < want) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0)
      break;
    g_string_append_len(body, chunk, n);
  }
  out->body_len = body->len;
  out->body = g_string_free(body, FALSE);
  g_string_free(buf, TRUE);
}

json_t *
hc_answer_json(const HcAnswer *a)
{
  return a->body ? json_loadb(a->body, a->body_len, 0, NULL) : NULL;
}

const char *
hc_error_code(json_t *j)
{
  return json_string_value(json_object_get(json_object_get(j, "error"),
                                           "code"));
}
