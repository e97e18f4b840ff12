/* Camera credentials never leave the config file: the built binary is
 * started on a config whose streams carry credentials in every form the
 * server knows (user info, query parameters of Dahua/Hikvision/Foscam
 * cameras and signed URLs, XMEye's path form, percent-encoded), more are
 * added over the API, and everything it says is scanned: its log (stdout
 * and stderr, with G_MESSAGES_DEBUG=all), every answer (stream list, each
 * stream, stats, metrics, the POST and PATCH answers, error bodies of bad
 * POSTs and PATCHes) and a few seconds of the event stream. Every secret value holds
 * the marker "SEKRIT", so one search finds them all, encoded or not.
 *
 * The "cameras" are one fake server on 127.0.0.1 that answers every RTSP or
 * HTTP request with 404 (and fails TLS), so that each stream reaches the
 * camera, fails with GStreamer's own error text (souphttpsrc's quotes the
 * URL) and retries. The test also checks that the secrets did reach the
 * camera (the real URI is used) and are in the config file (mode 0600).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "child-process.h"
#include "testutil.h"

#define MARK "SEKRIT"

/* ---- the fake camera ---- */

typedef struct {
  int fd;
  guint port;
  GThread *thread;
  gint stop;
  GMutex lock;
  GString *requests; /* every request head received, under lock */
} FakeCamera;

/* Reads a request head (up to the blank line, 2 s at most). */
static void
read_head(int fd, GString *out)
{
  char buf[2048];
  gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
  while (!strstr(out->str, "\r\n\r\n") && out->len < 65536 &&
         g_get_monotonic_time() < deadline) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 200) != 1)
      continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    g_string_append_len(out, buf, n);
  }
}

static gpointer
camera_main(gpointer p)
{
  FakeCamera *cam = p;
  while (!g_atomic_int_get(&cam->stop)) {
    struct pollfd pl = { .fd = cam->fd, .events = POLLIN };
    if (poll(&pl, 1, 100) != 1)
      continue;
    int c = accept(cam->fd, NULL, NULL);
    if (c < 0)
      continue;
    GString *head = g_string_new(NULL);
    read_head(c, head);
    g_autofree char *reply = NULL;
    const char *cseq = strstr(head->str, "CSeq:");
    if (strstr(head->str, "RTSP/1.0")) {
      reply = g_strdup_printf("RTSP/1.0 404 Not Found\r\nCSeq: %d\r\n\r\n",
                              cseq ? atoi(cseq + 5) : 1);
    } else if (g_str_has_prefix(head->str, "GET ")) {
      reply = g_strdup("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n");
    }
    /* Anything else (a TLS hello) is closed unanswered. */
    if (reply && send(c, reply, strlen(reply), MSG_NOSIGNAL) < 0)
      printf("camera: send: %s\n", g_strerror(errno));
    g_mutex_lock(&cam->lock);
    /* Up to the first NUL: a TLS hello is binary, and would hide the
     * requests after it from strstr. */
    g_string_append(cam->requests, head->str);
    g_string_append_c(cam->requests, '\n');
    g_mutex_unlock(&cam->lock);
    g_string_free(head, TRUE);
    close(c);
  }
  return NULL;
}

static void
camera_start(FakeCamera *cam)
{
  struct sockaddr_in a = { .sin_family = AF_INET };
  socklen_t len = sizeof a;
  memset(cam, 0, sizeof *cam);
  g_mutex_init(&cam->lock);
  cam->requests = g_string_new(NULL);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cam->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(cam->fd, 0);
  ck_assert_int_eq(bind(cam->fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(cam->fd, 64), 0);
  ck_assert_int_eq(getsockname(cam->fd, (struct sockaddr *)&a, &len), 0);
  cam->port = ntohs(a.sin_port);
  cam->thread = g_thread_new("fake-camera", camera_main, cam);
}

static char *
camera_requests(FakeCamera *cam)
{
  g_mutex_lock(&cam->lock);
  char *r = g_strdup(cam->requests->str);
  g_mutex_unlock(&cam->lock);
  return r;
}

static void
camera_stop(FakeCamera *cam)
{
  g_atomic_int_set(&cam->stop, 1);
  g_thread_join(cam->thread);
  close(cam->fd);
  g_string_free(cam->requests, TRUE);
  g_mutex_clear(&cam->lock);
}

/* ---- what the server says ---- */

/* Everything the server said, each piece labelled, for the final scan. */
static GString *said;

static void
record(const char *what, const char *text)
{
  g_string_append_printf(said, "==== %s\n%s\n", what, text ? text : "");
}

/* A request whose answer is recorded; returns the status. */
static int
ask(guint port, const char *method, const char *target, const char *body,
    char **out_body)
{
  int status = 0;
  g_autofree char *answer = NULL;
  /* The label leaves the request body out: it holds the secrets. */
  g_autofree char *what = g_strdup_printf("%s %s", method, target);
  ck_assert_msg(http_request(port, method, target, body, &status, &answer),
                "%s: no answer", what);
  record(what, answer);
  if (out_body)
    *out_body = g_steal_pointer(&answer);
  return status;
}

/* Reads the event stream for seconds. */
static void
read_events(guint port, double seconds)
{
  int fd = connect_port(port, 1);
  const char *req = "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  GString *buf = g_string_new(NULL);
  gint64 end = g_get_monotonic_time() + (gint64)(seconds * 1e6);
  char chunk[4096];
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(send(fd, req, strlen(req), MSG_NOSIGNAL),
                   (ssize_t)strlen(req));
  while (g_get_monotonic_time() < end) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0); /* 1 s timeout */
    if (n == 0)
      break;
    if (n > 0)
      g_string_append_len(buf, chunk, n);
  }
  close(fd);
  ck_assert_msg(strstr(buf->str, "200 OK") && strstr(buf->str, "event:"),
                "no event stream: %s", buf->str);
  record("GET /api/v1/events", buf->str);
  g_string_free(buf, TRUE);
}

/* The secret values: each appears in one URI below. */
static const char *const secrets[] = {
  MARK "User0", MARK "Pass0",          /* user info */
  MARK "Xmeye1",                       /* XMEye path form */
  MARK "DahuaUser2", MARK "Dahua2",    /* ?user=&password= */
  MARK "Foscam3",                      /* /videostream.cgi?user=&pwd= */
  MARK "Usr4", MARK "Pwd4",            /* Foscam usr=&pwd= */
  MARK "Token5", MARK "Key5",          /* X-Auth-Token, api_key */
  MARK "Sig6",                         /* signed URL */
  MARK "%2FEnc7", MARK "/Enc7",        /* percent-encoded, and decoded */
  MARK "Refused8",                     /* a port nobody listens on */
};

START_TEST(test_no_secret_anywhere)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  char model[1024];
  FakeCamera cam;
  Child srv;
  guint port, p;
  int rc;
  g_autofree char *dir = NULL, *config = NULL, *log = NULL, *text = NULL;
  g_autofree char *cfg_text = NULL, *list = NULL, *reqs = NULL;
  struct stat st;

  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set (run through meson test)\n");
    return;
  }
  if (!tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite", model,
                    sizeof model))
    return;
  said = g_string_new(NULL);
  camera_start(&cam);
  p = cam.port;
  dir = g_build_filename(tu_tmp_dir(), "secrets-XXXXXX", NULL);
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  config = g_build_filename(dir, "streamsight.json", NULL);
  log = g_build_filename(dir, "server.log", NULL);

  /* Four forms in the file, written group- and world-readable. */
  cfg_text = g_strdup_printf(
      "{\"streams\": [\n"
      " {\"id\": \"userinfo\", \"name\": \"userinfo\", \"uri\": "
      "\"rtsp://" MARK "User0:" MARK "Pass0@127.0.0.1:%u/live\"},\n"
      " {\"id\": \"xmeye\", \"name\": \"xmeye\", \"uri\": \"rtsp://127.0.0.1:"
      "%u/user=admin_password=" MARK "Xmeye1_channel=1_stream=0.sdp\"},\n"
      " {\"id\": \"dahua\", \"name\": \"dahua\", \"uri\": \"http://127.0.0.1:"
      "%u/cam/realmonitor?channel=1&subtype=0&user=" MARK "DahuaUser2&"
      "password=" MARK "Dahua2\"},\n"
      " {\"id\": \"foscam\", \"name\": \"foscam\", \"uri\": \"http://"
      "127.0.0.1:%u/videostream.cgi?user=admin&pwd=" MARK "Foscam3\"}\n"
      "]}\n", p, p, p, p);
  ck_assert(g_file_set_contents(config, cfg_text, -1, NULL));
  ck_assert_int_eq(chmod(config, 0644), 0);

  char **envp = g_get_environ();
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_CONFIG");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_PORT");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_BIND");
  envp = g_environ_unsetenv(envp, "STREAMSIGHT_TOKEN");
  envp = g_environ_setenv(envp, "STREAMSIGHT_MODEL", model, TRUE);
  envp = g_environ_setenv(envp, "STREAMSIGHT_THREADS", "1", TRUE);
  envp = g_environ_setenv(envp, "G_MESSAGES_DEBUG", "all", TRUE);
  char *argv[] = { (char *)exe, "serve", "--config", config, "--port", "0",
                   NULL };
  ck_assert(child_spawn(&srv, argv, envp, log));
  g_strfreev(envp);
  port = wait_listening(&srv, 60);
  if (!port) {
    g_autofree char *tail = child_log_tail(&srv);
    child_finish(&srv, SIGKILL, 5);
    ck_abort_msg("the server did not start:\n%s", tail);
  }

  /* Four more over the API; their answers are scanned too. */
  const char *posts[] = {
    "{\"id\": \"foscam-usr\", \"name\": \"foscam-usr\", \"uri\": \"http://"
    "127.0.0.1:PORT/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=" MARK "Usr4&"
    "pwd=" MARK "Pwd4\"}",
    "{\"id\": \"token\", \"name\": \"token\", \"uri\": \"https://127.0.0.1:"
    "PORT/live.m3u8?X-Auth-Token=" MARK "Token5&api_key=" MARK "Key5\"}",
    "{\"id\": \"signed\", \"name\": \"signed\", \"uri\": \"rtsp://"
    "127.0.0.1:PORT/s?expires=9&Signature=" MARK "Sig6\"}",
    "{\"id\": \"encoded\", \"name\": \"encoded\", \"uri\": \"rtsp://viewer:"
    MARK "%2FEnc7@127.0.0.1:PORT/x\"}",
  };
  for (guint i = 0; i < G_N_ELEMENTS(posts); i++) {
    g_auto(GStrv) parts = g_strsplit(posts[i], "PORT", 2);
    g_autofree char *port_s = g_strdup_printf("%u", p);
    g_autofree char *body = g_strjoinv(port_s, parts);
    rc = ask(port, "POST", "/api/v1/streams", body, NULL);
    ck_assert_msg(rc == 201, "POST %s: %d", body, rc);
  }
  rc = ask(port, "POST", "/api/v1/streams",
           "{\"id\": \"refused\", \"name\": \"refused\", \"uri\": "
           "\"rtsp://127.0.0.1:1/x?token=" MARK "Refused8\"}", NULL);
  ck_assert_int_eq(rc, 201);

  /* A PATCH answer shows the stream, URI included. */
  ck_assert_int_eq(ask(port, "PATCH", "/api/v1/streams/dahua",
                       "{\"max_fps\": 2}", NULL), 200);

  /* Bad requests carrying secrets: their error bodies are scanned. */
  struct {
    const char *method, *target, *body;
  } bad[] = {
    { "PATCH", "/api/v1/streams/dahua",
      "{\"uri\": \"rtsp://a:" MARK "Patch@h/x\"}" },
    { "PATCH", "/api/v1/streams/dahua",
      "{\"max_fps\": \"" MARK "Patch\"}" },
    { "POST", "/api/v1/streams",
      "{\"name\": \"bad\", \"uri\": \"rtsp://admin:" MARK "Bad@[::1/x\"}" },
    { "POST", "/api/v1/streams",
      "{\"name\": \"dahua\", \"uri\": \"rtsp://h/x?password=" MARK
      "Dup\"}" },
    { "POST", "/api/v1/streams",
      "{\"name\": \"trunc\", \"uri\": \"rtsp://h/x?pwd=" MARK "Trunc" },
    { "POST", "/api/v1/streams",
      "{\"name\": \"ctl\", \"uri\": \"rtsp://h/x?pwd=" MARK "Ctl\\n\"}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    rc = ask(port, bad[i].method, bad[i].target, bad[i].body, NULL);
    ck_assert_msg(rc >= 400 && rc < 500, "%s %s: %d", bad[i].method,
                  bad[i].body, rc);
  }

  /* Every stream with a camera behind it has failed at least once, with
   * GStreamer's own text in last_error. */
  const char *ids[] = { "userinfo", "xmeye", "dahua", "foscam", "foscam-usr",
                        "token", "signed", "encoded", "refused" };
  gint64 deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
  guint failed = 0, missed = 0;
  while (g_get_monotonic_time() < deadline) {
    int status = 0;
    g_free(list);
    list = NULL;
    /* A poll may go unanswered within the client's 10 s on a machine
     * running two sanitizer suites at once (seen once); three in a row is
     * a server that stopped answering. */
    if (!http_request(port, "GET", "/api/v1/streams", NULL, &status,
                      &list)) {
      g_autofree char *tail = child_log_tail(&srv);
      printf("secrets: GET /api/v1/streams unanswered (%u)\n", ++missed);
      ck_assert_msg(missed < 3, "GET /api/v1/streams unanswered %u times; "
                    "server log:\n%s", missed, tail);
      continue;
    }
    missed = 0;
    failed = 0;
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
      g_autofree char *needle = g_strdup_printf("\"id\":\"%s\"", ids[i]);
      const char *at = strstr(list, needle);
      const char *next = at ? strstr(at + 1, "\"id\":\"") : NULL;
      const char *err = at ? strstr(at, "\"last_error\":\"") : NULL;
      if (err && (!next || err < next))
        failed++;
    }
    if (failed == G_N_ELEMENTS(ids))
      break;
    g_usleep(250000);
  }
  ck_assert_msg(failed == G_N_ELEMENTS(ids), "only %u of %zu streams "
                "failed: %s", failed, G_N_ELEMENTS(ids), list);
  record("GET /api/v1/streams (polled)", list);
  for (const char *at = list; (at = strstr(at, "\"last_error\":\""));
       at++) {
    const char *end = strstr(at + 14, "\",\"");
    printf("secrets: last_error %.*s\n", end ? (int)(end - at - 14) : 80,
           at + 14);
  }

  ask(port, "GET", "/api/v1/streams", NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
    g_autofree char *target = g_strdup_printf("/api/v1/streams/%s", ids[i]);
    ck_assert_int_eq(ask(port, "GET", target, NULL, NULL), 200);
  }
  ck_assert_int_eq(ask(port, "GET", "/api/v1/stats", NULL, NULL), 200);
  ck_assert_int_eq(ask(port, "GET", "/metrics", NULL, NULL), 200);
  read_events(port, 4.0);

  /* The answers show the redaction (so the scan below looks at URIs). */
  ck_assert_msg(strstr(said->str, "password=***") &&
                    strstr(said->str, "_password=***_channel=1") &&
                    strstr(said->str, "rtsp://***@127.0.0.1"),
                "no redacted URI in the answers");

  rc = child_finish(&srv, SIGTERM, 30);
  if (rc != 0) {
    g_autofree char *tail = child_log_tail(&srv);
    ck_abort_msg("exit %d after SIGTERM:\n%s", rc, tail);
  }
  ck_assert(g_file_get_contents(log, &text, NULL, NULL));
  record("server log", text);
  child_clear(&srv);
  /* The file was 0644: the start-up says so. */
  ck_assert_msg(strstr(text, "is readable by others (mode 644)"), "%s",
                text);

  /* The scan. */
  const char *leak = strstr(said->str, MARK);
  if (leak) {
    const char *from = leak - MIN((gsize)(leak - said->str), 300);
    ck_abort_msg("a secret leaked: ...%.*s...", (int)(leak - from + 60),
                 from);
  }
  printf("secrets: %zu bytes of answers, events and log scanned, no secret\n",
         said->len);

  /* The secrets were there to leak: the cameras received them and the
   * config file keeps them (owner-only now). */
  reqs = camera_requests(&cam);
  ck_assert_msg(strstr(reqs, "password=" MARK "Dahua2") &&
                    strstr(reqs, "pwd=" MARK "Foscam3") &&
                    strstr(reqs, "_password=" MARK "Xmeye1_channel"),
                "the cameras did not get the real URIs: %s", reqs);
  g_free(cfg_text);
  ck_assert(g_file_get_contents(config, &cfg_text, NULL, NULL));
  for (guint i = 0; i < G_N_ELEMENTS(secrets); i++)
    if (!strchr(secrets[i], '/'))
      ck_assert_msg(strstr(cfg_text, secrets[i]), "%s not in the config",
                    secrets[i]);
  ck_assert_int_eq(stat(config, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);

  camera_stop(&cam);
  g_string_free(said, TRUE);
}
END_TEST

static Suite *
secrets_suite(void)
{
  Suite *s = suite_create("secrets");
  TCase *tc = tcase_create("binary");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_no_secret_anywhere);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(secrets_suite());
}
