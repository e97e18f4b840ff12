/* streamsight — running the built streamsight binary (SS_STREAMSIGHT_EXE,
 * set by meson test) from a test and keeping what it printed: the suites
 * of its commands (test-classify, test-train) share it. */
#ifndef SS_CLI_RUN_H
#define SS_CLI_RUN_H

#include <glib.h>

G_BEGIN_DECLS

struct cli_run {
  int status; /* exit status, or -1 if it did not exit normally */
  char *out;  /* stdout (g_free, by cli_run_free) */
  char *err;  /* stderr */
};

/* Runs the binary with the arguments after argv0 (NULL-terminated list),
 * waits for it and fills r. Check-asserts that SS_STREAMSIGHT_EXE is set
 * and that the process could be spawned. */
void cli_run(struct cli_run *r, const char *first, ...)
    G_GNUC_NULL_TERMINATED;
void cli_run_free(struct cli_run *r);

G_END_DECLS

#endif
