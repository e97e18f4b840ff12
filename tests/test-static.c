/* Tests of server/static-files.c: the dashboard's files compiled into the
 * binary. The table against web/ on disk (every file, same bytes, content
 * type from an independent list, ETag = SHA-256 prefix), If-None-Match
 * parsing, the routes (200 with the cache and security headers, 304, HEAD,
 * 404 for unknown names and every path-traversal spelling, 405, public with
 * a token while the API is not), and the same over real sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http-client.h"
#include "http.h"
#include "server-fixture.h"
#include "static-files.h"
#include "testutil.h"

#define BODY_LIMIT 4096
#define TOKEN "static-Test-token"

/* The content types the dashboard needs, written independently of
 * scripts/embed-files.py: a file whose extension is not here fails. */
static const struct {
  const char *ext;
  const char *type;
} want_types[] = {
  { ".html", "text/html; charset=utf-8" },
  { ".js", "text/javascript; charset=utf-8" },
  { ".css", "text/css; charset=utf-8" },
  { ".svg", "image/svg+xml" },
  { ".png", "image/png" },
  { ".ico", "image/x-icon" },
  { ".json", "application/json" },
  { ".txt", "text/plain; charset=utf-8" },
};

static const char *
want_type(const char *name)
{
  const char *dot = strrchr(name, '.');
  for (gsize i = 0; dot && i < G_N_ELEMENTS(want_types); i++)
    if (g_ascii_strcasecmp(dot, want_types[i].ext) == 0)
      return want_types[i].type;
  return NULL;
}

static char *
web_dir(void)
{
  const char *root = getenv("SS_SOURCE_ROOT");
  if (!root || !*root) {
    printf("SKIP: SS_SOURCE_ROOT is not set (run through meson test)\n");
    return NULL;
  }
  return g_build_filename(root, "web", NULL);
}

/* ---- the table ---- */

START_TEST(test_table_matches_web_dir)
{
  char *dir = web_dir();
  if (!dir)
    return;
  GError *e = NULL;
  GDir *d = g_dir_open(dir, 0, &e);
  ck_assert_msg(d != NULL, "%s: %s", dir, e ? e->message : "");
  gsize n_files = 0;
  const char *name;
  while ((name = g_dir_read_name(d))) {
    char *path = g_build_filename(dir, name, NULL);
    if (name[0] == '.' || !g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
      g_free(path);
      continue;
    }
    n_files++;
    const StaticFile *f = static_files_find(name);
    ck_assert_msg(f != NULL,
                  "web/%s is not compiled in (add it to web_files in "
                  "server/meson.build)", name);
    char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &data, &len, NULL));
    ck_assert_msg(f->len == len && memcmp(f->data, data, len) == 0,
                  "web/%s: compiled bytes differ from the file (%zu vs %zu)",
                  name, f->len, len);
    ck_assert_msg(f->data[f->len] == '\0', "%s: no trailing NUL", name);
    const char *type = want_type(name);
    ck_assert_msg(type != NULL, "web/%s: unexpected extension", name);
    ck_assert_msg(strcmp(f->content_type, type) == 0,
                  "web/%s: content type '%s', want '%s'", name,
                  f->content_type, type);
    char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                            (const guchar *)data, len);
    char *etag = g_strdup_printf("\"%.16s\"", sha);
    ck_assert_msg(strcmp(f->etag, etag) == 0, "web/%s: ETag %s, want %s",
                  name, f->etag, etag);
    g_free(etag);
    g_free(sha);
    g_free(data);
    g_free(path);
  }
  g_dir_close(d);
  ck_assert_msg(n_files == static_files_count,
                "web/ has %zu files, the binary %zu", n_files,
                static_files_count);
  /* The dashboard's entry points are there. */
  ck_assert_ptr_nonnull(static_files_find("index.html"));
  ck_assert_ptr_nonnull(static_files_find("app.js"));
  ck_assert_ptr_nonnull(static_files_find("style.css"));
  g_free(dir);
}
END_TEST

START_TEST(test_table_sorted_and_distinct)
{
  /* static_files_find() bisects: the table must be strictly sorted. */
  ck_assert_uint_gt(static_files_count, 0);
  for (gsize i = 1; i < static_files_count; i++)
    ck_assert_msg(strcmp(static_files[i - 1].name, static_files[i].name) < 0,
                  "entry %zu '%s' after '%s'", i, static_files[i].name,
                  static_files[i - 1].name);
  for (gsize i = 0; i < static_files_count; i++) {
    ck_assert_ptr_eq(static_files_find(static_files[i].name),
                     &static_files[i]);
    for (gsize j = 0; j < i; j++)
      ck_assert_msg(strcmp(static_files[i].etag, static_files[j].etag) != 0,
                    "%s and %s share an ETag", static_files[i].name,
                    static_files[j].name);
  }
  ck_assert_ptr_null(static_files_find(""));
  ck_assert_ptr_null(static_files_find(NULL));
  ck_assert_ptr_null(static_files_find("APP.JS"));
  ck_assert_ptr_null(static_files_find("app.j"));
  ck_assert_ptr_null(static_files_find("app.jsx"));
  ck_assert_ptr_null(static_files_find("zzz"));
  ck_assert_ptr_null(static_files_find("0"));
}
END_TEST

/* ---- If-None-Match ---- */

typedef struct {
  const char *header;
  gboolean match;
} EtagCase;

#define ETAG "\"0123456789abcdef\""
static const EtagCase etag_cases[] = {
  { NULL, FALSE },
  { "", FALSE },
  { ETAG, TRUE },
  { "W/" ETAG, TRUE },
  { "  " ETAG "  ", TRUE },
  { "\"aaaa\", " ETAG, TRUE },
  { "\"aaaa\",W/" ETAG ",\"bbbb\"", TRUE },
  { "*", TRUE },
  { "\"0123456789abcde\"", FALSE },   /* one digit short */
  { "\"0123456789abcdef0\"", FALSE }, /* one digit more */
  { "\"0123456789ABCDEF\"", FALSE },  /* case matters */
  { "0123456789abcdef", FALSE },      /* unquoted */
  { "\"0123456789abcdef", FALSE },    /* unterminated */
  { "\"aaaa\", 0123456789abcdef", FALSE },
  { "w/" ETAG, FALSE },               /* the prefix is "W/" */
  { "\"\"", FALSE },
  { ",,, ,", FALSE },
};

START_TEST(test_etag_match)
{
  const EtagCase *c = &etag_cases[_i];
  ck_assert_msg(static_files_etag_match(c->header, ETAG) == c->match,
                "case %d: If-None-Match '%s' should %smatch", _i,
                c->header ? c->header : "(null)", c->match ? "" : "not ");
}
END_TEST

/* ---- routes (no sockets) ---- */

static ServerFixture fx;
static HttpServer *srv;

static void
setup(void)
{
  server_fixture_init(&fx, 1, 4, NULL, BODY_LIMIT);
}

static void
setup_auth(void)
{
  server_fixture_init(&fx, 1, 4, TOKEN, BODY_LIMIT);
}

static void
teardown(void)
{
  http_server_stop(srv);
  srv = NULL;
  server_fixture_clear(&fx);
}

static void
request(const char *method, const char *path, const char *if_none_match,
        const char *authorization, RouteResponse *resp)
{
  RouteRequest req = {
    .method = method,
    .path = path,
    .authorization = authorization,
    .if_none_match = if_none_match,
  };
  memset(resp, 0, sizeof *resp);
  routes_handle(fx.routes, &req, resp);
}

/* A 200 for f with the body and headers the dashboard relies on. */
static void
check_file_response(const RouteResponse *resp, const StaticFile *f,
                    const char *what)
{
  ck_assert_msg(resp->status == 200, "%s: status %u", what, resp->status);
  ck_assert_msg(resp->content_type &&
                    strcmp(resp->content_type, f->content_type) == 0,
                "%s: content type '%s'", what,
                resp->content_type ? resp->content_type : "(none)");
  ck_assert_msg(resp->body_len == f->len &&
                    memcmp(resp->body, f->data, f->len) == 0,
                "%s: body differs (%zu bytes, want %zu)", what,
                resp->body_len, f->len);
  const char *etag = route_response_header(resp, "ETag");
  ck_assert_msg(etag && strcmp(etag, f->etag) == 0, "%s: ETag '%s'", what,
                etag ? etag : "(none)");
  const char *cc = route_response_header(resp, "Cache-Control");
  ck_assert_msg(cc && strcmp(cc, "no-cache") == 0, "%s: Cache-Control '%s'",
                what, cc ? cc : "(none)");
  const char *nosniff = route_response_header(resp, "X-Content-Type-Options");
  ck_assert_msg(nosniff && strcmp(nosniff, "nosniff") == 0,
                "%s: no nosniff", what);
  const char *csp = route_response_header(resp, "Content-Security-Policy");
  if (g_str_has_prefix(f->content_type, "text/html")) {
    ck_assert_msg(csp && strstr(csp, "default-src 'none'") &&
                      strstr(csp, "script-src 'self'") &&
                      strstr(csp, "frame-ancestors 'none'"),
                  "%s: CSP '%s'", what, csp ? csp : "(none)");
  }
}

START_TEST(test_routes_every_file)
{
  for (gsize i = 0; i < static_files_count; i++) {
    const StaticFile *f = &static_files[i];
    char *path = g_strdup_printf("/static/%s", f->name);
    RouteResponse resp;
    request("GET", path, NULL, NULL, &resp);
    check_file_response(&resp, f, path);
    route_response_clear(&resp);
    /* HEAD: the same answer (libmicrohttpd drops the body, keeps the
     * length). */
    request("HEAD", path, NULL, NULL, &resp);
    check_file_response(&resp, f, path);
    route_response_clear(&resp);
    g_free(path);
  }
  RouteResponse resp;
  request("GET", "/", NULL, NULL, &resp);
  check_file_response(&resp, static_files_find("index.html"), "/");
  route_response_clear(&resp);
}
END_TEST

START_TEST(test_routes_not_modified)
{
  const StaticFile *f = static_files_find("app.js");
  ck_assert_ptr_nonnull(f);
  RouteResponse resp;
  request("GET", "/static/app.js", f->etag, NULL, &resp);
  ck_assert_uint_eq(resp.status, 304);
  ck_assert_ptr_null(resp.body);
  ck_assert_uint_eq(resp.body_len, 0);
  ck_assert_str_eq(route_response_header(&resp, "ETag"), f->etag);
  ck_assert_str_eq(route_response_header(&resp, "Cache-Control"), "no-cache");
  route_response_clear(&resp);

  char *weak_list = g_strdup_printf("\"stale\", W/%s", f->etag);
  request("HEAD", "/static/app.js", weak_list, NULL, &resp);
  ck_assert_uint_eq(resp.status, 304);
  route_response_clear(&resp);
  g_free(weak_list);

  /* Another file's tag, or an old one: the full file. */
  const StaticFile *index = static_files_find("index.html");
  request("GET", "/static/app.js", index->etag, NULL, &resp);
  check_file_response(&resp, f, "app.js with index.html's tag");
  route_response_clear(&resp);
  request("GET", "/static/app.js", "\"0000000000000000\"", NULL, &resp);
  check_file_response(&resp, f, "app.js with a stale tag");
  route_response_clear(&resp);

  request("GET", "/", index->etag, NULL, &resp);
  ck_assert_uint_eq(resp.status, 304);
  route_response_clear(&resp);
}
END_TEST

/* Paths as the routes see them (libmicrohttpd has decoded %XX already):
 * none may serve anything. */
static const char *const bad_paths[] = {
  "/static/",
  "/static/nope.js",
  "/static/APP.JS",
  "/static/app.js/",
  "/static/app.js/x",
  "/static//app.js",
  "/static/./app.js",
  "/static/../static/app.js",
  "/static/..",
  "/static/../../../../etc/passwd",
  "/static/../server/routes.c",
  "/static/..\\app.js",
  "/static/%2e%2e/app.js",
  "/static/app.js%00",
  "/static/index.html/..",
  "/static/.gitignore",
  "/static/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.js",
};

START_TEST(test_routes_unknown_and_traversal)
{
  const char *path = bad_paths[_i];
  RouteResponse resp;
  request("GET", path, NULL, NULL, &resp);
  ck_assert_msg(resp.status == 404, "%s: status %u", path, resp.status);
  ck_assert_msg(resp.content_type &&
                    strcmp(resp.content_type, "application/json") == 0,
                "%s: not a JSON error", path);
  json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
  ck_assert_msg(j != NULL, "%s: body is not JSON", path);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(j, "error"), "code")), "not_found");
  json_decref(j);
  ck_assert_ptr_null(route_response_header(&resp, "ETag"));
  route_response_clear(&resp);
}
END_TEST

START_TEST(test_routes_other_paths_and_methods)
{
  /* Only "/" and "/static/NAME": the files are not at the top level. */
  static const char *const not_routed[] = {
    "/index.html", "/app.js", "/web/app.js", "/static", "//",
  };
  RouteResponse resp;
  for (gsize i = 0; i < G_N_ELEMENTS(not_routed); i++) {
    request("GET", not_routed[i], NULL, NULL, &resp);
    ck_assert_msg(resp.status == 404, "%s: %u", not_routed[i], resp.status);
    route_response_clear(&resp);
  }
  static const char *const methods[] = { "POST", "PUT", "DELETE", "PATCH" };
  for (gsize i = 0; i < G_N_ELEMENTS(methods); i++) {
    request(methods[i], "/static/app.js", NULL, NULL, &resp);
    ck_assert_msg(resp.status == 405, "%s: %u", methods[i], resp.status);
    ck_assert_str_eq(route_response_header(&resp, "Allow"),
                     "GET, HEAD, OPTIONS");
    route_response_clear(&resp);
    request(methods[i], "/", NULL, NULL, &resp);
    ck_assert_uint_eq(resp.status, 405);
    route_response_clear(&resp);
  }
}
END_TEST

START_TEST(test_routes_public_with_token)
{
  /* The page must load to ask for the token... */
  RouteResponse resp;
  request("GET", "/", NULL, NULL, &resp);
  check_file_response(&resp, static_files_find("index.html"), "/ no token");
  route_response_clear(&resp);
  request("GET", "/static/app.js", NULL, "Bearer wrong", &resp);
  check_file_response(&resp, static_files_find("app.js"), "wrong token");
  route_response_clear(&resp);
  /* ...while the API it calls still needs it. */
  request("GET", "/api/v1/streams", NULL, NULL, &resp);
  ck_assert_uint_eq(resp.status, 401);
  route_response_clear(&resp);
  request("GET", "/api/v1/streams", NULL, "Bearer " TOKEN, &resp);
  ck_assert_uint_eq(resp.status, 200);
  route_response_clear(&resp);
}
END_TEST

/* ---- over HTTP ---- */

static void
start_http(void)
{
  HttpOptions o = {
    .bind = "127.0.0.1",
    .port = 0,
    .threads = 1,
    .max_connections = 16,
    .connection_timeout_s = 10,
    .max_body_bytes = BODY_LIMIT,
  };
  GError *e = NULL;
  srv = http_server_start(&o, fx.routes, &e);
  ck_assert_msg(srv != NULL, "start: %s", e ? e->message : "");
}

typedef struct {
  int status;
  char *headers;
  GByteArray *body;
} Answer;

static void
answer_clear(Answer *a)
{
  g_free(a->headers);
  if (a->body)
    g_byte_array_unref(a->body);
  memset(a, 0, sizeof *a);
}

/* One request on its own connection ("Connection: close"): everything the
 * server sends until it closes, split into status, headers and body. */
static void
http_get(const char *method, const char *target, const char *extra,
         Answer *a)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  struct timeval tv = { .tv_sec = 10 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t)http_server_port(srv)) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
                "connect: %s", g_strerror(errno));
  char *req = g_strdup_printf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n%s\r\n", method, target,
                              extra ? extra : "");
  ck_assert(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
  g_free(req);
  GByteArray *all = g_byte_array_new();
  guint8 chunk[8192];
  ssize_t n;
  while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0)
    g_byte_array_append(all, chunk, (guint)n);
  close(fd);
  memset(a, 0, sizeof *a);
  const char *end = g_strstr_len((const char *)all->data, all->len,
                                 "\r\n\r\n");
  ck_assert_msg(end != NULL, "%s %s: no complete answer", method, target);
  gsize head_len = (gsize)(end - (const char *)all->data);
  a->headers = g_strndup((const char *)all->data, head_len);
  sscanf(a->headers, "HTTP/1.%*d %d", &a->status);
  a->body = g_byte_array_new();
  g_byte_array_append(a->body, all->data + head_len + 4,
                      all->len - (guint)head_len - 4);
  g_byte_array_unref(all);
}

START_TEST(test_http_files)
{
  start_http();
  for (gsize i = 0; i < static_files_count; i++) {
    const StaticFile *f = &static_files[i];
    char *target = g_strdup_printf("/static/%s", f->name);
    Answer a;
    http_get("GET", target, NULL, &a);
    ck_assert_msg(a.status == 200, "%s: %d", target, a.status);
    char *ct = hc_headers_get(a.headers, "Content-Type");
    char *cl = hc_headers_get(a.headers, "Content-Length");
    char *etag = hc_headers_get(a.headers, "ETag");
    ck_assert_msg(ct && strcmp(ct, f->content_type) == 0, "%s: type %s",
                  target, ct);
    ck_assert_msg(cl && g_ascii_strtoull(cl, NULL, 10) == f->len,
                  "%s: Content-Length %s, want %zu", target, cl, f->len);
    ck_assert_msg(a.body->len == f->len &&
                      memcmp(a.body->data, f->data, f->len) == 0,
                  "%s: body differs", target);
    ck_assert_str_eq(etag, f->etag);
    g_free(ct);
    g_free(cl);
    g_free(etag);
    answer_clear(&a);

    /* The browser's revalidation: 304 and no body. */
    char *inm = g_strdup_printf("If-None-Match: %s\r\n", f->etag);
    http_get("GET", target, inm, &a);
    ck_assert_msg(a.status == 304, "%s revalidated: %d", target, a.status);
    ck_assert_uint_eq(a.body->len, 0);
    etag = hc_headers_get(a.headers, "ETag");
    ck_assert_str_eq(etag, f->etag);
    g_free(etag);
    answer_clear(&a);
    g_free(inm);
    g_free(target);
  }

  /* HEAD: the length of the page, no body. */
  const StaticFile *index = static_files_find("index.html");
  Answer a;
  http_get("HEAD", "/", NULL, &a);
  ck_assert_int_eq(a.status, 200);
  char *cl = hc_headers_get(a.headers, "Content-Length");
  ck_assert_msg(cl && g_ascii_strtoull(cl, NULL, 10) == index->len,
                "HEAD /: Content-Length %s, want %zu", cl, index->len);
  ck_assert_uint_eq(a.body->len, 0);
  char *csp = hc_headers_get(a.headers, "Content-Security-Policy");
  ck_assert_ptr_nonnull(csp);
  g_free(csp);
  g_free(cl);
  answer_clear(&a);
}
END_TEST

/* Traversal spelled on the wire: libmicrohttpd decodes %XX before the
 * routes see the path; nothing outside the table is ever served. */
static const char *const wire_paths[] = {
  "/static/..%2fmeson.build",
  "/static/%2e%2e/%2e%2e/etc/passwd",
  "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "/../../etc/passwd",
  "/static/../../web/app.js",
  "/static/app.js%2f",
  "/static/%61pp.jsx",
  "/web/index.html",
};

START_TEST(test_http_traversal)
{
  start_http();
  const char *target = wire_paths[_i];
  Answer a;
  http_get("GET", target, NULL, &a);
  ck_assert_msg(a.status == 404 || a.status == 400, "%s: %d", target,
                a.status);
  ck_assert_msg(a.body->len < 200, "%s: a large body (%u bytes)", target,
                a.body->len);
  answer_clear(&a);
}
END_TEST

START_TEST(test_http_decoded_name)
{
  /* %XX in a good name is decoded and served like the plain name. */
  start_http();
  Answer a;
  http_get("GET", "/static/%61pp.js", NULL, &a);
  ck_assert_int_eq(a.status, 200);
  const StaticFile *f = static_files_find("app.js");
  ck_assert_uint_eq(a.body->len, f->len);
  answer_clear(&a);
}
END_TEST

static Suite *
static_suite(void)
{
  Suite *s = suite_create("static");
  TCase *tc = tcase_create("table");
  tcase_add_test(tc, test_table_matches_web_dir);
  tcase_add_test(tc, test_table_sorted_and_distinct);
  tcase_add_loop_test(tc, test_etag_match, 0, G_N_ELEMENTS(etag_cases));
  suite_add_tcase(s, tc);

  tc = tcase_create("routes");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_routes_every_file);
  tcase_add_test(tc, test_routes_not_modified);
  tcase_add_loop_test(tc, test_routes_unknown_and_traversal, 0,
                      G_N_ELEMENTS(bad_paths));
  tcase_add_test(tc, test_routes_other_paths_and_methods);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_auth, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_routes_public_with_token);
  suite_add_tcase(s, tc);

  tc = tcase_create("http");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_http_files);
  tcase_add_loop_test(tc, test_http_traversal, 0, G_N_ELEMENTS(wire_paths));
  tcase_add_test(tc, test_http_decoded_name);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(static_suite());
}
