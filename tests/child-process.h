/* streamsight — child processes for the tests that run the built binary
 * (or another server) and talk to it over HTTP on 127.0.0.1. */
#ifndef SS_CHILD_PROCESS_H
#define SS_CHILD_PROCESS_H

#include <glib.h>
#include <sys/types.h>

typedef struct {
  pid_t pid;
  char *log; /* stdout and stderr, appended */
} Child;

/* Starts argv with stdout and stderr appended to log (a file, so that a
 * chatty child never blocks on a full pipe). envp: NULL = ours. */
gboolean child_spawn(Child *c, char **argv, char **envp, const char *log);
/* Sends sig (if not 0) and waits up to timeout_s; then SIGKILL. Returns
 * the exit status, or -1 for a death by signal or a timeout. */
int child_finish(Child *c, int sig, double timeout_s);
gboolean child_running(Child *c);
/* The last 3000 bytes of the log (new string). */
char *child_log_tail(Child *c);
void child_clear(Child *c);
/* The port of the server's "listening on http://127.0.0.1:PORT/" line in
 * its log, or 0 after timeout_s or when the child exits. */
guint wait_listening(Child *c, double timeout_s);

/* A free TCP port on 127.0.0.1 (bound and released: another process could
 * take it in between, unlikely on a test machine). */
guint free_port(void);
/* A connected socket to 127.0.0.1:port with send/receive timeouts, or -1. */
int connect_port(guint port, int timeout_s);
/* One request on a new connection (Connection: close); FALSE when the
 * server did not answer (refused, reset, cut off): the request may or may
 * not have been applied. *status is 0 then. *out_body (if not NULL): the
 * body, new string. */
gboolean http_request(guint port, const char *method, const char *target,
                      const char *body, int *status, char **out_body);

#endif
