/* streamsight — types registered on one thread before pipelines start (see
 * type-warmup.h). */
#define G_LOG_DOMAIN "streamsight"

#include "type-warmup.h"

#include <gio/gio.h>
#include <gst/gst.h>

/* The elements a stream pipeline is made of: the ones stream-pipeline.c
 * creates, and the ones rtspsrc, uridecodebin and decodebin create on
 * their own threads for a camera (session and jitter buffer, UDP
 * transport, typefinding, the usual depayloaders, parsers and decoders).
 * Creating one runs its plugin's init and its class_init here, once. */
static const char *const elements[] = {
  "rtspsrc", "rtpbin", "rtpsession", "rtpjitterbuffer", "rtpssrcdemux",
  "rtpptdemux", "udpsrc", "udpsink", "souphttpsrc", "multipartdemux",
  "uridecodebin", "decodebin", "typefind", "queue", "queue2", "multiqueue",
  "rtph264depay", "rtph265depay", "rtpjpegdepay", "h264parse", "h265parse",
  "jpegparse", "avdec_h264", "avdec_h265", "jpegdec", "qtdemux",
  "matroskademux", "filesrc", "v4l2src", "videotestsrc", "videoconvert",
  "videoscale", "capsfilter", "fakesink",
};

static void
warm_up(void)
{
  /* GIO's networking types, which rtspsrc (GstRTSPConnection), udpsrc and
   * libsoup create on their threads, and whose get_type() functions add
   * interfaces. */
  const GType interfaces[] = {
    G_TYPE_SOCKET_CONNECTABLE, G_TYPE_INITABLE, G_TYPE_DATAGRAM_BASED,
    G_TYPE_PROXY_RESOLVER, G_TYPE_PROXY, G_TYPE_POLLABLE_INPUT_STREAM,
    G_TYPE_POLLABLE_OUTPUT_STREAM,
  };
  const GType classes[] = {
    G_TYPE_SOCKET_ADDRESS, G_TYPE_INET_SOCKET_ADDRESS, G_TYPE_INET_ADDRESS,
    G_TYPE_NETWORK_ADDRESS, G_TYPE_NETWORK_SERVICE, G_TYPE_PROXY_ADDRESS,
    G_TYPE_SOCKET, G_TYPE_SOCKET_CLIENT, G_TYPE_SOCKET_CONNECTION,
    G_TYPE_TCP_CONNECTION, G_TYPE_SOCKET_LISTENER, G_TYPE_CANCELLABLE,
    G_TYPE_RESOLVER, G_TYPE_SOCKET_ADDRESS_ENUMERATOR,
    G_TYPE_PROXY_ADDRESS_ENUMERATOR,
  };
  for (gsize i = 0; i < G_N_ELEMENTS(interfaces); i++)
    g_type_default_interface_unref(g_type_default_interface_ref(interfaces[i]));
  for (gsize i = 0; i < G_N_ELEMENTS(classes); i++)
    g_type_class_unref(g_type_class_ref(classes[i]));
  for (gsize i = 0; i < G_N_ELEMENTS(elements); i++) {
    GstElement *e = gst_element_factory_make(elements[i], NULL);
    if (e)
      gst_object_unref(gst_object_ref_sink(e));
  }
}

void
pipeline_types_warm_up(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    gint64 t0 = g_get_monotonic_time();
    warm_up();
    g_debug("pipeline types warmed up in %.1f ms",
            (g_get_monotonic_time() - t0) / 1e3);
    g_once_init_leave(&done, 1);
  }
}
