/* streamsight — `streamsight serve`'s command line (serve-args.h). */
#include "serve-args.h"

#include <getopt.h>
#include <stdio.h>

static void
serve_usage(FILE *out)
{
  fprintf(out,
          "Usage: streamsight [serve] [OPTION...]\n"
          "\n"
          "Runs the stream server: one pipeline per camera, inference on a "
          "thread pool,\n"
          "the REST API over HTTP.\n"
          "\n"
          "  -c, --config FILE   JSON config (default: $STREAMSIGHT_CONFIG; "
          "none: built-in\n"
          "                      defaults, streams added over the API are "
          "not saved)\n"
          "  -p, --port N        TCP port, 0 = any free port (overrides "
          "config and env)\n"
          "  -b, --bind ADDR     numeric listen address (overrides config "
          "and env)\n"
          "  -v, --verbose       debug logging (every request, "
          "libmicrohttpd)\n"
          "      --check-config  validate the config file and the "
          "environment, say what\n"
          "                      they give (streams, shard), and exit: "
          "0 valid, 2 not\n"
          "  -h, --help          this help\n"
          "\n"
          "Environment: STREAMSIGHT_CONFIG, STREAMSIGHT_PORT, "
          "STREAMSIGHT_BIND,\n"
          "STREAMSIGHT_THREADS, STREAMSIGHT_MODEL, STREAMSIGHT_LABELS, "
          "STREAMSIGHT_TOKEN,\n"
          "STREAMSIGHT_SHARD (K/N) or STREAMSIGHT_SHARDS (N, K from "
          "$HOSTNAME's -K)\n"
          "(see config/README.md). Stops cleanly on SIGINT or SIGTERM.\n");
}

int
serve_parse_args(int argc, char **argv, ServeArgs *a)
{
  static const struct option longopts[] = {
    { "config", required_argument, NULL, 'c' },
    { "port", required_argument, NULL, 'p' },
    { "bind", required_argument, NULL, 'b' },
    { "verbose", no_argument, NULL, 'v' },
    { "check-config", no_argument, NULL, 'C' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  *a = (ServeArgs){ 0 };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:p:b:vh", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': a->config_path = optarg; break;
    case 'p': a->port = optarg; break;
    case 'b': a->bind = optarg; break;
    case 'C': a->check_only = TRUE; break;
    case 'v': g_log_set_debug_enabled(TRUE); break;
    case 'h': serve_usage(stdout); return 0;
    default:
      fprintf(stderr, "Try 'streamsight serve --help'.\n");
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "streamsight serve: unexpected argument '%s'\n"
            "Try 'streamsight serve --help'.\n", argv[optind]);
    return 2;
  }
  return -1;
}
