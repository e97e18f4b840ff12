/* streamsight — an RTSP server inside a test process (gst-rtsp-server on
 * 127.0.0.1), running on its own thread and main context. It can be stopped
 * (listening socket closed, clients and sessions dropped) and started again
 * on the same port, as a camera that reboots.
 */
#ifndef SS_RTSP_TEST_SERVER_H
#define SS_RTSP_TEST_SERVER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  /* gst-launch description of the media, NULL for the default: live
   * videotestsrc 320x240@15 -> x264enc tune=zerolatency -> rtph264pay
   * name=pay0. */
  const char *launch;
  /* Basic auth when user is set. */
  const char *user, *password;
  /* GstRTSPLowerTrans mask the server accepts, 0 = UDP and TCP. */
  int protocols;
  /* 0 = a free port chosen by the kernel. */
  guint port;
  /* Mount point, NULL = "/test". */
  const char *path;
} RtspTestServerOptions;

typedef struct RtspTestServer RtspTestServer;

/* Starts the server (its thread, context, listening socket). NULL and
 * *error set on failure (e.g. the port is in use). opts is copied. */
RtspTestServer *rtsp_test_server_new(const RtspTestServerOptions *opts,
                                     GError **error);
/* The bound port (stays the same across stop/start). */
guint rtsp_test_server_port(RtspTestServer *s);
/* "rtsp://[userinfo@]127.0.0.1:port/path" (newly allocated); userinfo is
 * inserted verbatim (already percent-encoded), NULL for none. */
char *rtsp_test_server_uri(RtspTestServer *s, const char *userinfo);
/* Closes the listening socket and drops every client and session. */
void rtsp_test_server_stop(RtspTestServer *s);
/* Listens again on the same port. */
gboolean rtsp_test_server_start(RtspTestServer *s, GError **error);
/* A camera that stays connected but stops sending (TRUE) or sends again:
 * drops every buffer at the "valve" element of the media (the default
 * launch line has one). */
void rtsp_test_server_set_stalled(RtspTestServer *s, gboolean stalled);
/* Sets a property of the element called `element` in the media, from a
 * string as gst-launch parses it (e.g. property "caps", value
 * "video/x-raw,width=320,height=240,framerate=15/1" on a capsfilter): in
 * every media now, and in every media configured later (a restarted camera
 * keeps it). Elements missing from the launch line are skipped. A later
 * call for the same element and property replaces the value. */
void rtsp_test_server_set_element_arg(RtspTestServer *s, const char *element,
                                      const char *property,
                                      const char *value);
/* A camera whose encoder output is damaged on the way: each RTP packet
 * leaving "pay0" that carries H.264 slice data (a single slice NAL unit or
 * a fragment of one) is hit with probability rate, and a hit flips `bits`
 * random bits of the slice bytes after the NAL (or FU) header, so the RTP
 * and NAL framing stay intact and only the coded picture is damaged.
 * Parameter sets and SEI pass untouched. seed makes the damage repeatable;
 * rate 0 turns it off. Applies to every media, now and later. */
void rtsp_test_server_set_corruption(RtspTestServer *s, double rate,
                                     guint bits, guint32 seed);
/* RTP packets damaged so far (since the server was created). */
guint64 rtsp_test_server_n_corrupted(RtspTestServer *s);
/* Number of clients currently connected. */
guint rtsp_test_server_n_clients(RtspTestServer *s);
/* Stops and frees; NULL is allowed. */
void rtsp_test_server_free(RtspTestServer *s);

G_END_DECLS

#endif
