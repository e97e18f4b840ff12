/* streamsight — what the files of the event hub share (not an API):
 * events.c (the hub: creation, shutdown, stats, connecting a client and
 * replaying its history), events-client.c (a client's queue and its
 * reader), events-format.c (the SSE text of each event), events-sync.c
 * (predictions, and keeping in step with the registry) and
 * events-ticker.c (heartbeats and hang-ups). See events.h for the API. */
#ifndef SS_EVENTS_INTERNAL_H
#define SS_EVENTS_INTERNAL_H

#include "events.h"

G_BEGIN_DECLS

/* One stream the hub is subscribed to. Created and destroyed under the
 * sync lock; id, hub and res are immutable while subscribed, so the
 * prediction callback reads them without a lock. */
typedef struct {
  EventHub *hub;
  char *id;             /* GRefString */
  StreamResults *res;   /* reference */
  guint sub;            /* subscription id */
  guint64 generation;   /* StreamInfo.generation of the last "stream"
                         * event; sync lock */
  char *stream_text;    /* GRefString: the last "stream" event; sync lock */
  gboolean seen;        /* mark for the sweep in sync_all_locked */
} HubStream;

struct EventClient {
  EventHub *hub;      /* borrowed: the hub outlives its clients */
  gint refs;          /* atomic: the hub's list + the connection */
  char *stream_id;    /* NULL: every stream; immutable */

  GMutex lock;        /* protects everything below but out/out_pos */
  char **queue;       /* ring of GRefString events, cap entries */
  guint cap, head, count;
  guint64 dropped;
  gboolean heartbeat_due;
  gboolean closing;   /* end of stream once the queue is read */
  gboolean closed;    /* the connection is gone: never call wake */
  gboolean idle;      /* idle() was called; wake() owed on the next event */
  EventClientIdleFunc idle_fn;
  EventClientWakeFunc wake_fn;
  gpointer fn_data;
  int fd;

  /* The reader's own: text formatted but not yet copied out. */
  GString *out;
  gsize out_pos;
};

struct EventHub {
  Registry *registry;            /* borrowed */
  const struct ss_model *model;  /* borrowed */
  guint max_clients, queue_len, heartbeat_ms, poll_ms;

  GMutex sync_lock;              /* protects streams; serialises syncs */
  GHashTable *streams;           /* id -> HubStream* */

  GRWLock clients_lock;          /* protects clients and closing */
  GPtrArray *clients;            /* EventClient*, the list's reference */
  gboolean closing;

  const EventHubListener *listener; /* immutable; NULL: none */
  gpointer listener_data;

  /* Atomic counters. */
  guint64 clients_total, clients_rejected, events_sent, events_dropped;
  guint64 predictions;

  GMutex ticker_lock;            /* protects stop */
  GCond ticker_cond;
  gboolean stop;
  GThread *ticker;
};

/* events-client.c */

/* c->lock held. Calls the wake function owed since the client went idle. */
void event_client_wake_locked(EventClient *c);
/* TRUE when c listens to stream_id's events. */
gboolean event_client_wants(const EventClient *c, const char *stream_id);
/* Queues text (a GRefString, acquired here), dropping the oldest event when
 * the queue is full. end: the client ends after it. */
void event_client_push(EventClient *c, char *text, gboolean end);
/* Marks c as ending (after its queue) and wakes it. */
void event_client_end(EventClient *c);

/* events-format.c: each returns a GRefString, or NULL when the data do not
 * format. event_format takes data. */
char *event_format(const char *event, const char *id, json_t *data);
char *event_format_prediction(EventHub *h, const char *stream_id,
                              const Prediction *p);
char *event_format_stream(const StreamInfo *info);
char *event_format_removed(const char *stream_id);

/* events-sync.c */

void event_hub_stream_free(HubStream *hs);
/* sync_lock held. Brings the hub's view of stream id in step with the
 * registry. */
void event_hub_sync_one_locked(EventHub *h, const char *id);
/* sync_lock held. Every stream at once: at start, before any change was
 * told. */
void event_hub_sync_all_locked(EventHub *h);
/* A RegistryStreamFunc (user: the hub). */
void event_hub_on_stream_watch(Registry *r, const char *id, gpointer user);

/* events-ticker.c: the ticker thread's body (user: the hub). */
gpointer event_hub_ticker_main(gpointer user);

G_END_DECLS

#endif /* SS_EVENTS_INTERNAL_H */
