/* streamsight — what routes.c shares with the handler files beside it
 * (routes-streams.c, routes-images.c, routes-stats.c, routes-models.c,
 * routes-alerts.c).
 * Not for other
 * modules: they use routes.h.
 *
 * routes.c holds the route table, matching, authentication, the size
 * checks and the response helpers; each routes-*.c holds the handlers of
 * one part of the API and is listed in the table by its routes_h_*
 * functions.
 */
#ifndef SS_ROUTES_INTERNAL_H
#define SS_ROUTES_INTERNAL_H

#include <jansson.h>

#include "classify-pool.h"
#include "head-store.h"
#include "model.h"
#include "pred-cache.h"
#include "process-sample.h"
#include "roi.h"
#include "routes.h"
#include "snapshot.h"

G_BEGIN_DECLS

/* Longest path segment taken as a stream id (ids are at most 64 bytes; a
 * longer segment cannot name a stream). */
#define ROUTES_ID_MAX STREAM_ID_MAX
#define SHA256_LEN 32
/* Longest If-None-Match value a snapshot compares (a few ETags). */
#define ROUTES_IF_NONE_MATCH_MAX 255
/* Retry-After (s) on 503 answers: a frame arrives, a client leaves, a job
 * finishes within seconds. */
#define ROUTES_RETRY_FRAME_S "1"
#define ROUTES_RETRY_SSE_S "5"
/* Retry-After of a classify refused because the decode budget is full. */
#define ROUTES_RETRY_DECODE_S "2"

struct Routes {
  /* Immutable after routes_new(). */
  Registry *registry;
  const struct ss_engine *engine;
  struct ss_pool *pool;
  ConfigStore *store;
  EventHub *events;
  MqttPublisher *mqtt;
  AlertHub *alerts;   /* NULL: alert routes answer 503 */
  const Shard *shard; /* NULL: not sharded */
  gboolean auth;
  guint8 token_sha256[SHA256_LEN];
  char **cors_origins; /* owned, NULL-terminated; NULL: no CORS */
  guint64 max_body_bytes, max_uri_bytes, max_header_bytes;
  gint64 start_mono_us;
  gint64 start_wall_us;
  /* Owned, each thread-safe. */
  LimitLog *limits;
  Snapshots *snapshots;
  ClassifyPool *classify;
  const ModelSet *models;   /* borrowed; NULL: the one model of engine */
  ClassifyPool **model_classify; /* per model of models (0 is classify),
                                  * sharing its decode budget; NULL
                                  * without models */
  ProcessSampler *proc;
  PredCache *pred_cache;
  HeadStore *heads; /* borrowed; NULL: the head routes answer 503 */
  /* Protected by http_lock. */
  GMutex http_lock;
  RouteHttpStatsFunc http_stats;
  gpointer http_stats_user;
  /* Atomic. */
  guint64 n_ok, n_client_errors, n_server_errors;
  gint64 last_encode_warn_us;
};

/* Deferred work: a snapshot, a classification or an embedding, run by
 * route_work_run() off the HTTP thread. */
typedef void (*RouteWorkFunc)(RouteWork *w, RouteResponse *resp);
/* An uploaded image and its ?roi= (routes_upload_read). */
typedef struct {
  const guint8 *data; /* the image: points into the request body */
  gsize len;
  gboolean has_roi; /* ?roi= given */
  StreamRoi roi;    /* STREAM_ROI_FULL without it */
} RouteUpload;

struct RouteWork {
  RouteWorkFunc run;
  Routes *r;
  char id[ROUTES_ID_MAX + 1]; /* snapshot: the stream */
  guint max_width;            /* snapshot: ?width= */
  /* snapshot: the If-None-Match header ("" when absent or longer). */
  char if_none_match[ROUTES_IF_NONE_MATCH_MAX + 1];
  gboolean draw_roi;          /* snapshot: ?roi=1 */
  int top_k;                  /* classify */
  RouteUpload upload;         /* classify, embed, head examples */
  guint model_index;          /* embed: the model (models order) */
  gint64 created_us;
  /* The request's Origin when it is one of cors_origins ("" otherwise):
   * the deferred answer gets the CORS headers too. */
  char cors_origin[CONFIG_CORS_ORIGIN_MAX + 1];
  /* heads (routes-heads.c): id is the head */
  char head_class[ROUTES_ID_MAX + 1];
  char stream[ROUTES_ID_MAX + 1]; /* an example from this stream's frame */
};

/* A handler: id is the path's '*' segment ("" when the route has none). */
typedef void (*RouteHandler)(Routes *r, const RouteRequest *req,
                             const char *id, RouteResponse *resp);

/* ---- responses (routes.c) ---- */

#define resp_header route_response_add_header
#define resp_error route_response_error

/* Sets a JSON body (v is stolen) with Cache-Control: no-store. */
void routes_resp_json(RouteResponse *resp, guint status, json_t *v);
/* A status without a body. */
void routes_resp_empty(RouteResponse *resp, guint status);
/* Hands a malloc'd buffer over as the body. */
void routes_resp_bytes(RouteResponse *resp, guint status,
                       const char *content_type, guint8 *data, gsize len);
/* 404 for a stream id (on a sharded replica naming the owning shard). */
void routes_resp_stream_not_found(Routes *r, RouteResponse *resp,
                                  const char *id);
/* 413 for a discarded body, counted once per request. */
void routes_resp_too_large(Routes *r, RouteResponse *resp);

/* ---- requests (routes.c) ---- */

/* The value of query parameter name ("" when it has none), or NULL. */
const char *routes_query_get(const RouteRequest *req, const char *name);
/* An ISO-8601 time with a zone (?since=, ?until=), as microseconds since
 * the epoch; FALSE for anything else, or a time not after the epoch. */
gboolean routes_parse_iso8601_us(const char *s, gint64 *us);
/* Parses a JSON object body, answering 413/400 itself when it cannot
 * (NULL then); expected names the wanted members for the message. */
json_t *routes_body_object(Routes *r, const RouteRequest *req,
                           RouteResponse *resp, const char *expected);
gboolean routes_stream_exists(Routes *r, const char *id);
RouteWork *routes_work_new(Routes *r, RouteWorkFunc run);
/* "tflite", "safetensors" or "built". */
const char *routes_model_format_name(enum model_format f);

/* ---- uploads (routes-upload.c) ---- */

/* Reads an uploaded image (a raw image body, or the first file part of
 * multipart/form-data) and its ?roi=x,y,w,h (fractions of the image).
 * FALSE with resp holding the answer when either is wrong: 400 naming roi,
 * 413, 415, 400 for an empty body. up->data points into req's body. */
gboolean routes_upload_read(Routes *r, const RouteRequest *req,
                            RouteResponse *resp, RouteUpload *up);
/* The upload's region, or NULL for the whole image (no ?roi=). */
const StreamRoi *routes_upload_roi(const RouteUpload *up);
/* The answer to a failed classify_pool_* call (413, 415, 400, 503 with
 * Retry-After, 500); what names the operation for the log. */
void routes_resp_upload_error(Routes *r, RouteResponse *resp, const GError *e,
                              const char *what);
/* {"width", "height"} of the decoded upload (new reference). */
json_t *routes_upload_image_json(const ClassifyInfo *info);
/* {"queue", "decode", "infer"} in ms, the queue from w's creation to
 * start_us, when a worker took it up (new reference). */
json_t *routes_upload_latency_json(const RouteWork *w, gint64 start_us,
                                   const ClassifyInfo *info);

/* ---- handlers ---- */

/* routes-service.c */
void routes_h_healthz(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp);
void routes_h_readyz(Routes *r, const RouteRequest *req, const char *id,
                     RouteResponse *resp);
void routes_h_model(Routes *r, const RouteRequest *req, const char *id,
                    RouteResponse *resp);
void routes_h_openapi(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp);

/* routes-streams.c */
void routes_h_streams_list(Routes *r, const RouteRequest *req,
                           const char *id, RouteResponse *resp);
void routes_h_streams_create(Routes *r, const RouteRequest *req,
                             const char *id, RouteResponse *resp);
void routes_h_stream_get(Routes *r, const RouteRequest *req, const char *id,
                         RouteResponse *resp);
void routes_h_stream_patch(Routes *r, const RouteRequest *req,
                           const char *id, RouteResponse *resp);
void routes_h_stream_delete(Routes *r, const RouteRequest *req,
                            const char *id, RouteResponse *resp);
void routes_h_predictions_latest(Routes *r, const RouteRequest *req,
                                 const char *id, RouteResponse *resp);
void routes_h_predictions_history(Routes *r, const RouteRequest *req,
                                  const char *id, RouteResponse *resp);
void routes_h_stream_events(Routes *r, const RouteRequest *req,
                            const char *id, RouteResponse *resp);
void routes_h_events(Routes *r, const RouteRequest *req, const char *id,
                     RouteResponse *resp);
/* routes-images.c */
void routes_h_snapshot(Routes *r, const RouteRequest *req, const char *id,
                       RouteResponse *resp);
void routes_h_classify(Routes *r, const RouteRequest *req, const char *id,
                       RouteResponse *resp);
/* routes-alerts.c: GET /api/v1/alerts (?stream= ?class= ?since= ?until=
 * ?limit=, 1..ROUTES_ALERTS_LIMIT_MAX) and .../alerts/{id}/snapshot.jpg;
 * routes_alerts_metrics appends streamsight_alerts_total{stream,class}. */
#define ROUTES_ALERTS_LIMIT_DEFAULT 100
#define ROUTES_ALERTS_LIMIT_MAX 1000
void routes_h_alerts_list(Routes *r, const RouteRequest *req, const char *id,
                          RouteResponse *resp);
void routes_h_alert_snapshot(Routes *r, const RouteRequest *req,
                             const char *id, RouteResponse *resp);
void routes_alerts_metrics(Routes *r, GString *out);

/* routes-stats.c */
void routes_h_stats(Routes *r, const RouteRequest *req, const char *id,
                    RouteResponse *resp);
void routes_h_metrics(Routes *r, const RouteRequest *req, const char *id,
                      RouteResponse *resp);
/* routes-models.c */
void routes_h_embed(Routes *r, const RouteRequest *req, const char *id,
                    RouteResponse *resp);
/* routes-heads.c */
void routes_h_heads_list(Routes *r, const RouteRequest *req, const char *id,
                         RouteResponse *resp);
void routes_h_heads_create(Routes *r, const RouteRequest *req,
                           const char *id, RouteResponse *resp);
void routes_h_head_get(Routes *r, const RouteRequest *req, const char *id,
                       RouteResponse *resp);
void routes_h_head_delete(Routes *r, const RouteRequest *req, const char *id,
                          RouteResponse *resp);
void routes_h_head_examples_add(Routes *r, const RouteRequest *req,
                                const char *id, RouteResponse *resp);
void routes_h_head_examples_list(Routes *r, const RouteRequest *req,
                                 const char *id, RouteResponse *resp);
void routes_h_head_example_get(Routes *r, const RouteRequest *req,
                               const char *id, RouteResponse *resp);
void routes_h_head_example_delete(Routes *r, const RouteRequest *req,
                                  const char *id, RouteResponse *resp);
void routes_h_head_train(Routes *r, const RouteRequest *req, const char *id,
                         RouteResponse *resp);
void routes_h_models(Routes *r, const RouteRequest *req, const char *id,
                     RouteResponse *resp);

G_END_DECLS

#endif
