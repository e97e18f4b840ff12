/* streamsight — `streamsight serve`'s command line (serve.c). */
#ifndef SS_SERVE_ARGS_H
#define SS_SERVE_ARGS_H

#include <glib.h>

/* What serve's command line asked for (the strings are argv's). */
typedef struct {
  const char *config_path, *port, *bind;
  gboolean check_only;
} ServeArgs;

/* Parses serve's options into *a (-v takes effect at once). Returns -1 to
 * go on, or the exit status after --help or a usage error. */
int serve_parse_args(int argc, char **argv, ServeArgs *a);

#endif
