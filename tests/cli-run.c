#include "cli-run.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void
cli_run(struct cli_run *r, const char *first, ...)
{
  const char *exe = getenv("SS_STREAMSIGHT_EXE");
  ck_assert_msg(exe && *exe, "SS_STREAMSIGHT_EXE is not set");
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)exe);
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (gpointer)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  GError *err = NULL;
  int wait_status = 0;
  memset(r, 0, sizeof *r);
  ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                             G_SPAWN_DEFAULT, NULL, NULL, &r->out, &r->err,
                             &wait_status, &err),
                "spawning %s: %s", exe, err ? err->message : "");
  g_ptr_array_free(argv, TRUE);
  r->status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

void
cli_run_free(struct cli_run *r)
{
  g_free(r->out);
  g_free(r->err);
}
