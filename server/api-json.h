/* streamsight — the JSON shapes of the API, shared by the REST routes
 * (routes.c) and the event streams (events.c), so that a prediction or a
 * stream looks the same in GET /api/v1/streams/{id}/predictions/latest and
 * in an SSE "prediction" event.
 *
 * Pure functions of their arguments; any thread. Every function returns a
 * new reference.
 */
#ifndef SS_API_JSON_H
#define SS_API_JSON_H

#include <glib.h>
#include <jansson.h>

#include "latency.h"
#include "model.h"
#include "registry.h"
#include "results.h"

G_BEGIN_DECLS

/* A stream as GET /api/v1/streams/{id} shows it: id, name, redacted uri,
 * state, every option, errors, reconnects, times, size, fps and counters.
 * Never the URI with credentials. */
json_t *api_stream_to_json(const StreamInfo *info);
/* What a stream's last_error is about, for a dashboard's hint:
 * "unauthorized" (401/403: user or password), "not_found" (404, no such
 * file or device: the path), "unreachable" (refused, no route, timed out,
 * no frame), "ended" (end of stream), "other", or NULL without an error.
 * A static string. */
const char *api_error_kind(const char *last_error);

/* frames_received, frames_inferred, frames_dropped (+ its parts), errors,
 * reconnects, stalls. */
json_t *api_counters_to_json(const ResultsStats *s);

/* A prediction: seq, frame, pts_ns, capture_time, capture_mono_ns,
 * published_mono_ns, model, input {width, height}, classes [{index, label,
 * score}] and latency_ms {queue, preprocess, infer, e2e}. m gives the model
 * name, input size and labels (borrowed). */
json_t *api_prediction_to_json(const struct ss_model *m, const Prediction *p);

/* {"queue": {"last_60s": summary, "since_start": summary}, "preprocess",
 * "infer", "e2e"} from parallel arrays indexed by LatencyStage. */
json_t *api_latency_to_json(const LatencySummary window[LATENCY_N_STAGES],
                            const LatencySummary since[LATENCY_N_STAGES]);

/* "queue", "preprocess", "infer", "e2e". */
const char *api_stage_name(LatencyStage stage);

/* The body of PATCH /api/v1/streams/{id}, also taken by the MQTT command
 * topic <prefix>/<stream>/set: max_fps, top_k and/or enabled, nothing
 * else. Fills *out (registry_update() validates the values against the
 * stream) or fails with a message naming the key (JSON_UTIL_ERROR). */
gboolean api_stream_patch_from_json(json_t *obj, StreamPatch *out,
                                    GError **error);

/* {"error": {"code": code, "message": message}}; a message that is not
 * valid UTF-8 is replaced by a fixed text. */
json_t *api_error_to_json(const char *code, const char *message);

G_END_DECLS

#endif
