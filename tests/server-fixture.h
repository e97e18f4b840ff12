/* streamsight — what test-routes and the test-http suites share: a real
 * server stack (tiny built model with random weights, engine, pool,
 * registry on its own main context run by a thread, config store, routes)
 * without sockets. */
#ifndef SS_SERVER_FIXTURE_H
#define SS_SERVER_FIXTURE_H

#include <glib.h>
#include <jansson.h>

#include "alerts.h"
#include "config.h"
#include "engine.h"
#include "events.h"
#include "head-store.h"
#include "pool.h"
#include "registry.h"
#include "routes.h"

typedef struct {
  struct ss_model *model;
  struct ss_engine *engine;
  struct ss_pool *pool;
  GMainContext *ctx;
  GMainLoop *loop;
  GThread *loop_thread;
  Registry *registry;
  char *config_path; /* in a fresh temporary directory */
  ConfigStore *store;
  EventHub *events;
  AlertHub *alerts;  /* NULL unless ServerFixtureOptions.alerts */
  HeadStore *heads;  /* in "heads/" beside config_path */
  Routes *routes;
  const char *token; /* borrowed from the options */
  guint64 max_body_bytes, max_uri_bytes, max_header_bytes;
  ModelSet *models; /* with second_model: "default" (the model above, its
                     * engine and pool) and "small" */
} ServerFixture;

typedef struct {
  int threads;              /* inference workers */
  guint max_streams;
  const char *token;        /* NULL: no auth */
  guint64 max_body_bytes;
  guint64 max_uri_bytes;    /* 0: unchecked */
  guint64 max_header_bytes; /* 0: unchecked */
  /* The event hub; max_sse_clients 0 = no hub (event routes answer 503). */
  guint max_sse_clients;
  guint sse_queue_len;      /* 0: default */
  guint sse_heartbeat_ms;   /* 0: default */
  guint sse_poll_ms;        /* 0: default */
  gboolean real_model;      /* the real MobileNetV2 1.0/224 from
                             * STREAMSIGHT_TEST_DATA (with labels); the
                             * caller checks that it exists */
  gboolean second_model;    /* a model set of two: "default" as above
                             * and "small", MobileNetV1 0.25/64 (random
                             * weights, 1001 outputs), each with its pool */
  const char *const *media_dirs; /* confine file:// and v4l2 sources to
                                  * these (media-dirs.h); NULL: not
                                  * confined */
  gboolean alerts;          /* an alerts hub persisted in alerts/ beside
                             * the config file, wired as in serve.c */
  guint alerts_history;     /* 0: default */
} ServerFixtureOptions;

/* Builds MobileNetV2 0.35/96 (1001 outputs, random weights from a fixed
 * seed), an engine, a pool of `threads` workers, a registry of at most
 * max_streams streams whose main context runs on a thread, a config store
 * (no file yet) wired to the registry, and routes with token (NULL: no
 * auth). Calls gst_init and registers the sink. */
void server_fixture_init(ServerFixture *f, int threads, guint max_streams,
                         const char *token, guint64 max_body_bytes);
/* The same with every option; the hub (when enabled) follows the registry
 * through the registry's stream watch, as in serve.c. */
void server_fixture_init_opts(ServerFixture *f, const ServerFixtureOptions *o);
/* A restart of what persists beside the config: the routes and the head
 * store are freed and made again, the heads reloaded from their files. */
void server_fixture_restart_heads(ServerFixture *f);
/* Tears down in the server's order: routes, registry (loop stopped first),
 * pool, engine, model, store. */
void server_fixture_clear(ServerFixture *f);

/* Runs one request through the routes; returns the status. Work the
 * routes defer (snapshot, classify) is run at once, as http.c's job threads
 * would. *json_out (if not NULL) gets the parsed body (NULL for an empty or
 * non-JSON body). resp_out (if not NULL) receives the raw response (caller
 * clears it). */
guint fixture_request(ServerFixture *f, const char *method, const char *path,
                      const char *query_name, const char *query_value,
                      const char *body, const char *authorization,
                      json_t **json_out, RouteResponse *resp_out);

/* Polls GET .../predictions/latest until a prediction is there or timeout_s
 * passes; returns it (new reference) or NULL. */
/* The same with a full request (body length, content type, query). */
guint fixture_request_full(ServerFixture *f, const RouteRequest *req,
                           json_t **json_out, RouteResponse *resp_out);

json_t *fixture_wait_prediction(ServerFixture *f, const char *id,
                                double timeout_s, const char *authorization);

/* An encoded test image (caps e.g. "image/png"): a colour gradient of
 * w x h made with GStreamer's encoders. Returns a new buffer (g_free) of
 * *len bytes. */
guint8 *fixture_make_image(const char *caps_str, int w, int h, gsize *len);

/* Checks a snapshot (the JPEG in resp) of a black test: stream whose
 * region is 0.25,0.25,0.5,0.5 drawn outlined: amber on the region's left
 * edge, black inside and outside it, within JPEG's error. Prints the three
 * pixels after what. */
void fixture_check_roi_outline(const RouteResponse *resp, const char *what);

/* A path that a pattern of the route table (routes_table_entry) matches:
 * each "*" segment made "x". New string. */
char *fixture_route_path(const char *pattern);

#endif
