/* streamsight — the HTTP API as pure functions: a request struct in, a status,
 * headers and a body out. No sockets here (http.c is the libmicrohttpd glue),
 * so every route and every error path is testable directly.
 *
 * Routes (v1):
 *   GET    /healthz                                  (no token needed)
 *   GET    /api/v1/streams                           list
 *   POST   /api/v1/streams                           create -> 201 + Location
 *   GET    /api/v1/streams/{id}
 *   DELETE /api/v1/streams/{id}                      -> 204
 *   GET    /api/v1/streams/{id}/predictions/latest   200, "prediction": null
 *                                                    before the first one
 *   GET    /api/v1/streams/{id}/predictions?limit=N  N in 1..10000, default 10
 *   GET    /api/v1/stats
 *   GET    /  and  /static/NAME                  the dashboard (static-files.h;
 *                                                    no token needed)
 * HEAD works wherever GET does. Unknown paths are 404, known paths with
 * another method 405 with Allow. Errors are always
 * {"error": {"code": "...", "message": "..."}}; codes: invalid_json,
 * invalid_argument, unauthorized, not_found, method_not_allowed, conflict,
 * limit_reached, payload_too_large, internal. With a token configured every
 * route but /healthz needs "Authorization: Bearer <token>" (401 otherwise;
 * compared in constant time). Camera credentials never appear in a response:
 * stream URIs are shown redacted.
 *
 * Threads: routes_handle() may run on any number of threads at once. Routes
 * is immutable after routes_new(); handlers only call the registry's and the
 * results' copy functions and the pool's snapshot getters, and build JSON
 * after those return.
 */
#ifndef SS_ROUTES_H
#define SS_ROUTES_H

#include <glib.h>

#include "config.h"
#include "engine.h"
#include "pool.h"
#include "registry.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  const char *value;
} RouteParam;

/* Everything is borrowed for the duration of routes_handle(). */
typedef struct {
  const char *method;        /* "GET", "POST", ... */
  const char *path;          /* decoded, without the query string */
  const RouteParam *query;   /* decoded query arguments */
  guint n_query;
  const char *authorization; /* the Authorization header, or NULL */
  const char *content_type;  /* or NULL */
  const char *if_none_match; /* the If-None-Match header, or NULL */
  const guint8 *body;        /* NULL when there is none */
  gsize body_len;
  /* The body exceeded the limit and was discarded (http.c): answered 413
   * by the routes that take a body. */
  gboolean body_too_large;
} RouteRequest;

#define ROUTE_MAX_HEADERS 4

typedef struct {
  const char *name; /* static */
  char *value;      /* owned */
} RouteHeader;

typedef struct {
  guint status;
  const char *content_type; /* static; NULL when there is no body */
  char *body;               /* malloc'd: free() (MHD's free callback) */
  gsize body_len;
  RouteHeader headers[ROUTE_MAX_HEADERS];
  guint n_headers;
} RouteResponse;

/* Frees the body and header values and zeroes resp. */
void route_response_clear(RouteResponse *resp);
/* The value of a response header (borrowed) or NULL; for tests and http.c. */
const char *route_response_header(const RouteResponse *resp,
                                  const char *name);

typedef struct {
  Registry *registry;             /* borrowed, must outlive the Routes */
  const struct ss_engine *engine; /* borrowed: model name, input size */
  struct ss_pool *pool;           /* borrowed: stats */
  ConfigStore *store;             /* borrowed; NULL: streams not persisted */
  const char *auth_token;         /* copied (hashed); NULL: no auth */
  guint64 max_body_bytes;         /* reported in 413 messages */
} RoutesConfig;

typedef struct Routes Routes;

Routes *routes_new(const RoutesConfig *cfg);
void routes_free(Routes *r); /* NULL is allowed */

/* Handles one request. resp must be zeroed (or cleared) by the caller; on
 * return it holds the answer (always a status; a JSON body unless 204). */
void routes_handle(Routes *r, const RouteRequest *req, RouteResponse *resp);

/* Number of requests answered, by class (2xx, 4xx, 5xx), for stats. */
void routes_counts(Routes *r, guint64 *ok, guint64 *client_errors,
                   guint64 *server_errors);

G_END_DECLS

#endif
