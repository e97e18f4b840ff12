/* streamsight — a stream's configuration: the names of its settings'
 * values, defaults, copy and clear. Validation is in
 * stream-config-validate.c, the credentials inside URIs (split, redact,
 * scrub) in stream-config-uri.c.
 */
#include "stream-config.h"

#include <string.h>

G_DEFINE_QUARK(ss-stream-config-error-quark, stream_config_error)

const char *const stream_transport_names[] = { "auto", "tcp", "udp", NULL };
const char *const stream_decode_names[] = { "all", "keyframes", NULL };
const char *const stream_resize_mode_names[] = { "stretch", "crop",
                                                 "letterbox", NULL };
const char *const stream_labels_names[] = { "both", "head", "imagenet",
                                            NULL };
G_STATIC_ASSERT(STREAM_TRANSPORT_UDP == 2 && STREAM_DECODE_KEYFRAMES == 1 &&
                STREAM_RESIZE_LETTERBOX == 2 && STREAM_LABELS_IMAGENET == 2);

const char *
stream_transport_name(StreamTransport t)
{
  return (unsigned)t <= STREAM_TRANSPORT_UDP ? stream_transport_names[t]
                                             : "auto";
}

gboolean
stream_transport_from_string(const char *s, StreamTransport *out)
{
  static const StreamTransport all[] = {
    STREAM_TRANSPORT_AUTO, STREAM_TRANSPORT_TCP, STREAM_TRANSPORT_UDP,
  };
  for (guint i = 0; s && i < G_N_ELEMENTS(all); i++)
    if (strcmp(s, stream_transport_name(all[i])) == 0) {
      *out = all[i];
      return TRUE;
    }
  return FALSE;
}

const char *
stream_decode_name(StreamDecode d)
{
  return (unsigned)d <= STREAM_DECODE_KEYFRAMES ? stream_decode_names[d]
                                                : "all";
}

const char *
stream_resize_mode_name(int mode)
{
  return mode >= 0 && mode <= STREAM_RESIZE_MODE_MAX
             ? stream_resize_mode_names[mode]
             : "stretch";
}

const char *
stream_labels_name(StreamLabels l)
{
  return (unsigned)l <= STREAM_LABELS_IMAGENET ? stream_labels_names[l]
                                               : "both";
}

gboolean
stream_decode_from_string(const char *s, StreamDecode *out)
{
  if (g_strcmp0(s, "all") == 0) {
    *out = STREAM_DECODE_ALL;
    return TRUE;
  }
  if (g_strcmp0(s, "keyframes") == 0) {
    *out = STREAM_DECODE_KEYFRAMES;
    return TRUE;
  }
  return FALSE;
}

void
stream_config_init(StreamConfig *c)
{
  memset(c, 0, sizeof *c);
  c->transport = STREAM_TRANSPORT_AUTO;
  c->decode = STREAM_DECODE_ALL;
  c->max_fps = 5.0;
  c->top_k = 5;
  c->enabled = TRUE;
  c->history_len = 100;
  c->stall_timeout_s = 10.0;
  c->backoff_initial_s = 1.0;
  c->backoff_max_s = 30.0;
  c->rtsp_latency_ms = 200;
  c->resize_mode = 0;
  c->realtime = TRUE;
  c->roi = STREAM_ROI_FULL;
}

void
stream_config_clear(StreamConfig *c)
{
  if (!c)
    return;
  g_free(c->name);
  g_free(c->uri);
  g_free(c->device);
  g_free(c->pattern);
  g_free(c->head);
  c->head = NULL;
  g_free(c->model);
  c->name = c->uri = c->device = c->pattern = NULL;
  alert_rules_free(c->alerts, c->n_alerts);
  c->alerts = NULL;
  c->n_alerts = 0;
}

void
stream_config_copy(StreamConfig *dst, const StreamConfig *src)
{
  if (dst == src)
    return;
  *dst = *src;
  dst->name = g_strdup(src->name);
  dst->uri = g_strdup(src->uri);
  dst->device = g_strdup(src->device);
  dst->pattern = g_strdup(src->pattern);
  dst->head = g_strdup(src->head);
  dst->model = g_strdup(src->model);
  dst->alerts = alert_rules_copy(src->alerts, src->n_alerts);
  dst->n_alerts = dst->alerts ? src->n_alerts : 0;
}
