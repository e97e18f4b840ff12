#include "mjpeg-server.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gst/gst.h>

#define BOUNDARY "ssframe"

struct MjpegServer {
  int listen_fd;
  guint port;
  GBytes **frames;
  guint n_frames;
  gint64 period_us;
  gint64 stop_at_us;
  GThread *thread;
  gint stop;             /* atomic */
  guint64 sent;          /* atomic */
  gint64 first_sent_us;  /* atomic */
};

/* n_frames JPEGs from videotestsrc ! jpegenc ! appsink, pulled by its
 * action signal (no libgstapp needed). */
static GBytes **
encode_frames(int width, int height, guint n, GError **error)
{
  g_autofree char *desc = g_strdup_printf(
      "videotestsrc pattern=smpte horizontal-speed=8 num-buffers=%u ! "
      "video/x-raw,width=%d,height=%d ! jpegenc quality=90 ! "
      "appsink name=out sync=false", n, width, height);
  GstElement *pipe = gst_parse_launch(desc, error);
  if (!pipe)
    return NULL;
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipe), "out");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GBytes **frames = g_new0(GBytes *, n);
  guint got = 0;
  while (got < n) {
    GstSample *sample = NULL;
    g_signal_emit_by_name(out, "pull-sample", &sample);
    if (!sample)
      break;
    GstMapInfo map;
    GstBuffer *buf = gst_sample_get_buffer(sample);
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      frames[got++] = g_bytes_new(map.data, map.size);
      gst_buffer_unmap(buf, &map);
    }
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(pipe);
  if (got < n) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "encoded %u of %u frames", got, n);
    for (guint i = 0; i < got; i++)
      g_bytes_unref(frames[i]);
    g_free(frames);
    return NULL;
  }
  return frames;
}

static gboolean
send_all(int fd, const void *data, gsize len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    p += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* Reads the request head (up to an empty line, at most 8 KiB); FALSE when
 * the client left or sent too much. */
static gboolean
read_request(MjpegServer *m, int fd)
{
  char buf[8192];
  gsize have = 0;
  while (have < sizeof buf - 1) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, 100) <= 0) {
      if (g_atomic_int_get(&m->stop) || g_get_monotonic_time() > m->stop_at_us)
        return FALSE;
      continue;
    }
    ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
    if (n <= 0)
      return FALSE;
    have += (gsize)n;
    buf[have] = '\0';
    if (strstr(buf, "\r\n\r\n"))
      return TRUE;
  }
  return FALSE;
}

/* Serves one client until it leaves or the server stops. */
static void
serve_client(MjpegServer *m, int fd)
{
  static const char head[] =
      "HTTP/1.0 200 OK\r\n"
      "Content-Type: multipart/x-mixed-replace; boundary=" BOUNDARY "\r\n"
      "Cache-Control: no-cache\r\n"
      "Connection: close\r\n\r\n";
  if (!read_request(m, fd) || !send_all(fd, head, sizeof head - 1))
    return;
  gint64 next = g_get_monotonic_time();
  for (guint64 i = 0; !g_atomic_int_get(&m->stop); i++) {
    gint64 now = g_get_monotonic_time();
    if (now > m->stop_at_us)
      return;
    if (next > now)
      g_usleep((gulong)(next - now));
    next += m->period_us;
    gsize len;
    const guint8 *jpeg = g_bytes_get_data(m->frames[i % m->n_frames], &len);
    char part[160];
    int n = g_snprintf(part, sizeof part,
                       "--" BOUNDARY "\r\nContent-Type: image/jpeg\r\n"
                       "Content-Length: %zu\r\n\r\n", len);
    if (!send_all(fd, part, (gsize)n) || !send_all(fd, jpeg, len) ||
        !send_all(fd, "\r\n", 2))
      return;
    gint64 zero = 0;
    __atomic_compare_exchange_n(&m->first_sent_us, &zero,
                                g_get_monotonic_time(), FALSE,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->sent, 1, __ATOMIC_RELAXED);
  }
}

static gpointer
server_thread(gpointer p)
{
  MjpegServer *m = p;
  while (!g_atomic_int_get(&m->stop) &&
         g_get_monotonic_time() < m->stop_at_us) {
    struct pollfd pfd = { m->listen_fd, POLLIN, 0 };
    if (poll(&pfd, 1, 100) <= 0)
      continue;
    int fd = accept(m->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    serve_client(m, fd);
    close(fd);
  }
  return NULL;
}

MjpegServer *
mjpeg_server_new(int width, int height, guint n_frames, double fps,
                 double max_seconds, GError **error)
{
  g_return_val_if_fail(n_frames > 0 && fps > 0, NULL);
  GBytes **frames = encode_frames(width, height, n_frames, error);
  if (!frames)
    return NULL;
  MjpegServer *m = g_new0(MjpegServer, 1);
  m->frames = frames;
  m->n_frames = n_frames;
  m->period_us = (gint64)(G_USEC_PER_SEC / fps);
  m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t alen = sizeof a;
  if (m->listen_fd < 0 || bind(m->listen_fd, (struct sockaddr *)&a,
                               sizeof a) != 0 ||
      listen(m->listen_fd, 4) != 0 ||
      getsockname(m->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                "listen on 127.0.0.1: %s", g_strerror(errno));
    mjpeg_server_free(m);
    return NULL;
  }
  m->port = ntohs(a.sin_port);
  m->stop_at_us = g_get_monotonic_time() +
                  (gint64)(max_seconds * G_USEC_PER_SEC);
  m->thread = g_thread_new("mjpeg-server", server_thread, m);
  return m;
}

guint
mjpeg_server_port(MjpegServer *m)
{
  return m->port;
}

char *
mjpeg_server_uri(MjpegServer *m)
{
  return g_strdup_printf("http://127.0.0.1:%u/video.mjpg", m->port);
}

gsize
mjpeg_server_frame_bytes(MjpegServer *m)
{
  gsize total = 0;
  for (guint i = 0; i < m->n_frames; i++)
    total += g_bytes_get_size(m->frames[i]);
  return total / m->n_frames;
}

guint64
mjpeg_server_frames_sent(MjpegServer *m)
{
  return __atomic_load_n(&m->sent, __ATOMIC_RELAXED);
}

gint64
mjpeg_server_first_sent_us(MjpegServer *m)
{
  return __atomic_load_n(&m->first_sent_us, __ATOMIC_RELAXED);
}

void
mjpeg_server_free(MjpegServer *m)
{
  if (!m)
    return;
  g_atomic_int_set(&m->stop, 1);
  if (m->thread)
    g_thread_join(m->thread);
  if (m->listen_fd >= 0)
    close(m->listen_fd);
  for (guint i = 0; i < m->n_frames; i++)
    if (m->frames[i])
      g_bytes_unref(m->frames[i]);
  g_free(m->frames);
  g_free(m);
}
