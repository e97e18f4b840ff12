/* streamsight — a hostile "camera" for fault tests: a plain TCP listener on
 * 127.0.0.1 that answers every connection with a response built to make a
 * client buffer without end (an RTSP or HTTP 200 OK announcing a
 * 999999999-byte body, then random bytes; or header lines without end), or
 * an RTSP session description with a thousand media.
 *
 * Bounded: it sends at most max_bytes in total (all connections together),
 * at most rate_bytes_per_s, and for at most max_seconds after it was
 * started; then it closes every connection and stops by itself.
 */
#ifndef SS_HOSTILE_SERVER_H
#define SS_HOSTILE_SERVER_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HOSTILE_RTSP_ENDLESS_BODY,
  HOSTILE_RTSP_ENDLESS_HEADERS,
  HOSTILE_HTTP_ENDLESS_BODY,
  HOSTILE_HTTP_ENDLESS_HEADERS,
  /* An RTSP "camera" whose DESCRIBE answer is a valid SDP of
   * HOSTILE_SDP_MEDIA video media, and whose SETUP answer has no Transport
   * (rtspsrc fails and tries again: many teardowns of a long stream list). */
  HOSTILE_RTSP_SDP_MEDIA,
} HostileKind;

#define HOSTILE_SDP_MEDIA 1000

typedef struct {
  HostileKind kind;
  guint64 max_bytes;
  double rate_bytes_per_s;
  double max_seconds;
} HostileOptions;

typedef struct HostileServer HostileServer;

/* Listens on 127.0.0.1 (a free port) and serves on threads of its own. */
HostileServer *hostile_server_new(const HostileOptions *o);
guint hostile_server_port(HostileServer *h);
/* "rtsp://127.0.0.1:PORT/cam" or "http://127.0.0.1:PORT/cam.mp4". */
char *hostile_server_uri(HostileServer *h);
guint64 hostile_server_bytes_sent(HostileServer *h);
guint hostile_server_connections(HostileServer *h);
/* Stops (if it has not stopped by itself) and frees; NULL allowed. */
void hostile_server_free(HostileServer *h);

G_END_DECLS

#endif
