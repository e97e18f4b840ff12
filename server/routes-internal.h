/* streamsight — what routes.c shares with the handler files beside it
 * (routes-models.c: /api/v1/models, /api/v1/embed). Not for other modules:
 * they use routes.h.
 */
#ifndef SS_ROUTES_INTERNAL_H
#define SS_ROUTES_INTERNAL_H

#include <jansson.h>

#include "classify-pool.h"
#include "engine.h"
#include "roi.h"
#include "routes.h"

G_BEGIN_DECLS

/* Longest path segment taken as a stream id (ids are at most 64 bytes; a
 * longer segment cannot name a stream). */
#define ROUTES_ID_MAX 64

/* Deferred work: a snapshot, a classification or an embedding, run by
 * route_work_run() off the HTTP thread. */
typedef void (*RouteWorkFunc)(RouteWork *w, RouteResponse *resp);
struct RouteWork {
  RouteWorkFunc run;
  Routes *r;
  char id[ROUTES_ID_MAX + 1]; /* snapshot: the stream */
  guint max_width;            /* snapshot: ?width= */
  gboolean draw_roi;          /* snapshot: ?roi=1 */
  int top_k;                  /* classify */
  const guint8 *data;         /* classify, embed: the image (request body) */
  gsize data_len;
  gboolean has_roi;           /* classify, embed: ?roi= given */
  StreamRoi roi;
  gint64 created_us;
};

RouteWork *routes_work_new(Routes *r, RouteWorkFunc run);

/* The value of query parameter name ("" when it has none), or NULL. */
const char *routes_query_get(const RouteRequest *req, const char *name);
/* Sets a JSON body (v is stolen) with Cache-Control: no-store. */
void routes_resp_json(RouteResponse *resp, guint status, json_t *v);

/* The uploaded image of a POST (a raw image body, or the first file part
 * of multipart/form-data). FALSE with resp holding the answer (413, 415,
 * 400) when there is none. *data points into req's body. */
gboolean routes_upload_image(Routes *r, const RouteRequest *req,
                             RouteResponse *resp, const guint8 **data,
                             gsize *len);
/* ?roi=x,y,w,h (fractions of the image): FALSE with a 400 naming roi in
 * resp when malformed; *has FALSE when absent. */
gboolean routes_query_roi(const RouteRequest *req, RouteResponse *resp,
                          gboolean *has, StreamRoi *roi);
/* The answer to a failed classify_pool_* call (413, 415, 400, 503 with
 * Retry-After, 500); what names the operation for the log. */
void routes_resp_upload_error(Routes *r, RouteResponse *resp, const GError *e,
                              const char *what);

ClassifyPool *routes_classify_pool(Routes *r);
const struct ss_engine *routes_engine(Routes *r);

/* Handlers living in routes-models.c. */
void routes_h_embed(Routes *r, const RouteRequest *req, const char *id,
                    RouteResponse *resp);

G_END_DECLS

#endif
