/* streamsight — the hub's ticker thread: heartbeats, and ending idle
 * clients whose connection hung up. */
#define _GNU_SOURCE /* POLLRDHUP */
#define G_LOG_DOMAIN "streamsight"

#include <poll.h>

#include "events-internal.h"

/* ---- the ticker ---- */

static void
heartbeat_all(EventHub *h)
{
  g_rw_lock_reader_lock(&h->clients_lock);
  for (guint i = 0; i < h->clients->len; i++) {
    EventClient *c = g_ptr_array_index(h->clients, i);
    g_mutex_lock(&c->lock);
    c->heartbeat_due = TRUE;
    event_client_wake_locked(c);
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
        event_client_wake_locked(c);
      }
    }
    g_mutex_unlock(&c->lock);
  }
  g_rw_lock_reader_unlock(&h->clients_lock);
}

gpointer
event_hub_ticker_main(gpointer user)
{
  EventHub *h = user;
  gint64 next_poll = g_get_monotonic_time() + (gint64)h->poll_ms * 1000;
  /* Streams are not polled: the registry tells the hub of every change
   * (event_hub_on_stream_watch). */
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
