/* streamsight — child processes for the tests that run the built binary
 * (or another server, e.g. VLC) and talk to it over HTTP: spawn with the
 * output in a log file, wait for its port, one request per connection,
 * stop. Shared by test-faults and test-secrets. */
#include "child-process.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Starts argv with stdout and stderr appended to log (a file, so that a
 * chatty child never blocks on a full pipe). env: NULL = ours. */
gboolean
child_spawn(Child *c, char **argv, char **envp, const char *log)
{
  posix_spawn_file_actions_t fa;
  int rc;
  memset(c, 0, sizeof *c);
  c->log = g_strdup(log);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log,
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  rc = posix_spawn(&c->pid, argv[0], &fa, NULL, argv,
                   envp ? envp : environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    printf("spawn %s: %s\n", argv[0], g_strerror(rc));
    c->pid = 0;
    return FALSE;
  }
  return TRUE;
}

/* Sends sig (if not 0) and waits up to timeout_s; then SIGKILL. Returns
 * the exit status, or -1 for a death by signal or a timeout. */
int
child_finish(Child *c, int sig, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  int status = 0, rc = -1;
  if (!c->pid)
    return -1;
  if (sig)
    kill(c->pid, sig);
  for (;;) {
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == c->pid) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (g_get_monotonic_time() > deadline) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &status, 0);
      break;
    }
    g_usleep(10000);
  }
  c->pid = 0;
  return rc;
}

gboolean
child_running(Child *c)
{
  int status;
  return c->pid && waitpid(c->pid, &status, WNOHANG) == 0;
}

char *
child_log_tail(Child *c)
{
  char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents(c->log, &text, &len, NULL))
    return g_strdup("(no log)");
  if (len > 3000) {
    char *tail = g_strdup(text + len - 3000);
    g_free(text);
    return tail;
  }
  return text;
}

void
child_clear(Child *c)
{
  g_free(c->log);
  c->log = NULL;
}

/* A free TCP port on 127.0.0.1 (bound and released: another process could
 * take it in between, unlikely on a test machine). */
guint
free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET };
  socklen_t len = sizeof a;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

int
connect_port(guint port, int timeout_s)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = { .tv_sec = timeout_s };
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* One request on a new connection; FALSE when the server did not answer
 * (refused, reset, cut off): the request may or may not have been applied.
 * *status is 0 then. */
gboolean
http_request(guint port, const char *method, const char *target,
             const char *body, int *status, char **out_body)
{
  int fd = connect_port(port, 10);
  GString *buf = g_string_new(NULL);
  g_autofree char *req = NULL;
  char chunk[4096], *end;
  gsize off = 0;
  *status = 0;
  if (out_body)
    *out_body = NULL;
  if (fd < 0) {
    g_string_free(buf, TRUE);
    return FALSE;
  }
  if (body)
    req = g_strdup_printf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Connection: close\r\n"
                          "Content-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n%s",
                          method, target, strlen(body), body);
  else
    req = g_strdup_printf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Connection: close\r\n\r\n", method, target);
  while (off < strlen(req)) {
    ssize_t n = send(fd, req + off, strlen(req) - off, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    off += (gsize)n;
  }
  for (;;) { /* Connection: close: the answer ends at EOF */
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0)
      break;
    g_string_append_len(buf, chunk, n);
  }
  close(fd);
  end = strstr(buf->str, "\r\n\r\n");
  if (!end || sscanf(buf->str, "HTTP/1.%*d %d", status) != 1) {
    *status = 0;
    g_string_free(buf, TRUE);
    return FALSE;
  }
  if (out_body)
    *out_body = g_strdup(end + 4);
  g_string_free(buf, TRUE);
  return TRUE;
}

/* The server's "listening on http://127.0.0.1:PORT/" line in its log. */
guint
wait_listening(Child *c, double timeout_s)
{
  const char *mark = "listening on http://127.0.0.1:";
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  while (g_get_monotonic_time() < deadline && child_running(c)) {
    g_autofree char *text = NULL;
    const char *at;
    if (g_file_get_contents(c->log, &text, NULL, NULL) &&
        (at = strstr(text, mark)))
      return (guint)strtoul(at + strlen(mark), NULL, 10);
    g_usleep(20000);
  }
  return 0;
}
