/* streamsight — live events for Server-Sent Events clients (and the same
 * predictions and stream changes for the MQTT publisher).
 *
 * The hub subscribes to every stream's results (stream_results_subscribe),
 * keeping in step with the registry by being told of every change
 * (registry_set_stream_watch: a stream added, removed or updated, or its
 * state, last_error, reconnects, size or connection quality changed, on
 * the thread that made the change), so it sees each prediction once. For each prediction, when clients are interested, it
 * formats one SSE event and hands the same text to every interested
 * client's queue. (The server-wide latency figures are the registry's,
 * latency-totals.h: they exist without the hub.)
 *
 * Wire format (text/event-stream; the dashboard and the OpenAPI file rely on
 * it):
 *
 *   retry: 3000                               (once, first)
 *
 *   event: prediction
 *   id: <stream_id>:<seq>
 *   data: {"stream_id": "...", "prediction": {...as in the REST API...}}
 *
 *   event: stream                             (on connect, for each stream
 *   data: {"stream_id": "...", "stream": {...as GET /streams/{id}...}}
 *                                              in scope; then whenever its
 *                                              state, options, last_error,
 *                                              reconnects, size or quality
 *                                              change: each change, in the
 *                                              order they happen)
 *   event: stream_removed
 *   data: {"stream_id": "..."}
 *
 *   event: alert                              (an alert started or ended,
 *   data: {"stream_id": "...", "type":          alerts.h)
 *          "start"|"end", "alert": {...as GET /api/v1/alerts...}}
 *
 *   event: heartbeat                          (every heartbeat interval)
 *   data: {"time": "<ISO-8601 UTC>", "dropped": <this client's drops>}
 *
 * A client's queue holds queue_len events; when it is full the oldest is
 * dropped and counted (per client, shown in its heartbeats, and in total).
 * Publishing never waits on a client: a slow reader only loses its own
 * oldest events. A per-stream client ends (end of stream) after the
 * stream_removed event of its stream.
 *
 * Threads: predictions arrive on pool workers; stream changes on the
 * thread that made them (HTTP, MQTT, the main context); clients are read by
 * HTTP threads; a ticker thread sends heartbeats and detects clients that
 * hung up. Lock order: the registry's watch lock -> hub sync lock ->
 * (registry -> stream locks, to copy a stream's info) and clients lock ->
 * client lock. The wake/idle callbacks (http.c: MHD resume/suspend) are the
 * one call out made under a client's lock: that lock is what guarantees the
 * connection still exists (http.c closes the client, taking the lock,
 * before libmicrohttpd frees the connection), and they only set flags and
 * signal an eventfd.
 */
#ifndef SS_EVENTS_H
#define SS_EVENTS_H

#include <glib.h>
#include <jansson.h>

#include "alerts.h"
#include "model.h"
#include "registry.h"
#include "results.h"

G_BEGIN_DECLS

#define EVENTS_ERROR (events_error_quark())
GQuark events_error_quark(void);
typedef enum {
  EVENTS_ERROR_LIMIT,     /* max_clients reached */
  EVENTS_ERROR_NOT_FOUND, /* no stream with that id */
  EVENTS_ERROR_CLOSED,    /* the hub is shutting down */
} EventsError;

#define EVENTS_DEFAULT_QUEUE_LEN 64
#define EVENTS_DEFAULT_HEARTBEAT_MS 15000
#define EVENTS_DEFAULT_POLL_MS 1000
/* The reconnect delay advertised to EventSource clients ("retry:"). */
#define EVENTS_RETRY_MS 3000

/* What else follows every stream through the hub (the MQTT publisher,
 * mqtt.h), so that it sees the same predictions and stream changes as SSE
 * clients without subscribing twice. data: EventHubOptions.listener_data. */
typedef struct {
  /* Every prediction of stream_id, on a pool worker: must not block. */
  void (*prediction)(gpointer data, const char *stream_id,
                     const Prediction *p);
  /* A stream is new or what its "stream" event shows changed. Called under
   * the hub's sync lock: must not block nor call the hub. */
  void (*stream)(gpointer data, const StreamInfo *info);
  /* A stream was removed; the same rules. */
  void (*removed)(gpointer data, const char *stream_id);
} EventHubListener;

typedef struct {
  guint max_clients;  /* >= 1; connects beyond it fail with _LIMIT */
  guint queue_len;    /* events queued per client; 0 = default */
  guint heartbeat_ms; /* 0 = default */
  guint poll_ms;      /* idle clients' sockets checked for a hang-up;
                       * 0 = default */
  const EventHubListener *listener; /* borrowed, static; NULL: none */
  gpointer listener_data;           /* must outlive the hub */
} EventHubOptions;

typedef struct {
  guint clients;            /* connected now */
  guint max_clients;
  guint64 clients_total;    /* connected since start */
  guint64 clients_rejected; /* refused at max_clients */
  guint64 events_sent;      /* handed to clients' connections */
  guint64 events_dropped;   /* dropped from full queues, all clients */
  guint64 predictions;      /* predictions seen, all streams */
  guint streams;            /* streams subscribed to */
} EventHubStats;

typedef struct EventHub EventHub;
typedef struct EventClient EventClient;

/* The data of an SSE "prediction" event: {"stream_id": ..., "prediction":
 * {...as in the REST API...}}; also the payload of the MQTT prediction
 * topic. New reference; any thread. */
json_t *event_prediction_json(const struct ss_model *m, const char *stream_id,
                              const Prediction *p);

/* registry is borrowed and must outlive the hub; model gives names, labels
 * and input size for the JSON (borrowed). Starts the ticker thread,
 * becomes the registry's stream watch (registry_set_stream_watch: nothing
 * else may set one while the hub lives) and subscribes to its streams. */
EventHub *event_hub_new(Registry *registry, const struct ss_model *model,
                        const EventHubOptions *opt);
/* Stops watching the registry and the ticker, unsubscribes from every
 * stream, frees the hub. Every client must have been closed
 * (event_client_close). NULL is allowed. */
void event_hub_free(EventHub *h);

/* Sends one event of the given name (a word) with data (stolen) to every
 * client of stream_id's scope (e.g. "alert", alerts.h). Any thread. */
void event_hub_broadcast(EventHub *h, const char *event,
                         const char *stream_id, json_t *data);

/* An AlertListenerFunc (alerts.h; hub: the EventHub): the "alert" event. */
void event_hub_on_alert(gpointer hub, AlertEventType type,
                        const char *stream_id, const char *cls, json_t *alert,
                        const guint8 *jpeg, gsize jpeg_len);

/* Ends every client (each finishes what it has queued, then reads end of
 * stream) and refuses new ones. Call before stopping the HTTP daemon. */
void event_hub_shutdown(EventHub *h);

void event_hub_stats(EventHub *h, EventHubStats *out);

/* A new client for one stream (stream_id) or all (NULL). last_event_id: the
 * Last-Event-ID header of a reconnecting EventSource, or NULL; when it names
 * this stream ("<id>:<seq>"), the predictions after seq still in the
 * stream's history are sent first. The first events are the states of the
 * streams in scope. Returns a client holding one reference for the caller,
 * or NULL with EVENTS_ERROR_*. Any thread. */
EventClient *event_hub_connect(EventHub *h, const char *stream_id,
                               const char *last_event_id, GError **error);

/* Called under the client's lock by event_client_read when nothing is
 * pending: the connection may sleep until wake is called (once). */
typedef void (*EventClientIdleFunc)(gpointer data);
/* Called under the client's lock when something arrives for an idle
 * client, or when it must end. */
typedef void (*EventClientWakeFunc)(gpointer data);

/* Connects the client to its transport. fd: the socket, polled by the
 * ticker while idle to notice a client that hung up (-1: not polled).
 * Without attach (tests), read returns 0 when idle and nothing is woken. */
void event_client_attach(EventClient *c, EventClientIdleFunc idle,
                         EventClientWakeFunc wake, gpointer data, int fd);

/* Copies up to max bytes of pending event text into buf. Returns the count
 * (> 0); 0 when nothing is pending (idle was called, if attached); -1 when
 * the client has ended (hub shut down, its stream removed, or hang-up) and
 * everything queued was read. One reader thread at a time. */
gssize event_client_read(EventClient *c, char *buf, gsize max);

/* The connection is gone: detaches (no more wake calls), removes the client
 * from the hub and drops the caller's reference. Any thread, once. */
void event_client_close(EventClient *c);

/* Events dropped from this client's full queue so far. */
guint64 event_client_dropped(EventClient *c);

G_END_DECLS

#endif
