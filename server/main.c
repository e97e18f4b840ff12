/* streamsight — the command-line entry point: a small subcommand dispatcher.
 * Each subcommand parses its own options and returns the exit status. */
#include <stdio.h>
#include <string.h>

#include "cmd-classify.h"
#include "cmd-embed.h"
#include "cmd-train.h"
#include "serve.h"

#ifndef SS_VERSION
#define SS_VERSION "unknown"
#endif

struct command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
  { "serve", "run the stream server and its HTTP API (the default)",
    cmd_serve },
  { "classify", "classify still images (JPEG, PNG, BMP) with a model",
    cmd_classify },
  { "embed", "print the pooled features of still images (JSON lines)",
    cmd_embed },
  { "train", "teach a head (custom classes) from folders of example images",
    cmd_train },
  { "healthcheck", "exit 0 if the server answers GET /healthz (for Docker)",
    cmd_healthcheck },
};

static void
usage(FILE *out)
{
  fprintf(out,
          "Usage: streamsight COMMAND [OPTION...]\n"
          "       streamsight [serve] [--config FILE] [--port N] "
          "[--bind ADDR]\n"
          "       streamsight --help | --version\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'streamsight COMMAND --help' describes a command's "
               "options.\n");
}

/* Under AddressSanitizer (the sanitizer test build): record allocation
 * stacks with the slow unwinder. GLib and GStreamer are built without frame
 * pointers, so the fast one stops at g_malloc and LeakSanitizer cannot match
 * GLib's deliberate one-time leak (its first quark block, dropped when the
 * quark table grows) against tests/sanitizers/lsan.supp ("_dl_init"); the
 * binary would then fail every leak-checked run. Unused without ASan. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
  return "fast_unwind_on_malloc=0";
}

int
main(int argc, char **argv)
{
  /* No command, or options first: the default command, serve. */
  if (argc < 2)
    return cmd_serve(argc, argv);
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    printf("streamsight %s\n", SS_VERSION);
    return 0;
  }
  if (cmd[0] == '-')
    return cmd_serve(argc, argv);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "streamsight: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
