#include "static-files.h"

#include <stdlib.h>
#include <string.h>

/* The page loads nothing but its own files and talks to this origin only;
 * images are this origin's snapshots, fetched with the token and shown
 * through blob: URLs. */
#define STATIC_CSP                                                          \
  "default-src 'none'; script-src 'self'; style-src 'self'; "               \
  "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "       \
  "form-action 'self'; frame-ancestors 'none'"
/* Revalidate on every use: a 304 costs one small round trip, and a new
 * binary's files show up at once without versioned names. */
#define STATIC_CACHE_CONTROL "no-cache"
#define STATIC_PREFIX "/static/"

static int
compare_name(const void *key, const void *elem)
{
  return strcmp(key, ((const StaticFile *)elem)->name);
}

const StaticFile *
static_files_find(const char *name)
{
  if (!name)
    return NULL;
  return bsearch(name, static_files, static_files_count, sizeof *static_files,
                 compare_name);
}

gboolean
static_files_etag_match(const char *value, const char *etag)
{
  if (!value)
    return FALSE;
  /* The opaque part of etag: between its quotes. */
  gsize etag_len = strlen(etag);
  const char *p = value;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (*p == '\0')
      return FALSE;
    if (*p == '*')
      return TRUE;
    if (p[0] == 'W' && p[1] == '/')
      p += 2;
    if (*p != '"')
      return FALSE; /* malformed: matches nothing */
    const char *end = strchr(p + 1, '"');
    if (!end)
      return FALSE;
    gsize n = (gsize)(end - p) + 1; /* with both quotes */
    if (n == etag_len && memcmp(p, etag, n) == 0)
      return TRUE;
    p = end + 1;
  }
}

static void
add_header(RouteResponse *resp, const char *name, const char *value)
{
  g_assert(resp->n_headers < ROUTE_MAX_HEADERS);
  resp->headers[resp->n_headers].name = name;
  resp->headers[resp->n_headers].value = g_strdup(value);
  resp->n_headers++;
}

static void
respond_not_found(RouteResponse *resp)
{
  static const char body[] =
      "{\"error\":{\"code\":\"not_found\",\"message\":\"no such file\"}}";
  resp->body = malloc(sizeof body - 1);
  if (resp->body) {
    memcpy(resp->body, body, sizeof body - 1);
    resp->body_len = sizeof body - 1;
    resp->content_type = "application/json";
  }
  resp->status = 404;
  add_header(resp, "Cache-Control", "no-store");
}

/* The file a request path names, or NULL. */
static const StaticFile *
file_for_path(const char *path)
{
  if (!path)
    return NULL;
  if (strcmp(path, "/") == 0)
    return static_files_find("index.html");
  if (strncmp(path, STATIC_PREFIX, strlen(STATIC_PREFIX)) != 0)
    return NULL;
  const char *name = path + strlen(STATIC_PREFIX);
  /* One segment: nested names are not served (the route has one '*'). */
  if (*name == '\0' || strchr(name, '/'))
    return NULL;
  return static_files_find(name);
}

void
static_files_route(Routes *r, const RouteRequest *req, const char *id,
                   RouteResponse *resp)
{
  const StaticFile *f = file_for_path(req->path);
  if (!f) {
    respond_not_found(resp);
    return;
  }
  add_header(resp, "ETag", f->etag);
  add_header(resp, "Cache-Control", STATIC_CACHE_CONTROL);
  if (static_files_etag_match(req->if_none_match, f->etag)) {
    resp->status = 304;
    return;
  }
  add_header(resp, "X-Content-Type-Options", "nosniff");
  if (g_str_has_prefix(f->content_type, "text/html"))
    add_header(resp, "Content-Security-Policy", STATIC_CSP);
  /* http.c hands the body to libmicrohttpd, which free()s it: a copy (the
   * files are a few kB). */
  if (f->len > 0) {
    resp->body = malloc(f->len);
    if (!resp->body) {
      route_response_clear(resp);
      resp->status = 500;
      return;
    }
    memcpy(resp->body, f->data, f->len);
    resp->body_len = f->len;
  }
  resp->content_type = f->content_type;
  resp->status = 200;
}
