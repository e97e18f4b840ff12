/* streamsight — the HTTP API as pure functions: a request struct in, a status,
 * headers and a body out. No sockets here (http.c is the libmicrohttpd glue),
 * so every route and every error path is testable directly.
 *
 * Routes (v1; server/openapi.json documents each, and a test keeps the two
 * in step):
 *   GET    /healthz                                  liveness (no token)
 *   GET    /readyz                                   readiness (no token):
 *                                                    200 when the model is
 *                                                    loaded, whatever the
 *                                                    cameras do; lists each
 *                                                    stream's state
 *   GET    /metrics                                  Prometheus text 0.0.4
 *   GET    /api/v1/openapi.json                      this API, OpenAPI 3
 *   GET    /api/v1/model
 *   GET    /api/v1/stats
 *   GET    /api/v1/streams                           list
 *   POST   /api/v1/streams                           create -> 201 + Location
 *   GET    /api/v1/streams/{id}
 *   PATCH  /api/v1/streams/{id}                      max_fps, top_k, enabled
 *   DELETE /api/v1/streams/{id}                      -> 204
 *   GET    /api/v1/streams/{id}/predictions/latest   200, "prediction": null
 *                                                    before the first one
 *   GET    /api/v1/streams/{id}/predictions          ?limit=N (1..10000,
 *                                                    default 10), ?since=
 *                                                    (monotonic ns or
 *                                                    ISO-8601), ?after_seq=
 *   GET    /api/v1/streams/{id}/events               Server-Sent Events
 *   GET    /api/v1/events                            SSE, every stream
 *   GET    /api/v1/streams/{id}/snapshot.jpg         ?width=N
 *   POST   /api/v1/classify                          JPEG/PNG body or
 *                                                    multipart; ?top_k=
 *   GET    /api/v1/alerts                            ?stream= ?class=
 *                                                    ?since= ?until=
 *                                                    ?limit= (routes-alerts.c)
 *   GET    /api/v1/alerts/{id}/snapshot.jpg          the best frame
 *   /api/v1/heads...                                 custom classifiers
 *                                                    (routes-heads.c)
 *   GET    /  and  /static/NAME                      the dashboard
 *                                                    (static-files.h; no
 *                                                    token needed)
 * HEAD works wherever GET does. Unknown paths are 404, known paths with
 * another method 405 with Allow. Errors are always
 * {"error": {"code": "...", "message": "..."}}; codes: invalid_json,
 * invalid_argument, invalid_image, unauthorized, not_found,
 * method_not_allowed, conflict, wrong_shard, limit_reached, payload_too_large,
 * uri_too_long, header_too_large, unsupported_media_type, not_ready,
 * unavailable, busy, internal. With a token configured every route but
 * /healthz, /readyz and the dashboard needs "Authorization: Bearer <token>" (401
 * otherwise; compared in constant time); the event streams and the snapshot
 * also accept ?access_token=<token>, because EventSource and <img> cannot
 * send headers. Camera credentials never appear in a response: stream URIs
 * are shown redacted.
 *
 * Threads: routes_handle() may run on any number of threads at once. Routes
 * is immutable after routes_new() but for atomic counters and the objects it
 * owns (each locked); handlers only call the registry's and the results'
 * copy functions and the pool's snapshot getters, and build JSON after those
 * return. Slow work (JPEG encoding, image classification) is not done in
 * routes_handle(): it returns a RouteWork that http.c runs on its image-job
 * threads (route_work_run()).
 */
#ifndef SS_ROUTES_H
#define SS_ROUTES_H

#include <glib.h>

#include "alerts.h"
#include "config.h"
#include "engine.h"
#include "events.h"
#include "head-store.h"
#include "limit-log.h"
#include "mqtt.h"
#include "pool.h"
#include "registry.h"
#include "shard.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  const char *value;
} RouteParam;

/* Everything is borrowed for the duration of routes_handle(); the body
 * also until a RouteWork returned for the request has run (http.c keeps it
 * until the request completes). */
typedef struct {
  const char *method;        /* "GET", "POST", ... */
  const char *path;          /* decoded, without the query string */
  const RouteParam *query;   /* decoded query arguments */
  guint n_query;
  const char *authorization; /* the Authorization header, or NULL */
  const char *content_type;  /* or NULL */
  const char *if_none_match; /* the If-None-Match header, or NULL */
  const char *last_event_id; /* the Last-Event-ID header, or NULL */
  const char *origin;        /* the Origin header, or NULL */
  const guint8 *body;        /* NULL when there is none */
  gsize body_len;
  /* The body exceeded the limit and was discarded (http.c): answered 413
   * by the routes that take a body. */
  gboolean body_too_large;
  /* Sizes as received, checked against the limits (0: not known). */
  gsize uri_bytes;           /* the request target, query included */
  gsize header_bytes;        /* every header line, "Name: value\r\n" */
} RouteRequest;

#define ROUTE_MAX_HEADERS 12

typedef struct {
  const char *name; /* static */
  char *value;      /* owned */
} RouteHeader;

typedef struct RouteWork RouteWork;

typedef struct {
  guint status;
  const char *content_type; /* static; NULL when there is no body */
  char *body;               /* malloc'd: free() (MHD's free callback) */
  gsize body_len;
  RouteHeader headers[ROUTE_MAX_HEADERS];
  guint n_headers;
  /* An event stream (owned): status, content type and headers are set;
   * the body is read from the client as events arrive. Close it with
   * event_client_close() when the connection ends. */
  EventClient *events;
  /* Slow work (owned) to run off the HTTP thread: status is 0 and nothing
   * else is set; route_work_run() produces the answer. */
  RouteWork *work;
} RouteResponse;

/* Frees the body and header values, closes the event client and frees the
 * work, and zeroes resp. */
void route_response_clear(RouteResponse *resp);
/* The value of a response header (borrowed) or NULL; for tests and http.c. */
const char *route_response_header(const RouteResponse *resp,
                                  const char *name);
/* For handlers in other modules (static-files.c): adds a header (value
 * copied; at most ROUTE_MAX_HEADERS), sets a JSON error body. */
void route_response_add_header(RouteResponse *resp, const char *name,
                               const char *value);
void route_response_error(RouteResponse *resp, guint status, const char *code,
                          const char *fmt, ...) G_GNUC_PRINTF(4, 5);

typedef struct {
  Registry *registry;             /* borrowed, must outlive the Routes */
  const struct ss_engine *engine; /* borrowed: model, classify */
  const ModelSet *models;         /* borrowed: GET /api/v1/models, embed
                                   * ?model=; NULL: engine is the one
                                   * model, "default" (tests) */
  struct ss_pool *pool;           /* borrowed: stats */
  ConfigStore *store;             /* borrowed; NULL: streams not persisted */
  EventHub *events;               /* borrowed; NULL: event routes answer 503 */
  MqttPublisher *mqtt;            /* borrowed; NULL: no MQTT (stats null) */
  AlertHub *alerts;               /* borrowed; NULL: alert routes 503 */
  const Shard *shard;             /* borrowed; NULL: not sharded */
  const char *auth_token;         /* copied (hashed); NULL: no auth */
  guint64 max_body_bytes;         /* reported in 413 messages */
  guint64 max_uri_bytes;          /* 0: unchecked (414 above) */
  guint64 max_header_bytes;       /* 0: unchecked (431 above) */
  guint classifiers;              /* classify concurrency; 0 = 1 */
  guint64 decode_memory_bytes;    /* classify's decode budget; 0: default */
  HeadStore *heads;               /* borrowed; NULL: no heads (503) */
  /* Origins whose pages may call the API (http.cors_origins; copied):
   * answers to them carry Access-Control-Allow-Origin, and their
   * preflight OPTIONS needs no token. NULL: no CORS headers at all. */
  const char *const *cors_origins;
} RoutesConfig;

typedef struct Routes Routes;

Routes *routes_new(const RoutesConfig *cfg);
void routes_free(Routes *r); /* NULL is allowed */

/* Handles one request. resp must be zeroed (or cleared) by the caller; on
 * return it holds the answer: a status (a JSON body unless 204/304 or an
 * event stream), or work to run. */
void routes_handle(Routes *r, const RouteRequest *req, RouteResponse *resp);

/* Decides what can be decided before the body is read (req->body is
 * ignored): the size limits, the token, the route and the method. TRUE
 * when the request goes on to its handler (read the body, then call
 * routes_handle(), which checks the same again); FALSE when resp holds the
 * answer (413/414/431, 401, 404, 405, or 204 for OPTIONS; counted), to be
 * sent without reading the body. Any thread. */
gboolean routes_admit(Routes *r, const RouteRequest *req, RouteResponse *resp);

/* Runs work returned by routes_handle() (any thread; it may take a while:
 * an image decode and inference, or a JPEG encode bounded by
 * SNAPSHOT_TIMEOUT_MS) and frees it; resp (zeroed) receives the answer. */
void route_work_run(RouteWork *w, RouteResponse *resp);
/* Frees work that will not run (the server is busy or stopping). */
void route_work_free(RouteWork *w);

/* Number of requests answered, by class (2xx, 4xx, 5xx), for stats. */
void routes_counts(Routes *r, guint64 *ok, guint64 *client_errors,
                   guint64 *server_errors);
/* Counts an answer http.c gave without the routes (503 busy for image
 * jobs), so that the counts above cover every answer. */
void routes_count_answer(Routes *r, guint status);
/* The limits' counters (borrowed, lives as long as r), shared with http.c
 * for the limits it enforces itself. */
LimitLog *routes_limit_log(Routes *r);

/* What http.c reports in /api/v1/stats and /metrics. */
typedef struct {
  guint work_threads;       /* image-job threads */
  guint work_queued;        /* jobs waiting now */
  guint work_queue_max;     /* 503 busy above */
  guint64 work_done;
  guint64 protocol_errors;  /* answered by libmicrohttpd itself */
} RouteHttpStats;
typedef void (*RouteHttpStatsFunc)(gpointer user, RouteHttpStats *out);
/* http.c registers its stats; fn NULL unregisters them if user is the one
 * registered. Any thread. */
void routes_set_http_stats(Routes *r, RouteHttpStatsFunc fn, gpointer user);

/* The route table, for tests (the OpenAPI document must list each route)
 * and the documentation: pattern segments "*" stand for a parameter. */
guint routes_table_size(void);
void routes_table_entry(guint i, const char **method, const char **pattern,
                        gboolean *public);

/* The OpenAPI document compiled in (server/openapi.json), NUL-terminated. */
const char *routes_openapi_json(gsize *len);

G_END_DECLS

#endif
