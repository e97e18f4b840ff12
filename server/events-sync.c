/* streamsight — the hub's predictions and its sync with the registry: one
 * subscription per stream, "stream" and "stream_removed" events. */
#define G_LOG_DOMAIN "streamsight"

#include <string.h>

#include "events-internal.h"

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
    if (!event_client_wants(c, hs->id))
      continue;
    if (!text && !(text = event_format_prediction(h, hs->id, p)))
      break;
    event_client_push(c, text, FALSE);
  }
  g_rw_lock_reader_unlock(&h->clients_lock);
  if (text)
    g_ref_string_release(text);
}

/* ---- sync with the registry ---- */

void
event_hub_stream_free(HubStream *hs)
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
    if (event_client_wants(c, stream_id))
      event_client_push(c, text, end && c->stream_id != NULL);
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
  char *text = event_format_removed(hs->id);
  if (text) {
    broadcast(h, hs->id, text, TRUE);
    g_ref_string_release(text);
  }
  event_hub_stream_free(hs);
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
  char *text = event_format_stream(info);
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
void
event_hub_sync_one_locked(EventHub *h, const char *id)
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
void
event_hub_sync_all_locked(EventHub *h)
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
void
event_hub_on_stream_watch(Registry *r, const char *id, gpointer user)
{
  EventHub *h = user;
  g_mutex_lock(&h->sync_lock);
  event_hub_sync_one_locked(h, id);
  g_mutex_unlock(&h->sync_lock);
}

void
event_hub_broadcast(EventHub *h, const char *event, const char *stream_id,
                    json_t *data)
{
  char *text = event_format(event, NULL, data);
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
