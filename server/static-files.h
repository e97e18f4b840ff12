/* streamsight — the web dashboard's files (web/), compiled into the binary.
 *
 * scripts/embed-files.py turns every file listed in server/meson.build
 * (web_files) into static-files-data.c at build time: a table sorted by name
 * holding each file's bytes, content type (from the extension) and a strong
 * ETag (the first 16 hex digits of the content's SHA-256). Nothing is read
 * from disk at run time, so the binary is the whole server.
 *
 * Routes (registered in routes.c, answered without a token: the files are the
 * same for everyone and hold no data; the API they call needs the token):
 *   GET /              index.html
 *   GET /static/NAME   the file NAME of web/ (one path segment)
 * with ETag, "Cache-Control: no-cache" (the browser revalidates every time and
 * gets 304 when nothing changed), "X-Content-Type-Options: nosniff", and on
 * HTML a Content-Security-Policy allowing this origin only. If-None-Match with
 * a matching tag (weak comparison, lists, "*") answers 304 without a body;
 * any other name 404. Names are looked up as exact strings in the compiled
 * table, so no path ("..", "%2e%2e/", "//x") can reach anything else.
 *
 * Threads: everything here is immutable; any thread may call any function.
 */
#ifndef SS_STATIC_FILES_H
#define SS_STATIC_FILES_H

#include <glib.h>
#include <stddef.h>

#include "routes.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;          /* path under web/: "index.html", "app.js" */
  const char *content_type;  /* "text/javascript; charset=utf-8" */
  const unsigned char *data; /* len bytes, followed by one NUL */
  size_t len;
  const char *etag;          /* quoted: "\"0123456789abcdef\"" */
} StaticFile;

/* The generated table (static-files-data.c), sorted by name. */
extern const StaticFile static_files[];
extern const size_t static_files_count;

/* The file called name ("app.js"), or NULL. Static lifetime. */
const StaticFile *static_files_find(const char *name);

/* TRUE when an If-None-Match value names etag: "*", or a list of entity
 * tags one of which equals etag by the weak comparison (a "W/" prefix is
 * ignored). A malformed value matches nothing. */
gboolean static_files_etag_match(const char *if_none_match, const char *etag);

/* The route handler for GET/HEAD "/" and "/static/NAME" (a RouteHandler:
 * r and id are unused, the name comes from req->path). */
void static_files_route(Routes *r, const RouteRequest *req, const char *id,
                        RouteResponse *resp);

G_END_DECLS

#endif
