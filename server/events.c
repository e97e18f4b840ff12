/* streamsight — the event hub: creation, shutdown, stats, and connecting a
 * client (with its Last-Event-ID replay). See events.h. */
#define G_LOG_DOMAIN "streamsight"

#include "events.h"

#include <string.h>

#include "events-internal.h"

G_DEFINE_QUARK(ss-events-error-quark, events_error)

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
  registry_set_stream_watch(registry, event_hub_on_stream_watch, h);
  g_mutex_lock(&h->sync_lock);
  event_hub_sync_all_locked(h);
  g_mutex_unlock(&h->sync_lock);
  h->ticker = g_thread_new("ss-events", event_hub_ticker_main, h);
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
    event_client_end(g_ptr_array_index(h->clients, i));
  g_rw_lock_reader_unlock(&h->clients_lock);
}

void
event_hub_free(EventHub *h)
{
  if (!h)
    return;
  /* Returns once no call of event_hub_on_stream_watch is in progress. */
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
    event_hub_stream_free(hs);
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
      texts[m++] = event_format_prediction(h, hs->id, &buf[i]);
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
    event_hub_sync_one_locked(h, stream_id); /* being added at this moment? */
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
    if (hs->stream_text && event_client_wants(c, hs->id))
      event_client_push(c, hs->stream_text, FALSE);
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
