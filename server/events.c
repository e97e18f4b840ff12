#define _GNU_SOURCE /* POLLRDHUP */
#define G_LOG_DOMAIN "streamsight"

#include "events.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "api-json.h"
#include "json-util.h"

G_DEFINE_QUARK(ss-events-error-quark, events_error)

/* Events moved out of a client's queue per read; what they format to is
 * copied out over as many reads as it takes. */
#define READ_BATCH 16

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

/* ---- clients ---- */

static void
client_unref(EventClient *c)
{
  if (!g_atomic_int_dec_and_test(&c->refs))
    return;
  for (guint i = 0; i < c->count; i++)
    g_ref_string_release(c->queue[(c->head + i) % c->cap]);
  g_free(c->queue);
  g_string_free(c->out, TRUE);
  g_free(c->stream_id);
  g_mutex_clear(&c->lock);
  g_free(c);
}

/* c->lock held. */
static void
client_wake_locked(EventClient *c)
{
  if (c->idle && !c->closed && c->wake_fn) {
    c->idle = FALSE;
    c->wake_fn(c->fn_data);
  }
}

static gboolean
client_wants(const EventClient *c, const char *stream_id)
{
  return !c->stream_id || strcmp(c->stream_id, stream_id) == 0;
}

/* Queues text (a GRefString, acquired here), dropping the oldest event when
 * the queue is full. end: the client ends after it. */
static void
client_push(EventClient *c, char *text, gboolean end)
{
  g_mutex_lock(&c->lock);
  if (!c->closed && !c->closing) {
    if (c->count == c->cap) {
      g_ref_string_release(c->queue[c->head]);
      c->head = (c->head + 1) % c->cap;
      c->count--;
      c->dropped++;
      __atomic_add_fetch(&c->hub->events_dropped, 1, __ATOMIC_RELAXED);
    }
    c->queue[(c->head + c->count) % c->cap] = g_ref_string_acquire(text);
    c->count++;
    if (end)
      c->closing = TRUE;
    client_wake_locked(c);
  }
  g_mutex_unlock(&c->lock);
}

/* Marks c as ending (after its queue) and wakes it. */
static void
client_end(EventClient *c)
{
  g_mutex_lock(&c->lock);
  c->closing = TRUE;
  client_wake_locked(c);
  g_mutex_unlock(&c->lock);
}

void
event_client_attach(EventClient *c, EventClientIdleFunc idle,
                    EventClientWakeFunc wake, gpointer data, int fd)
{
  g_mutex_lock(&c->lock);
  c->idle_fn = idle;
  c->wake_fn = wake;
  c->fn_data = data;
  c->fd = fd;
  g_mutex_unlock(&c->lock);
}

static void
format_heartbeat(GString *out, guint64 dropped)
{
  char t[JSON_UTIL_TIME_LEN];
  json_util_format_time(g_get_real_time(), t);
  g_string_append_printf(out,
                         "event: heartbeat\ndata: {\"time\":\"%s\","
                         "\"dropped\":%" G_GUINT64_FORMAT "}\n\n",
                         t, dropped);
}

gssize
event_client_read(EventClient *c, char *buf, gsize max)
{
  if (c->out_pos >= c->out->len) {
    char *batch[READ_BATCH];
    guint n = 0;
    g_string_truncate(c->out, 0);
    c->out_pos = 0;
    g_mutex_lock(&c->lock);
    while (n < READ_BATCH && c->count > 0) {
      batch[n++] = c->queue[c->head];
      c->head = (c->head + 1) % c->cap;
      c->count--;
    }
    gboolean heartbeat = c->heartbeat_due;
    c->heartbeat_due = FALSE;
    guint64 dropped = c->dropped;
    if (n == 0 && !heartbeat) {
      gssize r = 0;
      if (c->closing) {
        r = -1;
      } else if (c->idle_fn && !c->closed) {
        c->idle = TRUE;
        c->idle_fn(c->fn_data);
      }
      g_mutex_unlock(&c->lock);
      return r;
    }
    g_mutex_unlock(&c->lock);
    for (guint i = 0; i < n; i++) {
      g_string_append(c->out, batch[i]);
      g_ref_string_release(batch[i]);
    }
    if (heartbeat)
      format_heartbeat(c->out, dropped);
    __atomic_add_fetch(&c->hub->events_sent, n + (heartbeat ? 1 : 0),
                       __ATOMIC_RELAXED);
  }
  gsize n = MIN(max, c->out->len - c->out_pos);
  memcpy(buf, c->out->str + c->out_pos, n);
  c->out_pos += n;
  return (gssize)n;
}

guint64
event_client_dropped(EventClient *c)
{
  g_mutex_lock(&c->lock);
  guint64 n = c->dropped;
  g_mutex_unlock(&c->lock);
  return n;
}

void
event_client_close(EventClient *c)
{
  EventHub *h = c->hub;
  g_mutex_lock(&c->lock);
  c->closed = TRUE;
  c->idle = FALSE;
  c->wake_fn = NULL;
  c->idle_fn = NULL;
  c->fd = -1;
  g_mutex_unlock(&c->lock);
  g_rw_lock_writer_lock(&h->clients_lock);
  gboolean listed = g_ptr_array_remove(h->clients, c);
  g_rw_lock_writer_unlock(&h->clients_lock);
  if (listed)
    client_unref(c);
  client_unref(c);
}

/* ---- formatting ---- */

static char *
format_event(const char *event, const char *id, json_t *data)
{
  size_t len = 0;
  char *json = json_util_dump(data, &len);
  json_decref(data);
  if (!json)
    return NULL;
  GString *s = g_string_sized_new(len + 64);
  g_string_append_printf(s, "event: %s\n", event);
  if (id)
    g_string_append_printf(s, "id: %s\n", id);
  g_string_append(s, "data: ");
  g_string_append_len(s, json, (gssize)len);
  g_string_append(s, "\n\n");
  free(json);
  char *r = g_ref_string_new_len(s->str, (gssize)s->len);
  g_string_free(s, TRUE);
  return r;
}

json_t *
event_prediction_json(const struct ss_model *m, const char *stream_id,
                      const Prediction *p)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(stream_id));
  json_object_set_new(o, "prediction", api_prediction_to_json(m, p));
  return o;
}

static char *
format_prediction(EventHub *h, const char *stream_id, const Prediction *p)
{
  json_t *o = event_prediction_json(h->model, stream_id, p);
  char id[96];
  g_snprintf(id, sizeof id, "%s:%" G_GUINT64_FORMAT, stream_id, p->seq);
  return format_event("prediction", id, o);
}

static char *
format_stream(const StreamInfo *info)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(info->id));
  json_object_set_new(o, "stream", api_stream_to_json(info));
  return format_event("stream", NULL, o);
}

static char *
format_removed(const char *stream_id)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(stream_id));
  return format_event("stream_removed", NULL, o);
}

/* ---- predictions (pool worker threads) ---- */

static void
on_prediction(const Prediction *p, gpointer user)
{
  HubStream *hs = user;
  EventHub *h = hs->hub;
  __atomic_add_fetch(&h->predictions, 1, __ATOMIC_RELAXED);
  if (h->listener && h->listener->prediction)
    h->listener->prediction(h->listener_data, hs->id, p);

  /* Formatted once, only when someone listens, and shared by every queue. */
  char *text = NULL;
  g_rw_lock_reader_lock(&h->clients_lock);
  for (guint i = 0; i < h->clients->len; i++) {
    EventClient *c = g_ptr_array_index(h->clients, i);
    if (!client_wants(c, hs->id))
      continue;
    if (!text && !(text = format_prediction(h, hs->id, p)))
      break;
    client_push(c, text, FALSE);
  }
  g_rw_lock_reader_unlock(&h->clients_lock);
  if (text)
    g_ref_string_release(text);
}

/* ---- sync with the registry ---- */

static void
hub_stream_free(HubStream *hs)
{
  g_ref_string_release(hs->id);
  stream_results_unref(hs->res);
  if (hs->stream_text)
    g_ref_string_release(hs->stream_text);
  g_free(hs);
}

/* Sends text to every client interested in stream_id; end: per-stream
 * clients of that stream end after it. */
static void
broadcast(EventHub *h, const char *stream_id, char *text, gboolean end)
{
  g_rw_lock_reader_lock(&h->clients_lock);
  for (guint i = 0; i < h->clients->len; i++) {
    EventClient *c = g_ptr_array_index(h->clients, i);
    if (client_wants(c, stream_id))
      client_push(c, text, end && c->stream_id != NULL);
  }
  g_rw_lock_reader_unlock(&h->clients_lock);
}

/* sync_lock held. Announces a stream that is gone (or replaced by a new
 * one of the same id) and forgets it. */
static void
hub_stream_gone(EventHub *h, HubStream *hs)
{
  g_hash_table_remove(h->streams, hs->id);
  /* Waits for a callback in progress; callbacks never take the sync
   * lock, so holding it here cannot deadlock. */
  stream_results_unsubscribe(hs->res, hs->sub);
  if (h->listener && h->listener->removed)
    h->listener->removed(h->listener_data, hs->id);
  char *text = format_removed(hs->id);
  if (text) {
    broadcast(h, hs->id, text, TRUE);
    g_ref_string_release(text);
  }
  hub_stream_free(hs);
}

/* sync_lock held. Follows stream info->id from now on (res: its results,
 * taken). */
static HubStream *
hub_stream_add(EventHub *h, const StreamInfo *info, StreamResults *res)
{
  HubStream *hs = g_new0(HubStream, 1);
  hs->hub = h;
  hs->id = g_ref_string_new(info->id);
  hs->res = res;
  g_hash_table_insert(h->streams, hs->id, hs);
  hs->sub = stream_results_subscribe(res, on_prediction, hs);
  return hs;
}

/* sync_lock held. The "stream" event, when what it shows changed since the
 * last one (the stream counts its changes: StreamInfo.generation). */
static void
hub_stream_show(EventHub *h, HubStream *hs, const StreamInfo *info)
{
  if (hs->stream_text && hs->generation == info->generation)
    return;
  hs->generation = info->generation;
  if (h->listener && h->listener->stream)
    h->listener->stream(h->listener_data, info);
  char *text = format_stream(info);
  if (text) {
    if (hs->stream_text)
      g_ref_string_release(hs->stream_text);
    hs->stream_text = text;
    broadcast(h, hs->id, text, FALSE);
  }
}

/* sync_lock held. Brings the hub's view of one stream in step with the
 * registry: info is the registry's copy of stream id, NULL when it has no
 * such stream. Returns the stream followed, or NULL. */
static HubStream *
sync_stream_locked(EventHub *h, const char *id, const StreamInfo *info)
{
  HubStream *hs = g_hash_table_lookup(h->streams, id);
  StreamResults *res = info ? registry_results(h->registry, id) : NULL;
  if (hs && hs->res != res) {
    hub_stream_gone(h, hs);
    hs = NULL;
  }
  if (!res)
    return NULL; /* gone, or removed in the meantime: told again then */
  if (hs)
    stream_results_unref(res);
  else
    hs = hub_stream_add(h, info, res);
  hub_stream_show(h, hs, info);
  return hs;
}

/* sync_lock held. */
static void
sync_one_locked(EventHub *h, const char *id)
{
  StreamInfo info;
  if (registry_get(h->registry, id, &info, NULL)) {
    sync_stream_locked(h, id, &info);
    stream_info_clear(&info);
  } else {
    sync_stream_locked(h, id, NULL);
  }
}

/* sync_lock held. Every stream at once: at start, before any change was
 * told. */
static void
sync_all_locked(EventHub *h)
{
  GPtrArray *list = registry_list(h->registry);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, &key, &value))
    ((HubStream *)value)->seen = FALSE;
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    HubStream *hs = sync_stream_locked(h, info->id, info);
    if (hs)
      hs->seen = TRUE;
  }
  g_ptr_array_unref(list);

  /* Streams gone from the registry. */
  GPtrArray *gone = g_ptr_array_new();
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, &key, &value))
    if (!((HubStream *)value)->seen)
      g_ptr_array_add(gone, value);
  for (guint i = 0; i < gone->len; i++)
    hub_stream_gone(h, g_ptr_array_index(gone, i));
  g_ptr_array_unref(gone);
}

/* A RegistryStreamFunc (user: the hub): told of every change of a stream
 * (added, removed, updated, its state...) on the thread that made it. */
static void
on_stream_watch(Registry *r, const char *id, gpointer user)
{
  EventHub *h = user;
  g_mutex_lock(&h->sync_lock);
  sync_one_locked(h, id);
  g_mutex_unlock(&h->sync_lock);
}

void
event_hub_broadcast(EventHub *h, const char *event, const char *stream_id,
                    json_t *data)
{
  char *text = format_event(event, NULL, data);
  if (!text)
    return;
  broadcast(h, stream_id, text, FALSE);
  g_ref_string_release(text);
}

void
event_hub_on_alert(gpointer hub, AlertEventType type, const char *stream_id,
                   const char *cls, json_t *alert, const guint8 *jpeg,
                   gsize jpeg_len)
{
  json_t *o = json_object();
  json_object_set_new(o, "stream_id", json_string(stream_id));
  json_object_set_new(o, "type", json_string(alert_event_name(type)));
  json_object_set(o, "alert", alert);
  event_hub_broadcast(hub, "alert", stream_id, o);
}

/* ---- the ticker ---- */

static void
heartbeat_all(EventHub *h)
{
  g_rw_lock_reader_lock(&h->clients_lock);
  for (guint i = 0; i < h->clients->len; i++) {
    EventClient *c = g_ptr_array_index(h->clients, i);
    g_mutex_lock(&c->lock);
    c->heartbeat_due = TRUE;
    client_wake_locked(c);
    g_mutex_unlock(&c->lock);
  }
  g_rw_lock_reader_unlock(&h->clients_lock);
}

/* A connection waiting for events is not watched by libmicrohttpd: a client
 * that went away would only be noticed at the next heartbeat's write. Poll
 * the sockets of idle clients for a hang-up instead, and end those. */
static void
check_hangups(EventHub *h)
{
  g_rw_lock_reader_lock(&h->clients_lock);
  for (guint i = 0; i < h->clients->len; i++) {
    EventClient *c = g_ptr_array_index(h->clients, i);
    g_mutex_lock(&c->lock);
    if (c->idle && !c->closed && c->fd >= 0) {
      struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };
      if (poll(&p, 1, 0) == 1 &&
          (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
        c->closing = TRUE;
        client_wake_locked(c);
      }
    }
    g_mutex_unlock(&c->lock);
  }
  g_rw_lock_reader_unlock(&h->clients_lock);
}

static gpointer
ticker_main(gpointer user)
{
  EventHub *h = user;
  gint64 next_poll = g_get_monotonic_time() + (gint64)h->poll_ms * 1000;
  /* Streams are not polled: the registry tells the hub of every change
   * (on_stream_watch). */
  gint64 next_beat = g_get_monotonic_time() + (gint64)h->heartbeat_ms * 1000;
  g_mutex_lock(&h->ticker_lock);
  while (!h->stop) {
    gint64 until = MIN(next_poll, next_beat);
    if (g_get_monotonic_time() < until) {
      g_cond_wait_until(&h->ticker_cond, &h->ticker_lock, until);
      continue;
    }
    g_mutex_unlock(&h->ticker_lock);
    gint64 now = g_get_monotonic_time();
    if (now >= next_poll) {
      check_hangups(h);
      next_poll = now + (gint64)h->poll_ms * 1000;
    }
    if (now >= next_beat) {
      heartbeat_all(h);
      next_beat = now + (gint64)h->heartbeat_ms * 1000;
    }
    g_mutex_lock(&h->ticker_lock);
  }
  g_mutex_unlock(&h->ticker_lock);
  return NULL;
}

/* ---- the hub ---- */

EventHub *
event_hub_new(Registry *registry, const struct ss_model *model,
              const EventHubOptions *opt)
{
  EventHub *h = g_new0(EventHub, 1);
  h->registry = registry;
  h->model = model;
  h->max_clients = MAX(opt->max_clients, 1u);
  h->queue_len = opt->queue_len ? opt->queue_len : EVENTS_DEFAULT_QUEUE_LEN;
  h->heartbeat_ms =
      opt->heartbeat_ms ? opt->heartbeat_ms : EVENTS_DEFAULT_HEARTBEAT_MS;
  h->poll_ms = opt->poll_ms ? opt->poll_ms : EVENTS_DEFAULT_POLL_MS;
  h->listener = opt->listener;
  h->listener_data = opt->listener_data;
  g_mutex_init(&h->sync_lock);
  h->streams = g_hash_table_new(g_str_hash, g_str_equal);
  g_rw_lock_init(&h->clients_lock);
  h->clients = g_ptr_array_new();
  g_mutex_init(&h->ticker_lock);
  g_cond_init(&h->ticker_cond);
  /* Watch first, then look at every stream: no change falls in between
   * (one told twice shows once, by its generation). */
  registry_set_stream_watch(registry, on_stream_watch, h);
  g_mutex_lock(&h->sync_lock);
  sync_all_locked(h);
  g_mutex_unlock(&h->sync_lock);
  h->ticker = g_thread_new("ss-events", ticker_main, h);
  return h;
}

void
event_hub_shutdown(EventHub *h)
{
  g_rw_lock_writer_lock(&h->clients_lock);
  h->closing = TRUE;
  g_rw_lock_writer_unlock(&h->clients_lock);
  g_rw_lock_reader_lock(&h->clients_lock);
  for (guint i = 0; i < h->clients->len; i++)
    client_end(g_ptr_array_index(h->clients, i));
  g_rw_lock_reader_unlock(&h->clients_lock);
}

void
event_hub_free(EventHub *h)
{
  if (!h)
    return;
  /* Returns once no call of on_stream_watch is in progress. */
  registry_set_stream_watch(h->registry, NULL, NULL);
  g_mutex_lock(&h->ticker_lock);
  h->stop = TRUE;
  g_cond_signal(&h->ticker_cond);
  g_mutex_unlock(&h->ticker_lock);
  g_thread_join(h->ticker);

  g_mutex_lock(&h->sync_lock);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    HubStream *hs = value;
    stream_results_unsubscribe(hs->res, hs->sub);
    g_hash_table_iter_steal(&it);
    hub_stream_free(hs);
  }
  g_mutex_unlock(&h->sync_lock);
  g_hash_table_unref(h->streams);

  /* Clients still listed were never closed by their owner: a bug. */
  if (h->clients->len > 0)
    g_critical("events: %u clients left at exit", h->clients->len);
  g_ptr_array_unref(h->clients);
  g_rw_lock_clear(&h->clients_lock);
  g_mutex_clear(&h->sync_lock);
  g_mutex_clear(&h->ticker_lock);
  g_cond_clear(&h->ticker_cond);
  g_free(h);
}

void
event_hub_stats(EventHub *h, EventHubStats *out)
{
  memset(out, 0, sizeof *out);
  g_rw_lock_reader_lock(&h->clients_lock);
  out->clients = h->clients->len;
  g_rw_lock_reader_unlock(&h->clients_lock);
  out->max_clients = h->max_clients;
  out->clients_total = __atomic_load_n(&h->clients_total, __ATOMIC_RELAXED);
  out->clients_rejected =
      __atomic_load_n(&h->clients_rejected, __ATOMIC_RELAXED);
  out->events_sent = __atomic_load_n(&h->events_sent, __ATOMIC_RELAXED);
  out->events_dropped = __atomic_load_n(&h->events_dropped, __ATOMIC_RELAXED);
  out->predictions = __atomic_load_n(&h->predictions, __ATOMIC_RELAXED);
  g_mutex_lock(&h->sync_lock);
  out->streams = g_hash_table_size(h->streams);
  g_mutex_unlock(&h->sync_lock);
}

/* Parses "<id>:<seq>"; TRUE when it names stream_id. */
static gboolean
parse_last_event_id(const char *v, const char *stream_id, guint64 *seq)
{
  const char *colon = v ? strrchr(v, ':') : NULL;
  if (!colon || (gsize)(colon - v) != strlen(stream_id) ||
      strncmp(v, stream_id, strlen(stream_id)) != 0)
    return FALSE;
  return g_ascii_string_to_unsigned(colon + 1, 10, 0, G_MAXUINT64, seq,
                                    NULL);
}

/* Puts the predictions of hs after seq that are still in its history in
 * front of what the client has queued (which may already hold live ones
 * published since the client was listed: those are not repeated). */
static void
replay_history(EventHub *h, EventClient *c, HubStream *hs, guint64 after)
{
  Prediction *buf = g_new(Prediction, c->cap);
  guint n = stream_results_copy_history(hs->res, after, 0, buf, c->cap);
  if (n == 0) {
    g_free(buf);
    return;
  }
  g_mutex_lock(&c->lock);
  /* The history is oldest first; live events already queued have higher
   * seq numbers than any history entry copied before them... unless they
   * were published between listing the client and the copy: skip those. */
  guint64 first_live = G_MAXUINT64;
  char prefix[96];
  g_snprintf(prefix, sizeof prefix, "event: prediction\nid: %s:", hs->id);
  for (guint i = 0; i < c->count; i++) {
    const char *t = c->queue[(c->head + i) % c->cap];
    if (g_str_has_prefix(t, prefix)) {
      first_live = g_ascii_strtoull(t + strlen(prefix), NULL, 10);
      break;
    }
  }
  g_mutex_unlock(&c->lock);
  /* Format outside the lock, then put in front. */
  char **texts = g_new0(char *, n);
  guint m = 0;
  for (guint i = 0; i < n; i++)
    if (buf[i].seq < first_live)
      texts[m++] = format_prediction(h, hs->id, &buf[i]);
  g_free(buf);
  g_mutex_lock(&c->lock);
  /* Room: drop the oldest replayed ones first. */
  guint skip = 0;
  while (m - skip > 0 && c->count + (m - skip) > c->cap)
    skip++;
  for (guint i = m; i > skip; i--) {
    char *t = texts[i - 1];
    if (!t)
      continue;
    c->head = (c->head + c->cap - 1) % c->cap;
    c->queue[c->head] = t;
    texts[i - 1] = NULL;
    c->count++;
  }
  g_mutex_unlock(&c->lock);
  for (guint i = 0; i < m; i++)
    if (texts[i])
      g_ref_string_release(texts[i]);
  g_free(texts);
}

EventClient *
event_hub_connect(EventHub *h, const char *stream_id,
                  const char *last_event_id, GError **error)
{
  EventClient *c = NULL;
  HubStream *replay = NULL;
  guint64 replay_after = 0;

  /* Under the sync lock: a stream cannot be removed (and its removal
   * announced) between the check and the client being listed. */
  g_mutex_lock(&h->sync_lock);
  if (stream_id && !g_hash_table_contains(h->streams, stream_id))
    sync_one_locked(h, stream_id); /* being added at this moment? */
  if (stream_id && !g_hash_table_contains(h->streams, stream_id)) {
    g_mutex_unlock(&h->sync_lock);
    g_set_error(error, EVENTS_ERROR, EVENTS_ERROR_NOT_FOUND,
                "no stream with id '%s'", stream_id);
    return NULL;
  }
  g_rw_lock_writer_lock(&h->clients_lock);
  if (h->closing) {
    g_rw_lock_writer_unlock(&h->clients_lock);
    g_mutex_unlock(&h->sync_lock);
    g_set_error(error, EVENTS_ERROR, EVENTS_ERROR_CLOSED,
                "the server is shutting down");
    return NULL;
  }
  if (h->clients->len >= h->max_clients) {
    g_rw_lock_writer_unlock(&h->clients_lock);
    g_mutex_unlock(&h->sync_lock);
    __atomic_add_fetch(&h->clients_rejected, 1, __ATOMIC_RELAXED);
    g_set_error(error, EVENTS_ERROR, EVENTS_ERROR_LIMIT,
                "at most %u event-stream clients at once "
                "(limits.max_sse_clients)", h->max_clients);
    return NULL;
  }
  c = g_new0(EventClient, 1);
  c->hub = h;
  c->refs = 2; /* the list's and the caller's */
  c->stream_id = g_strdup(stream_id);
  g_mutex_init(&c->lock);
  c->cap = h->queue_len;
  c->queue = g_new0(char *, c->cap);
  c->fd = -1;
  c->out = g_string_new(NULL);
  g_string_append_printf(c->out, "retry: %d\n\n", EVENTS_RETRY_MS);
  /* The current state of the streams in scope, before any live event. */
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    HubStream *hs = value;
    if (hs->stream_text && client_wants(c, hs->id))
      client_push(c, hs->stream_text, FALSE);
    if (stream_id && strcmp(hs->id, stream_id) == 0 &&
        parse_last_event_id(last_event_id, stream_id, &replay_after))
      replay = hs;
  }
  g_ptr_array_add(h->clients, c);
  g_rw_lock_writer_unlock(&h->clients_lock);
  __atomic_add_fetch(&h->clients_total, 1, __ATOMIC_RELAXED);
  if (replay)
    replay_history(h, c, replay, replay_after);
  g_mutex_unlock(&h->sync_lock);
  return c;
}
