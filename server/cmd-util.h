/* streamsight — what the one-shot subcommands (classify, embed, train)
 * share: their usage errors, the values of their options, the kernel check
 * and the model they load. Every message starts "streamsight CMD: ", where
 * cmd is the subcommand's name. Main thread only. */
#ifndef SS_CMD_UTIL_H
#define SS_CMD_UTIL_H

#include <glib.h>

#include "engine.h"
#include "image-classify.h"
#include "kernels/kernels.h"
#include "model.h"

/* The exit status of usage and model errors. */
#define CMD_EXIT_USAGE 2

/* Prints "streamsight CMD: MESSAGE" and the --help hint to stderr; returns
 * CMD_EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* The usage error for what getopt_long returned when it did not know the
 * option (c '?') or found no argument (c ':'; the optstring starts with
 * ':'): reads argv[optind - 1]. Returns CMD_EXIT_USAGE. */
int cmd_getopt_error(const char *cmd, int c, char **argv);

/* Option values. Each returns 0 with *out set, or prints the usage error
 * "OPT: 'ARG' is not WHAT" and returns CMD_EXIT_USAGE. */
/* A whole decimal number in min..max. */
int cmd_opt_long(const char *cmd, const char *opt, const char *arg, long min,
                 long max, const char *what, long *out);
/* A number in (above, max]: above itself is refused. */
int cmd_opt_double(const char *cmd, const char *opt, const char *arg,
                   double above, double max, const char *what, double *out);
/* --crop: a fraction in (0, 1]. */
int cmd_opt_crop(const char *cmd, const char *arg, float *out);
/* --kernels: ref, avx2 or auto (kern_isa_from_name). */
int cmd_opt_kernels(const char *cmd, const char *arg, enum kern_isa *out);

/* Initialises the kernels and jansson's hash seed, then checks that the
 * chosen kernels run here. Returns 0, or prints why not and returns
 * CMD_EXIT_USAGE. */
int cmd_init_kernels(const char *cmd, enum kern_isa isa);

/* A model, its engine and the classifier over it. */
struct cmd_model {
  struct ss_model *model;
  struct ss_engine *engine;
  ImageClassifier *clf;
};

/* Loads the model file at path (with the class names of the file labels
 * when not NULL), its engine with eo, and a classifier. Returns 0, or
 * prints why not ("--model PATH: reason", "--labels FILE: reason"), leaves
 * *m empty and returns -1. */
int cmd_model_load(const char *cmd, const char *path, const char *labels,
                   const struct engine_options *eo, struct cmd_model *m);
/* Frees what cmd_model_load gave; an empty *m does nothing. */
void cmd_model_clear(struct cmd_model *m);

#endif
