/* streamsight — an event-stream client: its queue of events and the reader
 * that copies them out (events-internal.h). */
#define G_LOG_DOMAIN "streamsight"

#include <string.h>

#include "events-internal.h"
#include "json-util.h"

/* Events moved out of a client's queue per read; what they format to is
 * copied out over as many reads as it takes. */
#define READ_BATCH 16

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
void
event_client_wake_locked(EventClient *c)
{
  if (c->idle && !c->closed && c->wake_fn) {
    c->idle = FALSE;
    c->wake_fn(c->fn_data);
  }
}

gboolean
event_client_wants(const EventClient *c, const char *stream_id)
{
  return !c->stream_id || strcmp(c->stream_id, stream_id) == 0;
}

/* Queues text (a GRefString, acquired here), dropping the oldest event when
 * the queue is full. end: the client ends after it. */
void
event_client_push(EventClient *c, char *text, gboolean end)
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
    event_client_wake_locked(c);
  }
  g_mutex_unlock(&c->lock);
}

/* Marks c as ending (after its queue) and wakes it. */
void
event_client_end(EventClient *c)
{
  g_mutex_lock(&c->lock);
  c->closing = TRUE;
  event_client_wake_locked(c);
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
