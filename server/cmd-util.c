/* streamsight — what the one-shot subcommands share (cmd-util.h). */
#include "cmd-util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "error.h"

int
cmd_usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "streamsight %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'streamsight %s --help'.\n", cmd);
  return CMD_EXIT_USAGE;
}

int
cmd_getopt_error(const char *cmd, int c, char **argv)
{
  if (c == ':')
    return cmd_usage_error(cmd, "%s needs an argument", argv[optind - 1]);
  return cmd_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int
cmd_opt_long(const char *cmd, const char *opt, const char *arg, long min,
             long max, const char *what, long *out)
{
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end || v < min || v > max)
    return cmd_usage_error(cmd, "%s: '%s' is not %s", opt, arg, what);
  *out = v;
  return 0;
}

int
cmd_opt_double(const char *cmd, const char *opt, const char *arg,
               double above, double max, const char *what, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  /* Written so that NaN fails the range test. */
  if (errno || end == arg || *end || !(v > above && v <= max))
    return cmd_usage_error(cmd, "%s: '%s' is not %s", opt, arg, what);
  *out = v;
  return 0;
}

int
cmd_opt_crop(const char *cmd, const char *arg, float *out)
{
  double v;
  int rc = cmd_opt_double(cmd, "--crop", arg, 0.0, 1.0, "a fraction in (0, 1]",
                          &v);
  if (rc == 0)
    *out = (float)v;
  return rc;
}

int
cmd_opt_kernels(const char *cmd, const char *arg, enum kern_isa *out)
{
  if (kern_isa_from_name(arg, out) != 0)
    return cmd_usage_error(cmd, "--kernels: '%s' is not one of " KERN_ISA_NAMES,
                           arg);
  return 0;
}

int
cmd_init_kernels(const char *cmd, enum kern_isa isa)
{
  kern_init();
  json_object_seed(0);
  if (isa != KERN_ISA_AUTO && !kern_ops_get(isa)) {
    fprintf(stderr, "streamsight %s: --kernels %s: not available on this CPU "
                    "or build\n",
            cmd, kern_isa_name(isa));
    return CMD_EXIT_USAGE;
  }
  return 0;
}

int
cmd_model_load(const char *cmd, const char *path, const char *labels,
               const struct engine_options *eo, struct cmd_model *m)
{
  struct ss_error err = { 0 };
  GError *gerr = NULL;
  *m = (struct cmd_model){ 0 };
  if (model_load(path, &m->model, &err) != 0) {
    fprintf(stderr, "streamsight %s: --model %s: %s\n", cmd, path,
            err.message);
    goto fail;
  }
  if (labels && model_set_labels_file(m->model, labels, &err) != 0) {
    fprintf(stderr, "streamsight %s: --labels %s: %s\n", cmd, labels,
            err.message);
    goto fail;
  }
  if (engine_new_opts(m->model, eo, &m->engine, &err) != 0) {
    fprintf(stderr, "streamsight %s: --model %s: %s\n", cmd, path,
            err.message);
    goto fail;
  }
  m->clf = image_classifier_new(m->engine, &gerr);
  if (!m->clf) {
    fprintf(stderr, "streamsight %s: %s\n", cmd, gerr->message);
    g_clear_error(&gerr);
    goto fail;
  }
  return 0;

fail:
  cmd_model_clear(m);
  return -1;
}

void
cmd_model_clear(struct cmd_model *m)
{
  image_classifier_free(m->clf);
  engine_free(m->engine);
  model_unref(m->model);
  *m = (struct cmd_model){ 0 };
}
