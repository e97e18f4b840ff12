/* The built binary over HTTP (SS_STREAMSIGHT_EXE): `streamsight serve` on
 * port 0, the healthcheck, SIGTERM and a restart on the same config, and
 * start-up errors (missing --config file, missing model, bad config, bad
 * environment value, healthcheck usage). */
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

#include "http-client.h"
#include "serve.h"
#include "testutil.h"

static const char *
exe_path(void)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set (run through meson test)\n");
    return NULL;
  }
  return exe;
}

typedef struct {
  GPid pid;
  int out_fd, err_fd;
  guint port;
  GString *out, *err;
} Child;

/* Reads what is available from fd into buf within timeout_ms; FALSE at
 * EOF. */
static gboolean
pump(int fd, GString *buf, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  if (poll(&p, 1, timeout_ms) != 1)
    return TRUE;
  char chunk[1024];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n <= 0)
    return FALSE;
  g_string_append_len(buf, chunk, n);
  return TRUE;
}

/* Starts `streamsight serve --config config --port 0` with extra env
 * entries; waits for the "listening" line when wait_listen. */
static void
child_start(Child *c, const char *config, char **extra_env,
            gboolean wait_listen)
{
  memset(c, 0, sizeof *c);
  c->out = g_string_new(NULL);
  c->err = g_string_new(NULL);
  char *argv[] = { (char *)exe_path(), "serve", "--config", (char *)config,
                   "--port", "0", NULL };
  char **env = g_get_environ();
  env = g_environ_unsetenv(env, "STREAMSIGHT_CONFIG");
  env = g_environ_unsetenv(env, "STREAMSIGHT_PORT");
  env = g_environ_unsetenv(env, "STREAMSIGHT_TOKEN");
  env = g_environ_setenv(env, "STREAMSIGHT_THREADS", "1", TRUE);
  for (char **e = extra_env; e && *e; e++) {
    char **kv = g_strsplit(*e, "=", 2);
    env = g_environ_setenv(env, kv[0], kv[1] ? kv[1] : "", TRUE);
    g_strfreev(kv);
  }
  GError *err = NULL;
  ck_assert_msg(g_spawn_async_with_pipes(NULL, argv, env,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                         NULL, &c->pid, NULL, &c->out_fd,
                                         &c->err_fd, &err),
                "spawn: %s", err ? err->message : "");
  g_strfreev(env);
  if (!wait_listen)
    return;
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  const char *mark = "listening on http://127.0.0.1:";
  while (!strstr(c->out->str, mark) && g_get_monotonic_time() < deadline) {
    if (!pump(c->out_fd, c->out, 100))
      break;
    pump(c->err_fd, c->err, 0);
  }
  const char *at = strstr(c->out->str, mark);
  ck_assert_msg(at != NULL, "no listening line; stdout: %s stderr: %s",
                c->out->str, c->err->str);
  c->port = (guint)strtoul(at + strlen(mark), NULL, 10);
  ck_assert_uint_gt(c->port, 0);
}

/* Waits for the child to exit (sending sig first if not 0); returns the
 * exit status, or -1 on a timeout or a signal death. */
static int
child_finish(Child *c, int sig, double timeout_s)
{
  if (sig)
    kill(c->pid, sig);
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  int status = 0, rc = -1;
  while (g_get_monotonic_time() < deadline) {
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == c->pid) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    pump(c->out_fd, c->out, 20);
    pump(c->err_fd, c->err, 20);
  }
  if (rc == -1 && waitpid(c->pid, &status, WNOHANG) == 0) {
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &status, 0);
  }
  while (pump(c->err_fd, c->err, 0) && c->err->len < 65536)
    ;
  close(c->out_fd);
  close(c->err_fd);
  g_spawn_close_pid(c->pid);
  return rc;
}

static void
child_clear(Child *c)
{
  g_string_free(c->out, TRUE);
  g_string_free(c->err, TRUE);
}

/* GET on 127.0.0.1:port (of the child, not the fixture's server). */
static void
get_port(guint port, const char *target, HcAnswer *a)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = { .tv_sec = 20 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  char *r = g_strdup_printf("%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            "\r\n", target);
  ck_assert(hc_send_all(fd, r, strlen(r)));
  g_free(r);
  hc_read_answer(fd, FALSE, a);
  close(fd);
}

START_TEST(test_binary_serve_restart)
{
  char model[1024];
  if (!exe_path() ||
      !tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model))
    return;
  char *dir = g_strdup_printf("%s/bin-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *config = g_build_filename(dir, "streamsight.json", NULL);
  char *model_env = g_strdup_printf("STREAMSIGHT_MODEL=%s", model);
  /* The config at the default location (STREAMSIGHT_CONFIG), so that it
   * may not exist yet. */
  char *config_env = g_strdup_printf("STREAMSIGHT_CONFIG=%s", config);
  char *env[] = { model_env, config_env, NULL };

  /* No file yet: defaults with the test stream. */
  Child c;
  child_start(&c, config, env, TRUE);
  HcAnswer a;
  get_port(c.port, "GET /healthz", &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);
  get_port(c.port, "GET /api/v1/streams/stream-1", &a);
  ck_assert_int_eq(a.status, 200);
  hc_answer_clear(&a);

  /* healthcheck against it: 0; against a path that 404s: 1. */
  char *url = g_strdup_printf("http://127.0.0.1:%u/healthz", c.port);
  char *hc[] = { "healthcheck", "--url", url, NULL };
  ck_assert_int_eq(cmd_healthcheck(3, hc), 0);
  char *url404 = g_strdup_printf("http://127.0.0.1:%u/nope", c.port);
  char *hc404[] = { "healthcheck", "--url", url404, NULL };
  ck_assert_int_eq(cmd_healthcheck(3, hc404), 1);

  /* A stream added over the API is in the file... */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t)c.port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  const char *body = "{\"id\": \"extra\", \"name\": \"extra\", \"uri\": "
                     "\"test:\", \"enabled\": false}";
  char *r = g_strdup_printf("POST /api/v1/streams HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\nContent-Length: %zu\r\n\r\n"
                            "%s", strlen(body), body);
  ck_assert(hc_send_all(fd, r, strlen(r)));
  g_free(r);
  hc_read_answer(fd, FALSE, &a);
  close(fd);
  ck_assert_int_eq(a.status, 201);
  hc_answer_clear(&a);

  /* ...SIGTERM stops the server cleanly... */
  int rc = child_finish(&c, SIGTERM, 30);
  ck_assert_msg(rc == 0, "exit %d after SIGTERM; stderr: %s", rc,
                c.err->str);
  child_clear(&c);

  /* ...and both streams come back with their ids. */
  child_start(&c, config, env, TRUE);
  get_port(c.port, "GET /api/v1/streams", &a);
  ck_assert_int_eq(a.status, 200);
  json_t *j = hc_answer_json(&a);
  json_t *arr = json_object_get(j, "streams");
  ck_assert_uint_eq(json_array_size(arr), 2);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0),
                                                     "id")), "stream-1");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 1),
                                                     "id")), "extra");
  json_decref(j);
  hc_answer_clear(&a);
  rc = child_finish(&c, SIGINT, 30);
  ck_assert_msg(rc == 0, "exit %d after SIGINT; stderr: %s", rc, c.err->str);
  child_clear(&c);

  /* Nothing answers any more: healthcheck fails. */
  ck_assert_int_eq(cmd_healthcheck(3, hc), 1);
  g_free(url404);
  g_free(url);
  g_free(model_env);
  g_free(config_env);
  g_free(config);
  g_free(dir);
}
END_TEST

START_TEST(test_binary_start_errors)
{
  if (!exe_path())
    return;
  char *dir = g_strdup_printf("%s/binerr-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  char *config = g_build_filename(dir, "c.json", NULL);

  /* A --config file that does not exist: exit 2, the path named (only
   * the default location, STREAMSIGHT_CONFIG, may be created later). */
  Child c;
  child_start(&c, config, NULL, FALSE);
  int rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(c.err->str, "no such file") &&
                strstr(c.err->str, config), "stderr: %s", c.err->str);
  child_clear(&c);

  /* A missing model: exit 1, and the message says how to get one. */
  g_file_set_contents(config, "{}", -1, NULL);
  char *env1[] = { "STREAMSIGHT_MODEL=/nonexistent/model.tflite", NULL };
  child_start(&c, config, env1, FALSE);
  rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(c.err->str, "/nonexistent/model.tflite") &&
                strstr(c.err->str, "scripts/install-models.sh"), "stderr: %s",
                c.err->str);
  child_clear(&c);

  /* A bad config: exit 2, the message names the file and the key. */
  g_file_set_contents(config, "{\"limits\": {\"max_stream\": 3}}", -1, NULL);
  child_start(&c, config, NULL, FALSE);
  rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(c.err->str, "limits.max_stream: unknown key (did "
                       "you mean max_streams?)") &&
                strstr(c.err->str, config), "stderr: %s", c.err->str);
  child_clear(&c);

  /* A bad environment value: exit 2, the variable is named. */
  g_file_set_contents(config, "{}", -1, NULL);
  char *env2[] = { "STREAMSIGHT_BIND=localhost", NULL };
  child_start(&c, config, env2, FALSE);
  rc = child_finish(&c, 0, 30);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(c.err->str, "STREAMSIGHT_BIND"), "stderr: %s",
                c.err->str);
  child_clear(&c);

  /* healthcheck: bad URL is a usage error; nothing listening is 1. */
  char *bad[] = { "healthcheck", "--url", "https://127.0.0.1:1/", NULL };
  ck_assert_int_eq(cmd_healthcheck(3, bad), 2);
  char *closed[] = { "healthcheck", "--url", "http://127.0.0.1:1/healthz",
                     "--timeout", "2", NULL };
  ck_assert_int_eq(cmd_healthcheck(5, closed), 1);
  g_free(config);
  g_free(dir);
}
END_TEST

static Suite *
http_binary_suite(void)
{
  Suite *s = suite_create("http-binary");
  TCase *tc = tcase_create("binary");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_binary_serve_restart);
  tcase_add_test(tc, test_binary_start_errors);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  json_object_seed(1);
  return tu_run_suite(http_binary_suite());
}
