/* streamsight — libFuzzer harness: HTTP requests as the route handlers see
 * them (server/routes.c) on a real registry, engine, pool and config store.
 *
 * Input: up to FUZZ_MAX_REQUESTS requests separated by a line "%%". Each is
 *   METHOD SP TARGET LF        TARGET = path[?query], percent-encoded
 *   Name: value LF ...         headers (Authorization, Content-Type,
 *                              Content-Length, If-None-Match,
 *                              Last-Event-ID), ended by an empty line
 *   body                       the rest (if any)
 * The path and the query are decoded as libmicrohttpd does for http.c
 * (%XX everywhere, '+' as a space in the query; a decoded NUL ends the
 * string), the body limit is applied as http.c applies it, and a request
 * with an Authorization header goes to routes that require the token
 * "fuzz-token-0123" (routes without a token otherwise), so both the
 * authentication parser and the handlers get the input.
 *
 * Streams added by POST are never started: the registry's main context is
 * not run by any thread, so the start-up the registry queues on it never
 * happens (no pipeline, no network). After each input every stream is
 * removed and the context drained (the queued start-ups see a removed
 * stream and do nothing), so inputs do not depend on each other. The event
 * hub is real (its ticker polls rarely); an event stream's pending text is
 * read and the client closed. Slow work (POST /api/v1/classify, the
 * snapshot) is checked to come back as work and freed without running it:
 * its parsing (query, Content-Type, multipart) is in routes_handle(), and
 * the image decode has its own harness (fuzz-image.c).
 *
 * Properties checked per response: a status in 200..599; a JSON body when
 * the content type says so, and always for >= 400 (error.code and
 * error.message strings); no body on 204/304; Location on 201, Allow on
 * 405, WWW-Authenticate on 401; and no camera password or other secret
 * value from a POSTed URI in any body, event text or header value (see
 * secrets_of()).
 */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "events.h"
#include "fuzz.h"
#include "kernels/kernels.h"
#include "mobilenet.h"
#include "pool.h"
#include "registry.h"
#include "routes.h"

#define FUZZ_MAX_REQUESTS 4
#define FUZZ_MAX_QUERY 16     /* http.c keeps at most 16 arguments */
#define FUZZ_MAX_STREAMS 4
#define FUZZ_MAX_BODY 4096
#define FUZZ_MAX_URI 2048
#define FUZZ_MAX_HEADERS 8192
/* Event text read from a stream response per request. */
#define FUZZ_EVENT_READ_MAX 65536
#define FUZZ_TOKEN "fuzz-token-0123"
/* Passwords shorter than this, or made only of characters that also occur
 * in the server's own output (names of keys, ids, times), are not checked
 * for leaks: they could appear in a response by coincidence. */
#define FUZZ_SECRET_MIN 8

static struct {
  struct ss_model *model;
  struct ss_engine *engine;
  struct ss_pool *pool;
  GMainContext *ctx;
  Registry *registry;
  ConfigStore *store;
  EventHub *events;
  Routes *open, *auth;
} g;

/* The registry's one changed callback, as serve.c wires it (the event hub
 * watches the registry itself). */
static void
on_registry_changed(Registry *r, gpointer user)
{
  config_store_registry_changed(r, g.store);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  struct ss_error err = { 0 };
  kern_init();
  /* No gst_init: streams are never started, so nothing here needs
   * GStreamer, and without it GLib's quark table stays in its first block
   * (see tests/sanitizers/lsan.supp). */
  /* Stream errors and config write failures log with g_warning; a fuzzer
   * must not stop on them. */
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  FUZZ_CHECK(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                             MODEL_PAD_RULE_TF_SAME, 1001, &g.model, &err) == 0,
             "build: %s", err.message);
  FUZZ_CHECK(engine_new(g.model, KERN_ISA_AUTO, &g.engine, &err) == 0,
             "engine: %s", err.message);
  FUZZ_CHECK(pool_new(g.engine, 1, FUZZ_MAX_STREAMS + 1, 0, &g.pool,
                      &err) == 0, "pool: %s", err.message);
  g.ctx = g_main_context_new();
  g.registry = registry_new(g.ctx, g.engine, g.pool, FUZZ_MAX_STREAMS);

  /* The config file lives in memory (tmpfs) when possible: every stream
   * change writes it, with fsyncs. */
  const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)
                         ? "/dev/shm" : g_get_tmp_dir();
  char *dir = g_build_filename(base, "streamsight-fuzz-routes-XXXXXX", NULL);
  FUZZ_CHECK(g_mkdtemp(dir) != NULL, "mkdtemp %s", dir);
  char *path = g_build_filename(dir, "streamsight.json", NULL);
  g.store = config_store_new(path, NULL);
  g_free(path);
  g_free(dir);
  /* Heartbeats and state polls once a minute: the inputs, not the ticker,
   * drive what the hub sends. */
  EventHubOptions eo = { .max_clients = 4, .queue_len = 0,
                         .heartbeat_ms = 60000, .poll_ms = 60000 };
  g.events = event_hub_new(g.registry, g.model, &eo);
  registry_set_changed_func(g.registry, on_registry_changed, NULL);

  RoutesConfig rc = {
    .registry = g.registry,
    .engine = g.engine,
    .pool = g.pool,
    .store = g.store,
    .events = g.events,
    .auth_token = NULL,
    .max_body_bytes = FUZZ_MAX_BODY,
    .max_uri_bytes = FUZZ_MAX_URI,
    .max_header_bytes = FUZZ_MAX_HEADERS,
    .classifiers = 1,
  };
  g.open = routes_new(&rc);
  rc.auth_token = FUZZ_TOKEN;
  g.auth = routes_new(&rc);
  return 0;
}

static int
hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)g_ascii_tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Decodes n bytes of s (%XX; '+' as space when plus_space) into a new
 * NUL-terminated string cut at the first NUL. */
static char *
url_decode(const char *s, gsize n, gboolean plus_space)
{
  char *out = g_malloc(n + 1);
  gsize o = 0;
  for (gsize i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
        (lo = hex_value(s[i + 2])) >= 0) {
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else if (plus_space && s[i] == '+') {
      out[o++] = ' ';
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out; /* strlen(out) stops at a decoded NUL */
}

typedef struct {
  char *method, *path, *authorization, *content_type;
  char *if_none_match, *last_event_id;
  RouteParam query[FUZZ_MAX_QUERY];
  guint n_query;
  const guint8 *body;
  gsize body_len;
  gboolean too_large;
  gsize uri_bytes, header_bytes;
} Request;

static void
request_clear(Request *r)
{
  g_free(r->method);
  g_free(r->path);
  g_free(r->authorization);
  g_free(r->content_type);
  g_free(r->if_none_match);
  g_free(r->last_event_id);
  for (guint i = 0; i < r->n_query; i++) {
    g_free((char *)r->query[i].name);
    g_free((char *)r->query[i].value);
  }
  memset(r, 0, sizeof *r);
}

/* The next line of [*pos, end) without its LF (and CR). */
static gboolean
next_line(const char *buf, gsize end, gsize *pos, const char **line,
          gsize *len)
{
  if (*pos >= end)
    return FALSE;
  const char *start = buf + *pos;
  const char *nl = memchr(start, '\n', end - *pos);
  gsize n = nl ? (gsize)(nl - start) : end - *pos;
  *pos += n + (nl ? 1 : 0);
  if (n > 0 && start[n - 1] == '\r')
    n--;
  *line = start;
  *len = n;
  return TRUE;
}

static void
parse_request(const char *buf, gsize size, Request *r)
{
  gsize pos = 0, len = 0;
  const char *line;
  memset(r, 0, sizeof *r);
  if (!next_line(buf, size, &pos, &line, &len))
    return;
  const char *sp = memchr(line, ' ', len);
  gsize mlen = sp ? (gsize)(sp - line) : len;
  r->method = g_strndup(line, mlen);
  const char *target = sp ? sp + 1 : line + len;
  gsize tlen = sp ? len - mlen - 1 : 0;
  r->uri_bytes = tlen;
  const char *q = memchr(target, '?', tlen);
  gsize plen = q ? (gsize)(q - target) : tlen;
  r->path = url_decode(target, plen, FALSE);
  if (q) {
    const char *a = q + 1, *end = target + tlen;
    while (a <= end && r->n_query < FUZZ_MAX_QUERY) {
      const char *amp = memchr(a, '&', (gsize)(end - a));
      const char *aend = amp ? amp : end;
      const char *eq = memchr(a, '=', (gsize)(aend - a));
      if (aend > a) {
        RouteParam *p = &r->query[r->n_query++];
        p->name = url_decode(a, (gsize)((eq ? eq : aend) - a), TRUE);
        p->value = eq ? url_decode(eq + 1, (gsize)(aend - eq - 1), TRUE)
                      : NULL;
      }
      if (!amp)
        break;
      a = amp + 1;
    }
  }
  guint64 announced = 0;
  gboolean have_length = FALSE;
  while (next_line(buf, size, &pos, &line, &len) && len > 0) {
    r->header_bytes += len + 2; /* "Name: value\r\n" */
    const char *colon = memchr(line, ':', len);
    if (!colon)
      continue;
    gsize nlen = (gsize)(colon - line);
    const char *v = colon + 1;
    gsize vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
      v++;
      vlen--;
    }
    char *value = g_strndup(v, vlen); /* a NUL inside ends it, as in MHD */
    if (nlen == 13 && g_ascii_strncasecmp(line, "Authorization", 13) == 0) {
      g_free(r->authorization);
      r->authorization = value;
    } else if (nlen == 12 &&
               g_ascii_strncasecmp(line, "Content-Type", 12) == 0) {
      g_free(r->content_type);
      r->content_type = value;
    } else if (nlen == 13 &&
               g_ascii_strncasecmp(line, "If-None-Match", 13) == 0) {
      g_free(r->if_none_match);
      r->if_none_match = value;
    } else if (nlen == 13 &&
               g_ascii_strncasecmp(line, "Last-Event-ID", 13) == 0) {
      g_free(r->last_event_id);
      r->last_event_id = value;
    } else if (nlen == 14 &&
               g_ascii_strncasecmp(line, "Content-Length", 14) == 0) {
      have_length = g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64,
                                               &announced, NULL);
      g_free(value);
    } else {
      g_free(value);
    }
  }
  if (pos < size) {
    r->body = (const guint8 *)buf + pos;
    r->body_len = size - pos;
  }
  /* http.c: an announced length over the limit is refused before the body
   * is read; a body that grows past it is dropped. */
  if ((have_length && announced > FUZZ_MAX_BODY) ||
      r->body_len > FUZZ_MAX_BODY) {
    r->too_large = TRUE;
    r->body = NULL;
    r->body_len = 0;
  }
}

/* Is this secret distinctive enough to look for in the output: long, with
 * a character ordinary text rarely has, written in the URI and once in the
 * whole input (so no other field, a name or a key, carries it: a decoded
 * value such as "t0k!en!abc" of "t0k!en%21abc" may stand verbatim in an
 * unknown key that the error message rightly quotes), and no '*' or '='
 * (the redacted form "pwd=***" must not count as a leak of the value
 * "=***"). */
static gboolean
worth_checking(const char *s, const char *uri, const char *all,
               gsize all_len)
{
  const char *first;
  if (strlen(s) < FUZZ_SECRET_MIN || !strpbrk(s, "!$&'(),;~") ||
      strpbrk(s, "\"\\*=") || !g_utf8_validate(s, -1, NULL) ||
      !strstr(uri, s))
    return FALSE;
  first = g_strstr_len(all, (gssize)all_len, s);
  return first && !g_strstr_len(first + 1,
                                (gssize)(all + all_len - first - 1), s);
}

/* The secrets of a POSTed stream URI worth checking for leaks (added to
 * secrets): its password and the values of its secret-named parameters
 * (stream_config_uri_secrets), as written and decoded. */
static void
secrets_of(const Request *r, const char *all, gsize all_len,
           GPtrArray *secrets)
{
  if (!r->body || g_strcmp0(r->method, "POST") != 0)
    return;
  json_t *o = json_loadb((const char *)r->body, r->body_len, 0, NULL);
  const char *uri = json_string_value(json_object_get(o, "uri"));
  char **found = stream_config_uri_secrets(uri);
  for (int i = 0; found[i]; i++)
    if (worth_checking(found[i], uri, all, all_len))
      g_ptr_array_add(secrets, g_strdup(found[i]));
  g_strfreev(found);
  json_decref(o);
}

static void
check_no_secret(const Request *req, const char *text, gsize len,
                GPtrArray *secrets, const char *where)
{
  for (guint i = 0; text && i < secrets->len; i++) {
    const char *secret = g_ptr_array_index(secrets, i);
    FUZZ_CHECK(!g_strstr_len(text, (gssize)len, secret),
               "%s %s: %s shows a stream's secret", req->method,
               req->path, where);
  }
}

static void
check_response(const Request *req, RouteResponse *resp, GPtrArray *secrets)
{
  guint st = resp->status;
  for (guint h = 0; h < resp->n_headers; h++)
    check_no_secret(req, resp->headers[h].value,
                    strlen(resp->headers[h].value), secrets,
                    resp->headers[h].name);
  if (resp->work) {
    /* Slow work: nothing else is set (routes.h). */
    FUZZ_CHECK(st == 0 && !resp->body && !resp->events,
               "work with status %u", st);
    return;
  }
  FUZZ_CHECK(st >= 200 && st <= 599, "status %u", st);
  if (resp->events) {
    FUZZ_CHECK(st == 200 && g_strcmp0(resp->content_type,
                                      "text/event-stream") == 0,
               "event stream with status %u", st);
    char *buf = g_malloc(FUZZ_EVENT_READ_MAX);
    gsize have = 0;
    gssize n;
    while (have < FUZZ_EVENT_READ_MAX &&
           (n = event_client_read(resp->events, buf + have,
                                  FUZZ_EVENT_READ_MAX - have)) > 0)
      have += (gsize)n;
    check_no_secret(req, buf, have, secrets, "an event");
    g_free(buf);
    return;
  }
  if (st == 204 || st == 304) {
    FUZZ_CHECK(resp->body == NULL && resp->body_len == 0, "%u with a body",
               st);
  } else {
    FUZZ_CHECK(resp->body && resp->content_type, "status %u without a body",
               st);
    gboolean json = g_strcmp0(resp->content_type, "application/json") == 0;
    FUZZ_CHECK(json || st < 400, "error %u is %s, not JSON", st,
               resp->content_type);
    if (json) {
      json_error_t jerr;
      json_t *j = json_loadb(resp->body, resp->body_len, 0, &jerr);
      FUZZ_CHECK(json_is_object(j), "status %u: body is not a JSON object: "
                 "%s", st, jerr.text);
      if (st >= 400) {
        json_t *e = json_object_get(j, "error");
        FUZZ_CHECK(json_is_string(json_object_get(e, "code")) &&
                       json_is_string(json_object_get(e, "message")),
                   "status %u: error without code and message", st);
      }
      json_decref(j);
    }
    check_no_secret(req, resp->body, resp->body_len, secrets, "the body");
  }
  if (st == 201)
    FUZZ_CHECK(route_response_header(resp, "Location"), "201 w/o Location");
  if (st == 405)
    FUZZ_CHECK(route_response_header(resp, "Allow"), "405 without Allow");
  if (st == 401)
    FUZZ_CHECK(route_response_header(resp, "WWW-Authenticate"),
               "401 without WWW-Authenticate");
}

/* Back to an empty registry: remove every stream, then run what their
 * additions queued on the context (nothing starts: they are removed). */
static void
reset_registry(void)
{
  GPtrArray *list = registry_list(g.registry);
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    FUZZ_CHECK(registry_remove(g.registry, info->id, NULL),
               "remove %s", info->id);
  }
  g_ptr_array_unref(list);
  while (g_main_context_iteration(g.ctx, FALSE))
    ;
  FUZZ_CHECK(registry_count(g.registry) == 0, "streams left");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *all = (const char *)data;
  GPtrArray *secrets = g_ptr_array_new_with_free_func(g_free);
  gsize start = 0;
  for (int n = 0; n < FUZZ_MAX_REQUESTS && start <= size; n++) {
    /* This request ends at the next "\n%%\n" (or the end). */
    gsize end = size;
    for (gsize i = start; i + 4 <= size; i++) {
      if (memcmp(all + i, "\n%%\n", 4) == 0) {
        end = i + 1;
        break;
      }
    }
    Request req;
    parse_request(all + start, end - start, &req);
    if (req.method) {
      secrets_of(&req, all, size, secrets);
      RouteRequest rr = {
        .method = req.method,
        .path = req.path,
        .query = req.query,
        .n_query = req.n_query,
        .authorization = req.authorization,
        .content_type = req.content_type,
        .if_none_match = req.if_none_match,
        .last_event_id = req.last_event_id,
        .body = req.body,
        .body_len = req.body_len,
        .body_too_large = req.too_large,
        .uri_bytes = req.uri_bytes,
        .header_bytes = req.header_bytes,
      };
      Routes *routes = req.authorization ? g.auth : g.open;
      /* http.c asks routes_admit() before reading a body: its refusal must
       * be the answer routes_handle() gives, and a request it admits must
       * not be refused later for the token or the method. */
      RouteResponse pre = { 0 };
      gboolean admitted = routes_admit(routes, &rr, &pre);
      RouteResponse resp = { 0 };
      routes_handle(routes, &rr, &resp);
      if (!admitted)
        FUZZ_CHECK(resp.status == pre.status && !resp.work,
                   "admit refused with %u, handle answered %u", pre.status,
                   resp.status);
      else
        FUZZ_CHECK(resp.status != 401 && resp.status != 405,
                   "admitted, then answered %u", resp.status);
      route_response_clear(&pre);
      check_response(&req, &resp, secrets);
      route_response_clear(&resp);
    }
    request_clear(&req);
    if (end >= size)
      break;
    start = end + 3; /* past "%%\n" */
  }
  g_ptr_array_unref(secrets);
  reset_registry();
  return 0;
}
