/* streamsight — a pipeline's state changes, off the main loop and with a
 * deadline.
 *
 * rtspsrc and souphttpsrc talk to strangers, and a stranger can keep a state
 * change waiting for good: with GStreamer 1.22, a "camera" that answers
 * DESCRIBE with "Content-Length: 999999999" and then streams bytes (or sends
 * header lines without end) keeps rtspsrc reading, and its state change to
 * NULL waits for that read, which its close command does not interrupt. Run
 * on the main loop, that wait froze every stream and every request that goes
 * through the main loop.
 *
 * So each pipeline gets a thread of its own, a PipelineRunner, which makes
 * its state changes in the order asked (PLAYING, then NULL). Stopping hands the pipeline over: the
 * owner forgets it at once, and the RunnerSet's deadline thread watches it.
 * At cut_after it runs the owner's cut hook (the stream shuts its sockets to
 * the camera down, which ends such reads), and at the deadline the pipeline
 * is abandoned: counted, left to its thread to finish (or never), and the
 * owner is told. A runner that finishes after being abandoned still frees
 * everything.
 *
 * Threads: every function may be called from any thread; the hooks say
 * where they run.
 */
#ifndef SS_PIPELINE_RUNNER_H
#define SS_PIPELINE_RUNNER_H

#include <glib.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/* The runners of one registry: counts, and the thread that watches stop
 * deadlines (started with the first stop). Reference counted: every runner
 * holds one, so a set outlives its stuck runners. */
typedef struct RunnerSet RunnerSet;

typedef struct {
  guint running;           /* runners whose thread has not finished */
  guint stopping;          /* asked to stop, within their deadline */
  guint abandoned;         /* past their deadline and still not stopped */
  guint64 abandoned_total; /* ever abandoned, including those that finished
                            * later */
  guint64 cut_total;       /* stops whose cut hook cut something */
} RunnerSetStats;

RunnerSet *runner_set_new(void);
RunnerSet *runner_set_ref(RunnerSet *set);
void runner_set_unref(RunnerSet *set); /* NULL allowed */
void runner_set_stats(RunnerSet *set, RunnerSetStats *out);
/* Waits until every runner of the set has either finished or been abandoned,
 * or timeout_us has passed. Returns the number of runners still running
 * (abandoned ones included). Must not be called from a runner's hooks. */
guint runner_set_wait(RunnerSet *set, gint64 timeout_us);

typedef struct PipelineRunner PipelineRunner;

/* Takes a reference on pipeline and starts the runner's thread. NULL with
 * *error set when no thread can be created. The caller owns the returned
 * runner until it passes it to pipeline_runner_stop(). */
PipelineRunner *pipeline_runner_new(RunnerSet *set, GstElement *pipeline,
                                    GError **error);

/* Asks for PLAYING; returns at once. Call at most once, before
 * pipeline_runner_stop. */
void pipeline_runner_play(PipelineRunner *r);
/* TRUE once gst_element_set_state(PLAYING) has returned, with what it
 * returned in *ret. (Polled by the owner, so that no callback is left
 * pending on a context that may no longer run.) */
gboolean pipeline_runner_play_result(PipelineRunner *r,
                                     GstStateChangeReturn *ret);

typedef struct {
  /* The deadline thread, at cut_after if the pipeline has not stopped by
   * then: make it stop (close its network connections). Returns TRUE when
   * it cut something (counted in cut_total). May block a little (name
   * lookups); NULL for none. */
  gboolean (*cut)(gpointer user);
  /* The deadline thread, at the deadline if it has still not stopped. */
  void (*abandoned)(gpointer user);
  /* The runner's thread, once the pipeline is in NULL (was_abandoned: the
   * abandoned hook ran before). Never runs for a pipeline stuck for good. */
  void (*finished)(gpointer user, gboolean was_abandoned);
} PipelineRunnerHooks;

/* Asks for NULL and gives the runner up (the caller must not use r after
 * this): its thread sets NULL after any pending PLAYING, drops the pipeline
 * and frees itself. hooks is copied; user is kept until the runner is freed
 * (never, for a pipeline stuck for good), then destroy(user). Times are
 * from now. Returns at once. */
void pipeline_runner_stop(PipelineRunner *r, gint64 cut_after_us,
                          gint64 deadline_us, const PipelineRunnerHooks *hooks,
                          gpointer user, GDestroyNotify destroy);

G_END_DECLS

#endif
