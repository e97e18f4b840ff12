/* streamsight — the process watchdog: exits when the server stops serving.
 *
 * Everything that could block for good now runs off the main loop and off
 * the HTTP threads (pipeline-runner.h), but if something ever does wedge
 * one of them, a process that still holds its port and answers nothing is
 * the worst outcome: the orchestrator sees it alive. So a thread of its own
 * watches (1) the main loop, through a heartbeat source on its context, and
 * (2) tasks the HTTP threads announce (one per request handler), and when
 * the loop has not iterated for loop_stall_s or one task has run for
 * task_stall_s it logs what is stuck and exits with WATCHDOG_EXIT_CODE, for
 * Docker (restart policy) or systemd (Restart=on-failure) to start the
 * server again on the persisted config. The thresholds are far above what a
 * loaded machine produces (the main loop runs short callbacks only; an
 * iteration takes milliseconds), so it never fires on mere load. A pause of
 * the whole process (`docker pause`, SIGSTOP, a debugger), seen as the
 * watchdog's own thread not running for 5 s or more, is not counted.
 *
 * During shutdown the loop check is off and a deadline replaces it: past
 * it, the process exits 0 at once (a SIGTERM must end the process within
 * seconds whatever is stuck; what was stuck is logged). With
 * shutdown_on_signal_s set, the watchdog also hears SIGTERM and SIGINT
 * itself (on a thread of its own, beside the main loop's own handler), so
 * the deadline starts even if the main loop is wedged and never sees them.
 */
#ifndef SS_WATCHDOG_H
#define SS_WATCHDOG_H

#include <glib.h>

G_BEGIN_DECLS

/* EX_SOFTWARE (sysexits.h): an internal error; any non-zero status makes
 * Docker and systemd restart the process. */
#define WATCHDOG_EXIT_CODE 70

typedef struct Watchdog Watchdog;

/* What happens when the watchdog fires: exit(status) by default; tests
 * pass their own. why is a one-line description. Called on the watchdog's
 * thread, at most once. */
typedef void (*WatchdogFireFunc)(const char *why, int status, gpointer user);

typedef struct {
  double loop_stall_s; /* main loop silent this long: fire (0: not watched) */
  double task_stall_s; /* one task running this long: fire (0: not watched) */
  double check_s;      /* how often to look, e.g. 1 */
  /* > 0: on SIGTERM or SIGINT, watchdog_shutdown(this) (see above). */
  double shutdown_on_signal_s;
  WatchdogFireFunc fire; /* NULL: log with g_critical and _exit(status) */
  gpointer fire_user;
} WatchdogOptions;

/* Starts watching ctx (a heartbeat source attached to it) and starts the
 * watchdog thread. ctx is referenced. */
Watchdog *watchdog_new(GMainContext *ctx, const WatchdogOptions *o);
/* Stops watching and joins the thread. NULL allowed. */
void watchdog_free(Watchdog *w);

/* A task starts on the calling thread (e.g. "GET /api/v1/streams"; what is
 * copied, up to 80 bytes). Returns a token for watchdog_task_end, 0 when
 * every slot is taken (the task is then not watched). Any thread; w may be
 * NULL (returns 0). */
guint watchdog_task_begin(Watchdog *w, const char *what);
void watchdog_task_end(Watchdog *w, guint token); /* 0 and NULL allowed */

/* The main loop has quit on purpose: stop watching it, and fire with
 * status 0 if the process is still there timeout_s from now (or at an
 * earlier deadline already set). */
void watchdog_shutdown(Watchdog *w, double timeout_s);

G_END_DECLS

#endif
