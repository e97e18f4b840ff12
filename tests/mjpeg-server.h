/* streamsight — an MJPEG-over-HTTP "camera" for tests, like the cheap IP
 * cameras and ESP32-CAM boards: GET anything on 127.0.0.1:PORT is answered
 * with multipart/x-mixed-replace, one JPEG part every 1/fps s, from a
 * thread of its own. One client at a time (the next waits for the
 * current one to leave).
 *
 * Bounded: it stops by itself max_seconds after it was started.
 */
#ifndef SS_MJPEG_SERVER_H
#define SS_MJPEG_SERVER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct MjpegServer MjpegServer;

/* Encodes n_frames distinct width x height JPEGs (GStreamer's jpegenc, a
 * moving SMPTE pattern) and listens on a free port of 127.0.0.1. NULL with
 * a message in *error when an element is missing. */
MjpegServer *mjpeg_server_new(int width, int height, guint n_frames,
                              double fps, double max_seconds,
                              GError **error);
guint mjpeg_server_port(MjpegServer *m);
/* "http://127.0.0.1:PORT/video.mjpg" (g_free). */
char *mjpeg_server_uri(MjpegServer *m);
/* Mean size of the frames, bytes. */
gsize mjpeg_server_frame_bytes(MjpegServer *m);
/* Frames sent so far (all clients) and the monotonic time the first was
 * sent (0: none yet). Any thread. */
guint64 mjpeg_server_frames_sent(MjpegServer *m);
gint64 mjpeg_server_first_sent_us(MjpegServer *m);
/* Stops and frees; NULL allowed. */
void mjpeg_server_free(MjpegServer *m);

G_END_DECLS

#endif
