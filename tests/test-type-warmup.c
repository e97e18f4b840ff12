/* streamsight — tests for pipeline/type-warmup.c: the types stream
 * pipelines meet on their own threads are registered before those threads
 * exist.
 *
 * The deadlock it prevents needs a fresh process, so the race runs in
 * children of this binary (`--race-child`): each initialises GStreamer,
 * warms the types up as registry_new() does, then races the two first uses
 * of the deadlock seen in the server: its main thread registers GSocket (the
 * soup plugin's init does) while another thread creates a GSocketClient
 * (rtspsrc's first connection does). Without the warm-up about one such
 * process in eight never ends (13 of 100 here); in the server it was three
 * of 44 runs of test-secrets under ASan on a loaded machine.
 */
#include <check.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "kernels/kernels.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "pool.h"
#include "registry.h"
#include "testutil.h"
#include "type-warmup.h"

/* 1 - 0.87^30: a warm-up that misses these types fails this test 98 times
 * in 100. */
#define RACE_CHILDREN 30
#define RACE_CHILD_S 10

static char self_exe[4096];

/* ---- the child ---- */

static volatile gint go;

static gpointer
socket_client_thread(gpointer p)
{
  (void)p;
  while (!g_atomic_int_get(&go))
    ;
  g_object_unref(g_socket_client_new());
  return NULL;
}

/* Exit status 0: both first uses finished. */
static int
race_child(void)
{
  GThread *t;
  GstElement *e;
  gst_init(NULL, NULL);
  pipeline_types_warm_up();
  t = g_thread_new("socket-client", socket_client_thread, NULL);
  g_usleep(1000);
  g_atomic_int_set(&go, 1);
  g_type_ensure(g_socket_get_type());
  e = gst_element_factory_make("souphttpsrc", NULL);
  if (e)
    gst_object_unref(gst_object_ref_sink(e));
  g_thread_join(t);
  return 0;
}

/* ---- the tests ---- */

START_TEST(test_types_ready_after_registry_new)
{
  const char *classes[] = { "GSocketAddress", "GInetSocketAddress", "GSocket",
                            "GSocketClient", "GSocketConnection" };
  const char *elements[] = { "rtspsrc", "souphttpsrc", "uridecodebin",
                             "multipartdemux", "udpsrc" };
  struct ss_model *m = NULL;
  struct ss_engine *engine = NULL;
  struct ss_pool *pool = NULL;
  struct ss_error err = { 0 };
  Registry *r;

  /* A registry, as the server creates one: it needs an engine and pool. */
  kern_init();
  ck_assert_msg(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                                MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err) == 0,
                "%s", err.message);
  tu_fill_model_weights(m, 1);
  ck_assert_msg(engine_new(m, KERN_ISA_AUTO, &engine, &err) == 0, "%s",
                err.message);
  model_unref(m);
  ck_assert_msg(pool_new(engine, 1, 4, 0, &pool, &err) == 0, "%s",
                err.message);
  r = registry_new(g_main_context_default(), engine, pool, 4);
  ck_assert_ptr_nonnull(r);
  for (gsize i = 0; i < G_N_ELEMENTS(classes); i++) {
    GType t = g_type_from_name(classes[i]);
    ck_assert_msg(t != 0, "%s is not registered", classes[i]);
    ck_assert_msg(g_type_class_peek(t) != NULL,
                  "%s's class is not initialised", classes[i]);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(elements); i++) {
    GstElementFactory *f = gst_element_factory_find(elements[i]);
    GType t;
    if (!f) {
      printf("SKIP: %s is not installed\n", elements[i]);
      continue;
    }
    /* The factory knows its type once its plugin is loaded. */
    t = gst_element_factory_get_element_type(f);
    ck_assert_msg(t != 0, "%s's plugin is not loaded", elements[i]);
    ck_assert_msg(g_type_class_peek(t) != NULL,
                  "%s's class is not initialised", elements[i]);
    gst_object_unref(f);
  }
  registry_free(r);
  pool_free(pool);
  engine_free(engine);
}
END_TEST

START_TEST(test_fresh_processes_do_not_deadlock)
{
  int stuck = 0, failed = 0;
  for (int i = 0; i < RACE_CHILDREN; i++) {
    char *argv[] = { self_exe, "--race-child", NULL };
    GPid pid;
    int status = 0;
    gint64 t0 = g_get_monotonic_time();
    gboolean done = FALSE;
    GError *err = NULL;
    ck_assert_msg(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                NULL, NULL, &pid, &err),
                  "spawn: %s", err ? err->message : "?");
    while (g_get_monotonic_time() - t0 < RACE_CHILD_S * G_USEC_PER_SEC) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        done = TRUE;
        break;
      }
      g_usleep(20000);
    }
    if (!done) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      stuck++;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed++;
    }
    g_spawn_close_pid(pid);
  }
  ck_assert_msg(stuck == 0, "%d of %d fresh processes were still stuck "
                "after %d s", stuck, RACE_CHILDREN, RACE_CHILD_S);
  ck_assert_msg(failed == 0, "%d of %d fresh processes failed", failed,
                RACE_CHILDREN);
}
END_TEST

static Suite *
warmup_suite(void)
{
  Suite *s = suite_create("type-warmup");
  TCase *tc = tcase_create("warmup");
  tcase_set_timeout(tc, RACE_CHILDREN * (RACE_CHILD_S + 5));
  tcase_add_test(tc, test_fresh_processes_do_not_deadlock);
  tcase_add_test(tc, test_types_ready_after_registry_new);
  suite_add_tcase(s, tc);
  return s;
}

int
main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--race-child") == 0)
    return race_child();
  if (!realpath(argv[0], self_exe))
    g_strlcpy(self_exe, argv[0], sizeof self_exe);
  gst_init(NULL, NULL);
  return tu_run_suite(warmup_suite());
}
