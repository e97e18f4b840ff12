/* streamsight — cutting a pipeline off from a camera that will not let go.
 *
 * GStreamer 1.22's rtspsrc has no way to close its connection from outside
 * while its task reads (a camera that streams an endless RTSP body keeps it
 * reading, and its state change to NULL waits for that). Shutting the
 * socket down ends the read: the next recv() returns end of file, rtspsrc
 * gives up and the state change finishes. shutdown() leaves the descriptor
 * open, so the element still closes it itself and no descriptor number is
 * ever reused behind its back.
 */
#ifndef SS_SOCKET_CUT_H
#define SS_SOCKET_CUT_H

#include <gio/gio.h>

G_BEGIN_DECLS

/* Shuts down (both directions) every connected TCP socket of this process
 * whose peer is host:port. host is a numeric address or a name (resolved
 * here: may block for the resolver's timeout). Every connection of the
 * process to that address and port is cut, including other streams' to
 * the same camera endpoint: they share the camera's fate and reconnect.
 * Returns the number of sockets shut down (one already shut down counts
 * again while the kernel still knows its peer); 0 when the host does not
 * resolve. Any thread. */
guint socket_cut_peer(const char *host, guint16 port);

G_END_DECLS

#endif
